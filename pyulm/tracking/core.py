"""``track``: Localizations -> Tracks, PALA's tracking (ULM_tracking2D) with its quirks behind ``pala_compat``."""
from __future__ import annotations

import dataclasses
import numbers

import numpy as np

from ..tables import Localizations, Metadata, Tracks  # noqa: F401 (Metadata: docstring example)
from .interpolate import interpolate_flat, interpolate_tracks  # noqa: F401 (interpolate_tracks: CycleULM's decoder)
from .batchlink import link_points
from .radix import stable_argsort
from .simpletracker import assemble_tracks, track_order

__all__ = ["track"]

MODES = ("nointerp", "interp", "velocityinterp", "pala")
COLUMNS = {
    "nointerp": ("z", "x", "frame"),
    "interp": ("z", "x", "frame"),
    "velocityinterp": ("z", "x", "vz", "vx", "t"),
    "pala_interp": ("z", "x", "vmean"),
}


def _number(v, name: str, *, low: float = 0.0, strict: bool = True, allow_inf: bool = False) -> float:
    if isinstance(v, np.ndarray) and v.size == 1:
        v = v.reshape(()).item()
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise ValueError(f"{name}: expected a finite number, got {v!r}")
    v = float(v)
    if v < low or (strict and v == low):
        raise ValueError(f"{name}: expected a value {'>' if strict else '>='} {low:g}, got {v!r}")
    return v


def link_parameters(locs, max_linking_distance, max_gap_closing, min_length) -> tuple[float, int, float]:
    """The checks every linker of a Localizations table shares (``track``, CycleULM's ``decode_tracks``):
    ``locs`` a table, ``max_linking_distance`` > 0, ``max_gap_closing`` a whole number >= 0,
    ``min_length`` >= 0. Returns them as (float, int, float); each error names its argument."""
    if not isinstance(locs, Localizations):
        raise ValueError(f"locs: expected a pyulm.tables.Localizations, got {type(locs).__name__}")
    mld = _number(max_linking_distance, "max_linking_distance")
    gap = _number(max_gap_closing, "max_gap_closing", strict=False)
    if gap != int(gap):
        raise ValueError(f"max_gap_closing: expected a whole number >= 0, got {max_gap_closing!r}")
    return mld, int(gap), _number(min_length, "min_length", strict=False)


def default_interp_factor(max_linking_distance: float, res: float) -> float:
    """PALA's step of the interpolation grid, ``((1 / max_linking_distance) / res) * 0.8``.

    Evaluated left to right as PALA does: for 2 and 10 it is
    0.04000000000000001, which makes the grid ``1:step:n`` end exactly at n.
    """
    return ((1.0 / max_linking_distance) / res) * 0.8


def link(z, x, frame, *, max_linking_distance, max_gap_closing=0, n_frames=None, flat=False):
    """Link points into tracks with simpletracker (Hungarian, greedy gap closing).

    Parameters
    ----------
    z, x : array_like of float, shape (n,)
        Positions (any unit, the unit of ``max_linking_distance``).
    frame : array_like of int, shape (n,)
        Frame index (>= 0) of every point; rows need not be sorted.
    max_linking_distance : float
        Largest link length, inclusive.
    max_gap_closing : int, optional
        Largest frame step of a gap-closing link (0 or 1: none).
    n_frames : int, optional
        Frames ``>= n_frames`` are ignored. Default: all.
    flat : bool, optional
        Return ``(indices, offsets)`` instead of a list: every track's indices
        concatenated, track i being ``indices[offsets[i]:offsets[i + 1]]``
        (the layout of a :class:`~pyulm.tables.Tracks` table; no Python
        object per track). Default False.

    Returns
    -------
    list of ndarray of int, or (ndarray, ndarray) if ``flat``
        For each track, the indices of its points **into the rows sorted by
        frame** (stable sort, as simpletracker's concatenated per-frame
        points), tracks ordered by their first point.

    Examples
    --------
    >>> [t.tolist() for t in link([0, 5, 0.1, 5], [0, 5, 0, 5.1], [0, 0, 1, 1], max_linking_distance=1)]
    [[0, 2], [1, 3]]
    >>> [a.tolist() for a in link([0, 5, 0.1, 5], [0, 5, 0, 5.1], [0, 0, 1, 1], max_linking_distance=1, flat=True)]
    [[0, 2, 1, 3], [0, 2, 4]]
    """
    if not isinstance(flat, (bool, np.bool_)):
        raise ValueError(f"flat: expected True or False, got {flat!r}")
    z = np.asarray(z, dtype=float).ravel()
    x = np.asarray(x, dtype=float).ravel()
    frame = np.asarray(frame).ravel().astype(np.int64)
    if np.all(frame[1:] >= frame[:-1]):  # rows already in frame order (the usual case): no sort, no gather
        keep = slice(0, frame.size if n_frames is None else int(np.searchsorted(frame, n_frames)))
    else:
        order = stable_argsort(frame)
        keep = order if n_frames is None else order[frame[order] < n_frames]
    f = frame[keep]
    if f.size == 0:
        return (np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)) if flat else []
    pts = np.column_stack([z[keep], x[keep]])
    nxt = link_points(pts, f - f[0], float(max_linking_distance), int(max_gap_closing))
    return track_order(nxt) if flat else assemble_tracks(nxt)


def track(locs: Localizations, *, max_linking_distance, max_gap_closing=0, min_length=15, mode="velocityinterp",
          frame_rate=None, res=10, smooth_span=20, interp_factor=None, n_frames=None, pala_compat=False):
    """Link localizations into tracks and smooth/interpolate them, as PALA's ``ULM_tracking2D``.

    Points are linked frame to frame by the Hungarian method (Tinevez's
    simpletracker, Yi Cao's munkres, exact tie-breaking), gaps are closed
    greedily, tracks with **more than** ``min_length`` points are kept (strict,
    as PALA), then each is post-processed according to ``mode``.

    Parameters
    ----------
    locs : Localizations
        The localizations; positions in the table's pixel units. Not modified.
    max_linking_distance : float
        Largest distance between linked points, pixels (inclusive).
    max_gap_closing : int, optional
        Largest frame step of a gap-closing link; 0 (PALA's value) or 1
        disables gap closing.
    min_length : float, optional
        Keep tracks with strictly more points than this. Default 15.
    mode : {"velocityinterp", "nointerp", "interp", "pala"}, optional
        * ``"nointerp"``: the linked points, columns ``z, x, frame``.
        * ``"interp"``: positions smoothed (moving average of ``smooth_span``)
          and linearly interpolated on the point index grid
          ``1 : interp_factor : n``; columns ``z, x, frame`` (frame as float,
          interpolated like the positions).
        * ``"velocityinterp"`` (default): as ``"interp"`` plus velocities;
          columns ``z, x, vz, vx, t`` with velocities in pixels/s and ``t``
          in seconds.
        * ``"pala"``: a pair ``(raw, interpolated)``: the ``"nointerp"``
          tracks and the interpolated positions with the track's mean speed
          (pixels/s), columns ``z, x, vmean``.
    frame_rate : float, optional
        Frames per second; default ``locs.meta.frame_rate``. Needed by
        ``"velocityinterp"`` and ``"pala"``.
    res : float, optional
        Super-resolution factor; only sets the default ``interp_factor``.
    smooth_span : float, optional
        Span of the moving average (MATLAB ``smooth``), default 20 (PALA).
    interp_factor : float, optional
        Step of the interpolation grid, in points. Default PALA's
        ``((1 / max_linking_distance) / res) * 0.8``.
    n_frames : int, optional
        Ignore frames ``>= n_frames``. Default: use every frame.
    pala_compat : bool, optional
        Reproduce PALA's quirks (see ``docs/tracking.md``): the frame column is
        looked up in ``locs`` by the position of the point among the
        frame-sorted points (correct only for frame-sorted input); velocities
        and ``t`` use ``t = (0 .. n-1) / frame_rate`` from the track start,
        ignoring gaps; ``"velocityinterp"`` is float32; ``vmean`` divides the
        path length by ``n`` points instead of the duration (``n - 1`` frame
        intervals).

    Returns
    -------
    Tracks, or (Tracks, Tracks) for ``mode="pala"``
        Empty tables (no track) when nothing survives; positions in ``locs``'
        pixel units, metadata copied from ``locs`` with the parameters added.

    Examples
    --------
    >>> f = np.arange(20)
    >>> locs = Localizations(z=10 + 0.5 * f, x=np.full(20, 10.0), frame=f, meta=Metadata(frame_rate=1000))
    >>> tr = track(locs, max_linking_distance=2, min_length=15)
    >>> len(tr), tr.columns, tr[0].shape
    (1, ('z', 'x', 'vz', 'vx', 't'), (476, 5))
    >>> round(float(tr[0][0, 2]), 6)   # vz in pixels/s
    500.0
    """
    mld, gap, min_length = link_parameters(locs, max_linking_distance, max_gap_closing, min_length)
    if not isinstance(mode, str) or mode.lower() not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    mode = mode.lower()
    res = _number(res, "res")
    smooth_span = _number(smooth_span, "smooth_span", low=1.0, strict=False)
    interp_factor = default_interp_factor(mld, res) if interp_factor is None else _number(interp_factor, "interp_factor")
    if n_frames is not None:
        n_frames = int(_number(n_frames, "n_frames", strict=False))
    dt = None
    if mode in ("velocityinterp", "pala"):
        fr = frame_rate if frame_rate is not None else locs.meta.frame_rate
        if fr is None:
            raise ValueError(f"frame_rate: mode {mode!r} needs the frame rate (Hz); got None and locs.meta.frame_rate is None")
        frame_rate = _number(fr, "frame_rate")
        dt = 1.0 / frame_rate
    elif frame_rate is not None:
        frame_rate = _number(frame_rate, "frame_rate")
    z, x, frame = locs.z, locs.x, locs.frame
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(x))):
        raise ValueError("locs: z and x must be finite, got NaN or Inf")
    if frame.size and frame.min() < 0:
        raise ValueError(f"locs.frame: expected frame indices >= 0, got minimum {int(frame.min())}")

    params = dict(max_linking_distance=mld, max_gap_closing=gap, min_length=min_length, mode=mode,
                  frame_rate=frame_rate, res=res, smooth_span=smooth_span, interp_factor=interp_factor,
                  pala_compat=bool(pala_compat))
    meta = dataclasses.replace(locs.meta, params={**locs.meta.params, "track": params},
                               frame_rate=frame_rate if frame_rate is not None else locs.meta.frame_rate)

    idx, offsets = link(z, x, frame, max_linking_distance=mld, max_gap_closing=gap, n_frames=n_frames, flat=True)
    order = stable_argsort(frame)
    if n_frames is not None:
        order = order[frame[order] < n_frames]
    # PALA reads the frame of the k-th frame-sorted point from row k of its unsorted input
    frame_src = frame if pala_compat else frame[order]
    zs, xs = z[order], x[order]
    lengths = np.diff(offsets)
    long_enough = lengths > min_length
    if mode in ("interp", "velocityinterp"):
        # the kept tracks' points, flat, one track after another
        flat = idx[np.repeat(long_enough, lengths)]
        kept_offsets = np.concatenate([[0], np.cumsum(lengths[long_enough])]).astype(np.int64)
        # PALA returns velocityinterp tracks in single: computed in double, stored in single
        # directly (the same rounding as a cast afterwards, without a double-size copy)
        single = mode == "velocityinterp" and pala_compat
        out = interpolate_flat(zs[flat], xs[flat], frame_src[flat].astype(float), kept_offsets, mode, interp_factor,
                               smooth_span, dt, pala_compat, np.float32 if single else np.float64)
        return Tracks(out[0], out[1], COLUMNS[mode], meta)
    bounds = offsets.tolist()
    kept = [idx[bounds[i]:bounds[i + 1]] for i in np.flatnonzero(long_enough).tolist()]
    raw = [np.column_stack([zs[t], xs[t], frame_src[t].astype(float)]) for t in kept]
    if mode == "nointerp":
        return Tracks.from_list(raw, COLUMNS["nointerp"], meta)
    out = interpolate_tracks(raw, mode, interp_factor, smooth_span, dt, pala_compat)
    return Tracks.from_list(raw, COLUMNS["nointerp"], meta), Tracks(out[0], out[1], COLUMNS["pala_interp"], meta)
