"""pyulm's one MAT v5 codec: a small, strict reader, writer and mapper, numpy only.

It serves the MATLAB bridge (request/response envelopes, side files mapped
read-only by :func:`map_variable`) and :mod:`pyulm.io`. The bridge's file
transport starts Python on every call and ``scipy.io`` takes about 0.2 s to
import, more than everything else a small call needs, so importing this module
imports numpy alone. :func:`scan` lists a file's variables from their headers
(a few kB read per variable, compressed ones inflated only as far as their
headers).

Scope: what MATLAB's and Octave's ``save -v6`` write and ``load`` reads for
the values the wrappers exchange -- numeric arrays of every class (real or
complex, stored in any MAT element type, as MATLAB stores integer-valued
doubles in small integer types), logical arrays, char arrays (UTF-8, UTF-16,
UTF-32 or 8-bit data elements), cell arrays, structs and struct arrays, empty
``miMATRIX`` elements, and ``miCOMPRESSED`` (``-v7``) variables. Sparse
matrices, objects and function handles are refused with a :class:`MatFileError`
that names the variable.

Reading gives MATLAB's class and size (as ``scipy.io.loadmat(...,
mat_dtype=True, squeeze_me=False)``): numeric and logical data become numpy
arrays with MATLAB's dimensions (Fortran order, views of the file's bytes,
writable), a char row becomes ``str`` (a char matrix an array of row strings),
a cell an object array, a 1x1 struct a ``dict`` and other structs an object
array of ``dict``.

Writing (:func:`write`): ``dict`` -> 1x1 struct, ``list``/``tuple`` -> N x 1
cell, object array -> cell of its shape, ``str`` -> char row (UTF-16 units in miUINT16 data, as MATLAB writes),
``bool`` -> logical, ``int`` -> int64 (uint64 above its range), ``float``/``complex``
-> double, ``None`` -> ``[]``,
numeric and bool arrays -> their class (1-D as a column, 0-d as 1x1).
"""
from __future__ import annotations

import math
import mmap
import os
import re
import struct
import sys
import zlib
from typing import NamedTuple

import numpy as np

__all__ = ["MatFileError", "Entry", "read", "write", "scan", "map_variable", "map_planes", "map_array",
           "complex_from_planes"]


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
    def __init__(self, buf, order: str, where: str):
        self.buf = buf  # bytearray: arrays are writable views of it
        self.mv = memoryview(buf)
        self.order = order
        self.where = where
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
            return name, items.reshape(dims, order="F")
        kind = _CLASS_NAME.get(cls, f"MATLAB class number {cls}")
        hint = "; pass full(X)" if cls == mxSPARSE else ""
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
        try:
            raw = bytearray(zlib.decompress(self.mv[d:d + n]))
        except zlib.error as exc:
            self.fail(f"{what}: corrupt compressed variable ({exc})")
        sub = _Reader(raw, self.order, self.where)
        t, n2, d2, _ = sub.tag(0, len(raw))
        if t != miMATRIX:
            self.fail(f"{what}: compressed element does not hold an array")
        return sub.matrix(d2, d2 + n2)


def read(path) -> dict:
    """All variables of a MAT v5 file as a ``{name: value}`` dict (see the module docstring)."""
    path = os.fspath(path)
    where = f"MAT file {path}"
    size = os.path.getsize(path)
    buf = bytearray(size)
    with open(path, "rb") as f:
        if f.readinto(buf) != size:
            raise MatFileError(f"{where}: could not read {size} bytes")
    order = _file_order(bytes(buf[:128]), where)
    r = _Reader(buf, order, where)
    out = {}
    pos = 128
    while pos < size:
        if size - pos < 8:
            if any(buf[pos:]):
                raise MatFileError(f"{where}: truncated data element at byte {pos}")
            break  # zero padding
        t, n, d, nxt = r.tag(pos, size)
        if t == miMATRIX:
            name, value = r.matrix(d, d + n)
        elif t == miCOMPRESSED:
            name, value = r._compressed(d, n, f"the element at byte {pos}")
        else:
            raise MatFileError(f"{where}: unexpected top-level data type {t} at byte {pos}")
        out[name] = value
        pos = nxt
    return out


# ---------------------------------------------------------------------------
# Listing and mapping: headers only, data left in the file
# ---------------------------------------------------------------------------
class Plane(NamedTuple):
    """One data element of a numeric array in the file: MAT data type, byte count, byte offset."""

    mtype: int
    nbytes: int
    offset: int


class Entry(NamedTuple):
    """One top-level variable of a MAT v5 file, as its headers describe it (no data read).

    ``planes`` is empty for compressed variables and for non-numeric classes;
    otherwise it holds the real plane and, for complex data, the imaginary one.
    """

    name: str
    cls: int  # MATLAB class number (6 double, 7 single, ..., 1 cell, 2 struct, 4 char)
    flags: int  # array flags (complex, global, logical bits)
    dims: tuple
    start: int  # byte offset of the variable's tag
    nbytes: int  # bytes of the element in the file (compressed size for -v7 variables)
    compressed: bool
    planes: tuple = ()

    @property
    def complex(self) -> bool:
        return bool(self.flags & _COMPLEX)

    @property
    def logical(self) -> bool:
        return bool(self.flags & _LOGICAL)

    @property
    def class_name(self) -> str:
        """MATLAB's class name: ``'double'``, ``'logical'``, ``'struct'``, ..."""
        if self.logical:
            return "logical"
        return CLASS_NAMES.get(self.cls, f"class {self.cls}")

    @property
    def dtype(self) -> np.dtype | None:
        """numpy dtype of the variable in its MATLAB class (None for non-numeric classes)."""
        if self.logical:
            return np.dtype(np.bool_)
        code = _CLASS_DTYPE.get(self.cls)
        if code is None:
            return None
        if self.complex:
            return np.dtype(np.complex64 if code == "f4" else np.complex128)
        return np.dtype(code)

    @property
    def data_nbytes(self) -> int:
        """Bytes the variable takes in memory in its class (0 for non-numeric classes)."""
        dt = self.dtype
        return math.prod(self.dims) * dt.itemsize if dt is not None else 0


CLASS_NAMES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double", 7: "single", 8: "int8",
               9: "uint8", 10: "int16", 11: "uint16", 12: "int32", 13: "uint32", 14: "int64", 15: "uint64",
               16: "function_handle", 17: "opaque", 18: "object"}
_HEAD_BYTES = 4096  # enough for flags, dims (up to ~500) and name of any sane array header


def _file_order(head: bytes, where: str) -> str:
    """Byte order ('<' or '>') of a MAT v5 file from its 128-byte header."""
    if len(head) < 128 or head[126:128] not in (b"IM", b"MI"):
        raise MatFileError(f"{where}: not a MAT v5 file (no MAT v5 header; v7.3 HDF5 files are not accepted here)")
    order = "<" if head[126:128] == b"IM" else ">"
    version = struct.unpack_from(order + "H", head, 124)[0]
    if version == 0x0200:
        raise MatFileError(f"{where}: a MATLAB v7.3 (HDF5) file; save it with -v7 or -v6 instead")
    if version != 0x0100:
        raise MatFileError(f"{where}: unknown MAT file version 0x{version:04x} (expected a v5/v6/v7 file)")
    return order


def _inflate_head(f, pos: int, nbytes: int, limit: int, where: str) -> bytes:
    """The first ``limit`` bytes (at most) that the compressed element at ``pos`` inflates to.

    Inflates only what it returns (``max_length``), so a compression bomb costs
    nothing here.
    """
    d = zlib.decompressobj()
    out = b""
    f.seek(pos)
    left = nbytes
    try:
        while left > 0 and len(out) < limit:
            piece = f.read(min(left, 65536))
            if not piece:
                break
            left -= len(piece)
            out += d.decompress(piece, limit - len(out))
            while d.unconsumed_tail and len(out) < limit:
                out += d.decompress(d.unconsumed_tail, limit - len(out))
    except zlib.error as exc:
        raise MatFileError(f"{where}: corrupt compressed variable at byte {pos - 8} ({exc})") from None
    return out


def scan(path) -> list[Entry]:
    """The top-level variables of a MAT v5 file, read from their headers alone.

    Reads a few kilobytes per variable whatever the data size (compressed
    variables are inflated only as far as their headers). Declared sizes are
    checked against the file: an uncompressed array whose data would run past
    its element or the file raises :class:`MatFileError`.
    """
    return _scan(path)[1]


def _scan(path) -> tuple[str, list[Entry]]:
    """(byte order, entries) of a MAT v5 file: see :func:`scan`."""
    path = os.fspath(path)
    where = f"MAT file {os.fsdecode(path)}"
    out = []
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        order = _file_order(f.read(128), where)
        u4 = struct.Struct(order + "II")
        pos = 128
        while pos < size:
            f.seek(pos)
            raw = f.read(8)
            if len(raw) < 8:
                if any(raw):
                    raise MatFileError(f"{where}: truncated data element at byte {pos}")
                break
            t, n = u4.unpack(raw)
            if t >> 16:
                raise MatFileError(f"{where}: unexpected small data element at top level (byte {pos})")
            if pos + 8 + n > size:
                raise MatFileError(f"{where}: the element at byte {pos} declares {n} bytes, past the end of the "
                                   f"file ({size} bytes)")
            if t == miMATRIX:
                f.seek(pos + 8)
                head = f.read(min(n, _HEAD_BYTES))
            elif t == miCOMPRESSED:
                head = _inflate_head(f, pos + 8, n, _HEAD_BYTES + 8, where)
                if len(head) < 8 or u4.unpack_from(head)[0] != miMATRIX:
                    raise MatFileError(f"{where}: the compressed element at byte {pos} does not hold an array")
                head = head[8:]
            else:
                raise MatFileError(f"{where}: unexpected top-level data type {t} at byte {pos}")
            r = _Reader(bytearray(head), order, f"{where}, variable at byte {pos}")
            if not head:  # an empty miMATRIX element stands for []
                out.append(Entry("", 6, 0, (0, 0), pos, n, t == miCOMPRESSED))
            else:
                cls, flags, dims, name, hpos = r.head(0, len(head))
                planes = ()
                if t == miMATRIX and cls in _CLASS_DTYPE:
                    planes = _planes(f, order, pos + 8 + hpos, pos + 8 + n, flags, dims, name, where)
                out.append(Entry(name, cls, flags, dims, pos, n, t == miCOMPRESSED, planes))
            pos += 8 + (n + 7) // 8 * 8 if t == miMATRIX else 8 + n
    return order, out


def _planes(f, order, pos, end, flags, dims, name, where) -> tuple:
    """The data elements (real, then imaginary) of an uncompressed numeric array, checked against its size."""
    u4 = struct.Struct(order + "II")
    count = math.prod(dims)
    out = []
    for _ in range(2 if flags & _COMPLEX else 1):
        f.seek(pos)
        raw = f.read(8)
        if len(raw) < 8 or pos + 8 > end:
            raise MatFileError(f"{where}: variable {name!r}: data missing (truncated array)")
        t, n = u4.unpack(raw)
        data = pos + 8
        if t >> 16:  # small data element: up to 4 bytes in the tag
            t, n, data, nxt = t & 0xFFFF, t >> 16, pos + 4, pos + 8
        else:
            nxt = pos + 8 + (n + 7) // 8 * 8
        code = _TYPE_DTYPE.get(t)
        if code is None:
            raise MatFileError(f"{where}: variable {name!r}: unsupported numeric data type {t}")
        if n != count * int(code[1]):
            raise MatFileError(f"{where}: variable {name!r}: {n} data bytes do not fit size {list(dims)} "
                               f"({count} values of {np.dtype(code).name})")
        if data + n > end:
            raise MatFileError(f"{where}: variable {name!r}: data run past the end of the array ({n} bytes "
                               f"declared at byte {data})")
        out.append(Plane(t, n, data))
        pos = nxt
    return tuple(out)


def map_array(path, dtype, offset: int, count: int, *, populate: bool = True) -> np.ndarray:
    """``count`` elements of ``dtype`` at byte ``offset`` of a file, mapped read-only (not read).

    With ``populate`` the mapping is filled at once where the OS allows it
    (Linux >= 5.14, ``MADV_POPULATE_READ``): one call instead of a page fault
    per page, which pays when the whole array is used next.
    """
    dtype = np.dtype(dtype)
    if count == 0:
        empty = np.empty(0, dtype)
        empty.flags.writeable = False  # read-only like every mapped array
        return empty
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size < offset + count * dtype.itemsize:
            raise MatFileError(f"file {os.fsdecode(path)}: truncated ({count} elements of {dtype} expected at "
                               f"byte {offset})")
        mm = mmap.mmap(f.fileno(), offset - start + count * dtype.itemsize, access=mmap.ACCESS_READ, offset=start)
    if populate and sys.platform.startswith("linux"):
        try:
            mm.madvise(_MADV_POPULATE_READ)
        except (AttributeError, OSError, ValueError):  # kernels before 5.14: fault in on use
            pass
    return np.frombuffer(mm, dtype=dtype, count=count, offset=offset - start)


_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux value; Python < 3.13 lacks the name


def map_planes(path, name: str | None = None, *, populate: bool = True) -> tuple[Entry, tuple]:
    """The data planes of one uncompressed numeric variable, mapped read-only and zero-copy.

    Parameters
    ----------
    path : str, bytes or os.PathLike
    name : str, optional
        The variable; default: the file's first variable.
    populate : bool
        Fault the mapping in at once (see :func:`map_array`).

    Returns
    -------
    entry : Entry
        The variable's headers.
    planes : tuple of numpy.ndarray
        The real plane and, for complex data, the imaginary plane, each a 1-D
        read-only view of the file in its stored element type and byte order
        (MATLAB may store integer-valued doubles as small integers), column-major.
    """
    where = f"MAT file {os.fsdecode(os.fspath(path))}"
    order, entries = _scan(path)
    if not entries:
        raise MatFileError(f"{where}: holds no variable")
    found = [e for e in entries if name is None or e.name == name]
    if not found:
        raise MatFileError(f"{where}: no variable {name!r} (variables: {[e.name for e in entries]})")
    e = found[0]
    if e.compressed:
        raise MatFileError(f"{where}: variable {e.name!r} is compressed (-v7); only uncompressed (-v6) data can "
                           f"be mapped")
    if e.dtype is None:
        raise MatFileError(f"{where}: variable {e.name!r} is a {e.class_name}, not a numeric or logical array")
    count = math.prod(e.dims)
    return e, tuple(map_array(path, np.dtype(order + _TYPE_DTYPE[p.mtype]), p.offset, count, populate=populate)
                    for p in e.planes)


def complex_from_planes(re: np.ndarray, im: np.ndarray, ctype) -> np.ndarray:
    """One Fortran-ordered complex array from real and imaginary parts of the same shape.

    Fills it chunk by chunk (each chunk of the output is written twice while it
    is still in cache), converting the parts' element type on the way.
    """
    out = np.empty(re.shape, dtype=ctype, order="F")
    if out.size == 0:
        return out
    pairs = out.reshape(-1, order="F").view(out.real.dtype).reshape(-1, 2)
    re = re.reshape(-1, order="F")
    im = im.reshape(-1, order="F")
    step = max(1, _CHUNK_BYTES // out.itemsize)
    for i in range(0, out.size, step):
        pairs[i:i + step, 0] = re[i:i + step]
        pairs[i:i + step, 1] = im[i:i + step]
    return out


def map_variable(path, name: str | None = None, *, populate: bool = True) -> np.ndarray:
    """One uncompressed numeric or logical variable of a MAT v5 file, in MATLAB's shape and class.

    Real data stored in their class and the machine's byte order come back as a
    read-only view of the file (mapped, not read: zero-copy); data stored in
    another element type or byte order are converted (a copy). Complex data,
    stored as two planes, are combined into one new complex array in one pass.
    This is how the MATLAB bridge reads its side files.

    Parameters
    ----------
    path : str, bytes or os.PathLike
    name : str, optional
        The variable; default: the file's first variable.
    populate : bool
        Fault the mapping in at once (see :func:`map_array`).

    Raises
    ------
    MatFileError
        The file is not MAT v5, the variable is missing, compressed, not
        numeric, or its data do not fit its size or the file.
    """
    e, planes = map_planes(path, name, populate=populate)
    target = e.dtype
    if e.complex:
        part = np.dtype(np.float32 if target == np.complex64 else np.float64)
        re, im = (p if p.dtype == part else p.astype(part) for p in planes)
        return complex_from_planes(re, im, target).reshape(e.dims, order="F")
    a = planes[0]
    if target == np.bool_ and a.dtype.itemsize == 1:
        a = a.view(np.bool_)
    elif a.dtype != target:
        a = a.astype(target)
    return a.reshape(e.dims, order="F")


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------
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
                write_fortran(self.f, part if kind == "b" else part.astype(part_code, copy=False))
                self.f.write(bytes(-part_bytes % 8))
        body = len(head) + len(parts) * self.size_of(part_bytes)
        if body >= 2**32:
            raise MatFileError(f"{where}: too large for a MAT v5 variable")
        return self._matrix(body, emit)


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


def write(path, variables: dict, header: str = "pyulm") -> None:
    """Write ``{name: value}`` as an uncompressed MAT v5 file (what MATLAB's ``save -v6`` writes).

    Every value is checked before anything is written, and the file is written
    under a temporary name in the same folder and renamed into place: a refused
    value or a failed write (disk full) leaves ``path`` as it was.
    """
    path = os.fspath(path)
    w = _Writer(None)
    try:
        plans = [w.plan(value, _encode_name(str(name), "variable name"), f"variable {name!r}")
                 for name, value in variables.items()]
    except RecursionError:
        raise MatFileError(f"MAT file {path}: a value nests too deeply (or contains itself)") from None
    import tempfile

    text = f"MATLAB 5.0 MAT-file, written by {header}".encode("ascii", "replace")[:116]
    fd, tmp = tempfile.mkstemp(prefix=".pyulm-", suffix=".mat.part", dir=os.path.dirname(os.path.abspath(path)))
    try:
        with os.fdopen(fd, "wb") as f:
            w.f = f
            f.write(text.ljust(116, b" ") + bytes(8) + b"\x00\x01IM")
            for _, run in plans:
                run()
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
