"""Beamforming throughput: RcvData frames -> IQ frames per second (issue 17).

128-element linear array, 3 plane waves (-5, 0, 5 deg), 78 x 118 pixels of one
wavelength (PALA's in vivo grid), 15.625 MHz. Channel data are random int16 of
the Vantage's layout (the speed does not depend on their content). Prints one
table row per sample mode and backend: time to build the matrices, stored
weights, frames/s (best of --runs), CPU time per frame (all threads; less
sensitive to other jobs than the wall time), and the share that the beamformer would
take of a ``pyulm process`` run at --pipeline-fps (the rest of the pipeline's
rate on this machine, README: ~1,000 frames/s).

    python benchmarks/bench_beamform.py [--frames 512] [--runs 3] [--backends scipy torch] [--threads 1 2]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--modes", nargs="+", default=["BS100BW", "NS200BW"])
    ap.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--backends", nargs="+", default=["scipy", "torch"], choices=["scipy", "torch"])
    ap.add_argument("--pipeline-fps", type=float, default=1000.0)
    args = ap.parse_args(argv)

    from pyulm.beamform import Beamformer, make_grid
    from pyulm.sim.channel import plane_wave_acquisition

    print(f"uptime: {os.popen('uptime').read().strip()}")
    print(f"{'mode':8s} {'backend':10s} {'threads':>7s} {'build s':>8s} {'weights':>10s} {'frames/s':>9s} "
          f"{'CPU ms/frame':>12s} {'share of process':>16s}")
    rng = np.random.default_rng(0)
    for mode in args.modes:
        acq = plane_wave_acquisition(n_elements=128, angles=(-5, 0, 5), depth=(5, 90), sample_mode=mode)
        grid = make_grid((78, 118), (1.0, 1.0), (10.0, -58.5), acq.wavelength)
        # as h5py reads RcvData: (frames, channels, rows) in C order, i.e. MATLAB's (rows, channels, frames)
        frames = rng.integers(-2000, 2000, (args.frames, acq.n_channels, acq.rows_per_frame),
                              dtype=np.int16).transpose(2, 1, 0)
        for backend, n in [(b, n) for b in args.backends for n in args.threads]:
            os.environ["PYULM_NUM_THREADS"] = str(n)
            t0 = time.perf_counter()
            bf = Beamformer(acq, grid, backend=backend, batch=args.batch)
            build = time.perf_counter() - t0
            bf(frames[:, :, : args.batch])  # warm-up (thread pools, torch kernels)
            best = cpu = np.inf
            for _ in range(args.runs):
                t0, c0 = time.perf_counter(), time.process_time()
                bf(frames)
                best = min(best, time.perf_counter() - t0)
                cpu = min(cpu, time.process_time() - c0)  # all threads' CPU time: robust to a busy machine
            fps = args.frames / best
            share = (1 / fps) / (1 / fps + 1 / args.pipeline_fps)
            print(f"{mode:8s} {backend:10s} {n:>7d} {build:8.2f} {bf.nnz:10,d} {fps:9,.0f} "
                  f"{cpu / args.frames * 1e3:12.3f} {share:15.0%}")
    os.environ.pop("PYULM_NUM_THREADS", None)


if __name__ == "__main__":
    main()
