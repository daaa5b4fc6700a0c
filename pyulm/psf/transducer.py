"""The PSF predicted from the probe, the pulse and the beamforming (MHz, mm)."""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from .model import PSF, fwhm_of_profile

__all__ = ["psf_from_transducer"]


def psf_from_transducer(
    center_frequency_mhz: float = 15.625,
    *,
    fractional_bandwidth: float | None = 0.67,
    n_cycles: float | None = None,
    f_number: float | None = None,
    pitch_mm: float | None = 0.1,
    n_elements: int | None = 128,
    aperture_mm: float | None = None,
    depth_mm: float | None = 8.0,
    angles=(-10.0, 10.0),
    speed_of_sound: float = 1540.0,
    pixel_size_mm=None,
    lateral: str = "sinc",
    one_way_bandwidth: bool = False,
) -> PSF:
    """Predict the amplitude PSF of a beamformed image from probe, pulse and beamforming.

    Model (uniformly weighted aperture, Gaussian pulse envelope):

    * **axial**: with the −6 dB pulse-echo fractional bandwidth ``B``, a
      Gaussian pulse has an envelope FWHM of ``0.441 λ / B`` in depth (its
      time-bandwidth product ``4 ln2 / π``, halved by the round trip); with
      ``n_cycles`` instead, a burst of n cycles gives ``n λ / 2``.
    * **lateral**: the receive aperture of F-number ``F`` gives a
      ``sinc(x / (λ F))`` pattern. Coherent compounding of plane waves over the
      angle span ``[min, max]`` synthesises a transmit pattern
      ``sinc(x (sin max − sin min) / λ)``; with ``angles=None`` the transmit
      is focused through the same aperture (``sinc²``: FWHM ``0.886 λ F``).
      Their product is the two-way profile (``lateral="sinc"``), or its
      FWHM-matched Gaussian (``lateral="gaussian"``).

    Parameters
    ----------
    center_frequency_mhz : float
        Transmit centre frequency, MHz.
    fractional_bandwidth : float, optional
        Pulse-echo −6 dB bandwidth / centre frequency, in (0, 2].
    n_cycles : float, optional
        Cycles of the transmit burst; used when given (``fractional_bandwidth``
        is then ignored).
    f_number : float, optional
        Receive F-number; when None, ``depth_mm / aperture_mm`` with
        ``aperture_mm`` or ``pitch_mm * n_elements``.
    pitch_mm, aperture_mm, depth_mm : float, optional
        Element pitch, aperture width and the depth at which the F-number is
        taken, mm.
    n_elements : int, optional
        Number of receive elements.
    angles : sequence of float or None
        Compounding plane-wave angles in degrees (the span matters; one angle:
        no transmit focusing); None for a focused transmit.
    speed_of_sound : float
        m/s.
    pixel_size_mm : float or (float, float), optional
        Pixel size (dz, dx) in mm; default one wavelength.
    lateral : {"sinc", "gaussian"}
        Lateral profile model.
    one_way_bandwidth : bool
        ``fractional_bandwidth`` is the transducer's one-way bandwidth (as
        PyMUST's ``param.bandwidth``); the pulse-echo bandwidth of a Gaussian
        response is then ``B / sqrt(2)``.

    Returns
    -------
    PSF
        Widths in pixels, ``wavelength`` in pixels along z,
        ``fwhm_wavelengths``, and ``params`` with the wavelength (mm) and the
        F-number used.

    Examples
    --------
    >>> from pyulm.psf import psf_from_transducer
    >>> psf = psf_from_transducer(15.625, fractional_bandwidth=0.67, f_number=1.0, angles=[-5, 0, 5])
    >>> [round(v, 2) for v in psf.fwhm]
    [0.66, 1.19]
    >>> focused = psf_from_transducer(15.625, fractional_bandwidth=0.6, f_number=1.5, angles=None)
    >>> [round(v, 3) for v in focused.fwhm_wavelengths]
    [0.735, 1.329]
    """
    f0 = V.positive(center_frequency_mhz, "center_frequency_mhz")
    c = V.positive(speed_of_sound, "speed_of_sound")
    wl_mm = c / (f0 * 1e3)
    if pixel_size_mm is None:
        pixel_size_mm = (wl_mm, wl_mm)
    dz, dx = V.pair(pixel_size_mm, "pixel_size_mm")
    V.choice(lateral, "lateral", ("sinc", "gaussian"))
    if n_cycles is not None:
        axial_wl = V.positive(n_cycles, "n_cycles") / 2.0
    else:
        if fractional_bandwidth is None:
            raise ValueError("fractional_bandwidth: expected a value in (0, 2] when n_cycles is not given, got None")
        b = V.positive(fractional_bandwidth, "fractional_bandwidth")
        if b > 2:
            raise ValueError(f"fractional_bandwidth: expected a value in (0, 2], got {fractional_bandwidth!r}")
        if one_way_bandwidth:
            b = b / np.sqrt(2.0)  # transmit and receive: the Gaussian spectrum is squared
        axial_wl = 2.0 * np.log(2.0) / np.pi / b  # = 0.441 / B wavelengths
    if f_number is None:
        if aperture_mm is None and pitch_mm is not None and n_elements is not None:
            aperture_mm = V.positive(pitch_mm, "pitch_mm") * V.positive(n_elements, "n_elements", integer=True)
        if aperture_mm is None or depth_mm is None:
            raise ValueError("f_number: give f_number, or depth_mm with aperture_mm (or pitch_mm and n_elements)")
        fnum = V.positive(depth_mm, "depth_mm") / V.positive(aperture_mm, "aperture_mm")
    else:
        fnum = V.positive(f_number, "f_number")
    w_rx = wl_mm * fnum / dx
    if angles is None:
        w_tx = w_rx  # focused transmit through the receive aperture: sinc^2
        ang = None
    else:
        ang = np.atleast_1d(np.asarray(angles, dtype=float)).ravel()
        if ang.size == 0 or not np.all(np.isfinite(ang)) or np.any(np.abs(ang) >= 90):
            raise ValueError(f"angles: expected compounding angles in degrees within (-90, 90), got {angles!r}")
        span = np.sin(np.deg2rad(ang.max())) - np.sin(np.deg2rad(ang.min()))
        # no angle span means no synthetic transmit focus: a very wide (flat) pattern
        w_tx = wl_mm / span / dx if span > 1e-9 else 1e6
    x = np.linspace(-3 * w_rx, 3 * w_rx, 20001)
    lat_fwhm = fwhm_of_profile(np.sinc(x / w_rx) * np.sinc(x / w_tx), x)
    fwhm = (float(axial_wl * wl_mm / dz), float(lat_fwhm))
    params = {
        "kind": "transducer", "center_frequency_mhz": f0, "fractional_bandwidth": fractional_bandwidth,
        "n_cycles": n_cycles, "f_number": fnum, "angles": None if ang is None else ang.tolist(),
        "speed_of_sound": c, "wavelength_mm": wl_mm, "pixel_size_mm": [dz, dx], "lateral": lateral,
    }
    return PSF(
        fwhm=fwhm, wavelength=wl_mm / dz, lateral=lateral, sinc_widths=(w_rx, w_tx), pixel_size_mm=(dz, dx),
        fwhm_wavelengths=(float(axial_wl), float(lat_fwhm * dx / wl_mm)), params=params,
    )
