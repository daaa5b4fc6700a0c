"""CycleULM evaluation (issue 14 item 5): MB-DT contrast and resolution, localization, SR maps, speed.

Held-out data are :func:`pyulm.nn.cycleulm.ceus_acquisition` blocks (transducer PSF with side
lobes and depth phase, vessel flow, tissue clutter left after the SVD filter, band-limited
noise: *not* the MB-only domain), seed 0 (test seeds are 0-99), densities low/medium/high.
Each density's MB-DT translator was trained without labels on that same acquisition, as the
paper trains on the data it translates (``pyulm train mbdt``; the ground truth is never seen).

Per density:

* **contrast and resolution** (:mod:`pyulm.nn.cycleulm.mbdt_eval`, the definitions MB-DT is
  tuned by): CNR (dB) of the maximum-intensity projection (MIP) of |IQ| and of MB-DT's output,
  signal = pixels the ground-truth bubbles visited, background = pixels more than 6 px from
  any of them. Two definitions: the paper's ``20 log10(mean_signal / mean_background)`` (the
  target) and pyulm's ``20 log10(|Δmean| / sqrt(σ_s² + σ_b²))`` (:func:`pyulm.metrics.cnr`);
  FWHM (z and x, pixels) of isolated bubbles (no other bubble within 12 px), median;
* **localization**: precision, recall, F1 and mean error of every pipeline and of plain NCC,
  deconvolution, MBL-Net and radial symmetry on |IQ|, by the one matcher
  (:func:`pyulm.metrics.pooled_scores`, Hungarian per frame, ≤ 2 px = λ/2), each method allowed
  as many detections per frame (N) as the most crowded ground-truth frame holds, at its default
  threshold (the table rows); precision-recall and error-recall curves by sweeping each method's
  own score over a *permissive* run of the same method (detection threshold lowered, at most
  2 N a frame; :mod:`cycleulm_curves`), so that a curve reaches past its default point to the
  precision of the others (the recall-at-NCC's-precision target compares two such sweeps);
* **SR maps** with an equal number N of localizations per method (the N most confident of
  each method, N = the fewest any method made), rendered at ``res = 4`` and blurred by a
  Gaussian of σ = 1 SR pixel, against the ground-truth localizations' map treated the same
  way and scaled to N localizations: RMSE (localizations per SR pixel) and SSIM. CycleULM-E2E's
  map is MBT-Net's trajectory density (it has no localizations), scaled to the same total N;
  a method without localizations has no map (NaN, a failed target);
* **throughput** of each stage and each pipeline, frames/s on this machine, one thread for
  everything (``torch.set_num_threads(1)`` and pyulm's own threads and BLAS pools,
  ``pyulm._parallel.limit_threads(1)``, so deconvolution does not fork or thread either; the
  SVD filter, common to all, excluded), in the steady state: each row's timed run follows an
  untimed call on its first 16 frames (model loading and checks, bf16 copies, numba's compile or
  cache load: once per process), whose wall time is recorded as ``first_call_s``;
* **precision**: the learned pipelines (and plain MBL-Net) run twice, ``precision="fp32"`` (the
  reference rows) and ``"bf16"`` (rows ``... (bf16)``, :mod:`pyulm.nn.cycleulm.precision`),
  scored the same way; the SR maps' N is set by the fp32 and conventional rows.

The translators see the whole 400-frame acquisition in training (label-free); the scores use its
first ``--frames`` frames (the SVD filter runs on all 400).

    python benchmarks/bench_cycleulm.py --translators '/work/cycleulm_runs/mbdt_{density}' [--mbtnet DIR]
        [--quick | --frames N] [--densities low,medium,high] [--json docs/cycleulm_bench.json]
        [--plot docs/cycleulm_pr.png] [--maps docs/cycleulm_maps.png]
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

import pyulm
from pyulm.metrics import map_rmse, map_ssim, pooled_scores

from cycleulm_curves import (CURVE_CAP, PERMISSIVE, PURE, SCORE, UNCAPPED, curve, default_from_permissive,
                             same_localizations, top_per_frame)

MAX_DISTANCE = 2.0  # px = λ/2 with the simulation's λ/4 pixels
RES = 4
PIPELINE_NAMES = ("cycleulm-ncc", "cycleulm-decon", "cycleulm-loc", "cycleulm-e2e", "baseline1", "baseline2")
PLAIN = ("ncc", "decon", "mblnet", "radial")
LOCALIZER = {"cycleulm-ncc": "ncc", "cycleulm-decon": "decon", "cycleulm-loc": "mblnet", "baseline1": "ncc",
             "baseline2": "decon"}


def contrast_resolution(gt, amp, mbonly) -> dict:
    """MIP CNR and isolated-bubble FWHM before and after MB-DT (:mod:`pyulm.nn.cycleulm.mbdt_eval`)."""
    from pyulm.nn.cycleulm.mbdt_eval import isolated_fwhm, mip_cnr

    out = {}
    for tag, frames in (("before", amp), ("after", mbonly)):
        c = mip_cnr(frames, gt)
        try:
            f = isolated_fwhm(frames, gt)
        except ValueError:  # a profile without a peak: the frames hold no bubble there (a failed translator)
            f = {"fwhm": [math.nan, math.nan], "n": 0}
        fz, fx = f["fwhm"]
        out[tag] = {"cnr_paper_db": c["mean_ratio_db"], "cnr_db": c["cnr_db"], "fwhm_z": fz, "fwhm_x": fx,
                    "fwhm": math.sqrt(fz * fx), "n_bubbles": f["n"]}
    out["cnr_gain_db"] = out["after"]["cnr_paper_db"] - out["before"]["cnr_paper_db"]
    out["fwhm_shrink"] = out["before"]["fwhm"] / out["after"]["fwhm"]
    return out


def sr_map(locs, shape, sigma=1.0):
    """Blurred count map (localizations per SR pixel, Gaussian σ = ``sigma`` SR pixels)."""
    from scipy.ndimage import gaussian_filter

    m = pyulm.render(locs, res=RES, shape=shape, kinds="density_all")["density_all"]
    return gaussian_filter(m, sigma)


def with_total(m, total):
    """``m`` scaled to hold ``total`` localizations (NaN when ``m`` is empty: nothing to compare)."""
    m = np.asarray(m, float)
    return m * (total / m.sum()) if m.sum() > 0 else np.full(m.shape, np.nan)


def normalised(m):
    m = np.asarray(m, float)
    return m / m.max() if m.max() > 0 else m


def top(locs, n, score):
    """The ``n`` most confident localizations (highest ``score``)."""
    if len(locs) <= n:
        return locs
    keep = np.sort(np.argsort(-np.asarray(locs[score], float), kind="stable")[:n])
    return locs.select(keep)


def general_mblnet_threshold() -> float:
    """The shipped general MBL-Net's own decode threshold (its config.json; the plain row's default)."""
    from pyulm.nn.weights_io import SHIPPED

    return float(json.loads((SHIPPED / "mblnet" / "config.json").read_text())["decode"].get("threshold", 0.5))


def wants_curve(row: str) -> bool:
    """Rows whose curve is computed: every float32 row, and CycleULM-NCC's bf16 row (its target); the other bf16
    rows' scores are within 0.004 of their float32 rows', and they are not plotted."""
    return not row.endswith(BF16) or row == "cycleulm-ncc" + BF16


def permissive_pipeline_run(name, iq, out, translator, fwhm, n_part, n_cap, precision):
    """The permissive run of pipeline ``name``'s localizer on the frames its default run ``out``
    translated or thresholded (no second translation): ``(the curve's localizations, whether the
    permissive run filtered at the default threshold is ``out``'s localizations)`` (None where the
    knob is not a pure threshold and the permissive run is separate)."""
    from pyulm.nn.cycleulm.pipelines import pipeline_localizer

    method = LOCALIZER[name]
    method, loc_fwhm, opts = pipeline_localizer(name, iq, translator=translator, fwhm=fwhm, batch_size=16,
                                                device="cpu", precision=precision,
                                                localizer_options=dict(PERMISSIVE[method]))
    if method in PURE:
        dflt = pipeline_localizer(name, iq, translator=translator, device="cpu")[2].get(PURE[method][0])
        perm = pyulm.localize(out.frames, method, fwhm=loc_fwhm, number_of_particles=UNCAPPED, **opts)
        same = same_localizations(default_from_permissive(method, perm, n_part, dflt), out.localizations)
        return top_per_frame(perm, n_cap, SCORE[method]), same
    return pyulm.localize(out.frames, method, fwhm=loc_fwhm, number_of_particles=n_cap, **opts), None


BF16 = " (bf16)"


def first_frames(acq, n_frames: int) -> tuple:
    """The first ``n_frames`` of an acquisition: (IQ (z, x, n) contiguous, their ground truth, the most
    bubbles in one of those frames: every localizer's ``number_of_particles``)."""
    iq = np.ascontiguousarray(acq.iq[:, :, :n_frames])
    gt = acq.gt.select(np.nonzero(acq.gt.frame < n_frames)[0])
    return iq, gt, int(np.bincount(gt.frame, minlength=n_frames).max())


def evaluate(density, translator, mbtnet, n_frames, log, precisions=("fp32", "bf16")) -> dict:
    from scipy.ndimage import gaussian_filter

    from pyulm.denoise import bradley_roth
    from pyulm.nn.cycleulm import ceus_acquisition, run_pipeline
    from pyulm.nn.cycleulm.translate import translate

    acq = ceus_acquisition(density, seed=0)
    iq, gt, n_part = first_frames(acq, n_frames)
    shape = iq.shape[:2]
    amp = np.abs(iq).astype(np.float64)
    fwhm = acq.psf_fwhm
    common = dict(fwhm=fwhm, number_of_particles=n_part, frame_rate=acq.frame_rate, pixel_size=acq.pixel_size,
                  res=RES, max_linking_distance=2.0, batch_size=16, device="cpu")
    res = {"density": density, "n_frames": n_frames, "shape": list(shape), "n_gt": len(gt),
           "n_per_frame_max": n_part, "psf_fwhm": list(fwhm), "methods": {}, "throughput": {}}
    first_translate = first_call(lambda: translate(iq[:, :, :WARM_FRAMES], translator, batch_size=16, device="cpu"))
    t0 = time.perf_counter()
    mbonly = translate(iq, translator, batch_size=16, device="cpu")
    t_tr = time.perf_counter() - t0
    res["contrast"] = contrast_resolution(gt, amp, mbonly)
    res["throughput"]["mbdt (translate)"] = n_frames / t_tr
    t0 = time.perf_counter()
    bradley_roth(amp)
    res["throughput"]["bradley_roth"] = n_frames / (time.perf_counter() - t0)
    log(f"  {density}: CNR {res['contrast']['cnr_gain_db']:+.1f} dB, FWHM x{res['contrast']['fwhm_shrink']:.2f}")

    locsets, permsets, maps = {}, {}, {}
    res["first_call_s"] = {"mbdt (translate)": first_translate}  # each row's untimed warm-up call (see first_call)
    res["curve_cap_per_frame"] = n_cap = CURVE_CAP * n_part
    res["derived_default_matches_run"] = {}  # the pipelines' default runs against their permissive runs filtered
    runs = [(m, "fp32") for m in PLAIN] + [("mblnet", p) for p in precisions if p != "fp32"]
    for m, prec in runs:
        row = m + (BF16 if prec == "bf16" else "")
        kw = {"psf": "gaussian"} if m == "ncc" else {"device": "cpu", "precision": prec} if m == "mblnet" else {}
        res["first_call_s"][row] = first_call(lambda: pyulm.localize(amp[:, :, :WARM_FRAMES], m, fwhm=fwhm,
                                                                     number_of_particles=n_part, **kw))
        t0 = time.perf_counter()
        if m in PURE:  # one uncapped permissive run: the default row is it filtered at the default threshold
            perm = pyulm.localize(amp, m, fwhm=fwhm, number_of_particles=UNCAPPED, **kw, **PERMISSIVE[m])
            res["throughput"][f"{row} (localize |IQ|)"] = n_frames / (time.perf_counter() - t0)
            dflt = general_mblnet_threshold() if m == "mblnet" else None
            locsets[row] = default_from_permissive(m, perm, n_part, dflt)
            if wants_curve(row):
                permsets[row] = top_per_frame(perm, n_cap, SCORE[m])
        else:
            locsets[row] = pyulm.localize(amp, m, fwhm=fwhm, number_of_particles=n_part, **kw)
            res["throughput"][f"{row} (localize |IQ|)"] = n_frames / (time.perf_counter() - t0)
            permsets[row] = pyulm.localize(amp, m, fwhm=fwhm, number_of_particles=n_cap, **kw, **PERMISSIVE[m])
        log(f"  {density}: {row} done")
    runs = [(n, p) for n in PIPELINE_NAMES for p in (precisions if n.startswith("cycleulm") else ("fp32",))]
    for name, prec in runs:
        tr = translator if name.startswith("cycleulm") else None
        row = name + (BF16 if prec == "bf16" else "")
        kw = {"precision": prec} if tr else {}
        if name == "cycleulm-e2e" and mbtnet is False:
            continue
        extra = {"mbtnet_weights": mbtnet} if name == "cycleulm-e2e" else {}
        res["first_call_s"][row] = first_call(lambda: run_pipeline(iq[:, :, :WARM_FRAMES], name, translator=tr,
                                                                   **common, **kw, **extra))
        if name == "cycleulm-e2e":
            out = run_pipeline(iq, name, translator=tr, mbtnet_weights=mbtnet, **common, **kw)
            maps[row] = gaussian_filter(out.maps["MatOut"], 1.0)  # MBT-Net's trajectory density
        else:
            out = run_pipeline(iq, name, translator=tr, **common, **kw)
            locsets[row] = out.localizations
            if not wants_curve(row):
                same = None
            else:
                permsets[row], same = permissive_pipeline_run(name, iq, out, tr, fwhm, n_part, n_cap, prec)
            if same is not None:
                res["derived_default_matches_run"][row] = same
                if not same:
                    log(f"  WARNING {density}: {row}: the permissive run filtered at the default threshold "
                        "differs from the default run")
        res["throughput"][row] = n_frames / out.seconds
        res["stages"] = res.get("stages", {})
        res["stages"][row] = {k: n_frames / v for k, v in out.timings.items() if v > 0}
        log(f"  {density}: {row} done ({n_frames / out.seconds:.1f} frames/s; first call on {WARM_FRAMES} frames "
            f"{res['first_call_s'][row]:.2f} s)")

    for m, locs in locsets.items():
        s = pooled_scores([(gt, locs)], MAX_DISTANCE)
        res["methods"][m] = {k: float(s[k]) for k in ("precision", "recall", "f1", "mean_error")}
        res["methods"][m]["n_loc"] = len(locs)
    p0 = res["methods"]["ncc"]["precision"] if "ncc" in res["methods"] else None  # the target's comparison point
    res["recall_at_ncc_precision"] = {"ncc_precision": p0}
    t0 = time.perf_counter()
    for m in permsets:
        c = curve([(gt, permsets[m])], SCORE[LOCALIZER.get(base_name(m), base_name(m))], MAX_DISTANCE,
                  at=() if p0 is None else (p0,))
        if p0 is not None:
            res["recall_at_ncc_precision"][m] = c["recall_at"][float(p0)]
        res["methods"][m]["curve"] = {k: v for k, v in c.items() if k != "recall_at"}
        res["methods"][m]["curve_n_loc"] = len(permsets[m])
    log(f"  {density}: curves scored in {time.perf_counter() - t0:.0f} s")
    counts = [len(v) for k, v in locsets.items() if len(v) and not k.endswith(BF16)]
    n_eq = min(counts) if counts else 0  # a method that found nothing has no map (NaN: it fails)
    ref = with_total(sr_map(gt, shape), n_eq)  # the ground truth at the same number of localizations
    res["n_equal_localizations"] = n_eq
    for m, locs in locsets.items():
        maps[m] = sr_map(top(locs, n_eq, SCORE[LOCALIZER.get(base_name(m), base_name(m))]), shape)
    for m, mp in maps.items():
        res["methods"].setdefault(m, {})
        mp = with_total(mp, n_eq)  # E2E's density scaled to the same mass; the others already hold n_eq
        ok = np.all(np.isfinite(mp))
        res["methods"][m]["sr_rmse"] = map_rmse(mp, ref) if ok else math.nan
        res["methods"][m]["sr_ssim"] = map_ssim(mp, ref, data_range=float(ref.max())) if ok else math.nan
    res["targets"] = targets(res)
    res["_maps"] = {"gt": ref, **maps, "mip_before": amp.max(2), "mip_after": mbonly.max(2)}
    return res


#: Frames of the untimed warm-up call that precedes each row's timed run (enough for E2E's 8-frame windows)
WARM_FRAMES = 16


def first_call(fn) -> float:
    """Run ``fn`` once, untimed by the throughput, and return its wall time (s): model loading and
    verification, bf16 copies, numba's compile or cache load, which a process pays once, not per
    frame; the row's frames/s then measures the steady state, for every row alike."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def base_name(row: str) -> str:
    """The method of a row ("cycleulm-ncc (bf16)" -> "cycleulm-ncc")."""
    return row[:-len(BF16)] if row.endswith(BF16) else row


def targets(r) -> dict:
    M = r["methods"]
    c = r["contrast"]
    # the paper's CNR (20 log10 of the ratio of the means); a non-finite gain (MB-DT's output black where
    # the background is measured) is a failure
    out = {"mbdt_cnr_gain_ge_6db": (c["cnr_gain_db"], math.isfinite(c["cnr_gain_db"]) and c["cnr_gain_db"] >= 6.0),
           "mbdt_fwhm_shrink_ge_1.8": (c["fwhm_shrink"], c["fwhm_shrink"] >= 1.8)}
    for sfx in ("", BF16):  # each precision's learned rows against the same conventional rows
        rows = {m: v for m, v in M.items()
                if not m.startswith(("cycleulm", "mblnet")) or m.endswith(BF16) == (sfx == BF16)}
        out.update(_method_targets(rows, r["throughput"], sfx, r.get("recall_at_ncc_precision", {})))
    return out


def _method_targets(M, T, sfx, rap) -> dict:
    out = {}
    if "cycleulm-ncc" + sfx in rap and "ncc" in rap:
        # both recalls along the permissive runs' sweeps, at NCC's default precision (equal precision)
        r0 = rap["ncc"]
        ratio = rap["cycleulm-ncc" + sfx] / r0 if r0 > 0 else math.inf
        out["cycleulm_ncc_recall_at_ncc_precision_ge_1.2x" + sfx] = (ratio, ratio >= 1.2)
    f1 = {m: v["f1"] for m, v in M.items() if "f1" in v}
    if "cycleulm-loc" + sfx in f1:
        best = max(f1, key=f1.get)
        out["cycleulm_loc_best_f1" + sfx] = (f1["cycleulm-loc" + sfx], best == "cycleulm-loc" + sfx)
    base = min(M[b]["sr_rmse"] for b in ("baseline1", "baseline2"))
    for v in ("cycleulm-ncc", "cycleulm-decon", "cycleulm-loc", "cycleulm-e2e"):
        if v + sfx in M and "sr_rmse" in M[v + sfx]:
            out[f"{v}_sr_rmse_below_baselines" + sfx] = (M[v + sfx]["sr_rmse"], M[v + sfx]["sr_rmse"] < base)
    if "cycleulm-e2e" + sfx in T:
        sp = T["cycleulm-e2e" + sfx] / T["baseline2"]
        out["e2e_5x_faster_than_baseline2" + sfx] = (sp, sp >= 5.0)
    return out


def print_tables(all_res):
    for r in all_res:
        c = r["contrast"]
        print(f"\n== density {r['density']} ({r['n_frames']} frames, {r['n_gt']} true bubbles, "
              f"<= {r['n_per_frame_max']} per frame, PSF FWHM {r['psf_fwhm'][0]:.2f} x {r['psf_fwhm'][1]:.2f} px)")
        print(f"{'':8}{'CNR paper dB':>13}{'CNR (std) dB':>14}{'FWHM z':>8}{'FWHM x':>8}{'bubbles':>8}")
        for tag in ("before", "after"):
            v = c[tag]
            print(f"{tag:8}{v['cnr_paper_db']:13.1f}{v['cnr_db']:14.1f}{v['fwhm_z']:8.2f}{v['fwhm_x']:8.2f}{v['n_bubbles']:8d}")
        print(f"MB-DT: CNR {c['cnr_gain_db']:+.1f} dB, FWHM {c['fwhm_shrink']:.2f}x smaller")
        print(f"{'method':22}{'precision':>10}{'recall':>8}{'F1':>7}{'err px':>8}{'n_loc':>8}"
              f"{'SR RMSE':>9}{'SSIM':>7}{'frames/s':>10}")
        for m, v in r["methods"].items():
            fps = r["throughput"].get(m, r["throughput"].get(f"{m} (localize |IQ|)", math.nan))
            row = "".join(f"{v[k]:{w}.3f}" if k in v else " " * (w - 1) + "-"
                          for k, w in (("precision", 10), ("recall", 8), ("f1", 7), ("mean_error", 8)))
            print(f"{m:22}{row}{v.get('n_loc', 0):8d}{v['sr_rmse']:9.4f}{v['sr_ssim']:7.3f}{fps:10.1f}")
        print("stages (frames/s): " + "; ".join(f"{n}: " + ", ".join(f"{k} {x:.0f}" for k, x in s.items())
                                             for n, s in r.get("stages", {}).items()))
        rap = r.get("recall_at_ncc_precision", {})
        if rap.get("ncc_precision") is not None:
            print(f"recall at NCC's precision {rap['ncc_precision']:.3f} (permissive sweeps, <= {r['curve_cap_per_frame']}"
                  " per frame): " + ", ".join(f"{m} {x:.3f}" for m, x in rap.items() if m != "ncc_precision"))
        print("targets:")
        for k, (val, ok) in r["targets"].items():
            print(f"  {'PASS' if ok else 'FAIL'}  {k}: {val:.3g}")


def markdown(all_res) -> str:
    """The tables as markdown (docs/cycleulm.md)."""
    out = ["| density | CNR before (paper / std) dB | CNR after | gain | FWHM before z x x px | after | shrink |",
           "|---|---|---|---|---|---|---|"]
    for r in all_res:
        c = r["contrast"]
        b, a = c["before"], c["after"]
        out.append(f"| {r['density']} | {b['cnr_paper_db']:.1f} / {b['cnr_db']:.1f} | {a['cnr_paper_db']:.1f} / "
                   f"{a['cnr_db']:.1f} | **{c['cnr_gain_db']:+.1f}** | {b['fwhm_z']:.2f} x {b['fwhm_x']:.2f} | "
                   f"{a['fwhm_z']:.2f} x {a['fwhm_x']:.2f} | **{c['fwhm_shrink']:.2f}x** |")
    for r in all_res:
        out += ["", f"**{r['density']}** ({r['n_frames']} frames, {r['n_gt']} true bubbles, N = "
                f"{r['n_equal_localizations']} localizations per SR map)", "",
                "| method | precision | recall | F1 | mean error (px) | SR RMSE | SR SSIM | frames/s |",
                "|---|---|---|---|---|---|---|---|"]
        for m, v in r["methods"].items():
            fps = r["throughput"].get(m, r["throughput"].get(f"{m} (localize |IQ|)", math.nan))
            cells = [f"{v[k]:.{4 if k == 'sr_rmse' else 3}f}" if k in v and math.isfinite(v[k]) else "-"
                     for k in ("precision", "recall", "f1", "mean_error", "sr_rmse", "sr_ssim")]
            out.append(f"| {m} | " + " | ".join(cells) + f" | {fps:.1f} |")
    rows = [m for m in all_res[0].get("recall_at_ncc_precision", {}) if m != "ncc_precision"]
    if rows:
        out += ["", "Recall at NCC's precision, along each method's sweep of its permissive run (at most "
                f"{CURVE_CAP} x N detections a frame):", "",
                "| method | " + " | ".join(f"{r['density']} (precision {r['recall_at_ncc_precision']['ncc_precision']:.3f})"
                                          for r in all_res) + " |", "|---|" + "---|" * len(all_res)]
        for m in rows:
            out.append(f"| {m} | " + " | ".join(f"{r['recall_at_ncc_precision'][m]:.3f}"
                                                if m in r["recall_at_ncc_precision"] else "-" for r in all_res) + " |")
    out += ["", "| target | " + " | ".join(r["density"] for r in all_res) + " |",
            "|---|" + "---|" * len(all_res)]
    for k in all_res[0]["targets"]:
        cells = []
        for r in all_res:
            val, ok = r["targets"].get(k, (math.nan, False))
            cells.append(f"{'PASS' if ok else 'FAIL'} ({val:.3g})")
        if k == "mbdt_cnr_gain_ge_6db":  # the paper's CNR (ratio of the means); pyulm's std-normalised one beside it
            out.append(f"| {k} (paper's CNR: ratio of the means, dB) | " + " | ".join(cells) + " |")
            out.append("| (beside it, not the target) pyulm's std-normalised CNR gain, dB | " + " | ".join(
                f"{r['contrast']['after']['cnr_db'] - r['contrast']['before']['cnr_db']:+.1f}" for r in all_res) + " |")
            continue
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    stages = all_res[0].get("stages", {})
    if stages:
        out += ["", "| pipeline | " + " | ".join(f"stages, frames/s ({r['density']})" for r in all_res) + " |",
                "|---|" + "---|" * len(all_res)]
        for name in stages:
            out.append(f"| {name} | " + " | ".join(", ".join(f"{k} {x:.0f}" for k, x in r["stages"].get(name, {}).items())
                                                  for r in all_res) + " |")
    return "\n".join(out) + "\n"


def plot(all_res, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(all_res), figsize=(5 * len(all_res), 8), squeeze=False)
    for j, r in enumerate(all_res):
        for m, v in r["methods"].items():
            if "curve" not in v or m.endswith(BF16):  # the bf16 rows lie on the fp32 ones (tables)
                continue
            style = "-" if m.startswith("cycleulm") else "--" if m.startswith("baseline") else ":"
            line, = axes[0, j].plot(v["curve"]["recall"], v["curve"]["precision"], style, label=m)
            axes[1, j].plot(v["curve"]["recall"], v["curve"]["mean_error"], style, label=m)
            # the table's row: the default operating point (the curves come from permissive runs)
            axes[0, j].plot(v["recall"], v["precision"], "o", color=line.get_color(), ms=4)
            axes[1, j].plot(v["recall"], v["mean_error"], "o", color=line.get_color(), ms=4)
        p0 = r.get("recall_at_ncc_precision", {}).get("ncc_precision")  # None without an NCC row
        if p0 is not None:
            axes[0, j].axhline(p0, color="0.6", lw=0.8)
        axes[0, j].set(title=f"density {r['density']}", xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1))
        axes[1, j].set(xlabel="recall", ylabel="mean error (px, λ/4)", xlim=(0, 1))
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"CycleULM threshold sweeps of permissive runs (one matcher, ≤ {MAX_DISTANCE:g} px); dots: "
                 "default operating points (table rows); grey line: NCC's precision", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plot_maps(r, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = ["mip_before", "mip_after", "gt", "baseline1", "baseline2", "cycleulm-ncc", "cycleulm-decon",
             "cycleulm-loc", "cycleulm-e2e"]
    names = [n for n in names if n in r["_maps"]]
    cols = (len(names) + 1) // 2
    fig, axes = plt.subplots(2, cols, figsize=(3 * cols, 6.4))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, n in zip(axes.ravel(), names):
        ax.imshow(np.sqrt(normalised(r["_maps"][n])), cmap="hot")  # square root: faint vessels visible
        ax.set_title({"mip_before": "MIP |IQ|", "mip_after": "MIP after MB-DT", "gt": "ground truth"}.get(n, n),
                     fontsize=9)
    fig.suptitle(f"density {r['density']}: MIPs and SR maps (equal count N = {r['n_equal_localizations']}, "
                 f"res {RES}, sqrt scale)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--translators", required=True, help="MB-DT model directory per density, '{density}' replaced")
    ap.add_argument("--mbtnet", default=None, help="MBT-Net model directory (default the shipped one); 'none' skips E2E")
    ap.add_argument("--densities", default="low,medium,high")
    ap.add_argument("--quick", action="store_true", help="30 frames per density instead of --frames")
    ap.add_argument("--frames", type=int, default=100,
                    help="first frames of each 400-frame acquisition evaluated (default 100: deconvolution on "
                         "thresholded or MB-only frames costs ~1 s a frame on one core)")
    ap.add_argument("--precision", choices=("fp32", "bf16", "both"), default="both",
                    help="arithmetic of the learned pipelines; both: fp32 rows and '(bf16)' rows")
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=None, help="precision-recall / error-recall figure (PNG)")
    ap.add_argument("--maps", default=None, help="MIP and SR maps figure of the last density (PNG)")
    ap.add_argument("--markdown", default=None, help="write the tables as markdown to this file")
    a = ap.parse_args(argv)
    import torch

    from pyulm._parallel import limit_threads

    torch.set_num_threads(1)
    n_frames = 30 if a.quick else a.frames
    if not 8 <= n_frames <= 400:
        ap.error(f"--frames: expected 8 to 400 (the acquisition's length), got {n_frames}")
    mbtnet = False if a.mbtnet == "none" else a.mbtnet
    precisions = ("fp32", "bf16") if a.precision == "both" else (a.precision,)
    all_res = []
    for d in a.densities.split(","):
        print(f"density {d} ...", flush=True)
        with limit_threads(1):  # one thread for every step, deconvolution's chunks included
            all_res.append(evaluate(d, a.translators.format(density=d), mbtnet, n_frames,
                                    lambda s: print(s, flush=True), precisions))
    print_tables(all_res)
    if a.plot:
        plot(all_res, a.plot)
    if a.maps:
        plot_maps(all_res[-1], a.maps)
    if a.markdown:
        Path(a.markdown).write_text(markdown(all_res))
    if a.json:
        clean = [{k: v for k, v in r.items() if k != "_maps"} for r in all_res]
        Path(a.json).write_text(json.dumps({"max_distance_px": MAX_DISTANCE, "res": RES, "threads": 1,
                                            "results": clean}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
