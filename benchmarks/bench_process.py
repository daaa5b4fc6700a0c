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


def _status_mb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}")


def _peak_rss_mb():
    """Peak resident size since the last reset (VmHWM; Linux)."""
    return _status_mb("VmHWM")


def _warm_up():
    """Import what a block needs, reset the peak-RSS mark, return the resident size.

    ru_maxrss would be inherited from the process a worker is forked from, so the
    kernel's high-water mark is reset instead (``5 > /proc/self/clear_refs``).
    """
    import gc

    import scipy.signal  # noqa: F401

    import pyulm.pipeline  # noqa: F401

    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status_mb("VmRSS")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--pala-size", action="store_true",
                    help="78 x 118 x 800 blocks (PALA's rat-brain size, tiled from the example block)")
    args = ap.parse_args(argv)
    d = scipy.io.loadmat(EXAMPLE)
    cfg = Config.from_dict({"ulm": {"numberOfParticles": 40}, "output": {"images": [], "tables": False}})
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.blocks):
            p = Path(tmp) / f"blk{i:03d}.mat"
            iq = np.roll(d["IQ"], 7 * i, axis=1)
            iq = np.tile(iq, (2, 2, 4))[:78, :118, :800] if args.pala_size else iq[:, :, : args.frames]
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
                    base = max(client.run(_warm_up).values())
                    t0 = time.perf_counter()
                    s = run(paths, cfg, out, scheduler=cluster.scheduler_address, progress=False)
                    wall = time.perf_counter() - t0
                    peaks = client.run(_peak_rss_mb)
                    peak = max(peaks.values())
            else:
                base = _warm_up()
                t0 = time.perf_counter()
                s = run(paths, cfg, out, workers=0, progress=False)
                wall = time.perf_counter() - t0
                peak = _peak_rss_mb()
            rows.append((label, s.blocks, s.frames, wall, s.frames / wall, peak, peak - base))
    block_mb = iq.nbytes / 2 ** 20
    print(f"{args.blocks} blocks of {'x'.join(map(str, iq.shape))} complex64 ({block_mb:.0f} MB each), radial, velocityinterp")
    print(f"{'run':<12s} {'blocks':>6s} {'frames':>7s} {'wall s':>8s} {'frames/s':>9s} {'peak MB/worker':>15s} "
          f"{'above baseline':>15s} {'in blocks':>10s}")
    for r in rows:
        print(f"{r[0]:<12s} {r[1]:6d} {r[2]:7d} {r[3]:8.2f} {r[4]:9.0f} {r[5]:15.0f} {r[6]:15.0f} {r[6] / block_mb:10.1f}")
    w1 = next(r for r in rows if r[0] == "1 worker")
    w2 = next(r for r in rows if r[0] == "2 workers")
    print(f"scaling from 1 to 2 workers: {w2[4] / w1[4]:.2f}x")


if __name__ == "__main__":
    main()
