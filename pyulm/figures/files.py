"""Writing pictures: RGB arrays or matplotlib figures to PNG, TIFF or PDF, atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .._fileutil import atomic_path
from .._optional import require
from .._validate import positive, round_half_away
from .rgb import pixel_size_zx

__all__ = ["save_figure", "write_figures"]


_FORMATS = {".png": "png", ".tif": "tiff", ".tiff": "tiff", ".pdf": "pdf"}


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
    """Write a matplotlib figure or an RGB array to PNG, TIFF or PDF, atomically.

    Parameters
    ----------
    fig_or_image : matplotlib Figure or array_like
        A figure, or an (H, W[, 3|4]) image: uint8, or float in [0, 1]
        (converted with ``round(255 v)`` like MATLAB).
    path : str or Path
        Output file; ``.png``, ``.tif``/``.tiff`` (LZW-compressed) or ``.pdf``.
    overwrite : bool
        If False, an existing file raises ``FileExistsError``.
    dpi : float, optional
        Resolution of a figure (matplotlib's default otherwise).
    pixel_size_mm : float or (dz, dx), optional
        For an image: size of one original pixel in mm; the SR pixel
        (``pixel_size_mm / res``) is stored as the file's resolution, so
        viewers show true dimensions.
    res : float
        SR pixels per original pixel (1 for an image on the original grid).

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, os
    >>> from pyulm.figures import density_rgb
    >>> d = tempfile.mkdtemp()
    >>> save_figure(density_rgb(np.eye(50)), os.path.join(d, "density.tif")).name
    'density.tif'
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"path: expected a file name ending in .png, .tif, .tiff or .pdf, got {str(path)!r}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: {path} exists and overwrite=False")
    Figure = require("matplotlib.figure", "pyulm.figures").Figure
    if isinstance(fig_or_image, Figure):
        with atomic_path(path) as tmp:
            fig_or_image.savefig(tmp, format=fmt, dpi=dpi if dpi is not None else "figure")
        return path

    Image = require("PIL.Image", "pyulm.figures")

    img = Image.fromarray(_to_uint8(fig_or_image))
    options = {}
    if pixel_size_mm is not None:
        dz, dx = pixel_size_zx(pixel_size_mm)
        res = positive(res, "res")
        per_cm_x, per_cm_z = 10.0 / (dx / res), 10.0 / (dz / res)
        if fmt == "tiff":
            options.update(resolution_unit=3, x_resolution=per_cm_x, y_resolution=per_cm_z)
        elif fmt == "png":
            options["dpi"] = (per_cm_x * 2.54, per_cm_z * 2.54)
        else:
            options["resolution"] = per_cm_x * 2.54
    if fmt == "tiff":
        options["compression"] = "tiff_lzw"
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt.upper(), **options)
    return path


_FIGURE_FORMATS = {"png": ".png", "pdf": ".pdf", "tiff": ".tif"}


def write_figures(out_dir, *, density, direction=None, velocity=None, res: float, pixel_size_mm,
                  velocity_unit: str = "mm/s", origin_mm=(0.0, 0.0), formats=("png",), dpi: float = 200,
                  dark: bool = True, overwrite: bool = True) -> dict:
    """Write the readable figures of a ULM run (the call ``pyulm process`` makes).

    One figure per map, in every format of ``formats``: ``density.<ext>``
    (:func:`density_figure`), ``direction.<ext>`` (:func:`direction_figure`),
    ``velocity.<ext>`` (:func:`velocity_figure`), each with axes in mm, a
    colour bar with its unit and a labelled scale bar in mm.

    Parameters
    ----------
    out_dir : str or Path
        Existing folder.
    density : (H, W) array_like
        Tracks per SR pixel (PALA's ``MatOut``, ``render(...)["density"]``).
    direction, velocity : (H, W) array_like, optional
        Signed direction map (``MatOut_zdir``) and velocity map (``MatOut_vel``).
    res : float
        SR pixels per original pixel (the maps have ``res * (Nz, Nx) + 1`` pixels).
    pixel_size_mm : float or (dz, dx)
        Size of one **original** pixel in mm (for PALA's data: the pixel size
        in wavelengths times the wavelength in mm).
    velocity_unit : str
        Unit of ``velocity`` for its colour bar.
    origin_mm : (z0, x0)
        Physical position of pixel (0, 0), mm.
    formats : sequence of {"png", "pdf", "tiff"}
        File formats; e.g. ``("png", "pdf")``.
    dpi : float
        Raster resolution (PNG, TIFF).
    dark : bool
        PALA's dark background.
    overwrite : bool
        If False, an existing file raises ``FileExistsError`` (before anything is written).

    Returns
    -------
    dict
        ``"<map>_<format>"`` -> Path of each file written.

    Examples
    --------
    >>> import tempfile
    >>> d = np.zeros((41, 61)); d[:, 30] = 3
    >>> out = write_figures(tempfile.mkdtemp(), density=d, res=10, pixel_size_mm=0.1, formats=("png", "pdf"))
    >>> sorted(out)
    ['density_pdf', 'density_png']
    """
    plt = require("matplotlib.pyplot", "pyulm.figures")

    from .plot import density_figure, direction_figure, velocity_figure

    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ValueError(f"out_dir: {str(out_dir)!r} is not an existing folder")
    if isinstance(formats, str):
        formats = (formats,)
    bad = [f for f in formats if f not in _FIGURE_FORMATS]
    if bad or not formats:
        raise ValueError(f"formats: expected names among {sorted(_FIGURE_FORMATS)}, got {list(formats)!r}")
    pixel_size_zx(pixel_size_mm)
    makers = {"density": lambda: density_figure(density, res=res, pixel_size_mm=pixel_size_mm, origin_mm=origin_mm,
                                                dark=dark)}
    if direction is not None:
        makers["direction"] = lambda: direction_figure(density, direction, res=res, pixel_size_mm=pixel_size_mm,
                                                       origin_mm=origin_mm, dark=dark)
    if velocity is not None:
        makers["velocity"] = lambda: velocity_figure(velocity, density, res=res, pixel_size_mm=pixel_size_mm,
                                                     velocity_unit=velocity_unit, origin_mm=origin_mm, dark=dark)
    paths = {f"{name}_{fmt}": out_dir / f"{name}{_FIGURE_FORMATS[fmt]}" for name in makers for fmt in formats}
    if not overwrite:
        taken = [str(p) for p in paths.values() if p.exists()]
        if taken:
            raise FileExistsError(f"out_dir: {taken[0]} exists and overwrite=False")
    written = {}
    for name, make in makers.items():
        fig = make()
        try:
            for fmt in formats:
                key = f"{name}_{fmt}"
                written[key] = save_figure(fig, paths[key], dpi=dpi)
        finally:
            plt.close(fig)
    return written
