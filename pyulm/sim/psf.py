"""Point-spread functions of beamformed IQ, fast and separable.

A :class:`PSF` is the image of one point scatterer in beamformed IQ:
``amplitude * axial(z - z0) * lateral(x - x0) * exp(-i * 4 pi * z0 / wavelength)``.
The last factor is the two-way propagation phase of a scatterer at depth
``z0`` after IQ demodulation, so axial motion turns into a Doppler phase shift
from frame to frame, as in real data. Both profiles are real and separable,
which is what makes :func:`pyulm.sim.render_points` fast.

A user PSF array (any 2-D, possibly complex, centred kernel) is also accepted
through :func:`psf_from_array`; it is rendered from a finely upsampled copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import _validate as V

_FWHM_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))  # Gaussian FWHM / sigma
_UPSAMPLE = 32  # sub-pixel phases of a user kernel: positions quantised to 1/32 pixel


def _fwhm_of(profile, x):
    """Full width at half maximum of a sampled |profile| (linear interpolation)."""
    a = np.abs(profile)
    half = a.max() / 2.0
    above = np.nonzero(a >= half)[0]
    lo, hi = above[0], above[-1]

    def cross(i0, i1):
        # x where |profile| crosses half between samples i0 (below) and i1 (above)
        return x[i0] + (half - a[i0]) * (x[i1] - x[i0]) / (a[i1] - a[i0])

    left = cross(lo - 1, lo) if lo > 0 else x[0]
    right = cross(hi + 1, hi) if hi < a.size - 1 else x[-1]
    return float(right - left)


@dataclass(frozen=True)
class PSF:
    """A separable (or user-sampled) point-spread function in pixel units.

    Parameters
    ----------
    fwhm : (float, float)
        Nominal full width at half maximum (axial z, lateral x), pixels.
    wavelength : float
        Acoustic wavelength in pixels along z; sets the depth phase
        ``exp(-4 i pi z0 / wavelength)``. ``inf`` disables the phase (a real PSF).
    lateral : {"gaussian", "sinc"}
        Lateral profile: a Gaussian, or the product of the transmit and receive
        sinc beam patterns (widths ``sinc_widths``), with its side lobes.
    sinc_widths : (float, float)
        Widths (pixels) of the receive and synthetic-transmit sinc patterns,
        ``sinc(x / w)``; used only when ``lateral == "sinc"``.
    kernel : ndarray or None
        A user PSF sampled on the pixel grid (odd sizes, centre pixel = origin);
        overrides the analytic profiles.
    pixel_size : (float, float)
        Pixel size (dz, dx) in mm, for metadata and physical concentrations.
    params : dict
        The parameters that built this PSF (provenance).

    Use :func:`gaussian_psf`, :func:`psf_from_transducer` or
    :func:`psf_from_array` rather than the constructor.
    """

    fwhm: tuple[float, float]
    wavelength: float = 1.0
    lateral: str = "gaussian"
    sinc_widths: tuple[float, float] = (1.0, 1.0)
    kernel: np.ndarray | None = field(default=None, repr=False, compare=False)
    pixel_size: tuple[float, float] = (0.0986, 0.0986)
    params: dict = field(default_factory=dict, compare=False)

    # -- geometry ---------------------------------------------------------
    @property
    def half_window(self) -> tuple[int, int]:
        """Half size (hz, hx) of the rendering window, pixels.

        A Gaussian falls below 0.2 % of its peak at 1.5 FWHM from the centre;
        a sinc product keeps its first side lobes within 2 FWHM.
        """
        if self.kernel is not None:
            return self.kernel.shape[0] // 2, self.kernel.shape[1] // 2
        hz = int(np.ceil(1.5 * self.fwhm[0]))
        hx = int(np.ceil((2.0 if self.lateral == "sinc" else 1.5) * self.fwhm[1]))
        return max(hz, 1), max(hx, 1)

    def shrink(self, factor: float = 0.5) -> "PSF":
        """The same PSF with its widths scaled by ``factor`` (CycleULM uses 0.5).

        Examples
        --------
        >>> gaussian_psf((3, 4)).shrink(0.5).fwhm
        (1.5, 2.0)
        """
        factor = V.positive(factor, "shrink")
        if self.kernel is not None:
            from scipy.ndimage import zoom

            k = self.kernel
            nz = max(1, int(round(k.shape[0] * factor)) | 1)
            nx = max(1, int(round(k.shape[1] * factor)) | 1)
            zr = zoom(k.real, (nz / k.shape[0], nx / k.shape[1]), order=1)
            if np.iscomplexobj(k):
                zr = zr + 1j * zoom(k.imag, (nz / k.shape[0], nx / k.shape[1]), order=1)
            return psf_from_array(zr, wavelength=self.wavelength * factor, pixel_size=self.pixel_size)
        return replace(
            self,
            fwhm=(self.fwhm[0] * factor, self.fwhm[1] * factor),
            wavelength=self.wavelength * factor,
            sinc_widths=(self.sinc_widths[0] * factor, self.sinc_widths[1] * factor),
            params={**self.params, "shrink": factor},
        )

    # -- profiles ----------------------------------------------------------
    def axial(self, dz):
        """Axial envelope at offsets ``dz`` (pixels), peak 1."""
        s = self.fwhm[0] / _FWHM_SIGMA
        return np.exp(-0.5 * (np.asarray(dz) / s) ** 2)

    def lateral_profile(self, dx):
        """Lateral profile at offsets ``dx`` (pixels), peak 1 (may be negative)."""
        dx = np.asarray(dx)
        if self.lateral == "sinc":
            w_rx, w_tx = self.sinc_widths
            return np.sinc(dx / w_rx) * np.sinc(dx / w_tx)
        s = self.fwhm[1] / _FWHM_SIGMA
        return np.exp(-0.5 * (dx / s) ** 2)

    def image(self, shape=None, center=None) -> np.ndarray:
        """The complex PSF of a scatterer at ``center`` rendered on a grid.

        Parameters
        ----------
        shape : (int, int), optional
            Grid size; default ``2 * half_window + 1``.
        center : (float, float), optional
            Scatterer position (z, x), pixels, 0-based; default the grid centre.

        Examples
        --------
        >>> img = gaussian_psf(3).image()
        >>> img.shape, round(float(abs(img).max()), 3)
        ((11, 11), 1.0)
        """
        from .render import render_points

        hz, hx = self.half_window
        shape = (2 * hz + 1, 2 * hx + 1) if shape is None else tuple(int(s) for s in shape)
        center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2) if center is None else center
        return render_points([center[0]], [center[1]], [0], [1.0], shape, 1, self)[:, :, 0]

    def measured_fwhm(self) -> tuple[float, float]:
        """FWHM (z, x) in pixels measured on a finely sampled envelope.

        For the analytic profiles this equals ``fwhm``; for a user kernel it is
        measured through the kernel's peak.

        Examples
        --------
        >>> np.round(gaussian_psf((3, 5)).measured_fwhm(), 3).tolist()
        [3.0, 5.0]
        """
        if self.kernel is not None:
            up = _upsampled(self.kernel)
            a = np.abs(up)
            iz, ix = np.unravel_index(np.argmax(a), a.shape)
            z = np.arange(a.shape[0]) / _UPSAMPLE
            x = np.arange(a.shape[1]) / _UPSAMPLE
            return _fwhm_of(a[:, ix], z), _fwhm_of(a[iz, :], x)
        hz, hx = self.half_window
        z = np.linspace(-4 * hz, 4 * hz, 16001)
        x = np.linspace(-4 * hx, 4 * hx, 16001)
        return _fwhm_of(self.axial(z), z), _fwhm_of(self.lateral_profile(x), x)

    def check_fits(self, shape, name: str = "shape") -> None:
        """Raise ValueError when the PSF window is larger than the field."""
        hz, hx = self.half_window
        if 2 * hz + 1 > shape[0] or 2 * hx + 1 > shape[1]:
            raise ValueError(
                f"{name}: the field {tuple(shape)} is smaller than the PSF window "
                f"({2 * hz + 1}, {2 * hx + 1}) pixels (FWHM {self.fwhm}); expected a larger field or a smaller PSF"
            )


def _upsampled(kernel: np.ndarray) -> np.ndarray:
    """The kernel resampled at 1/_UPSAMPLE pixel (cubic spline), zero-padded by one pixel."""
    from scipy.ndimage import map_coordinates

    k = np.pad(np.asarray(kernel), 1)
    nz, nx = k.shape
    zz = np.arange((nz - 1) * _UPSAMPLE + 1) / _UPSAMPLE
    xx = np.arange((nx - 1) * _UPSAMPLE + 1) / _UPSAMPLE
    Z, X = np.meshgrid(zz, xx, indexing="ij")
    out = map_coordinates(k.real.astype(float), [Z, X], order=3, mode="constant")
    if np.iscomplexobj(k):
        out = out + 1j * map_coordinates(k.imag.astype(float), [Z, X], order=3, mode="constant")
    return out


def gaussian_psf(fwhm=3.0, *, wavelength: float = 1.0, pixel_size=(0.0986, 0.0986)) -> PSF:
    """A separable Gaussian PSF with the depth phase of IQ data.

    Parameters
    ----------
    fwhm : float or (float, float)
        FWHM (z, x) of the envelope, pixels.
    wavelength : float
        Wavelength in pixels along z (1 for PALA's wavelength-sized pixels);
        ``numpy.inf`` gives a real PSF without phase.
    pixel_size : (float, float)
        Pixel size in mm (metadata; default one wavelength at 15.625 MHz).

    Examples
    --------
    >>> gaussian_psf((3, 4)).fwhm
    (3.0, 4.0)
    """
    fz, fx = V.pair(fwhm, "psf_fwhm")
    wl = V.positive(wavelength, "wavelength", allow_inf=True)
    ps = V.pair(pixel_size, "pixel_size")
    return PSF(fwhm=(fz, fx), wavelength=wl, pixel_size=ps, params={"kind": "gaussian", "fwhm": [fz, fx]})


def psf_from_transducer(
    center_frequency: float = 15.625,
    *,
    fractional_bandwidth: float | None = 0.67,
    n_cycles: float | None = None,
    f_number: float | None = None,
    pitch: float | None = 0.1,
    n_elements: int | None = 128,
    depth: float | None = 8.0,
    angles=(-10.0, 10.0),
    speed_of_sound: float = 1540.0,
    pixel_size=None,
    lateral: str = "sinc",
    one_way_bandwidth: bool = False,
) -> PSF:
    """A PSF from probe, pulse and beamforming parameters.

    Axial: a Gaussian pulse-echo envelope. With the -6 dB pulse-echo
    fractional bandwidth ``B`` its FWHM is ``0.441 * wavelength / B`` (a
    Gaussian's time-bandwidth product, halved for the round trip); with
    ``n_cycles`` instead, the FWHM is ``n_cycles * wavelength / 2``.
    Lateral: the receive aperture (F-number ``f_number``, or ``depth / (pitch *
    n_elements)``) gives a ``sinc(x / (wavelength * F))`` pattern; coherent
    compounding over the angle span ``[min, max]`` synthesises a transmit
    aperture with pattern ``sinc(x * (sin max - sin min) / wavelength)``.
    Their product is the two-way lateral profile (``lateral="sinc"``), or its
    FWHM-matched Gaussian (``lateral="gaussian"``).

    Parameters
    ----------
    center_frequency : float
        Transmit centre frequency, MHz.
    fractional_bandwidth : float, optional
        Pulse-echo -6 dB bandwidth / centre frequency (0 < B <= 2).
    n_cycles : float, optional
        Number of cycles of the transmit pulse; used when given (then
        ``fractional_bandwidth`` is ignored).
    f_number : float, optional
        Receive F-number; when None, ``depth / (pitch * n_elements)``.
    pitch : float
        Element pitch, mm.
    n_elements : int
        Number of receive elements.
    depth : float
        Imaging depth at which the F-number is taken, mm.
    angles : (float, float) or sequence of float
        Compounding plane-wave angles in degrees (the span matters); one
        angle means no transmit focusing.
    speed_of_sound : float
        m/s.
    pixel_size : float or (float, float), optional
        Pixel size (dz, dx) in mm; default one wavelength.
    lateral : {"sinc", "gaussian"}
        Lateral profile model.
    one_way_bandwidth : bool
        ``fractional_bandwidth`` is the transducer's one-way bandwidth (as in
        PyMUST's ``param.bandwidth``); the pulse-echo bandwidth of a Gaussian
        response is then ``B / sqrt(2)``.

    Returns
    -------
    PSF
        Widths in pixels, ``wavelength`` in pixels along z.

    Examples
    --------
    >>> psf = psf_from_transducer(15.625, fractional_bandwidth=0.67, f_number=1.0, angles=[-5, 0, 5])
    >>> [round(v, 2) for v in psf.fwhm]
    [0.66, 1.19]
    """
    f0 = V.positive(center_frequency, "center_frequency")
    c = V.positive(speed_of_sound, "speed_of_sound")
    wl_mm = c / (f0 * 1e3)
    if pixel_size is None:
        pixel_size = (wl_mm, wl_mm)
    dz, dx = V.pair(pixel_size, "pixel_size")
    V.choice(lateral, "lateral", ("sinc", "gaussian"))
    if n_cycles is not None:
        axial_mm = V.positive(n_cycles, "n_cycles") * wl_mm / 2.0
    else:
        if fractional_bandwidth is None:
            raise ValueError("fractional_bandwidth: expected a value in (0, 2] when n_cycles is not given, got None")
        b = V.positive(fractional_bandwidth, "fractional_bandwidth")
        if b > 2:
            raise ValueError(f"fractional_bandwidth: expected a value in (0, 2], got {fractional_bandwidth!r}")
        if one_way_bandwidth:
            b = b / np.sqrt(2.0)  # transmit and receive: the Gaussian spectrum is squared
        axial_mm = 2.0 * np.log(2.0) / np.pi * wl_mm / b  # = 0.441 wl / B
    if f_number is None:
        if pitch is None or n_elements is None or depth is None:
            raise ValueError("f_number: give f_number, or pitch, n_elements and depth to compute it")
        aperture = V.positive(pitch, "pitch") * V.positive(n_elements, "n_elements", integer=True)
        fnum = V.positive(depth, "depth") / aperture
    else:
        fnum = V.positive(f_number, "f_number")
    ang = np.atleast_1d(np.asarray(angles, dtype=float)).ravel()
    if ang.size == 0 or not np.all(np.isfinite(ang)) or np.any(np.abs(ang) >= 90):
        raise ValueError(f"angles: expected compounding angles in degrees within (-90, 90), got {angles!r}")
    w_rx = wl_mm * fnum / dx
    span = np.sin(np.deg2rad(ang.max())) - np.sin(np.deg2rad(ang.min()))
    # no angle span means no synthetic transmit focus: a very wide (flat) pattern
    w_tx = wl_mm / span / dx if span > 1e-9 else 1e6
    x = np.linspace(-3 * w_rx, 3 * w_rx, 20001)
    lat_fwhm = _fwhm_of(np.sinc(x / w_rx) * np.sinc(x / w_tx), x)
    params = {
        "kind": "transducer", "center_frequency": f0, "fractional_bandwidth": fractional_bandwidth,
        "n_cycles": n_cycles, "f_number": fnum, "angles": ang.tolist(), "speed_of_sound": c,
        "pixel_size": [dz, dx], "lateral": lateral,
    }
    return PSF(
        fwhm=(float(axial_mm / dz), float(lat_fwhm)), wavelength=wl_mm / dz, lateral=lateral,
        sinc_widths=(w_rx, w_tx), pixel_size=(dz, dx), params=params,
    )


def psf_from_array(kernel, *, wavelength: float = 1.0, pixel_size=(0.0986, 0.0986)) -> PSF:
    """A PSF from a user array sampled on the pixel grid.

    Parameters
    ----------
    kernel : array_like, (kz, kx)
        Real or complex PSF, odd sizes, the scatterer at the centre pixel; it is
        normalised to a peak modulus of 1 (a copy; the input is not modified).
    wavelength : float
        Wavelength in pixels along z for the depth phase (``inf``: none).
    pixel_size : (float, float)
        Pixel size in mm.

    Examples
    --------
    >>> zz, xx = np.mgrid[-4:5, -4:5]
    >>> psf = psf_from_array(np.exp(-(zz ** 2 + xx ** 2) / 4.0))
    >>> psf.half_window
    (4, 4)
    """
    k = np.array(kernel, copy=True)
    if k.ndim != 2 or k.size == 0 or k.dtype == object:
        raise ValueError(f"kernel: expected a non-empty 2-D numeric array, got shape {np.shape(k)}")
    if k.shape[0] % 2 == 0 or k.shape[1] % 2 == 0:
        raise ValueError(f"kernel: expected odd sizes (the scatterer at the centre pixel), got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise ValueError("kernel: expected finite values, got NaN or Inf")
    peak = np.abs(k).max()
    if peak == 0:
        raise ValueError("kernel: the array is all zeros")
    k = (k / peak).astype(np.complex128 if np.iscomplexobj(k) else np.float64)
    wl = V.positive(wavelength, "wavelength", allow_inf=True)
    ps = V.pair(pixel_size, "pixel_size")
    psf = PSF(fwhm=(1.0, 1.0), wavelength=wl, kernel=k, pixel_size=ps, params={"kind": "array", "shape": list(k.shape)})
    return replace(psf, fwhm=psf.measured_fwhm())
