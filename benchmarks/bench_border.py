"""Recall gained by detecting into the border: ``pyulm.localize`` with and without PALA's border crop.

PALA zeroes ``round(fwhm/2) + 1`` pixels on every side before detection (3 for
fwhm 3), so no bubble there is found; ``pala_compat=False`` (the default of the
Pythonic API) lets candidates reach the edge, their windows sliding inward.
Small fields lose the most: 3 pixels on each side of a 32 x 32 field is 34 % of it.

Data: ``pyulm.sim.free_motion`` fields (Gaussian PSF, FWHM 3 px, 20 dB SNR,
bubbles moving 0.2-1 px/frame), ``--seeds`` simulations of 40 frames per field
size. Detections are paired with the ground truth within 0.5 px
(``pyulm.metrics.match``); counts are pooled over the simulations.
``number_of_particles`` = bubbles + 2, ``n_local_max`` = 3.

Run: python benchmarks/bench_border.py [--seeds N]
"""
from __future__ import annotations

import argparse

import numpy as np

import pyulm
from pyulm.metrics import detection_scores, match
from pyulm.sim.free import free_motion

FIELDS = (((32, 32), 5), ((48, 48), 10), ((64, 80), 20))
METHODS = ("radial", "wa", "interp", "curvefitting")


def pooled(sims, method, n, pala_compat):
    sc = [detection_scores(match(s.gt, pyulm.localize(s.iq, method, fwhm=3, number_of_particles=n, n_local_max=3,
                                                      pala_compat=pala_compat), max_distance=0.5)) for s in sims]
    tp, fp, fn = (sum(s[k] for s in sc) for k in ("tp", "fp", "fn"))
    err = float(np.average([s["mean_error"] for s in sc], weights=[s["tp"] for s in sc]))
    return tp / (tp + fn), tp / (tp + fp), 2 * tp / (2 * tp + fp + fn), err


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=6)
    args = ap.parse_args(argv)
    print(f"{'field':<10}{'bubbles':>8}{'method':>14}   {'PALA crop: recall  prec.    F1  err px':<45}"
          f"{'to the edge: recall  prec.    F1  err px'}")
    for shape, nb in FIELDS:
        sims = [free_motion(shape, n_frames=40, n_bubbles=nb, speed=(0.2, 1.0), snr_db=20, seed=s)
                for s in range(args.seeds)]
        for method in METHODS:
            row = f"{shape[0]}x{shape[1]:<7}{nb:>8}{method:>14}   "
            for compat in (True, False):
                r, p, f1, err = pooled(sims, method, nb + 2, compat)
                row += f"{'':11}{r:7.3f}{p:7.3f}{f1:7.3f}{err:8.3f}{'':12}"
            print(row)


if __name__ == "__main__":
    main()
