"""Point-spread functions: one model, built from a probe, from data or from an array.

:class:`PSF` is pyulm's one PSF model, used by localization (templates, NCC,
deconvolution) and by the simulator (:mod:`pyulm.sim`). Its widths are in
**pixels**, axes (z, x); physical sizes carry their unit in their name
(``pixel_size_mm``, ``center_frequency_mhz``, ``pitch_mm``, ``depth_mm``).

Ways to obtain one:

* :func:`psf_from_transducer` predicts it from the probe, the pulse and the
  compounding angles (MHz, mm);
* :func:`estimate_psf` measures it on data (isolated bubbles, registered and
  averaged, with a Gaussian fit);
* :func:`psf_from_array` wraps a user array.

:func:`gaussian_template` samples a Gaussian template as an array, and
:func:`check_psf` validates a template array. All widths are full widths at
half maximum (FWHM) of the **amplitude** (|IQ|).
"""
from .estimate import check_psf, estimate_psf, fit_gaussian_2d, gaussian_template
from .model import PSF, psf_from_array
from .transducer import psf_from_transducer

__all__ = ["PSF", "psf_from_transducer", "psf_from_array", "estimate_psf", "gaussian_template", "fit_gaussian_2d",
           "check_psf"]
