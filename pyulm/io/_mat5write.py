"""The MAT v5 writer: Python and numpy values to an uncompressed MAT file (``save -v6``).

``dict`` -> 1x1 struct, ``list``/``tuple`` -> N x 1 cell, object array -> cell
of its shape, ``str`` -> char row (UTF-16 units in miUINT16 data, as MATLAB
writes), ``bool`` -> logical, ``int`` -> int64 (uint64 above its range),
``float``/``complex`` -> double, ``None`` -> ``[]``, numeric and bool arrays ->
their class (1-D as a column, 0-d as 1x1). Every value is checked (sizes
included) before the first byte is written.
"""
from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from . import _mat5
from ._mat5 import (_COMPLEX, _DTYPE_CLASS, _DTYPE_TYPE, _LOGICAL, _NAME, MatFileError, miCOMPRESSED, miINT8,
                    miINT32, miMATRIX, miUINT16, miUINT32, mxCELL, mxCHAR, mxSTRUCT)

__all__ = ["write", "StreamedCell"]


class StreamedCell:
    """A cell variable whose elements are made while the file is written, part by part.

    The file's byte counts come before the data, so the cell declares its size up front:
    ``n`` elements, all real numeric 2-D arrays, whose sizes :meth:`sizes` gives (from
    their shapes alone, e.g. a block file's attributes). ``parts()`` is called once per
    write and yields sequences of elements in column-major order (e.g. one block's tracks
    at a time), so the writer holds one part, not the whole cell. The bytes are those of
    the same elements in an ``(n, 1)`` object array; a part that breaks the declaration
    (another count, shape or class) stops the write with :class:`MatFileError`.

    Parameters
    ----------
    n : int
        Number of elements; the cell is ``n x 1``.
    size : int
        Bytes of the elements as written (sum of :meth:`sizes`).
    nbytes : int
        Bytes of the elements' data (rows x columns x item size, summed), for the
        v5/v7.3 choice of :func:`pyulm.io.save_mat`.
    parts : callable
        ``parts()`` -> iterable of sequences of 2-D arrays.
    """

    def __init__(self, n: int, size: int, nbytes: int, parts):
        self.shape, self.size, self.nbytes, self.parts = (int(n), 1), int(size), int(nbytes), parts

    @staticmethod
    def sizes(rows, cols, dtype) -> tuple[int, int]:
        """``(size, nbytes)`` of elements of ``rows[i] x cols[i]`` of real class ``dtype``.

        A 2-D unnamed numeric element is its tag (8 bytes), flags, dimensions and an
        empty name (40), and its data element (8 + the data padded to 8 bytes).
        """
        item = np.dtype(dtype).itemsize
        data = np.asarray(rows, np.int64) * np.asarray(cols, np.int64) * item
        return int(np.sum(56 + (data + 7) // 8 * 8)), int(np.sum(data))

    def __repr__(self) -> str:
        return f"StreamedCell({self.shape[0]} x 1, {self.nbytes} bytes of data)"


def _as_array(value, where: str):
    """A Python scalar or numpy value -> the numeric/logical array MATLAB gets."""
    if isinstance(value, bool):
        return np.array([[value]])
    if isinstance(value, int):
        if -2**63 <= value < 2**63:
            return np.array([[value]], dtype=np.int64)
        if 0 <= value < 2**64:
            return np.array([[value]], dtype=np.uint64)
        raise MatFileError(f"{where}: the integer {value} does not fit MATLAB's int64 or uint64")
    if isinstance(value, (float, complex, np.generic)):
        return np.array(value).reshape(1, 1)
    return value


def _encode_name(name: str, what: str) -> bytes:
    """A variable or field name as MATLAB accepts it; ``what`` says which and where."""
    if not _NAME.match(name):
        raise MatFileError(f"{what} {name!r}: MATLAB names start with a letter and hold at most 63 "
                           f"letters, digits and underscores")
    return name.encode("ascii")


class _Writer:
    def __init__(self, f):
        self.f = f

    def element(self, mtype: int, data: bytes) -> None:
        self.f.write(struct.pack("<II", mtype, len(data)))
        self.f.write(data)
        self.f.write(bytes(-len(data) % 8))

    @staticmethod
    def size_of(nbytes: int) -> int:
        return 8 + (nbytes + 7) // 8 * 8

    def header_bytes(self, cls, dims, name: bytes, flags: int = 0) -> bytes:
        dims_b = struct.pack(f"<{len(dims)}i", *dims)
        out = struct.pack("<IIII", miUINT32, 8, cls | flags, 0)
        out += struct.pack("<II", miINT32, len(dims_b)) + dims_b + bytes(-len(dims_b) % 8)
        out += struct.pack("<II", miINT8, len(name)) + name + bytes(-len(name) % 8)
        return out

    # Each value is written as (size, emit): the size of the miMATRIX body is
    # needed in its tag before its children are written.
    def plan(self, value, name: bytes, where: str):
        if value is None:
            value = np.zeros((0, 0))
        value = _as_array(value, where)
        if isinstance(value, str):
            return self._char(value, name)
        if isinstance(value, dict):
            return self._struct(value, name, where)
        if isinstance(value, StreamedCell):
            return self._streamed(value, name, where)
        if isinstance(value, (list, tuple)):
            cell = np.empty((len(value), 1), dtype=object)
            for i, v in enumerate(value):
                cell[i, 0] = v
            value = cell
        if isinstance(value, np.ndarray):
            if value.dtype == object:
                return self._cell(value, name, where)
            if value.dtype.kind == "U":  # one string -> char row; several -> a cell of char rows
                if value.size <= 1:
                    return self._char("".join(value.ravel().tolist()), name)
                cell = np.empty(value.shape if value.ndim >= 2 else (value.size, 1), dtype=object)
                for idx, text in zip(np.ndindex(cell.shape), value.reshape(cell.shape).flat):
                    cell[idx] = str(text)
                return self._cell(cell, name, where)
            return self._numeric(value, name, where)
        raise MatFileError(f"{where}: cannot write a {type(value).__name__} to a MAT file")

    def _matrix(self, body_size: int, emit, where: str = "a value"):
        if body_size >= 2**32:
            raise MatFileError(f"{where}: {body_size} bytes is too large for one MAT v5 variable (4 GiB)")

        def run():
            self.f.write(struct.pack("<II", miMATRIX, body_size))
            emit()
        return 8 + body_size, run

    def _char(self, text: str, name: bytes):
        # UTF-16 code units in miUINT16 data, one per element, as MATLAB's
        # save stores char; Octave converts them to its UTF-8 char on load
        data = text.encode("utf-16-le", "surrogatepass")
        dims = (1, len(data) // 2) if text else (0, 0)
        head = self.header_bytes(mxCHAR, dims, name)

        def emit():
            self.f.write(head)
            self.element(miUINT16, data)
        return self._matrix(len(head) + self.size_of(len(data)), emit)

    def _cell(self, arr: np.ndarray, name: bytes, where: str):
        if arr.ndim < 2:
            arr = arr.reshape(-1, 1)
        children = [self.plan(v, b"", f"{where}{{{k + 1}}}") for k, v in enumerate(arr.ravel(order="F"))]
        head = self.header_bytes(mxCELL, arr.shape, name)

        def emit():
            self.f.write(head)
            for _, run in children:
                run()
        return self._matrix(len(head) + sum(s for s, _ in children), emit, where)

    def _streamed(self, cell: StreamedCell, name: bytes, where: str):
        head = self.header_bytes(mxCELL, cell.shape, name)

        def emit():
            self.f.write(head)
            count = size = 0
            for part in cell.parts():
                for v in part:
                    if not (isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.kind in "iuf"):
                        raise MatFileError(f"{where}{{{count + 1}}}: a streamed cell holds real 2-D arrays, "
                                           f"not {type(v).__name__} {getattr(v, 'shape', '')}")
                    n, run = self.plan(v, b"", f"{where}{{{count + 1}}}")
                    count, size = count + 1, size + n
                    if count > cell.shape[0] or size > cell.size:
                        break
                    run()
                if count > cell.shape[0] or size > cell.size:
                    break
            if (count, size) != (cell.shape[0], cell.size):
                raise MatFileError(f"{where}: the streamed cell declared {cell.shape[0]} elements of {cell.size} "
                                   f"bytes; its parts gave {count} of {size} (or more)")
        return self._matrix(len(head) + cell.size, emit, where)

    def _struct(self, d: dict, name: bytes, where: str):
        fields = [(_encode_name(str(k), f"{where}: struct field"), v) for k, v in d.items()]
        width = max([len(k) for k, _ in fields], default=0) + 1
        names = b"".join(k.ljust(width, b"\0") for k, _ in fields)
        children = [self.plan(v, b"", f"{where}.{k.decode()}") for k, v in fields]
        head = self.header_bytes(mxSTRUCT, (1, 1), name)
        head += struct.pack("<Ii", miINT32 | (4 << 16), width)  # small data element: field name length
        head += struct.pack("<II", miINT8, len(names)) + names + bytes(-len(names) % 8)

        def emit():
            self.f.write(head)
            for _, run in children:
                run()
        return self._matrix(len(head) + sum(s for s, _ in children), emit, where)

    def _numeric(self, arr: np.ndarray, name: bytes, where: str):
        if arr.ndim == 0:
            arr = arr.reshape(1, 1)
        elif arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if any(n >= 2**31 for n in arr.shape):
            raise MatFileError(f"{where}: a dimension of {arr.shape} is too large for a MAT v5 file")
        kind = arr.dtype.kind
        flags = 0
        if kind == "b":
            part_code, flags = "u1", _LOGICAL
        elif kind == "c" and arr.dtype.itemsize in (8, 16):
            part_code, flags = "f%d" % (arr.dtype.itemsize // 2), _COMPLEX
        elif kind in "iuf" and kind + str(arr.dtype.itemsize) in _DTYPE_CLASS:
            part_code = kind + str(arr.dtype.itemsize)
        else:
            raise MatFileError(f"{where}: MATLAB has no class for numpy dtype {arr.dtype}")
        cls = _DTYPE_CLASS[part_code]
        mtype = _DTYPE_TYPE[part_code]
        part_bytes = arr.size * np.dtype(part_code).itemsize
        if part_bytes >= 2**32 - 64:
            raise MatFileError(f"{where}: {part_bytes} bytes is too large for a MAT v5 variable")
        parts = (arr.real, arr.imag) if flags & _COMPLEX else (arr.view(np.uint8) if kind == "b" else arr,)
        head = self.header_bytes(cls, arr.shape, name, flags)

        def emit():
            self.f.write(head)
            for part in parts:
                self.f.write(struct.pack("<II", mtype, part_bytes))
                _mat5.write_fortran(self.f, part if kind == "b" else part.astype(part_code, copy=False))
                self.f.write(bytes(-part_bytes % 8))
        body = len(head) + len(parts) * self.size_of(part_bytes)
        if body >= 2**32:
            raise MatFileError(f"{where}: too large for a MAT v5 variable")
        return self._matrix(body, emit)




class _Deflate:
    """A write-only file that deflates what it is given into ``f`` (one ``miCOMPRESSED`` element)."""

    def __init__(self, f):
        self.f, self.z = f, zlib.compressobj(1)  # level 1: MATLAB's -v7 speed, most of the size gain

    def write(self, data) -> None:
        self.f.write(self.z.compress(data))

    def close(self) -> None:
        self.f.write(self.z.flush())


def write(path, variables: dict, header: str = "pyulm", *, compress: bool = False) -> None:
    """Write ``{name: value}`` as a MAT v5 file: uncompressed as MATLAB's ``save -v6``, or with
    ``compress=True`` each variable deflated as ``save -v7`` does.

    Every value is checked before anything is written, and the file is written
    through :func:`pyulm._fileutil.atomic_path` (a temporary name in the same
    folder, renamed into place with the usual umask permissions): a refused
    value or a failed write (disk full) leaves ``path`` as it was.
    """
    path = os.fsdecode(os.fspath(path))
    w = _Writer(None)
    try:
        plans = [w.plan(value, _encode_name(str(name), "variable name"), f"variable {name!r}")
                 for name, value in variables.items()]
    except RecursionError:
        raise MatFileError(f"MAT file {path}: a value nests too deeply (or contains itself)") from None
    from .._fileutil import atomic_path

    text = f"MATLAB 5.0 MAT-file, written by {header}".encode("ascii", "replace")[:116]
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(text.ljust(116, b" ") + bytes(8) + b"\x00\x01IM")
        for _, run in plans:
            if not compress:
                w.f = f
                run()
                continue
            start = f.tell()
            f.write(bytes(8))  # the tag, written once the compressed size is known
            w.f = _Deflate(f)
            run()
            w.f.close()
            end = f.tell()
            if end - start - 8 >= 2**32:
                raise MatFileError(f"MAT file {path}: a compressed variable is larger than 4 GiB")
            f.seek(start)
            f.write(struct.pack("<II", miCOMPRESSED, end - start - 8))
            f.seek(end)
