"""The model of :mod:`pyulm.localization.decon` shared by its two solvers: the PSF on a fine grid, λ, the data.

* :func:`fine_psf`: the PSF sampled ``upsample`` times finer than the pixels
  (the FISTA operator's columns; the greedy solver's tables of a measured PSF);
* :func:`default_lambda`: the universal threshold λ of each frame (a bubble
  enters the lasso solution only where the residual's matched filter exceeds λ/2);
* the background-subtracted amplitude both solvers fit.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .. import _validate as V
from ..denoise import noise_level_rows, row_median
from ..psf import check_psf
from .decon_ops import make_operator

__all__ = ["fine_psf", "default_lambda"]


def fine_psf(fwhm, upsample: int, psf=None) -> np.ndarray:
    """The PSF sampled on the fine grid (``upsample`` points per pixel), odd sizes.

    Parameters
    ----------
    fwhm : (float, float)
        Gaussian FWHM in pixels, used when ``psf`` is None.
    upsample : int
        Fine points per pixel.
    psf : array_like (kz, kx), optional
        Pixel-grid PSF (odd sizes, centred); interpolated with cubic splines.

    Returns
    -------
    ndarray (mz, mx)
        ``h[m] = PSF((m − centre + δ) / upsample)`` with δ = 0 for odd and 0.5
        for even ``upsample`` (see :func:`deconvolve` for the grid).

    Examples
    --------
    >>> from pyulm.localization.decon import fine_psf
    >>> h = fine_psf((3, 3), 3)
    >>> h.shape, float(h.max())
    ((37, 37), 1.0)
    """
    u = V.positive(upsample, "upsample", integer=True)
    delta = 0.0 if u % 2 else 0.5
    if psf is None:
        fz, fx = V.pair(fwhm, "fwhm")
        hz, hx = int(np.ceil(2.0 * fz * u)), int(np.ceil(2.0 * fx * u))  # ±4.7 sigma
        sz, sx = fz / 2.3548200450309493, fx / 2.3548200450309493
        z = (np.arange(-hz, hz + 1) + delta) / u
        x = (np.arange(-hx, hx + 1) + delta) / u
        return np.exp(-0.5 * (z[:, None] / sz) ** 2 - 0.5 * (x[None, :] / sx) ** 2)
    P = np.abs(check_psf(psf))
    kz, kx = P.shape
    hz, hx = (kz // 2) * u, (kx // 2) * u
    z = (np.arange(-hz, hz + 1) + delta) / u + kz // 2
    x = (np.arange(-hx, hx + 1) + delta) / u + kx // 2
    gz, gx = np.meshgrid(z, x, indexing="ij")
    return ndimage.map_coordinates(P, [gz, gx], order=3, mode="constant", cval=0.0)


def default_lambda(y, h, upsample: int, lam_factor: float = 1.0) -> np.ndarray:
    """The universal-threshold λ of each frame (see the module docstring).

    Parameters
    ----------
    y : array_like (z, x, t)
        Background-subtracted amplitude frames.
    h : array_like
        Fine-grid PSF from :func:`fine_psf`.
    upsample : int
        Fine points per pixel.
    lam_factor : float
        Multiplier (> 0).

    Returns
    -------
    ndarray (t,)
        ``lam_factor · 2 σ_t ‖h‖₂ √(2 ln p)``, never below a tiny positive
        floor (a noise-free frame has σ = 0).

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.localization.decon import default_lambda, fine_psf
    >>> y = np.random.default_rng(1).normal(size=(20, 20, 1))
    >>> lam = default_lambda(y, fine_psf((3, 3), 3), 3)
    >>> lam.shape, bool(lam[0] > 0)
    ((1,), True)
    """
    y = V.as_frames(y, "y", allow_complex=False)
    u = V.positive(upsample, "upsample", integer=True)
    f = V.positive(lam_factor, "lam_factor")
    op = make_operator(y.shape[:2], h, u)
    return _universal_lambda(y, op.column_norm, op.Fz * op.Fx, f)


def _universal_lambda(y, column_norm, p, factor):
    rows = y.transpose(2, 0, 1).reshape(y.shape[2], -1)  # a view for the (t, z, x) layout of _amplitude
    sigma = noise_level_rows(rows)  # pyulm.denoise.noise_level(y), from the frames as rows
    lam = factor * 2.0 * sigma * column_norm * np.sqrt(2.0 * np.log(p))
    return np.maximum(lam, 1e-6 * np.abs(rows).max(axis=1) + np.finfo(float).tiny)


def _column_norm(h, u: int) -> float:
    """Largest norm of one column of ``H``: the fine PSF ``h`` sampled every ``u`` points, over the phases."""
    return float(np.sqrt(max(np.sum(h[a::u, b::u] ** 2) for a in range(u) for b in range(u))))


def _check_lam(lam, Nt):
    lam_t = np.broadcast_to(np.asarray(lam, dtype=np.float64).ravel(), (Nt,)) if np.size(lam) in (1, Nt) else None
    if lam_t is None:
        raise ValueError(f"lam: expected one value or one per frame ({Nt}), got {np.size(lam)} values")
    if not np.all(np.isfinite(lam_t)) or np.any(lam_t <= 0):
        raise ValueError(f"lam: expected values > 0, got {np.asarray(lam).tolist()}")
    return lam_t


def _options(frames, upsample, lam_factor, background, fwhm, psf):
    """The checked frames (z, x, t) and options: (arr, upsample, lam_factor, fz, fx)."""
    arr = V.as_frames(frames)
    u = V.positive(upsample, "upsample", integer=True)
    lam_factor = V.positive(lam_factor, "lam_factor")
    V.choice(background, "background", {"median", "none"})
    fz, fx = V.pair(fwhm, "fwhm")
    if psf is not None:
        check_psf(psf, arr.shape)
    return arr, u, lam_factor, fz, fx


def _amplitude(arr, background):
    """The background-subtracted amplitude (z, x, t) float64 of checked frames, a view of a (t, z, x) array."""
    Nz, Nx, Nt = arr.shape
    yb = np.ascontiguousarray(np.abs(arr).transpose(2, 0, 1), dtype=np.float64)  # frames contiguous
    if background == "median":  # the median of contiguous rows is faster (same values)
        yb -= row_median(yb.reshape(Nt, -1))[:, None, None]
    return yb.transpose(1, 2, 0)


def _prepare(frames, upsample, lam_factor, background, fwhm, psf):
    """Checked options and the background-subtracted amplitude (z, x, t) float64, a view of a (t, z, x) array."""
    arr, u, lam_factor, fz, fx = _options(frames, upsample, lam_factor, background, fwhm, psf)
    return _amplitude(arr, background), u, lam_factor, fz, fx
