"""One read of pyulm's v7.3 chunk reader: the chunks of a selection decoded in parallel.

:func:`pyulm.io._h5chunks.plan_chunk_read` decides that a selection can be
read here and lists its chunks; :class:`ChunkRead` reads their stored bytes
(``os.pread``, one thread per core), undoes the filters
(:mod:`pyulm.io._h5filters`) and copies each chunk into place.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ._errors import FormatError
from ._h5filters import INFLATERS, fletcher32_ok, unshuffle

__all__ = ["ChunkRead", "n_threads"]

_H5Z_DEFLATE, _H5Z_SHUFFLE, _H5Z_FLETCHER32 = 1, 2, 3  # HDF5 filter ids (H5Zpublic.h)


def n_threads() -> int:
    """Decoding threads: the cores this process may use, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class ChunkRead:
    """Decode the chunks of one selection of a chunked dataset into a new array."""

    def __init__(self, ds, shape, chunks, filters, starts, stops, wanted, inflater=None):
        if inflater is not None and inflater not in INFLATERS:
            raise ValueError(f"inflater: {inflater!r} is not installed; available: {', '.join(INFLATERS)}")
        self.inflater = inflater or next(iter(INFLATERS))
        self._inflate = INFLATERS[self.inflater]
        self.ds, self.shape, self.chunks, self.filters = ds, shape, chunks, filters
        self.starts, self.stops, self.wanted = starts, stops, wanted
        self.n_chunks = len(wanted)
        self.dtype = ds.dtype
        self.itemsize = ds.dtype.itemsize
        self.chunk_nbytes = int(np.prod(chunks)) * self.itemsize
        self._step_cache = {}

    # -- stored bytes -------------------------------------------------------------------

    def address_base(self, fd):
        """What to add to HDF5's chunk addresses to get file offsets, or None to read chunks with h5py.

        HDF5 before 1.14.4 reported chunk addresses without the user block (MAT v7.3 files
        have a 512-byte one); the first chunk read both ways tells which convention holds.
        """
        if fd is None:
            return None
        origin, _mask, addr, size = self.wanted[0]
        _fm, ref = self.ds.id.read_direct_chunk(origin)
        ref = bytes(ref)
        for base in dict.fromkeys((0, int(self.ds.file.userblock_size or 0))):
            if os.pread(fd, size, addr + base) == ref:
                return base
        return None

    # -- decoding -----------------------------------------------------------------------

    def _steps(self, mask):
        """The filters to undo for a chunk stored with ``mask``, in order, as (filter id, argument),
        and the shuffle element size left to undo while copying into place (0: none)."""
        cached = self._step_cache.get(mask)
        if cached is not None:
            return cached
        active = [i for i in range(len(self.filters)) if not (mask >> i) & 1]
        steps, pending = [], 0
        for i in reversed(active):
            code, cd = self.filters[i]
            if code == _H5Z_DEFLATE:
                # what went into deflate: the chunk, plus any checksums appended before it
                steps.append((code, self.chunk_nbytes + 4 * sum(self.filters[j][0] == _H5Z_FLETCHER32
                                                                for j in active if j < i)))
            elif code == _H5Z_SHUFFLE:  # element size: the filter's parameter (HDF5 sets the type size)
                size = cd[0] if cd else self.itemsize
                if i == active[0] and size == self.itemsize:
                    pending = size  # the last step: undone while copying into place (one pass less)
                else:
                    steps.append((code, size))
            else:
                steps.append((code, None))
        self._step_cache[mask] = steps, pending
        return steps, pending

    def decode(self, raw, mask, origin, path, name):
        """Stored bytes -> (chunk bytes, shuffle element size still to undo or 0)."""
        steps, pending = self._steps(mask)
        buf = raw
        for code, arg in steps:
            if code == _H5Z_FLETCHER32:
                view = memoryview(buf)
                if len(buf) < 4 or not fletcher32_ok(view[:-4], bytes(view[-4:])):
                    raise FormatError(f"{path}: cannot read {name} (corrupt data: Fletcher-32 checksum mismatch "
                                      f"in the chunk at {origin})")
                buf = view[:-4]
            elif code == _H5Z_DEFLATE:
                try:
                    buf = self._inflate(buf, arg)
                except Exception as exc:  # zlib.error, isal's IsalError, deflate.DeflateError
                    raise FormatError(f"{path}: cannot read {name} (corrupt data: cannot inflate the chunk at "
                                      f"{origin}: {exc})") from None
            else:
                buf = unshuffle(buf, arg)
        if len(buf) != self.chunk_nbytes:
            raise FormatError(f"{path}: cannot read {name} (corrupt data: the chunk at {origin} holds {len(buf)} "
                              f"bytes, expected {self.chunk_nbytes})")
        return buf, pending

    def _place(self, buf, pending, origin):
        src_sl, dst_sl = [], []
        for o, c, a, b in zip(origin, self.chunks, self.starts, self.stops):
            lo, hi = max(o, a), min(o + c, b)
            src_sl.append(slice(lo - o, hi - o))
            dst_sl.append(slice(lo - a, hi - a))
        src_sl, dst_sl = tuple(src_sl), tuple(dst_sl)
        if pending:  # shuffled: byte k of every element is stored in the k-th block of the chunk
            src = np.frombuffer(buf, np.uint8).reshape((pending,) + self.chunks)[(slice(None),) + src_sl]
            dst = self.out_bytes[dst_sl]
            for k in range(pending):  # one strided copy per byte position: faster than one 4-D copy
                dst[..., k] = src[k]
        else:
            src = np.frombuffer(buf, self.view_dtype).reshape(self.chunks + self.view_tail)
            self.out_view[dst_sl] = src[src_sl]

    def _is_edge(self, origin) -> bool:
        return any(o + c > n for o, c, n in zip(origin, self.chunks, self.shape))

    def _ambiguous(self, mask, size, origin) -> bool:
        """An edge chunk stored at exactly its unfiltered size although its mask says filtered.

        HDF5's "do not filter partial edge chunks" option (not visible through h5py) stores
        such chunks unfiltered with mask 0; h5py reads them, whatever they are.
        """
        active = any(not (mask >> i) & 1 for i in range(len(self.filters)))
        return active and size == self.chunk_nbytes and self._is_edge(origin)

    # -- the read -----------------------------------------------------------------------

    def run(self, path, name) -> np.ndarray:
        out_shape = tuple(b - a for a, b in zip(self.starts, self.stops))
        out = np.empty(out_shape, self.dtype)
        self.out_bytes = out.view(np.uint8).reshape(out_shape + (self.itemsize,))
        if self.itemsize in (1, 2, 4, 8):
            self.view_dtype, self.view_tail = np.dtype(f"u{self.itemsize}"), ()
            self.out_view = out.view(self.view_dtype)
        else:
            self.view_dtype, self.view_tail = np.dtype(np.uint8), (self.itemsize,)
            self.out_view = self.out_bytes
        by_h5py = [w for w in self.wanted if self._ambiguous(w[1], w[3], w[0])]
        todo = [w for w in self.wanted if not self._ambiguous(w[1], w[3], w[0])]
        fd = None
        if hasattr(os, "pread"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                fd = None
        try:
            base = self.address_base(fd) if todo else 0
            if base is None:  # stored bytes through h5py (one thread), decoding still in parallel
                todo = [(o, m, bytes(self.ds.id.read_direct_chunk(o)[1]), s) for o, m, _a, s in todo]
            self._read_with_h5py(by_h5py)
            # Every thread (this one included) takes the next chunk from one shared iterator
            # (a list iterator's next() is atomic under the GIL): no thread waits on another's
            # share when the machine is busy and some threads get less CPU time than others.
            queue = iter(todo)
            abort = threading.Event()

            def work():
                try:
                    for origin, mask, where, size in queue:
                        if abort.is_set():
                            return
                        raw = where if base is None else os.pread(fd, size, where + base)
                        if len(raw) != size:
                            raise FormatError(f"{path}: cannot read {name} (truncated file: the chunk at {origin} "
                                              f"needs {size} bytes, {len(raw)} read)")
                        self._place(*self.decode(raw, mask, origin, path, name), origin)
                except BaseException:
                    abort.set()  # the other threads stop at their next chunk
                    raise

            n_helpers = min(n_threads(), len(todo)) - 1
            if n_helpers <= 0:
                work()
            else:
                with ThreadPoolExecutor(n_helpers, thread_name_prefix="pyulm-h5chunks") as pool:
                    futures = [pool.submit(work) for _ in range(n_helpers)]
                    work()
                    for fut in futures:
                        fut.result()
        finally:
            if fd is not None:
                os.close(fd)
            self.out_bytes = self.out_view = None
        return out

    def _read_with_h5py(self, entries):
        for origin, *_ in entries:
            src, dst = [], []
            for o, c, a, b in zip(origin, self.chunks, self.starts, self.stops):
                lo, hi = max(o, a), min(o + c, b)
                src.append(slice(lo, hi))
                dst.append(slice(lo - a, hi - a))
            self.out_view[tuple(dst)] = self.ds[tuple(src)].view(self.view_dtype).reshape(
                tuple(s.stop - s.start for s in src) + self.view_tail)

