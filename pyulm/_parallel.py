"""Thread-level parallelism over independent chunks (frames, pixels).

numpy and scipy release the GIL in the heavy loops pyulm uses, so two threads
nearly halve the time of localization and the band-pass on two cores. Results
do not depend on the number of threads: chunks are independent and their results
are joined in order.

One thread policy: only the main thread fans out. Code already running in a worker
thread (a Dask worker's task, or one of these chunks) runs serially, so a cluster of
worker processes never oversubscribes its cores. The count is, in this order: the
``threads`` of an enclosing :func:`limit_threads` (the ``[run] threads`` setting of
``pyulm process``), ``PYULM_NUM_THREADS``, else :func:`cpu_budget` (CPU affinity and
cgroup quota). :func:`limit_threads` also sizes numpy's and scipy's BLAS pools to the
same count, so they never spin against pyulm's threads.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_threads = None  # set by limit_threads


def cpu_budget() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota (containers)."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        n = os.cpu_count() or 1
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


_LOADAVG = "/proc/loadavg"


def oversubscribed() -> bool:
    """True when the machine has more runnable threads right now than this process may use,
    counting this process's own two (the caller and a BLAS thread): others' work is then
    waiting for the cores, and OpenBLAS threads that spin while they wait for one another
    lose to a single thread (the SVD's Gram matrix took 1.7-2.4 s on 2 threads vs 1.2-1.5 s
    on 1 next to ~8 busy threads on 2 cores). Linux only; False elsewhere."""
    try:
        with open(_LOADAVG) as f:
            runnable = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return False
    return runnable - 2 >= cpu_budget()


@functools.lru_cache(maxsize=1)
def _cgroup_cpu_quota() -> float | None:
    """CPUs' worth of time the cgroup allows (cgroup v2 ``cpu.max`` or v1 CFS quota), or None."""
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as f:
            quota = int(f.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as f:
            period = int(f.read())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def limit_threads(n: int | None):
    """Run the enclosed code with ``n`` pyulm threads and BLAS pools of ``n`` threads
    (``None``: :func:`cpu_budget`). Inside a worker thread it is one, whatever ``n``."""
    global _threads
    if n is None:
        n = cpu_budget()
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads: expected a whole number >= 1, got {n!r}")
    if threading.current_thread() is not threading.main_thread():
        n = 1
    previous, _threads = _threads, n
    try:
        with blas_limit(n):
            yield
    finally:
        _threads = previous


def default_workers() -> int:
    if threading.current_thread() is not threading.main_thread():
        return 1
    if _threads is not None:
        return _threads
    env = os.environ.get("PYULM_NUM_THREADS")
    if env:
        try:
            n = int(env)
        except ValueError:
            raise ValueError(f"PYULM_NUM_THREADS: expected a whole number >= 1, got {env!r}") from None
        if n < 1:
            raise ValueError(f"PYULM_NUM_THREADS: expected a whole number >= 1, got {env!r}")
        return n
    return cpu_budget()


def chunk_bounds(n: int, workers: int, min_chunk: int) -> list[tuple[int, int]]:
    """Split ``range(n)`` into at most ``workers`` contiguous chunks of at least ``min_chunk``."""
    k = max(1, min(workers, n // max(min_chunk, 1)))
    edges = [round(i * n / k) for i in range(k + 1)]
    return [(edges[i], edges[i + 1]) for i in range(k)]


def map_chunks(fn, bounds, workers: int):
    """``[fn(lo, hi) for lo, hi in bounds]``, on threads when there is more than one chunk
    and the cores are not already full (:func:`oversubscribed`)."""
    if len(bounds) <= 1 or workers <= 1 or oversubscribed():
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
    machine or on the Dask worker layout (``threadpoolctl``, a core requirement for that).
    """
    global _controller
    if _controller is None:
        import scipy.linalg  # noqa: F401  - loads scipy's BLAS, which the controller must see
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    with _controller.limit(limits=n_threads, user_api="blas"):
        yield
