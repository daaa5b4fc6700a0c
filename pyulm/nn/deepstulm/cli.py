"""``pyulm track-maps FILE... --out OUT`` (or ``python -m pyulm.nn.deepstulm``):
the Deep-stULM angiogram of IQ blocks.

Each input (a PALA block, a Verasonics workspace, any MAT-file with a 3-D IQ
array, a raw block with a sidecar: whatever :func:`pyulm.io.inspect` reads) is
run through :func:`pyulm.nn.track_maps`; the angiograms of all inputs are summed.
``OUT`` is a ``.mat`` (``angio`` on the r-times finer grid, ``MatOut`` the same
map on PALA's grid at ``--res``, ``r``, ``res``) or a ``.npy`` (``angio``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(p):
    p.add_argument("inputs", nargs="+", metavar="FILE", help="IQ blocks (clutter-filtered, complex)")
    p.add_argument("--out", required=True, metavar="OUT", help="output .mat or .npy")
    p.add_argument("--variable", default=None, help="variable holding the frames (default: detected)")
    p.add_argument("--weights", default=None, metavar="DIR", help="model directory (default: shipped model)")
    p.add_argument("--res", type=float, default=10.0, help="PALA MatOut refinement factor of the .mat output")
    p.add_argument("--time-stride", type=int, default=None, help="frames between temporal windows")
    p.add_argument("--stride", type=int, default=None, help="pixels between spatial windows")
    p.add_argument("--crop", type=int, default=None, help="pixels dropped per window side")
    p.add_argument("--threshold", type=float, default=None, help="track probability threshold")
    p.add_argument("--combine", choices=["mean", "max"], default="mean")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: CUDA when available)")


def register(subparsers):
    p = subparsers.add_parser(
        "track-maps", help="Deep-stULM angiogram of IQ blocks (needs torch)",
        description=__doc__.split("\n\n", 1)[1] if "\n\n" in __doc__ else None)
    add_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from ... import io as pio
    from . import track_maps
    from .inference import to_pala_grid
    from .modeldir import load_model_dir

    out = Path(args.out)
    if out.suffix.lower() not in (".mat", ".npy"):
        raise ValueError(f"--out: expected a .mat or .npy file name, got {out}")
    angio = None
    for path in args.inputs:
        info = pio.inspect(path, args.variable)
        frames = pio.read_frames(info, 0, None)
        if np.ndim(frames) == 4:  # Verasonics pages: one plane expected
            raise ValueError(f"{path}: expected (z, x, t) frames, got shape {frames.shape}")
        a = track_maps(frames, weights=args.weights, time_stride=args.time_stride, stride=args.stride,
                       crop=args.crop, threshold=args.threshold, combine=args.combine, device=args.device)
        if angio is not None and a.shape != angio.shape:
            raise ValueError(f"{path}: frames of another size ({a.shape} output) than the previous inputs ({angio.shape})")
        angio = a if angio is None else angio + a
        print(f"{path}: {frames.shape[2]} frames, {int((a > 0).sum())} track pixels", flush=True)
    r = load_model_dir(args.weights, args.device)[1]["model"].r
    if out.suffix.lower() == ".npy":
        np.save(out, angio)
    else:
        pio.save_mat(out, {"angio": angio, "MatOut": to_pala_grid(angio, r, args.res), "r": float(r),
                           "res": float(args.res)})
    print(f"angiogram ({angio.shape[0]} x {angio.shape[1]}, r = {r}) written to {out}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m pyulm.nn.deepstulm", description=__doc__.split("\n\n", 1)[1])
    add_arguments(p)
    args = p.parse_args(argv)
    try:
        return run(args)
    except (ValueError, OSError) as exc:
        print(f"deepstulm: error: {exc}", file=sys.stderr)
        return 2
