"""Throughput of pyulm.sim: frames per second of 128 x 128 IQ with 50 bubbles.

    python benchmarks/bench_sim.py [--frames 2000] [--repeat 3]

Prints a table (best of ``--repeat`` runs). The target is >= 2,000 frames/s
on 2 cores for bubble rendering; noise and clutter add their own cost.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from pyulm.sim import free_motion, gaussian_psf, psf_from_transducer, render_points, simulate


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args(argv)
    nt, rep = a.frames, a.repeat
    rng = np.random.default_rng(0)
    n = 50 * nt
    z, x = rng.uniform(0, 127, n), rng.uniform(0, 127, n)
    f = np.repeat(np.arange(nt), 50)
    amp = rng.uniform(0.5, 1.5, n)
    cases = [
        ("render only, Gaussian FWHM 3 (scatter)", lambda: render_points(z, x, f, amp, (128, 128), nt, gaussian_psf(3))),
        ("render only, Gaussian FWHM 3 (matmul)", lambda: render_points(z, x, f, amp, (128, 128), nt, gaussian_psf(3), method="matmul")),
        ("render only, transducer sinc PSF", lambda: render_points(z, x, f, amp, (128, 128), nt, psf_from_transducer(f_number=1.5))),
        ("free_motion, no noise", lambda: free_motion((128, 128), nt, 50, snr_db=None, seed=0)),
        ("free_motion, SNR 20 dB", lambda: free_motion((128, 128), nt, 50, snr_db=20, seed=0)),
        ("free_motion, SNR 20 dB + clutter", lambda: free_motion((128, 128), nt, 50, snr_db=20, clutter_db=20, seed=0)),
        ("simulate (vessels, ~50 bubbles), SNR 30 dB", lambda: simulate((128, 128), nt, concentration=0.31, seed=0)),
    ]
    print(f"pyulm.sim benchmark: 128 x 128, {nt} frames, best of {rep}, {os.cpu_count()} CPU(s)")
    print(f"{'case':50s} {'seconds':>8s} {'frames/s':>10s}")
    for name, fn in cases:
        s = best(fn, rep)
        print(f"{name:50s} {s:8.3f} {nt / s:10.0f}")


if __name__ == "__main__":
    main()
