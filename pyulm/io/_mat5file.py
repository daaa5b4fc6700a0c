"""MAT v5 files at the top level: the header, the variables' elements, and reading them by name.

:func:`read` decodes the variables asked for (with :class:`~pyulm.io._mat5._Reader`)
and skips the others without reading or inflating them; sizes declared by
headers are checked against the file, and against ``max_bytes`` before any
data are read.
"""
from __future__ import annotations

import os
import struct
import zlib

from ._mat5 import HEAD_BYTES, SKIPPED, MatFileError, _Reader, miCOMPRESSED, miMATRIX

__all__ = ["file_order", "top_elements", "inflate_prefix", "read"]


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
