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


#: Exit status when the reader of our output went away (``pyulm info ... | head``): 128 + SIGPIPE,
#: what a Unix tool killed by SIGPIPE reports, without a message.
PIPE_CLOSED = 141


def pipe_closed() -> int:
    """Stop writing to a pipe whose reader has gone: later writes (and the flush at exit) go nowhere."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured output)
        pass
    return PIPE_CLOSED


def _tolerate_any_file_name() -> None:
    """Print file names whatever their bytes: undecodable ones (Latin-1 on a UTF-8 system) are written
    back as the bytes they were, as ls does, instead of raising UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(errors="surrogateescape")
        except (AttributeError, ValueError, OSError):  # not a text wrapper (captured, redirected)
            pass


def main(argv=None) -> int:
    _tolerate_any_file_name()
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser.parse_args(argv)
    args.argv = argv  # what was parsed: `pyulm train` records it as the training command
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
        return code
    except BrokenPipeError:
        return pipe_closed()
    except KeyboardInterrupt:
        print("pyulm: interrupted", file=sys.stderr)
        return 130
    except (CLIError, ValueError, OSError, KeyError) as exc:
        if isinstance(exc.__context__, BrokenPipeError):  # a subcommand turned a closed pipe into one line
            return pipe_closed()
        if args.debug:
            raise
        print(f"pyulm {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
