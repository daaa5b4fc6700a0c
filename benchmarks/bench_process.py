"""End-to-end throughput of ``pyulm.pipeline.run`` with 1 and 2 Dask worker
processes (and in-process), with the peak memory of each worker.

    python benchmarks/bench_process.py [--blocks 16] [--frames 200]

Blocks are cut from the bundled example block (64 x 80, PALA block a).
"""
from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

from pyulm.config import Config
from pyulm.pipeline import run

EXAMPLE = Path(__file__).resolve().parents[1] / "pyulm" / "data" / "example_block.mat"


def _peak_rss_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _warm_up():
    import scipy.signal  # noqa: F401

    import pyulm.pipeline  # noqa: F401


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--frames", type=int, default=200)
    args = ap.parse_args(argv)
    d = scipy.io.loadmat(EXAMPLE)
    cfg = Config.from_dict({"ulm": {"numberOfParticles": 40}, "output": {"images": [], "tables": False}})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.blocks):
            p = Path(tmp) / f"blk{i:03d}.mat"
            iq = np.roll(d["IQ"], 7 * i, axis=1)[:, :, : args.frames]
            scipy.io.savemat(p, {"IQ": iq, "UF": d["UF"], "PData": d["PData"]})
            paths.append(p)
        for label, kw in (("in-process", {"workers": 0}), ("1 worker", {"workers": 1}), ("2 workers", {"workers": 2})):
            out = Path(tmp) / label.replace(" ", "_")
            if kw["workers"]:
                from distributed import Client, LocalCluster

                with LocalCluster(n_workers=kw["workers"], threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, Client(cluster) as client:
                    # worker start-up (process spawn, importing pyulm and scipy.signal, ~1 s) is
                    # paid once per worker per acquisition: excluded, as the throughput is the question
                    client.run(_warm_up)
                    t0 = time.perf_counter()
                    s = run(paths, cfg, out, scheduler=cluster.scheduler_address, progress=False)
                    wall = time.perf_counter() - t0
                    peaks = client.run(_peak_rss_mb)
                    peak = max(peaks.values())
            else:
                t0 = time.perf_counter()
                s = run(paths, cfg, out, workers=0, progress=False)
                wall = time.perf_counter() - t0
                peak = _peak_rss_mb()
            rows.append((label, s.blocks, s.frames, wall, s.frames / wall, peak))
    print(f"{args.blocks} blocks of 64x80x{args.frames} complex64 (PALA block a), radial, velocityinterp")
    print(f"{'run':<12s} {'blocks':>6s} {'frames':>7s} {'wall s':>8s} {'frames/s':>9s} {'peak MB/worker':>15s}")
    for r in rows:
        print(f"{r[0]:<12s} {r[1]:6d} {r[2]:7d} {r[3]:8.2f} {r[4]:9.0f} {r[5]:15.0f}")


if __name__ == "__main__":
    main()
