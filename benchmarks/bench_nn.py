"""Learned vs conventional localization on held-out pyulm.sim simulations.

For three bubble densities (low / medium / high, bubbles per 100 pixels per
frame), simulates 128 x 128 free-motion sequences over a grid of PSF widths and
SNRs (seeds disjoint from the training and validation seeds), localizes with
mblnet, 3dml, radial (and ncc / decon when registered), and scores every method
with the same rule: per frame, Hungarian matching on distance, pairs farther
than ``--threshold`` pixels (default 1) do not count. Reports precision,
recall, F1 and mean localization error of the matched pairs, then inference
throughput on 128 x 128 frames.

Every method gets ``number_of_particles`` = the simulation's bubble count
(the per-frame cap of PALA's detection; 3dml's count network picks its own N
below that cap) and the conventional ones the true PSF FWHM. The networks run
with their shipped decode settings (``config.json``: the cutoffs chosen on
validation simulations by ``python -m pyulm.nn.calibrate``); the rows
"(no cutoff)" run them without the cutoff (``max_sigma=inf``,
``min_probability=0``), to show what the cutoff trades; the rows "(bf16)" run
them with ``precision="bf16"`` (bfloat16 autocast), beside float32.

    python benchmarks/bench_nn.py [--quick] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import pyulm
from pyulm.metrics import match
from pyulm.sim.free import free_motion

DENSITIES = {"low": 0.1, "medium": 0.5, "high": 1.2}
CONDITIONS = [(3.0, 20.0), (3.0, 10.0), (5.0, 20.0), (5.0, 10.0)]  # (FWHM px, SNR dB)
SEED0 = 900_000  # disjoint from training/validation/test seeds (SeedSequence namespaces)


ONLY: list | None = None  # --methods: restrict the rows to these methods


def methods():
    """{row label: (method, extra options)}."""
    avail = pyulm.available_methods()
    rows = {"mblnet": ("mblnet", {}), "mblnet (bf16)": ("mblnet", {"precision": "bf16"}),
            "mblnet (no cutoff)": ("mblnet", {"max_sigma": math.inf}),
            "3dml": ("3dml", {}), "3dml (bf16)": ("3dml", {"precision": "bf16"}),
            "3dml (no cutoff)": ("3dml", {"min_probability": 0.0}), "radial": ("radial", {})}
    rows.update({m: (m, {}) for m in ("ncc", "decon") if m in avail})
    if ONLY:
        rows = {k: v for k, v in rows.items() if v[0] in ONLY or k in ONLY}
    return rows


def simulate(density, fwhm, snr, seed, shape=(128, 128), n_frames=16):
    n = max(1, int(round(density * shape[0] * shape[1] / 100)))
    sim = free_motion(shape, n_frames=n_frames, n_bubbles=n, psf_fwhm=(fwhm, fwhm), snr_db=snr, seed=seed)
    return sim, n


def accuracy(n_frames, threshold, quick):
    rows = []
    conds = CONDITIONS[:2] if quick else CONDITIONS
    for dname, dens in DENSITIES.items():
        rows_def = methods()
        acc = {m: {"tp": 0, "n_pred": 0, "n_gt": 0, "err": [], "err_common": []} for m in rows_def}
        for k, (fwhm, snr) in enumerate(conds):
            sim, n = simulate(dens, fwhm, snr, SEED0 + 100 * k + int(dens * 10), n_frames=n_frames)
            matched = {}
            for m in acc:
                name, opts = rows_def[m]
                locs = pyulm.localize(sim.iq, name, fwhm=(fwhm, fwhm), number_of_particles=n, **opts)
                matched[m] = r = match(sim.gt, locs, threshold)
                acc[m]["tp"] += r.gt_index.size
                acc[m]["n_pred"] += len(locs)
                acc[m]["n_gt"] += len(sim.gt)
                acc[m]["err"].append(r.distance)
            # The error over the bubbles *both* a method and radial found: a method that
            # also finds the hard bubbles (overlapping, faint) is not penalised for them.
            for m in acc:
                common = np.isin(matched[m].gt_index, matched["radial"].gt_index)
                acc[m]["err_common"].append(matched[m].distance[common])
        for m, a in acc.items():
            tp = a["tp"]
            e, ec = np.concatenate(a["err"]), np.concatenate(a["err_common"])
            rows.append({"density": dname, "bubbles_per_100px": dens, "method": m,
                         "precision": tp / a["n_pred"] if a["n_pred"] else float("nan"),
                         "recall": tp / a["n_gt"], "f1": 2 * tp / (a["n_pred"] + a["n_gt"]),
                         "mean_error_px": float(e.mean()) if e.size else float("nan"),
                         "mean_error_common_px": float(ec.mean()) if ec.size else float("nan"),
                         "n_common": int(ec.size), "n_gt": a["n_gt"]})
    return rows


def throughput(n_frames, repeats):
    sim, n = simulate(0.5, 3.0, 20.0, SEED0 + 7, n_frames=n_frames)
    out = {}
    for m, (name, opts) in methods().items():
        pyulm.localize(sim.iq[:, :, :8], name, fwhm=3, number_of_particles=n, **opts)  # load weights, warm up
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            pyulm.localize(sim.iq, name, fwhm=3, number_of_particles=n, **opts)
            best = min(best, time.perf_counter() - t0)
        out[m] = n_frames / best
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="two conditions per density, fewer frames")
    ap.add_argument("--threshold", type=float, default=1.0, help="matching distance, pixels")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--methods", help="comma-separated methods to run (default: all; the error on bubbles radial "
                                      "also found needs radial)")
    ap.add_argument("--fps-only", action="store_true", help="throughput only")
    a = ap.parse_args(argv)
    import torch

    global ONLY
    ONLY = a.methods.split(",") if a.methods else None
    torch.set_num_threads(a.threads)
    # throughput first, in a fresh process state; best of repeats (the CPU may be shared)
    fps = throughput(64 if a.quick else 256, 2 if a.quick else 5)
    if a.fps_only:
        for m, v in fps.items():
            print(f"  {m:20s} {v:8.1f}")
        return
    if ONLY and "radial" not in ONLY:
        ONLY.append("radial")
    rows = accuracy(8 if a.quick else 16, a.threshold, a.quick)
    print("| density (bubbles/100 px) | method | precision | recall | F1 | mean error (px) | "
          "mean error on bubbles radial also found (px) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['density']} ({r['bubbles_per_100px']}) | {r['method']} | {r['precision']:.3f} | "
              f"{r['recall']:.3f} | {r['f1']:.3f} | {r['mean_error_px']:.3f} | {r['mean_error_common_px']:.3f} |")
    print(f"\ninference on 128 x 128 frames, {a.threads} threads (frames/s, whole pyulm.localize call):")
    for m, v in fps.items():
        print(f"  {m:20s} {v:8.1f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"accuracy": rows, "frames_per_s": fps, "threshold_px": a.threshold,
                       "threads": a.threads}, f, indent=2)


if __name__ == "__main__":
    main()
