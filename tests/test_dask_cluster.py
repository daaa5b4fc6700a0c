"""The pipeline on a real Dask cluster (2 worker processes on loopback) gives
results identical to the serial run."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from pyulm.config import Config
from pyulm.pipeline import run

from test_io_files import write_blocks

distributed = pytest.importorskip("distributed")


def test_local_cluster_equals_serial(tmp_path):
    blocks = write_blocks(tmp_path, n=3, frames=50, step=40)
    cfg = Config.from_dict({"ulm": {"numberOfParticles": 40, "min_length": 10},
                            "output": {"images": [], "figures": [], "tables": False}})
    serial = run(blocks, cfg, tmp_path / "serial", workers=0, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        par = run(blocks, cfg, tmp_path / "dask", scheduler=cluster.scheduler_address, window=2, progress=False)
        assert (par.computed, par.tracks, par.localizations) == (3, serial.tracks, serial.localizations)
        workers = set()
        for line in (tmp_path / "dask" / "pyulm-process.log").read_text().splitlines():
            if "done:" in line and "pid" in line:
                workers.add(line.rsplit("pid ", 1)[1].rstrip(")"))
        assert len(workers) >= 1 and str(__import__("os").getpid()) not in workers  # ran in worker processes
    a = scipy.io.loadmat(tmp_path / "serial" / "ulm_results.mat")
    b = scipy.io.loadmat(tmp_path / "dask" / "ulm_results.mat")
    for k in ("MatOut", "MatOut_zdir", "MatOut_vel", "PowDop"):
        np.testing.assert_array_equal(a[k], b[k])
    ta = scipy.io.loadmat(tmp_path / "serial" / "ulm_tracks.mat")["Track_tot"]
    tb = scipy.io.loadmat(tmp_path / "dask" / "ulm_tracks.mat")["Track_tot"]
    assert ta.shape == tb.shape and all(np.array_equal(x[0], y[0]) for x, y in zip(ta, tb))


def test_own_local_cluster_with_workers(tmp_path):
    blocks = write_blocks(tmp_path, n=2, frames=30, step=50)
    cfg = Config.from_dict({"ulm": {"numberOfParticles": 40}, "output": {"images": [], "figures": [], "tables": False}})
    s = run(blocks, cfg, tmp_path / "o", workers=2, progress=False)
    ref = run(blocks, cfg, tmp_path / "r", workers=0, progress=False)
    assert s.computed == 2 and s.tracks == ref.tracks
    np.testing.assert_array_equal(scipy.io.loadmat(tmp_path / "o" / "ulm_results.mat")["MatOut"],
                                  scipy.io.loadmat(tmp_path / "r" / "ulm_results.mat")["MatOut"])


def _worker_settings():
    """BLAS threads, MALLOC_TRIM_THRESHOLD_ and pyulm's thread count in a worker task."""
    import os

    from pyulm._parallel import default_workers

    try:
        from threadpoolctl import threadpool_info

        blas = max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=1)
    except ImportError:  # pragma: no cover
        blas = int(os.environ.get("OPENBLAS_NUM_THREADS", "1"))
    return blas, os.environ.get("MALLOC_TRIM_THRESHOLD_"), default_workers()


def test_own_cluster_workers_are_single_threaded_with_glibc_malloc():
    """``run(workers=N)``'s workers: one BLAS thread and one pyulm thread per process (N
    processes on N cores, no oversubscription), and glibc's adaptive malloc rather than
    Dask's MALLOC_TRIM_THRESHOLD_=65536 (which makes every temporary over 128 kB a fresh
    mapping), even after a Dask nanny of this process exported Dask's value."""
    from pyulm.pipeline.cluster import USER_MALLOC_TRIM, local_cluster

    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        futures = [client.submit(_worker_settings, pure=False, workers=[w]) for w in client.scheduler_info()["workers"]]
        settings = client.gather(futures)
    assert len(settings) == 2
    for blas, trim, threads in settings:
        assert (blas, threads) == (1, 1)
        assert trim == USER_MALLOC_TRIM
