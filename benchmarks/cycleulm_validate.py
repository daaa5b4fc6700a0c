"""CycleULM's choices made on validation data only (issue 14): never the test seeds 0-99.

Validation acquisitions are :func:`pyulm.nn.cycleulm.ceus_acquisition` blocks with seeds >= 1000
(default 1000 and 1001, first 200 frames), translated by the density's MB-DT translator (trained
label-free on the test acquisition, as a lab would translate its next acquisitions), scored by the
one matcher (:func:`pyulm.metrics.pooled_scores`, <= 2 px), pooled over the seeds. For each set of
translators it reports the MB-DT contrast/resolution targets and the precision, recall and F1 of
CycleULM-NCC, -Decon and -Loc, CycleULM-Loc once per candidate MBL-Net and per decode threshold,
and NCC on |IQ| (the reference of the recall-at-precision target, measured as the benchmark does:
along sweeps of permissive runs, :mod:`cycleulm_curves`). The rules that pick among the
candidates are written in docs/cycleulm.md ("Choices made on validation data").

    python benchmarks/cycleulm_validate.py --translators '/work/cycleulm_runs/mbdt_{density}' \\
        --mblnet shipped,pyulm/nn/weights/mblnet_mbonly --json docs/cycleulm_validation.json
"""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

import pyulm
from pyulm.metrics import pooled_scores

from cycleulm_curves import CURVE_CAP, PERMISSIVE, SCORE, UNCAPPED, curve, default_from_permissive, top_per_frame

MAX_DISTANCE = 2.0
#: MBL-Net decode thresholds scored on MB-only frames (0.01-0.04 added 2026-12-05; below 0.05, the decoder's
#: candidate floor, they keep what 0.05 keeps: every presence maximum above 0.05)
THRESHOLDS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def scores(sets) -> dict:
    s = pooled_scores(sets, MAX_DISTANCE)
    return {k: round(float(s[k]), 4) for k in ("precision", "recall", "f1", "mean_error")}


def validate_density(density, translator, mblnets, seeds, n_frames, precision="fp32") -> dict:
    from bench_cycleulm import contrast_resolution

    from pyulm.nn.cycleulm import ceus_acquisition
    from pyulm.nn.cycleulm.modelkeys import translator_fwhm
    from pyulm.nn.cycleulm.translate import translate

    fw = translator_fwhm(translator)
    sets: dict = {}
    curve_sets: dict = {}
    contrast = []
    for seed in seeds:
        acq = ceus_acquisition(density, seed=seed)
        iq = np.ascontiguousarray(acq.iq[:, :, :n_frames])
        gt = acq.gt.select(np.nonzero(acq.gt.frame < n_frames)[0])
        n = int(np.bincount(gt.frame, minlength=n_frames).max())
        amp = np.abs(iq)
        mb = translate(iq, translator, device="cpu", precision=precision)
        contrast.append(contrast_resolution(gt, amp.astype(np.float64), mb))
        runs = {}
        for name, x, f in (("ncc", amp, acq.psf_fwhm), ("cycleulm-ncc", mb, fw)):
            # the permissive run (bench_cycleulm's curves): the default row is it filtered at NCC's threshold
            perm = pyulm.localize(x, "ncc", fwhm=f, number_of_particles=UNCAPPED, psf="gaussian", **PERMISSIVE["ncc"])
            runs[name] = default_from_permissive("ncc", perm, n)
            curve_sets.setdefault(name, []).append((gt, top_per_frame(perm, CURVE_CAP * n, SCORE["ncc"])))
        runs["cycleulm-decon"] = pyulm.localize(mb, "decon", fwhm=fw, number_of_particles=n)
        for name in mblnets:
            w = None if name == "shipped" else name
            loose = pyulm.localize(mb, "mblnet", weights=w, number_of_particles=n, device="cpu", precision=precision,
                                   threshold=min(THRESHOLDS))
            runs[f"cycleulm-loc [{name}]"] = pyulm.localize(mb, "mblnet", weights=w, number_of_particles=n,
                                                            device="cpu", precision=precision)
            for t in THRESHOLDS:  # the decode threshold only drops detections of lower probability
                runs[f"cycleulm-loc [{name}] t={t}"] = loose.select(np.flatnonzero(loose["probability"] > t))
        for k, v in runs.items():
            sets.setdefault(k, []).append((gt, v))
    out = {"contrast": {"cnr_gain_db": [round(c["cnr_gain_db"], 2) for c in contrast],
                        "fwhm_shrink": [round(c["fwhm_shrink"], 3) for c in contrast]},
           "methods": {k: scores(v) for k, v in sets.items()}}
    # issue 14's recall-at-NCC's-precision target, as the benchmark measures it (permissive sweeps, <= 2 N a frame)
    p0 = out["methods"]["ncc"]["precision"]
    rap = {k: curve(v, SCORE["ncc"], MAX_DISTANCE, at=(p0,))["recall_at"][p0] for k, v in curve_sets.items()}
    out["recall_at_ncc_precision"] = {"ncc_precision": p0, **{k: round(v, 4) for k, v in rap.items()},
                                      "ratio": round(rap["cycleulm-ncc"] / rap["ncc"], 4) if rap["ncc"] > 0 else None}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--translators", required=True, help="MB-DT model directory per density, '{density}' replaced")
    ap.add_argument("--mblnet", default="shipped", help="comma-separated MBL-Net model directories ('shipped')")
    ap.add_argument("--densities", default="low,medium,high")
    ap.add_argument("--seeds", default="1000,1001")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    if min(seeds) < 1000:
        ap.error("--seeds: validation seeds are >= 1000 (0-99 are the test acquisitions)")
    import torch

    from pyulm._parallel import limit_threads

    torch.set_num_threads(1)
    mblnets = a.mblnet.split(",")
    res = {}
    with limit_threads(1):
        for d in a.densities.split(","):
            res[d] = validate_density(d, a.translators.format(density=d), mblnets, seeds, a.frames)
            print(d, json.dumps(res[d]["contrast"]), "recall at NCC's precision:",
                  json.dumps(res[d]["recall_at_ncc_precision"]), flush=True)
            for k, v in res[d]["methods"].items():
                print(f"  {k:45} P {v['precision']:.3f} R {v['recall']:.3f} F1 {v['f1']:.3f} err {v['mean_error']:.3f}")
    means = {}
    for k in res[next(iter(res))]["methods"]:
        f = [res[d]["methods"][k]["f1"] for d in res]
        means[k] = round(float(np.mean(f)), 4) if all(math.isfinite(x) for x in f) else math.nan
    print("mean F1 over densities:", json.dumps(means, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps({"translators": a.translators, "seeds": seeds, "frames": a.frames,
                                            "max_distance_px": MAX_DISTANCE, "results": res, "mean_f1": means},
                                           indent=1) + "\n")


if __name__ == "__main__":
    main()
