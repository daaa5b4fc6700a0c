"""Smoothing and interpolation of linked tracks (PALA's ``interp`` and ``velocityinterp``
outputs): positions smoothed with MATLAB's ``smooth``, then linearly interpolated on the
grid ``1 : interp_factor : n`` (MATLAB colon) of each track, as PALA does."""
from __future__ import annotations

import numpy as np

from .._parallel import default_workers, map_chunks
from .matlab import matlab_colon, smooth_rows, smooth_segments

_NCOL = {"interp": 3, "velocityinterp": 5, "pala": 3}


def _grid(n: int, interp_factor: float):
    """The interpolation grid of a track of ``n`` points: its values ``q`` (1-based point
    index), and for each the left point ``j``, the right one ``j1`` (0-based) and the weight."""
    q = matlab_colon(1.0, interp_factor, float(n))
    j = np.clip(np.floor(q).astype(np.int64) - 1, 0, max(n - 2, 0))
    return q, j, np.minimum(j + 1, n - 1), q - (j + 1)


def interpolate_tracks(raw, mode, interp_factor, smooth_span, dt, pala_compat, dtype=np.float64):
    """Smooth and interpolate every track of ``raw`` (a list of (n, 3) ``[z x frame]`` arrays).

    Returns ``(points, offsets)``; positions are interpolated in point-index space on the
    grid ``1 : interp_factor : n`` (MATLAB colon), as PALA does. ``interp`` and
    ``velocityinterp`` go through :func:`interpolate_flat`; ``pala`` (whose mean speed sums
    each track's steps) through tracks of equal length together.
    """
    lengths = np.array([r.shape[0] for r in raw], dtype=np.int64)
    if mode != "pala":
        flat = np.concatenate(raw) if raw else np.zeros((0, 3))
        return interpolate_flat(flat[:, 0], flat[:, 1], flat[:, 2], np.concatenate([[0], np.cumsum(lengths)]),
                                mode, interp_factor, smooth_span, dt, pala_compat, dtype)
    grids = {int(n): _grid(int(n), interp_factor) for n in np.unique(lengths)}
    m = np.array([grids[int(n)][0].size for n in lengths], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(m)]).astype(np.int64)
    points = np.empty((int(offsets[-1]), _NCOL[mode]), dtype=dtype)
    for n, (q, j, j1, w) in grids.items():
        ks = np.flatnonzero(lengths == n)
        block = np.stack([raw[k] for k in ks])  # (K, n, 3)

        def lin(y):  # linear interpolation on 1..n, as interp1 / np.interp
            return y[:, j] + (y[:, j1] - y[:, j]) * w

        zu = lin(smooth_rows(block[:, :, 0], smooth_span))
        xu = lin(smooth_rows(block[:, :, 1], smooth_span))
        dzu, dxu = np.diff(zu, axis=1), np.diff(xu, axis=1)
        path = np.sqrt(dzu ** 2 + dxu ** 2).sum(axis=1)
        # PALA divides by the number of points; the duration spans n - 1 frame intervals (more with gaps)
        vmean = path / n / dt if pala_compat else path / ((block[:, -1, 2] - block[:, 0, 2]) * dt)
        cols = [zu, xu, np.repeat(vmean[:, None], q.size, axis=1)]
        dest = (offsets[ks][:, None] + np.arange(q.size)).ravel()
        for c, col in enumerate(cols):
            points[dest, c] = col.ravel()
    return points, offsets


def interpolate_flat(z, x, frame, offsets, mode, interp_factor, smooth_span, dt, pala_compat, dtype=np.float64):
    """:func:`interpolate_tracks` (``interp`` or ``velocityinterp``) on tracks held flat:
    track ``k`` is ``z[offsets[k]:offsets[k+1]]`` (likewise ``x`` and ``frame``, float64).

    Every output point is computed with the arithmetic of the per-track formulas (the
    smoothing by :func:`smooth_segments`, the same interpolation and differences per
    element), so the values are those of a track-by-track loop, bit for bit, in a fixed
    number of passes over all points instead of a few per distinct track length.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    n_tracks = lengths.size
    uniq, which = np.unique(lengths, return_inverse=True)
    grids = [_grid(int(n), interp_factor) for n in uniq]
    sizes = np.array([g[0].size for g in grids], dtype=np.int64)
    m = sizes[which] if n_tracks else np.zeros(0, np.int64)
    out_off = np.concatenate([[0], np.cumsum(m)]).astype(np.int64)
    total = int(out_off[-1])
    points = np.empty((total, _NCOL[mode]), dtype=dtype)
    if total == 0:
        return points, out_off
    pool_j, pool_j1, pool_w = (np.concatenate([g[i] for g in grids]) for i in (1, 2, 3))
    pool_first = np.concatenate([[0], np.cumsum(sizes)])  # where each length's grid starts in the pool
    z, x, frame = (np.asarray(a, dtype=float) for a in (z, x, frame))
    # Smoothed once over all tracks (each point's value depends on its own track alone, so the
    # same bits as chunk by chunk): its many small steps hold the GIL, which two threads
    # smoothing their own chunks only fought over.
    zs, xs = smooth_segments(z, offsets, smooth_span), smooth_segments(x, offsets, smooth_span)

    def fill(t0: int, t1: int) -> None:
        """Tracks t0..t1-1 into their rows of ``points`` (each row depends on its own track only)."""
        offs = offsets[t0:t1 + 1] - offsets[t0]
        lens, mm = lengths[t0:t1], m[t0:t1]
        oo = out_off[t0:t1 + 1] - out_off[t0]
        rows = slice(int(out_off[t0]), int(out_off[t1]))
        pts, size = points[rows], int(oo[-1])
        fc = frame[offsets[t0]:offsets[t1]]
        # each output point's place in the pool of grids, then its two neighbours among the points
        place = np.arange(size) - np.repeat(oo[:-1] - pool_first[which[t0:t1]], mm)
        start = np.repeat(offs[:-1], mm)
        J = pool_j[place]
        J += start
        J1 = pool_j1[place]
        J1 += start
        W = pool_w[place]
        # z, x and the time axis as the rows of one array: one gather each for the interpolation,
        # y[j] + (y[j1] - y[j]) * w per row, as interp1 / np.interp
        Y = np.empty((3, fc.size))
        Y[0] = zs[offsets[t0]:offsets[t1]]
        Y[1] = xs[offsets[t0]:offsets[t1]]
        if mode == "interp":
            Y[2] = fc
        elif pala_compat:  # PALA's time axis is the point index, blind to gap-closed frames
            Y[2] = (np.arange(offs[-1]) - np.repeat(offs[:-1], lens)) * dt
        else:
            Y[2] = fc * dt
        A = np.take(Y, J, axis=1)
        U = np.take(Y, J1, axis=1)
        U -= A
        U *= W
        U += A
        pts[:, 0] = U[0]
        pts[:, 1] = U[1]
        if mode == "interp":
            pts[:, 2] = U[2]
            return
        heads = oo[:-1]
        # Velocities from consecutive grid points; a track's first point takes its second's
        # (the steps across two tracks are computed, then overwritten or unused).
        D = np.subtract(U[:, 1:], U[:, :-1], out=A[:, :-1])  # A is spent: its memory holds the steps
        with np.errstate(divide="ignore", invalid="ignore"):
            D[:2] /= D[2]
        pts[1:, 2] = D[0]
        pts[1:, 3] = D[1]
        single = mm == 1
        pts[heads[~single], 2:4] = pts[heads[~single] + 1, 2:4]
        pts[heads[single], 2:4] = np.nan  # a one-point grid: no displacement to measure
        pts[:, 4] = U[2]

    # Tracks in chunks of ~64k output points over threads: the rows are disjoint, and each
    # row's value does not depend on the chunk (nor, so, on the thread count).
    cuts = np.searchsorted(out_off, np.arange(1, total // (1 << 16) + 1) * (1 << 16))
    edges = sorted({0, n_tracks, *cuts.tolist()})
    map_chunks(fill, list(zip(edges[:-1], edges[1:])), default_workers())
    return points, out_off
