"""fUS → ULM benchmark: MSE, SSIM, PSNR and resolution of Pix2Pix, MHVAE and the
conditional diffusion model (docs/fus2ulm.md).

Two test sets, neither ever used for training nor model selection:

* the poster's regime: the 5 test pairs of the 29 / 1 / 5 split of the 35 training
  pairs (``simulate_pairs(35, 20260)``, pairs 30–34);
* a larger held-out set: ``simulate_pairs(N, 20261)`` (another seed namespace).

Resolution, for the input fUS and each model's output (gains: fUS value / output value):

* FRC against the ULM target (threshold 1/7, :func:`pyulm.nn.fus2ulm.evaluation.frc_resolution_px`):
  the finest period (output pixels) at which the image still agrees with ULM — noise and
  invented vessels lower the correlation, so they cannot buy resolution;
* the width (FWHM) of the thinnest vessels — the 10th percentile of the cross-section widths
  measured along the image's ridges within 2 px of a ULM vessel
  (:func:`pyulm.nn.fus2ulm.evaluation.thinnest_width`).
LPIPS is not reported: the ``lpips`` package downloads its AlexNet/VGG backbone
from torchvision at run time (no package ships those weights).

The diffusion model runs with its model directory's ``inference`` defaults (chosen on a
validation set by ``benchmarks/tune_fus2ulm.py``); ``--diffusion-steps 25`` adds a row with
25 DDIM steps (the sampled, sharper output). The second shipped diffusion model,
``fus2ulm_diffusion_more`` (same network, trained on 299 pairs of seed 20263), is the row
``diffusion (fus2ulm_diffusion_more)``.

    python benchmarks/bench_fus2ulm.py [--models DIR ...] [--heldout 30] [--diffusion-steps N ...]
                                       [--json OUT] [--figure PNG]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _stats(rows, key):
    v = np.array([r[key] for r in rows], dtype=float)
    v = v[np.isfinite(v)]
    return [float(v.mean()), float(v.std())] if v.size else [float("nan"), float("nan")]


def seam_ratio(images, patch, stride):
    """Mean |step| between the two pixels on either side of a window edge over the mean |step|
    one pixel before and one after it (both axes): 1 when the windows leave no seam (a seam is
    a step at the edge line itself), whatever the local sharpness."""
    from pyulm.nn.fus2ulm.sliding import starts

    at, beside = [], []
    for img in images:
        for axis in (0, 1):
            d = np.abs(np.diff(np.asarray(img, float), axis=axis))
            n = img.shape[axis]
            st = starts(n, patch, stride)
            edges = sorted({s for s in st if s > 0} | {s + patch for s in st if s + patch < n})
            for e in edges:  # d[e - 1] is the step between pixels e - 1 and e
                at.append(np.take(d, e - 1, axis=axis).mean())
                beside.append(0.5 * (np.take(d, e - 2, axis=axis).mean() + np.take(d, e, axis=axis).mean()))
    return float(np.mean(at) / np.mean(beside))


def pair_set(path, n: int, seed: int):
    """(fus, ulm) stacks: read from a pair file (``pyulm simulate --pairs``) or ``simulate_pairs(n, seed)``."""
    from pyulm.sim.doppler import load_pairs, simulate_pairs

    if path:
        fus, ulm, _ = load_pairs(path)
        return fus, ulm
    ps = simulate_pairs(n, seed)
    return np.stack([p.fus for p in ps]), np.stack([p.ulm for p in ps])


def score(name, preds, fus, ulm):
    from scipy import ndimage

    from pyulm.nn.fus2ulm.evaluation import frc_resolution_px, image_metrics, thinnest_width

    rows = []
    for p, f, u in zip(preds, fus, ulm):
        m = image_metrics(p, u)
        near = ndimage.binary_dilation(u > 0.2, iterations=2)  # around the vessels ULM sees
        m["width"] = thinnest_width(p, mask=near)
        m["width_gain"] = thinnest_width(f, mask=near) / m["width"] if m["width"] > 0 else float("nan")
        m["frc"] = frc_resolution_px(p, u)
        m["frc_gain"] = frc_resolution_px(f, u) / m["frc"]
        rows.append(m)
    keys = ("mse", "ssim", "psnr", "frc", "frc_gain", "width", "width_gain")
    return {k: _stats(rows, k) for k in keys} | {"n": len(rows), "name": name}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="*", type=Path,
                    default=[ROOT / "pyulm/nn/weights" / f"fus2ulm_{k}"
                             for k in ("pix2pix", "mhvae", "diffusion", "diffusion_more")])
    ap.add_argument("--pairs", type=Path, help="the 35 training pairs (default: simulate them, seed 20260)")
    ap.add_argument("--heldout", type=int, default=30, help="held-out pairs (seed 20261)")
    ap.add_argument("--heldout-pairs", type=Path, help="a pair file to use instead of simulating the held-out set")
    ap.add_argument("--diffusion-steps", type=int, nargs="*", default=[],
                    help="also score the diffusion model with these DDIM step counts (rows 'diffusion (steps=N)')")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--figure", type=Path, help="side-by-side PNG of test pairs")
    args = ap.parse_args(argv)

    import torch

    from pyulm.nn.fus2ulm import model_dir
    from pyulm.nn.fus2ulm.evaluation import thinnest_width
    from pyulm.nn.fus2ulm.inference import inference_options, predict

    torch.set_num_threads(1)
    fus, ulm = pair_set(args.pairs, 35, 20260)
    test = {"fus": fus[30:35], "ulm": ulm[30:35]}
    hf, hu = pair_set(args.heldout_pairs, args.heldout, 20261)
    held = {"fus": hf, "ulm": hu}
    results = {"sets": {"test": len(test["fus"]), "heldout": len(hf)}, "models": {}}
    results["ulm_width"] = {s: _stats([{"w": thinnest_width(u)} for u in d["ulm"]], "w")
                            for s, d in (("test", test), ("heldout", held))}
    outputs = {"fUS (input)": test["fus"]}
    for s, d in (("test", test), ("heldout", held)):
        results["models"].setdefault("fUS (input)", {})[s] = score("fUS", d["fus"], d["fus"], d["ulm"])
    runs = []
    for mdir in args.models:
        kind, model, cfg = model_dir.load(mdir, "cpu")
        opts = inference_options(cfg)  # the model directory's (validated) defaults, as enhance uses them
        # a second model of a kind (e.g. fus2ulm_diffusion_more) gets its own row, named by its directory
        name = kind if all(r[1] != kind for r in runs) else f"{kind} ({Path(mdir).name})"
        runs.append((name, kind, model, opts))
        if kind == "diffusion":
            runs += [(f"{name} (steps={n})", kind, model, inference_options(cfg, steps=n)) for n in args.diffusion_steps]
    for name, kind, model, opts in runs:
        for s, d in (("test", test), ("heldout", held)):
            t0 = time.perf_counter()
            preds = [predict(model, kind, f, **opts) for f in d["fus"]]
            r = score(name, preds, d["fus"], d["ulm"])
            r["seconds_per_image"] = (time.perf_counter() - t0) / len(preds)
            results["models"].setdefault(name, {})[s] = r
            if kind == "diffusion":
                r["inference"] = opts
                r["seam_ratio"] = seam_ratio(preds, model.cfg.patch, opts["stride"] or model.cfg.patch // 2)
            if s == "test" and "(steps=" not in name:
                outputs[name] = np.stack(preds)
            print(f"{name:10s} {s:8s} MSE {r['mse'][0]:.4f}±{r['mse'][1]:.4f}  SSIM {r['ssim'][0]:.3f}±{r['ssim'][1]:.3f}"
                  f"  PSNR {r['psnr'][0]:.2f}±{r['psnr'][1]:.2f}  FRC {r['frc'][0]:.2f} px (x{r['frc_gain'][0]:.2f})"
                  f"  thinnest {r['width'][0]:.2f} px (x{r['width_gain'][0]:.2f})"
                  f"  ({r['seconds_per_image']:.1f} s/image)", flush=True)
    outputs["ULM (target)"] = test["ulm"]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if args.figure:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [0, 2, 4]
        fig, ax = plt.subplots(len(rows), len(outputs), figsize=(2.6 * len(outputs), 2.6 * len(rows)))
        for i, r in enumerate(rows):
            for j, (name, imgs) in enumerate(outputs.items()):
                ax[i, j].imshow(imgs[r], cmap="gray", vmin=0, vmax=1)
                ax[i, j].set_xticks([])
                ax[i, j].set_yticks([])
                if i == 0:
                    ax[i, j].set_title(name, fontsize=10)
        fig.tight_layout()
        fig.savefig(args.figure, dpi=80)
    return results


if __name__ == "__main__":
    main()
