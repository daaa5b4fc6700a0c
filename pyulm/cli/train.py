"""``pyulm train ARCH ... --out DIR [--resume]``: train a learned model (needs torch).

mblnet, 3dml, deepstulm, fus2ulm, mbtnet and pgd train on simulated data (``--config FILE``);
mbdt (CycleULM's domain translator) trains self-supervised on the user's own acquisitions
(``pyulm train mbdt ACQUISITION... --out DIR [--roi Z0:Z1,X0:X1] [--config FILE]``).
Each architecture's trainer lives with its model; this module only parses and dispatches."""
from __future__ import annotations

import shlex


def register(subparsers):
    p = subparsers.add_parser(
        "train", help="train a learned localizer (mblnet, 3dml) on simulated data",
        description="Train MBL-Net or 3DML-ResNet on pyulm.sim data generated on the fly, driven by a TOML "
                    "config ([model], [data], [train] tables; see docs/nn.md). DIR receives checkpoint.pt after "
                    "every epoch, log.jsonl with validation metrics, and at the end a model directory usable "
                    "as weights=DIR.")
    p.add_argument("architecture", choices=["mblnet", "3dml", "deepstulm", "fus2ulm", "mbdt", "mbtnet", "pgd"],
                   help="network to train")
    p.add_argument("inputs", nargs="*", metavar="ACQUISITION", help="mbdt only: the acquisitions to train on")
    p.add_argument("--roi", metavar="Z0:Z1,X0:X1", help="mbdt only: region of the frames to train on (pixels)")
    p.add_argument("--model", choices=["pix2pix", "mhvae", "diffusion"], help="fus2ulm only: which model (docs/fus2ulm.md)")
    p.add_argument("--config", metavar="FILE", help="training config (TOML); optional for mbdt, required otherwise")
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
    # the arguments main() parsed, not sys.argv: called in-process (pytest, a notebook, the MATLAB
    # worker) sys.argv is the host program's command line
    argv = getattr(args, "argv", None)
    command = "pyulm " + " ".join(shlex.quote(a) for a in argv) if argv else None

    def log(msg):
        if not args.quiet or msg.startswith(("epoch ", "done", "resumed")) and " step " not in msg:
            print(msg, flush=True)

    if args.architecture != "mbdt":
        if args.inputs or args.roi is not None:
            raise CLIError(f"ACQUISITION and --roi apply to mbdt only, not to {args.architecture}")
        if args.config is None:
            raise CLIError(f"pyulm train {args.architecture} needs --config FILE")
    if args.architecture in ("mbdt", "mbtnet", "pgd"):  # CycleULM and PgD trainers (docs/cycleulm.md, docs/pgd.md)
        import importlib

        module = {"mbdt": "..nn.cycleulm.mbdt_cli", "mbtnet": "..nn.cycleulm.mbtnet_cli", "pgd": "..nn.pgd.cli"}
        if args.model is not None:
            raise CLIError(f"--model applies to fus2ulm only, not to {args.architecture}")
        return importlib.import_module(module[args.architecture], __package__).train_command(args, command, log)
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
