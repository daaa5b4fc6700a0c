"""Thread-level parallelism over independent chunks (frames, pixels).

numpy and scipy release the GIL in the heavy loops pyulm uses, so two threads
nearly halve the time of localization and the band-pass on two cores. Results
do not depend on the number of threads: chunks are independent and their results
are joined in order.

Only the main thread fans out. Code already running in a worker thread (a Dask
worker's task, or one of these chunks) runs serially, so a cluster of worker
processes never oversubscribes its cores. ``PYULM_NUM_THREADS`` caps the count.
"""
from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor


def default_workers() -> int:
    if threading.current_thread() is not threading.main_thread():
        return 1
    env = os.environ.get("PYULM_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"PYULM_NUM_THREADS: expected a whole number >= 1, got {env!r}") from None
        if n < 1:
            raise ValueError(f"PYULM_NUM_THREADS: expected a whole number >= 1, got {env!r}")
        return n
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def chunk_bounds(n: int, workers: int, min_chunk: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``workers`` contiguous chunks of at least ``min_chunk``."""
    k = max(1, min(workers, n // max(min_chunk, 1)))
    edges = [round(i * n / k) for i in range(k + 1)]
    return [(edges[i], edges[i + 1]) for i in range(k)]


def map_chunks(fn, bounds, workers: int):
    """``[fn(lo, hi) for lo, hi in bounds]``, on threads when there is more than one chunk."""
    if len(bounds) <= 1 or workers <= 1:
        return [fn(lo, hi) for lo, hi in bounds]
    with ThreadPoolExecutor(min(workers, len(bounds))) as ex:
        return list(ex.map(lambda b: fn(*b), bounds))


_controller = None


@contextlib.contextmanager
def blas_limit(n_threads: int = 1):
    """Run the enclosed code with numpy's and scipy's BLAS pools limited to ``n_threads``.

    Used around LAPACK eigensolvers, whose multi-threaded reductions round differently
    with each thread count (the SVD filter's eigenvectors moved by ~1e-17, its output by
    ~1e-15 between 1 and 2 threads): under one thread the results do not depend on the
    machine or on the Dask worker layout. Needs ``threadpoolctl``; without it the pools
    keep their size.
    """
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController

            _controller = ThreadpoolController()
        except ImportError:  # pragma: no cover - optional
            _controller = False
    if not _controller:  # pragma: no cover
        yield
        return
    with _controller.limit(limits=n_threads, user_api="blas"):
        yield
