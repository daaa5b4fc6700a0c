"""Speed and accuracy of ``decon`` on 128 x 128 frames, before/after a change.

Scenes are built as ``benchmarks/bench_methods.py`` builds them
(:func:`pyulm.sim.free_motion`, Gaussian PSF FWHM 3 px, SNR 20 dB, complex IQ,
bubbles moving up to 2 px/frame), at its three densities per area scaled to
128 x 128 pixels: low 20, medium 60, high 160 bubbles per frame (seeds 10, 11,
12). ``decon`` runs with its defaults, ``number_of_particles`` = the true
count; every version is scored by the one matcher, :func:`pyulm.metrics.match`
(per-frame Hungarian, pairs closer than ``--max-distance`` px).

Each measurement runs in a fresh Python process whose ``pyulm`` is the tree
given (``--baseline DIR`` adds the tree at DIR, e.g. a ``git worktree`` of the
commit before a change) with ``PYULM_NUM_THREADS=--threads`` (default 2), and
the versions alternate per density, ``--repeats`` times, so on a shared
machine both see the same load. Besides frames/s (wall clock, which other
processes' load lowers) each run reports the CPU time per frame
(all threads of the process and the processes it forked and reaped, ``os.times``), which contention barely
changes; the table gives the range over the repeats and the ratios of the
medians.

Usage::

    git worktree add /tmp/decon_old <commit>
    python benchmarks/bench_decon.py --baseline /tmp/decon_old [--frames 16] [--repeats 3] [--densities high]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DENSITIES = {"low": 20, "medium": 60, "high": 160}  # bubbles per 128x128 frame (bench_methods' 5/15/40 per 64x64)
SEEDS = {"low": 10, "medium": 11, "high": 12}
HERE = Path(__file__).resolve().parents[1]


def cpu_seconds() -> float:
    """CPU time of this process, its threads and its reaped children (decon's forked chunks)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def measure(density: str, n_frames: int, max_distance: float) -> dict:
    """Localize one scene with the ``pyulm`` on ``sys.path``; scores and frames/s."""
    import numpy as np

    import pyulm
    from pyulm.metrics import detection_scores, match
    from pyulm.sim import free_motion

    n = DENSITIES[density]
    sim = free_motion((128, 128), n_frames=n_frames, n_bubbles=(n, n), psf_fwhm=(3.0, 3.0), snr_db=20.0,
                      seed=SEEDS[density])
    gt = np.column_stack([sim.gt.z, sim.gt.x, sim.gt.frame])
    kw = {"number_of_particles": n, "fwhm": (3, 3)}
    pyulm.localize(sim.iq[:, :, :2], "decon", **kw)  # warm-up: imports, FFT plans
    t0, c0 = time.perf_counter(), cpu_seconds()
    locs = pyulm.localize(sim.iq, "decon", **kw)
    dt, dc = time.perf_counter() - t0, cpu_seconds() - c0
    s = detection_scores(match(gt, locs, max_distance))
    return {"precision": float(s["precision"]), "recall": float(s["recall"]), "f1": float(s["f1"]),
            "mean_error": float(s["mean_error"]), "fps": n_frames / dt, "cpu_ms": 1e3 * dc / n_frames,
            "pyulm": str(Path(pyulm.__file__).parent)}


def run_in(tree: Path, density: str, n_frames: int, max_distance: float, threads: int = 2) -> dict:
    """:func:`measure` in a fresh process importing ``pyulm`` from ``tree``, on ``threads`` threads."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYULM_NUM_THREADS=str(threads))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--one", density, "--frames", str(n_frames),
           "--max-distance", str(max_distance)]
    out = subprocess.run(cmd, env=env, cwd=str(tree), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def load() -> str:
    try:
        return "load average " + " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    except OSError:
        return "load average unavailable"


def table(rows, max_distance) -> str:
    """Rows ``(density, version, [runs])``: scores of the last run, frames/s and CPU ms/frame as ranges."""
    import statistics

    out = [f"| density | version | precision | recall | F1 | mean error (px, pairs < {max_distance:g} px) | frames/s "
           "| CPU ms/frame | speed-up (frames/s; CPU) |", "|---|---|---|---|---|---|---|---|---|"]
    med = {(d, v): (statistics.median(r["fps"] for r in runs), statistics.median(r["cpu_ms"] for r in runs))
           for d, v, runs in rows}

    def rng(vals, fmt):
        lo, hi = min(vals), max(vals)
        return f"{lo:{fmt}}" if f"{lo:{fmt}}" == f"{hi:{fmt}}" else f"{lo:{fmt}}–{hi:{fmt}}"

    for d, v, runs in rows:
        r = runs[-1]
        ratio = ""
        if (d, "before") in med:
            fb, cb = med[(d, "before")]
            fa, ca = med[(d, v)]
            ratio = f"{fa / fb:.1f}x; {cb / ca:.1f}x"
        out.append(f"| {d} | {v} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['mean_error']:.3f} "
                   f"| {rng([x['fps'] for x in runs], '.1f')} | {rng([x['cpu_ms'] for x in runs], '.1f')} | {ratio} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--max-distance", type=float, default=1.0)
    ap.add_argument("--densities", default=",".join(DENSITIES))
    ap.add_argument("--baseline", type=Path, default=None, help="tree of the version before the change")
    ap.add_argument("--repeats", type=int, default=1, help="alternating runs of each version per density")
    ap.add_argument("--threads", type=int, default=2, help="PYULM_NUM_THREADS of the measuring processes")
    ap.add_argument("--one", choices=sorted(DENSITIES), help=argparse.SUPPRESS)  # child process: one JSON line
    a = ap.parse_args(argv)
    if a.one:
        print(json.dumps(measure(a.one, a.frames, a.max_distance)))
        return
    densities = [d for d in a.densities.split(",") if d]
    unknown = sorted(set(densities) - set(DENSITIES))
    if unknown:
        ap.error(f"--densities: unknown {unknown}; expected some of {sorted(DENSITIES)}")
    if a.baseline is not None and not (a.baseline / "pyulm" / "__init__.py").is_file():
        ap.error(f"--baseline: {a.baseline} holds no pyulm package")
    if a.repeats < 1 or a.threads < 1:
        ap.error("--repeats and --threads: expected whole numbers >= 1")
    print(f"start: {load()}", flush=True)
    rows = []
    for d in densities:
        runs = {"before": [], "after": []}
        for _ in range(a.repeats):
            if a.baseline is not None:
                runs["before"].append(run_in(a.baseline, d, a.frames, a.max_distance, a.threads))
            runs["after"].append(run_in(HERE, d, a.frames, a.max_distance, a.threads))
        rows += [(d, v, r) for v, r in runs.items() if r]
        print(f"  {d}: done ({load()})", file=sys.stderr, flush=True)
    print(table(rows, a.max_distance))
    print(f"end: {load()}; {a.frames} frames of 128x128 per density, {a.threads} threads, {a.repeats} alternating "
          "run(s) per version, one process per measurement")


if __name__ == "__main__":
    main()
