"""The ``pyulm`` command. Each subcommand lives in its own module of this
package and exposes ``register(subparsers)``; ``main`` discovers them."""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from .._version import __version__


class CLIError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pyulm", description="Ultrasound localization microscopy (PALA-exact) in Python.")
    parser.add_argument("--version", action="version", version=f"pyulm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "register"):
            mod.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("pyulm: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError, KeyError) as exc:
        if args.debug:
            raise
        print(f"pyulm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
