"""The HDF5 filters pyulm's v7.3 chunk reader undoes itself: deflate, shuffle, fletcher32.

Every function here releases the GIL where it does real work (the inflaters,
numpy copies), so the chunk reader (:mod:`pyulm.io._h5chunks`) runs them in one
thread per core. Inflating is bounded: a chunk never inflates to more than the
bytes its dataset declares, so a compression bomb costs no memory.
"""
from __future__ import annotations

import zlib

import numpy as np

__all__ = ["INFLATERS", "inflate", "unshuffle", "fletcher32", "fletcher32_ok"]

_FLETCHER_BLOCK = 256  # words per row of the block sums in fletcher32


def _bounded(decompressobj):
    """inflate(data, nbytes) through a zlib-style ``decompressobj``, failing past ``nbytes`` bytes."""
    def run(data, nbytes):
        d = decompressobj()
        out = d.decompress(data, nbytes + 1)
        if len(out) > nbytes:
            raise zlib.error(f"inflates to more than the {nbytes} bytes declared")
        return out
    return run


def _inflaters() -> dict:
    """The zlib-format inflaters available, fastest first: {name: inflate(data, nbytes) -> bytes}.

    All give the same bytes, all release the GIL, and none returns (or
    allocates) more than ``nbytes`` bytes. On IQ data libdeflate (PyPI
    ``deflate``) takes about 0.75x the CPU time of ISA-L (PyPI ``isal``), which
    takes about 0.75x zlib's.
    """
    found = {}
    try:
        import deflate

        if tuple(int(v) for v in deflate.__version__.split(".")[:2]) >= (0, 9):  # releases the GIL from 0.9
            found["libdeflate"] = deflate.zlib_decompress  # fails when the data inflate past nbytes
    except (ImportError, ValueError, AttributeError):
        pass
    try:
        from isal import isal_zlib

        found["isal"] = _bounded(isal_zlib.decompressobj)
    except ImportError:
        pass
    found["zlib"] = _bounded(zlib.decompressobj)
    return found


#: name -> inflate(data, nbytes), fastest first; ``inflate`` is the first.
INFLATERS = _inflaters()
inflate = next(iter(INFLATERS.values()))


def unshuffle(buf, size: int):
    """Undo HDF5's shuffle filter (bytes of ``size``-byte elements grouped by byte position)."""
    n = len(buf) // size
    if size <= 1 or n <= 1:
        return buf
    src = np.frombuffer(buf, np.uint8)
    out = np.empty(len(buf), np.uint8)
    out[:n * size].reshape(n, size)[...] = src[:n * size].reshape(size, n).T
    out[n * size:] = src[n * size:]  # HDF5 leaves a trailing partial element as it is
    return out


def fletcher32(data) -> int:
    """HDF5's Fletcher-32 checksum of ``data`` (H5_checksum_fletcher32), vectorised.

    HDF5 sums big-endian 16-bit words (an odd last byte is the high byte of a word) with
    end-around carry: sum1 = sum of the words, sum2 = sum of the running sum1, each folded
    to 16 bits, so each is its value modulo 65535 written in 1..65535, or 0 when every word
    is 0. Swapping a word's bytes multiplies it by 256 modulo 65535, so the sums are taken
    over little-endian words and multiplied by 256. sum2 = sum_i (n - i) w_i is computed
    from the row and column sums of the words laid out in rows of ``_FLETCHER_BLOCK``.
    """
    if len(data) % 2:
        data = bytes(data) + b"\0"
    w = np.frombuffer(data, "<u2")
    n, b = w.size, _FLETCHER_BLOCK
    m = n // b
    rows = w[:m * b].reshape(m, b)
    tail = w[m * b:].astype(np.uint64)
    s_tail = int(tail.sum())
    s2_tail = int(np.dot(n - m * b - _arange_u64(tail.size), tail))
    if m < 65536:  # exact in 64 bits: row sums < 2**24, column sums < 2**32
        row_sums = rows.sum(axis=1, dtype=np.uint32)
        col_sums = rows.sum(axis=0, dtype=np.uint32)
        s_rows = int(row_sums.sum(dtype=np.uint64))
        s1 = s_rows + s_tail
        s2 = (n * s_rows - b * int(np.dot(_arange_u64(m), row_sums))
              - int(np.dot(_arange_u64(b), col_sums)) + s2_tail)
    else:  # huge chunks: the same sums reduced modulo 65535 on the way
        row_sums = rows.sum(axis=1, dtype=np.uint64)
        col_sums = rows.sum(axis=0, dtype=np.uint64)
        s1 = int(row_sums.sum()) + s_tail
        s2 = int(np.dot((n - b * _arange_u64(m)) % 65535, row_sums % 65535))
        s2 -= int(np.dot(_arange_u64(b), col_sums % 65535))
        s2 += s2_tail
    if s1 == 0:
        return 0
    return ((256 * s1) % 65535 or 65535) | (((256 * s2) % 65535 or 65535) << 16)


_ARANGE = np.arange(0, dtype=np.uint64)


def _arange_u64(k: int) -> np.ndarray:
    """0, 1, ..., k-1 as uint64, from one growing cache (a slice is a view: no allocation)."""
    global _ARANGE
    if _ARANGE.size < k:
        _ARANGE = np.arange(max(k, 2 * _ARANGE.size, 4096), dtype=np.uint64)
    return _ARANGE[:k]


def fletcher32_ok(data, stored: bytes) -> bool:
    """Whether ``stored`` (4 bytes as HDF5 appends them) is the Fletcher-32 checksum of ``data``."""
    value = int.from_bytes(stored, "little")
    want = fletcher32(data)
    # HDF5 before 1.6.3 stored each 16-bit half byte-swapped; HDF5 accepts both.
    swapped = int.from_bytes(want.to_bytes(4, "little")[1::-1] + want.to_bytes(4, "little")[:1:-1], "little")
    return value in (want, swapped)
