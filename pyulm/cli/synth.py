"""``pyulm synth``: labelled microbubble frames for one probe, written as a PALA-style block.

    pyulm synth --params PROBE.toml --frames N --out BLOCK.mat [--shape Z,X] [--density D]
                [--seed S] [--snr DB] [--source pgd|physics] [--weights DIR] [--steps K]
    pyulm synth --verasonics WORKSPACE.mat [--params OVERRIDES.toml] --frames N --out BLOCK.mat ...

The block holds ``IQ``, ``UF``, ``PData`` (as PALA scripts read them) and the ground truth
in the same file: ``GT`` = [z x frame id] (1-based pixels and frames), ``GT_intensity`` and
``Synth`` (parameters, source, seed, weights); see docs/pgd.md. It is written atomically:
on any error no file is left.
"""
from __future__ import annotations

from pathlib import Path

from . import CLIError


def register(subparsers):
    p = subparsers.add_parser(
        "synth", help="synthesise labelled microbubble frames for a probe (PgD) as a PALA-style block",
        description="Generate N labelled microbubble frames for one imaging condition (a TOML parameter file or "
                    "a Verasonics workspace) with the PgD diffusion model or the physics simulator, and write "
                    "them with their ground truth (GT, GT_intensity, Synth) as a PALA-style .mat block.")
    src = p.add_argument_group("imaging condition (one of --params, --verasonics; both: --params overrides)")
    src.add_argument("--params", type=Path, metavar="FILE.toml",
                     help="physics parameters (fields of PhysicsParams, top level or [physics]); with "
                          "--verasonics: fields that replace or complete the workspace's (f_number)")
    src.add_argument("--verasonics", type=Path, metavar="WORKSPACE.mat",
                     help="read the parameters from a Verasonics workspace (Trans, TW, TX, PData, Resource)")
    p.add_argument("--frames", type=int, required=True, metavar="N", help="number of frames")
    p.add_argument("--out", type=Path, required=True, metavar="BLOCK.mat", help="output block (.mat)")
    p.add_argument("--shape", default="64,64", metavar="Z,X", help="frame size in pixels (default 64,64)")
    p.add_argument("--density", type=float, default=4.0, help="mean bubbles per frame (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of bubbles, sampler and noise (default 0)")
    p.add_argument("--snr", type=float, metavar="DB", help="add white noise: unit bubble SNR in dB (default: none)")
    p.add_argument("--source", choices=["pgd", "physics"], default="pgd",
                   help="render with the PgD model (default) or the physics simulator")
    p.add_argument("--weights", type=Path, metavar="DIR", help="PgD model directory (default: the shipped model)")
    p.add_argument("--steps", type=int, metavar="K", help="DDIM steps (default: the model's)")
    p.set_defaults(func=run)


def _shape(text: str) -> tuple[int, int]:
    try:
        z, x = (int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise CLIError(f"--shape: expected Z,X (two whole numbers, e.g. 64,64), got {text!r}") from None
    return z, x


def run(args) -> int:
    import warnings

    from ..nn.pgd.block import write_block
    from ..nn.pgd.physics import PgDRangeWarning
    from ..nn.pgd.synthesis import load_params, synth

    if args.params is None and args.verasonics is None:
        raise CLIError("give the imaging condition: --params FILE.toml or --verasonics WORKSPACE.mat")
    if args.source == "physics" and (args.weights is not None or args.steps is not None):
        raise CLIError("--weights and --steps apply to --source pgd only")
    if args.out.suffix.lower() != ".mat":
        raise CLIError(f"--out: expected a .mat file name, got {str(args.out)!r}")
    if args.params is not None and args.params.suffix.lower() != ".toml":
        raise CLIError(f"--params: expected a .toml file, got {str(args.params)!r}")
    if args.verasonics is not None:
        overrides = load_params(args.params).to_dict() if args.params is not None else {}
        if args.params is not None:  # only the fields the file names, not the defaults of the others
            from .._optional import load_toml

            raw = load_toml(args.params, "physics parameters")
            overrides = {k: overrides[k] for k in (raw.get("physics", raw))}
        params = load_params(args.verasonics, overrides)
    else:
        params = load_params(args.params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PgDRangeWarning)
        block = synth(params, args.frames, shape=_shape(args.shape), density=args.density, seed=args.seed,
                      weights=args.weights, source=args.source, snr_db=args.snr, steps=args.steps)
    for w in caught:
        print(f"pyulm synth: warning: {w.message}", flush=True)
    write_block(args.out, block)
    print(f"pyulm synth: wrote {block.n_frames} frames of {block.iq.shape[0]} x {block.iq.shape[1]} px "
          f"({len(block.gt)} bubbles, source {args.source}) to {args.out}")
    return 0
