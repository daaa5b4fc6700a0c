"""PALA-style pictures of ULM maps: RGB arrays, readable figures, PNG/TIFF/PDF files.

Two products:

* **PALA's renderings as RGB arrays** (:mod:`.rgb`, numpy only), as
  ``PALA_InVivoULM_example`` writes them: :func:`density_rgb` (``density **
  (1/3)`` in ``gray(128)``, saturated at 0.8 of the maximum),
  :func:`direction_rgb` (``density ** (1/4)`` signed by the smoothed direction,
  in a two-sided ``hot`` colormap: blue up, red/yellow deeper) and
  :func:`velocity_rgb` (``jet(256)`` shaded by the density). Colour
  quantisation is PALA's ``WriteTif``. With ``pixel_size_mm`` PALA's 1 mm
  scale bar is burned in.
* **Readable figures** (:mod:`.plot`, matplotlib): the same renderings on axes
  in mm with a colour bar in units (tracks per pixel; mm/s) and a labelled
  scale bar in mm, on PALA's dark background: :func:`density_figure`,
  :func:`direction_figure`, :func:`velocity_figure`, and
  :func:`write_figures`, which writes all of them as PNG/PDF/TIFF.

Units: ``pixel_size_mm`` is always the size in **mm** of one **original**
(not super-resolved) pixel, one number or ``(dz, dx)``; ``res`` is the number
of SR pixels per original pixel. :func:`save_figure` writes an array or a
figure atomically.
"""
from .colormaps import apply_colormap, gray, hot, jet, two_sided_hot
from .files import save_figure, write_figures
from .plot import density_figure, direction_figure, nice_bar_length, show, velocity_figure
from .rgb import default_vmax, density_rgb, direction_rgb, pixel_size_zx, scale_bar_width, velocity_rgb

__all__ = [
    "gray", "hot", "jet", "two_sided_hot", "apply_colormap", "scale_bar_width", "pixel_size_zx",
    "density_rgb", "direction_rgb", "velocity_rgb", "default_vmax", "show", "nice_bar_length",
    "density_figure", "direction_figure", "velocity_figure", "save_figure", "write_figures",
]
