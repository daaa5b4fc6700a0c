"""Held-out test acquisitions for the usefulness benchmark of PgD (benchmarks/bench_pgd.py).

A localizer trained on PgD samples is scored on **physics** acquisitions of the target
probe that no training saw: thin straight vessels (a few near-vertical ones, whose
cross-section measures the lateral resolution, and near-horizontal ones for the axial
resolution), each frame holding a Poisson number of bubbles spread uniformly along and
across the vessels' lumens, rendered by :func:`pyulm.nn.pgd.physics.simulate_images` with
white noise (:func:`pyulm.nn.pgd.synthesis.add_noise`).

The resolution of the super-resolved map is the FWHM of each vessel's cross-section: the
localizations within ``half_window`` of a vessel, by their signed distance to its axis,
counted on a grid ``bin_px`` fine (the SR map at ``1 / bin_px`` times the pixel grid,
summed along the vessel), smoothed by a Gaussian of one bin, and measured by
:func:`pyulm.metrics.profile_fwhm`. A perfect localizer gives the lumen width.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...tables import Localizations

__all__ = ["Vessel", "thin_vessels", "vessel_acquisition", "vessel_fwhm", "resolution_curve"]


@dataclass(frozen=True)
class Vessel:
    """A straight vessel from (z0, x0) to (z1, x1) (pixels) with a lumen ``width`` (pixels)."""

    z0: float
    x0: float
    z1: float
    x1: float
    width: float

    @property
    def length(self) -> float:
        return float(np.hypot(self.z1 - self.z0, self.x1 - self.x0))

    @property
    def axis(self) -> str:
        """``"lateral"`` when the cross-section runs along x (a near-vertical vessel), else ``"axial"``."""
        return "lateral" if abs(self.z1 - self.z0) > abs(self.x1 - self.x0) else "axial"

    def coordinates(self, z, x):
        """(distance along the vessel from its start, signed distance from its axis), pixels."""
        uz, ux = (self.z1 - self.z0) / self.length, (self.x1 - self.x0) / self.length
        dz, dx = np.asarray(z, float) - self.z0, np.asarray(x, float) - self.x0
        return dz * uz + dx * ux, dx * uz - dz * ux


def thin_vessels(shape=(64, 64), width: float = 0.2) -> list[Vessel]:
    """The fixed test layout: two near-vertical vessels on the left of the field and three
    near-horizontal ones on the right, none crossing, 4 px from every edge."""
    nz, nx = shape
    m = 4.0
    left = [Vessel(m, 0.15 * nx, nz - m, 0.15 * nx + 3.0, width), Vessel(m, 0.35 * nx, nz - m, 0.35 * nx - 2.0, width)]
    right = [Vessel(f * nz, 0.5 * nx, f * nz + d, nx - m, width) for f, d in ((0.2, 2.0), (0.5, -1.5), (0.8, 1.0))]
    return left + right


def vessel_acquisition(params, n_frames: int, *, shape=(64, 64), density: float = 8.0, width_px: float = 0.2,
                       seed: int = 0, snr_db: float | None = 20.0):
    """A physics acquisition of bubbles in :func:`thin_vessels`.

    Parameters
    ----------
    params : PhysicsParams
    n_frames : int
    shape : (nz, nx)
    density : float
        Mean bubbles per frame over all vessels (each vessel gets a share by its length).
    width_px : float
        Lumen width, pixels.
    seed : int
    snr_db : float or None
        Noise level (see :func:`pyulm.nn.pgd.synthesis.add_noise`); None: clean.

    Returns
    -------
    iq : ndarray complex64 (nz, nx, n_frames)
    gt : Localizations
        z, x (0-based pixels), frame, intensity (amplitude), and column ``vessel``.
    vessels : list of Vessel
    """
    from .physics import simulate_images
    from .synthesis import add_noise

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 18, 2]))
    vessels = thin_vessels(shape, width_px)
    lengths = np.array([v.length for v in vessels])
    counts = rng.poisson(float(density), int(n_frames))
    k = int(counts.sum())
    which = rng.choice(len(vessels), size=k, p=lengths / lengths.sum())
    along, across = rng.uniform(0, 1, k), rng.uniform(-0.5, 0.5, k)
    z = np.empty(k)
    x = np.empty(k)
    for i, v in enumerate(vessels):
        s = which == i
        uz, ux = (v.z1 - v.z0) / v.length, (v.x1 - v.x0) / v.length
        z[s] = v.z0 + along[s] * (v.z1 - v.z0) - across[s] * v.width * ux
        x[s] = v.x0 + along[s] * (v.x1 - v.x0) + across[s] * v.width * uz
    frame = np.repeat(np.arange(int(n_frames)), counts)
    amp = rng.uniform(0.3, 1.0, k)
    iq, _ = simulate_images(params, np.column_stack([z, x, frame, amp]), tuple(shape) + (int(n_frames),))
    if snr_db is not None:
        iq = add_noise(iq, params, snr_db, rng)
    gt = Localizations(z, x, frame, amp, extra={"vessel": which})
    return iq, gt, vessels


def vessel_fwhm(z, x, vessel: Vessel, *, bin_px: float = 0.05, half_window: float = 2.0) -> float:
    """FWHM (pixels) of the cross-section of the localizations (z, x) near ``vessel``;
    NaN with fewer than 10 localizations there or a profile without two half-maximum crossings."""
    from scipy.ndimage import gaussian_filter1d

    from ...metrics import profile_fwhm

    s, d = vessel.coordinates(z, x)
    near = (s >= 0) & (s <= vessel.length) & (np.abs(d) <= half_window)
    if near.sum() < 10:
        return float("nan")
    edges = np.arange(-half_window, half_window + bin_px / 2, bin_px)
    hist, _ = np.histogram(d[near], edges)
    return profile_fwhm(gaussian_filter1d(hist.astype(float), 1.0), bin_px)


def resolution_curve(locs, vessels, frame_counts, **kw) -> dict:
    """Median FWHM (pixels) over the lateral and the axial vessels of the localizations of the
    first ``n`` frames, for each ``n`` of ``frame_counts`` -> ``{n: {"lateral", "axial"}}``."""
    out = {}
    frame = np.asarray(locs["frame"])
    for n in frame_counts:
        sel = frame < n
        z, x = np.asarray(locs["z"])[sel], np.asarray(locs["x"])[sel]
        per = {"lateral": [], "axial": []}
        for v in vessels:
            per[v.axis].append(vessel_fwhm(z, x, v, **kw))
        out[int(n)] = {k: float(np.nanmedian(w)) if np.isfinite(w).any() else float("nan")
                       for k, w in ((k, np.asarray(v)) for k, v in per.items())}
    return out
