"""Regression against PALA's own outputs, stage by stage: a feature users run.

Point :func:`run_regression` (or ``pyulm regress DIR``) at a folder laid out as
PALA's reference runs are (see ``shared/reference/README.md`` of the pyulm project)::

    block_<name>.mat                 IQ (z, x, t), UF.FrameRateUF
    pala_block_<name>_filtered.mat   IQ_filt (optional: the filter stage)
    pala_block_<name>_<method>.mat   ULM, MatTracking_px, MatTracking, Tracks_raw,
                                     Tracks_interp, Tracks_vel, Tracks_nointerp,
                                     Tracks_i, MatOut, MatOut_zdir, MatOut_vel,
                                     MatOut_velmean, MatOut_allin (any subset)

Each stage starts from PALA's output of the previous stage, so a difference is
pinned to one stage, and is judged against the bar pyulm's own tests use:
localizations identical in count and order within 1e-6 px; tracks identical in
count and order within 1e-6 (single precision for ``velocityinterp``); density
maps exactly equal; velocity maps within single precision.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io as sio

from . import pala
from .filtering import filter_block
from .render import SuperResolutionGrid

POS_TOL = 1e-6
MAP_RTOL = 2e-6
# name in the PALA file -> (tracking mode, which output of a 'pala' pair)
TRACK_OUTPUTS = {
    "Tracks_raw": ("pala", 0),
    "Tracks_interp": ("pala", 1),
    "Tracks_vel": ("velocityinterp", None),
    "Tracks_nointerp": ("nointerp", None),
    "Tracks_i": ("interp", None),
}


@dataclass(frozen=True)
class ParityRow:
    """One comparison: ``passed`` is judged against ``tolerance`` (see ``measure``)."""

    block: str
    method: str
    stage: str
    output: str
    count: str
    measure: str
    value: float
    tolerance: float
    passed: bool

    def as_markdown(self) -> str:
        mark = "pass" if self.passed else "FAIL"
        return (f"| {self.block} | {self.method} | {self.stage} | {self.output} | {self.count} | "
                f"{self.measure} | {self.value:.3g} | {self.tolerance:.0e} | {mark} |")


def _cells(c) -> list:
    return [np.asarray(c.ravel()[i], dtype=float) for i in range(c.size)]


def _ulm(struct) -> dict:
    """A ULM struct loaded by scipy (1x1 record array) as a plain dict."""
    s = struct[0, 0]
    out = {}
    for name in s.dtype.names:
        v = s[name]
        if name == "parameters":
            out[name] = _ulm(v)
        elif v.dtype.kind == "U":
            out[name] = str(v.ravel()[0]) if v.size else ""
        else:
            out[name] = np.asarray(v, dtype=float).ravel()
    return out


def _max_diff(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) if np.size(a) else 0.0


def _compare_tracks(ours: list, ref: list, single: bool) -> tuple[str, float, float, bool]:
    count = f"{len(ours)} / {len(ref)}"
    if len(ours) != len(ref) or any(np.shape(a) != np.shape(b) for a, b in zip(ours, ref)):
        return count + " (shapes differ)", float("inf"), POS_TOL, False
    if single:
        # PALA returned these in single precision: judge |Δ| relative to the value, with a floor
        # of 1e-3 of the column's largest magnitude so exact zeros (stationary points) compare
        # on the data's scale rather than against denormals; one float32 rounding passes.
        colmax = np.max(np.abs(np.concatenate(ref)), axis=0) if ref else 0.0
        worst = 0.0
        for a, b in zip(ours, ref):
            if a.size:
                scale = np.maximum(np.abs(b), 1e-3 * colmax)
                worst = max(worst, float(np.max(np.abs(a - b) / np.maximum(scale, 1e-300))))
        tol = 2 * float(np.finfo(np.float32).eps)
        return count, worst, tol, worst <= tol
    worst = max((_max_diff(a, b) for a, b in zip(ours, ref)), default=0.0)
    return count, worst, POS_TOL, worst <= POS_TOL


def regress_block(block_file, pala_file, filtered_file=None, *, stages=("filter", "localize", "track", "render")) -> list[ParityRow]:
    """Compare pyulm with one PALA output file; see the module docstring for the layout."""
    block_file, pala_file = Path(block_file), Path(pala_file)
    m = re.match(r"pala_block_(.+)_([A-Za-z_]+?)\.mat$", pala_file.name)
    block = m.group(1) if m else block_file.stem
    ref = sio.loadmat(pala_file)
    if "ULM" not in ref:
        raise ValueError(f"{pala_file}: no ULM struct; expected PALA's output file with the ULM it used")
    ulm = _ulm(ref["ULM"])
    method = ulm.get("LocMethod", "radial")
    if method == "interp" and "InterpMethod" in ulm.get("parameters", {}):
        method = f"interp ({ulm['parameters']['InterpMethod']})"
    rows: list[ParityRow] = []

    def add(stage, output, count, measure, value, tol, passed):
        rows.append(ParityRow(block, method, stage, output, count, measure, value, tol, bool(passed)))

    iq_filt = None
    if filtered_file is not None and Path(filtered_file).exists():
        iq_filt = sio.loadmat(filtered_file)["IQ_filt"]
    if "filter" in stages and iq_filt is not None:
        b = sio.loadmat(block_file)
        iq = b["IQ"].astype(np.complex128)  # PALA's reference runs filtered in double
        fr = float(np.asarray(b["UF"][0, 0]["FrameRateUF"]).ravel()[0])
        ours = filter_block(iq, ulm.get("SVD_cutoff", [5, iq.shape[2]]), ulm.get("ButterCuttofFreq"), fr)
        rel = _max_diff(ours, iq_filt) / float(np.abs(iq_filt).max())
        add("filter", "IQ_filt", f"{iq.shape[2]} frames", "max rel. error", rel, 1e-8, rel <= 1e-8)

    if "localize" in stages and "MatTracking_px" in ref and iq_filt is not None:
        mt_ref = ref["MatTracking_px"]
        mt = pala.ULM_localization2D(np.abs(iq_filt), ulm)
        same = mt.shape == mt_ref.shape and np.array_equal(mt[:, 3], mt_ref[:, 3])
        err = _max_diff(mt[:, 1:3], mt_ref[:, 1:3]) if same else float("inf")
        tol = 1e-2 if ulm.get("LocMethod") == "curvefitting" else POS_TOL
        add("localize", "MatTracking_px", f"{len(mt)} / {len(mt_ref)}", "max |Δ position| px", err, tol, same and err <= tol)

    if "track" in stages and "MatTracking" in ref:
        mt = ref["MatTracking"]
        cache = {}
        for name, (mode, which) in TRACK_OUTPUTS.items():
            if name not in ref:
                continue
            if mode not in cache:
                cache[mode] = pala.ULM_tracking2D(mt, ulm, mode)
            ours = cache[mode] if which is None else cache[mode][which]
            count, val, tol, ok = _compare_tracks(ours, _cells(ref[name]), single=(mode == "velocityinterp"))
            measure = "max rel. error (single)" if mode == "velocityinterp" else "max |Δ|"
            add("track", f"{name} ({mode})", count, measure, val, tol, ok)

    if "render" in stages and "Tracks_vel" in ref:
        grid = SuperResolutionGrid(tuple(ulm["size"][:2]), float(ulm["res"][0]))
        size_out = list(grid.sr_shape)
        tm = grid.tracks_to_sr([np.asarray(t, np.float32) for t in _cells(ref["Tracks_vel"])], 4)
        maps = {"MatOut": lambda: pala.ULM_Track2MatOut(tm, size_out),
                "MatOut_zdir": lambda: pala.ULM_Track2MatOut(tm, size_out, "2D_vel_z"),
                "MatOut_vel": lambda: pala.ULM_Track2MatOut(tm, size_out, "2D_velnorm")}
        if "Tracks_interp" in ref:
            # converted in double, as the reference recipe does for the interpolated tracks
            ti = grid.tracks_to_sr([np.asarray(t, np.float64) for t in _cells(ref["Tracks_interp"])], 3)
            maps["MatOut_velmean"] = lambda: pala.ULM_Track2MatOut(ti, size_out, "2D_velmean")
        if "Tracks_raw" in ref:
            allin = grid.tracks_to_sr([np.concatenate(_cells(ref["Tracks_raw"]))], 2)[0]
            maps["MatOut_allin"] = lambda: pala.ULM_Track2MatOut(allin, size_out, "2D_allin")
        for name, make in maps.items():
            if name not in ref:
                continue
            ours, want = make(), ref[name]
            if name in ("MatOut", "MatOut_allin"):
                n_diff = int(np.count_nonzero(ours != want)) if ours.shape == want.shape else -1
                add("render", name, f"{int(np.count_nonzero(want))} px", "pixels that differ", n_diff, 0, n_diff == 0)
            else:
                rel = (_max_diff(ours, want) / max(float(np.abs(want).max()), 1e-30)) if ours.shape == want.shape else float("inf")
                add("render", name, f"{int(np.count_nonzero(want))} px", "max rel. error", rel, MAP_RTOL, rel <= MAP_RTOL)
    return rows


def run_regression(reference_dir, *, blocks=None, methods=None, stages=("filter", "localize", "track", "render")) -> list[ParityRow]:
    """Every PALA output file of a reference folder; ``blocks``/``methods`` filter by name."""
    d = Path(reference_dir)
    if not d.is_dir():
        raise ValueError(f"{d}: not a directory")
    files = sorted(d.glob("pala_block_*_*.mat"))
    rows = []
    for f in files:
        m = re.match(r"pala_block_(.+?)_([A-Za-z]+)\.mat$", f.name)
        if not m or m.group(2) == "filtered":
            continue
        blk, meth = m.groups()
        if (blocks and blk not in blocks) or (methods and meth not in methods):
            continue
        block_file = d / f"block_{blk}.mat"
        if not block_file.exists():
            raise ValueError(f"{f}: its input block {block_file.name} is missing from {d}")
        rows += regress_block(block_file, f, d / f"pala_block_{blk}_filtered.mat", stages=stages)
    if not rows:
        raise ValueError(f"{d}: no PALA output files (pala_block_<name>_<method>.mat) found")
    return rows


def markdown_table(rows) -> str:
    head = ("| block | method | stage | output | count (pyulm / PALA) | measure | value | tolerance | result |\n"
            "|---|---|---|---|---|---|---|---|---|")
    return "\n".join([head] + [r.as_markdown() for r in rows])
