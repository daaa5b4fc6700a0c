"""MAT v5 variables described from their headers, and pieces of their data read in order.

:func:`scan` lists a file's variables (name, class, size, complexity and, for
uncompressed numeric arrays, where their data lie) reading a few hundred bytes
per variable; compressed (``-v7``) variables are inflated only as far as their
headers. :func:`read_elements` reads elements ``[a, b)`` (column-major) of one
numeric array, or of one element of a cell array, without holding more than
those elements in memory: uncompressed data are read in place, compressed
data are inflated as a stream and everything before and after is dropped on
the way. Every declared size is checked against the file (or the inflated
stream) before it is trusted, so a header that lies raises
:class:`~pyulm.io._mat5.MatFileError` naming the file and variable, and a
compression bomb never inflates past what its header declares.
"""
from __future__ import annotations

import math
import os
from typing import NamedTuple

import numpy as np

from ._mat5 import _CHUNK_BYTES, _CLASS_DTYPE, _COMPLEX, _LOGICAL, _TYPE_DTYPE, HEAD_BYTES, _Reader, miCOMPRESSED, miMATRIX
from ._mat5file import file_order, top_elements
from ._mat5stream import Stream as _Stream
from ._mat5stream import tag as _tag

__all__ = ["Plane", "Entry", "CLASS_NAMES", "scan", "read_elements", "cell_entries", "check_stream"]

CLASS_NAMES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single", 8: "int8",
               9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32", 14: "int64", 15: "uint64",
               16: "function_handle", 17: "opaque", 18: "object"}


class Plane(NamedTuple):
    """One data element of a numeric array: MAT data type, byte count, byte offset in the file
    (uncompressed variables) or in the variable's inflated stream (compressed ones)."""

    mtype: int
    nbytes: int
    offset: int


class Entry(NamedTuple):
    """One array as its headers describe it (no data read)."""

    name: str
    cls: int  # MATLAB class number (6 double, 7 single, ..., 1 cell, 2 struct, 4 char)
    flags: int  # array flags (complex, global, logical bits)
    dims: tuple
    start: int  # byte offset of the top-level element's tag in the file
    nbytes: int  # bytes of the top-level element in the file (compressed size for -v7 variables)
    compressed: bool
    planes: tuple = ()  # numeric arrays: the real plane and, when complex, the imaginary one

    @property
    def complex(self) -> bool:
        return bool(self.flags & _COMPLEX)

    @property
    def logical(self) -> bool:
        return bool(self.flags & _LOGICAL)

    @property
    def class_name(self) -> str:
        """MATLAB's class name: ``'double'``, ``'logical'``, ``'struct'``, ..."""
        return "logical" if self.logical else CLASS_NAMES.get(self.cls, f"class {self.cls}")

    @property
    def dtype(self) -> np.dtype | None:
        """numpy dtype of the array in its MATLAB class (None for non-numeric classes)."""
        code = _CLASS_DTYPE.get(self.cls)
        if code is None:
            return None
        if self.logical:
            return np.dtype(np.bool_)
        if self.complex:
            return np.dtype(np.complex64 if code == "f4" else np.complex128)
        return np.dtype(code)

    @property
    def data_nbytes(self) -> int:
        """Bytes the array takes in memory in its class (0 for non-numeric classes)."""
        dt = self.dtype
        return math.prod(self.dims) * dt.itemsize if dt is not None else 0


def _array_head(s: _Stream, order: str, end: int | None = None):
    """Parse a miMATRIX tag and header: (cls, flags, dims, name, position of the body's end)."""
    t, n, _ = _tag(s, order)
    if t != miMATRIX:
        s._fail(f"expected an array element, found data type {t}")
    body_end = s.pos + n
    if end is not None and body_end > end:
        s._fail(f"an array of {n} bytes runs past the end of its container")
    if s.end is None:
        s.end = body_end
    if n == 0:  # an empty miMATRIX element stands for []
        return 6, 0, (0, 0), "", body_end
    head = s.peek(min(n, HEAD_BYTES))
    cls, flags, dims, name, length = _Reader(bytearray(head), order, s.where).head(0, len(head))
    s.skip(length)
    return cls, flags, tuple(dims), name, body_end


def _planes(s: _Stream, order: str, cls: int, flags: int, dims: tuple, what: str) -> tuple:
    """The data elements of a numeric array (stream left after them), sizes checked."""
    count = math.prod(dims)
    out = []
    for _ in range(2 if flags & _COMPLEX else 1):
        t, n, inline = _tag(s, order)
        code = _TYPE_DTYPE.get(t)
        if code is None:
            s._fail(f"{what}: unsupported numeric data type {t}")
        if n != count * int(code[1]):
            s._fail(f"{what}: {n} data bytes do not fit size {list(dims)} ({count} values of "
                    f"{np.dtype(code).name})")
        at = s.pos - 4 if inline is not None else s.pos  # small elements hold their data in the tag
        out.append(Plane(t, n, at if s.compressed else s.base + at))
        if inline is None:
            s.skip(n)
            s.skip(min(-n % 8, s.end - s.pos))  # the last element's padding may be missing
    return tuple(out)


def _open(path):
    path = os.fspath(path)
    return open(path, "rb"), f"MAT file {os.fsdecode(path)}"


def _entry(f, order, t, n, start, where) -> tuple[Entry, _Stream]:
    s = _Stream(f, start, n, t == miCOMPRESSED, f"{where}, variable at byte {start}")
    cls, flags, dims, name, _ = _array_head(s, order)
    s.where = f"{where}: variable {name!r}"
    planes = _planes(s, order, cls, flags, dims, "data") if cls in _CLASS_DTYPE and t == miMATRIX else ()
    return Entry(name, cls, flags, dims, start, n, t == miCOMPRESSED, planes), s


def scan(path) -> list[Entry]:
    """The top-level variables of a MAT v5 file, from their headers alone (see the module docstring)."""
    f, where = _open(path)
    with f:
        order, elements = top_elements(f, where)
        return [_entry(f, order, t, n, start, where)[0] for t, n, start in elements]


def file_byte_order(path) -> str:
    """'<' or '>': the byte order of a MAT v5 file."""
    f, where = _open(path)
    with f:
        return file_order(f.read(128), where)


def _find(f, order, elements, name, where) -> tuple[Entry, _Stream]:
    for t, n, start in elements:
        e, s = _entry(f, order, t, n, start, where)
        if e.name == name:
            return e, s
    raise MatFileError(f"{where}: no variable {name!r}")


def cell_entries(path, name: str) -> list[Entry]:
    """The elements of cell variable ``name`` (column-major), from their headers; data are skipped."""
    f, where = _open(path)
    with f:
        order, elements = top_elements(f, where)
        e, s = _find(f, order, elements, name, where)
        if e.cls != 1:
            raise MatFileError(f"{where}: variable {name!r} is a {e.class_name}, not a cell array")
        out = []
        for k in range(math.prod(e.dims)):
            cls, flags, dims, _, end = _array_head(s, order, s.end)
            what = f"{name}{{{k + 1}}}"
            planes = _planes(s, order, cls, flags, dims, what) if cls in _CLASS_DTYPE else ()
            out.append(Entry(what, cls, flags, dims, e.start, e.nbytes, e.compressed, planes))
            s.skip(end - s.pos)
        return out


def check_stream(path, name: str) -> None:
    """Inflate compressed variable ``name`` to its end, keeping nothing (no-op for uncompressed ones):
    corrupt or truncated deflate data, a wrong checksum or a size that lies raise MatFileError."""
    f, where = _open(path)
    with f:
        order, elements = top_elements(f, where)
        e, s = _find(f, order, elements, name, where)
        if e.compressed:
            s.finish()


def read_elements(path, name: str, a: int, b: int, cell: int | None = None) -> np.ndarray:
    """Elements ``[a, b)`` in column-major order of numeric variable ``name`` (or of its cell
    element ``cell``, 0-based), as a new 1-D array in the variable's MATLAB class.

    Holds only those elements in memory (compressed data are inflated as a
    stream and the rest dropped on the way).
    """
    f, where = _open(path)
    with f:
        order, elements = top_elements(f, where)
        e, s = _find(f, order, elements, name, where)
        if e.compressed or cell is not None:
            s = _Stream(f, e.start, e.nbytes, e.compressed, s.where)
            cls, flags, dims, _, end = _array_head(s, order)
            if cell is not None:
                if cls != 1:
                    s._fail("not a cell array")
                for _ in range(cell):
                    _, _, _, _, end_k = _array_head(s, order, end)
                    s.skip(end_k - s.pos)
                cls, flags, dims, _, _ = _array_head(s, order, end)
            e = Entry(e.name, cls, flags, dims, e.start, e.nbytes, e.compressed)
        if e.dtype is None:
            s._fail(f"a {e.class_name}, not a numeric array")
        count = math.prod(e.dims)
        if not 0 <= a <= b <= count:
            s._fail(f"elements {a}:{b} asked of {count}")
        out = np.empty(b - a, e.dtype)
        dests = (out.real, out.imag) if e.complex else (out.view(np.uint8) if e.logical else out,)
        for k, dest in enumerate(dests):
            if e.compressed or cell is not None:  # the stream is at the plane's tag
                t, n, inline = _tag(s, order)
            else:  # planes located by scan: read in place
                t, n, at = e.planes[k]
                s, inline = _Stream(f, 0, os.fstat(f.fileno()).st_size, False, s.where), None
                s.pos = at
            code = _TYPE_DTYPE.get(t)
            if code is None or n != count * int(code[1]):
                s._fail(f"data of type {t} and {n} bytes do not fit size {list(e.dims)}")
            stored = np.dtype(order + code)
            if inline is not None:
                dest[:] = np.frombuffer(inline, stored)[a:b]
                continue
            s.skip(a * stored.itemsize)
            step = max(1, min(b - a, _CHUNK_BYTES // stored.itemsize))
            buf = np.empty(step, stored)
            for i in range(0, b - a, step):  # pieces that stay in cache while converted into place
                m = min(step, b - a - i)
                s.read_into(buf[:m])
                dest[i:i + m] = buf[:m]
            s.skip((count - b) * stored.itemsize)
            s.skip(min(-n % 8, s.end - s.pos))
        if e.compressed and cell is None and b == count:  # read to the end: check the stream's checksum too
            s.finish()
    return out
