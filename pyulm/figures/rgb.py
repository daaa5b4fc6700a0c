"""PALA's in vivo renderings as RGB arrays (numpy/scipy only, no matplotlib).

Colour limits, gamma and colormaps follow ``PALA_InVivoULM_example``; the
optional burned-in scale bar is PALA's (rows H-50..H-47, from column 60), one
``length_mm`` long along x for the given pixel size.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .._validate import positive, round_half_away
from .colormaps import apply_colormap, as_map, gray, jet, two_sided_hot

__all__ = ["scale_bar_width", "density_rgb", "direction_rgb", "velocity_rgb", "default_vmax", "pixel_size_zx"]


def scale_bar_width(res: float, pixel_size_mm: float, length_mm: float = 1.0) -> int:
    """Length in SR pixels of a ``length_mm`` scale bar: ``round(length / (pixel_size_mm / res))``.

    ``pixel_size_mm`` is the size in mm of one original pixel along the bar
    (x); the SR pixel is ``res`` times smaller.

    Examples
    --------
    >>> scale_bar_width(10, 1540 / 15e3)  # 1 mm at 15 MHz, PALA's 97-pixel bar
    97
    """
    res = positive(res, "res")
    pixel_size_mm = positive(pixel_size_mm, "pixel_size_mm")
    length_mm = positive(length_mm, "length_mm")
    return int(round_half_away(length_mm / ((1.0 / res) * pixel_size_mm)))


def pixel_size_zx(pixel_size_mm, name: str = "pixel_size_mm"):
    """``(dz, dx)`` in mm from one size (square pixels) or a pair; None stays None.

    Examples
    --------
    >>> pixel_size_zx(0.1), pixel_size_zx((0.05, 0.1))
    ((0.1, 0.1), (0.05, 0.1))
    """
    if pixel_size_mm is None:
        return None
    v = np.atleast_1d(np.asarray(pixel_size_mm, dtype=float)).ravel() if np.ndim(pixel_size_mm) <= 1 else None
    if v is None or v.size not in (1, 2):
        raise ValueError(f"{name}: expected one pixel size in mm or a pair (dz, dx), got {pixel_size_mm!r}")
    dz, dx = (positive(float(v[0]), name), positive(float(v[-1]), name))
    return dz, dx


def _bar_slices(shape, width):
    """PALA's bar position: rows H-50..H-47 and columns 60.. (1-based), clipped to the image."""
    h, w = shape
    top = max(h - 51, 0)
    return slice(top, min(top + 4, h)), slice(min(59, w), min(59 + width + 1, w))


def _burn_bar(img, value, res, pixel_size_mm):
    if pixel_size_mm is None:
        return img
    # the bar runs along x: its length uses the lateral pixel size
    rows, cols = _bar_slices(img.shape[:2], scale_bar_width(res, pixel_size_zx(pixel_size_mm)[1]))
    img[rows, cols] = value
    return img


def _gaussian(img, sigma):
    """MATLAB ``imgaussfilt``: replicate padding, kernel half-width ``ceil(2 sigma)``."""
    return ndimage.gaussian_filter(img, sigma, mode="nearest", truncate=math.ceil(2 * sigma) / sigma)


# ----------------------------------------------------------------------------- RGB renderings

def density_rgb(density, *, gamma: float = 1 / 3, saturation: float = 0.8, res: float = 10,
                pixel_size_mm: float | None = None) -> np.ndarray:
    """Density map as PALA shows it: ``density ** gamma`` in ``gray(128)``.

    Parameters
    ----------
    density : (H, W) array_like
        Tracks (or points) per SR pixel, e.g. ``render(...)["density"]``.
    gamma : float
        Compression exponent (1/3 in PALA).
    saturation : float
        Colour limits are ``saturation * [min, max]`` of the compressed image.
    res : float
        SR pixels per original pixel, for the scale bar.
    pixel_size_mm : float or (dz, dx), optional
        Size of one original (not SR) pixel in mm, e.g. the wavelength
        (1540 m/s / f) for PALA's one-wavelength pixels; a pair for
        non-square pixels. When given, PALA's 1 mm scale bar (along x, so
        ``dx`` sets its length) is burned in near the bottom-left corner.

    Returns
    -------
    (H, W, 3) float64 array in [0, 1].

    Examples
    --------
    >>> rgb = density_rgb(np.eye(200) * 5)
    >>> rgb.shape, float(rgb.max())
    ((200, 200, 3), 1.0)
    """
    dens = as_map(density, "density")
    if np.any(dens < 0):
        raise ValueError(f"density: expected counts >= 0, got a minimum of {dens.min():g}")
    gamma = positive(gamma, "gamma")
    saturation = positive(saturation, "saturation")
    img = dens ** gamma
    clim = (saturation * img.min(), saturation * img.max())
    img = _burn_bar(img, clim[1], res, pixel_size_mm)
    return apply_colormap(img, gray(128), clim)


def direction_rgb(density, direction, *, gamma: float = 1 / 4, sigma: float = 0.8, saturation: float = 0.7,
                  res: float = 10, pixel_size_mm: float | None = None) -> np.ndarray:
    """Two-sided direction map: ``density ** gamma`` signed by the axial flow direction.

    The sign is that of ``direction`` smoothed by a Gaussian (``sigma`` SR
    pixels), so isolated sign flips do not speckle the image; values are
    pulled half a step toward 0 to separate both sides from the background.

    Parameters
    ----------
    density : (H, W) array_like
        Tracks per SR pixel.
    direction : (H, W) array_like
        Signed map, e.g. ``render(...)["direction"]`` (> 0: flow going deeper).
    gamma, sigma, saturation : float
        Exponent (1/4), smoothing (0.8) and colour limits ``±saturation * max``.
    res, pixel_size_mm : float
        Scale bar, as in :func:`density_rgb`.

    Returns
    -------
    (H, W, 3) float64 array in [0, 1], colours of :func:`two_sided_hot`.

    Examples
    --------
    >>> d = np.zeros((100, 100)); d[:, 40] = 4; d[:, 60] = 4
    >>> s = np.zeros((100, 100)); s[:, 40] = 50.0; s[:, 60] = -50.0
    >>> rgb = direction_rgb(d, s)
    >>> bool(rgb[50, 40, 0] > rgb[50, 40, 2]), bool(rgb[50, 60, 2] > rgb[50, 60, 0])
    (True, True)
    """
    dens = as_map(density, "density")
    sdir = as_map(direction, "direction")
    if sdir.shape != dens.shape:
        raise ValueError(f"direction: expected the shape of density {dens.shape}, got {sdir.shape}")
    if np.any(dens < 0):
        raise ValueError(f"density: expected counts >= 0, got a minimum of {dens.min():g}")
    gamma = positive(gamma, "gamma")
    sigma = positive(sigma, "sigma")
    saturation = positive(saturation, "saturation")
    v = dens ** gamma * np.sign(_gaussian(sdir, sigma))
    v = v - np.sign(v) / 2
    top = saturation * float(v.max())
    if top <= 0:
        top = saturation * float(np.abs(v).max()) or 1.0
    v = _burn_bar(v, top, res, pixel_size_mm)
    return apply_colormap(v, two_sided_hot(), (-top, top))


def default_vmax(velocity, quantile: float = 0.98) -> float:
    """Top of PALA's velocity colour scale: ``ceil(q(|v| > 0) / 10) * 10``.

    ``q`` is the ``quantile`` of the nonzero speeds by the Hazen rule
    (MATLAB's ``quantile``); 10 when the map is empty.

    Examples
    --------
    >>> default_vmax(np.arange(101.0).reshape(1, -1))
    100.0
    """
    vel = np.abs(as_map(velocity, "velocity"))
    if not 0 < quantile <= 1:
        raise ValueError(f"quantile: expected a number in (0, 1], got {quantile!r}")
    nz = vel[vel > 0]
    if nz.size == 0:
        return 10.0
    return float(math.ceil(float(np.quantile(nz, quantile, method="hazen")) / 10) * 10) or 10.0


def velocity_rgb(velocity, density, *, vmax: float | None = None, quantile: float = 0.98, colorbar: bool = True,
                 res: float = 10, pixel_size_mm: float | None = None) -> np.ndarray:
    """Velocity map in ``jet(256)``, shaded by the density (PALA's ``VelMorm`` picture).

    Parameters
    ----------
    velocity : (H, W) array_like
        Velocity map (its absolute value is drawn), e.g. ``velocity_norm``.
    density : (H, W) array_like
        Tracks per SR pixel; dim pixels get dark.
    vmax : float, optional
        Top of the colour scale. Default: the ``quantile`` of the nonzero
        speeds (Hazen, like MATLAB) rounded up to a multiple of 10.
    colorbar : bool
        Paint a 180 x 50 ramp from ``vmax`` (top) to 0 in the top-left corner.
    res, pixel_size_mm : float
        Scale bar, as in :func:`density_rgb`.

    Returns
    -------
    (H, W, 3) float64 array in [0, 1].

    Examples
    --------
    >>> v = np.zeros((300, 300)); v[:, 150] = 20.0
    >>> rgb = velocity_rgb(v, (v > 0) * 3.0)
    >>> rgb.shape, bool(rgb[10, 10].sum() > 0)
    ((300, 300, 3), True)
    """
    vel = np.abs(as_map(velocity, "velocity"))
    dens = as_map(density, "density")
    if dens.shape != vel.shape:
        raise ValueError(f"density: expected the shape of velocity {vel.shape}, got {dens.shape}")
    if np.any(dens < 0):
        raise ValueError(f"density: expected counts >= 0, got a minimum of {dens.min():g}")
    vmax = default_vmax(vel, quantile) if vmax is None else positive(vmax, "vmax")
    shade = np.clip((dens / (0.3 * dens.max())) ** (1 / 3), 0, 1) if dens.max() > 0 else np.zeros_like(dens)
    if colorbar:
        h, w = min(180, vel.shape[0]), min(50, vel.shape[1])
        vel[:h, :w] = np.linspace(vmax, 0, 180)[:h, None]
        shade[:h, :w] = 1.0
    v = np.minimum((vel / vmax) ** (1 / 1.5), 1.0)
    v = _gaussian(v, 0.5)
    idx = np.clip(round_half_away(v * 256), 1, 256).astype(np.int64)
    rgb = jet(256)[idx - 1] * shade[..., None]
    rgb = rgb ** 0.6  # MATLAB brighten(., 0.4)
    if pixel_size_mm is not None:
        rows, cols = _bar_slices(vel.shape, scale_bar_width(res, pixel_size_zx(pixel_size_mm)[1]))
        rgb[rows, cols] = 1.0
    return rgb
