"""CycleULM's choices made on validation data only (issue 14): never the test seeds 0-99.

Validation acquisitions are :func:`pyulm.nn.cycleulm.ceus_acquisition` blocks with seeds >= 1000
(default 1000 and 1001, first 200 frames), translated by the density's MB-DT translator (trained
label-free on the test acquisition, as a lab would translate its next acquisitions), scored by the
one matcher (:func:`pyulm.metrics.pooled_scores`, <= 2 px), pooled over the seeds.

For each set of translators (``--translators NAME=PATTERN``, repeatable) and density it runs every
row of the benchmark (``bench_cycleulm.py``) in float32: NCC, deconvolution, MBL-Net and radial
symmetry on |IQ|, the pipelines CycleULM-NCC, -Decon, -Loc, -E2E and Baselines 1 and 2, each as the
benchmark runs it (its helpers are imported), and checks issue 14's targets with the benchmark's own
target function (``bench_cycleulm.targets``) on the pooled validation results:

* MB-DT CNR gain (the paper's ratio of means) and FWHM shrink: the mean over the seeds;
* CycleULM-NCC's recall at NCC's precision: both along the permissive runs' sweeps (pooled curves);
* precision, recall, F1: pooled over the seeds; SR-map RMSE: the benchmark's per-acquisition map
  (equal number of localizations per method), root mean square over the seeds (both maps the same size).

Optional extra rows: CycleULM-Loc with other MBL-Nets (``--mblnet``) and decode thresholds, outside the
target rows. With two or more sets, the adoption rule of 2026-12-05 (docs/cycleulm.md, "Choices made on
validation data") compares each later set with the first.

    python benchmarks/cycleulm_validate.py --translators 'today=/work/cycleulm_runs/mbdt_{density}' \\
        --translators 'auto=/work/cycleulm_runs/auto/mbdt_{density}' --json docs/cycleulm_validation.json
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

import pyulm
from pyulm.metrics import map_rmse, map_ssim, pooled_scores

from bench_cycleulm import (LOCALIZER, PIPELINE_NAMES, PLAIN, RES, contrast_resolution, first_frames,
                            general_mblnet_threshold, permissive_pipeline_run, sr_map, targets, top, with_total)
from cycleulm_curves import CURVE_CAP, PERMISSIVE, PURE, SCORE, UNCAPPED, curve, default_from_permissive, top_per_frame

MAX_DISTANCE = 2.0
#: MBL-Net decode thresholds scored on MB-only frames (0.01-0.04 added 2026-12-05; below 0.05, the decoder's
#: candidate floor, they keep what 0.05 keeps: every presence maximum above 0.05)
THRESHOLDS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)
#: the three localizing CycleULM variants whose mean F1 rule (b) watches
VARIANTS = ("cycleulm-ncc", "cycleulm-decon", "cycleulm-loc")


def scores(sets) -> dict:
    s = pooled_scores(sets, MAX_DISTANCE)
    return {k: round(float(s[k]), 4) for k in ("precision", "recall", "f1", "mean_error")}


def _acquisition_rows(acq, n_frames, translator, mbtnet, mblnets, precision):
    """Every benchmark row on one validation acquisition: (gt, localizations, curves, SR maps, contrast, extra rows)."""
    from scipy.ndimage import gaussian_filter

    from pyulm.nn.cycleulm import run_pipeline
    from pyulm.nn.cycleulm.translate import translate

    iq, gt, n = first_frames(acq, n_frames)
    amp = np.abs(iq).astype(np.float64)
    shape, fwhm = iq.shape[:2], acq.psf_fwhm
    mb = translate(iq, translator, device="cpu", precision=precision)
    contrast = contrast_resolution(gt, amp, mb)
    locs, perms, maps, extra = {}, {}, {}, {}
    for m in PLAIN:  # as bench_cycleulm.evaluate: a pure threshold's default row is its permissive run filtered
        kw = {"psf": "gaussian"} if m == "ncc" else {"device": "cpu"} if m == "mblnet" else {}
        if m in PURE:
            perm = pyulm.localize(amp, m, fwhm=fwhm, number_of_particles=UNCAPPED, **kw, **PERMISSIVE[m])
            locs[m] = default_from_permissive(m, perm, n, general_mblnet_threshold() if m == "mblnet" else None)
            if m == "ncc":  # the reference curve of the recall-at-NCC's-precision target
                perms[m] = top_per_frame(perm, CURVE_CAP * n, SCORE[m])
        else:
            locs[m] = pyulm.localize(amp, m, fwhm=fwhm, number_of_particles=n, **kw)
    common = dict(fwhm=fwhm, number_of_particles=n, frame_rate=acq.frame_rate, pixel_size=acq.pixel_size, res=RES,
                  max_linking_distance=2.0, batch_size=16, device="cpu")
    for name in PIPELINE_NAMES:
        tr = translator if name.startswith("cycleulm") else None
        kw = {"precision": precision} if tr else {}
        if name == "cycleulm-e2e":
            out = run_pipeline(iq, name, translator=tr, mbtnet_weights=mbtnet, **common, **kw)
            maps[name] = gaussian_filter(out.maps["MatOut"], 1.0)  # MBT-Net's trajectory density
            continue
        out = run_pipeline(iq, name, translator=tr, **common, **kw)
        locs[name] = out.localizations
        if name == "cycleulm-ncc":
            perms[name] = permissive_pipeline_run(name, iq, out, tr, fwhm, n, CURVE_CAP * n, precision)[0]
    for name in mblnets:  # candidate MBL-Nets for CycleULM-Loc, and its decode thresholds (not target rows)
        w = None if name == "shipped" else name
        loose = pyulm.localize(mb, "mblnet", weights=w, number_of_particles=n, device="cpu", precision=precision,
                               threshold=min(THRESHOLDS))
        extra[f"cycleulm-loc [{name}]"] = pyulm.localize(mb, "mblnet", weights=w, number_of_particles=n, device="cpu",
                                                         precision=precision)
        for t in THRESHOLDS:  # the decode threshold only drops detections of lower probability
            extra[f"cycleulm-loc [{name}] t={t}"] = loose.select(np.flatnonzero(loose["probability"] > t))
    # SR maps as the benchmark draws them: the N most confident of each row, N = the fewest any row made
    n_eq = min((len(v) for v in locs.values() if len(v)), default=0)
    ref = with_total(sr_map(gt, shape), n_eq)
    for m, v in locs.items():
        maps[m] = sr_map(top(v, n_eq, SCORE[LOCALIZER.get(m, m)]), shape)
    sr = {}
    for m, mp in maps.items():
        mp = with_total(mp, n_eq)
        ok = bool(np.all(np.isfinite(mp)))
        sr[m] = (map_rmse(mp, ref) if ok else math.nan, map_ssim(mp, ref, data_range=float(ref.max())) if ok else math.nan)
    return gt, locs, perms, sr, contrast, extra


def validate_density(density, translator, mblnets=(), seeds=(1000, 1001), n_frames=200, precision="fp32",
                     mbtnet=None) -> dict:
    """Pooled validation scores and issue 14's target checks (``bench_cycleulm.targets``) for one density."""
    from pyulm.nn.cycleulm import ceus_acquisition

    sets, curves, extra, sr, contrast = {}, {}, {}, {}, []
    for seed in seeds:
        gt, locs, perms, srs, c, ex = _acquisition_rows(ceus_acquisition(density, seed=seed), n_frames, translator,
                                                        mbtnet, mblnets, precision)
        contrast.append(c)
        for k, v in locs.items():
            sets.setdefault(k, []).append((gt, v))
        for k, v in perms.items():
            curves.setdefault(k, []).append((gt, v))
        for k, v in ex.items():
            extra.setdefault(k, []).append((gt, v))
        for k, v in srs.items():
            sr.setdefault(k, []).append(v)
    methods = {k: scores(v) for k, v in sets.items()}
    for k, v in sr.items():
        rmse, ssim = np.array(v, float).T
        methods.setdefault(k, {}).update(sr_rmse=round(float(np.sqrt(np.mean(rmse ** 2))), 6),
                                         sr_ssim=round(float(np.mean(ssim)), 4))
    p0 = methods["ncc"]["precision"]
    rap = {k: round(curve(v, SCORE["ncc"], MAX_DISTANCE, at=(p0,))["recall_at"][p0], 4) for k, v in curves.items()}
    res = {"contrast": {"cnr_gain_db": float(np.mean([c["cnr_gain_db"] for c in contrast])),
                        "fwhm_shrink": float(np.mean([c["fwhm_shrink"] for c in contrast])),
                        "per_seed": [{k: round(c[k], 3) for k in ("cnr_gain_db", "fwhm_shrink")} for c in contrast]},
           "methods": methods, "recall_at_ncc_precision": {"ncc_precision": p0, **rap}, "throughput": {}}
    res["recall_at_ncc_precision"]["ratio"] = round(rap["cycleulm-ncc"] / rap["ncc"], 4) if rap["ncc"] > 0 else None
    res["targets"] = {k: [round(float(v), 4), bool(ok)] for k, (v, ok) in targets(res).items()}
    res["extra_rows"] = {k: scores(v) for k, v in extra.items()}
    return res


def variants_mean_f1(res: dict) -> float:
    """Mean over densities of the F1 of CycleULM-NCC, -Decon and -Loc (rule (b))."""
    return float(np.mean([res[d]["methods"][v]["f1"] for d in res for v in VARIANTS]))


def adoption(today: dict, candidate: dict, max_f1_drop: float = 0.005) -> dict:
    """The 2026-12-05 rule: (a) strictly more target checks passed, and (b) mean F1 of the three
    variants down by at most ``max_f1_drop``."""
    passed = {name: sum(ok for d in r for _, ok in r[d]["targets"].values()) for name, r in
              (("today", today), ("candidate", candidate))}
    f1 = {"today": variants_mean_f1(today), "candidate": variants_mean_f1(candidate)}
    a, b = passed["candidate"] > passed["today"], f1["candidate"] >= f1["today"] - max_f1_drop
    return {"checks_passed": passed, "checks_total": sum(len(today[d]["targets"]) for d in today),
            "variants_mean_f1": {k: round(v, 4) for k, v in f1.items()}, "a_more_checks": a,
            "b_f1_within_0.005": b, "adopt": bool(a and b)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--previous", default=None, help="a JSON this script wrote: its sets come first, not rerun")
    ap.add_argument("--translators", default=[], action="append",
                    help="[NAME=]MB-DT model directory per density, '{density}' replaced; repeat to compare sets "
                         "(the first is today's)")
    ap.add_argument("--mblnet", default="", help="comma-separated MBL-Net model directories ('shipped') for extra "
                                                 "CycleULM-Loc rows")
    ap.add_argument("--mbtnet", default=None, help="MBT-Net model directory for CycleULM-E2E (default: shipped)")
    ap.add_argument("--densities", default="low,medium,high")
    ap.add_argument("--seeds", default="1000,1001")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    if min(seeds) < 1000:
        ap.error("--seeds: validation seeds are >= 1000 (0-99 are the test acquisitions)")
    named = [tuple(t.split("=", 1)) if "=" in t else (f"set{i}", t) for i, t in enumerate(a.translators)]
    out = {}
    if a.previous:
        prev = json.loads(Path(a.previous).read_text())
        if prev["seeds"] != seeds or prev["frames"] != a.frames:
            ap.error(f"--previous: scored on seeds {prev['seeds']}, {prev['frames']} frames; this run {seeds}, {a.frames}")
        out.update(prev["results"])
        named = list(prev["translators"].items()) + named
    if not named:
        ap.error("--translators: give at least one set (or --previous)")
    import torch

    from pyulm._parallel import limit_threads

    torch.set_num_threads(1)
    mblnets = [m for m in a.mblnet.split(",") if m]
    with limit_threads(1):
        for name, pattern in named:
            if name in out:
                continue
            out[name] = {}
            for d in a.densities.split(","):
                r = out[name][d] = validate_density(d, pattern.format(density=d), mblnets, seeds, a.frames,
                                                    mbtnet=a.mbtnet)
                print(f"[{name}] {d}", json.dumps(r["contrast"]), "recall at NCC's precision:",
                      json.dumps(r["recall_at_ncc_precision"]), flush=True)
                for k, v in {**r["methods"], **r["extra_rows"]}.items():
                    print(f"  {k:45} " + " ".join(f"{s} {v[s]:.4f}" for s in ("precision", "recall", "f1", "mean_error",
                                                                              "sr_rmse") if s in v), flush=True)
                for k, (v, ok) in r["targets"].items():
                    print(f"  {'PASS' if ok else 'FAIL'}  {k}: {v:.4g}", flush=True)
    rule = {name: adoption(out[named[0][0]], out[name]) for name, _ in named[1:]}
    for name, v in rule.items():
        print(f"adoption rule, {name} against {named[0][0]}:", json.dumps(v))
    if a.json:
        Path(a.json).write_text(json.dumps({"translators": dict(named), "seeds": seeds, "frames": a.frames,
                                            "max_distance_px": MAX_DISTANCE, "precision": "fp32", "results": out,
                                            "variants_mean_f1": {k: round(variants_mean_f1(v), 4)
                                                                 for k, v in out.items()},
                                            "adoption": rule}, indent=1) + "\n")


if __name__ == "__main__":
    main()
