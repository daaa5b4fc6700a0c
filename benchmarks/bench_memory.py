"""Peak memory of ``pyulm process`` against the length of the acquisition.

One simulated block of PALA's in vivo size (default 78 x 118 x 800: image and frames of
a PALA in vivo block) is given N times (N = 8, 34, 68 by default: the 8/34/68-block
acquisitions of issue 13). The block is computed once, by a run of one block (which
gives the block-processing peak for comparison); its block file is then copied to the
name of every block of the N-block run (same source, frames and parameters: the same
key, and a valid result for each), so the benchmark takes minutes, not the hours of
computing 68 blocks on a laptop. For each N a fresh process then runs the acquisition
with every block already done: its peak RSS is the end of the run alone (reading the
blocks, the maps accumulated block by block, the result files written block by block).
Flat in N is the target (issue 13); the tables and ``ulm_tracks.mat`` grow with N on
disk, not in memory.

Run: python benchmarks/bench_memory.py [--quick] [--v73] [--blocks 8 34 68] [--frames 800]
Peak RSS is ``ru_maxrss`` of each process, less the same process's RSS after imports.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pyulm.config import Config  # noqa: E402
from pyulm.pipeline import plan  # noqa: E402

CHILD = r"""
import json, resource, sys
from pyulm.config import Config
from pyulm.pipeline import run
import pyulm.pipeline.orchestrate, h5py, scipy.io  # imports counted in the baseline

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

base = rss_mb()
inputs, out, thr = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
cfg = Config.from_dict({"output": {"images": ["png"], **({"mat_v73_threshold": thr} if thr else {})}})
s = run(inputs, cfg, out, workers=0, progress=False)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"blocks": s.blocks, "computed": s.computed, "frames": s.frames, "tracks": s.tracks,
                  "localizations": s.localizations,
                  "base_mb": base, "peak_mb": peak, "wall_s": s.wall_time}))
"""


def child(inputs, out, v73=False):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-c", CHILD, json.dumps([str(i) for i in inputs]), str(out),
                        str(1000 if v73 else 0)],
                       capture_output=True, text=True, env=env)
    if p.returncode:
        raise SystemExit(p.stderr)
    return json.loads(p.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blocks", type=int, nargs="+", default=[8, 34, 68])
    ap.add_argument("--frames", type=int, default=800, help="frames per block")
    ap.add_argument("--size", type=int, nargs=2, default=[78, 118], metavar=("NZ", "NX"))
    ap.add_argument("--v73", action="store_true", help="write the .mat results as MAT v7.3 (as above 2 GB)")
    ap.add_argument("--quick", action="store_true", help="blocks 4 8 16 of 64 x 80 x 100 (a check that it runs)")
    args = ap.parse_args()
    if args.quick:
        args.blocks, args.frames, args.size = [4, 8, 16], 100, [64, 80]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pyulm-bench-memory-") as tmp:
        tmp = Path(tmp)
        subprocess.run([sys.executable, "-m", "pyulm", "simulate", str(tmp / "sim"), "--size", *map(str, args.size),
                        "--frames", str(args.frames), "--blocks", "1", "--seed", "1", "--format", "mat"],
                       check=True, capture_output=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        block = next((tmp / "sim").glob("*.mat"))
        one = child([block], tmp / "one")
        done = next((tmp / "one" / "blocks").glob("*.h5"))
        (tmp / "out" / "blocks").mkdir(parents=True)
        for spec in plan([block] * max(args.blocks), Config()).specs:  # every block done, as computed
            shutil.copyfile(done, tmp / "out" / "blocks" / f"{spec.name}.h5")
        print(f"block {args.size[0]} x {args.size[1]} x {args.frames}: processing one block peaks at "
              f"{one['peak_mb']:.0f} MB ({one['peak_mb'] - one['base_mb']:.0f} MB over imports)\n")
        print("| blocks | frames | tracks | localizations | end-of-run peak RSS (MB) | over imports (MB) | wall (s) |")
        print("|-------:|-------:|-------:|--------------:|-------------------------:|------------------:|---------:|")
        for n in args.blocks:
            r = child([block] * n, tmp / "out", args.v73)  # every block done: the end of the run alone
            assert r["computed"] == 0, r
            print(f"| {n:6d} | {r['frames']:6d} | {r['tracks']:6d} | {r['localizations']:13d} | {r['peak_mb']:24.0f} | "
                  f"{r['peak_mb'] - r['base_mb']:17.0f} | {r['wall_s']:8.1f} |")
    print(f"\n{time.perf_counter() - t0:.0f} s in all; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
