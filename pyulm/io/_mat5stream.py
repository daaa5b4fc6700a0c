"""A forward-only reader over one top-level MAT v5 element: the file itself, or the bytes its
deflate stream inflates to, produced (and dropped when skipped) piece by piece.

Bounded on every side: reads past the element's declared end, inflating past
what deflate can produce from the element's compressed bytes (1032:1), and
streams that end early, hold more, or fail their checksum raise
:class:`~pyulm.io._mat5.MatFileError`.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np

from ._mat5 import MatFileError

__all__ = ["DEFLATE_MAX_RATIO", "Stream", "tag"]

#: deflate inflates at most about 1032:1: more declared per compressed byte is a lie (or a bomb)
DEFLATE_MAX_RATIO = 1032
_IN_PIECE = 1 << 18  # compressed bytes read from the file at a time
_OUT_PIECE = 1 << 22  # inflated bytes produced (and dropped) at a time when skipping


class Stream:
    """Forward reads over one top-level element: the file itself, or the bytes it inflates to.

    Positions count from the element's first byte (its tag) for uncompressed
    elements, and from the first inflated byte (the inner miMATRIX tag) for
    compressed ones. ``end`` bounds what may be read.
    """

    def __init__(self, f, start: int, nbytes: int, compressed: bool, where: str):
        self.f, self.where, self.pos = f, where, 0
        self.compressed = compressed
        self.ahead = b""  # bytes read back by peek
        if compressed:
            self.src, self.src_left = start + 8, nbytes  # compressed bytes still in the file
            self.packed = nbytes
            self.most = DEFLATE_MAX_RATIO * nbytes + 64  # what nbytes of deflate data can inflate to
            self.d = zlib.decompressobj()
            self.end = None  # known once the inner tag is read
        else:
            self.base, self.end = start, 8 + nbytes

    def _fail(self, msg):
        raise MatFileError(f"{self.where}: {msg}")

    def _inflate(self, n: int) -> bytes:
        """The next ``n`` inflated bytes (kept only when returned)."""
        if self.pos + n > self.most:
            self._fail(f"declares {self.pos + n} or more bytes in {self.packed} compressed bytes, more than "
                       "deflate can produce: corrupt variable or a compression bomb")
        parts, have = [self.ahead[:n]], len(self.ahead[:n])
        self.ahead = self.ahead[n:]
        try:
            while have < n:
                data = self.d.unconsumed_tail
                if not data:
                    if self.src_left <= 0:
                        self._fail(f"compressed data end after {self.pos + have} bytes, {n - have} more expected "
                                   "(truncated or corrupt variable)")
                    self.f.seek(self.src)
                    data = self.f.read(min(self.src_left, _IN_PIECE))
                    if not data:
                        self._fail("compressed variable truncated by the end of the file")
                    self.src += len(data)
                    self.src_left -= len(data)
                piece = self.d.decompress(data, n - have)
                parts.append(piece)
                have += len(piece)
                if self.d.eof and have < n:
                    self._fail(f"compressed data end after {self.pos + have} bytes, {n - have} more expected "
                               "(the header declares more than the variable holds)")
        except zlib.error as exc:
            self._fail(f"corrupt compressed variable ({exc})")
        return b"".join(parts)

    def read(self, n: int) -> bytes:
        if self.end is not None and self.pos + n > self.end:
            self._fail(f"{n} bytes at byte {self.pos} run past the end of the variable ({self.end} bytes)")
        if self.compressed:
            raw = self._inflate(n)
        else:
            self.f.seek(self.base + self.pos)
            raw = self.f.read(n)
            if len(raw) != n:
                self._fail(f"truncated: {n} bytes expected at byte {self.base + self.pos}, {len(raw)} in the file")
        self.pos += n
        return raw

    def read_into(self, out: np.ndarray) -> None:
        """Fill ``out`` (a contiguous array) with the next ``out.nbytes`` bytes."""
        n = out.nbytes
        if self.compressed or self.end is not None and self.pos + n > self.end:
            out.view(np.uint8)[:] = np.frombuffer(self.read(n), np.uint8)
            return
        self.f.seek(self.base + self.pos)
        got = self.f.readinto(memoryview(out).cast("B"))
        if got != n:
            self._fail(f"truncated: {n} bytes expected at byte {self.base + self.pos}, {got} in the file")
        self.pos += n

    def finish(self) -> None:
        """Inflate the rest of a compressed element: its deflate stream must end (checksum verified)
        exactly at the end its header declares."""
        self.skip(self.end - self.pos)
        try:
            while not self.d.eof:
                data = self.d.unconsumed_tail
                if not data:
                    if self.src_left <= 0:
                        self._fail("compressed data end before their stream does (truncated or corrupt variable)")
                    self.f.seek(self.src)
                    data = self.f.read(min(self.src_left, _IN_PIECE))
                    self.src += len(data)
                    self.src_left -= len(data)
                if self.d.decompress(data, 1):
                    self._fail("compressed data hold more than the header declares (corrupt variable)")
        except zlib.error as exc:
            self._fail(f"corrupt compressed variable ({exc})")

    def peek(self, n: int) -> bytes:
        """Up to ``n`` bytes from here to ``end``, without moving."""
        raw = self.read(min(n, self.end - self.pos))
        self.pos -= len(raw)
        if self.compressed:
            self.ahead = raw + self.ahead
        return raw

    def skip(self, n: int) -> None:
        if self.end is not None and self.pos + n > self.end:
            self._fail(f"{n} bytes at byte {self.pos} run past the end of the variable ({self.end} bytes)")
        if self.compressed:
            for _ in range(n // _OUT_PIECE):
                self._inflate(_OUT_PIECE)
            self._inflate(n % _OUT_PIECE)
        self.pos += n


def tag(s: Stream, order: str):
    """(type, nbytes, inline data or None) of the next data element; the stream is left at its data."""
    first, second = struct.unpack(order + "II", s.read(8))
    if first >> 16:  # small data element: type and size in 4 bytes, data in the next 4
        n = first >> 16
        if n > 4:
            s._fail(f"bad small data element before byte {s.pos}")
        return first & 0xFFFF, n, struct.pack(order + "I", second)[:n]
    return first, second, None
