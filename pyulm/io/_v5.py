"""MAT v5/v6/v7 files read through pyulm's own codec (:mod:`pyulm.io._mat5`).

Variables are listed from their headers (complexity and sizes included),
metadata are read with a size cap, and frames are read as a run of elements:
only those bytes for uncompressed data, a stream inflated once and dropped on
the way for compressed (``-v7``) data. Values follow :mod:`pyulm.io._matfile`'s
convention (struct arrays as lists of dicts, char matrices as lists of str).
"""
from __future__ import annotations

import contextlib
import math

import numpy as np

from . import _mat5
from ._errors import FormatError, VarInfo


@contextlib.contextmanager
def _as_format_error():
    """The codec's MatFileError ("MAT file PATH: ...") as FormatError ("PATH: ...")."""
    try:
        yield
    except _mat5.MatFileError as exc:
        raise FormatError(str(exc).removeprefix("MAT file ")) from None


def list_variables(path) -> list[VarInfo]:
    """The variables of a v5 file, from their headers alone."""
    with _as_format_error():
        entries = _mat5.scan(path)
    return [VarInfo(e.name, tuple(e.dims), e.class_name, e.complex, e.data_nbytes if e.dtype is not None else None,
                    e.nbytes if e.compressed else None) for e in entries]


def _plain(v):
    """The codec's values in this package's convention."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):  # a struct array
        return [_plain(x) for x in v]
    if isinstance(v, np.ndarray) and v.dtype == object:
        out = np.empty(v.shape, dtype=object)
        for idx in np.ndindex(v.shape):
            out[idx] = _plain(v[idx])
        return out
    if isinstance(v, np.ndarray) and v.dtype.kind == "U":
        return [str(s) for s in v.ravel()]
    return v


def read(path, names=None, *, notes=None, max_bytes: int | None = None) -> dict:
    """Variables of a v5 file (all, or ``names``); MATLAB objects skipped and named in ``notes``."""
    notes = notes if notes is not None else []
    with _as_format_error():
        raw = _mat5.read(path, names, max_bytes=max_bytes, notes=notes, struct_lists=True)
    return {k: _plain(v) for k, v in raw.items()}


def cell_shapes(path, name: str) -> list[tuple[tuple, np.dtype | None]]:
    """(dims, dtype in its MATLAB class or None) of each element of cell ``name``, from headers."""
    with _as_format_error():
        return [(tuple(e.dims), e.dtype) for e in _mat5.cell_entries(path, name)]


def read_frames(path, name: str, shape3: tuple, start: int, stop: int, cell: int | None = None) -> np.ndarray:
    """Frames ``start:stop`` of a (z, x, t) array stored frames last, as a new Fortran-ordered array."""
    plane = math.prod(shape3[:2])
    with _as_format_error():
        flat = _mat5.read_elements(path, name, start * plane, stop * plane, cell)
    return flat.reshape(tuple(shape3[:2]) + (stop - start,), order="F")


def verify(path, name: str) -> None:
    """Inflate a compressed variable once, to the end of its stream, keeping nothing."""
    with _as_format_error():
        _mat5.check_stream(path, name)
