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


def test_oversubscription_is_read_from_the_runnable_count(tmp_path, monkeypatch):
    """Other processes' runnable threads (the 4th field of /proc/loadavg, less this process's
    own two) filling every usable CPU switch the SVD's Gram matrix to one BLAS thread; the
    filter's output is the same bits either way."""
    import pyulm._parallel as P

    n = cpu_budget()
    load = tmp_path / "loadavg"
    monkeypatch.setattr(P, "_LOADAVG", str(load))
    load.write_text(f"0.50 0.40 0.30 {n + 1}/300 4242\n")
    assert not P.oversubscribed()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((30, 40, 60)) + 1j * rng.standard_normal((30, 40, 60))
    x += 20 * rng.standard_normal((30, 40, 1))
    quiet = pyulm.svd_filter(x, [3, 60])
    load.write_text(f"9.50 8.40 8.30 {n + 2}/300 4242\n")
    assert P.oversubscribed()
    np.testing.assert_array_equal(pyulm.svd_filter(x, [3, 60]), quiet)
    # pyulm's own chunks run in the calling thread then (no GIL convoy on starved cores)
    seen = set()
    P.map_chunks(lambda lo, hi: seen.add(threading.get_ident()), [(0, 1), (1, 2), (2, 3)], 3)
    assert seen == {threading.get_ident()}
    load.write_text("garbage\n")
    assert not P.oversubscribed()
