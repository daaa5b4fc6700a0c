"""Bubbles from the fine maps of the FISTA solver of :mod:`pyulm.localization.decon`, and the per-frame cap.

The lasso map ``x`` spreads one bubble over a few neighbouring fine points,
so bubbles are the local maxima of its mass (box sums about one pixel wide),
refined by the centroid of ``x`` within one pixel.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["fista_peaks", "top_per_frame"]


def top_per_frame(t, score, n: int) -> np.ndarray:
    """Indices of the ``n`` largest ``score`` of each frame ``t``, by frame then decreasing score (ties: first)."""
    order = np.lexsort((-score, t))
    ts = t[order]
    rank = np.arange(ts.size) - np.searchsorted(ts, ts, side="left")
    return order[rank < n]


def fista_peaks(x, u: int, n_part: int, min_mass: float):
    """Peaks of the fine maps ``x`` (z·u, x·u, t): frame, fine-grid centroid and mass of each.

    Parameters
    ----------
    x : ndarray (Fz, Fx, T)
        Fine bubble maps (:func:`pyulm.localization.decon.deconvolve`).
    u : int
        Fine points per pixel.
    n_part : int
        At most this many peaks per frame (largest mass first).
    min_mass : float
        Keep peaks whose mass exceeds this.

    Returns
    -------
    t, cz, cx, mass : ndarray
        Frame, centroid in fine-grid units, mass.
    """
    w = u if u % 2 else u + 1  # odd box of about one pixel
    mass = ndimage.uniform_filter(x, size=(w, w, 1), mode="constant") * (w * w)
    nb = np.ones((2 * u + 1, 2 * u + 1, 1), bool)
    nb[u, u, 0] = False
    neigh = ndimage.maximum_filter(mass, footprint=nb, mode="constant", cval=-np.inf)
    # The box filter leaves round-off crumbs where x is 0: ignore masses below 1e-9 of the frame's largest.
    floor = 1e-9 * mass.reshape(-1, mass.shape[2]).max(axis=0)
    peak = (mass >= neigh) & (mass > min_mass) & (mass > floor[None, None, :])
    t, jx, jz = np.nonzero(peak.transpose(2, 1, 0))
    m = mass[jz, jx, t]
    # Resolve plateaus of equal mass: keep the first of any two peaks closer than u fine points.
    sel = top_per_frame(t, m, 4 * n_part)  # a few spares for the plateau cleanup
    sel = _drop_plateau_twins(jz[sel], jx[sel], t[sel], u, sel)
    sel = np.sort(sel[top_per_frame(t[sel], m[sel], n_part)])
    jz, jx, t = jz[sel], jx[sel], t[sel]
    # Centroid of x over ±u fine points (one pixel) around the peak.
    r = np.arange(-u, u + 1)
    Fz, Fx = x.shape[:2]
    gz = np.clip(jz[:, None, None] + r[None, :, None], 0, Fz - 1)
    gx = np.clip(jx[:, None, None] + r[None, None, :], 0, Fx - 1)
    win = x[gz, gx, t[:, None, None]]
    inside = ((jz[:, None, None] + r[None, :, None] >= 0) & (jz[:, None, None] + r[None, :, None] < Fz)
              & (jx[:, None, None] + r[None, None, :] >= 0) & (jx[:, None, None] + r[None, None, :] < Fx))
    win = np.where(inside, win, 0.0)
    tot = np.maximum(win.sum(axis=(1, 2)), np.finfo(float).tiny)
    cz = jz + (win * r[None, :, None]).sum(axis=(1, 2)) / tot
    cx = jx + (win * r[None, None, :]).sum(axis=(1, 2)) / tot
    return t, cz, cx, mass[jz, jx, t]


def _drop_plateau_twins(jz, jx, t, u, idx):
    """Among peaks of one frame closer than u fine points (equal-mass plateaus), keep the first."""
    keep = np.ones(idx.size, bool)
    for f in np.unique(t):
        k = np.nonzero(t == f)[0]
        if k.size < 2:
            continue
        close = (np.abs(jz[k, None] - jz[None, k]) <= u) & (np.abs(jx[k, None] - jx[None, k]) <= u)
        close &= np.triu(np.ones((k.size, k.size), bool), 1)
        dup = close.any(axis=0)
        keep[k[dup]] = False
    return idx[keep]
