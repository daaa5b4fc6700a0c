"""Benchmark localization methods on simulated data with ground truth.

For three bubble densities, simulate free-moving bubbles with
:func:`pyulm.sim.free_motion` (fixed seeds), localize with each method and
score every method with the **same matching rule**: per frame Hungarian
matching under a distance gate (:func:`pyulm.metrics.match`). Prints a
Markdown table of precision, recall, F1, mean localisation error (pixels) and
frames per second.

Usage::

    python benchmarks/bench_methods.py [--frames 40] [--max-distance 1.0] [--methods radial,wa,...]

Falls back to the reference block's ground truth (``reference_data/``) when
:mod:`pyulm.sim` is not available.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import pyulm
from pyulm.metrics import detection_scores, match

DENSITIES = {"sparse": 5, "medium": 15, "dense": 40}  # bubbles per 64x64-pixel frame
METHODS = ("radial", "wa", "interp", "ncc", "decon")


def simulated(n_bubbles: int, n_frames: int, seed: int):
    from pyulm.sim import free_motion

    sim = free_motion((64, 64), n_frames=n_frames, n_bubbles=(n_bubbles, n_bubbles), psf_fwhm=(3.0, 3.0),
                      snr_db=20.0, seed=seed)
    gt = np.column_stack([sim.gt.z, sim.gt.x, sim.gt.frame])
    return sim.iq, gt


def reference_block():
    import h5py

    path = Path(__file__).resolve().parents[1] / "reference_data" / "pala_block_a.h5"
    with h5py.File(path) as f:
        G, X, fr = f["GT"][()], f["loc_input"][()], f["loc_frames"][()]
    gt = [np.column_stack([G[G[:, 2] == t + 1][:, 0] - 1, G[G[:, 2] == t + 1][:, 1] - 1,
                           np.full(int(np.sum(G[:, 2] == t + 1)), k)]) for k, t in enumerate(fr)]
    return X, np.vstack(gt)


def run(methods, n_frames: int, max_distance: float):
    try:
        import pyulm.sim  # noqa: F401

        datasets = {name: (simulated(n, n_frames, seed=10 + i), n) for i, (name, n) in enumerate(DENSITIES.items())}
    except ModuleNotFoundError:
        X, gt = reference_block()
        datasets = {"reference block a": ((X, gt), 40)}
    rows = []
    for dname, ((frames, gt), n_part) in datasets.items():
        for m in methods:
            kw = {"number_of_particles": n_part, "fwhm": (3, 3)}
            if m in ("radial", "wa", "interp"):
                kw["n_local_max"] = 3
            pyulm.localize(frames[:, :, :2], m, **kw)  # warm-up (imports, caches)
            t0 = time.perf_counter()
            locs = pyulm.localize(frames, m, **kw)
            dt = time.perf_counter() - t0
            s = detection_scores(match(gt, locs, max_distance))
            rows.append((dname, m, s["precision"], s["recall"], s["f1"], s["mean_error"], frames.shape[2] / dt))
    return rows


def table(rows, max_distance) -> str:
    out = [f"| density | method | precision | recall | F1 | mean error (px, pairs < {max_distance:g} px) | frames/s |",
           "|---|---|---|---|---|---|---|"]
    for d, m, p, r, f, e, fps in rows:
        out.append(f"| {d} | {m} | {p:.3f} | {r:.3f} | {f:.3f} | {e:.3f} | {fps:.0f} |")
    return "\n".join(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--max-distance", type=float, default=1.0)
    ap.add_argument("--methods", default=",".join(METHODS))
    a = ap.parse_args(argv)
    methods = [m for m in a.methods.split(",") if m]
    print(table(run(methods, a.frames, a.max_distance), a.max_distance))


if __name__ == "__main__":
    main()
