"""Readable figures: PALA's renderings on axes in mm, with colour bars in units and a labelled scale bar.

The style follows PALA's in vivo example figures: a dark background (vessels
light on black), ``gray`` density, the two-sided ``hot`` direction map (blue:
flow going up, toward the probe; red/yellow: going deeper), ``jet`` velocity
shaded by the density. Each figure gets

* axes in mm (from ``pixel_size_mm``, one size or ``(dz, dx)``), equal aspect,
  so a non-square pixel is drawn at its true shape;
* a colour bar with its unit: tracks per pixel (a count) for the density and
  direction maps, the velocity unit (mm/s for PALA's and ``pyulm process``'s
  maps) for the velocity map;
* a scale bar labelled in mm, drawn in data coordinates, so it is right for any
  pixel size.

matplotlib is imported when a figure is made (``pip install pyulm[figures]``).
"""
from __future__ import annotations

import numpy as np

from .._validate import positive
from .._optional import require
from ..render import SuperResolutionGrid
from .colormaps import gray, jet, two_sided_hot
from .rgb import default_vmax, density_rgb, direction_rgb, pixel_size_zx, velocity_rgb

__all__ = ["show", "density_figure", "direction_figure", "velocity_figure", "nice_bar_length"]

_DARK = {"face": "black", "ink": "white"}
_LIGHT = {"face": "white", "ink": "black"}


def nice_bar_length(width_mm: float) -> float:
    """A round scale-bar length (1, 2 or 5 × 10^k mm) of at most a fifth of the field width.

    Examples
    --------
    >>> nice_bar_length(11.6), nice_bar_length(2.0), nice_bar_length(0.3)
    (2.0, 0.2, 0.05)
    """
    target = positive(width_mm, "width_mm") / 5
    k = np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * 10 ** k <= target * (1 + 1e-9):
            return float(m * 10 ** k)
    return float(10 ** k)  # pragma: no cover - m = 1 always fits


def _extent(shape_hw, res, pixel_size_mm, origin_mm):
    nz = (shape_hw[0] - 1) / res
    nx = (shape_hw[1] - 1) / res
    grid = SuperResolutionGrid((max(round(nz), 1), max(round(nx), 1)), res)
    left, right, bottom, top = grid.extent_px()
    if pixel_size_mm is None:
        return (left, right, bottom, top), "pixel"
    dz, dx = pixel_size_zx(pixel_size_mm)
    z0, x0 = (float(v) for v in origin_mm)
    return (x0 + left * dx, x0 + right * dx, z0 + bottom * dz, z0 + top * dz), "mm"


def _style(fig, ax, colours):
    fig.set_facecolor(colours["face"])
    ax.set_facecolor(colours["face"])
    for side in ax.spines.values():
        side.set_color(colours["ink"])
    ax.tick_params(colors=colours["ink"], which="both")
    ax.xaxis.label.set_color(colours["ink"])
    ax.yaxis.label.set_color(colours["ink"])
    ax.title.set_color(colours["ink"])


def show(rgb, *, res: float = 10, pixel_size_mm=None, origin_mm=(0.0, 0.0), ax=None, title: str | None = None,
         colorbar=None, colorbar_label: str | None = None, scale_bar_mm="auto", dark: bool = True):
    """Display an RGB map with axes in mm (or in pixels without ``pixel_size_mm``).

    Parameters
    ----------
    rgb : (H, W, 3) array_like
        From one of the ``*_rgb`` functions; H, W = ``res * (Nz, Nx) + 1``.
    res : float
        SR pixels per original pixel.
    pixel_size_mm : float or (dz, dx), optional
        Size of an original pixel in mm; the axes are then in mm.
    origin_mm : (z0, x0)
        Physical position of pixel (0, 0), in mm.
    ax : matplotlib Axes, optional
        Draw there instead of on a new figure.
    title : str, optional
    colorbar : matplotlib ScalarMappable, optional
        Drawn as a colour bar labelled ``colorbar_label``.
    scale_bar_mm : "auto", float or None
        Length of the labelled scale bar in mm ("auto": :func:`nice_bar_length`
        of the field width); only with ``pixel_size_mm``.
    dark : bool
        PALA's dark background with light text (False: white background).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = show(density_rgb(np.ones((21, 31))), res=10, pixel_size_mm=0.1)
    >>> fig.axes[0].get_xlabel()
    'x (mm)'
    """
    plt = require("matplotlib.pyplot", "pyulm.figures")

    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise ValueError(f"rgb: expected an (H, W, 3) image, got shape {img.shape}")
    res = positive(res, "res")
    extent, unit = _extent(img.shape, res, pixel_size_mm, origin_mm)
    colours = _DARK if dark else _LIGHT
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 6 * img.shape[0] / img.shape[1] + 0.8), layout="constrained")
    else:
        fig = ax.figure
    ax.imshow(img, extent=extent, interpolation="nearest", aspect="equal")
    ax.set_xlabel(f"x ({unit})")
    ax.set_ylabel(f"z ({unit})")
    if title:
        ax.set_title(title)
    _style(fig, ax, colours)
    if colorbar is not None:
        cb = fig.colorbar(colorbar, ax=ax, shrink=0.8)
        if colorbar_label:
            cb.set_label(colorbar_label, color=colours["ink"])
        cb.ax.tick_params(colors=colours["ink"])
        cb.outline.set_edgecolor(colours["ink"])
    if pixel_size_mm is not None and scale_bar_mm is not None:
        width = abs(extent[1] - extent[0])
        length = nice_bar_length(width) if isinstance(scale_bar_mm, str) and scale_bar_mm == "auto" \
            else positive(scale_bar_mm, "scale_bar_mm")
        _scale_bar(ax, extent, length, colours["ink"])
    return fig


def _scale_bar(ax, extent, length_mm, ink):
    """A bar of ``length_mm`` in data units (mm) near the bottom-left corner, labelled."""
    left, right, bottom, top = extent
    w, h = right - left, bottom - top  # z grows downwards (imshow extent bottom > top)
    x0, z0 = left + 0.05 * w, bottom - 0.06 * h
    bar, = ax.plot([x0, x0 + length_mm], [z0, z0], color=ink, linewidth=3, solid_capstyle="butt")
    bar.set_gid("scale_bar")
    label = f"{length_mm:g} mm"
    ax.text(x0 + length_mm / 2, z0 - 0.02 * h, label, color=ink, ha="center", va="bottom", gid="scale_bar_label")
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)


def _mappable(cmap_rgb, norm):
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap

    return ScalarMappable(norm=norm, cmap=ListedColormap(cmap_rgb))


def density_figure(density, *, res: float = 10, pixel_size_mm=None, ax=None, gamma: float = 1 / 3,
                   saturation: float = 0.8, **kwargs):
    """:func:`density_rgb` on axes in mm with a colour bar in tracks per pixel (``kwargs`` go to :func:`show`)."""
    from matplotlib.colors import PowerNorm

    rgb = density_rgb(density, gamma=gamma, saturation=saturation)
    top = saturation * float(np.max(density)) ** gamma
    norm = PowerNorm(gamma, vmin=0.0, vmax=max(top, 1e-12) ** (1 / gamma))
    kwargs.setdefault("title", "Density")
    return show(rgb, res=res, pixel_size_mm=pixel_size_mm, ax=ax, colorbar=_mappable(gray(128), norm),
                colorbar_label="tracks per pixel (count)", **kwargs)


def direction_figure(density, direction, *, res: float = 10, pixel_size_mm=None, ax=None, gamma: float = 1 / 4,
                     saturation: float = 0.7, sigma: float = 0.8, **kwargs):
    """:func:`direction_rgb` on axes in mm; the colour bar is in tracks per pixel, signed by the direction."""
    from matplotlib.colors import Normalize
    from matplotlib.ticker import FixedFormatter, FixedLocator

    rgb = direction_rgb(density, direction, gamma=gamma, sigma=sigma, saturation=saturation)
    top = saturation * (float(np.max(density)) ** gamma - 0.5)
    top = top if top > 0 else 1.0
    sm = _mappable(two_sided_hot(), Normalize(-top, top))
    kwargs.setdefault("title", "Axial flow direction (blue: up, red: deeper)")
    fig = show(rgb, res=res, pixel_size_mm=pixel_size_mm, ax=ax, colorbar=sm,
               colorbar_label="tracks per pixel (count): blue up, red deeper", **kwargs)
    # a colour value v = ±(count^gamma - 1/2) stands for that count: ticks at round counts, both sides
    counts = [c for c in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if c ** gamma - 0.5 <= top]
    ticks = [-(c ** gamma - 0.5) for c in counts[::-1]] + [c ** gamma - 0.5 for c in counts]
    cb_ax = fig.axes[-1]
    cb_ax.yaxis.set_major_locator(FixedLocator(ticks))
    cb_ax.yaxis.set_major_formatter(FixedFormatter([str(c) for c in counts[::-1]] + [str(c) for c in counts]))
    cb_ax.yaxis.set_minor_locator(FixedLocator([]))
    return fig


def velocity_figure(velocity, density, *, res: float = 10, pixel_size_mm=None, ax=None, velocity_unit: str = "mm/s",
                    vmax: float | None = None, quantile: float = 0.98, **kwargs):
    """:func:`velocity_rgb` on axes in mm with a colour bar in ``velocity_unit``.

    ``velocity_unit`` names the unit of ``velocity`` (mm/s for PALA's
    ``MatOut_vel`` and ``pyulm process``; pixel/s for :func:`pyulm.render` of
    :func:`pyulm.track` tables).
    """
    from matplotlib.colors import PowerNorm

    if not isinstance(velocity_unit, str) or not velocity_unit:
        raise ValueError(f"velocity_unit: expected a unit name such as 'mm/s', got {velocity_unit!r}")
    vmax = default_vmax(velocity, quantile) if vmax is None else positive(vmax, "vmax")
    rgb = velocity_rgb(velocity, density, vmax=vmax, colorbar=False)
    sm = _mappable(jet(256) ** 0.6, PowerNorm(1 / 1.5, vmin=0.0, vmax=vmax))
    kwargs.setdefault("title", "Velocity")
    return show(rgb, res=res, pixel_size_mm=pixel_size_mm, ax=ax, colorbar=sm,
                colorbar_label=f"velocity ({velocity_unit})", **kwargs)
