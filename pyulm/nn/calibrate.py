"""Choosing a learned localizer's decode operating point on validation simulations.

Each network scores its own detections: MBL-Net predicts its localisation
uncertainty (``sigma_z``, ``sigma_x``) and 3DML-ResNet its presence probability.
A decode-time cutoff on that score (``max_sigma``, ``min_probability``) drops the
detections the network itself says are imprecise; it trades the recall of the
hard (faint, overlapping) bubbles for a lower mean localisation error. This
module chooses the cutoff, with a rule anyone can re-run::

    python -m pyulm.nn.calibrate mblnet            # report only
    python -m pyulm.nn.calibrate 3dml --write      # and store it in config.json
    python -m pyulm.nn.calibrate runs/my_mblnet --write

**Data.** Validation simulations only: seeds ``SeedSequence([seed, 1,
CALIBRATION_KEY, level, condition, repeat])`` in the training code's
validation namespace 1 (``seed`` = the model's ``train.toml`` seed); the
held-out test namespace 2 and the benchmark's seeds are never used. By default
they follow the evaluation protocol of ``benchmarks/bench_nn.py`` (free-motion
128 x 128 frames, 16 per simulation, PSF FWHM 3 and 5 px x SNR 20 and 10 dB,
no clutter, bubble densities 0.1 / 0.5 / 1.2 per 100 px) with ``repeats``
simulations per condition; every part of it is an argument of :func:`calibrate`
so that the operating point can be chosen for other conditions.

**Rule.** At each validation density, the reference method (``radial`` by
default, given the true PSF FWHM and the true bubble count, like the
benchmark) sets the error budget: its mean localisation error over the matched
pairs (Hungarian per frame, <= 1 px) minus ``margin`` (0.01 px by default,
about two standard errors of a mean error over 1000 matched bubbles: an
evaluation set of that size should not flip the comparison by chance). The
network's cutoff at that density is the loosest value of the grid (no cutoff
first) whose validation mean error is within the budget; the sub-pixel decoder
is chosen first (``subpixel="auto"``: the one with the lower validation mean
error without cutoff, pooled over the densities). The cutoffs are stored as a
density table: each level's density is the median of the network's own per-frame
density estimate (MBL-Net: sum of its presence probabilities; 3DML: its count
network) on that level's validation frames, so the network picks the operating
point of a frame from what it sees. Because the cutoff is interpolated per
frame, the table is then re-scored on the same validation data and a level that
misses its budget is tightened one grid step at a time until it meets it.
A level whose tightest cutoff still misses the budget is reported (``met``
false) and keeps the tightest cutoff.

**Guard.** ``--write`` (``calibrate_model_dir(write=True)``) refuses to store an
operating point that loses most detections: when, at any density, the
calibrated recall is below ``MIN_RECALL_KEPT`` (one half) of the network's
recall without a cutoff, the model's files are left as they were, the reason is
logged and returned (``written`` false), and the command exits with status 1.
"""
from __future__ import annotations

import json
import math
import re
import sys
import time
from pathlib import Path

import numpy as np

from . import data as D
from ..metrics.detection import pooled_scores

#: Third seed word of the calibration simulations (inside the validation namespace).
CALIBRATION_KEY = 1000
DENSITIES = (0.1, 0.5, 1.2)
CONDITIONS = ((3.0, 20.0), (3.0, 10.0), (5.0, 20.0), (5.0, 10.0))
SHAPE = (128, 128)
N_FRAMES = 16
REPEATS = 3
MARGIN = 0.01
#: ``--write`` refuses an operating point keeping less than this share of the no-cutoff recall.
MIN_RECALL_KEPT = 0.5
#: The cutoff each architecture calibrates, and its grid, loosest first (None: no cutoff).
PARAMETER = {"mblnet": "max_sigma", "3dml": "min_probability"}
#: Table entry of a level that needs no cutoff (JSON has no infinity): MBL-Net's
#: predicted sigmas are at most 3.01 px each, so 5 px never drops anything.
NO_CUTOFF = {"max_sigma": 5.0, "min_probability": 0.0}
GRIDS = {
    "max_sigma": [None] + [float(round(v, 2)) for v in np.arange(1.5, 0.095, -0.01)],
    "min_probability": [None] + [float(round(v, 2)) for v in np.arange(0.01, 0.951, 0.01)],
}


def validation_simulations(seed: int, level: int, density: float, *, conditions=CONDITIONS, shape=SHAPE,
                           n_frames: int = N_FRAMES, repeats: int = REPEATS, clutter_db=None):
    """The calibration simulations of one density level: yields ``(sim,
    n_bubbles, fwhm)``; seeds in the validation namespace (see module docstring)."""
    from ..sim.free import free_motion

    n = max(1, int(round(density * shape[0] * shape[1] / 100)))
    for j, (fwhm, snr) in enumerate(conditions):
        for r in range(repeats):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), D.VALIDATION, CALIBRATION_KEY, level, j, r]))
            yield (free_motion(shape, n_frames=n_frames, n_bubbles=n, psf_fwhm=(fwhm, fwhm), snr_db=snr,
                               clutter_db=clutter_db, seed=rng), n, float(fwhm))


def _candidates(arch, model, iq, n, subpixels, batch_size, threshold=None):
    """Network candidates of one simulation before the cutoff, per sub-pixel
    decoder: {subpixel: (columns, per-frame density estimate)} -- the first
    stage of the decode used at inference (same code)."""
    from .decode import dml3_candidates, mblnet_candidates
    from .inference import _check, dml3_outputs, mblnet_outputs

    arr = _check(iq, model, arch)
    candidates = {}
    for sp in subpixels:
        parts, dens = [], np.zeros(arr.shape[2])
        if arch == "mblnet":
            for out, scale, t0 in mblnet_outputs(model, arr, batch_size):
                thr = float(model.decode["threshold"] if threshold is None else threshold)
                c, d = mblnet_candidates(out, scale, threshold=thr, subpixel=sp)
                c["frame"] = c["frame"].astype(np.int64) + t0
                dens[t0:t0 + d.size] = d
                parts.append(c)
        else:
            for fm, counts, frames, _ in dml3_outputs(model, arr, batch_size):
                c, d = dml3_candidates(fm, counts, max_per_frame=n, subpixel=sp)
                c["frame"] = frames[c["frame"]]
                dens[frames] = d
                parts.append(c)
        candidates[sp] = ({k: np.concatenate([p[k] for p in parts]) for k in parts[0]}, dens)
    return candidates


def _select(arch, cols, dens, cutoff, n):
    from .decode import select_3dml, select_mblnet

    if arch == "mblnet":
        return select_mblnet(cols, dens, max_sigma=cutoff, max_per_frame=n)
    return select_3dml(cols, dens, min_probability=cutoff)


def _score(sims, pick) -> dict:
    """Pooled precision / recall / F1 / mean error over a level's simulations;
    ``pick(i)`` -> (z, x, frame) of simulation i."""
    thresholds = {s["match"] for s in sims}
    if len(thresholds) != 1:
        raise ValueError(f"sims: expected one matching distance for a level, got {sorted(thresholds)}")
    sc = pooled_scores(((s["gt"], np.column_stack(pick(i))) for i, s in enumerate(sims)), thresholds.pop())
    return {"precision": sc["precision"], "recall": sc["recall"], "f1": sc["f1"], "mean_error": sc["mean_error"],
            "n_matched": sc["tp"], "n_gt": sc["n_gt"]}


def _net_score(arch, sims, sp, cutoff):
    def pick(i):
        s = sims[i]
        cols, dens = s["cand"][sp]
        c = _select(arch, cols, dens, cutoff, s["n"])
        return c["z"], c["x"], c["frame"]

    return _score(sims, pick)


def _within(err, budget):
    return math.isfinite(err) and err <= budget + 1e-12


def calibrate(architecture: str, weights=None, *, seed: int | None = None, densities=DENSITIES,
              conditions=CONDITIONS, shape=SHAPE, n_frames: int = N_FRAMES, repeats: int = REPEATS, clutter_db=None,
              reference: str = "radial", margin: float = MARGIN, subpixel: str = "auto", grid=None,
              match_threshold: float = 1.0, batch_size: int | None = None, device="cpu", objective: str = "f1",
              scenes: str | None = None, log=print) -> dict:
    """Choose the decode cutoff (MBL-Net ``max_sigma``, 3DML ``min_probability``)
    and sub-pixel decoder of a model on validation simulations (rule: module
    docstring). Deterministic for given arguments. Returns a dict with
    ``decode`` (the settings to store in ``config.json``), ``levels`` (per
    density: reference, no-cutoff and calibrated validation metrics, chosen
    cutoff, ``met``), the error-vs-cutoff ``curves`` and the protocol.

    ``objective``: ``"f1"`` (default; :mod:`pyulm.nn.calibrate_f1`: the cutoff -- and
    MBL-Net's threshold -- of the highest validation F1 per density, ``met`` when the
    calibrated F1 is at least the reference's) or ``"error"`` (the error-budget rule of
    the module docstring). ``scenes``: ``"vessel"`` (default with ``"f1"``: realistic
    vessel scenes of the model's training families at in-vessel densities
    ``calibrate_f1.VESSEL_DENSITIES``) or ``"free"`` (the free-motion protocol)."""
    from . import calibrate_f1 as F
    import pyulm

    from .options import check_decode_option
    from .weights_io import load_model, resolve, sha256

    if architecture not in PARAMETER:
        raise ValueError(f"architecture: expected 'mblnet' or '3dml', got {architecture!r}")
    if objective not in ("f1", "error"):
        raise ValueError(f"objective: expected 'f1' or 'error', got {objective!r}")
    scenes = scenes or ("vessel" if objective == "f1" else "free")
    if scenes not in ("vessel", "free"):
        raise ValueError(f"scenes: expected 'vessel' or 'free', got {scenes!r}")
    if scenes == "vessel" and densities is DENSITIES:
        densities = F.VESSEL_DENSITIES
    if subpixel not in ("auto", "weighted", "max"):
        raise ValueError(f"subpixel: expected 'auto', 'weighted' or 'max', got {subpixel!r}")
    if not (isinstance(margin, (int, float)) and math.isfinite(margin)):
        raise ValueError(f"margin: expected a finite number of pixels, got {margin!r}")
    dens_levels = [float(d) for d in densities]
    if not dens_levels or any(d <= 0 for d in dens_levels) or any(b <= a for a, b in zip(dens_levels, dens_levels[1:])):
        raise ValueError(f"densities: expected increasing positive bubble densities, got {densities!r}")
    param = PARAMETER[architecture]
    grid = list(GRIDS[param] if grid is None else grid)
    for g in grid:
        if g is not None:
            check_decode_option(architecture, param, g, "grid: ")
    from .train import load_config

    toml = resolve(architecture, weights)[0].parent / "train.toml"
    if seed is None and not toml.is_file():
        raise FileNotFoundError(f"calibrate: no {toml} to read the model's seed from; pass seed=")
    dcfg = load_config(toml)["data"] if toml.is_file() else D.DataConfig(psf_families=("gaussian", "transducer"))
    seed = load_config(toml)["seed"] if seed is None else seed
    model = load_model(architecture, weights, device)
    digest = sha256(resolve(architecture, weights)[0])
    bs = batch_size or (32 if architecture == "mblnet" else 4)
    sps = ("weighted", "max") if subpixel == "auto" else (subpixel,)
    t0 = time.perf_counter()

    levels = []
    for k, dens in enumerate(dens_levels):
        sims = []
        if scenes == "vessel":
            gen = F.vessel_validation(dcfg, seed, CALIBRATION_KEY, k, dens, shape=shape, n_frames=n_frames,
                                      n_sims=repeats * len(conditions))
        else:
            gen = validation_simulations(seed, k, dens, conditions=conditions, shape=shape, n_frames=n_frames,
                                         repeats=repeats, clutter_db=clutter_db)
        floor = min(F.THRESHOLDS) if objective == "f1" and architecture == "mblnet" else None
        for sim, n, fwhm in gen:
            ref = pyulm.localize(sim.iq, reference, fwhm=fwhm, number_of_particles=n, pala_compat=True)
            sims.append({"gt": sim.gt, "n": n, "match": match_threshold, "ref": (ref.z, ref.x, ref.frame),
                         "cand": _candidates(architecture, model, sim.iq, n, sps, bs, floor)})
        ref_score = _score(sims, lambda i: sims[i]["ref"])
        est = np.concatenate([s["cand"][sps[0]][1] for s in sims])
        levels.append({"density": dens, "sims": sims, "reference": ref_score,
                       "estimated_density": float(np.median(est)),
                       "budget": ref_score["mean_error"] - margin})
        log(f"  density {dens}: {len(sims)} validation simulations, {reference} error "
            f"{ref_score['mean_error']:.4f} px ({time.perf_counter() - t0:.0f} s)")

    # 1. the sub-pixel decoder: lower pooled validation mean error without cutoff
    uncut = {sp: [_net_score(architecture, lv["sims"], sp, None) for lv in levels] for sp in sps}
    pooled = {sp: sum(s["mean_error"] * s["n_matched"] for s in u) / max(1, sum(s["n_matched"] for s in u))
              for sp, u in uncut.items()}
    sp = min(sps, key=lambda s: (pooled[s], sps.index(s)))

    threshold = None
    if objective == "f1":  # 2'. per level, the cutoff of the highest validation F1 (and MBL-Net's threshold)
        threshold, chosen, curves = F.choose_f1(architecture, levels, sp, grid,
                                                lambda sims, s, g: _net_score(architecture, sims, s, g))
        F.apply_threshold(levels, threshold)
        uncut[sp] = [_net_score(architecture, lv["sims"], sp, None) for lv in levels]
    else:  # 2. per level, the loosest grid cutoff within the budget
        curves, chosen = [], []
    for lv in levels if objective == "error" else []:
        curve = []
        pick = None
        for g in grid:
            sc = _net_score(architecture, lv["sims"], sp, g)
            curve.append([g] + [round(sc[k], 4) for k in ("precision", "recall", "f1", "mean_error")])
            if pick is None and _within(sc["mean_error"], lv["budget"]):
                pick = grid.index(g)
        chosen.append(pick if pick is not None else len(grid) - 1)
        curves.append(curve)

    # 3. the density table, re-scored with per-frame interpolation; tighten levels that miss
    def table(idx):
        vals = [grid[i] for i in idx]
        if all(v is None for v in vals):
            return None
        vals = [NO_CUTOFF[param] if v is None else v for v in vals]
        xs = [lv["estimated_density"] for lv in levels]
        if any(b <= a for a, b in zip(xs, xs[1:])):  # the network cannot tell the levels apart
            if objective == "f1":  # one value for all: the levels' pick of the highest summed F1
                return F.best_constant(levels, sp, vals, lambda sims, s, g: _net_score(architecture, sims, s, g))
            return min(vals) if param == "max_sigma" else max(vals)
        return {"density": [round(x, 4) for x in xs], "cutoff": vals}

    for _ in range(len(grid) * len(levels)):
        tab = table(chosen)
        scores = [_net_score(architecture, lv["sims"], sp, tab) for lv in levels]
        miss = [k for k, (lv, sc) in enumerate(zip(levels, scores))
                if not _within(sc["mean_error"], lv["budget"]) and chosen[k] < len(grid) - 1]
        if not miss or objective == "f1":
            break
        for k in miss:
            chosen[k] += 1

    out_levels = []
    for lv, sc, u, k in zip(levels, scores, uncut[sp], chosen):
        out_levels.append({"density": lv["density"], "estimated_density": round(lv["estimated_density"], 4),
                           "reference": lv["reference"], "budget": round(lv["budget"], 4), "no_cutoff": u,
                           "cutoff": grid[k], "calibrated": sc,
                           "met": (sc["f1"] >= lv["reference"]["f1"] if objective == "f1"
                                   else _within(sc["mean_error"], lv["budget"]))})
    decode = {"subpixel": sp} if threshold is None else {"threshold": threshold, "subpixel": sp}
    if tab is not None:
        decode[param] = tab
    result = {
        "architecture": architecture, "weights_sha256": digest, "parameter": param, "decode": decode,
        "levels": out_levels,
        "subpixel_pooled_error_no_cutoff": {k: round(v, 4) for k, v in pooled.items()},
        "objective": objective,
        "rule": (f"per validation density, the {param} of the highest validation F1 (coarse grid, ties to the looser)"
                 + (", with the one MBL-Net threshold maximising the summed F1 of the levels" if threshold else "")
                 + "; cutoffs tabulated against the network's median density estimate"
                 if objective == "f1" else
                 f"per validation density, the loosest {param} (grid, no cutoff first) whose validation mean error is "
                 f"<= {reference}'s minus {margin} px; sub-pixel decoder of lower pooled validation error; cutoffs "
                 f"tabulated against the network's median density estimate and re-checked with per-frame "
                 f"interpolation"),
        "reference": reference, "margin": margin,
        "protocol": {"seed": seed, "namespace": D.VALIDATION, "key": CALIBRATION_KEY, "densities": dens_levels,
                     "conditions": [list(c) for c in conditions], "shape": list(shape), "n_frames": n_frames,
                     "repeats": repeats, "clutter_db": clutter_db, "match_threshold": match_threshold,
                     "simulator": "pyulm.nn.scenes_vessel.vessel_scene (training PSF families of train.toml)"
                     if scenes == "vessel" else "pyulm.sim.free_motion"},
        "curves": {"columns": [param, "precision", "recall", "f1", "mean_error"],
                   "rows_per_density": curves}, "wall_time_s": round(time.perf_counter() - t0, 1),
    }
    for lv in out_levels:
        c, r = lv["calibrated"], lv["reference"]
        log(f"  density {lv['density']}: {param} {lv['cutoff']} -> P {c['precision']:.3f} R {c['recall']:.3f} "
            f"F1 {c['f1']:.3f} err {c['mean_error']:.4f} px ({reference}: R {r['recall']:.3f} F1 {r['f1']:.3f} err "
            f"{r['mean_error']:.4f}; budget {lv['budget']:.4f}){'' if lv['met'] else '  NOT MET'}")
    return result


def dump_json(obj) -> str:
    """JSON with an indent of 2 but every list of plain values on one line
    (the calibration curves stay readable, one cutoff per line)."""
    text = json.dumps(obj, indent=2)
    return re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text) + "\n"


def recall_loss(result: dict, min_kept: float = MIN_RECALL_KEPT) -> str | None:
    """Why a calibration must not be stored (its cutoff keeps less than ``min_kept``
    of the no-cutoff recall at some density), or None when it may."""
    for lv in result["levels"]:
        base, kept = lv["no_cutoff"]["recall"], lv["calibrated"]["recall"]
        if not (math.isfinite(base) and base > 0):
            continue  # nothing found even without a cutoff: no detection to lose
        kept = kept if math.isfinite(kept) else 0.0
        if kept < min_kept * base:
            return (f"at density {lv['density']} the chosen cutoff {lv['cutoff']!r} keeps recall {kept:.3f} of "
                    f"{base:.3f} without a cutoff (less than {min_kept:g} of it): it would lose most detections")
    return None


def calibrate_model_dir(model="mblnet", *, write: bool = False, log=print, min_recall_kept: float = MIN_RECALL_KEPT,
                        **kwargs) -> dict:
    """:func:`calibrate` a shipped model (``"mblnet"``, ``"3dml"``) or a model
    directory; with ``write=True`` store the decode settings in its
    ``config.json`` (other decode settings kept), the calibration record in
    its ``metrics.json`` (``decode_cutoff_calibration``) and refresh its
    ``SHA256SUMS`` -- unless the operating point loses most detections
    (:func:`recall_loss`): then nothing is written and the result says why
    (``written`` False, ``refused``)."""
    from .weights_io import CONFIG_FILE, SHIPPED, write_checksums

    if model in PARAMETER:
        arch, d = model, SHIPPED / model
    else:
        d = Path(model)
        conf = d / CONFIG_FILE
        if not conf.is_file():
            raise FileNotFoundError(f"calibrate: {d} is not a model directory (no {CONFIG_FILE})")
        arch = json.loads(conf.read_text()).get("architecture")
        if arch not in PARAMETER:
            raise ValueError(f"calibrate: {conf} describes architecture {arch!r}; expected 'mblnet' or '3dml'")
    log(f"calibrating {arch} ({d}) on validation simulations")
    result = calibrate(arch, d, log=log, **kwargs)
    refused = recall_loss(result, min_recall_kept) if write else None
    if refused:
        log(f"NOT written: {refused}; {d / CONFIG_FILE} keeps its previous decode settings")
        result["refused"] = refused
    result["written"] = bool(write and not refused)
    if result["written"]:
        conf = json.loads((d / CONFIG_FILE).read_text())
        dec = {k: v for k, v in conf.get("decode", {}).items() if k not in ("subpixel", result["parameter"])}
        conf["decode"] = {**dec, **result["decode"]}
        (d / CONFIG_FILE).write_text(dump_json(conf))
        mpath = d / "metrics.json"
        metrics = json.loads(mpath.read_text()) if mpath.is_file() else {}
        metrics["decode_cutoff_calibration"] = {
            **result, "on": "validation simulations",
            "command": f"python -m pyulm.nn.calibrate {model} --write"}
        mpath.write_text(dump_json(metrics))
        write_checksums(d)  # config.json and metrics.json changed: the checksums cover every file
        log(f"wrote decode {result['decode']} to {d / CONFIG_FILE}")
    return result


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m pyulm.nn.calibrate",
                                 description="Choose a learned localizer's decode cutoff on validation simulations.")
    ap.add_argument("model", help="'mblnet', '3dml' (shipped models) or a model directory")
    ap.add_argument("--write", action="store_true", help="store the result in the model's config.json/metrics.json")
    ap.add_argument("--repeats", type=int, default=REPEATS, help="simulations per condition and density")
    ap.add_argument("--margin", type=float, default=MARGIN, help="pixels below the reference's error")
    ap.add_argument("--reference", default="radial")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--json", help="write the full calibration record here")
    ap.add_argument("--objective", choices=("f1", "error"), default="f1",
                    help="f1: highest validation F1 (default); error: the error-budget rule")
    ap.add_argument("--scenes", choices=("vessel", "free"), default=None,
                    help="validation scenes (default: vessel for f1, free for error)")
    a = ap.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    result = calibrate_model_dir(a.model, write=a.write, repeats=a.repeats, margin=a.margin, reference=a.reference,
                                 objective=a.objective, scenes=a.scenes)
    if a.json:
        Path(a.json).write_text(dump_json(result))
    return 1 if a.write and not result["written"] else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
