"""Entry module of the MATLAB/Octave wrappers (``matlab_interop/``).

The ``.m`` side runs ``python -m pyulm.matlab_bridge REQUEST.mat RESPONSE.mat``
(file transport) or calls ``pyulm.matlab_bridge.call`` through ``py.*``; the
code lives in :mod:`pyulm.matlab` (one job per module). This name stays so that
the ``.m`` files of every pyulm version find their entry point.
"""
from __future__ import annotations

import os
import sys

from .matlab import (FUNCTIONS, NPY_THRESHOLD, PROTOCOL, BridgeError, VersionMismatch, call, call_python,
                     from_matlab, main, read_side, resolve, serve_file, side_file_ok, to_matlab, write_npy,
                     write_side)

__all__ = ["FUNCTIONS", "PROTOCOL", "NPY_THRESHOLD", "BridgeError", "VersionMismatch", "call", "call_python",
           "from_matlab", "main", "read_side", "resolve", "serve_file", "side_file_ok", "to_matlab", "write_npy",
           "write_side"]

if __name__ == "__main__":
    code = main()
    # The response file is complete, closed and renamed into place: skip the
    # interpreter's teardown (about 30 ms, on every call of MATLAB's file transport).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
