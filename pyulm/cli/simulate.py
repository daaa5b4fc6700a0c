"""``pyulm simulate OUT [--config FILE.toml] [flags]``: synthetic ULM blocks.

Writes ``OUT/sim_block_001.mat`` (PALA-style: IQ, UF, PData, GT 1-based
[z x frame id]) and/or ``OUT/sim_block_001.h5`` per block, plus
``OUT/vessels.npy`` (the lumen mask at 10x) and ``OUT/config.json``.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import CLIError
from .._optional import require, toml


def register(subparsers):
    p = subparsers.add_parser("simulate", help="write synthetic ULM acquisitions with ground truth",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path, help="output directory (created)")
    p.add_argument("--config", type=Path, help="TOML file (see docs/simulation.md); flags override it")
    p.add_argument("--size", type=int, nargs=2, metavar=("NZ", "NX"), help="field size, pixels")
    p.add_argument("--frames", type=int, help="frames per block")
    p.add_argument("--blocks", type=int, help="number of blocks")
    p.add_argument("--seed", type=int)
    p.add_argument("--concentration", type=float, help="bubbles per mm^2 of field")
    p.add_argument("--injection-rate", type=float, help="bubbles per frame (instead of --concentration)")
    p.add_argument("--max-velocity", type=float, help="mm/s")
    p.add_argument("--fwhm", type=float, nargs=2, metavar=("FZ", "FX"), help="Gaussian PSF FWHM, pixels")
    p.add_argument("--snr", type=float, help="SNR in dB")
    p.add_argument("--clutter", type=float, help="tissue clutter in dB over bubbles")
    p.add_argument("--format", choices=["mat", "h5", "both"], help="output format (default both)")
    p.add_argument("--pairs", type=int, metavar="N", help="write N fUS/ULM image pairs to OUT (.npz) instead "
                   "(docs/fus2ulm.md; uses --seed, --pair-size)")
    p.add_argument("--pair-size", type=int, default=128, metavar="S", help="--pairs: images of S x S (poster: 512)")
    p.set_defaults(func=run)


def _load(args) -> dict:
    data = {}
    if args.config is not None:
        try:
            data = toml().loads(Path(args.config).read_text())
        except toml().TOMLDecodeError as exc:
            raise CLIError(f"{args.config}: not valid TOML: {exc}") from None
    flags = {
        "shape": args.size, "n_frames": args.frames, "n_blocks": args.blocks, "seed": args.seed,
        "concentration": args.concentration, "injection_rate": args.injection_rate,
        "max_velocity": args.max_velocity, "snr_db": args.snr, "clutter_db": args.clutter,
    }
    data.update({k: v for k, v in flags.items() if v is not None})
    if args.fwhm is not None:
        data.setdefault("psf", {}).update({"kind": "gaussian", "fwhm": args.fwhm})
    if args.format is not None:
        data["formats"] = ["mat", "h5"] if args.format == "both" else [args.format]
    return data


def _mask(path: str):
    p = Path(path)
    if p.suffix == ".npy":
        return np.load(p)
    imread = require("skimage.io", "pyulm simulate --mask").imread

    img = imread(p)
    return (img if img.ndim == 2 else img[..., 0]) > 0


def run(args) -> int:
    if args.pairs is not None:  # fUS/ULM pairs: pyulm/cli/fus2ulm.py
        from .fus2ulm import simulate_pairs_command

        return simulate_pairs_command(args)
    from ..sim import network_from_mask, random_network, simulate
    from ..sim.config import parse_config

    cfg = parse_config(_load(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    psf = cfg.psf.build()
    rng = np.random.default_rng(cfg.seed)
    net_rng, *block_rngs = rng.spawn(1 + cfg.n_blocks)
    n = cfg.network
    if n.mask:
        net = network_from_mask(_mask(n.mask), res=n.mask_res)
    else:
        net = random_network(cfg.shape, n_roots=n.n_roots, root_radius=n.root_radius, min_radius=n.min_radius,
                             max_depth=n.max_depth, seed=net_rng)
    written = []
    for b, brng in enumerate(block_rngs, start=1):
        sim = simulate(
            cfg.shape, cfg.n_frames, network=net, concentration=cfg.concentration, injection_rate=cfg.injection_rate,
            max_velocity=cfg.max_velocity, psf=psf, intensity=cfg.intensity, intensity_jitter=cfg.intensity_jitter,
            snr_db=cfg.snr_db, clutter_db=cfg.clutter_db, frame_rate=cfg.frame_rate, seed=brng,
        )
        if "mat" in cfg.formats:
            written.append(sim.save_mat(out / f"sim_block_{b:03d}.mat"))
        if "h5" in cfg.formats:
            written.append(sim.save_h5(out / f"sim_block_{b:03d}.h5"))
    np.save(out / "vessels.npy", net.mask(cfg.shape, 10))
    (out / "config.json").write_text(json.dumps(cfg.model_dump(), indent=2))
    print(f"pyulm simulate: wrote {len(written)} block file(s) to {out}")
    return 0
