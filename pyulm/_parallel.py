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

That count is a ceiling: each fan-out takes no more threads than :func:`available_cpus`
(the budget less the CPU time other processes have been taking), and the work is many
small chunks that the threads pull from a shared queue, never a fixed share per thread,
so a thread that another process slows down does less of it instead of holding the
others back. BLAS-heavy products cannot be spread that way (scipy's BLAS wrappers hold
the GIL): the filter's Gram matrix runs on BLAS's own threads, as many as
:func:`available_cpus` gives, so a busy machine gets one thread rather than two that
wait for each other.
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

_threads = None  # set by limit_threads


def _affinity_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def cpu_budget() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota (containers)."""
    n = _affinity_count()
    quota = _cgroup_cpu_quota()
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


_PROC_STAT = "/proc/stat"
_LOADAVG = "/proc/loadavg"
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_load_lock = threading.Lock()
_last_sample = None      # (monotonic s, others' busy CPU-seconds on our CPUs, own CPU-seconds)
_last_available = None   # (monotonic s, CPUs)
_WINDOW = 0.25           # s: shortest span of /proc/stat to judge others' load by


def available_cpus() -> int:
    """CPUs this process can use right now: :func:`cpu_budget` less the CPUs' worth of time
    other processes have been taking on this process's CPUs (the ``auto`` thread count).

    Measured from ``/proc/stat`` between two calls 0.25-5 s apart (the CPU time of this
    process's own CPUs less this process's own time, so its own threads, BLAS's included,
    never count; niced processes do count: below nice 15 they still take a good share of a
    core from this one, 1/3 at nice 5), else from the runnable threads in ``/proc/loadavg``
    less this process's own. A second thread on a core that another process keeps busy
    waits behind it, and every hand-off of the GIL or of a product's shares waits with
    it: fanning out then loses to one thread (78 x 118 x 800 pipeline next to one busy
    process: 668-685 frames/s on 2 threads vs 766-773 on 1). Under a cgroup CPU quota
    smaller than the affinity (a container on a shared host), the host's load says nothing
    of the quota's: the budget. Linux only; elsewhere the budget.
    """
    global _last_sample, _last_available
    budget = cpu_budget()
    if budget < _affinity_count():  # a cgroup quota binds: the host's load says nothing of it
        return budget
    now = time.monotonic()
    with _load_lock:
        # The counters tick every 10 ms: over less than _WINDOW their error could pass for a
        # busy CPU, so a decision stands until the window since the last sample is long enough.
        if _last_available is not None and _last_sample is not None and now - _last_sample[0] < _WINDOW:
            return _last_available[1]
        sample = _cpu_sample(now)
        prev, _last_sample = _last_sample, sample
        if sample is not None and prev is not None and _WINDOW <= now - prev[0] <= 5.0:
            others = max(0.0, (sample[1] - prev[1]) - (sample[2] - prev[2])) / (now - prev[0])
        else:
            others = _runnable_others()
        n = int(min(budget, max(1, math.floor(budget - others + 0.5))))
        _last_available = (now, n)
        return n


def _cpu_sample(now: float):
    """(now, CPU-seconds spent on this process's CPUs by anything that competes with it,
    this process's CPU-seconds), or None where ``/proc/stat`` cannot be read."""
    try:
        cpus = os.sched_getaffinity(0)
        busy = 0
        with open(_PROC_STAT) as f:
            for line in f:
                if not line.startswith("cpu"):
                    break
                name, *vals = line.split()
                if name == "cpu" or int(name[3:]) not in cpus:
                    continue
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, vals[:8])
                busy += user + nice + system + irq + softirq + steal
    except (OSError, ValueError, AttributeError):
        return None
    t = os.times()  # children: processes it forked and reaped (decon's chunks) are its own work, not others'
    return now, busy / _TICK, t.user + t.system + t.children_user + t.children_system


def _runnable_others() -> float:
    """Runnable threads of other processes right now (``/proc/loadavg`` less this process's own)."""
    try:
        with open(_LOADAVG) as f:
            runnable = int(f.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    own = 0
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                own += f.read().rsplit(")", 1)[1].split()[0] == "R"
    except (OSError, IndexError):
        own = 1
    return float(max(0, runnable - max(own, 1)))


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
    """``[fn(lo, hi) for lo, hi in bounds]``, on up to ``workers`` threads, but no more than
    :func:`available_cpus` (none while other processes keep the cores busy). The threads
    pull chunks one at a time from a shared queue, so a thread that is slowed down takes
    fewer chunks instead of holding the others back: give it many small chunks."""
    if len(bounds) > 1 and workers > 1:
        workers = min(workers, len(bounds), available_cpus())
    if len(bounds) <= 1 or workers <= 1:
        return [fn(lo, hi) for lo, hi in bounds]
    with ThreadPoolExecutor(workers) as ex:
        return list(ex.map(lambda b: fn(*b), bounds))


@contextlib.contextmanager
def chunk_pool(workers: int):
    """For many small fan-outs in a row (an iteration's products): yields ``run(fn, bounds)``,
    :func:`map_chunks` with one set of threads started for all of them (starting threads for
    each would cost about what a ~1 ms product gains). The same rules: at most
    :func:`available_cpus` threads, decided once; serial with one."""
    if workers > 1:
        workers = min(workers, available_cpus())
    if workers <= 1:
        yield lambda fn, bounds: [fn(lo, hi) for lo, hi in bounds]
        return
    with ThreadPoolExecutor(workers) as ex:
        yield lambda fn, bounds: list(ex.map(lambda b: fn(*b), bounds))


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
