"""F1 operating points for the learned localizers, on realistic validation scenes.

:func:`pyulm.nn.calibrate.calibrate` with ``objective="f1"`` (the default) chooses, per
validation density, the cutoff (MBL-Net ``max_sigma``, 3DML ``min_probability``) that
maximises the validation F1 -- and, for MBL-Net, the one detection ``threshold`` that
maximises the summed F1 of the levels once each level has its best cutoff. Ties go to
the looser value (more detections). The cutoffs are stored against the network's own
density estimate as before, so crowded frames get their own operating point.

``scenes="vessel"`` (the default with the F1 objective) draws the validation data from
the same simulator and *training* PSF families as the model's ``train.toml`` (vessel
scenes of :mod:`pyulm.nn.scenes_vessel`, 128 x 128 frames) at the in-vessel densities
``VESSEL_DENSITIES``; seeds in the validation namespace, never the held-out benchmark's.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from . import data as D

#: In-vessel densities (bubbles per 100 px² of lumen) of the vessel validation levels.
VESSEL_DENSITIES = (1.0, 3.0, 6.0)
#: MBL-Net detection thresholds searched with the F1 objective (the candidates are decoded at the lowest).
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


class _Sim:
    def __init__(self, iq, gt):
        self.iq, self.gt = iq, gt


def vessel_validation(dcfg, seed, key, level, density, *, shape, n_frames, n_sims):
    """Yields ``(sim, n, fwhm)`` like :func:`pyulm.nn.calibrate.validation_simulations`,
    from vessel scenes of the model's training ranges (``dcfg``) at one in-vessel density."""
    from .scenes_vessel import vessel_scene
    from .scenes import draw_envelope

    cfg = replace(dcfg, patch=int(shape[0]), rf_probability=0.0)
    for r in range(n_sims):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), D.VALIDATION, key, 7, level, r]))
        env = draw_envelope(cfg, rng)
        iq, gt, _ = vessel_scene(cfg, n_frames, rng, shape=tuple(shape), in_vessel_density=density, env=env)
        n = max(1, int(np.bincount(gt.frame, minlength=n_frames).max()) if len(gt) else 1)
        yield _Sim(iq, gt), n, env.fwhm


def _filtered(cand, threshold):
    """Candidates of every simulation of a level restricted to probability > threshold."""
    if threshold is None:
        return cand
    out = {}
    for sp, (cols, dens) in cand.items():
        ok = cols["probability"] > threshold
        out[sp] = ({k: v[ok] for k, v in cols.items()}, dens)
    return out


def choose_f1(architecture, levels, sp, grid, net_score):
    """The F1 operating point: returns (threshold or None, per-level grid index, curves).
    ``net_score(sims, sp, cutoff)`` scores a level (see :mod:`pyulm.nn.calibrate`)."""
    thresholds = THRESHOLDS if architecture == "mblnet" else (None,)
    # a coarser cutoff grid (every 5th value): F1 varies slowly and each score is a Hungarian matching
    coarse = [g for i, g in enumerate(grid) if g is None or i % 5 == 0 or i == len(grid) - 1]
    best = None
    for thr in thresholds:
        picks, curves, total = [], [], 0.0
        for lv in levels:
            sims = [{**s, "cand": _filtered(s["cand"], thr)} for s in lv["sims"]]
            curve, top = [], None
            for g in coarse:
                sc = net_score(sims, sp, g)
                f1 = sc["f1"] if np.isfinite(sc["f1"]) else 0.0
                curve.append([g] + [round(sc[k], 4) for k in ("precision", "recall", "f1", "mean_error")])
                if top is None or f1 > top[1] + 1e-12:
                    top = (grid.index(g), f1)
            picks.append(top[0])
            curves.append(curve)
            total += top[1]
        if best is None or total > best[0] + 1e-12:
            best = (total, thr, picks, curves)
    return best[1], best[2], best[3]


def apply_threshold(levels, threshold):
    """Restrict every level's candidates to the chosen MBL-Net threshold (in place)."""
    if threshold is None:
        return
    for lv in levels:
        for s in lv["sims"]:
            s["cand"] = _filtered(s["cand"], threshold)


def best_constant(levels, sp, values, net_score):
    """Of ``values`` (the levels' own picks), the one cutoff of the highest summed F1 over
    the levels: used when the network's density estimates cannot order the levels."""
    def total(v):
        return sum((lambda f: f if np.isfinite(f) else 0.0)(net_score(lv["sims"], sp, v)["f1"]) for lv in levels)

    scored = [(total(v), -i, v) for i, v in enumerate(dict.fromkeys(values))]
    return max(scored)[2]
