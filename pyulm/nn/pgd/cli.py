"""``pyulm train pgd --config FILE --out DIR [--resume] [--quiet]`` (called by ``pyulm train``; docs/pgd.md)."""
from __future__ import annotations

from pathlib import Path


def train_command(args, command: str | None, log) -> int:
    """Train PgD as configured by ``args.config`` into ``args.out``; config errors become one CLI error."""
    from ...cli import CLIError
    from .train import load_config, train

    try:
        cfg = load_config(args.config)
    except (ValueError, FileNotFoundError) as exc:
        raise CLIError(str(exc)) from None
    out = Path(args.out)
    if args.resume and not (out / "checkpoint.pt").is_file():
        raise CLIError(f"--resume: {out / 'checkpoint.pt'} does not exist (start without --resume)")
    train(cfg, out, resume=args.resume, command=command, config_text=Path(args.config).read_text(), log=log)
    return 0
