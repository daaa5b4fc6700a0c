"""Rendering: tracks to density and velocity maps on a super-resolution grid.

The module is itself callable, so the fourth verb reads like the others:
``pyulm.render(tracks, res=10, shape=(Nz, Nx))`` is :func:`render`
(``pyulm.render.render`` keeps working).

The super-resolution (SR) grid refines each pixel ``res`` times and has
``res * (Nz, Nx) + 1`` pixels, like PALA's ``MatOut``. A position ``p`` in
0-based pixel units lands on the 1-based SR index ``round((p + 1) * res)``
(MATLAB rounding, halves away from zero): the same pixel PALA's
``(pos_wavelength + 1) / SRscale`` gives with ``PDelta = 1``.

Maps (keys of :func:`render`):

``density``
    Number of tracks crossing each SR pixel (a track counts once per pixel).
``density_all``
    Number of points in each SR pixel (every point counts).
``velocity_mean``
    Mean over tracks of the track speed: the ``vmean`` column when the table
    has one (PALA's ``'pala'`` tracking mode), else the point speed ``|(vz, vx)|``.
``velocity_norm``
    Mean over tracks of the point speed smoothed along the track
    (MATLAB ``smooth(|v|, 10)``).
``direction``
    ``velocity_norm`` signed by the track's mean axial velocity: positive
    for tracks going deeper (increasing z), negative for tracks going up.

Velocities are in the tracks' units (pixel/s from :func:`pyulm.track`).
Points outside the grid are dropped. Pixels no track visits are 0.

Velocity/pixel pairing (``pala_compat``): PALA pairs the j-th sorted unique
pixel of a track with the j-th in-grid velocity sample of that track, so a
velocity is written to a pixel the track crossed at another time. With
``pala_compat=False`` (the default) each pixel of a track receives the mean
velocity of that track's own points in that pixel. The two agree when the
velocity is constant along the track; see ``docs/rendering.md``.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._accumulate import SMOOTH_SPAN, TrackPixels, accumulate, smooth_tracks, track_sign, velocity_values
from ._validate import positive, round_half_away
from .tables import Localizations, Tracks

__all__ = ["SuperResolutionGrid", "render", "KINDS", "velocity_values", "accumulate", "TrackPixels", "smooth_tracks",
           "track_sign"]

#: Map names of :func:`render`, with the PALA mode each one reproduces.
KINDS = {
    "density": "2D_tracks",
    "density_all": "2D_allin",
    "velocity_mean": "2D_velmean",
    "velocity_norm": "2D_velnorm",
    "direction": "2D_vel_z",
}


@dataclass(frozen=True)
class SuperResolutionGrid:
    """The super-resolution grid of an image of ``shape`` pixels refined ``res`` times.

    Parameters
    ----------
    shape : (int, int)
        ``(Nz, Nx)``, size of the original image in pixels.
    res : float
        Refinement factor (SR pixels per original pixel), e.g. 10.

    Examples
    --------
    >>> grid = SuperResolutionGrid((64, 80), res=10)
    >>> grid.sr_shape
    (641, 801)
    >>> grid.to_sr(np.array([0.0]), np.array([2.54]))
    (array([10.]), array([35.4]))
    """

    shape: tuple[int, int]
    res: float = 10

    def __post_init__(self):
        shape = np.asarray(self.shape).ravel()
        if shape.size != 2 or not np.issubdtype(shape.dtype, np.number) or np.any(shape < 1) or np.any(shape != np.round(shape)):
            raise ValueError(f"shape: expected (Nz, Nx), two whole numbers >= 1, got {self.shape!r}")
        object.__setattr__(self, "shape", (int(shape[0]), int(shape[1])))
        object.__setattr__(self, "res", positive(self.res, "res"))

    @property
    def scale(self) -> float:
        """PALA's ``SRscale``: size of one SR pixel in original pixels (``1 / res``)."""
        return 1.0 / self.res

    @property
    def sr_shape(self) -> tuple[int, int]:
        """Size of the maps: ``round(shape / scale) + 1`` (PALA's ``SRsize + [1 1]``)."""
        nz, nx = round_half_away(np.asarray(self.shape, float) / self.scale).astype(int) + 1
        return int(nz), int(nx)

    def to_sr(self, z, x):
        """SR coordinates (1-based, unrounded) of 0-based pixel positions.

        Computed as ``(p + 1) / scale`` in the floating type of the positions
        (float32 stays float32), which is how PALA converts its single
        precision tracks; doing it in double moves a few points to a
        neighbouring SR pixel.
        """
        z = np.asarray(z)
        x = np.asarray(x)
        dt = np.result_type(z.dtype, x.dtype, np.float32) if z.dtype.kind == "f" or x.dtype.kind == "f" else np.float64
        one, scale = dt.type(1), dt.type(self.scale)
        return (z.astype(dt, copy=False) + one) / scale, (x.astype(dt, copy=False) + one) / scale

    def tracks_to_sr(self, tracks, columns: int | None = None) -> list[np.ndarray]:
        """PALA's ``(tr(:, 1:c) + [1 1 0 ...]) ./ [SRscale SRscale 1 ...]`` for a list of track arrays.

        Parameters
        ----------
        tracks : sequence of (n, c) array_like
            Rows ``[z, x, ...]`` with 0-based pixel positions.
        columns : int, optional
            Keep the first ``columns`` columns (default all).

        Returns
        -------
        list of (n, columns) arrays
            Columns 0 and 1 in 1-based SR coordinates (:meth:`to_sr`, in each
            array's floating precision: single stays single), the others
            unchanged. The inputs are not modified.

        Examples
        --------
        >>> SuperResolutionGrid((4, 4), 10).tracks_to_sr([np.array([[0.0, 1.5, 7.0]])])[0].tolist()
        [[10.0, 25.0, 7.0]]
        """
        out = []
        for k, tr in enumerate(tracks):
            a = np.asarray(tr)
            if a.ndim != 2 or a.shape[1] < 2 or not np.issubdtype(a.dtype, np.number):
                raise ValueError(f"tracks: expected numeric (n, >=2) arrays [z, x, ...], track {k} has shape {a.shape}")
            a = a[:, :columns] if columns is not None else a
            dt = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
            a = a.astype(dt, copy=True)
            a[:, 0], a[:, 1] = self.to_sr(a[:, 0], a[:, 1])
            out.append(a)
        return out

    def extent_px(self) -> tuple[float, float, float, float]:
        """(left, right, bottom, top) of the map in 0-based pixel units, for ``imshow(extent=...)``."""
        nz, nx = self.sr_shape
        s = self.scale
        # SR index i (1-based) is centred on pixel position i * s - 1; edges half an SR pixel out
        return (s / 2 - 1, s * (nx + 0.5) - 1, s * (nz + 0.5) - 1, s / 2 - 1)


# ---------------------------------------------------------------------------------------------
# Pythonic API
# ---------------------------------------------------------------------------------------------

def _column(table, names, kind):
    for name in names:
        if name in table.columns:
            return table.column(name) if isinstance(table, Tracks) else table[name]
    raise ValueError(
        f"tracks: map {kind!r} needs column(s) {' or '.join(map(repr, names))}, "
        f"the table has columns {tuple(table.columns)}"
    )


def render(tracks, *, res: float = 10, shape: Sequence[int], kinds: Sequence[str] | str = ("density",),
           pala_compat: bool = False, smooth_span: int = SMOOTH_SPAN) -> dict[str, np.ndarray]:
    """Render tracks as density and velocity maps on the super-resolution grid.

    Parameters
    ----------
    tracks : Tracks or Localizations
        Positions ``z``, ``x`` in 0-based pixel units; velocity maps need
        columns ``vz``, ``vx`` (pixel/s, as from :func:`pyulm.track`),
        ``velocity_mean`` uses ``vmean`` when present. A
        :class:`~pyulm.Localizations` table only renders ``density_all``.
    res : float
        Refinement factor: SR pixels per original pixel (PALA's ``ULM.res``).
    shape : (int, int)
        ``(Nz, Nx)``, size of the original image in pixels; the maps have
        ``res * shape + 1`` pixels.
    kinds : str or sequence of str
        Maps to build, among ``"density"``, ``"density_all"``,
        ``"velocity_mean"``, ``"velocity_norm"``, ``"direction"``.
    pala_compat : bool
        Reproduce PALA's velocity/pixel pairing (see the module docstring).
        Density maps do not depend on it.
    smooth_span : int
        MATLAB ``smooth`` span for the speed of ``velocity_norm`` and
        ``direction`` (PALA: 10).

    Returns
    -------
    dict of str to (Nz_sr, Nx_sr) float64 arrays
        Densities are counts; velocity maps are in the tracks' velocity
        unit, 0 where no track passes.

    Examples
    --------
    >>> from pyulm import Tracks
    >>> tr = Tracks.from_list([np.array([[0.0, 0.0, 100.0, 0.0, 0.0], [0.04, 0.0, 100.0, 0.0, 1e-3]])],
    ...                       columns=("z", "x", "vz", "vx", "t"))
    >>> maps = render(tr, res=10, shape=(2, 2), kinds=("density", "direction"))
    >>> maps["density"].shape, float(maps["density"].sum()), float(maps["direction"].max())
    ((21, 21), 1.0, 100.0)
    """
    if isinstance(kinds, str):
        kinds = (kinds,)
    kinds = tuple(kinds)
    if not kinds:
        raise ValueError("kinds: expected at least one map name, got an empty sequence")
    for k in kinds:
        if k not in KINDS:
            raise ValueError(f"kinds: unknown map {k!r}; expected names among {list(KINDS)}")
    if not isinstance(pala_compat, (bool, np.bool_)):
        raise ValueError(f"pala_compat: expected True or False, got {pala_compat!r}")
    grid = SuperResolutionGrid(tuple(shape) if np.ndim(shape) else shape, res)
    if isinstance(tracks, Localizations):
        bad = [k for k in kinds if k != "density_all"]
        if bad:
            raise ValueError(f"tracks: a Localizations table has no tracks, it renders only 'density_all', got kinds {bad}")
        offsets = np.array([0, len(tracks)])
    elif isinstance(tracks, Tracks):
        offsets = tracks.offsets
    else:
        raise ValueError(f"tracks: expected a pyulm Tracks or Localizations table, got {type(tracks).__name__}")

    z_sr, x_sr = grid.to_sr(_column(tracks, ("z",), kinds[0]), _column(tracks, ("x",), kinds[0]))
    sr_shape = grid.sr_shape
    out: dict[str, np.ndarray] = {}
    for kind in kinds:
        if kind in ("density", "density_all"):
            out[kind] = accumulate(z_sr, x_sr, offsets, sr_shape, "tracks" if kind == "density" else "allin")[0]
            continue
        if kind == "velocity_mean" and "vmean" in tracks.columns:
            values, sign = velocity_values(kind, offsets, vmean=tracks.column("vmean"))
        else:
            values, sign = velocity_values(kind, offsets, vz=_column(tracks, ("vz",), kind),
                                           vx=_column(tracks, ("vx",), kind), smooth_span=smooth_span,
                                           pala_compat=pala_compat)
        dens, vel = accumulate(z_sr, x_sr, offsets, sr_shape, "velocity", values, sign, pala_compat=pala_compat)
        out.setdefault("density", dens)
        out[kind] = vel
    return {k: out[k] for k in kinds}


class _CallableModule(types.ModuleType):
    """This module, callable as :func:`render` (the fourth verb: ``pyulm.render(tracks, ...)``)."""

    def __call__(self, tracks, **kwargs):
        return render(tracks, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
