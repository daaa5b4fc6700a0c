"""Requests and responses: the ``py`` entry point, the file transport and the command line.

* ``py``: MATLAB's ``py.*`` calls :func:`call`, which never raises and returns
  a response dict.
* ``file``: ``python -m pyulm.matlab_bridge REQUEST.mat RESPONSE.mat`` runs
  :func:`serve_file` once; the persistent worker (``--worker``,
  :mod:`pyulm.matlab.worker`) runs it for each request of a session. What
  the function prints (PALA's console lines, "Building 2D ULM image ...")
  travels in the response's ``stdout`` and MATLAB prints it.

Errors never escape as Python exceptions: the response carries the exception's
type and message, and the MATLAB side raises ``pyulm:Python:<ExceptionType>``.
"""
from __future__ import annotations

import contextlib
import io
import os
import sys

import numpy as np

from .._version import __version__
from ..io import _mat5
from .functions import PROTOCOL, call_python
from .transport import side_file_ok, write_npy, write_side
from .values import KIND, BridgeError, from_matlab, text, to_matlab

#: Variables at or above this many bytes travel as .npy files (MAT v5 limit: 2**31 bytes).
NPY_THRESHOLD = 2**31 - 1024


class VersionMismatch(Exception):
    """The MATLAB wrapper and the Python package are different pyulm versions."""


def error_fields(exc: BaseException) -> dict:
    """The response of a failed call: exception type, message and traceback."""
    import traceback

    return {
        "ok": False,
        "err_type": type(exc).__name__,
        "err_msg": str(exc) or type(exc).__name__,
        "err_traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        "pyulm_version": __version__,
    }


def check_version(wrapper_version) -> None:
    """Raise :class:`VersionMismatch` when the .m files are another pyulm version."""
    if wrapper_version is None:
        return
    wv = text(wrapper_version)
    if wv and wv != __version__:
        raise VersionMismatch(
            f"the MATLAB wrapper is pyulm {wv} but Python ({sys.executable}) has pyulm {__version__}; "
            f"install the matching version: {sys.executable} -m pip install pyulm=={wv} "
            f"(or add the matlab_interop folder of pyulm {__version__} to the MATLAB path)"
        )


def call(name, args=None, kwargs=None, nargout=1, wrapper_version=None) -> dict:
    """Entry point of the ``py`` transport: never raises, returns a response dict.

    ``{'ok': True, 'out': [...]}`` with outputs tagged for MATLAB (see
    :func:`pyulm.matlab.values.to_matlab`), or
    ``{'ok': False, 'err_type', 'err_msg', 'err_traceback'}``.
    """
    try:
        check_version(wrapper_version)
        name = from_matlab(name)
        args = from_matlab(args) if args is not None else []
        if not isinstance(args, list):
            args = [args]
        outs = call_python(name, args, kwargs, from_matlab(nargout))
        return {"ok": True, "out": [to_matlab(o, tagged=True) for o in outs], "pyulm_version": __version__}
    except Exception as exc:  # every error goes back to MATLAB as data
        return error_fields(exc)


def file_outputs(value, directory, counter, threshold, side_threshold=float("inf"), side_format="mat"):
    """Replace large arrays of a converted result by tagged files in ``directory``.

    Arrays of ``threshold`` bytes or more become Fortran-ordered .npy files
    (complex ones two real files, which MATLAB reads at disk speed); arrays of
    ``side_threshold`` bytes or more become side files
    (:func:`pyulm.matlab.transport.write_side`). ``counter`` is a one-item list
    numbering the files of one response.
    """
    def again(v, thr=threshold):
        return file_outputs(v, directory, counter, thr, side_threshold, side_format)

    if isinstance(value, np.ndarray) and value.dtype.kind == "c" and value.nbytes >= threshold:
        return {KIND: "complex", "re": again(value.real, 0), "im": again(value.imag, 0),
                "shape": np.asarray(value.shape, float).reshape(1, -1)}
    if isinstance(value, np.ndarray) and value.dtype != object and value.nbytes >= threshold:
        counter[0] += 1
        path = os.path.join(directory, f"out_{counter[0]}.npy")
        write_npy(path, value)
        return {KIND: "npy", "path": path, "dtype": str(value.dtype), "shape": np.asarray(value.shape, float).reshape(1, -1)}
    if isinstance(value, np.ndarray) and value.nbytes >= side_threshold and side_file_ok(value):
        counter[0] += 1
        path = os.path.join(directory, f"out_{counter[0]}.side")
        return {KIND: "side", "path": path, "format": write_side(path, value, side_format)}
    if isinstance(value, dict):
        return {k: again(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            out[idx] = again(value[idx])
        return out
    return value


def write_response(path, resp: dict) -> None:
    """Write a response .mat (atomically: MATLAB never sees a half-written one)."""
    _mat5.write(path, resp, header="pyulm.matlab_bridge")


def _serve(req: dict, response_path) -> dict:
    protocol = from_matlab(req.get("protocol", PROTOCOL))
    if protocol != PROTOCOL:
        raise BridgeError(f"request protocol {protocol!r}, this pyulm speaks protocol {PROTOCOL}")
    check_version(from_matlab(req.get("wrapper_version", "")))
    if "func" not in req:
        raise BridgeError("request: no field 'func' (the function to call)")
    args = req.get("args", np.empty((1, 0), dtype=object))  # converted by call_python
    args = list(args.ravel(order="F")) if isinstance(args, np.ndarray) and args.dtype == object else [args]
    threshold = float(from_matlab(req.get("npy_threshold", NPY_THRESHOLD)))
    side_threshold = float(from_matlab(req.get("side_threshold", np.inf)))  # none unless asked for
    side_format = from_matlab(req.get("side_format", "mat"))
    console = io.StringIO()
    with contextlib.redirect_stdout(console), _pala_messages(bool(from_matlab(req.get("pala_messages", True)))):
        outs = call_python(from_matlab(req["func"]), args, req.get("kwargs"), from_matlab(req.get("nargout", 1)))
    cell = np.empty((1, len(outs)), dtype=object)
    directory = os.path.dirname(os.path.abspath(response_path))
    counter = [0]
    for i, o in enumerate(outs):
        cell[0, i] = file_outputs(to_matlab(o), directory, counter, threshold, side_threshold, side_format)
    return {"ok": True, "out": cell, "stdout": console.getvalue(), "pyulm_version": __version__}


@contextlib.contextmanager
def _pala_messages(on: bool):
    """PALA's console lines on (as PALA) or off for one call (``pyulm.setup('PalaMessages', false)``)."""
    if on:
        yield
        return
    from ..pala import quiet

    with quiet():
        yield


def serve_file(request_path, response_path) -> int:
    """Serve one file-transport request; always tries to write a response.

    The request is read by :mod:`pyulm.io._mat5` rather than ``scipy.io``
    (whose import alone costs about 0.2 s on every call): numbers keep their
    MATLAB class, 1x1 structs become dicts, cells object arrays.
    """
    try:
        resp = _serve(_mat5.read(request_path), response_path)
    except Exception as exc:
        resp = error_fields(exc)
    try:
        write_response(response_path, resp)
    except Exception as exc:  # e.g. a result MATLAB cannot hold; report that instead
        write_response(response_path, error_fields(exc))
    return 0


USAGE = ("usage: python -m pyulm.matlab_bridge REQUEST.mat RESPONSE.mat\n"
         "       python -m pyulm.matlab_bridge --worker\n"
         "(called by the MATLAB/Octave wrappers in matlab_interop/; see matlab_interop/README.md)")


def main(argv=None) -> int:
    """Command line of the file transport: one request, or ``--worker`` (see :mod:`pyulm.matlab.worker`)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--worker"]:
        from .worker import serve_forever

        return serve_forever()
    if len(argv) != 2:
        print(USAGE, file=sys.stderr)
        return 2
    return serve_file(argv[0], argv[1])
