"""Read throughput of a 78 x 118 x 800 complex block (PALA's rat-brain block size)
from MAT v5 (scipy) and v7.3 (h5py), whole block and 100-frame slices.

    python benchmarks/bench_io.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

import pyulm.io as pio


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dtype", default="complex64", choices=["complex64", "complex128"])
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    shape = (78, 118, 800)
    iq = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(args.dtype)
    mb = iq.nbytes / 1e6
    rows = []
    with tempfile.TemporaryDirectory() as d:
        files = {"v5 (scipy)": Path(d) / "v5.mat", "v7.3 (h5py)": Path(d) / "v73.mat"}
        pio.save_mat(files["v5 (scipy)"], {"IQ": iq, "UF": {"FrameRateUF": 1000.0, "TwFreq": 15.0}})
        pio.save_mat(files["v7.3 (h5py)"], {"IQ": iq, "UF": {"FrameRateUF": 1000.0, "TwFreq": 15.0}}, v73_threshold=1)
        for label, path in files.items():
            info = pio.inspect(path)
            for what, (a, b) in (("whole block", (0, 800)), ("frames 400:500", (400, 500))):
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    out = pio.read_frames(info, a, b)
                    best = min(best, time.perf_counter() - t0)
                assert np.array_equal(out, iq[:, :, a:b])
                rows.append((label, what, path.stat().st_size / 1e6, best, mb * (b - a) / 800 / best))
    print(f"block {shape[0]}x{shape[1]}x{shape[2]} {args.dtype} = {mb:.0f} MB; best of {args.repeat}")
    print(f"{'format':<14s} {'read':<16s} {'file MB':>8s} {'time s':>8s} {'MB/s':>8s}")
    for r in rows:
        print(f"{r[0]:<14s} {r[1]:<16s} {r[2]:8.1f} {r[3]:8.3f} {r[4]:8.0f}")


if __name__ == "__main__":
    main()
