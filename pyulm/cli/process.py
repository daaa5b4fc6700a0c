"""``pyulm process``: the whole pipeline over files, locally or on a Dask cluster."""
from __future__ import annotations

import argparse
import os

from . import CLIError


def add_debug(parser: argparse.ArgumentParser):
    """``--debug`` after the subcommand too, without overriding ``pyulm --debug COMMAND``."""
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show full tracebacks on errors")


def friendly(func):
    """Run a subcommand; any error becomes one line (CLIError) unless --debug."""

    def wrapper(args):
        try:
            return func(args)
        except (CLIError, KeyboardInterrupt):
            raise
        except Exception as exc:
            if getattr(args, "debug", False):
                raise
            raise CLIError(one_line(exc)) from None

    return wrapper


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    msg = text[0] if text else ""
    if isinstance(exc, (ValueError, OSError, KeyError)) and msg:
        return msg
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def register(subparsers):
    p = subparsers.add_parser(
        "process", help="filter, localize, track and render whole acquisitions",
        description="Process data files (PALA blocks, Verasonics workspaces, raw binary) block by block as PALA's "
                    "in vivo example, then build the maps over all blocks. Finished blocks are kept in OUT/blocks; "
                    "a rerun skips them.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="data files, processed in the order given")
    p.add_argument("--config", metavar="FILE", help="TOML config (see `pyulm config --example`); default: PALA's in vivo example")
    p.add_argument("--out", metavar="DIR", required=True, help="output directory (created if needed)")
    p.add_argument("--workers", type=int, metavar="N", default=None,
                   help="local Dask worker processes (default: min(CPUs, blocks to do); 0 = run in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="use an existing Dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--variable", metavar="NAME", help='variable holding the frames, e.g. IQ or "IQData{2}" (overrides the config)')
    p.add_argument("--threads", type=int, metavar="N", default=None,
                   help="threads in this process, pyulm's and BLAS's (overrides [run] threads; default: the CPUs "
                        "this process may use, from its affinity and cgroup quota)")
    p.add_argument("--force", action="store_true", help="recompute blocks that are already done")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_debug(p)
    p.set_defaults(func=friendly(_run))


def _run(args) -> int:
    from ..config import Config
    from ..pipeline import run
    from ..pipeline.store import display  # non-UTF-8 names print as \xNN instead of failing

    cfg = Config.load(args.config) if args.config else Config()
    if args.variable:
        cfg = cfg.model_copy(update={"input": cfg.input.model_copy(update={"variable": args.variable})})
        cfg = Config.from_dict(cfg.model_dump(), "--variable")
    if args.threads is not None:
        if args.threads < 1:
            raise CLIError(f"--threads: expected 1 or more, got {args.threads}")
        cfg = Config.from_dict({**cfg.model_dump(), "run": {**cfg.run.model_dump(), "threads": args.threads}}, "--threads")
    if args.workers is not None and args.workers < 0:
        raise CLIError(f"--workers: expected 0 or more, got {args.workers}")
    workers = args.workers
    if workers is None and not args.scheduler:
        from .._parallel import cpu_budget

        budget = cfg.run.threads or cpu_budget()
        workers = min(budget, len(args.inputs)) if len(args.inputs) > 1 else 0
    summary = run(args.inputs, cfg, args.out, workers=workers or 0, scheduler=args.scheduler, force=args.force,
                  progress=not args.no_progress)
    print(f"pyulm process: {summary.text()}")
    print(f"  results: {display(summary.outputs['results'])}")
    print(f"  tracks:  {display(summary.outputs['tracks_mat'])}")
    print(f"  log:     {display(os.path.join(args.out, 'pyulm-process.log'))}")
    return 0

