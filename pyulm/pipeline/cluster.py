"""Blocks on a Dask cluster, and the process tuning (glibc heap, thread pools) of its workers."""
from __future__ import annotations

import contextlib
import logging
import os
import time

from .._optional import require

log = logging.getLogger("pyulm.pipeline")

MALLOC_TRIM = "MALLOC_TRIM_THRESHOLD_"
#: ``MALLOC_TRIM_THRESHOLD_`` as the user started Python (None: not set); what pyulm's workers get.
USER_MALLOC_TRIM = os.environ.get(MALLOC_TRIM)


def run_on_cluster(submit_args, todo, workers, scheduler, window, bars, specs):
    """Run ``run_block(*submit_args(k))`` for every block ``k`` of ``todo`` on a Dask cluster,
    at most ``window`` blocks in flight (default 2 per worker), reporting to ``bars``."""
    require("distributed", "pyulm process on a Dask cluster (--workers, --scheduler)")
    from distributed import Client, as_completed

    from .orchestrate import run_block

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="20s")
    else:
        cluster = local_cluster(int(workers))
        client = Client(cluster)
    topic = f"pyulm-progress-{os.getpid()}-{time.time_ns()}"
    try:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or int(workers or 1))
        window = window or 2 * n_workers
        log.info("dask: %d worker(s) at %s, %d block(s) in flight at most", n_workers, client.scheduler.address, window)
        with contextlib.suppress(Exception):
            client.subscribe_topic(topic, lambda event: bars.stage(event[1]["block"], event[1]["stage"]))
        pending = iter(todo)
        ac = as_completed()

        def submit_next():
            k = next(pending, None)
            if k is None:
                return False
            bars.start(k, specs[k])
            args = submit_args(k)
            fut = client.submit(run_block, *args, topic, key=f"pyulm-block-{k}-{args[3]}", pure=False, retries=0)
            fut.pyulm_index = k
            ac.add(fut)
            return True

        for _ in range(window):
            if not submit_next():
                break
        for fut in ac:
            k = fut.pyulm_index
            try:
                summ = fut.result()
            except Exception:
                for f in list(ac.futures):
                    f.cancel()
                raise
            bars.finish(k, specs[k], summ)
            submit_next()
    finally:
        with contextlib.suppress(Exception):
            client.unsubscribe_topic(topic)
        client.close()
        if cluster is not None:
            cluster.close()


def local_cluster(n_workers: int, **kwargs):
    """The Dask cluster ``run(workers=N)`` starts: N worker processes of one thread each.

    Dask starts its worker processes with one BLAS/OpenMP thread
    (``distributed.nanny.pre-spawn-environ``), as pyulm wants: each process works on one
    block, so N workers keep N cores busy without oversubscription. It also sets
    ``MALLOC_TRIM_THRESHOLD_=65536``, which fixes glibc's mmap threshold at 128 kB: every
    larger temporary (row blocks, band-pass and localization chunks) is then a fresh
    mapping, ~150 000 page faults per 78 x 118 x 800 block and a quarter of the worker's
    CPU time spent in the kernel (measured). pyulm's workers keep glibc's adaptive
    defaults instead (:data:`USER_MALLOC_TRIM`), and :func:`release_free_memory` trims the
    heap after each block, which keeps the same peak memory.
    """
    require("distributed", "a local Dask cluster")
    import dask
    from distributed import LocalCluster

    key = "distributed.nanny.pre-spawn-environ"
    env = dict(dask.config.get(key, default={}) or {})
    env[MALLOC_TRIM] = None  # None: not set by the nanny (dask.config convention)
    opts = dict(threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                silence_logs=logging.ERROR)
    opts.update(kwargs)
    # A Dask nanny started earlier in this process wrote Dask's value into os.environ,
    # which the worker processes spawned now would inherit: they get the user's instead.
    current = os.environ.get(MALLOC_TRIM)
    _set_environ(MALLOC_TRIM, USER_MALLOC_TRIM)
    try:
        with dask.config.set({key: env}):
            return LocalCluster(n_workers=n_workers, **opts)
    finally:
        _set_environ(MALLOC_TRIM, current)


def _set_environ(name: str, value: str | None):
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


_malloc_trim = None


def release_free_memory():
    """Give the heap memory freed by a block back to the system (glibc ``malloc_trim``).

    glibc keeps freed memory below its (adaptive) thresholds for reuse; trimmed once per
    block, it is not still resident when the next block's read peaks. A no-op elsewhere.
    """
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        with contextlib.suppress(Exception):
            import ctypes
            import ctypes.util

            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    if _malloc_trim:
        _malloc_trim(0)
