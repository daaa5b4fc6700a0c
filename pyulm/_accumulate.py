"""The one implementation behind :func:`pyulm.render` and :func:`pyulm.pala.ULM_Track2MatOut`:
SR coordinates of tracks to counts and averaged velocities per super-resolution pixel.

Public through :mod:`pyulm.render` (``accumulate``, ``TrackPixels``, ``smooth_tracks``,
``track_sign``, ``velocity_values``); split from it to keep the grid and the Pythonic
``render()`` apart from the accumulation engine. See ``docs/rendering.md`` for PALA's
velocity/pixel pairing (``pala_compat``).
"""
from __future__ import annotations

import numpy as np

from ._validate import positive, round_half_away

SMOOTH_SPAN = 10
_VELOCITY_KINDS = ("velocity_mean", "velocity_norm", "direction")


def smooth_tracks(values, offsets, span: int = SMOOTH_SPAN) -> np.ndarray:
    """MATLAB ``smooth(y, span)`` (moving average) applied to each track separately.

    The window is ``min(span, n)`` forced odd (10 -> 9); near both ends of a
    track it shrinks symmetrically (``c[0] = y[0]``, ``c[1] = mean(y[0:3])``...).

    Parameters
    ----------
    values : (N,) array_like
        Values of all points, track after track.
    offsets : (T + 1,) array_like of int
        Track ``k`` is ``values[offsets[k]:offsets[k+1]]``.
    span : int
        MATLAB's span (number of samples).

    Returns
    -------
    (N,) float64 array.

    Examples
    --------
    >>> smooth_tracks([1, 2, 4, 8, 16, 32, 64], [0, 7], span=20).round(4).tolist()
    [1.0, 2.3333, 6.2, 18.1429, 24.8, 37.3333, 64.0]
    """
    from .tracking.matlab import smooth_segments

    y = np.asarray(values, dtype=float).ravel()
    offsets = np.asarray(offsets, dtype=np.int64).ravel()
    span = int(positive(span, "span", integer=True))
    return smooth_segments(y, offsets, span)


def _pixel_index(z_sr, x_sr, sr_shape):
    """1-based SR coordinates -> (in-grid mask, column-major 0-based linear index of in-grid points)."""
    nz, nx = sr_shape
    # MATLAB's round(p) is floor(p + 0.5) for p >= 0; a negative p rounds to <= 0, which is
    # outside the grid either way, and NaN is outside too: the same mask and indices as
    # round_half_away, in two passes instead of four per axis.
    iz = np.floor(z_sr + z_sr.dtype.type(0.5)) if z_sr.dtype.kind == "f" else round_half_away(z_sr)
    ix = np.floor(x_sr + x_sr.dtype.type(0.5)) if x_sr.dtype.kind == "f" else round_half_away(x_sr)
    inside = (iz >= 1) & (iz <= nz) & (ix >= 1) & (ix <= nx)
    lin = (iz[inside].astype(np.int64) - 1) + (ix[inside].astype(np.int64) - 1) * nz
    return inside, lin


def _to_map(flat, sr_shape):
    return flat.reshape(sr_shape, order="F")


class TrackPixels:
    """The SR pixels each track visits, as PALA's maps pair them (one per track and pixel).

    Built once from SR coordinates, it serves every map of the same tracks
    (:func:`accumulate` ``pairs=``): the density, and each velocity map with PALA's pairing.

    Attributes
    ----------
    inside : (N,) bool
        Points in the grid.
    tid_in : (M,) int64
        Track of each in-grid point.
    upix : (U,) int64
        Column-major 0-based pixel of each (track, pixel) pair, track by track, pixels ascending
        (MATLAB's ``unique(L)`` order per track).
    take : (U,) int64
        In-grid point paired with each pair by PALA: the j-th unique pixel of a track gets
        the track's j-th in-grid point.
    """

    def __init__(self, z_sr, x_sr, offsets, sr_shape):
        npix = np.int64(sr_shape[0] * sr_shape[1])
        offsets = np.asarray(offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        tid = np.repeat(np.arange(lengths.size), lengths)
        self.inside, lin = _pixel_index(np.asarray(z_sr).reshape(-1), np.asarray(x_sr).reshape(-1), sr_shape)
        self.tid_in = tid[self.inside]
        # Points of a track stay contiguous and in track order after the mask, and a sort by
        # (track, pixel) gives each track's unique pixels ascending. One int64 key per point;
        # a track stays in a pixel for several points in a row, so dropping repeats first
        # leaves far fewer keys to sort (timsort merges their long sorted runs).
        key = self.tid_in * npix + lin
        rep = np.empty(key.size, bool)
        rep[:1] = False
        np.equal(key[1:], key[:-1], out=rep[1:])
        key_s = np.sort(key[~rep], kind="stable")
        first = np.ones(key_s.size, bool)
        np.not_equal(key_s[1:], key_s[:-1], out=first[1:])
        self.utid, self.upix = np.divmod(key_s[first], npix)
        self._take = None

    @property
    def take(self) -> np.ndarray:
        if self._take is None:
            start_in = np.searchsorted(self.tid_in, self.utid, side="left")
            start_u = np.searchsorted(self.utid, self.utid, side="left")
            self._take = start_in + (np.arange(self.utid.size) - start_u)
        return self._take


def accumulate(z_sr, x_sr, offsets, sr_shape, mode: str, values=None, sign=None, *, pala_compat: bool = False,
               totals=None, pairs: TrackPixels | None = None):
    """Build one SR map from SR coordinates (the engine of every renderer).

    Parameters
    ----------
    z_sr, x_sr : (N,) array_like
        1-based SR coordinates of all points, track after track; rounded half
        away from zero, points outside ``1..sr_shape`` dropped.
    offsets : (T + 1,) array_like of int
        Track boundaries in the point arrays.
    sr_shape : (int, int)
        Size of the map.
    mode : {"tracks", "allin", "velocity"}
        ``"allin"`` counts points, ``"tracks"`` counts tracks per pixel,
        ``"velocity"`` also averages ``values`` over the tracks of each pixel.
    values : (N,) array_like, optional
        Per-point value for ``"velocity"``.
    sign : (T,) array_like, optional
        Per-track factor multiplied into ``values`` (the direction map).
    pala_compat : bool
        Pair the j-th sorted unique pixel of a track with the j-th in-grid
        value of the track (PALA), instead of each pixel with the mean of the
        track's values in that pixel.
    totals : (density, sums), optional
        Flat float64 arrays of ``Nz_sr * Nx_sr`` running totals (modes ``"tracks"``
        and ``"velocity"``): this call's track counts and paired values are added into
        them, value after value in the order one call over all the tracks would add
        them, so blocks of tracks given in turn end with bit-identical sums (memory
        bounded by a block). They are returned, undivided and flat. ``density`` may
        be None (the counts are not wanted: another call adds them).
    pairs : TrackPixels, optional
        ``TrackPixels(z_sr, x_sr, offsets, sr_shape)`` when the caller builds several maps
        of the same tracks (modes ``"tracks"`` and PALA's ``"velocity"``): computed once.

    Returns
    -------
    density : (Nz_sr, Nx_sr) float64
    velocity : (Nz_sr, Nx_sr) float64 or None
        Sum of the paired values divided by ``density`` where it is > 0.
    """
    nz, nx = sr_shape
    npix = nz * nx
    if mode == "allin":
        _, lin = _pixel_index(np.asarray(z_sr).reshape(-1), np.asarray(x_sr).reshape(-1), sr_shape)
        return _to_map(np.bincount(lin, minlength=npix).astype(float), sr_shape), None
    if pala_compat or mode == "tracks":
        p = pairs if pairs is not None else TrackPixels(z_sr, x_sr, offsets, sr_shape)
        inside, tid_in, upix = p.inside, p.tid_in, p.upix
    else:
        offsets = np.asarray(offsets, dtype=np.int64)
        lengths = np.diff(offsets)
        inside, lin = _pixel_index(np.asarray(z_sr).reshape(-1), np.asarray(x_sr).reshape(-1), sr_shape)
        tid_in = np.repeat(np.arange(lengths.size), lengths)[inside]
        key = tid_in * np.int64(npix) + lin
        order = np.argsort(key, kind="stable")  # each pixel of a track: the mean of its points there
        key_s = key[order]
        first = np.ones(key_s.size, bool)
        np.not_equal(key_s[1:], key_s[:-1], out=first[1:])
        upix = key_s[first] % np.int64(npix)
    if totals is not None:
        if totals[0] is not None:
            np.add.at(totals[0], upix, 1.0)  # whole counts: exact in any order; no map-sized temporaries
    else:
        # float64 counts straight from bincount (sums of ones: exact), no int64 map to convert
        density = np.bincount(upix, weights=np.ones(upix.size), minlength=npix).astype(np.float64, copy=False)
    if mode == "tracks":
        return (totals[0], None) if totals is not None else (_to_map(density, sr_shape), None)

    v_in = np.asarray(values, dtype=float).ravel()[inside]
    if sign is not None:
        v_in = v_in * np.asarray(sign, dtype=float)[tid_in]
    if pala_compat:
        paired = v_in[p.take]
    else:
        group = np.cumsum(first) - 1
        sums = np.bincount(group, weights=v_in[order], minlength=upix.size)
        paired = sums / np.bincount(group, minlength=upix.size)
    if totals is not None:
        np.add.at(totals[1], upix, paired)  # in order, as bincount adds
        return totals
    # float64 even with no points (bincount gives int64 for empty input, weights or not)
    vel = np.bincount(upix, weights=paired, minlength=npix).astype(np.float64, copy=False)
    np.divide(vel, density, out=vel, where=density > 0)
    return _to_map(density, sr_shape), _to_map(vel, sr_shape)


def track_sign(vz, offsets, *, pala_compat: bool = False) -> np.ndarray:
    """Sign of each track's mean axial velocity: +1 deeper, -1 up, 0 none.

    With ``pala_compat=True`` the sum is accumulated sequentially in the
    input's floating type (single stays single), as MATLAB/Octave ``mean``
    does: for a track that ends at the depth it started, the exact mean is 0
    and only that rounding decides the sign PALA draws. Otherwise the sum is
    taken in double and a mean within rounding of 0 (``|sum| <= n * eps *
    sum(|vz|)``) gives 0.

    Examples
    --------
    >>> track_sign([1.0, -3.0, 2.0, 2.0, 2.0], [0, 3, 5]).tolist()
    [0.0, 1.0]
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    vz = np.asarray(vz).ravel()
    if pala_compat:
        dt = vz.dtype if vz.dtype.kind == "f" else np.dtype(float)
        v = vz.astype(dt, copy=False)
        # Sequential order matters (pairwise or double sums give other signs): a
        # cumulative sum along each zero-padded row is sequential by definition.
        # Tracks go in rows by length classes (within 2x), so padding stays < 2x.
        sums = np.zeros(lengths.size, dt)
        cls = np.zeros(lengths.size, np.int64)
        pos = lengths > 0
        cls[pos] = np.ceil(np.log2(lengths[pos])).astype(np.int64)
        for c in np.unique(cls[pos]):
            rows = np.flatnonzero(pos & (cls == c))
            width = int(lengths[rows].max())
            col = np.arange(width)
            valid = col < lengths[rows, None]
            pad = np.zeros((rows.size, width), dt)
            pad[valid] = v[(offsets[rows, None] + col)[valid]]
            sums[rows] = np.cumsum(pad, axis=1, dtype=dt)[:, -1]
        return np.sign(sums).astype(float) + 0.0
    tid = np.repeat(np.arange(lengths.size), lengths)
    v = vz.astype(float)
    sums = np.bincount(tid, weights=v, minlength=lengths.size)
    scale = np.bincount(tid, weights=np.abs(v), minlength=lengths.size)
    sums[np.abs(sums) <= lengths * np.finfo(float).eps * scale] = 0.0
    return np.sign(sums)


def velocity_values(kind: str, offsets, *, vz=None, vx=None, vmean=None, smooth_span: int = SMOOTH_SPAN,
                    pala_compat: bool = False):
    """Per-point values and per-track signs of a velocity map: the one recipe.

    Used by :func:`render` and :func:`pyulm.pala.ULM_Track2MatOut`.

    Parameters
    ----------
    kind : {"velocity_mean", "velocity_norm", "direction"}
        ``velocity_mean``: ``vmean`` when given, else ``|(vz, vx)|``;
        ``velocity_norm``: ``|(vz, vx)|`` smoothed along each track (MATLAB
        ``smooth(., smooth_span)``); ``direction``: the same, signed per track
        by :func:`track_sign` of ``vz``.
    offsets : (T + 1,) array_like of int
        Track boundaries.
    vz, vx, vmean : (N,) array_like, optional
        Per-point velocities (any unit; the map has the same).
    smooth_span : int
        MATLAB ``smooth`` span (PALA: 10).
    pala_compat : bool
        Sign in the input's precision, as PALA (see :func:`track_sign`).

    Returns
    -------
    values : (N,) float64 array
    sign : (T,) float64 array or None
        For :func:`accumulate`.
    """
    if kind == "velocity_mean":
        if vmean is not None:
            return np.asarray(vmean).ravel(), None
        return np.hypot(np.asarray(vz, dtype=float).ravel(), np.asarray(vx, dtype=float).ravel()), None
    if kind not in ("velocity_norm", "direction"):
        raise ValueError(f"kind: expected one of {list(_VELOCITY_KINDS)}, got {kind!r}")
    speed = np.hypot(np.asarray(vz, dtype=float).ravel(), np.asarray(vx, dtype=float).ravel())
    values = smooth_tracks(speed, offsets, smooth_span)
    sign = track_sign(vz, offsets, pala_compat=pala_compat) if kind == "direction" else None
    return values, sign
