"""``pyulm train mblnet|3dml --config FILE --out DIR [--resume]``: train a learned
localizer on pyulm.sim data (needs torch)."""
from __future__ import annotations

import shlex
import sys


def register(subparsers):
    p = subparsers.add_parser(
        "train", help="train a learned localizer (mblnet, 3dml) on simulated data",
        description="Train MBL-Net or 3DML-ResNet on pyulm.sim data generated on the fly, driven by a TOML "
                    "config ([model], [data], [train] tables; see docs/nn.md). DIR receives checkpoint.pt after "
                    "every epoch, log.jsonl with validation metrics, and at the end a model directory usable "
                    "as weights=DIR.")
    p.add_argument("architecture", choices=["mblnet", "3dml", "deepstulm", "fus2ulm"], help="network to train")
    p.add_argument("--model", choices=["pix2pix", "mhvae", "diffusion"], help="fus2ulm only: which model (docs/fus2ulm.md)")
    p.add_argument("--config", required=True, metavar="FILE", help="training config (TOML)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="print only the per-epoch summaries")
    p.set_defaults(func=run)


def run(args) -> int:
    from . import CLIError

    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        raise CLIError("training needs PyTorch: pip install torch (or pip install pyulm[nn])") from None
    command = "pyulm " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None

    def log(msg):
        if not args.quiet or msg.startswith(("epoch ", "done", "resumed")) and " step " not in msg:
            print(msg, flush=True)

    if args.architecture == "fus2ulm":  # fUS -> ULM image models (pyulm/cli/fus2ulm.py)
        from .fus2ulm import train_command

        return train_command(args, command, log)
    if args.model is not None:
        raise CLIError(f"--model applies to fus2ulm only, not to {args.architecture}")
    if args.architecture == "deepstulm":  # its own trainer: track maps, two phases (docs/deepstulm.md)
        from ..nn.deepstulm.config import load_config as load_ds
        from ..nn.deepstulm.train import train as train_ds

        train_ds(load_ds(args.config), args.out, resume=args.resume, command=command, log=log)
        return 0
    from ..nn.train import load_config, train

    cfg = load_config(args.config)
    train(args.architecture, cfg, args.out, resume=args.resume, command=command, log=log)
    return 0
