"""CycleULM-E2E (bf16) against Baseline 2, end to end on one thread, this checkout and optionally an older one.

The issue-14 speed target: CycleULM-E2E at least 5x faster than Baseline 2 end to end. Both run as
``benchmarks/bench_cycleulm.py`` runs them (``run_pipeline`` with the benchmark's common options, one
thread for everything, SVD filtering excluded) on the validation acquisitions
(``ceus_acquisition(density, seed=1000)``, first 200 frames; the translators in ``--runs``).

``--old DIR`` adds an older ``pyulm`` (``git archive COMMIT pyulm | tar -x -C DIR``), imported in the
same process under its own module table, so old and new code alternate in one process (``--repeats``
rounds, best of each reported with the range): timings on a shared machine drift, and only numbers
from one process compare. Prints a table (ms a frame, frames/s, ratio to Baseline 2) and the load
average before and after. Each pipeline runs once on 16 frames before the timed rounds (models
loaded, bf16 copies made); the first-process cost of the compiled gate chain (numba) is timed and
printed before that, not hidden in it (first process on a machine: ~1.4 s to compile the gate chain,
~1.1 s the layout passes; later processes: ~0.25 s, numba's own setup, to load its cache).

Usage::

    python benchmarks/bench_e2e_speed.py [--old /tmp/old_e2e] [--densities low medium high]
        [--frames 200] [--repeats 3] [--runs /work/cycleulm_runs] [--json OUT]
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]


def _load(root: Path) -> dict:
    """Import ``pyulm`` from ``root`` and return its module table (removed from ``sys.modules``)."""
    saved = {k: v for k, v in sys.modules.items() if k == "pyulm" or k.startswith("pyulm.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, str(root))
    try:
        import pyulm  # noqa: F401
        import pyulm._parallel  # noqa: F401
        import pyulm.nn.cycleulm.pipelines  # noqa: F401
        import pyulm.nn.cycleulm.e2e  # noqa: F401
        import pyulm.nn.cycleulm.translate  # noqa: F401
    finally:
        sys.path.remove(str(root))
    mods = {k: v for k, v in sys.modules.items() if k == "pyulm" or k.startswith("pyulm.")}
    for k in mods:
        del sys.modules[k]
    sys.modules.update(saved)
    return mods


@contextlib.contextmanager
def _active(mods: dict):
    """Make ``mods`` the ``pyulm`` of ``sys.modules`` (lazy imports inside pyulm resolve there)."""
    saved = {k: v for k, v in sys.modules.items() if k == "pyulm" or k.startswith("pyulm.")}
    for k in saved:
        del sys.modules[k]
    sys.modules.update(mods)
    try:
        yield mods
    finally:  # keep what was imported lazily meanwhile (importing a module twice would register it twice)
        for k in [k for k in sys.modules if k == "pyulm" or k.startswith("pyulm.")]:
            mods[k] = sys.modules.pop(k)
        sys.modules.update(saved)


def _first_gate_chain_call(mods: dict) -> str:
    """The first-process cost of MBT-Net's compiled ConvLSTM gate chain (numba: compiled, or loaded from
    numba's cache), timed before the warm-up so that the table's warm timings do not hide it."""
    import torch

    with _active(mods):
        import importlib

        try:
            g = importlib.import_module("pyulm.nn.cycleulm.gates_numba")
        except ImportError:
            return "no compiled gate chain in this code"
        if not g.AVAILABLE:
            return "numba not installed: the eager gate chain runs"
        cl = torch.channels_last
        t0 = time.perf_counter()
        for hd in (8, 16):  # the two kernels (256-bit and 512-bit vectors)
            g.lstm_step(torch.zeros(1, 4 * hd, 4, 4, dtype=torch.bfloat16).contiguous(memory_format=cl), None)
        t1 = time.perf_counter()
        try:
            lay = importlib.import_module("pyulm.nn.cycleulm.layout_numba")
        except ImportError:
            lay = None
        if lay is not None:  # MB-DT's decoder input, MBT-Net's output and input passes
            y = torch.zeros(1, 32, 4, 4, dtype=torch.bfloat16).contiguous(memory_format=cl)
            lay.shuffle_cat(y, torch.zeros(1, 8, 8, 8, dtype=torch.bfloat16).contiguous(memory_format=cl), 8)
            lay.shuffle_float(y, 8)
            lay.windows_bf16(np.zeros((4, 4, 8), np.float32), [0], 8, (4, 4))
        t2 = time.perf_counter()
        return (f"compiled kernels: first calls in this process: gate chain {t1 - t0:.2f} s, layout passes "
                f"{t2 - t1:.2f} s (numba compile, or its cache load; excluded from the table)")


def _common(acq, n_frames: int) -> dict:
    """bench_cycleulm's options: the data's PSF for the baselines, the most bubbles in a frame."""
    gt = acq.gt.select(np.nonzero(acq.gt.frame < n_frames)[0])
    n_part = int(np.bincount(gt.frame, minlength=n_frames).max())
    return dict(fwhm=acq.psf_fwhm, number_of_particles=n_part, frame_rate=acq.frame_rate,
                pixel_size=acq.pixel_size, res=4, max_linking_distance=2.0, batch_size=16, device="cpu")


def _time(mods, iq, name, common, **kw) -> tuple[float, dict]:
    with _active(mods):
        run = mods["pyulm.nn.cycleulm.pipelines"].run_pipeline
        with mods["pyulm._parallel"].limit_threads(1):
            t0 = time.perf_counter()
            out = run(iq, name, **common, **kw)
            sec = time.perf_counter() - t0
    return sec, dict(out.timings)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", type=Path, help="directory holding an older pyulm package (git archive)")
    ap.add_argument("--densities", nargs="+", default=["low", "medium", "high"])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--runs", type=Path, default=Path("/work/cycleulm_runs"),
                    help="directory of the translators mbdt_{density}")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    codes = {"new": _load(HERE)}
    if a.old is not None:
        codes["old"] = _load(a.old)
    new = codes["new"]
    print(f"load average before: {os.getloadavg()}", flush=True)
    print(_first_gate_chain_call(new), flush=True)
    res = {}
    for d in a.densities:
        with _active(new):
            acq = new["pyulm.nn.cycleulm"].ceus_acquisition(d, seed=1000)
        iq = np.ascontiguousarray(acq.iq[:, :, :a.frames])
        common = _common(acq, a.frames)
        tr = str(a.runs / f"mbdt_{d}")
        rows = {f"e2e-{c}": [] for c in codes} | {"baseline2": []}
        for name, mods in codes.items():  # warm-up: load models, make the bf16 copies
            _time(mods, iq[:, :, :16], "cycleulm-e2e", common, translator=tr, precision="bf16")
        for _ in range(a.repeats):
            for name, mods in codes.items():
                rows[f"e2e-{name}"].append(_time(mods, iq, "cycleulm-e2e", common, translator=tr, precision="bf16"))
            rows["baseline2"].append(_time(new, iq, "baseline2", common))
        res[d] = {k: {"ms_per_frame": [1e3 * s / a.frames for s, _ in v],
                      "stages_ms_per_frame": [{st: 1e3 * x / a.frames for st, x in tt.items()} for _, tt in v]}
                  for k, v in rows.items()}
    print(f"load average after: {os.getloadavg()}")
    print("| density | pipeline | ms a frame (best, range) | frames/s | stages (best run, ms a frame) | "
          "Baseline 2 / this (best; range over rounds) |")
    print("|---|---|---|---|---|---|")
    for d, r in res.items():
        b2 = r["baseline2"]["ms_per_frame"]
        for k, v in r.items():
            ms = v["ms_per_frame"]
            k_best = int(np.argmin(ms))
            st = ", ".join(f"{s} {x:.2f}" for s, x in v["stages_ms_per_frame"][k_best].items())
            ratio = "" if k == "baseline2" else (f"{min(b2) / min(ms):.2f}x "
                                                 f"({min(x / y for x, y in zip(b2, ms)):.2f}-"
                                                 f"{max(x / y for x, y in zip(b2, ms)):.2f}x)")
            print(f"| {d} | {k} | {min(ms):.2f} ({min(ms):.2f}-{max(ms):.2f}) | {1e3 / min(ms):.0f} | {st} | {ratio} |")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    return res


if __name__ == "__main__":
    main()
