"""Overhead of the MATLAB/Octave file transport (matlab_interop/, ``Transport='file'``).

Times, under GNU Octave, ``pyulm.internal.call('echo', ...)`` (the bridge returns
its arguments, so only the transport is measured) for a tiny argument (the
per-call cost: temporary directory, request/response files, Python start and
imports) and for a complex double 78 x 118 x 800 IQ block (PALA's in vivo block
size, 118 MB each way), through MAT -v6 files and through .npy files (the path
used above 2 GB). Prints a table; targets: <= 0.5 s per call, <= 1 s per GB.
Without Octave it times the Python half only (``python -m pyulm.matlab_bridge``).

    python benchmarks/bench_matlab_transport.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHAPE = (78, 118, 800)

OCTAVE_SCRIPT = r"""
addpath(getenv('PYULM_BENCH_INTEROP'));
reps = str2double(getenv('PYULM_BENCH_REPEAT'));
s = pyulm.internal.settings();
rand('seed', 1);
IQ = complex(rand(%(shape)s), rand(%(shape)s));
small = 1;
pyulm.internal.call('echo', 1, {small});
t = zeros(1, reps); for k = 1:reps, t0 = tic; pyulm.internal.call('echo', 1, {small}); t(k) = toc(t0); end
fprintf('RESULT small %%.4f\n', min(t));
for k = 1:reps, t0 = tic; y = pyulm.internal.call('echo', 1, {IQ}); t(k) = toc(t0); end
assert(isequal(y, IQ));
fprintf('RESULT mat %%.4f\n', min(t));
s.npy_threshold = 1e6;
pyulm.internal.settings(s);
for k = 1:reps, t0 = tic; y = pyulm.internal.call('echo', 1, {IQ}); t(k) = toc(t0); end
assert(isequal(y, IQ));
fprintf('RESULT npy %%.4f\n', min(t));
"""


def bench_octave(octave: str, repeat: int) -> dict:
    script = OCTAVE_SCRIPT % {"shape": ", ".join(str(s) for s in SHAPE)}
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "bench_transport.m"
        f.write_text(script)
        env = dict(os.environ, PYULM_PYTHON=sys.executable, PYULM_BENCH_INTEROP=str(ROOT / "matlab_interop"),
                   PYULM_BENCH_REPEAT=str(repeat))
        proc = subprocess.run([octave, "--no-gui", "--norc", "-q", "-H", "-W", str(f)], env=env,
                              capture_output=True, text=True, cwd=d)
    res = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            _, k, v = line.split()
            res[k] = float(v)
    if len(res) != 3:
        raise SystemExit(f"Octave benchmark failed:\n{proc.stdout}\n{proc.stderr}")
    return res


def bench_python_only(repeat: int) -> dict:
    """The Python half: process start, imports, reading and writing the .mat files."""
    import scipy.io

    rng = np.random.default_rng(1)
    iq = rng.random(SHAPE) + 1j * rng.random(SHAPE)
    res = {}
    with tempfile.TemporaryDirectory() as d:
        for label, value in (("small", np.ones((1, 1))), ("mat", iq)):
            req, out = Path(d) / "request.mat", Path(d) / "response.mat"
            args = np.empty((1, 1), dtype=object)
            args[0, 0] = ({"pyulm_kind": "complex", "re": value.real, "im": value.imag, "shape": list(value.shape)}
                          if np.iscomplexobj(value) else value)
            scipy.io.savemat(req, {"protocol": 1.0, "func": "echo", "nargout": 1.0, "args": args, "kwargs": {}},
                             do_compression=False)
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "pyulm.matlab_bridge", str(req), str(out)], check=True, cwd=d)
                times.append(time.perf_counter() - t0)
            res[label] = min(times)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    octave = shutil.which("octave-cli")
    gb = 2 * np.prod(SHAPE) * 16 / 1e9  # complex double, sent and returned
    if octave:
        res = bench_octave(octave, args.repeat)
        host = "Octave " + subprocess.run([octave, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    else:
        res = bench_python_only(args.repeat)
        host = "Python half only (octave-cli not found)"
    print(f"pyulm file transport, {host}; block {SHAPE[0]}x{SHAPE[1]}x{SHAPE[2]} complex double, "
          f"{gb:.3f} GB moved per call (both ways), best of {args.repeat}")
    print(f"{'case':<34}{'time (s)':>10}{'s per GB':>10}{'target':>12}")
    print(f"{'per call (1x1 argument)':<34}{res['small']:>10.3f}{'':>10}{'<= 0.5 s':>12}")
    for key, label in (("mat", "IQ block via MAT -v6"), ("npy", "IQ block via .npy (> 2 GB path)")):
        if key in res:
            per_gb = (res[key] - res["small"]) / gb
            print(f"{label:<34}{res[key]:>10.3f}{per_gb:>10.3f}{'<= 1 s/GB':>12}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
