"""pyulm's one MAT v5 codec, numpy only: this module reads; writing, listing and mapping live
beside it (:mod:`._mat5write`, :mod:`._mat5scan`, :mod:`._mat5map`) and are re-exported here.

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
import os
import re
import struct
import zlib

import numpy as np

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


def file_order(head: bytes, where: str) -> str:
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


def top_elements(f, where: str):
    """(byte order, [(type, nbytes, start)]) of a MAT v5 file's top-level elements, sizes checked
    against the file; ``f`` is an open binary file at any position."""
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    order = file_order(f.read(128), where)
    u4 = struct.Struct(order + "II")
    out, pos = [], 128
    while pos < size:
        f.seek(pos)
        raw = f.read(8)
        if len(raw) < 8:
            if any(raw):
                raise MatFileError(f"{where}: truncated data element at byte {pos}")
            break  # zero padding
        t, n = u4.unpack(raw)
        if t not in (miMATRIX, miCOMPRESSED):
            raise MatFileError(f"{where}: unexpected top-level data type {t} at byte {pos}")
        if pos + 8 + n > size:
            raise MatFileError(f"{where}: the variable at byte {pos} declares {n} bytes, past the end of the "
                               f"file ({size} bytes): truncated or corrupt file")
        out.append((t, n, pos))
        pos += 8 + (n + 7) // 8 * 8 if t == miMATRIX else 8 + n
    return order, out


def inflate_prefix(f, pos: int, nbytes: int, limit: int, where: str) -> bytes:
    """The first ``limit`` bytes (at most) that the ``nbytes`` compressed bytes at ``pos`` inflate to.

    Inflates only what it returns (``max_length``), so a compression bomb costs
    no more than ``limit`` bytes.
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


def read(path, names=None, *, max_bytes: int | None = None, notes: list | None = None,
         struct_lists: bool = False) -> dict:
    """Variables of a MAT v5 file as a ``{name: value}`` dict (see the module docstring).

    Parameters
    ----------
    path : str, bytes or os.PathLike
    names : iterable of str, optional
        Only these variables; the others are neither read nor inflated.
    max_bytes : int, optional
        Refuse, before reading it, any variable that takes more than this many
        bytes in the file or inflated (as its header declares; a compressed
        variable is never inflated past it).
    notes : list, optional
        When given, MATLAB objects, sparse matrices and function handles are
        skipped (described in ``notes``; dropped at the top level) instead of
        raising :class:`MatFileError`.
    struct_lists : bool
        Struct arrays (other than 1x1) as lists of dicts in column-major order
        instead of object arrays of dicts.
    """
    path = os.fspath(path)
    where = f"MAT file {os.fsdecode(path)}"
    wanted = None if names is None else set(names)
    out = {}
    with open(path, "rb") as f:
        order, elements = top_elements(f, where)
        for t, n, start in elements:
            if t == miCOMPRESSED:
                head = inflate_prefix(f, start + 8, n, HEAD_BYTES + 8, where)
                if len(head) < 8 or struct.unpack_from(order + "I", head)[0] != miMATRIX:
                    raise MatFileError(f"{where}: the compressed element at byte {start} does not hold an array")
                body, head = struct.unpack_from(order + "I", head, 4)[0], head[8:]
            else:
                f.seek(start + 8)
                body, head = n, f.read(min(n, HEAD_BYTES))
            name = _Reader(bytearray(head), order, where).head(0, len(head))[3] if head else ""
            if wanted is not None and name not in wanted:
                continue
            what = f"{where}: variable {name!r}"
            if max_bytes is not None and max(body, n) > max_bytes:
                raise MatFileError(f"{what} declares {max(body, n)} bytes, more than the {max_bytes} allowed "
                                   f"(not read)")
            if t == miCOMPRESSED:
                buf = bytearray(inflate_prefix(f, start + 8, n, body + 8, what))
                if len(buf) != body + 8:
                    raise MatFileError(f"{what}: inflates to {len(buf) - 8} bytes, its header declares {body}")
                pos = 8
            else:
                f.seek(start + 8)
                buf, pos = bytearray(f.read(n)), 0
            r = _Reader(buf, order, where, notes=notes, limit=max_bytes)
            r.struct_lists = struct_lists
            name, value = r.matrix(pos, pos + body)
            if value is not SKIPPED:
                out[name] = value
    return out


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
_PARTS = {"write": "_mat5write", "scan": "_mat5scan", "Entry": "_mat5scan", "Plane": "_mat5scan",
          "CLASS_NAMES": "_mat5scan", "cell_entries": "_mat5scan", "read_elements": "_mat5scan",
          "DEFLATE_MAX_RATIO": "_mat5scan", "check_stream": "_mat5scan", "map_variable": "_mat5map", "map_planes": "_mat5map",
          "map_array": "_mat5map", "complex_from_planes": "_mat5map"}


def __getattr__(name):
    if name in _PARTS:
        import importlib

        value = getattr(importlib.import_module(f"{__package__}.{_PARTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
