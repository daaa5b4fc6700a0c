"""The maps over a whole acquisition, accumulated block by block on :mod:`pyulm.render`.

The density ``MatOut`` (tracks per SR pixel; with Deep-stULM the sum of the blocks'
maps, :meth:`MapAccumulator.add_map`), the signed axial map ``MatOut_zdir`` and
the speed ``MatOut_vel`` are PALA's ``ULM_Track2MatOut`` modes ``2D_tracks``,
``2D_vel_z`` and ``2D_velnorm`` (the render core with ``pala_compat=True``); the power
Doppler image is the mean over blocks. Tracks never span blocks, so each block's tracks
are added to running totals in turn and dropped: memory does not grow with the length
of the acquisition, and the sums are added in the same order as one pass over all the
tracks would add them, so the maps are bit-identical to it.
"""
from __future__ import annotations

import numpy as np

from .._parallel import default_workers, map_chunks
from ..render import SuperResolutionGrid, TrackPixels, accumulate, track_sign, velocity_values


class MapAccumulator:
    """Running totals of PALA's maps.

    Parameters
    ----------
    shape_zx : (int, int)
        Image size in pixels.
    res : float
        Super-resolution factor.
    pixel_size : (float, float)
        ``(dz, dx)`` of the tracks' positions, wavelengths per pixel.
    wavelength_mm : float, optional
        Converts the speed map to mm/s.
    dtype : numpy dtype, optional
        Class the tracks are stacked in (as PALA's ``ULM_Track2MatOut`` stacks every
        track in one array); default each block's own. It decides the rounding of the
        direction map's per-track sign, so a caller holding tracks of several classes
        passes their common class.
    """

    def __init__(self, shape_zx, res, pixel_size=(1.0, 1.0), wavelength_mm=None, dtype=None):
        self.grid = SuperResolutionGrid(tuple(int(s) for s in shape_zx), res)
        self.pixel_size = (float(pixel_size[0]), float(pixel_size[1]))
        self.wavelength_mm = wavelength_mm
        self.dtype = None if dtype is None else np.dtype(dtype)
        n = self.grid.sr_shape[0] * self.grid.sr_shape[1]
        self._density = np.zeros(n)
        self._zdir = (None, np.zeros(n))  # (density, sums) for accumulate: the density is _density
        self._vel = (None, np.zeros(n))
        self._powdop = None
        self._n_powdop = 0

    def add_tracks(self, tracks) -> None:
        """Add one block's tracks (``[z x vz vx ...]`` in wavelengths, any float class)."""
        pts, offsets = self._points(tracks)
        if pts is None:
            return
        if self.dtype is not None:
            pts = pts.astype(self.dtype, copy=False)
        z, x, sr_shape = pts[:, 0], pts[:, 1], self.grid.sr_shape
        # The three maps visit the same (track, SR pixel) pairs: found once (and PALA's pairing of
        # them), and the tracks signed, on one thread while the other smooths the speeds (the
        # larger half: 8 + 5 ms against 10 ms on the 78 x 118 x 800 block). Independent work:
        # the same bits as one after the other.
        def part(i, _):
            if i == 0:
                p = TrackPixels(z, x, offsets, sr_shape)
                p.take  # noqa: B018 - computed here, on this thread
                return p, track_sign(pts[:, 2], offsets, pala_compat=True)
            return velocity_values("velocity_norm", offsets, vz=pts[:, 2], vx=pts[:, 3])[0]

        (pairs, sign), speed = map_chunks(part, [(0, 1), (1, 2)], default_workers())
        accumulate(z, x, offsets, sr_shape, "tracks", totals=(self._density, None), pairs=pairs)
        accumulate(z, x, offsets, sr_shape, "velocity", speed, sign, pala_compat=True, totals=self._zdir, pairs=pairs)
        accumulate(z, x, offsets, sr_shape, "velocity", speed, None, pala_compat=True, totals=self._vel, pairs=pairs)

    def _points(self, tracks):
        """Every track's ``[z x vz vx]`` rows stacked, z and x on the SR grid (each track in its own
        class, as ``tracks_to_sr``), and the track offsets; ``(None, None)`` with no point."""
        tracks = [np.asarray(t) for t in tracks]
        if tracks and all(t.ndim == 2 and t.shape[1] >= 4 and t.dtype.kind == "f" for t in tracks) \
                and len({t.dtype for t in tracks}) == 1:
            # One class: the same elementwise conversion on all rows at once (bit-identical).
            tracks = [t for t in tracks if t.shape[0] > 0]
            pts = np.concatenate([t[:, :4] for t in tracks], axis=0) if tracks else np.zeros((0, 4))
            lengths = [t.shape[0] for t in tracks]
            self._divide_by_pixel(pts)
            pts[:, 0], pts[:, 1] = self.grid.to_sr(pts[:, 0], pts[:, 1])
        else:
            arrays = [a for a in self.grid.tracks_to_sr([self._in_pixels(t) for t in tracks], 4) if a.shape[0] > 0]
            pts = np.concatenate(arrays, axis=0) if arrays else np.zeros((0, 4))
            lengths = [a.shape[0] for a in arrays]
        if pts.shape[0] == 0:
            return None, None
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return pts, offsets

    def add_map(self, matout) -> None:
        """Add one block's map on the ``MatOut`` grid to the density (Deep-stULM's track
        maps: no tracks, so the velocity maps get nothing), or a stack ``[density, signed
        speed, speed]`` along a third axis (CycleULM-E2E): the speeds are averaged over blocks
        weighted by the density, as tracks' speeds are."""
        m = np.asarray(matout, dtype=np.float64)
        grid = tuple(self.grid.sr_shape)
        if m.shape not in (grid, grid + (3,)):
            raise ValueError(f"matout: expected a map of the MatOut grid {grid} or a stack of 3 of them "
                             f"{grid + (3,)}, got {m.shape}")
        if m.ndim == 2:
            self._density += m.reshape(-1, order="F")
            return
        density = m[:, :, 0].reshape(-1, order="F")
        self._density += density
        for k, (_, sums) in ((1, self._zdir), (2, self._vel)):
            sums += density * m[:, :, k].reshape(-1, order="F")

    def _in_pixels(self, tr) -> np.ndarray:
        """Positions from wavelengths to pixels, in the track's own class (float32 from
        ``velocityinterp``, as MATLAB converts single tracks); a no-op for PALA's 1-wavelength pixels."""
        tr = np.asarray(tr)
        if self.pixel_size == (1.0, 1.0):
            return tr
        dt = tr.dtype if np.issubdtype(tr.dtype, np.floating) else np.dtype(np.float64)
        return self._divide_by_pixel(tr.astype(dt, copy=True))

    def _divide_by_pixel(self, a: np.ndarray) -> np.ndarray:
        """Columns z and x of the floating ``a`` divided by the pixel size, in place, in ``a``'s class."""
        for k in (0, 1):
            if self.pixel_size[k] != 1:
                a[:, k] = a[:, k] / a.dtype.type(self.pixel_size[k])
        return a

    def add_powdop(self, powdop) -> None:
        """Add one block's power Doppler image (the mean is taken over blocks)."""
        pd = np.asarray(powdop, dtype=float)
        self._powdop = pd.copy() if self._powdop is None else self._powdop + pd
        self._n_powdop += 1

    @property
    def powdop(self) -> np.ndarray:
        """Mean power Doppler image over the blocks added."""
        if self._powdop is None:
            raise ValueError("no power Doppler image was added")
        return self._powdop / self._n_powdop

    def maps(self) -> dict:
        """``MatOut``, ``MatOut_zdir``, ``MatOut_vel`` (mm/s when the wavelength is known, else
        wavelengths/s), ``llz``, ``llx`` (SR grid axes, wavelengths) and ``sizeOut``."""
        shape = self.grid.sr_shape
        out = {"MatOut": self._density.reshape(shape, order="F").copy()}
        hit = self._density > 0
        for name, (_, sums) in (("MatOut_zdir", self._zdir), ("MatOut_vel", self._vel)):
            v = np.divide(sums, self._density, out=sums.copy(), where=hit)
            out[name] = v.reshape(shape, order="F")
        if self.wavelength_mm:
            out["MatOut_vel"] = out["MatOut_vel"] * self.wavelength_mm
        sr = 1.0 / self.grid.res
        out["llz"] = np.arange(shape[0]) * sr * self.pixel_size[0]
        out["llx"] = np.arange(shape[1]) * sr * self.pixel_size[1]
        out["sizeOut"] = list(shape)
        return out


def accumulate_maps(tracks, shape_zx, params) -> dict:
    """PALA's maps from all tracks of an acquisition (in block order).

    Parameters
    ----------
    tracks : list of arrays
        ``[z x vz vx t]`` tracks in wavelengths (:attr:`BlockResult.tracks` of every block).
    shape_zx : (int, int)
        Image size in pixels.
    params : BlockParams
        Gives ``res``, ``pixel_size`` and ``wavelength_mm``.

    Returns
    -------
    dict
        See :meth:`MapAccumulator.maps`.
    """
    tracks = [np.asarray(t) for t in tracks]
    dtype = np.result_type(*[t.dtype for t in tracks]) if tracks else None
    acc = MapAccumulator(shape_zx, params.res, params.pixel_size, params.wavelength_mm, dtype)
    acc.add_tracks(tracks)
    return acc.maps()
