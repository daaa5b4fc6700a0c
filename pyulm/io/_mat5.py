"""pyulm's one MAT v5 codec, numpy only: its tables and array decoder; reading files, writing,
listing and mapping live beside it (:mod:`._mat5file`, :mod:`._mat5write`, :mod:`._mat5scan`,
:mod:`._mat5map`) and are reached as attributes of this module.

It serves the MATLAB bridge (request/response envelopes; side files mapped
read-only by :func:`map_variable`) and :mod:`pyulm.io` (users' v5/v6/v7 files).
The bridge's file transport starts Python on every call and ``scipy.io`` takes
about 0.2 s to import, more than everything else a small call needs, so
importing this module imports numpy alone.

Scope: what MATLAB's and Octave's ``save -v6``/``-v7`` write -- numeric arrays
of every class (real or complex, stored in any MAT element type, as MATLAB
stores integer-valued doubles in small integer types), logical arrays, char
arrays (UTF-8, UTF-16, UTF-32 or 8-bit data elements), cell arrays, structs and
struct arrays, empty ``miMATRIX`` elements, and ``miCOMPRESSED`` (``-v7``)
variables. Sparse matrices, objects and function handles are refused with a
:class:`MatFileError` that names the variable (or skipped and described, when
:func:`read` is given ``notes``).

Reading gives MATLAB's class and size (as ``scipy.io.loadmat(...,
mat_dtype=True, squeeze_me=False)``): numeric and logical data become numpy
arrays with MATLAB's dimensions (Fortran order, views of the file's bytes,
writable), a char row becomes ``str`` (a char matrix an array of row strings),
a cell an object array, a 1x1 struct a ``dict`` and other structs an object
array of ``dict``. Every declared size is checked against the file before it
is trusted, and compressed data never inflate past what their header declares.
"""
from __future__ import annotations

import math
import re
import struct
import zlib

import numpy as np

from .._lazy import attach

__all__ = ["MatFileError", "read", "write", "scan", "Entry", "Plane", "CLASS_NAMES", "cell_entries", "read_elements",
           "map_variable", "map_planes", "map_array", "complex_from_planes", "fortran_chunks", "write_fortran"]


class MatFileError(ValueError):
    """A MAT file the bridge cannot read, or a value it cannot write."""


# MAT v5 data types and array classes (MATLAB's "MAT-File Format" document).
miINT8, miUINT8, miINT16, miUINT16, miINT32, miUINT32 = 1, 2, 3, 4, 5, 6
miSINGLE, miDOUBLE, miINT64, miUINT64 = 7, 9, 12, 13
miMATRIX, miCOMPRESSED, miUTF8, miUTF16, miUTF32 = 14, 15, 16, 17, 18
mxCELL, mxSTRUCT, mxOBJECT, mxCHAR, mxSPARSE = 1, 2, 3, 4, 5

_TYPE_DTYPE = {miINT8: "i1", miUINT8: "u1", miINT16: "i2", miUINT16: "u2", miINT32: "i4", miUINT32: "u4",
               miSINGLE: "f4", miDOUBLE: "f8", miINT64: "i8", miUINT64: "u8"}
_CLASS_DTYPE = {6: "f8", 7: "f4", 8: "i1", 9: "u1", 10: "i2", 11: "u2", 12: "i4", 13: "u4", 14: "i8", 15: "u8"}
_DTYPE_CLASS = {v: k for k, v in _CLASS_DTYPE.items()}
_DTYPE_TYPE = {v: k for k, v in _TYPE_DTYPE.items()}
_CLASS_NAME = {mxOBJECT: "an object", mxSPARSE: "a sparse matrix", 16: "a function handle", 17: "an opaque object",
               18: "an opaque object"}
_COMPLEX, _GLOBAL, _LOGICAL = 0x800, 0x400, 0x200
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,62}\Z")
_CHUNK_BYTES = 4 * 2**20  # working set of the chunked copies in fortran_chunks


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------
class _Reader:
    def __init__(self, buf, order: str, where: str, notes: list | None = None, limit: int | None = None):
        self.buf = buf  # bytearray: arrays are writable views of it
        self.mv = memoryview(buf)
        self.order = order
        self.where = where
        self.notes = notes  # a list: unreadable classes are skipped and described there
        self.limit = limit  # most bytes a nested compressed element may inflate to
        self.struct_lists = False  # struct arrays as lists of dicts (pyulm.io's convention)
        self.u4 = struct.Struct(order + "II")

    def fail(self, msg: str):
        raise MatFileError(f"{self.where}: {msg}")

    def tag(self, pos: int, end: int):
        """(type, nbytes, data start, next element) of the data element at ``pos``."""
        if pos + 8 > end:
            self.fail(f"truncated data element at byte {pos}")
        first, second = self.u4.unpack_from(self.buf, pos)
        if first >> 16:  # small data element: type and size in 4 bytes, data in the next 4
            nbytes = first >> 16
            if nbytes > 4:
                self.fail(f"bad small data element at byte {pos}")
            return first & 0xFFFF, nbytes, pos + 4, pos + 8
        stop = pos + 8 + second
        if stop > end:
            self.fail(f"data element at byte {pos} runs past the end of its array ({second} bytes)")
        padded = pos + 8 + (second + 7) // 8 * 8
        return first, second, pos + 8, padded if first != miCOMPRESSED else stop

    def numbers(self, mtype: int, nbytes: int, pos: int, what: str) -> np.ndarray:
        dt = _TYPE_DTYPE.get(mtype)
        if dt is None:
            self.fail(f"{what}: unsupported numeric data type {mtype}")
        dt = np.dtype(self.order + dt)
        if nbytes % dt.itemsize:
            self.fail(f"{what}: {nbytes} bytes is not a whole number of {dt.name} values")
        return np.frombuffer(self.buf, dt, nbytes // dt.itemsize, pos)

    def head(self, pos: int, end: int):
        """(class, flags, dims, name, next position) of the miMATRIX body starting at ``pos``."""
        t, n, d, pos = self.tag(pos, end)
        if t != miUINT32 or n != 8:
            self.fail("array flags missing")
        flags = self.u4.unpack_from(self.buf, d)[0]
        t, n, d, pos = self.tag(pos, end)
        if t != miINT32:
            self.fail("array dimensions missing")
        dims = tuple(int(v) for v in self.numbers(t, n, d, "dimensions"))
        if len(dims) < 2 or min(dims) < 0:
            self.fail(f"bad array dimensions {list(dims)}")
        t, n, d, pos = self.tag(pos, end)
        if t not in (miINT8, miUINT8):
            self.fail("array name missing")
        name = bytes(self.mv[d:d + n]).decode("ascii", "replace")
        return flags & 0xFF, flags, dims, name, pos

    def matrix(self, pos: int, end: int, name_wanted: bool = False):
        """Parse one miMATRIX body spanning [pos, end); returns (name, value)."""
        if pos == end:  # an empty miMATRIX element stands for []
            return "", np.empty((0, 0))
        cls, flags, dims, name, pos = self.head(pos, end)
        what = f"variable {name!r}" if name else "an element"
        count = math.prod(dims)
        if cls in _CLASS_DTYPE:
            target = np.dtype(np.bool_) if flags & _LOGICAL else np.dtype(_CLASS_DTYPE[cls])
            t, n, d, pos = self.tag(pos, end)
            re_ = self._values(t, n, d, count, target, what)
            if flags & _COMPLEX:
                t, n, d, pos = self.tag(pos, end)
                im = self._values(t, n, d, count, target, what)
                ctype = np.complex64 if target == np.float32 else np.complex128
                out = np.empty(count, ctype)
                out.real = re_
                out.imag = im
                re_ = out
            return name, re_.reshape(dims, order="F")
        if cls == mxCHAR:
            if count == 0:
                return name, ""
            t, n, d, pos = self.tag(pos, end)
            return name, self._chars(t, bytes(self.mv[d:d + n]), dims, what)
        if cls == mxCELL:
            if count * 8 > end - pos:  # every element has at least a tag
                self.fail(f"{what}: a cell of size {list(dims)} does not fit in {end - pos} bytes")
            out = np.empty(count, dtype=object)
            for k in range(count):
                out[k], pos = self._child(pos, end, what)
            return name, out.reshape(dims, order="F")
        if cls == mxSTRUCT:
            t, n, d, pos = self.tag(pos, end)
            if t != miINT32 or n != 4:
                self.fail(f"{what}: struct field name length missing")
            width = int(self.numbers(t, n, d, "field name length")[0])
            t, n, d, pos = self.tag(pos, end)
            if t not in (miINT8, miUINT8) or width <= 0 and n or width > 0 and n % width:
                self.fail(f"{what}: bad struct field names")
            names = [bytes(self.mv[d + i:d + i + width]).split(b"\0", 1)[0].decode("ascii", "replace")
                     for i in range(0, n, width)] if width else []
            if count * max(len(names), 1) * 8 > end - pos and (names or count > 2**24):
                self.fail(f"{what}: a struct of size {list(dims)} does not fit in {end - pos} bytes")
            items = np.empty(count, dtype=object)
            for k in range(count):
                item = {}
                for field in names:
                    item[field], pos = self._child(pos, end, what)
                items[k] = item
            if count == 1:
                return name, items[0]
            if self.struct_lists:
                return name, list(items)  # column-major order
            return name, items.reshape(dims, order="F")
        kind = _CLASS_NAME.get(cls, f"MATLAB class number {cls}")
        hint = "; pass full(X)" if cls == mxSPARSE else ""
        if self.notes is not None:
            self.notes.append(f"skipped {name or what}: {kind}, not readable outside MATLAB{hint}")
            return name, SKIPPED
        self.fail(f"{what} is {kind}, which pyulm cannot read{hint}")

    def _chars(self, t: int, raw: bytes, dims: tuple, what: str):
        """Char data: UTF-16 code units (MATLAB), UTF-8 bytes one per element (Octave) or per character."""
        count = math.prod(dims)
        width = {miUTF16: 2, miUINT16: 2, miUTF32: 4}.get(t, 1)
        if t not in (miUTF8, miUINT8, miINT8, miUTF16, miUINT16, miUTF32):
            self.fail(f"{what}: unsupported character data type {t}")
        if width == 1 and len(raw) != count:  # UTF-8 written one element per character (scipy)
            text = raw.decode("utf-8", "replace")
            if len(text) != count:
                self.fail(f"{what}: {len(text)} characters do not fit size {list(dims)}")
            units = np.array(list(text), dtype="U1")
            codec = None
        else:
            if len(raw) != count * width:
                self.fail(f"{what}: {len(raw)} bytes of characters do not fit size {list(dims)}")
            units = np.frombuffer(raw, (self.order if width > 1 else "") + f"u{width}")
            codec = {1: "utf-8", 2: "utf-16-le", 4: "utf-32-le"}[width]
            if self.order == ">" and width > 1:
                codec = codec.replace("-le", "-be")

        def text_of(u: np.ndarray) -> str:
            if codec is None:
                return "".join(u.tolist())
            b = u.tobytes()
            try:
                return b.decode(codec, "surrogatepass")
            except UnicodeDecodeError:
                return b.decode("latin-1") if width == 1 else b.decode(codec, "replace")

        if len(dims) == 2 and dims[0] == 1:
            return text_of(units)
        rows = units.reshape(dims, order="F").reshape(dims[0], -1, order="F")
        return np.array([text_of(np.ascontiguousarray(r)) for r in rows])

    def _values(self, t, n, d, count, target, what):
        a = self.numbers(t, n, d, what)
        if a.size != count:
            self.fail(f"{what}: {a.size} values do not fit {count} elements")
        if a.dtype == target or (target == np.bool_ and a.dtype.itemsize == 1):
            return a.view(target) if a.dtype.isnative else a.astype(target)
        return a.astype(target)

    def _child(self, pos, end, what):
        t, n, d, nxt = self.tag(pos, end)
        if t == miCOMPRESSED:
            return self._compressed(d, n, what)[1], nxt
        if t != miMATRIX:
            self.fail(f"{what}: expected an array element at byte {pos}, found data type {t}")
        return self.matrix(d, d + n)[1], nxt

    def _compressed(self, d, n, what):
        limit = len(self.buf) * 1032 if self.limit is None else self.limit  # deflate inflates at most 1032:1
        try:
            raw = bytearray(zlib.decompressobj().decompress(self.mv[d:d + n], limit + 1))
        except zlib.error as exc:
            self.fail(f"{what}: corrupt compressed variable ({exc})")
        if len(raw) > limit:
            self.fail(f"{what}: a compressed element inflates to more than {limit} bytes")
        sub = _Reader(raw, self.order, self.where, self.notes, self.limit)
        sub.struct_lists = self.struct_lists
        t, n2, d2, _ = sub.tag(0, len(raw))
        if t != miMATRIX:
            self.fail(f"{what}: compressed element does not hold an array")
        return sub.matrix(d2, d2 + n2)


HEAD_BYTES = 4096  # enough for the flags, dims (up to 64) and name of any array header
SKIPPED = object()  # the value of a variable skipped (named in ``notes``) by read


def fortran_chunks(arr: np.ndarray):
    """The elements of ``arr`` in column-major order, as few contiguous 1-D pieces as possible.

    The whole array (no copy) if it is Fortran-contiguous; otherwise pieces of
    about ``_CHUNK_BYTES`` copied from any strides (transposed, sliced, real or
    imaginary part of a complex array) into one reused buffer: consume each
    piece before asking for the next.
    """
    if arr.size == 0:
        return
    if arr.flags.f_contiguous:
        yield arr.reshape(-1, order="F")
        return
    step = max(1, _CHUNK_BYTES // arr.itemsize)
    buf = np.empty(step, arr.dtype)
    it = np.nditer(arr, flags=["external_loop", "buffered", "zerosize_ok"], op_flags=[["readonly"]], order="F",
                   buffersize=step)
    for piece in it:
        if piece.flags.c_contiguous:
            yield piece
            continue
        for i in range(0, piece.size, step):  # a strided run the iterator did not buffer
            m = min(step, piece.size - i)
            np.copyto(buf[:m], piece[i:i + m])
            yield buf[:m]


def write_fortran(f, arr: np.ndarray) -> None:
    """Write ``arr``'s elements little-endian in column-major order, without a full copy."""
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    for chunk in fortran_chunks(arr):
        f.write(memoryview(chunk).cast("B"))


# The codec's other jobs, one module each, built on the tables and reader above;
# reached as attributes of this module (PEP 562: imported on first use, so that
# they can import this module without a cycle).
_PARTS = {"read": "_mat5file", "file_order": "_mat5file", "top_elements": "_mat5file",
          "inflate_prefix": "_mat5file", "write": "_mat5write", "scan": "_mat5scan", "Entry": "_mat5scan", "Plane": "_mat5scan",
          "CLASS_NAMES": "_mat5scan", "cell_entries": "_mat5scan", "read_elements": "_mat5scan",
          "DEFLATE_MAX_RATIO": "_mat5stream", "check_stream": "_mat5scan", "map_variable": "_mat5map", "map_planes": "_mat5map",
          "map_array": "_mat5map", "complex_from_planes": "_mat5map"}


__getattr__, __dir__ = attach(__name__, _PARTS, base=__package__)
