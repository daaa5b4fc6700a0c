"""Explicit tracks from CycleULM-E2E: link detections with MBT-Net's velocity maps as a motion prior.

CycleULM's paper names its limitation: E2E gives images, not tracks. This decoder fuses
per-frame detections (e.g. CycleULM-Loc's: MB-DT + MBL-Net) with MBT-Net's motion:

1. MBT-Net runs over 8-frame windows of the MB-only frames (stride 7, so every frame
   pair (t, t+1) lies in one window). For a detection at frame t, the window holding
   (t, t+1) gives its predicted displacement: the velocity maps (input pixels per frame)
   averaged over the x4 pixels within ``prior_radius`` of it, weighted by the trajectory
   probability. Where no trajectory passes (peak probability below ``min_probability``)
   or outside the frames, the prediction is zero displacement (plain linking).
2. Each frame pair is linked by the Hungarian method on the squared distance between
   the detection at t+1 and the detection at t **moved by its predicted displacement**
   (pyulm's Munkres-exact assignment, :func:`pyulm.tracking.assignment.hungarian_batch`);
   pairs farther than ``max_linking_distance`` after the move are never linked.
3. Gaps (``max_gap_closing`` >= 2) are closed greedily (pyulm's nearest-neighbour linker)
   from track ends moved by g times their predicted displacement, as simpletracker does.

The result is pyulm's :class:`~pyulm.tables.Tracks` (as :func:`pyulm.track` gives), so
track-level filtering, lifetimes and PALA's velocity maps (``mode="velocityinterp"``)
work on E2E output.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from ..._validate import positive
from ...tables import Localizations, Tracks
from ...tracking.assignment import hungarian_batch
from ...tracking.core import COLUMNS, default_interp_factor, interpolate_tracks, link_parameters
from ...tracking.linkers import nearest_neighbor_linker, squared_distances
from ...tracking.simpletracker import assemble_tracks
from .mbtnet_data import UPSAMPLE
from .mbtnet_infer import check_frames, iter_predict
from .precision import check_precision

MODES = ("nointerp", "velocityinterp")


def _sample_prior(prob, vz, vx, z, x, radius: float, min_probability: float) -> np.ndarray:
    """(n, 2) predicted displacement (pixels/frame) at input positions (z, x) from one window's maps."""
    H, W = prob.shape
    r = int(np.ceil(radius * UPSAMPLE))
    offs = np.arange(-r, r + 1)
    dz, dx = np.meshgrid(offs, offs, indexing="ij")
    keep = dz ** 2 + dx ** 2 <= (radius * UPSAMPLE) ** 2
    dz, dx = dz[keep], dx[keep]
    jz = np.rint(UPSAMPLE * z + 1).astype(np.int64)[:, None] + dz[None]
    jx = np.rint(UPSAMPLE * x + 1).astype(np.int64)[:, None] + dx[None]
    ok = (jz >= 0) & (jz < H) & (jx >= 0) & (jx < W)
    jz, jx = np.clip(jz, 0, H - 1), np.clip(jx, 0, W - 1)
    p = np.where(ok, prob[jz, jx], 0.0)
    s = p.sum(axis=1)
    out = np.zeros((z.size, 2))
    use = (p.max(axis=1) >= min_probability) & (s > 0)
    out[use, 0] = (p * vz[jz, jx]).sum(axis=1)[use] / s[use]
    out[use, 1] = (p * vx[jz, jx]).sum(axis=1)[use] / s[use]
    return out


def motion_prior(locs: Localizations, mbonly, *, weights=None, prior_radius: float = 0.25,
                 min_probability: float = 0.05, device=None, precision: str = "fp32") -> np.ndarray:
    """MBT-Net's predicted displacement (v_z, v_x) in pixels/frame for every row of ``locs`` (frame t -> t+1).

    Rows whose frame is the last one, or where no trajectory passes, get (0, 0).
    """
    a = check_frames(mbonly)
    frame = locs.frame
    out = np.zeros((len(locs), 2))
    done = np.zeros(len(locs), dtype=bool)
    for start, prob, vz, vx in iter_predict(a, weights, stride=7, device=device, precision=precision):
        # this window serves the pairs (t, t+1) with start <= t < start + 7 not yet served
        sel = np.flatnonzero(~done & (frame >= start) & (frame < start + 7))
        if sel.size:
            out[sel] = _sample_prior(prob, vz, vx, locs.z[sel], locs.x[sel], prior_radius, min_probability)
            done[sel] = True
    return out


def decode_tracks(locs: Localizations, mbonly, *, weights=None, max_linking_distance=2.0, max_gap_closing=0,
                  min_length=15, mode: str = "nointerp", frame_rate=None, prior_radius: float = 0.25,
                  min_probability: float = 0.05, prior=None, device=None, precision: str = "fp32"):
    """Tracks from per-frame detections, linked with MBT-Net's velocity maps as a motion prior.

    Parameters
    ----------
    locs : Localizations
        Detections in pixel units (0-based) of the ``mbonly`` frames' grid; frame indices
        into those frames. Not modified.
    mbonly : array_like, shape (Z, X, T)
        The MB-only frames (MB-DT's output) the detections come from, T >= 8. Not modified.
    weights : path, optional
        MBT-Net model directory; default the shipped model.
    max_linking_distance : float, optional
        Largest distance (pixels, inclusive) between a detection at t+1 and the detection
        at t moved by its predicted displacement.
    max_gap_closing : int, optional
        Largest frame step of a gap-closing link (0 or 1: none).
    min_length : float, optional
        Keep tracks with strictly more points than this (as :func:`pyulm.track`).
    mode : {"nointerp", "velocityinterp"}, optional
        ``"nointerp"``: columns ``z, x, frame`` (the linked detections).
        ``"velocityinterp"``: smoothed and interpolated as :func:`pyulm.track` does, columns
        ``z, x, vz, vx, t`` (pixels/s, s), ready for PALA's velocity maps.
    frame_rate : float, optional
        Frames per second (``"velocityinterp"``); default ``locs.meta.frame_rate``.
    prior_radius : float, optional
        Radius (input pixels) around a detection over which the velocity maps are averaged.
    min_probability : float, optional
        Below this peak trajectory probability around a detection, no prior (zero motion).
        The defaults (0.25 px, 0.05) had the fewest broken + swapped links on validation
        sequences (bench_trackdecode's MB-only cases, seeds 100-101, not its test seeds).
    prior : ndarray, shape (len(locs), 2), optional
        Precomputed :func:`motion_prior` (pixels/frame); then MBT-Net is not run again.
    device : str, optional
        Torch device for MBT-Net.
    precision : {"fp32", "bf16"}
        MBT-Net's arithmetic (:mod:`pyulm.nn.cycleulm.precision`).

    Returns
    -------
    Tracks
        Positions in ``locs``' pixel units; metadata of ``locs`` with the parameters added.

    Examples
    --------
    >>> f = np.arange(20)
    >>> locs = Localizations(z=10 + 0.5 * f, x=np.full(20, 10.0), frame=f)
    >>> len(decode_tracks(locs, np.zeros((24, 24, 20)), min_length=10))
    1
    """
    mld, gap, min_length = link_parameters(locs, max_linking_distance, max_gap_closing, min_length)
    if not isinstance(mode, str) or mode not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)}, got {mode!r}")
    radius = float(positive(prior_radius, "prior_radius"))
    pmin = float(positive(min_probability, "min_probability", allow_zero=True))
    if pmin > 1:
        raise ValueError(f"min_probability: expected a probability in [0, 1], got {min_probability!r}")
    a = check_frames(mbonly)
    z, x, frame = locs.z, locs.x, locs.frame
    if not (np.all(np.isfinite(z)) and np.all(np.isfinite(x))):
        raise ValueError("locs: z and x must be finite, got NaN or Inf")
    if frame.size and (frame.min() < 0 or frame.max() >= a.shape[2]):
        raise ValueError(f"locs.frame: expected frame indices in [0, {a.shape[2] - 1}] (the frames of mbonly), "
                         f"got [{int(frame.min())}, {int(frame.max())}]")
    check_precision(precision, "decode_tracks: ")
    if prior is None:
        v = motion_prior(locs, a, weights=weights, prior_radius=radius, min_probability=pmin, device=device,
                         precision=precision)
    else:
        v = np.asarray(prior, dtype=float)
        if v.shape != (len(locs), 2) or not np.all(np.isfinite(v)):
            raise ValueError(f"prior: expected finite (len(locs), 2) = ({len(locs)}, 2) displacements, got shape "
                             f"{v.shape}")
    dt = None
    if mode == "velocityinterp":
        fr = frame_rate if frame_rate is not None else locs.meta.frame_rate
        if fr is None:
            raise ValueError("frame_rate: mode 'velocityinterp' needs the frame rate (Hz); got None and "
                             "locs.meta.frame_rate is None")
        dt = 1.0 / float(positive(fr, "frame_rate"))
    order = np.argsort(frame, kind="stable")
    pts = np.column_stack([z[order], x[order]])
    f = frame[order]
    vel = v[order]
    nxt = link_with_prior(pts, f, vel, mld, gap, a.shape[2])
    kept = [t for t in assemble_tracks(nxt) if t.size > min_length]
    raw = [np.column_stack([pts[t], f[t].astype(float)]) for t in kept]
    params = dict(max_linking_distance=mld, max_gap_closing=gap, min_length=min_length, mode=mode,
                  prior_radius=radius, min_probability=pmin, weights=str(weights) if weights else "shipped")
    meta = dataclasses.replace(locs.meta, params={**locs.meta.params, "decode_tracks": params})
    if mode == "nointerp" or not raw:
        return Tracks.from_list(raw, COLUMNS[mode], meta)
    # pyulm.track's defaults (PALA's): res 10 sets the interpolation step, smoothing span 20
    pts_i, offsets = interpolate_tracks(raw, mode, default_interp_factor(mld, 10), 20, dt, False)
    return Tracks(pts_i, offsets, COLUMNS[mode], meta)


def link_with_prior(pts: np.ndarray, frame: np.ndarray, vel: np.ndarray, max_d: float, max_gap_closing: int,
                    n_frames: int) -> np.ndarray:
    """Successor of every point (-1: none): Hungarian per frame pair on prior-moved distances, then gap closing.

    ``pts`` (n, 2) sorted by ``frame``; ``vel`` (n, 2) predicted displacement per frame.
    """
    n = pts.shape[0]
    if n == 0:
        return np.full(0, -1, dtype=np.int64)
    starts = np.searchsorted(frame, np.arange(n_frames + 1))
    moved = pts + vel
    d2 = [squared_distances(moved[starts[i]:starts[i + 1]], pts[starts[i + 1]:starts[i + 2]])
          for i in range(n_frames - 1)]
    nxt = hungarian_batch(d2, starts, max_d * max_d) if n_frames > 1 else np.full(n, -1, dtype=np.int64)
    if max_gap_closing < 2:
        return nxt
    has_in = np.zeros(n, dtype=bool)
    has_in[nxt[nxt >= 0]] = True
    for i in range(n_frames):
        for g in range(2, max_gap_closing + 1):
            if i + g >= n_frames:
                break
            src = np.arange(starts[i], starts[i + 1])
            src = src[nxt[src] < 0]
            tgt = np.arange(starts[i + g], starts[i + g + 1])
            tgt = tgt[~has_in[tgt]]
            if src.size == 0 or tgt.size == 0:
                continue
            idx = nearest_neighbor_linker(pts[src] + g * vel[src], pts[tgt], max_d)[0]
            ok = idx >= 0
            nxt[src[ok]] = tgt[idx[ok]]
            has_in[tgt[idx[ok]]] = True
    return nxt
