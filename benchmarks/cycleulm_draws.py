"""MB-DT draws on validation data (issue 14): label-free ranking scores, and averaging several draws.

MB-DT is a GAN: the same config trained on near-identical input gives translators of very different
downstream quality (docs/cycleulm_mbdt.md). Given several trained translators per density
(``--translators NAME=PATTERN``, repeatable, ``{density}`` replaced), this script asks two questions
on the validation acquisitions (:func:`pyulm.nn.cycleulm.ceus_acquisition`, seeds >= 1000, never the
test seeds 0-99):

1. **Ranking without labels.** Three scores from the translated frames alone:

   * ``ratio``: the label-free check's score, ``-|log(peaks per frame / domain's mean count)|``
     (:mod:`pyulm.nn.cycleulm.mbdt_check`);
   * ``persistence``: peaks (the check's strict maxima >= 0.05 x the frame maximum) that have a peak
     within 2 px in the previous or next frame (bubbles move less than that between frames; noise
     peaks do not) make an F1-like proxy: precision = persistent / all peaks, recall = min(1,
     persistent peaks per frame / the domain's mean count).

   * ``check``: the whole label-free check, count and heights (``-check_distance`` of
     :func:`pyulm.nn.cycleulm.mbdt_check.check_translation` with the translator's domain PSF and
     intensity range): the larger of the two log-distances, as ``[train] restarts`` ranks attempts.

   Each is compared, by Spearman's rank correlation within each density, with CycleULM-NCC's F1 on
   the same frames (one matcher, 2 px; computed here) and, with ``--table``, with a table of mean
   validation F1 per draw (rows ``[name, density, ..., f1_ncc, f1_decon, f1_loc]`` as the last three
   entries, e.g. the one behind docs/cycleulm_mbdt.md).
2. **Averaging draws.** CycleULM-NCC's F1 on the mean of the MB-only frames of every ``--ensemble``-sized
   subset of the draws (NCC's template: the draws' mean MB-only FWHM), against a single draw.

    python benchmarks/cycleulm_draws.py --translators 'today=/work/cycleulm_runs/mbdt_{density}' \\
        --translators 'auto=/work/cycleulm_runs/auto/mbdt_{density}' ... --table table_all.json --json out.json
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np

MAX_DISTANCE = 2.0
#: a peak is persistent when the previous or next frame has a peak within this many pixels
PERSIST_GATE = 2.0


def _peak_positions(mb) -> list:
    """Positions (z, x) of the check's peaks, per frame."""
    from pyulm.nn.cycleulm.mbdt_check import peak_mask

    m = peak_mask(mb)
    return [np.argwhere(m[:, :, t]).astype(float) for t in range(m.shape[2])]


def label_free_scores(mb, domain_per_frame: float) -> dict:
    """``ratio`` and ``persistence`` scores of translated frames (see the module docstring)."""
    from scipy.spatial import cKDTree

    from pyulm.nn.cycleulm.mbdt_check import distance_from_one

    pk = _peak_positions(mb)
    n = np.array([len(p) for p in pk], float)
    trees = [cKDTree(p) if len(p) else None for p in pk]
    persistent = 0
    for t, p in enumerate(pk):
        ok = np.zeros(len(p), bool)
        for u in (t - 1, t + 1):
            if len(p) and 0 <= u < len(pk) and trees[u] is not None:
                ok |= np.isfinite(trees[u].query(p, distance_upper_bound=PERSIST_GATE)[0])
        persistent += int(ok.sum())
    ratio = n.mean() / domain_per_frame
    prec = persistent / max(n.sum(), 1.0)
    rec = min(1.0, persistent / len(pk) / domain_per_frame)
    return {"ratio": -distance_from_one(ratio), "persistence": 2 * prec * rec / max(prec + rec, 1e-12),
            "peak_ratio": float(ratio)}


def whole_check(result: dict) -> dict:
    """The ``check`` score (``-check_distance(result)``) and the height ratio of one check result (NaN for an empty
    domain, which the check judges by the count alone)."""
    from pyulm.nn.cycleulm.mbdt_check import check_distance

    return {"check": -float(check_distance(result)), "height_ratio": float(result.get("height_ratio", float("nan")))}


def density_report(density, named, seeds, n_frames, ensemble, table) -> dict:
    from scipy.stats import spearmanr

    from bench_cycleulm import first_frames  # beside this file (run from benchmarks/, as its siblings)

    import pyulm
    from pyulm.metrics import pooled_scores
    from pyulm.nn.cycleulm import ceus_acquisition
    from pyulm.nn.cycleulm.mbdt_check import check_translation, domain_intensity, domain_per_frame
    from pyulm.nn.cycleulm.mbdt_dir import read_model_config
    from pyulm.nn.cycleulm.pipelines import translator_fwhm
    from pyulm.nn.cycleulm.translate import translate

    acqs = [first_frames(ceus_acquisition(density, seed=seed), n_frames) for seed in seeds]
    mbs, fwhm, scores = {}, {}, {}
    for name, pattern in named:
        w = pattern.format(density=density)
        cfg = read_model_config(w)
        nb, patch = cfg["training"]["n_bubbles"], cfg["patch"]
        mbs[name] = [translate(iq, w, device="cpu", check_psf=False) for iq, _, _ in acqs]
        fwhm[name] = np.asarray(translator_fwhm(w), float)
        per = [{**label_free_scores(mb, domain_per_frame(nb, patch, mb.shape)),
                **whole_check(check_translation(mb, nb, patch, fwhm=cfg["psf"]["domain_b_fwhm"],
                                                intensity=domain_intensity(cfg)))}
               for mb in mbs[name]]
        scores[name] = {k: float(np.mean([s[k] for s in per])) for k in per[0]}

    def ncc_f1(names):
        sets = []
        for i, (_, gt, n) in enumerate(acqs):
            mb = np.mean([mbs[k][i] for k in names], axis=0)
            loc = pyulm.localize(mb, "ncc", fwhm=tuple(np.mean([fwhm[k] for k in names], axis=0)),
                                 number_of_particles=n, psf="gaussian")
            sets.append((gt, loc))
        return float(pooled_scores(sets, MAX_DISTANCE)["f1"])

    names = [n for n, _ in named]
    single = {k: ncc_f1([k]) for k in names}
    targets = {"cycleulm_ncc_f1": single}
    if table is not None:
        targets["table_mean_f1"] = {k: float(np.mean(table[(k, density)])) for k in names if (k, density) in table}
    rho = {t: {s: float(spearmanr([scores[k][s] for k in v], [v[k] for k in v])[0])
               for s in ("ratio", "persistence", "check")}
           for t, v in targets.items() if len(v) > 2}
    out = {"scores": scores, "cycleulm_ncc_f1": single, "spearman": rho,
           "single_mean": float(np.mean(list(single.values()))), "single_best": max(single.values())}
    if 1 < ensemble <= len(names):
        avg = [ncc_f1(list(c)) for c in itertools.combinations(names, ensemble)]
        out["ensemble"] = {"size": ensemble, "subsets": len(avg), "mean": float(np.mean(avg)),
                           "min": float(np.min(avg)), "max": float(np.max(avg)), "all": ncc_f1(names)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--translators", action="append", required=True,
                    help="NAME=MB-DT model directory per density, '{density}' replaced (repeat, >= 3)")
    ap.add_argument("--densities", default="low,medium,high")
    ap.add_argument("--seeds", default="1000,1001")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--ensemble", type=int, default=3, help="subset size averaged (0: none)")
    ap.add_argument("--table", default=None, help="JSON rows [name, density, ..., f1_ncc, f1_decon, f1_loc]")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    seeds = [int(s) for s in a.seeds.split(",")]
    if min(seeds) < 1000:
        ap.error("--seeds: validation seeds are >= 1000 (0-99 are the test acquisitions)")
    named = []
    for t in a.translators:
        if "=" not in t:
            ap.error(f"--translators: expected NAME=PATTERN, got {t!r}")
        named.append(tuple(t.split("=", 1)))
    if len(named) < 3:
        ap.error("--translators: give at least 3 draws (a rank correlation needs them)")
    table = None
    if a.table:
        table = {(r[0], r[1]): [float(x) for x in r[-3:]] for r in json.loads(Path(a.table).read_text())}
    import torch

    from pyulm._parallel import limit_threads

    torch.set_num_threads(1)
    out = {}
    with limit_threads(1):
        for d in a.densities.split(","):
            r = out[d] = density_report(d, named, seeds, a.frames, a.ensemble, table)
            print(f"{d}: Spearman with the draws' F1 (ratio / persistence / check): "
                  + "; ".join(f"{t} {v['ratio']:+.2f} / {v['persistence']:+.2f} / {v['check']:+.2f}"
                              for t, v in r["spearman"].items()))
            print(f"  CycleULM-NCC F1, one draw: mean {r['single_mean']:.3f}, best {r['single_best']:.3f}"
                  + (f"; mean of {r['ensemble']['size']} draws: mean {r['ensemble']['mean']:.3f} "
                     f"(min {r['ensemble']['min']:.3f}, max {r['ensemble']['max']:.3f}, {r['ensemble']['subsets']} "
                     f"subsets), all {len(named)}: {r['ensemble']['all']:.3f}" if "ensemble" in r else ""), flush=True)
            for k in r["scores"]:
                print(f"    {k:12} peak ratio {r['scores'][k]['peak_ratio']:.2f}  persistence "
                      f"{r['scores'][k]['persistence']:.3f}  height ratio {r['scores'][k]['height_ratio']:.2f}  "
                      f"NCC F1 {r['cycleulm_ncc_f1'][k]:.3f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"translators": dict(named), "seeds": seeds, "frames": a.frames,
                                            "results": out}, indent=1) + "\n")


if __name__ == "__main__":
    main()
