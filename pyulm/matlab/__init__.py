"""The Python side of the MATLAB/Octave wrappers in ``matlab_interop/``.

Every wrapper call goes through one of two transports:

* ``py``: MATLAB's ``py.*`` interface calls ``pyulm.matlab_bridge.call(...)``
  (:func:`pyulm.matlab.server.call`) directly;
* ``file``: ``python -m pyulm.matlab_bridge REQUEST.mat RESPONSE.mat``, the
  request and response being uncompressed MAT v5 (``-v6``) files, with large
  arrays in side files beside them.

One job per module:

* :mod:`~pyulm.matlab.values`: MATLAB values to Python and back;
* :mod:`~pyulm.matlab.tables`: pyulm tables as MATLAB structs (1-based);
* :mod:`~pyulm.matlab.functions`: the whitelist of callable functions and the
  wrappers written for MATLAB;
* :mod:`~pyulm.matlab.transport`: side files and ``.npy`` files;
* :mod:`~pyulm.matlab.server`: requests, responses and the command line.

Importing this package is cheap (numpy only): scipy and the pyulm modules
are imported when a function needs them, because the file transport starts a
Python on every call.
"""
from .functions import FUNCTIONS, PROTOCOL, call_python, resolve
from .server import NPY_THRESHOLD, VersionMismatch, call, main, serve_file
from .transport import read_side, side_file_ok, write_npy, write_side
from .values import BridgeError, from_matlab, to_matlab

__all__ = ["FUNCTIONS", "PROTOCOL", "NPY_THRESHOLD", "BridgeError", "VersionMismatch", "call", "call_python",
           "from_matlab", "main", "read_side", "resolve", "serve_file", "side_file_ok", "to_matlab", "write_npy",
           "write_side"]
