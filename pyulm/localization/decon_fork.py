"""Chunks of the greedy solver on forked processes instead of threads, where that is safe.

The greedy solver (:mod:`.decon_greedy`) is many numpy calls on arrays of a
few thousand elements: about 30 % of its time holds the GIL, and two threads
hand the GIL to each other some 6,000 times per 64 frames of 128 x 128 at
high density (voluntary context switches), so two threads cost 35 % more CPU
than one. Two processes share nothing: ``benchmarks/bench_decon.py`` on 2
cores, 250-256 frames/s against 166-167 on two threads (fork, pool and result
transfer included; medium density 474-477 against 329-347). A frame's bubbles
do not depend on its chunk, so the results are identical.

Forking is only done where it is safe and pays: Linux, the main thread of a
process with no other Python thread (a fork copies only the calling thread:
locks another thread holds would stay held in the child), not inside a
daemonic process (a pool worker cannot have children), only when the process is a
Python interpreter (never a MATLAB/Octave process embedding one), and at least
``MIN_PIXELS`` pixels to share (a pool costs 8-16 ms). Otherwise, or if the
pool cannot start, the chunks run on threads (:func:`pyulm._parallel.map_chunks`).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import sys
import threading
import warnings

from .._parallel import available_cpus, map_chunks

__all__ = ["map_chunks_forked"]

MIN_PIXELS = 1 << 19  # 32 frames of 128 x 128: below it the pool's start-up eats the gain
_task = None  # the chunk function, inherited by the forked children (a closure cannot be pickled)
_lock = threading.Lock()


def _run(bounds):
    return _task(*bounds)


def _python_is_the_program() -> bool:
    """The process is a Python interpreter, not a program embedding one (MATLAB's InProcess
    ``py.``, Octave's pythonic, a JVM): forking those copies a host whose own threads and
    state a child must not inherit. Linux's /proc/self/exe names the running binary."""
    try:
        return os.path.basename(os.readlink("/proc/self/exe")).startswith(("python", "pypy"))
    except OSError:
        return False


def _fork_ok() -> bool:
    return (sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()
            and threading.current_thread() is threading.main_thread() and threading.active_count() == 1
            and not mp.current_process().daemon and _python_is_the_program())


def map_chunks_forked(fn, bounds, workers: int, pixels: int):
    """``[fn(lo, hi) for lo, hi in bounds]`` on up to ``workers`` forked processes (see the module), else threads.

    Parameters
    ----------
    fn : callable
        ``fn(lo, hi)``: one chunk's result (picklable: it comes back from a child).
    bounds : list of (int, int)
        The chunks, pulled one at a time by the processes.
    workers : int
        Most processes (never more than :func:`pyulm._parallel.available_cpus`).
    pixels : int
        Size of the whole job (frames x pixels per frame).
    """
    n = min(workers, len(bounds), available_cpus()) if len(bounds) > 1 and workers > 1 else 1
    if n > 1 and pixels >= MIN_PIXELS and _fork_ok():
        global _task
        with _lock:
            _task = fn
            try:
                try:
                    with warnings.catch_warnings():  # Python >= 3.12 warns of any native thread (BLAS pools fork safely)
                        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
                        pool = mp.get_context("fork").Pool(n)
                except OSError:  # no process could start (limits): threads
                    pool = None
                if pool is not None:
                    with pool:
                        return pool.map(_run, bounds, chunksize=1)
            finally:
                _task = None
    return map_chunks(fn, bounds, workers)
