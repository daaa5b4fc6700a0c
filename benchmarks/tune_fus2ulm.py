"""Choose the fUS → ULM diffusion model's inference options on a VALIDATION set (docs/fus2ulm.md,
"Inference options").

The validation pairs come from a seed namespace that neither training and the poster's test
split (``simulate_pairs(35, 20260)``) nor the benchmark's held-out set (``20261``) use:
``simulate_pairs(N, 20262)``. For each (DDIM steps, η, window stride) of the grid, ``K``
trajectories are sampled per pair (``pyulm.nn.fus2ulm.diffusion.trajectories``) and the
averages of the first 1, 2, 4, … of them are scored (for η = 0 these are ``samples=k``; for
η > 0 the same in distribution, the noise being drawn in another order) like the benchmark (MSE, SSIM, PSNR,
FRC against ULM, thinnest vessel; ``bench_fus2ulm.score``). Pix2Pix and the MHVAE are
scored on the same pairs for the SSIM target.

Selection rule (fixed before the results were seen): the highest mean per-pair FRC gain;
options within ``--tie`` (0.05) of it count as tied and the one with the fewest network
evaluations per image wins; its validation SSIM must be ≥ Pix2Pix's and the MHVAE's.

    python benchmarks/tune_fus2ulm.py [--pairs 20] [--val-pairs FILE.npz] [--json OUT] [--cache DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fus2ulm import pair_set, score  # noqa: E402

VALIDATION_SEED = 20262
#: (steps, eta, stride, K): K trajectories sampled, averages of the first 1, 2, 4, ... scored
GRID = [(1, 0.0, 32, 8), (5, 0.0, 32, 8), (10, 0.0, 32, 8), (25, 0.0, 32, 8), (25, 1.0, 32, 8),
        (1, 0.0, 16, 4), (5, 0.0, 16, 4)]


def choose(rows: dict, baselines: dict, tie: float) -> str:
    """Name of the chosen option set under the selection rule (module docstring)."""
    ssim_floor = max(b["ssim"][0] for b in baselines.values())
    ok = {k: r for k, r in rows.items() if r["ssim"][0] >= ssim_floor}
    if not ok:
        raise RuntimeError("no option set reaches the baselines' validation SSIM")
    best = max(r["frc_gain"][0] for r in ok.values())
    tied = [k for k, r in ok.items() if r["frc_gain"][0] >= best - tie]
    return min(tied, key=lambda k: (ok[k]["evaluations"], -ok[k]["frc_gain"][0]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=20, help=f"validation pairs (seed {VALIDATION_SEED})")
    ap.add_argument("--val-pairs", type=Path, help="a pair file to use instead of simulating the validation set")
    ap.add_argument("--tie", type=float, default=0.05, help="FRC-gain difference counted as a tie")
    ap.add_argument("--cache", type=Path, help="keep each grid point's trajectories here (resumable)")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)

    import torch

    from pyulm.nn.fus2ulm import model_dir, sliding
    from pyulm.nn.fus2ulm.diffusion import trajectories
    from pyulm.nn.fus2ulm.inference import predict

    torch.set_num_threads(1)
    fus, ulm = pair_set(args.val_pairs, args.pairs, VALIDATION_SEED)
    res = {"set": {"n": len(fus), "seed": VALIDATION_SEED if not args.val_pairs else str(args.val_pairs)},
           "rule": f"max mean FRC gain; ties within {args.tie}: fewest network evaluations; SSIM >= baselines'",
           "fUS (input)": score("fUS", fus, fus, ulm), "baselines": {}, "diffusion": {}}
    for kind in ("pix2pix", "mhvae"):
        k, m, _ = model_dir.load(model_dir.shipped(kind), "cpu")
        res["baselines"][kind] = score(kind, [predict(m, k, f) for f in fus], fus, ulm)
    _, model, _ = model_dir.load(model_dir.shipped("diffusion"), "cpu")
    for steps, eta, stride, K in GRID:
        cf = args.cache / f"s{steps}_e{eta}_st{stride}.npy" if args.cache else None
        if cf is not None and cf.exists() and np.load(cf, mmap_mode="r").shape[1] >= K:
            tr = np.load(cf)
        else:
            tr = np.stack([trajectories(model, f * 2 - 1, steps=steps, eta=eta, stride=stride, samples=K, seed=0)
                           for f in fus])
            if cf is not None:
                cf.parent.mkdir(parents=True, exist_ok=True)
                np.save(cf, tr)
        windows = len(sliding.positions(fus.shape[1:], model.cfg.patch, stride))
        k = 1
        while k <= K:
            name = f"steps={steps} eta={eta:g} stride={stride} samples={k}"
            r = score("diffusion", ((tr[:, :k].mean(1) + 1) / 2).clip(0, 1), fus, ulm)
            r |= {"steps": steps, "eta": eta, "stride": stride, "samples": k, "evaluations": steps * k * windows}
            res["diffusion"][name] = r
            print(f"{name:40s} FRC {r['frc'][0]:.2f} px (x{r['frc_gain'][0]:.3f})  SSIM {r['ssim'][0]:.4f}  "
                  f"MSE {r['mse'][0]:.4f}  PSNR {r['psnr'][0]:.2f}  thinnest {r['width'][0]:.2f} px", flush=True)
            k *= 2
    res["chosen"] = choose(res["diffusion"], res["baselines"], args.tie)
    print("chosen:", res["chosen"])
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
