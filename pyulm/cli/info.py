"""``pyulm info FILE``: what a data file holds and how pyulm would read it."""
from __future__ import annotations

from .process import add_debug, friendly


def register(subparsers):
    p = subparsers.add_parser("info", help="show what a data file holds and how pyulm reads it",
                              description="List the variables of a MAT/HDF5/raw file and show how pyulm would read "
                                          "its frames: variable, (z, x, t) shape, pixel size, origin, wavelength, "
                                          "frame rate, and every assumption made. Only headers and small metadata "
                                          "variables are read; every check pyulm process makes before writing "
                                          "is made here.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--variable", metavar="NAME", help='variable holding the frames, e.g. IQ or "IQData{2}"')
    p.add_argument("--verify", action="store_true",
                   help="also decode every stored frame byte (compressed chunks, checksums) in bounded memory, "
                        "keeping nothing: finds corrupt data now instead of during processing")
    add_debug(p)
    p.set_defaults(func=friendly(_run))


def _run(args) -> int:
    from ..io import FormatError, RawChannelDataError, detect_format, inspect, list_variables

    status = 0
    for i, path in enumerate(args.files):
        if i:
            print()
        try:
            print(inspect(path, args.variable, verify=args.verify).describe(), flush=True)
        except RawChannelDataError as exc:
            # Report what is there, then why pyulm cannot process it: not a crash.
            fmt = detect_format(path)
            print(f"file:        {path}\nformat:      {fmt}\nlayout:      verasonics channel data (RcvData)\nvariables:")
            for v in list_variables(path, fmt):
                print("  " + v.describe())
            print(f"pyulm cannot process this file: {str(exc).split(': ', 1)[1]}", flush=True)
            status = 1
        except FormatError as exc:
            if len(args.files) == 1:
                raise
            print(f"{exc}", flush=True)
            status = 1
    return status
