"""Thread-level parallelism must not change any result."""
import threading

import numpy as np
import pytest

import pyulm
from pyulm._parallel import chunk_bounds, cpu_budget, default_workers, limit_threads


@pytest.fixture(autouse=True)
def cores_free(monkeypatch):
    """Threads are used even on a busy test machine (pyulm falls back to one thread when
    other processes fill the cores, which would leave these tests nothing to compare)."""
    import pyulm._parallel as P

    monkeypatch.setattr(P, "_LOADAVG", "/nonexistent/loadavg")
    monkeypatch.setattr(P, "_PROC_STAT", "/nonexistent/stat")
    monkeypatch.setattr(P, "_last_sample", None)
    monkeypatch.setattr(P, "_last_available", None)


@pytest.fixture(scope="module")
def block(ref_a):
    return ref_a["loc_input"]


@pytest.mark.parametrize("method", ["radial", "wa", "interp"])
def test_localize_same_with_any_thread_count(block, monkeypatch, method):
    out = {}
    for n in ("1", "2", "3"):
        monkeypatch.setenv("PYULM_NUM_THREADS", n)
        out[n] = pyulm.localize(block, method, fwhm=3, number_of_particles=40, n_local_max=3)
    for n in ("2", "3"):
        for c in ("z", "x", "frame", "intensity"):
            np.testing.assert_array_equal(out[n][c], out["1"][c])


def test_bandpass_same_with_any_thread_count(monkeypatch):
    rng = np.random.default_rng(3)
    iq = (rng.standard_normal((64, 70, 300)) + 1j * rng.standard_normal((64, 70, 300))).astype(np.complex64)
    res = {}
    for n in ("1", "2"):
        monkeypatch.setenv("PYULM_NUM_THREADS", n)
        res[n] = pyulm.butter_bandpass(iq, [50, 249], 1000, axis=2)
        res[n + "zp"] = pyulm.butter_bandpass(iq.real.astype(np.float64), [50, 249], 1000, axis=2, zero_phase=True)
    np.testing.assert_array_equal(res["1"], res["2"])
    np.testing.assert_array_equal(res["1zp"], res["2zp"])
    # and equal to scipy's complex filtering
    from scipy import signal

    b, a = pyulm.filtering.butter_coefficients([50, 249], 1000)
    ref = signal.lfilter(b, a, iq.astype(np.complex128), axis=2)
    assert np.abs(res["1"] - ref).max() < 1e-5 * np.abs(ref).max()


def test_workers_rules(monkeypatch):
    monkeypatch.setenv("PYULM_NUM_THREADS", "3")
    assert default_workers() == 3
    seen = []
    t = threading.Thread(target=lambda: seen.append(default_workers()))
    t.start()
    t.join()
    assert seen == [1]  # worker threads (e.g. a Dask worker's task) never fan out again
    monkeypatch.setenv("PYULM_NUM_THREADS", "0")
    with pytest.raises(ValueError, match="PYULM_NUM_THREADS"):
        default_workers()
    assert chunk_bounds(100, 2, 32) == [(0, 50), (50, 100)]
    assert chunk_bounds(40, 4, 32) == [(0, 40)]


def test_one_thread_policy(monkeypatch):
    """limit_threads (the [run] threads setting) sizes pyulm's threads and the BLAS pools alike,
    wins over PYULM_NUM_THREADS, is one inside worker threads, and the default respects the
    CPU affinity."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import os

    import scipy.linalg  # noqa: F401  - scipy's BLAS loaded, as in any filter call

    assert 1 <= cpu_budget() <= len(os.sched_getaffinity(0))
    monkeypatch.setenv("PYULM_NUM_THREADS", "3")

    def blas():
        return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}

    before = blas()
    with limit_threads(2):
        assert default_workers() == 2 and blas() == {2}
        with limit_threads(1):
            assert default_workers() == 1 and blas() == {1}
        assert default_workers() == 2 and blas() == {2}
        seen = []
        t = threading.Thread(target=lambda: seen.append(default_workers()))
        t.start()
        t.join()
        assert seen == [1]
    assert default_workers() == 3 and blas() == before
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="threads: expected a whole number >= 1"):
            with limit_threads(bad):
                pass


def _stat_lines(busy: dict) -> str:
    """A /proc/stat with one line per CPU: user, nice, system, idle, ... in clock ticks."""
    import os

    lines = ["cpu  0 0 0 0 0 0 0 0 0 0"]
    for c in sorted(os.sched_getaffinity(0)):
        user, nice = busy.get(c, (0, 0))
        lines.append(f"cpu{c} {user} {nice} 0 100000 0 0 0 0 0 0")
    return "\n".join(lines + ["intr 0"]) + "\n"


def test_available_cpus_reads_other_processes_time(tmp_path, monkeypatch):
    """Other processes' CPU time on this process's CPUs between two looks (/proc/stat, less
    this process's own, niced work included) leaves fewer CPUs to fan out to; the first look
    reads the runnable threads of /proc/loadavg instead. The filter's output is the same
    bits either way."""
    import os
    import time

    import pyulm._parallel as P

    n = cpu_budget()
    cpus = sorted(os.sched_getaffinity(0))
    stat, load = tmp_path / "stat", tmp_path / "loadavg"
    monkeypatch.setattr(P, "_PROC_STAT", str(stat))
    monkeypatch.setattr(P, "_LOADAVG", str(load))
    load.write_text(f"9.50 8.40 8.30 {n + 5}/300 4242\n")  # first look: others fill every CPU
    stat.write_text(_stat_lines({}))
    assert P.available_cpus() == 1
    seen = set()  # the decision stands for the next _WINDOW seconds
    P.map_chunks(lambda lo, hi: seen.add(threading.get_ident()), [(0, 1), (1, 2), (2, 3)], 3)
    assert seen == {threading.get_ident()}  # one thread: no GIL convoy on starved cores
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 40, 60)) + 1j * rng.standard_normal((30, 40, 60))
    x += 20 * rng.standard_normal((30, 40, 1))
    busy = pyulm.svd_filter(x, [3, 60])

    time.sleep(P._WINDOW + 0.01)
    assert P.available_cpus() == n  # nothing else ran meanwhile
    np.testing.assert_array_equal(pyulm.svd_filter(x, [3, 60]), busy)
    if n >= 2:
        for user, nice in ((10 ** 6, 0), (0, 10 ** 6)):  # far more than n CPUs' worth on one CPU
            time.sleep(P._WINDOW + 0.01)
            before = [int(v) for v in stat.read_text().split("\n")[1].split()[1:3]]
            stat.write_text(_stat_lines({cpus[0]: (before[0] + user, before[1] + nice)}))
            assert P.available_cpus() == 1, (user, nice)
    stat.write_text("garbage\n")
    load.write_text("garbage\n")
    time.sleep(P._WINDOW + 0.01)
    assert P.available_cpus() == n


@pytest.mark.parametrize("shape", [(60, 80, 400), (96, 96, 300)])
def test_svd_filter_same_bits_with_any_thread_count(shape):
    """The Gram matrix of these blocks is large enough to run on BLAS's threads (1 or 2 of them)."""
    from pyulm._parallel import limit_threads

    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64)
    x += 30 * rng.standard_normal(shape[:2] + (1,)).astype(np.complex64)
    out = {}
    for n in (1, 2, 3):
        with limit_threads(n):
            out[n] = pyulm.svd_filter(x, [3, shape[2]])
    np.testing.assert_array_equal(out[2], out[1])
    np.testing.assert_array_equal(out[3], out[1])


def test_available_cpus_is_the_quota_under_a_binding_cgroup_quota(tmp_path, monkeypatch):
    """In a container whose CPU quota is below its affinity, other tenants' load on the host's
    CPUs says nothing of this process's share: the quota is the count."""
    import os

    import pyulm._parallel as P

    n = len(os.sched_getaffinity(0))
    if n < 2:
        pytest.skip("needs 2 CPUs in the affinity")
    monkeypatch.setattr(P, "_cgroup_cpu_quota", lambda: n - 1)
    load = tmp_path / "loadavg"
    load.write_text(f"50.0 50.0 50.0 {10 * n}/300 4242\n")  # the host is full
    monkeypatch.setattr(P, "_LOADAVG", str(load))
    assert P.cpu_budget() == n - 1
    assert P.available_cpus() == n - 1


def test_chunk_pool_runs_like_map_chunks(monkeypatch):
    """chunk_pool: the results of map_chunks, in order, on one set of threads for many calls;
    serial with one worker or inside a worker thread."""
    import threading

    from pyulm import _parallel as P

    monkeypatch.setattr(P, "available_cpus", lambda: 2)
    seen = set()

    def fn(lo, hi):
        seen.add(threading.get_ident())
        return lo * 10 + hi

    bounds = [(i, i + 1) for i in range(6)]
    with P.chunk_pool(2) as run:
        for _ in range(3):
            assert run(fn, bounds) == [fn(lo, hi) for lo, hi in bounds]
    assert len(seen - {threading.get_ident()}) >= 1
    seen.clear()
    with P.chunk_pool(1) as run:
        assert run(fn, bounds) == [i * 10 + i + 1 for i in range(6)]
    assert seen == {threading.get_ident()}
