"""``pyulm train mbdt ACQUISITION... --out DIR [--roi Z0:Z1,X0:X1] [--config FILE] [--resume]``."""
from __future__ import annotations


def train_command(args, command: str | None, log) -> int:
    """Called by ``pyulm train`` (pyulm/cli/train.py); user errors become one-line CLIErrors."""
    from ...cli import CLIError
    from .mbdt_train import train_mbdt

    if not args.inputs:
        raise CLIError("pyulm train mbdt needs at least one ACQUISITION file (the frames to learn from)")
    try:
        train_mbdt(list(args.inputs), args.out, roi=args.roi, config=args.config, resume=args.resume,
                   command=command, log=log)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    return 0
