"""Physical PSF through PyMUST (optional: ``pip install pymust``, LGPL-3.0).

For small fields: one point scatterer is simulated with PyMUST's ``simus``
(linear array, plane-wave transmits at the compounding angles), demodulated
with ``rf2iq``, beamformed with ``dasmtx`` on the pixel grid and compounded.
The result is a :class:`PSF` (via :func:`psf_from_array`) to render with, or
to check :func:`psf_from_transducer` against.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from .psf import PSF, psf_from_array


def pymust_psf(
    center_frequency_mhz: float = 7.6,
    *,
    fractional_bandwidth: float = 0.77,
    pitch_mm: float = 0.3,
    n_elements: int = 64,
    depth_mm: float = 15.0,
    f_number: float = 1.5,
    angles=(-5.0, 0.0, 5.0),
    speed_of_sound: float = 1540.0,
    pixel_size_mm: float | None = None,
    half_size=(8, 12),
) -> PSF:
    """A PSF simulated with PyMUST for a scatterer at ``depth`` under the array centre.

    Parameters
    ----------
    center_frequency_mhz : float
        MHz.
    fractional_bandwidth : float
        Pulse-echo -6 dB bandwidth / centre frequency (PyMUST's ``bandwidth``).
    pitch_mm : float
        mm (element width = 0.9 pitch).
    n_elements : int
    depth_mm : float
        Scatterer depth, mm.
    f_number : float
        Receive F-number of the beamformer.
    angles : sequence of float
        Plane-wave tilts, degrees (coherently compounded).
    speed_of_sound : float
        m/s.
    pixel_size_mm : float, optional
        Beamforming grid step, mm; default a quarter wavelength.
    half_size : (int, int)
        Grid half size (z, x) in pixels.

    Returns
    -------
    PSF
        A sampled PSF (``kernel``) with ``pixel_size_mm`` and ``wavelength`` set.

    Raises
    ------
    ModuleNotFoundError
        When pymust is not installed.

    Examples
    --------
    >>> psf = pymust_psf(n_elements=32, angles=[0], half_size=(4, 4))  # doctest: +SKIP
    """
    import pymust

    f0 = V.positive(center_frequency_mhz, "center_frequency_mhz") * 1e6
    c = V.positive(speed_of_sound, "speed_of_sound")
    wl = c / f0
    dpx = wl / 4 if pixel_size_mm is None else V.positive(pixel_size_mm, "pixel_size_mm") * 1e-3
    hz, hx = (V.positive(v, "half_size", integer=True) for v in half_size)
    param = pymust.utils.Param()
    param.fc = f0
    param.bandwidth = 100 * V.positive(fractional_bandwidth, "fractional_bandwidth")
    param.pitch = V.positive(pitch_mm, "pitch_mm") * 1e-3
    param.width = 0.9 * param.pitch
    param.kerf = param.pitch - param.width
    param.Nelements = V.positive(n_elements, "n_elements", integer=True)
    param.radius = np.inf
    param.height = 5e-3
    param.c = c
    param.fs = 4 * f0
    param.fnumber = V.positive(f_number, "f_number")
    z0 = V.positive(depth_mm, "depth_mm") * 1e-3
    zi, xi = np.meshgrid(z0 + np.arange(-hz, hz + 1) * dpx, np.arange(-hx, hx + 1) * dpx, indexing="ij")
    img = np.zeros(zi.shape, complex)
    for a in np.atleast_1d(np.asarray(angles, float)):
        dels = pymust.txdelay(param, np.deg2rad(a))
        rf = pymust.simus(np.array([0.0]), np.array([z0]), np.array([1.0]), dels, param)
        rf = rf[0] if isinstance(rf, tuple) else rf
        iq = pymust.rf2iq(rf, param)
        M = pymust.dasmtx(1j * np.array(iq.shape), xi, zi, dels, param)
        img += (M @ iq.flatten(order="F")).reshape(xi.shape, order="F")
    # remove the depth phase of the scatterer itself: render_points applies its own
    return psf_from_array(img, wavelength=wl / dpx, pixel_size_mm=(dpx * 1e3, dpx * 1e3))
