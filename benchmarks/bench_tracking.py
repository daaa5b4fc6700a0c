"""Linking speed: pyulm's simpletracker linking against ulmtools' Rust linker (and an older pyulm).

Blocks (positions in pixels, PALA's parameters):

* a: PALA reference block a (64 x 80 x 200), PALA's radial ``MatTracking``
  (~20 points per frame), linking 2, no gap closing;
* b: PALA reference block b (56 x 72 x 240), PALA's radial ``MatTracking``
  (~46 points per frame), linking 3, gap closing 2 (one missing frame);
* dense: a generated 78 x 118 x 800 block, 90 bubbles per frame moving
  0.3-0.9 px per frame, linking 2, no gap closing.

What is timed, each call alone, in its own worker process, on the same points
with the same parameters:

* ``pyulm link``: ``pyulm.tracking.link(z, x, frame, ...)``, unsorted columns
  in, one index array per track out (frame sort, candidate search, Hungarian,
  gap closing, track assembly: PALA-exact);
* ``pyulm flat``: the same with ``flat=True``: the tracks as one index array
  plus offsets, the form ulmtools returns;
* ``ulmtools``: ``ulmtools.link_points(frames, max_distance, max_skip)``
  (min-cost max-flow, not PALA-exact; ``max_skip`` = gap - 1), its per-frame
  float32 input lists built beforehand, outside the timing; it returns the
  track points concatenated plus split indices. Only if ulmtools can be
  imported here or by ``--ulmtools-python`` (it is not a pyulm dependency);
* ``baseline``: ``link`` of the pyulm source tree given with ``--baseline``
  (e.g. ``git archive <commit> | tar -x -C /tmp/base``).

The contenders take turns call by call (the order rotates every round; with
``--burst N``, N calls per turn), so they share whatever else the machine is
doing; the table gives the best and
the median wall time of ``--repeat`` rounds (and the process's CPU time, all
threads: ulmtools runs its work on worker threads), and ratios pair the
calls of the same round. ``pyulm.track`` (``velocityinterp``, ``pala_compat=True``: what
``ULM_tracking2D`` runs) is timed in this process, best of the rounds.

Run: python benchmarks/bench_tracking.py [--repeat N] [--burst N] [--ulmtools-python PATH] [--baseline DIR]
[--blocks a,b,dense]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import pyulm
from pyulm.tables import Localizations, Metadata
from pyulm.tracking import track

REF = Path(pyulm.__file__).resolve().parents[1] / "reference_data"
# Linking times when issue 21 was filed (README's speed table, same benchmark): the 0.5x target's base.
BEFORE_ISSUE_MS = {"a": 5.7, "b": 42.0, "dense": 81.0}

_WORKER = r"""
import json, sys, time
import numpy as np
kind, data, names = sys.argv[1], np.load(sys.argv[2]), json.loads(sys.argv[3])
blocks = {n: (data[n + "_z"], data[n + "_x"], data[n + "_frame"]) for n in names}
if kind == "ulmtools":
    import ulmtools
    where = ulmtools.__file__
    frames = {n: [np.column_stack([x[f == k], z[f == k], np.ones((f == k).sum())]).astype(np.float32)
                  for k in range(int(f.max()) + 1)] for n, (z, x, f) in blocks.items()}

    def run(n, max_d, gap, variant):
        m, split = ulmtools.link_points(frames[n], max_d, max(gap - 1, 0))
        return int(len(split))
else:
    sys.path.insert(0, kind)
    import pyulm
    from pyulm.tracking import link
    where = pyulm.__file__

    def run(n, max_d, gap, variant):
        z, x, f = blocks[n]
        if variant == "flat":
            return int(link(z, x, f, max_linking_distance=max_d, max_gap_closing=gap, flat=True)[1].size - 1)
        return len(link(z, x, f, max_linking_distance=max_d, max_gap_closing=gap))
print(json.dumps({"where": where}), flush=True)
for line in sys.stdin:
    n, max_d, gap, variant = line.split()
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        tracks = run(n, float(max_d), int(gap), variant)
        out = {"s": time.perf_counter() - t0, "cpu": time.process_time() - c0, "tracks": tracks}
    except TypeError as e:  # e.g. a baseline without `flat`
        out = {"error": str(e)}
    print(json.dumps(out), flush=True)
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


class Worker:
    """A process that times one linking call per request (see the module docstring)."""

    def __init__(self, python, kind, data, names):
        self.proc = subprocess.Popen([python, "-c", _WORKER, kind, str(data), json.dumps(names)], text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"benchmark worker {kind!r} ({python}) failed to start")
        self.where = json.loads(line)["where"]

    def time(self, name, max_d, gap, variant):
        self.proc.stdin.write(f"{name} {max_d} {gap} {variant}\n")
        self.proc.stdin.flush()
        out = json.loads(self.proc.stdout.readline())
        return None if "error" in out else out

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def _ulmtools_python(arg):
    if arg is not None:
        return arg
    try:
        import ulmtools  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def _row(samples, key="s"):
    s = np.array([v[key] for v in samples]) * 1e3
    return s.min(), np.median(s)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=20, help="rounds per block (dense: a quarter, at least 3)")
    ap.add_argument("--ulmtools-python", default=None, help="an interpreter that can import ulmtools")
    ap.add_argument("--baseline", default=None, help="a pyulm source tree to time as well (its `link`)")
    ap.add_argument("--blocks", default="a,b,dense", help="comma-separated subset of a,b,dense")
    ap.add_argument("--burst", type=int, default=1,
                    help="calls per turn (default 1: every call follows another contender's, caches cold as in a "
                         "pipeline; more: the later calls of a turn run warm)")
    args = ap.parse_args(argv)
    params = {"a": (2.0, 0), "b": (3.0, 2), "dense": (2.0, 0)}
    names = [b for b in args.blocks.split(",") if b]
    unknown = sorted(set(names) - set(params))
    if unknown:
        ap.error(f"--blocks: unknown {unknown}, expected a subset of {sorted(params)}")
    if args.repeat < 1 or args.burst < 1:
        ap.error(f"--repeat and --burst: expected whole numbers >= 1, got {args.repeat} and {args.burst}")
    if args.baseline and not (Path(args.baseline) / "pyulm" / "__init__.py").is_file():
        ap.error(f"--baseline: expected a pyulm source tree (DIR/pyulm/__init__.py), got {args.baseline!r}")
    data = {n: (dense_block() if n == "dense" else reference_block(n)) for n in names}
    here = str(Path(pyulm.__file__).resolve().parents[1])
    upy = _ulmtools_python(args.ulmtools_python)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "points.npz"
        np.savez(path, **{f"{n}_{c}": a for n, d in data.items() for c, a in zip(("z", "x", "frame"), d)})
        workers = {"pyulm": Worker(sys.executable, here, path, names)}
        if args.baseline:
            workers["baseline"] = Worker(sys.executable, str(Path(args.baseline).resolve()), path, names)
        if upy:
            workers["ulmtools"] = Worker(upy, "ulmtools", path, names)
        calls = [("pyulm link", "pyulm", "list"), ("pyulm flat", "pyulm", "flat")]
        calls += [("baseline", "baseline", "list")] * ("baseline" in workers) + [("ulmtools", "ulmtools", "-")] * bool(upy)
        for key, w in workers.items():
            print(f"{key}: {w.where}")
        print("wall ms: best / median of the rounds (CPU: the process's CPU time, all threads); "
              "ratios of wall times: pyulm / other per round, median [range]")
        results = {}
        for name in names:
            max_d, gap = params[name]
            z, x, frame = data[name]
            rounds = args.repeat if name != "dense" else max(3, args.repeat // 4)
            samples = {c[0]: [] for c in calls}
            for r in range(rounds + 1):  # round 0 warms up (imports, caches) and is dropped
                for label, wk, variant in calls[r % len(calls):] + calls[:r % len(calls)]:
                    for _ in range(args.burst):
                        out = workers[wk].time(name, max_d, gap, variant)
                        if r and out is not None:
                            samples[label].append(out)
            locs = Localizations(z=z, x=x, frame=frame, meta=Metadata(frame_rate=1000.0))
            t_track = min(_timed(lambda: track(locs, max_linking_distance=max_d, max_gap_closing=gap, min_length=10,
                                                mode="velocityinterp", pala_compat=True)) for _ in range(max(3, rounds // 2)))
            results[name] = samples
            print(f"\nblock {name}: {z.size} points, {z.size / (frame.max() + 1):.1f} per frame, linking {max_d:g}, "
                  f"gap closing {gap}; pyulm.track {1e3 * t_track:.2f} ms")
            for label, s in samples.items():
                if not s:
                    print(f"  {label:<12} n/a")
                    continue
                lo, med = _row(s)
                cpu_lo, cpu_med = _row(s, "cpu")
                line = (f"  {label:<12} {lo:8.2f} / {med:8.2f} ms  (CPU {cpu_lo:6.2f} / {cpu_med:6.2f})"
                        f"  {s[0]['tracks']:>6} tracks")
                if label.startswith("pyulm") and samples.get("ulmtools"):
                    ratio = np.array([a["s"] / b["s"] for a, b in zip(s, samples["ulmtools"])])
                    line += f"   vs ulmtools {np.median(ratio):.2f} [{ratio.min():.2f}-{ratio.max():.2f}]"
                if label.startswith("pyulm") and samples.get("baseline"):
                    ratio = np.array([a["s"] / b["s"] for a, b in zip(s, samples["baseline"])])
                    line += f"   vs baseline {np.median(ratio):.2f} [{ratio.min():.2f}-{ratio.max():.2f}]"
                print(line)
        for w in workers.values():
            w.close()
    print("\ntargets (issue 21), on the best times:")
    for name, samples in results.items():
        lo = _row(samples["pyulm link"])[0]
        before = BEFORE_ISSUE_MS[name]
        print(f"  block {name}: link {lo:.2f} ms = {lo / before:.2f}x the {before:g} ms before the issue"
              + (" (target <= 0.5x)" if name == "a" else ""))
        if name in ("a", "b") and samples.get("ulmtools"):
            u = _row(samples["ulmtools"])[0]
            for label in ("pyulm link", "pyulm flat"):
                t = _row(samples[label])[0]
                print(f"  block {name}: {label} {t:.2f} ms vs ulmtools {u:.2f} ms: {'ahead' if t < u else 'NOT ahead'}")


def _timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
