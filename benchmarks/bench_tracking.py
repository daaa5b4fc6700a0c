"""Linking speed: pyulm's simpletracker linking against ulmtools' Rust linker.

Blocks (positions in pixels, PALA's parameters):

* a: PALA reference block a (64 x 80 x 200), PALA's radial ``MatTracking``
  (~20 points per frame), linking 2, no gap closing;
* b: PALA reference block b (56 x 72 x 240), PALA's radial ``MatTracking``
  (~46 points per frame), linking 3, gap closing 2 (one missing frame);
* dense: a generated 78 x 118 x 800 block, 90 bubbles per frame moving
  0.3-0.9 px per frame, linking 2, no gap closing.

Rows: ``pyulm.tracking.link`` (linking only: Hungarian + gap closing, PALA-exact),
``pyulm.track`` in ``velocityinterp`` mode with ``pala_compat=True`` (linking,
smoothing, interpolation, velocities: what ``ULM_tracking2D`` runs), and
``ulmtools.link_points`` (min-cost max-flow, not PALA-exact; ``max_skip`` =
gap - 1) when ulmtools can be imported, here or by the interpreter given with
``--ulmtools-python`` (ulmtools is not a pyulm dependency: ``pip install ulmtools``
in any environment). Times are the best of ``--repeat`` runs, in ms.

Run: python benchmarks/bench_tracking.py [--repeat N] [--ulmtools-python PATH]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import pyulm
from bench_pipeline import best  # noqa: E402 (the benchmarks folder is on sys.path when run as a script)
from pyulm.tables import Localizations, Metadata
from pyulm.tracking import link, track

REF = Path(pyulm.__file__).resolve().parents[1] / "reference_data"
# Linking times when issue 21 was filed (README's speed table, same benchmark): the 0.5x target's base.
BEFORE_ISSUE_MS = {"a": 5.7, "b": 42.0, "dense": 81.0}

_ULMTOOLS_CHILD = r"""
import json, sys, time
import numpy as np
import ulmtools
d = np.load(sys.argv[1])
z, x, f = d["z"], d["x"], d["frame"]
pts = [np.column_stack([x[f == k], z[f == k], np.ones((f == k).sum())]).astype(np.float32) for k in range(int(f.max()) + 1)]
best = float("inf")
for _ in range(int(sys.argv[4])):
    t0 = time.perf_counter()
    m, split = ulmtools.link_points(pts, float(sys.argv[2]), int(sys.argv[3]))
    best = min(best, time.perf_counter() - t0)
print(json.dumps({"s": best, "tracks": int(len(split))}))
"""


def reference_block(name: str, method: str = "radial"):
    import h5py

    with h5py.File(REF / f"pala_block_{name}.h5", "r") as f:
        mt = f[f"{method}/MatTracking"][()]
    return mt[:, 1], mt[:, 2], (mt[:, 3] - mt[:, 3].min()).astype(np.int64)


def dense_block(n_frames=800, per_frame=90, shape=(78, 118), seed=0):
    """Bubbles entering at random, moving in straight lines with jitter, living ~40 frames."""
    rng = np.random.default_rng(seed)
    z, x, f = [], [], []
    alive = np.zeros((0, 4))  # z, x, vz, vx
    for k in range(n_frames):
        alive = alive[rng.random(alive.shape[0]) > 1 / 40]
        born = per_frame - alive.shape[0]
        if born > 0:
            speed = rng.uniform(0.3, 0.9, born)
            angle = rng.uniform(0, 2 * np.pi, born)
            new = np.column_stack([rng.uniform(0, shape[0], born), rng.uniform(0, shape[1], born),
                                   speed * np.cos(angle), speed * np.sin(angle)])
            alive = np.vstack([alive, new])
        alive[:, :2] += alive[:, 2:] + rng.normal(0, 0.05, (alive.shape[0], 2))
        inside = (alive[:, 0] >= 0) & (alive[:, 0] < shape[0]) & (alive[:, 1] >= 0) & (alive[:, 1] < shape[1])
        alive = alive[inside]
        z.append(alive[:, 0])
        x.append(alive[:, 1])
        f.append(np.full(alive.shape[0], k))
    return np.concatenate(z), np.concatenate(x), np.concatenate(f)


def ulmtools_time(z, x, frame, max_d, max_skip, repeat, python):
    if python is None:
        try:
            import ulmtools  # noqa: F401
        except ImportError:
            return None
        python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "points.npz"
        np.savez(path, z=z, x=x, frame=frame)
        out = subprocess.run([python, "-c", _ULMTOOLS_CHILD, str(path), str(max_d), str(max_skip), str(repeat)],
                             capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--ulmtools-python", default=None, help="an interpreter that can import ulmtools")
    args = ap.parse_args(argv)
    blocks = [("a (64x80x200)", reference_block("a"), 2.0, 0),
              ("b (56x72x240)", reference_block("b"), 3.0, 2),
              ("dense (78x118x800)", dense_block(), 2.0, 0)]
    results = {}
    print(f"pyulm {pyulm.__version__} from {Path(pyulm.__file__).parent}")
    print(f"{'block':<20}{'points':>8}{'pts/frame':>10}{'tracks':>8}{'link ms':>10}{'track ms':>10}"
          f"{'ulmtools ms':>13}{'link/ulmtools':>15}")
    for name, (z, x, frame), max_d, gap in blocks:
        repeat = args.repeat if z.size < 20000 else max(3, args.repeat // 4)
        link(z, x, frame, max_linking_distance=max_d, max_gap_closing=gap)  # warm-up (imports)
        t_link, tracks = best(lambda: link(z, x, frame, max_linking_distance=max_d, max_gap_closing=gap), repeat)
        locs = Localizations(z=z, x=x, frame=frame, meta=Metadata(frame_rate=1000.0))
        t_track, _ = best(lambda: track(locs, max_linking_distance=max_d, max_gap_closing=gap, min_length=10,
                                           mode="velocityinterp", pala_compat=True), max(3, repeat // 2))
        u = ulmtools_time(z, x, frame, max_d, max(gap - 1, 0), repeat, args.ulmtools_python)
        u_ms = f"{1e3 * u['s']:.2f}" if u else "n/a"
        ratio = f"{t_link / u['s']:.2f}" if u else "n/a"
        print(f"{name:<20}{z.size:>8}{z.size / (frame.max() + 1):>10.1f}{len(tracks):>8}{1e3 * t_link:>10.2f}"
              f"{1e3 * t_track:>10.2f}{u_ms:>13}{ratio:>15}")
        results[name.split()[0]] = (t_link, u["s"] if u else None)
    if u is None:
        print("ulmtools: not importable here (pip install ulmtools, or pass --ulmtools-python)")
    print("\ntargets (issue 21):")
    for key, (t_link, _) in results.items():
        before = BEFORE_ISSUE_MS[key]
        verdict = (": met" if 1e3 * t_link <= 0.5 * before else ": NOT met") if key == "a" else " (no target)"
        print(f"  block {key}: {1e3 * t_link:.2f} ms = {1e3 * t_link / before:.2f}x the {before:g} ms before the issue "
              f"(target <= 0.5x on block a){verdict}")
    for key in ("a", "b"):
        t_link, t_u = results[key]
        verdict = "n/a (no ulmtools)" if t_u is None else ("met" if t_link < t_u else "NOT met")
        print(f"  block {key}: ahead of ulmtools: {verdict}")


if __name__ == "__main__":
    main()
