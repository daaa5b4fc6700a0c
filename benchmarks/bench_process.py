"""End-to-end throughput of ``pyulm.pipeline.run`` with 1 and 2 Dask worker
processes (and in-process), with the peak memory of each worker.

    python benchmarks/bench_process.py [--blocks 16] [--frames 200] [--pala-size] [--runs 3]

Blocks are cut from the bundled example block (64 x 80, PALA block a); with
``--pala-size`` they are 78 x 118 x 800 (PALA's rat-brain size, tiled from it).
The peak memory of a worker is its kernel high-water mark (VmHWM) above its own
resident size after start-up, in bytes and in blocks (one block: the complex64
IQ of one block, as read). It covers the whole block: the read (scipy's v5
reader holds the real and imaginary parts next to the complex array, so a read
alone peaks at 2 blocks), the filter, localization, tracking and the write.
Timings are wall-clock on a shared machine: repeat (``--runs``) and read ranges.
``CPU s`` / ``sys s``: CPU time of all workers (of which in the kernel) during the run;
``cores``: that CPU time over the wall time, the cores the workers actually got (near
1 and 2 on an idle 2-core machine; less when other processes compete for them);
``client s``: CPU time of this process (client, scheduler, the maps and MAT-files at
the end), the serial part of a run.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

from pyulm.config import Config
from pyulm.pipeline import local_cluster, run

EXAMPLE = Path(__file__).resolve().parents[1] / "pyulm" / "data" / "example_block.mat"
TARGET_SCALING = 1.7  # end-to-end throughput, 2 workers over 1, on a 2-core machine
TARGET_BLOCKS = 4.0   # peak memory per worker above its baseline, in blocks


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


def _blas_threads():
    """BLAS threads of this process (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:  # pragma: no cover
        return None
    return max((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), default=None)


def _cpu_s():
    """(user, system) CPU seconds of this process so far."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def _measure(label, workers, paths, cfg, out, dask_env=False):
    """One configuration: (label, blocks, frames, wall s, frames/s, peak MB, MB above baseline,
    BLAS threads, worker CPU s, of which system, CPU s of this process: client, scheduler, maps)."""
    if workers:
        from distributed import Client, LocalCluster

        if dask_env:  # Dask's own worker settings, for comparison
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
        else:  # the workers `pyulm process --workers N` starts
            cluster = local_cluster(workers, silence_logs=30)
        with cluster, Client(cluster) as client:
            # worker start-up (process spawn, importing pyulm and scipy.signal, ~1 s) is
            # paid once per worker per acquisition: excluded, as the throughput is the question
            bases = client.run(_warm_up)
            blas = max(client.run(_blas_threads).values(), key=lambda v: v or 0)
            cpu0, own0 = client.run(_cpu_s), _cpu_s()
            t0 = time.perf_counter()
            s = run(paths, cfg, out, scheduler=cluster.scheduler_address, progress=False)
            wall = time.perf_counter() - t0
            cpu1, own1 = client.run(_cpu_s), _cpu_s()
            client_cpu = sum(own1) - sum(own0)
            peaks = client.run(_peak_rss_mb)
            # the worker with the largest rise over its own baseline
            w = max(peaks, key=lambda a: peaks[a] - bases[a])
            peak, above = peaks[w], peaks[w] - bases[w]
            user = sum(cpu1[a][0] - cpu0[a][0] for a in cpu1)
            system = sum(cpu1[a][1] - cpu0[a][1] for a in cpu1)
    else:
        base = _warm_up()
        blas = _blas_threads()
        cpu0 = _cpu_s()
        t0 = time.perf_counter()
        s = run(paths, cfg, out, workers=0, progress=False)
        wall = time.perf_counter() - t0
        cpu1 = _cpu_s()
        peak = _peak_rss_mb()
        above = peak - base
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        client_cpu = user + system
    return label, s.blocks, s.frames, wall, s.frames / wall, peak, above, blas, user + system, system, client_cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=16)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--pala-size", action="store_true",
                    help="78 x 118 x 800 blocks (PALA's rat-brain size, tiled from the example block)")
    ap.add_argument("--runs", type=int, default=1, help="repeat every configuration (ranges are printed)")
    ap.add_argument("--no-in-process", action="store_true", help="only the Dask runs")
    ap.add_argument("--dask-env", action="store_true",
                    help="workers with Dask's default environment (MALLOC_TRIM_THRESHOLD_=65536) instead of pyulm's")
    args = ap.parse_args(argv)
    d = scipy.io.loadmat(EXAMPLE)
    cfg = Config.from_dict({"ulm": {"numberOfParticles": 40}, "output": {"images": [], "figures": [], "tables": False}})
    configs = [("1 worker", 1), ("2 workers", 2)]
    if not args.no_in_process:
        configs.insert(0, ("in-process", 0))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i in range(args.blocks):
            p = Path(tmp) / f"blk{i:03d}.mat"
            iq = np.roll(d["IQ"], 7 * i, axis=1)
            iq = np.tile(iq, (2, 2, 4))[:78, :118, :800] if args.pala_size else iq[:, :, : args.frames]
            scipy.io.savemat(p, {"IQ": iq, "UF": d["UF"], "PData": d["PData"]})
            paths.append(p)
        block_shape, block_mb = iq.shape, iq.nbytes / 2 ** 20
        del d, iq
        for r in range(args.runs):
            for label, workers in configs:
                out = Path(tmp) / f"{label.replace(' ', '_')}_{r}"
                rows.append((r,) + _measure(label, workers, paths, cfg, out, args.dask_env))
    print(f"{args.blocks} blocks of {'x'.join(map(str, block_shape))} complex64 ({block_mb:.0f} MB each), "
          f"radial, velocityinterp")
    print(f"{'run':<4s} {'config':<12s} {'blocks':>6s} {'frames':>7s} {'wall s':>8s} {'frames/s':>9s} "
          f"{'peak MB/worker':>15s} {'above baseline':>15s} {'in blocks':>10s} {'BLAS thr':>9s} {'CPU s':>7s} {'sys s':>6s} {'cores':>6s} {'client s':>9s}")
    for r in rows:
        print(f"{r[0] + 1:<4d} {r[1]:<12s} {r[2]:6d} {r[3]:7d} {r[4]:8.2f} {r[5]:9.0f} {r[6]:15.0f} {r[7]:15.0f} "
              f"{r[7] / block_mb:10.2f} {str(r[8]):>9s} {r[9]:7.1f} {r[10]:6.1f} {r[9] / r[4]:6.2f} {r[11]:9.1f}")
    scalings = []
    for k in range(args.runs):
        w1 = next(r for r in rows if r[0] == k and r[1] == "1 worker")
        w2 = next(r for r in rows if r[0] == k and r[1] == "2 workers")
        scalings.append(w2[5] / w1[5])
    worker_blocks = [r[7] / block_mb for r in rows if r[1] != "in-process"]

    def rng(v, fmt):
        return fmt.format(v[0]) if len(v) == 1 else f"{fmt.format(min(v))}-{fmt.format(max(v))}"

    print(f"{'target':<46s} {'measured':>12s}  status")
    print(f"{f'scaling from 1 to 2 workers >= {TARGET_SCALING}x':<46s} {rng(scalings, '{:.2f}') + 'x':>12s}  "
          f"{'met' if min(scalings) >= TARGET_SCALING else 'NOT met' if max(scalings) < TARGET_SCALING else 'met in some runs'}")
    print(f"{f'peak memory per worker <= {TARGET_BLOCKS:g} blocks':<46s} {rng(worker_blocks, '{:.2f}'):>12s}  "
          f"{'met' if max(worker_blocks) <= TARGET_BLOCKS else 'NOT met'}")
    print("(wall times on a shared machine: other processes' load changes the scaling from run to run)")
    if not args.pala_size:
        print("(the targets are stated for --pala-size blocks; small blocks are dominated by fixed costs)")


if __name__ == "__main__":
    main()
