"""PSFs for simulation: pyulm's one :class:`~pyulm.psf.PSF` model, with the IQ depth phase.

The model, :func:`~pyulm.psf.psf_from_transducer` (MHz, mm) and
:func:`~pyulm.psf.psf_from_array` live in :mod:`pyulm.psf`; this module adds
:func:`gaussian_psf`, the simulator's default PSF, and re-exports the others so
that ``pyulm.sim`` reads as one room.
"""
from __future__ import annotations

from .. import _validate as V
from ..psf.model import PSF, fwhm_in_wavelengths, psf_from_array
from ..psf.transducer import psf_from_transducer

__all__ = ["PSF", "gaussian_psf", "psf_from_array", "psf_from_transducer"]


def gaussian_psf(fwhm=3.0, *, wavelength: float = 1.0, pixel_size_mm=(0.0986, 0.0986)) -> PSF:
    """A separable Gaussian PSF with the depth phase of IQ data.

    (:func:`pyulm.psf.gaussian_psf` samples the same Gaussian as a template array.)

    Parameters
    ----------
    fwhm : float or (float, float)
        FWHM (z, x) of the envelope, pixels.
    wavelength : float
        Wavelength in pixels along z (1 for PALA's wavelength-sized pixels);
        ``numpy.inf`` gives a real PSF without phase.
    pixel_size_mm : (float, float)
        Pixel size (dz, dx) in mm (default one wavelength at 15.625 MHz).

    Examples
    --------
    >>> gaussian_psf((3, 4)).fwhm
    (3.0, 4.0)
    """
    fz, fx = V.pair(fwhm, "psf_fwhm")
    wl = V.positive(wavelength, "wavelength", allow_inf=True)
    ps = V.pair(pixel_size_mm, "pixel_size_mm")
    return PSF(fwhm=(fz, fx), wavelength=wl, pixel_size_mm=ps, fwhm_wavelengths=fwhm_in_wavelengths((fz, fx), wl, ps),
               params={"kind": "gaussian", "fwhm": [fz, fx]})
