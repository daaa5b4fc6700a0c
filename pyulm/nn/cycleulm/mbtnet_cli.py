"""``pyulm train mbtnet --config FILE --out DIR [--resume]`` (called by :mod:`pyulm.cli.train`)."""
from __future__ import annotations

from pathlib import Path


def train_command(args, command: str | None, log) -> int:
    """Train MBT-Net as configured (docs/cycleulm_mbtnet.md); user errors become one ``CLIError`` line."""
    from ...cli import CLIError
    from .mbtnet_train import load_config, train

    try:
        cfg = load_config(args.config)
        out = Path(args.out)
        if not args.resume and (out / "checkpoint.pt").exists():
            raise ValueError(f"--out {out} already holds a training run (checkpoint.pt): pass --resume to continue "
                             f"it or choose another directory")
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out} exists and is not a directory")
        train(cfg, out, resume=args.resume, command=command, config_text=Path(args.config).read_text(), log=log)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(f"pyulm train mbtnet: {exc}") from None
    return 0
