"""Deep-stULM vs the conventional pipeline on held-out vessel networks.

For ``--networks`` random vessel trees (seeds from their own base, never used
in training, validation or model selection), simulates one acquisition of
``--frames`` frames of 64 x 64 pixels (λ/4 sampling, the shipped model's
transducer PSF, SNR 25 dB, peak velocity 10 mm/s) at each of four bubble
concentrations: the paper's 1 / 5 / 10 / 20 MB per mm³ taken through a 1 mm
slab (the paper's 1 mm³ sub-volumes are imaged in projection), i.e. 1 / 5 /
10 / 20 bubbles per mm² of image. Then:

* **Deep-stULM**: ``pyulm.nn.track_maps`` (shipped model and settings);
* **conventional** (PALA settings): ``pyulm.localize(..., "radial")`` with
  ``fwhm`` = the true PSF FWHM rounded up to odd pixels (3, 5), and ``number_of_particles`` = the largest true bubble count of
  a frame, ``pyulm.track`` (Hungarian, max_linking_distance 2 px, no gap
  closing, min_length 15, PALA's smoothing and interpolation), the track points
  counted on the same r-times finer grid;
* **ground truth**: the simulated trajectories of the same acquisition.

Every map is binarised (> 0) and scored against the reference angiogram of the
network: the union of all simulated trajectories of its four acquisitions (the
paper's "angiogram generated from all simulated MBs"). Pooled over networks:
precision, recall, Dice; Dice against acquisition length (prefixes of whole
64-frame blocks); inference throughput.

    python benchmarks/bench_deepstulm.py [--networks 3] [--frames 1280] [--json out.json] [--figures docs]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np

import pyulm
from pyulm.nn.deepstulm.data import trajectory_map
from pyulm.nn.deepstulm.modeldir import load_model_dir
from pyulm.sim import density_map, random_network, simulate

CONCENTRATIONS = (1.0, 5.0, 10.0, 20.0)  # bubbles per mm^2 of image = MB per mm^3 x 1 mm
PAPER = {  # Table II of the paper: (precision, recall, Dice) in %, ground truth / expert / Deep-stULM
    1.0: ((100, 35, 52), (90, 33, 48), (96, 40, 56)), 5.0: ((100, 63, 77), (74, 63, 70), (87, 67, 78)),
    10.0: ((100, 78, 88), (70, 64, 67), (81, 82, 81)), 20.0: ((100, 89, 94), (67, 63, 65), (58, 92, 71)),
}
SEED0 = 16_160_000  # benchmark networks and acquisitions: disjoint from the training seed namespaces
METHODS = ("ground truth", "conventional", "deepstulm")


def rng(*index):
    return np.random.default_rng(np.random.SeedSequence([SEED0, *index]))


def acquisition(net, shape, n_frames, conc, psf, k, i):
    return simulate(shape, n_frames, network=net, concentration=conc, max_velocity=10.0, psf=psf, snr_db=25.0,
                    seed=rng(k, 1, i))


def gt_map(sim, r, n_frames=None):
    gt = sim.gt
    keep = np.ones(len(gt), bool) if n_frames is None else gt.frame < n_frames
    return trajectory_map(gt.z[keep], gt.x[keep], gt.frame[keep], gt["bubble_id"][keep], sim.shape, r)


def conventional(sim, psf, r, lengths):
    """Binary maps of the conventional pipeline on the first ``L`` frames, for each L; and its wall time."""
    t0 = time.perf_counter()
    counts = np.bincount(sim.gt.frame, minlength=sim.n_frames)
    # PALA's scripts set ULM.fwhm in whole pixels: the PSF's FWHM rounded up to odd pixels
    fwhm = tuple(int(2 * np.ceil((f - 1) / 2) + 1) for f in psf.fwhm)
    locs = pyulm.localize(sim.iq, "radial", fwhm=fwhm, number_of_particles=int(max(1, counts.max())))
    maps = {}
    for L in lengths:
        tr = pyulm.track(locs, max_linking_distance=2.0, max_gap_closing=0, min_length=15, mode="interp", res=r,
                         n_frames=int(L))
        maps[L] = density_map((tr.column("z"), tr.column("x")), sim.shape, r) > 0
    return maps, time.perf_counter() - t0


def deepstulm(sim, lengths, weights):
    t0 = time.perf_counter()
    _, blocks, starts = pyulm.nn.track_maps(sim.iq, weights=weights, return_blocks=True)
    wall = time.perf_counter() - t0
    nt = load_model_dir(weights)[1]["model"].n_frames
    return {L: blocks[starts + nt <= L].any(0) for L in lengths}, wall


def tally(pred, ref):
    tp = int(np.sum(pred & ref))
    return np.array([tp, int(pred.sum()) - tp, int(ref.sum()) - tp])  # TP, FP, FN


def prd(t):
    tp, fp, fn = (int(v) for v in t)
    return {"precision": tp / (tp + fp) if tp + fp else 0.0, "recall": tp / (tp + fn) if tp + fn else 0.0,
            "dice": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0}


def run(n_networks, n_frames, weights=None, shape=(64, 64), log=print):
    model_cfg = load_model_dir(weights)[1]
    psf = model_cfg["data"].psf()
    r, nt = model_cfg["model"].r, model_cfg["model"].n_frames
    lengths = sorted({min(n_frames, nt * 2 ** j) for j in range(20) if nt * 2 ** (j - 1) < n_frames})
    tot = {(c, m, L): np.zeros(3, np.int64) for c in CONCENTRATIONS for m in METHODS for L in lengths}
    walls = {"conventional": [0.0, 0], "deepstulm": [0.0, 0]}
    examples = {}
    for k in range(n_networks):
        net = random_network(shape, n_roots=3, root_radius=1.0, min_radius=0.1, max_depth=6,
                             segment_length=(6.0, 20.0), seed=rng(k, 0))
        maps = {}
        for i, c in enumerate(CONCENTRATIONS):
            sim = acquisition(net, shape, n_frames, c, psf, k, i)
            maps[c] = {"ground truth": {L: gt_map(sim, r, L) for L in lengths}}
            maps[c]["conventional"], w = conventional(sim, psf, r, lengths)
            walls["conventional"][0] += w
            maps[c]["deepstulm"], w = deepstulm(sim, lengths, weights)
            walls["deepstulm"][0] += w
            for m in walls:
                walls[m][1] += n_frames
            log(f"network {k} concentration {c:g}/mm^2: {len(np.unique(sim.gt['bubble_id']))} bubbles, "
                f"{len(sim.gt) / n_frames:.1f} per frame")
        ref = np.any([maps[c]["ground truth"][n_frames] for c in CONCENTRATIONS], axis=0)
        for c in CONCENTRATIONS:
            for m in METHODS:
                for L in lengths:
                    tot[(c, m, L)] += tally(maps[c][m][L], ref)
        if k == 0:
            examples = {"reference": ref, **{f"{m} {c:g}": maps[c][m][n_frames] for c in CONCENTRATIONS
                                             for m in METHODS}}
    res = {"lengths": lengths, "r": r, "n_frames_per_window": nt, "networks": n_networks, "frames": n_frames,
           "shape": list(shape),
           "scores": {f"{c:g}": {m: prd(tot[(c, m, n_frames)]) for m in METHODS} for c in CONCENTRATIONS},
           "dice_vs_length": {f"{c:g}": {m: [prd(tot[(c, m, L)])["dice"] for L in lengths] for m in METHODS}
                              for c in CONCENTRATIONS},
           "frames_per_s": {m: walls[m][1] / walls[m][0] for m in walls}}
    res["length_for_conventional_final_dice"] = {
        f"{c:g}": frames_to_reach(lengths, res["dice_vs_length"][f"{c:g}"]["deepstulm"],
                                  res["dice_vs_length"][f"{c:g}"]["conventional"][-1]) for c in CONCENTRATIONS}
    return res, examples


def frames_to_reach(lengths, curve, target):
    """Acquisition length (frames) at which ``curve`` first reaches ``target``, linear
    between the measured lengths; None when it never does.

    >>> frames_to_reach([64, 128, 256], [0.1, 0.3, 0.5], 0.4)
    192.0
    """
    for k, (L, d) in enumerate(zip(lengths, curve)):
        if d >= target:
            if k == 0:
                return float(L)
            L0, d0 = lengths[k - 1], curve[k - 1]
            return float(L0 + (target - d0) / (d - d0) * (L - L0))
    return None


def report(res):
    lines = ["| concentration (MB/mm³ → bubbles/mm²) | method | precision | recall | Dice | paper P / R / Dice (%) |",
             "|---|---|---|---|---|---|"]
    for c in CONCENTRATIONS:
        for j, m in enumerate(METHODS):
            s = res["scores"][f"{c:g}"][m]
            p = PAPER[c][j]
            lines.append(f"| {c:g} | {m} | {s['precision']:.3f} | {s['recall']:.3f} | {s['dice']:.3f} | "
                         f"{p[0]} / {p[1]} / {p[2]} |")
    lines += ["", "Dice against acquisition length (frames: " + ", ".join(map(str, res["lengths"])) + ")"]
    for c in CONCENTRATIONS:
        for m in METHODS:
            lines.append(f"  {c:g}/mm² {m:13s} " + " ".join(f"{d:.3f}" for d in res["dice_vs_length"][f"{c:g}"][m]))
        n = res["length_for_conventional_final_dice"][f"{c:g}"]
        lines.append(f"  {c:g}/mm² frames Deep-stULM needs for the conventional final Dice: "
                     + ("never" if n is None else f"{n:.0f} of {res['frames']} ({res['frames'] / n:.2f}x shorter)"))
    lines.append("frames/s: " + ", ".join(f"{m} {v:.0f}" for m, v in res["frames_per_s"].items()))
    return "\n".join(lines)


def figures(res, examples, outdir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    out = Path(outdir)
    fig, axes = plt.subplots(len(CONCENTRATIONS), 4, figsize=(10, 10.5))
    for i, c in enumerate(CONCENTRATIONS):
        s = res["scores"][f"{c:g}"]
        panels = [("reference (all trajectories)", examples["reference"], None)]
        panels += [(m, examples[f"{m} {c:g}"], s[m]["dice"]) for m in METHODS]
        for ax, (name, img, dice) in zip(axes[i], panels):
            ax.imshow(img, cmap="gray_r", interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(name + ("" if dice is None else f"\nDice {dice:.2f} (pooled)"), fontsize=8)
        axes[i][0].set_ylabel(f"{c:g} bubbles/mm²")
    fig.tight_layout()
    fig.savefig(out / "deepstulm_maps.png", dpi=110)
    plt.close(fig)
    fig, axes = plt.subplots(1, len(CONCENTRATIONS), figsize=(12, 3.2), sharey=True)
    for ax, c in zip(axes, CONCENTRATIONS):
        for m, style in zip(METHODS, ("k:", "C0-o", "C3-s")):
            ax.plot(res["lengths"], res["dice_vs_length"][f"{c:g}"][m], style, label=m, ms=4)
        ax.set_xscale("log", base=2)
        ax.set_title(f"{c:g} bubbles/mm²")
        ax.set_xlabel("acquisition length (frames)")
    axes[0].set_ylabel("Dice vs reference angiogram")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "deepstulm_dice_vs_length.png", dpi=110)
    plt.close(fig)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", type=int, default=3)
    ap.add_argument("--frames", type=int, default=1280)
    ap.add_argument("--weights", default=None, help="model directory (default: the shipped model)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads")
    ap.add_argument("--json", default=None)
    ap.add_argument("--report", default=None, metavar="JSON", help="only print the report (and figures) of a "
                    "saved --json result (the maps figure needs a run)")
    ap.add_argument("--figures", default=None, metavar="DIR", help="write deepstulm_maps.png and "
                    "deepstulm_dice_vs_length.png there")
    a = ap.parse_args(argv)
    if a.threads:
        import torch

        torch.set_num_threads(a.threads)
    if a.report:
        with open(a.report) as f:
            res = json.load(f)
        res["length_for_conventional_final_dice"] = {
            k: frames_to_reach(res["lengths"], v["deepstulm"], v["conventional"][-1])
            for k, v in res["dice_vs_length"].items()}
        print(report(res))
        return
    res, ex = run(a.networks, a.frames, a.weights)
    print(report(res))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    if a.figures:
        figures(res, ex, a.figures)


if __name__ == "__main__":
    main()
