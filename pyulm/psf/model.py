"""The PSF model: separable analytic profiles or a sampled kernel, in pixel units.

A :class:`PSF` describes the image of one point scatterer in beamformed IQ:
``axial(z - z0) * lateral(x - x0) * exp(-i * 4 pi * z0 / wavelength)``. The
last factor is the two-way propagation phase of a scatterer at depth ``z0``
after IQ demodulation (axial motion becomes a Doppler phase from frame to
frame, as in real data). Both profiles are real and separable, which is what
makes :func:`pyulm.sim.render_points` fast. A sampled ``kernel`` (estimated
from data or given by the user) replaces the analytic profiles.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .. import _validate as V

__all__ = ["PSF", "psf_from_array", "UPSAMPLE", "upsampled_kernel", "fwhm_of_profile"]

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))  # Gaussian FWHM / sigma
#: Sub-pixel phases of a sampled kernel when rendered: positions quantised to 1/32 pixel.
UPSAMPLE = 32


def fwhm_of_profile(profile, x) -> float:
    """Full width at half maximum of a sampled ``|profile|`` over abscissae ``x`` (linear interpolation)."""
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
    """A point-spread function in pixel units (axes z, x).

    Parameters
    ----------
    fwhm : (float, float)
        Full width at half maximum (axial z, lateral x) of the amplitude, pixels.
    wavelength : float
        Acoustic wavelength in pixels along z; sets the depth phase
        ``exp(-4 i pi z0 / wavelength)`` of simulated IQ. ``inf``: no phase
        (a real PSF).
    lateral : {"gaussian", "sinc"}
        Lateral profile: a Gaussian of ``fwhm[1]``, or the product of the
        receive and transmit sinc beam patterns (``sinc_widths``) with their
        side lobes.
    sinc_widths : (float, float)
        Widths (pixels) of the receive and transmit sinc patterns,
        ``sinc(x / w)``; used only when ``lateral == "sinc"``.
    kernel : ndarray (kz, kx) or None
        The PSF sampled on the pixel grid (odd sizes, origin at the centre
        pixel); overrides the analytic profiles.
    pixel_size_mm : (float, float) or None
        Pixel size (dz, dx) in mm, when known.
    fwhm_wavelengths : (float, float) or None
        ``fwhm`` in wavelengths, when the pixel size in wavelengths is known.
    n_used : int
        Bubbles averaged to estimate the PSF (0 for a model).
    params : dict
        How the PSF was made (model inputs, or the fit of an estimate).

    Build one with :func:`pyulm.psf.psf_from_transducer`,
    :func:`pyulm.psf.estimate_psf`, :func:`pyulm.psf.psf_from_array` or
    :func:`pyulm.sim.gaussian_psf` rather than the constructor.
    """

    fwhm: tuple[float, float]
    wavelength: float = 1.0
    lateral: str = "gaussian"
    sinc_widths: tuple[float, float] = (1.0, 1.0)
    kernel: np.ndarray | None = field(default=None, repr=False, compare=False)
    pixel_size_mm: tuple[float, float] | None = None
    fwhm_wavelengths: tuple[float, float] | None = None
    n_used: int = 0
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

    @property
    def image(self) -> np.ndarray:
        """The real amplitude PSF on the pixel grid, ``2 * half_window + 1`` pixels.

        The ``kernel`` when the PSF is sampled, else ``axial ⊗ lateral``
        (peak 1 at the centre pixel, no depth phase): the template that
        localization methods correlate with.

        Examples
        --------
        >>> from pyulm.sim import gaussian_psf
        >>> img = gaussian_psf(3).image
        >>> img.shape, float(img[5, 5])
        ((11, 11), 1.0)
        """
        if self.kernel is not None:
            return self.kernel
        hz, hx = self.half_window
        return np.outer(self.axial(np.arange(-hz, hz + 1.0)), self.lateral_profile(np.arange(-hx, hx + 1.0)))

    def shrink(self, factor: float = 0.5) -> "PSF":
        """The same PSF with its widths scaled by ``factor`` (CycleULM uses 0.5).

        Examples
        --------
        >>> from pyulm.sim import gaussian_psf
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
            return psf_from_array(zr, wavelength=self.wavelength * factor, pixel_size_mm=self.pixel_size_mm)
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
        s = self.fwhm[0] / FWHM_PER_SIGMA
        return np.exp(-0.5 * (np.asarray(dz) / s) ** 2)

    def lateral_profile(self, dx):
        """Lateral profile at offsets ``dx`` (pixels), peak 1 (may be negative)."""
        dx = np.asarray(dx)
        if self.lateral == "sinc":
            w_rx, w_tx = self.sinc_widths
            return np.sinc(dx / w_rx) * np.sinc(dx / w_tx)
        s = self.fwhm[1] / FWHM_PER_SIGMA
        return np.exp(-0.5 * (dx / s) ** 2)

    def measured_fwhm(self) -> tuple[float, float]:
        """FWHM (z, x) in pixels measured on a finely sampled envelope.

        For the analytic profiles this equals ``fwhm``; for a kernel it is
        measured through the kernel's peak.

        Examples
        --------
        >>> from pyulm.sim import gaussian_psf
        >>> np.round(gaussian_psf((3, 5)).measured_fwhm(), 3).tolist()
        [3.0, 5.0]
        """
        if self.kernel is not None:
            a = np.abs(upsampled_kernel(self.kernel))
            iz, ix = np.unravel_index(np.argmax(a), a.shape)
            z = np.arange(a.shape[0]) / UPSAMPLE
            x = np.arange(a.shape[1]) / UPSAMPLE
            return fwhm_of_profile(a[:, ix], z), fwhm_of_profile(a[iz, :], x)
        hz, hx = self.half_window
        z = np.linspace(-4 * hz, 4 * hz, 16001)
        x = np.linspace(-4 * hx, 4 * hx, 16001)
        return fwhm_of_profile(self.axial(z), z), fwhm_of_profile(self.lateral_profile(x), x)

    def check_fits(self, shape, name: str = "shape") -> None:
        """Raise ValueError when the PSF window is larger than the field."""
        hz, hx = self.half_window
        if 2 * hz + 1 > shape[0] or 2 * hx + 1 > shape[1]:
            raise ValueError(
                f"{name}: the field {tuple(shape)} is smaller than the PSF window "
                f"({2 * hz + 1}, {2 * hx + 1}) pixels (FWHM {self.fwhm}); expected a larger field or a smaller PSF"
            )

    def require_pixel_size_mm(self, name: str = "psf") -> tuple[float, float]:
        """``pixel_size_mm``, or a ValueError when this PSF does not know it."""
        if self.pixel_size_mm is None:
            raise ValueError(f"{name}: the PSF has no pixel_size_mm; build it with a pixel size in mm")
        return self.pixel_size_mm


def upsampled_kernel(kernel: np.ndarray) -> np.ndarray:
    """The kernel resampled at 1/:data:`UPSAMPLE` pixel (cubic spline), zero-padded by one pixel."""
    from scipy.ndimage import map_coordinates

    k = np.pad(np.asarray(kernel), 1)
    nz, nx = k.shape
    zz = np.arange((nz - 1) * UPSAMPLE + 1) / UPSAMPLE
    xx = np.arange((nx - 1) * UPSAMPLE + 1) / UPSAMPLE
    Z, X = np.meshgrid(zz, xx, indexing="ij")
    out = map_coordinates(k.real.astype(float), [Z, X], order=3, mode="constant")
    if np.iscomplexobj(k):
        out = out + 1j * map_coordinates(k.imag.astype(float), [Z, X], order=3, mode="constant")
    return out


def _optional_pair(value, name):
    return None if value is None else V.pair(value, name)


def psf_from_array(kernel, *, wavelength: float = 1.0, pixel_size_mm=(0.0986, 0.0986)) -> PSF:
    """A PSF from a user array sampled on the pixel grid.

    Parameters
    ----------
    kernel : array_like, (kz, kx)
        Real or complex PSF, odd sizes, the scatterer at the centre pixel; it is
        normalised to a peak modulus of 1 (a copy; the input is not modified).
    wavelength : float
        Wavelength in pixels along z for the depth phase (``inf``: none).
    pixel_size_mm : (float, float) or None
        Pixel size (dz, dx) in mm (default one wavelength at 15.625 MHz).

    Examples
    --------
    >>> from pyulm.psf import psf_from_array
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
    ps = _optional_pair(pixel_size_mm, "pixel_size_mm")
    psf = PSF(fwhm=(1.0, 1.0), wavelength=wl, kernel=k, pixel_size_mm=ps,
              params={"kind": "array", "shape": list(k.shape)})
    fwhm = psf.measured_fwhm()
    return replace(psf, fwhm=fwhm, fwhm_wavelengths=fwhm_in_wavelengths(fwhm, wl, ps))


def fwhm_in_wavelengths(fwhm, wavelength: float, pixel_size_mm) -> tuple[float, float] | None:
    """``fwhm`` (pixels) in wavelengths from the wavelength in pixels along z and the pixel aspect.

    None when the wavelength is infinite (no phase) or the pixel size unknown.
    """
    if not np.isfinite(wavelength) or pixel_size_mm is None:
        return None
    aspect = pixel_size_mm[1] / pixel_size_mm[0]
    return float(fwhm[0] / wavelength), float(fwhm[1] * aspect / wavelength)
