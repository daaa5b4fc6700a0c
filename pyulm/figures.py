"""PALA-style pictures of ULM maps: RGB arrays, matplotlib figures, PNG/TIFF files.

Three renderings follow PALA's in vivo example (``PALA_InVivoULM_example``):

* :func:`density_rgb`: ``density ** (1/3)`` in ``gray(128)``, saturated at
  0.8 of the maximum;
* :func:`direction_rgb`: ``density ** (1/4)`` signed by the smoothed
  direction map, in a two-sided ``hot`` colormap of 247 colours (blue for
  flow going up, red/yellow for flow going deeper);
* :func:`velocity_rgb`: the velocity in ``jet(256)``, shaded by the density,
  with a colour ramp in the top-left corner.

The ``*_rgb`` functions return (H, W, 3) float arrays in [0, 1] without
matplotlib (for files and tests); :func:`show` and the ``*_figure`` functions
put them on axes in millimetres; :func:`save_figure` writes either to PNG or
TIFF atomically. Colour quantisation is PALA's ``WriteTif``: index
``round(norm * N)`` clamped to ``1..N`` (so 0 and the first step share colour 1).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import ndimage

from ._fileutil import atomic_path
from ._validate import positive, round_half_away
from .render import SuperResolutionGrid

__all__ = [
    "gray", "hot", "jet", "two_sided_hot", "apply_colormap", "scale_bar_width",
    "density_rgb", "direction_rgb", "velocity_rgb", "default_vmax", "show",
    "density_figure", "direction_figure", "velocity_figure", "save_figure",
]


# ----------------------------------------------------------------------------- colormaps (MATLAB's)

def _count(n, name="n"):
    return positive(n, name, integer=True)


def gray(n: int = 128) -> np.ndarray:
    """MATLAB ``gray(n)``: (n, 3) grey ramp from black to white.

    Examples
    --------
    >>> gray(3).tolist()
    [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]
    """
    n = _count(n)
    g = np.arange(n) / max(n - 1, 1)
    return np.repeat(g[:, None], 3, axis=1)


def hot(n: int = 128) -> np.ndarray:
    """MATLAB ``hot(n)``: black, red, yellow, white; (n, 3).

    Red rises over the first ``floor(3n/8)`` rows, then green, then blue.

    Examples
    --------
    >>> hot(8)[[0, -1]].tolist()
    [[0.3333333333333333, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    n = _count(n)
    k = int(3 * n // 8)
    ramp = np.arange(1, k + 1) / k if k else np.zeros(0)
    r = np.concatenate([ramp, np.ones(n - k)])
    g = np.concatenate([np.zeros(k), ramp, np.ones(max(n - 2 * k, 0))])[:n]
    rest = n - 2 * k
    b = np.concatenate([np.zeros(2 * k), np.arange(1, rest + 1) / rest if rest > 0 else np.zeros(0)])[:n]
    return np.column_stack([r, g, b])


def jet(n: int = 256) -> np.ndarray:
    """MATLAB ``jet(n)``: dark blue, cyan, yellow, dark red; (n, 3).

    Examples
    --------
    >>> jet(4).tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    n = _count(n)
    q = math.ceil(n / 4)
    u = np.concatenate([np.arange(1, q + 1) / q, np.ones(q - 1), np.arange(q, 0, -1) / q])
    g = math.ceil(q / 2) - (n % 4 == 1) + np.arange(1, u.size + 1)
    r, b = g + q, g - q
    g, r, b = g[g <= n], r[r <= n], b[b >= 1]
    out = np.zeros((n, 3))
    out[r - 1, 0] = u[:r.size]
    out[g - 1, 1] = u[:g.size]
    out[b - 1, 2] = u[u.size - b.size:]
    return out


def two_sided_hot() -> np.ndarray:
    """PALA's direction colormap: (247, 3), white-blue-black then black-red-white.

    ``hot(128)`` with rows and channels reversed (blue side, for negative
    values) stacked on ``hot(128)``, without the 4 outermost colours at each
    end, so neither extreme is pure white.

    Examples
    --------
    >>> two_sided_hot().shape
    (247, 3)
    """
    h = hot(128)
    return np.vstack([h[::-1, ::-1], h])[4:-5]


# ----------------------------------------------------------------------------- helpers

def _as_map(a, name):
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected a real numeric 2-D map, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D map, got shape {arr.shape}")
    arr = arr.astype(float)  # a copy: inputs are never modified
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: {int(arr.size - np.isfinite(arr).sum())} value(s) are NaN or Inf; expected finite values")
    return arr


def apply_colormap(image, cmap, clim=None) -> np.ndarray:
    """Map a 2-D image through a colormap the way PALA's ``WriteTif`` does.

    Values are clipped to ``clim``, scaled to [0, 1], turned into indices
    ``round(v * N)`` (halves away from zero) clamped to ``1..N``.

    Parameters
    ----------
    image : (H, W) array_like
    cmap : (N, 3) array_like
        RGB colours in [0, 1].
    clim : (low, high), optional
        Colour limits; default ``(0, max(image))``. With ``high <= low``
        every pixel takes the first colour.

    Returns
    -------
    (H, W, 3) float64 array in [0, 1].

    Examples
    --------
    >>> apply_colormap([[0.0, 0.5, 1.0]], gray(3))[0, :, 0].tolist()
    [0.0, 0.5, 1.0]
    """
    img = _as_map(image, "image")
    cm = np.asarray(cmap, dtype=float)
    if cm.ndim != 2 or cm.shape[1] != 3 or cm.shape[0] < 1 or np.any(cm < 0) or np.any(cm > 1):
        raise ValueError(f"cmap: expected an (N, 3) array of RGB values in [0, 1], got shape {cm.shape}")
    if clim is None:
        clim = (0.0, float(img.max()))
    lo_hi = np.asarray(clim, dtype=float).ravel()
    if lo_hi.size != 2 or not np.all(np.isfinite(lo_hi)):
        raise ValueError(f"clim: expected (low, high), two finite numbers, got {clim!r}")
    lo, hi = lo_hi
    n = cm.shape[0]
    if hi <= lo:
        idx = np.ones(img.shape, np.int64)
    else:
        norm = (np.clip(img, lo, hi) - lo) / (hi - lo)
        idx = np.clip(round_half_away(norm * n), 1, n).astype(np.int64)
    return cm[idx - 1]


def scale_bar_width(res: float, pixel_size_mm: float, length_mm: float = 1.0) -> int:
    """Length in SR pixels of a ``length_mm`` scale bar: ``round(length / (pixel_size_mm / res))``.

    Examples
    --------
    >>> scale_bar_width(10, 1540 / 15e3)  # 1 mm at 15 MHz, PALA's 97-pixel bar
    97
    """
    res = positive(res, "res")
    pixel_size_mm = positive(pixel_size_mm, "pixel_size_mm")
    length_mm = positive(length_mm, "length_mm")
    return int(round_half_away(length_mm / ((1.0 / res) * pixel_size_mm)))


def _bar_slices(shape, width):
    """PALA's bar position: rows H-50..H-47 and columns 60.. (1-based), clipped to the image."""
    h, w = shape
    top = max(h - 51, 0)
    return slice(top, min(top + 4, h)), slice(min(59, w), min(59 + width + 1, w))


def _burn_bar(img, value, res, pixel_size_mm):
    if pixel_size_mm is None:
        return img
    rows, cols = _bar_slices(img.shape[:2], scale_bar_width(res, pixel_size_mm))
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
    pixel_size_mm : float, optional
        Size of one original pixel in mm (e.g. the wavelength, 1540 m/s / f);
        when given, a 1 mm scale bar is drawn near the bottom-left corner.

    Returns
    -------
    (H, W, 3) float64 array in [0, 1].

    Examples
    --------
    >>> rgb = density_rgb(np.eye(200) * 5)
    >>> rgb.shape, float(rgb.max())
    ((200, 200, 3), 1.0)
    """
    dens = _as_map(density, "density")
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
    dens = _as_map(density, "density")
    sdir = _as_map(direction, "direction")
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
    vel = np.abs(_as_map(velocity, "velocity"))
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
    vel = np.abs(_as_map(velocity, "velocity"))
    dens = _as_map(density, "density")
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
        rows, cols = _bar_slices(vel.shape, scale_bar_width(res, pixel_size_mm))
        rgb[rows, cols] = 1.0
    return rgb


# ----------------------------------------------------------------------------- matplotlib

def show(rgb, *, res: float = 10, pixel_size_mm: float | None = None, origin_mm=(0.0, 0.0), ax=None,
         title: str | None = None):
    """Display an RGB map with axes in mm (or in pixels without ``pixel_size_mm``).

    Parameters
    ----------
    rgb : (H, W, 3) array_like
        From one of the ``*_rgb`` functions; H, W = ``res * (Nz, Nx) + 1``.
    res : float
        SR pixels per original pixel.
    pixel_size_mm : float, optional
        Size of an original pixel in mm; the axes are then in mm.
    origin_mm : (z0, x0)
        Physical position of pixel (0, 0), in mm.
    ax : matplotlib Axes, optional
        Draw there instead of on a new figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = show(density_rgb(np.ones((21, 31))), res=10, pixel_size_mm=0.1)
    >>> fig.axes[0].get_xlabel()
    'x (mm)'
    """
    import matplotlib.pyplot as plt

    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise ValueError(f"rgb: expected an (H, W, 3) image, got shape {img.shape}")
    res = positive(res, "res")
    nz = (img.shape[0] - 1) / res
    nx = (img.shape[1] - 1) / res
    grid = SuperResolutionGrid((max(round(nz), 1), max(round(nx), 1)), res)
    left, right, bottom, top = grid.extent_px()
    if pixel_size_mm is not None:
        p = positive(pixel_size_mm, "pixel_size_mm")
        z0, x0 = (float(v) for v in origin_mm)
        extent, unit = (x0 + left * p, x0 + right * p, z0 + bottom * p, z0 + top * p), "mm"
    else:
        extent, unit = (left, right, bottom, top), "pixel"
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 6 * img.shape[0] / img.shape[1] + 0.6), layout="constrained")
    else:
        fig = ax.figure
    ax.imshow(img, extent=extent, interpolation="nearest")
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"z ({unit})")
    if title:
        ax.set_title(title)
    return fig


def density_figure(density, *, res: float = 10, pixel_size_mm: float | None = None, ax=None, **kwargs):
    """:func:`density_rgb` shown by :func:`show` (extra keywords go to :func:`density_rgb`)."""
    return show(density_rgb(density, res=res, pixel_size_mm=pixel_size_mm, **kwargs), res=res,
                pixel_size_mm=pixel_size_mm, ax=ax, title="Density (tracks per pixel)")


def direction_figure(density, direction, *, res: float = 10, pixel_size_mm: float | None = None, ax=None, **kwargs):
    """:func:`direction_rgb` shown by :func:`show`."""
    return show(direction_rgb(density, direction, res=res, pixel_size_mm=pixel_size_mm, **kwargs), res=res,
                pixel_size_mm=pixel_size_mm, ax=ax, title="Axial flow direction (red: deeper, blue: up)")


def velocity_figure(velocity, density, *, res: float = 10, pixel_size_mm: float | None = None, ax=None,
                    unit: str = "", **kwargs):
    """:func:`velocity_rgb` shown by :func:`show`, titled with the ramp's range (``unit``: e.g. "mm/s")."""
    if kwargs.get("vmax") is None:
        kwargs["vmax"] = default_vmax(velocity, kwargs.get("quantile", 0.98))
    title = f"Velocity (colour ramp 0 to {kwargs['vmax']:g} {unit})".replace(" )", ")")
    return show(velocity_rgb(velocity, density, res=res, pixel_size_mm=pixel_size_mm, **kwargs), res=res,
                pixel_size_mm=pixel_size_mm, ax=ax, title=title)


# ----------------------------------------------------------------------------- files

_FORMATS = {".png": "png", ".tif": "tiff", ".tiff": "tiff"}


def _to_uint8(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or arr.size == 0:
        raise ValueError(f"fig_or_image: expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
        raise ValueError(f"fig_or_image: expected uint8 or float values in [0, 1], got dtype {arr.dtype}")
    f = arr.astype(float)
    if not np.all(np.isfinite(f)) or f.min() < 0 or f.max() > 1:
        raise ValueError(f"fig_or_image: expected float values in [0, 1], got range [{np.nanmin(f):g}, {np.nanmax(f):g}]")
    return round_half_away(f * 255).astype(np.uint8)  # MATLAB's double -> uint8


def save_figure(fig_or_image, path, *, overwrite: bool = True, dpi: float | None = None,
                pixel_size_mm: float | None = None, res: float = 10) -> Path:
    """Write a matplotlib figure or an RGB array to PNG or TIFF, atomically.

    Parameters
    ----------
    fig_or_image : matplotlib Figure or array_like
        A figure, or an (H, W[, 3|4]) image: uint8, or float in [0, 1]
        (converted with ``round(255 v)`` like MATLAB).
    path : str or Path
        Output file; ``.png``, ``.tif`` or ``.tiff``. TIFF images are LZW-compressed.
    overwrite : bool
        If False, an existing file raises ``FileExistsError``.
    dpi : float, optional
        Resolution of a figure (matplotlib's default otherwise).
    pixel_size_mm, res : float, optional
        For an image: store the physical pixel size (``pixel_size_mm / res``)
        as the file's resolution, so viewers show true dimensions.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> save_figure(density_rgb(np.eye(50)), os.path.join(d, "density.tif")).name
    'density.tif'
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"path: expected a file name ending in .png, .tif or .tiff, got {str(path)!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {path} exists and overwrite=False")
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        Figure = ()
    if isinstance(fig_or_image, Figure):
        with atomic_path(path) as tmp:
            fig_or_image.savefig(tmp, format=fmt, dpi=dpi if dpi is not None else "figure")
        return path

    from PIL import Image

    img = Image.fromarray(_to_uint8(fig_or_image))
    options = {}
    if pixel_size_mm is not None:
        px_per_cm = 10.0 / (positive(pixel_size_mm, "pixel_size_mm") / positive(res, "res"))
        if fmt == "tiff":
            options.update(resolution_unit=3, x_resolution=px_per_cm, y_resolution=px_per_cm)
        else:
            options["dpi"] = (px_per_cm * 2.54, px_per_cm * 2.54)
    if fmt == "tiff":
        options["compression"] = "tiff_lzw"
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt.upper(), **options)
    return path
