"""Read throughput of a 78 x 118 x 800 complex block (PALA's rat-brain block size)
from MAT v5 (pyulm's codec) and MAT v7.3 (HDF5), whole block and 100-frame slices.

v7.3 files are written three ways:

* ``hdf5storage``: what pyulm's ``save_mat`` writes (hdf5storage: shuffle + deflate 7 +
  fletcher32, chunks of 50 x 15 x 10);
* ``deflate 3``: the filters of MATLAB's ``save -v7.3`` (deflate level 3, no shuffle, no
  checksum), chunks chosen by h5py, in a MATLAB-style file (512-byte header, reversed axes,
  ``real``/``imag`` compound);
* ``deflate 3, 1 frame/chunk``: the same with one frame per chunk.

pyulm reads them with its chunk reader (``pyulm.io.h5_read``); the ``h5py`` column is
h5py's own read of the same bytes, for comparison. Every read is checked against the block.

    python benchmarks/bench_io.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

import pyulm.io as pio

TARGET_MBS = 300.0  # issue target for reading the block from MAT v7.3


def write_matlab_style(path, iq, chunks):
    """``IQ`` stored as MATLAB's save -v7.3 stores a complex single array: deflate level 3."""
    data = np.empty(iq.shape[::-1], np.dtype([("real", "<f4"), ("imag", "<f4")]))
    data["real"], data["imag"] = iq.real.T, iq.imag.T
    with h5py.File(path, "w", userblock_size=512) as f:
        ds = f.create_dataset("IQ", data=data, chunks=chunks, compression="gzip", compression_opts=3)
        ds.attrs["MATLAB_class"] = np.bytes_("single")
    head = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."
    with open(path, "r+b") as fh:
        fh.write(head.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02IM")


def h5py_read(path, a, b):
    """h5py's own read of frames a:b, file opened per read as pyulm does (no warm chunk cache)."""
    with h5py.File(path, "r") as f:
        return f["IQ"][a:b]


def best_time(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dtype", default="complex64", choices=["complex64", "complex128"])
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    shape = (78, 118, 800)
    iq = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(args.dtype)
    mb = iq.nbytes / 1e6
    meta = {"UF": {"FrameRateUF": 1000.0, "TwFreq": 15.0}}
    rows, paths = [], []
    with tempfile.TemporaryDirectory() as d:
        files = {
            "v5 (pyulm codec)": Path(d) / "v5.mat",
            "v7.3 hdf5storage": Path(d) / "v73_hdf5storage.mat",
            "v7.3 deflate 3": Path(d) / "v73_deflate3.mat",
            "v7.3 deflate 3, 1 frame/chunk": Path(d) / "v73_frames.mat",
        }
        pio.save_mat(files["v5 (pyulm codec)"], {"IQ": iq, **meta})
        pio.save_mat(files["v7.3 hdf5storage"], {"IQ": iq, **meta}, v73_threshold=1)
        if args.dtype == "complex64":
            write_matlab_style(files["v7.3 deflate 3"], iq, True)
            write_matlab_style(files["v7.3 deflate 3, 1 frame/chunk"], iq, (1, shape[1], shape[0]))
        else:
            del files["v7.3 deflate 3"], files["v7.3 deflate 3, 1 frame/chunk"]
        for label, path in files.items():
            info = pio.inspect(path)
            for what, (a, b) in (("whole block", (0, 800)), ("frames 400:500", (400, 500))):
                if "1 frame/chunk" in label and a:
                    continue
                t, out = best_time(lambda: pio.read_frames(info, a, b), args.repeat)
                assert np.array_equal(out, iq[:, :, a:b])
                t_h5py = None
                if info.format == "mat73":
                    t_h5py, _ = best_time(lambda: h5py_read(path, a, b), args.repeat)
                    if not a:
                        with h5py.File(path) as f:
                            paths.append(f"{label}: chunks {f['IQ'].chunks}, {pio.h5_read_path(f['IQ'])}")
                rows.append((label, what, path.stat().st_size / 1e6, t, mb * (b - a) / 800, t_h5py))
    print(f"block {shape[0]}x{shape[1]}x{shape[2]} {args.dtype} = {mb:.0f} MB; best of {args.repeat}; "
          f"target >= {TARGET_MBS:.0f} MB/s for the whole block from v7.3")
    print(f"{'format':<30s} {'read':<15s} {'file MB':>8s} {'time s':>7s} {'MB/s':>7s} {'h5py MB/s':>10s} "
          f"{'target':>8s}")
    for label, what, fmb, t, rmb, t_h5py in rows:
        h5 = f"{rmb / t_h5py:10.0f}" if t_h5py else f"{'-':>10s}"
        target = ""
        if label.startswith("v7.3") and what == "whole block":
            target = "met" if rmb / t >= TARGET_MBS else "MISSED"
        print(f"{label:<30s} {what:<15s} {fmb:8.1f} {t:7.3f} {rmb / t:7.0f} {h5} {target:>8s}")
    for line in paths:
        print("  " + line)


if __name__ == "__main__":
    main()
