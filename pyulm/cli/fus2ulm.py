"""``pyulm fus2ulm INPUT --weights DIR --out FILE``: raise the resolution of a fUS
(power Doppler) image towards ULM with a trained model (needs torch).

Training is ``pyulm train fus2ulm --model pix2pix|mhvae|diffusion --config FILE --out DIR``
(:func:`train_command`); pairs come from ``pyulm simulate --pairs N OUT.npz``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import CLIError

OUT_SUFFIXES = (".npy", ".tif", ".tiff", ".png", ".mat")


def register(subparsers):
    p = subparsers.add_parser(
        "fus2ulm", help="enhance a fUS (power Doppler) image towards ULM with a trained model",
        description="Apply a fUS -> ULM model (Pix2Pix, MHVAE or diffusion; see docs/fus2ulm.md) to one image. "
                    "INPUT: .mat (--variable), .tif, .npy or .png; a grayscale display image in [0, 1] "
                    "or, with --power-doppler, raw power Doppler. The output is the predicted log-ULM image "
                    "in [0, 1] at the model's size.")
    p.add_argument("input", type=Path, help="fUS image file")
    p.add_argument("--weights", type=Path, help="model directory (default: the shipped diffusion model)")
    p.add_argument("--out", type=Path, required=True, help=f"output file ({', '.join(OUT_SUFFIXES)})")
    p.add_argument("--variable", help="variable of a .mat INPUT holding the image")
    p.add_argument("--power-doppler", action="store_true", help="INPUT is raw power Doppler (converted to dB)")
    p.add_argument("--steps", type=int, help="diffusion: DDIM steps (default: the model's)")
    p.add_argument("--stride", type=int, help="diffusion: sliding-window spacing in pixels (default: the model's)")
    p.add_argument("--seed", type=int, help="diffusion: noise seed (default: the model's)")
    p.add_argument("--samples", type=int,
                   help="diffusion: sampled trajectories averaged, an estimate of the posterior mean (default: the model's)")
    p.add_argument("--eta", type=float, help="diffusion: DDIM stochasticity in [0, 1] (default: the model's)")
    p.add_argument("--device", help="cpu, cuda, ... (default CUDA when available)")
    p.set_defaults(func=run)


def _write(path: Path, image: np.ndarray) -> None:
    from .._fileutil import atomic_path

    suf = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suf == ".npy":
            with open(tmp, "wb") as fh:
                np.save(fh, image)
        elif suf in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, image.astype(np.float32))
        elif suf == ".png":
            from PIL import Image

            Image.fromarray(np.round(image * 65535).astype(np.uint16)).save(tmp, format="PNG")
        else:
            from scipy.io import savemat

            with open(tmp, "wb") as fh:
                savemat(fh, {"ULMpred": image.astype(np.float64)})


def run(args) -> int:
    suf = args.out.suffix.lower()
    if suf not in OUT_SUFFIXES:
        raise CLIError(f"--out {args.out}: unsupported type {suf!r}; expected one of {', '.join(OUT_SUFFIXES)}")
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        raise CLIError("fus2ulm needs PyTorch: pip install torch (or pip install pyulm[nn])") from None
    from ..nn.fus2ulm import enhance
    from ..nn.fus2ulm.data import read_image

    image = read_image(args.input, args.variable, what="INPUT")
    out = enhance(image, args.weights, power_doppler=args.power_doppler, steps=args.steps, stride=args.stride,
                  seed=args.seed, samples=args.samples, eta=args.eta, device=args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    _write(args.out, out)
    print(f"pyulm fus2ulm: wrote {args.out} ({out.shape[0]} x {out.shape[1]})")
    return 0


def train_command(args, command: str | None, log) -> int:
    """``pyulm train fus2ulm --model KIND --config FILE --out DIR [--resume]`` (called by ``pyulm train``)."""
    from ..nn.fus2ulm.train import load_config, train

    cfg = load_config(args.config, args.model)
    train(cfg, args.out, resume=args.resume, command=command, config_text=Path(args.config).read_text(), log=log)
    return 0


def simulate_pairs_command(args) -> int:
    """``pyulm simulate OUT.npz --pairs N [--seed S] [--pair-size 128]`` (called by ``pyulm simulate``)."""
    from ..sim.doppler import save_pairs, simulate_pairs

    others = [f"--{k.replace('_', '-')}" for k in ("config", "size", "frames", "blocks", "concentration",
                                                    "injection_rate", "max_velocity", "fwhm", "snr", "clutter",
                                                    "format") if getattr(args, k, None) is not None]
    if others:
        raise CLIError(f"--pairs: {', '.join(others)} do not apply to fUS/ULM pairs (use --seed, --pair-size)")
    if args.out.suffix != ".npz":
        raise CLIError(f"--pairs: OUT must be a .npz file, got {args.out}")
    seed = 0 if args.seed is None else args.seed
    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_pairs(args.out, simulate_pairs(args.pairs, seed, size=args.pair_size))
    print(f"pyulm simulate: wrote {args.pairs} fUS/ULM pairs ({args.pair_size} x {args.pair_size}, seed {seed}) "
          f"to {args.out}")
    return 0
