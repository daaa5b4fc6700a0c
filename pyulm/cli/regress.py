"""``pyulm regress DIR``: compare pyulm with PALA's outputs, stage by stage."""
from __future__ import annotations


def register(sub):
    p = sub.add_parser(
        "regress",
        help="compare pyulm with PALA's outputs stage by stage and print the parity table",
        description="Run pyulm on the inputs of a folder of PALA outputs (block_<name>.mat, "
                    "pala_block_<name>_filtered.mat, pala_block_<name>_<method>.mat) and compare every stage. "
                    "Exit status 1 if any comparison fails.",
    )
    p.add_argument("directory", help="folder of PALA reference outputs")
    p.add_argument("--block", action="append", help="only this block name (repeatable)")
    p.add_argument("--method", action="append", help="only this method (repeatable)")
    p.add_argument("--stage", action="append", choices=["filter", "localize", "track", "render"],
                   help="only this stage (repeatable)")
    p.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..regression import markdown_table, run_regression

    stages = tuple(args.stage) if args.stage else ("filter", "localize", "track", "render")
    from ..pala import quiet

    with quiet():  # PALA's console lines of the wrappers
        rows = run_regression(args.directory, blocks=args.block, methods=args.method, stages=stages)
    print(markdown_table(rows))
    failed = [r for r in rows if not r.passed]
    print(f"\n{len(rows) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0
