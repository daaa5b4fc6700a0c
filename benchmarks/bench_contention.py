"""Throughput of the pipeline on a shared CPU: quiet, next to one busy process, next to two.

The block (default 78 x 118 x 800, PALA's in vivo size, 90 bubbles per frame, from
``bench_pipeline.generated_block``) goes through ``pyulm.pipeline.process_frames`` and the
maps (``MapAccumulator``), as ``pyulm process`` runs it, with 1 thread and with every CPU
this process may use (``pyulm._parallel.limit_threads``: pyulm's threads and BLAS pools
together). The competitors are plain Python busy loops (one core each).

Targets (issue 21): >= 45 % of quiet throughput next to one busy process, >= 35 % next
to two, and no configuration slower with more threads than with one. pyulm fans out only
to the CPUs other processes leave (``pyulm._parallel.available_cpus``), so next to a busy
process the 2-thread rows run one thread and equal the 1-thread rows within noise.

Run: python benchmarks/bench_contention.py [--repeat N] [--quick]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pipeline import generated_block  # noqa: E402

from pyulm._parallel import cpu_budget, limit_threads  # noqa: E402
from pyulm.pala import block_params  # noqa: E402
from pyulm.pipeline import MapAccumulator, process_frames  # noqa: E402

NOISE = 0.03  # run-to-run spread of the best of 3 on a quiet machine


def pipeline_params(iq):
    return block_params({"numberOfParticles": 90, "fwhm": [3, 3], "LocMethod": "radial", "parameters": {"NLocalMax": 3},
                         "max_linking_distance": 2, "max_gap_closing": 0, "min_length": 15, "res": 10,
                         "SVD_cutoff": [5, iq.shape[2]], "ButterCuttofFreq": [50, 249], "frame_rate": 1000.0}, iq.shape)


def one_run(iq, params, threads: int) -> float:
    """Seconds for the block end to end (``process_frames`` and the maps) with ``threads`` threads."""
    nz, nx, _ = iq.shape
    with limit_threads(threads):
        t0 = time.perf_counter()
        res = process_frames(iq, params)
        acc = MapAccumulator((nz, nx), params.res)
        acc.add_tracks(res.tracks)
        acc.maps()
        return time.perf_counter() - t0


def throughputs(iq, configs, repeat: int) -> dict:
    """Best frames/s of each thread count; the counts take turns run after run, so a change
    in what the machine is doing meanwhile falls on all of them alike."""
    params = pipeline_params(iq)
    best = {t: float("inf") for t in configs}
    for _ in range(repeat):
        for t in configs:
            best[t] = min(best[t], one_run(iq, params, t))
    return {t: iq.shape[2] / s for t, s in best.items()}


def busy(n: int) -> list:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="a 64 x 80 x 200 block, one run (a check that it runs)")
    args = ap.parse_args()
    if args.quick:
        args.repeat = 1
    iq = generated_block(shape=(64, 80, 200) if args.quick else (78, 118, 800))
    n = cpu_budget()
    configs = sorted({1, n})
    throughputs(iq, [1], 1)  # imports, caches
    rows = {}
    for load in (0, 1, 2):
        procs = busy(load)
        try:
            time.sleep(0.5)
            for threads, fps in throughputs(iq, configs, args.repeat).items():
                rows[load, threads] = fps
        finally:
            for p in procs:
                p.kill()
                p.wait()
    print(f"block {'x'.join(map(str, iq.shape))}, best of {args.repeat}, {n} CPU(s) available to this process\n")
    print("| busy processes | threads | frames/s | % of quiet | vs 1 thread |")
    print("|---------------:|--------:|---------:|-----------:|------------:|")
    for (load, threads), fps in rows.items():
        print(f"| {load:14d} | {threads:7d} | {fps:8.0f} | {100 * fps / rows[0, threads]:9.0f}% "
              f"| {fps / rows[load, 1]:10.2f}x |")
    quiet = max(rows[0, t] for t in configs)
    one = max(rows[1, t] for t in configs) / quiet
    two = max(rows[2, t] for t in configs) / quiet
    # Slower means beyond the spread of repeated runs of one configuration (~3 % here): with
    # other processes on the cores, pyulm runs one thread whatever the setting, so those rows
    # are the same code and differ by noise alone.
    slower = [(load, t) for (load, t) in rows if t > 1 and rows[load, t] < (1 - NOISE) * rows[load, 1]]
    print(f"\nnext to one busy process: {100 * one:.0f}% of quiet (target >= 45%): {'met' if one >= 0.45 else 'NOT met'}")
    print(f"next to two busy processes: {100 * two:.0f}% of quiet (target >= 35%): {'met' if two >= 0.35 else 'NOT met'}")
    print(f"multi-threaded never slower than single-threaded (beyond {100 * NOISE:.0f}% run-to-run spread): "
          + ("met" if not slower else f"NOT met ({', '.join(f'{b} busy' for b, _ in slower)})"))


if __name__ == "__main__":
    main()
