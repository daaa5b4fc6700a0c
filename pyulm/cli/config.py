"""``pyulm config``: print an example config, or check one."""
from __future__ import annotations

from .process import add_debug, friendly


def register(subparsers):
    p = subparsers.add_parser("config", help="print a commented example config, or check a config file",
                              description="With --example, print a commented TOML config holding the defaults "
                                          "(PALA's in vivo example). With FILE, validate it and print the effective "
                                          "parameters.")
    p.add_argument("file", nargs="?", metavar="FILE", help="a config to check")
    p.add_argument("--example", action="store_true", help="print a commented example config")
    add_debug(p)
    p.set_defaults(func=friendly(_run))


def _run(args) -> int:
    from ..config import EXAMPLE_TOML, Config
    from . import CLIError

    if args.example:
        print(EXAMPLE_TOML, end="")
        return 0
    if not args.file:
        raise CLIError("give a config FILE to check, or --example")
    cfg = Config.load(args.file)
    print(f"# {args.file}: valid; effective parameters:")
    print(cfg.to_toml(), end="")
    return 0
