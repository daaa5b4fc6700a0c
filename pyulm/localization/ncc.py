"""Localization by normalised cross-correlation (NCC) with the PSF.

Each frame is correlated with a PSF template (FFT-based, all frames at once);
bubbles are the local maxima of the correlation map above a threshold (at most
``number_of_particles`` per frame), refined to sub-pixel precision by a 2-D
quadratic fit on the 3×3 neighbourhood of the peak (of the map, or of its
logarithm for a Gaussian fit).

Two maps are available from :func:`ncc_maps`:

* ``"amplitude"``: zero-mean NCC of |IQ| with the amplitude PSF, in [-1, 1]
  (Lewis, "Fast normalized cross-correlation", Vision Interface 1995);
* ``"complex"``: the complex correlation of the IQ with the PSF normalised by
  the local IQ energy, ``Σ I·conj(T) / (‖T‖·‖I_window‖)``, of modulus ≤ 1 (the
  "correlation with the PSF" input of Deep-stULM, Milecki et al. 2021).

Registered as the ``"ncc"`` localization method.
"""
from __future__ import annotations

import warnings

import numpy as np
from scipy import ndimage
from scipy.signal import fftconvolve

from .. import _validate as V
from ..denoise import integral_image
from ..psf import check_psf, estimate_psf, gaussian_template
from ..tables import Localizations
from .registry import register_method

__all__ = ["ncc_maps", "localize_ncc", "peak_offsets", "find_peaks"]


def _box_sum(arr: np.ndarray, kz: int, kx: int) -> np.ndarray:
    """Sum over a centred kz×kx box per pixel, zeros outside the frame (integral image)."""
    Nz, Nx, _ = arr.shape
    S = integral_image(arr)
    z = np.arange(Nz)
    x = np.arange(Nx)
    z0, z1 = np.clip(z - kz // 2, 0, Nz), np.clip(z + kz // 2 + 1, 0, Nz)
    x0, x1 = np.clip(x - kx // 2, 0, Nx), np.clip(x + kx // 2 + 1, 0, Nx)
    return S[z1][:, x1] - S[z0][:, x1] - S[z1][:, x0] + S[z0][:, x0]


#: frames whose largest |component| lies outside [2**-SAFE_EXPONENT, 2**SAFE_EXPONENT] are scaled first: their
#: squares (the window energies) would overflow to Inf or underflow to 0 in float64
SAFE_EXPONENT = 500


def _power_of_two_scaled(arr: np.ndarray) -> np.ndarray:
    """``arr``, or a copy scaled by a power of two to a largest |value| near 1 when its squares would leave
    float64's range. NCC is scale-invariant and a power-of-two scaling is exact, so the maps are the ones the
    unscaled frames would give in exact arithmetic; frames inside the safe range are returned as they are
    (never modified)."""
    parts = (arr.real, arr.imag) if np.iscomplexobj(arr) else (arr,)
    # the largest |component| (within sqrt(2) of the largest |value|): reductions, no |.| pass over the frames
    top = max(max(float(np.max(p)), -float(np.min(p))) for p in parts) if arr.size else 0.0
    if top == 0.0 or 2.0 ** -SAFE_EXPONENT <= top <= 2.0 ** SAFE_EXPONENT:
        return arr
    exp = int(np.frexp(top)[1])
    work = arr.astype(np.result_type(arr.dtype, np.float64))  # float64 / complex128 copy: the input is untouched
    for step in (exp // 2, exp - exp // 2):  # two factors, each a normal float64 (2**-1024 alone is subnormal)
        work *= 2.0 ** -step
    return work


def ncc_maps(frames, psf, *, mode: str = "amplitude") -> np.ndarray:
    """Normalised cross-correlation of every frame with a PSF template.

    Parameters
    ----------
    frames : array_like (z, x, t) or (z, x)
        IQ (complex) or amplitude; any memory order; never modified.
    psf : array_like (kz, kx)
        Template, odd sizes, centred on its middle pixel, no larger than a frame.
    mode : {"amplitude", "complex"}
        ``"amplitude"``: zero-mean NCC of |frames| with |psf| (real, in [-1, 1]).
        ``"complex"``: ``Σ I·conj(T) / (‖T‖ ‖I‖_window)`` on the complex IQ
        (complex, modulus in [0, 1]); needs complex frames.

    Returns
    -------
    ndarray (z, x, t)
        Correlation at each pixel for the template centred there (zeros
        outside the frame); 0 where the window has no signal.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.psf import gaussian_template
    >>> from pyulm.localization.ncc import ncc_maps
    >>> frame = np.zeros((32, 32)); frame[10:21, 5:16] = gaussian_template(3, (11, 11))
    >>> c = ncc_maps(frame, gaussian_template(3, (7, 7)))
    >>> np.unravel_index(np.argmax(c), c.shape), round(float(c.max()), 6)
    ((np.int64(15), np.int64(10), np.int64(0)), 1.0)
    """
    V.choice(mode, "mode", {"amplitude", "complex"})
    arr = _power_of_two_scaled(V.as_frames(frames))
    T = check_psf(psf, arr.shape)
    kz, kx = T.shape
    n = kz * kx
    if mode == "amplitude":
        I = np.abs(arr).astype(np.float64, copy=False)
        Tz = np.abs(T)
        Tz = Tz - Tz.mean()
        tnorm = np.sqrt(np.sum(Tz * Tz))
        if tnorm == 0:
            raise ValueError("psf: is constant; a zero-mean NCC needs a template with structure")
        num = fftconvolve(I, Tz[::-1, ::-1, None], mode="same", axes=(0, 1))
        s1 = _box_sum(I, kz, kx)
        s2 = _box_sum(I * I, kz, kx)
        var = np.maximum(s2 - s1 * s1 / n, 0.0)
    else:
        if not np.iscomplexobj(arr):
            raise ValueError("frames: mode='complex' needs complex IQ frames, got a real array")
        I = arr.astype(np.complex128, copy=False)
        tnorm = np.sqrt(np.sum(np.abs(T) ** 2))
        num = fftconvolve(I, np.conj(T[::-1, ::-1])[:, :, None], mode="same", axes=(0, 1))
        var = np.maximum(_box_sum(np.abs(I) ** 2, kz, kx), 0.0)
    den = np.sqrt(var) * tnorm
    # FFT round-off leaves ~1e-16 relative residue where the window is empty: call that no signal.
    floor = 1e-12 * max(float(den.max()), np.finfo(float).tiny)
    out = np.zeros(num.shape, dtype=num.dtype)
    ok = den > floor
    out[ok] = num[ok] / den[ok]
    if mode == "amplitude":
        np.clip(out, -1.0, 1.0, out=out)
    return out


# Least-squares fit of f = a + b z + c x + d z² + e x² + g z x on the 3×3 grid: a fixed linear map.
_ZZ, _XX = np.mgrid[-1:2, -1:2]
_DESIGN = np.column_stack([np.ones(9), _ZZ.ravel(), _XX.ravel(), _ZZ.ravel() ** 2, _XX.ravel() ** 2,
                           (_ZZ * _XX).ravel()]).astype(np.float64)
_PINV = np.linalg.pinv(_DESIGN)


def peak_offsets(patches, *, method: str = "parabolic") -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel vertex of a 2-D quadratic fitted to each 3×3 patch.

    Parameters
    ----------
    patches : array_like (K, 3, 3)
        Values around each peak (peak at the centre).
    method : {"parabolic", "gaussian"}
        Fit the values, or their logarithm (exact for a Gaussian peak; patches
        with a value <= 0 fall back to the parabolic fit).

    Returns
    -------
    dz, dx : ndarray (K,)
        Offsets from the centre pixel, pixels. Where the fit has no maximum
        or it lies more than one pixel away, the separable 1-D parabolic vertex
        clipped to ±0.5 pixel is used.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.localization.ncc import peak_offsets
    >>> zz, xx = np.mgrid[-1:2, -1:2]
    >>> p = np.exp(-((zz - 0.3) ** 2 + (xx + 0.2) ** 2) / 2)[None]
    >>> [round(float(v[0]), 6) for v in peak_offsets(p, method="gaussian")]
    [0.3, -0.2]
    """
    V.choice(method, "method", {"parabolic", "gaussian"})
    P = np.asarray(patches, dtype=np.float64)
    if P.ndim != 3 or P.shape[1:] != (3, 3):
        raise ValueError(f"patches: expected shape (K, 3, 3), got {P.shape}")
    K = P.shape[0]
    vals = P.reshape(K, 9)
    if method == "gaussian":
        pos = np.all(vals > 0, axis=1)
        with np.errstate(divide="ignore"):
            vals = np.where(pos[:, None], np.log(np.where(pos[:, None], vals, 1.0)), vals)
    coef = vals @ _PINV.T
    b, c, d, e, g = coef[:, 1], coef[:, 2], coef[:, 3], coef[:, 4], coef[:, 5]
    det = 4 * d * e - g * g
    with np.errstate(divide="ignore", invalid="ignore"):
        dz = (-2 * e * b + g * c) / det
        dx = (-2 * d * c + g * b) / det
    good = (d < 0) & (det > 0) & (np.abs(dz) <= 1) & (np.abs(dx) <= 1)
    if not np.all(good):
        # Separable fallback on the centre row / column: always defined, bounded.
        def vertex(m, o, p):
            den = m - 2 * o + p
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(den < 0, 0.5 * (m - p) / den, 0.0)
            return np.clip(v, -0.5, 0.5)

        fz = vertex(P[:, 0, 1], P[:, 1, 1], P[:, 2, 1])
        fx = vertex(P[:, 1, 0], P[:, 1, 1], P[:, 1, 2])
        dz = np.where(good, dz, fz)
        dx = np.where(good, dx, fx)
    return dz, dx


def find_peaks(maps, *, threshold: float, number_of_particles: int, border: int = 1, rank=None):
    """Strict 3×3 local maxima of each map above ``threshold``, the ``number_of_particles`` best per frame.

    Parameters
    ----------
    maps : ndarray (z, x, t), real
    threshold : float
        Keep peaks with value strictly above it.
    number_of_particles : int
        Most peaks per frame (the largest values, or of ``rank``; ties keep
        the first in column-major order).
    rank : ndarray (z, x, t), optional
        Ranking key for the top-N choice (default the map itself).
    border : int
        Peaks closer than this to the frame edge are ignored (the 3×3 fit needs 1).

    Returns
    -------
    z, x, t : ndarray of int
        0-based coordinates, ordered by frame, then x, then z.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.localization.ncc import find_peaks
    >>> m = np.zeros((5, 5, 1)); m[2, 2, 0] = 1.0; m[1, 3, 0] = 0.5
    >>> [a.tolist() for a in find_peaks(m, threshold=0.1, number_of_particles=1)]
    [[2], [2], [0]]
    """
    M = np.asarray(maps, dtype=np.float64)
    nb = np.ones((3, 3, 1), bool)
    nb[1, 1, 0] = False
    # Not detect.strict_maxima: the same mask on NaN-free maps (all that ncc_maps gives), but scipy's
    # filter ignores a NaN neighbour unless it is the first one visited (z-1, x-1); np.maximum never does.
    neigh = ndimage.maximum_filter(M, footprint=nb, mode="constant", cval=-np.inf)
    peak = (M > neigh) & (M > threshold)
    if border > 0:
        peak[:border] = peak[-border:] = False
        peak[:, :border] = peak[:, -border:] = False
    t, x, z = np.nonzero(peak.transpose(2, 1, 0))  # column-major: frame, x, z
    v = M[z, x, t] if rank is None else np.asarray(rank, dtype=np.float64)[z, x, t]
    order = np.lexsort((-v, t))  # by frame, then decreasing value (stable)
    ts = t[order]
    first = np.searchsorted(ts, ts, side="left")
    rank = np.arange(ts.size) - first
    keep = np.sort(order[rank < number_of_particles])
    return z[keep], x[keep], t[keep]


def _default_template(arr, fwhm, psf):
    """The PSF template: given, a Gaussian model, or estimated from the data."""
    hz, hx = int(np.ceil(fwhm[0])), int(np.ceil(fwhm[1]))
    if isinstance(psf, str):
        V.choice(psf, "psf", {"gaussian", "estimate"})
        if psf == "gaussian":
            return gaussian_template(fwhm, (2 * hz + 1, 2 * hx + 1))
        psf = None
    if psf is None:
        try:
            est = estimate_psf(arr, fwhm=fwhm, half_size=(hz, hx))
            return est.image
        except ValueError as exc:
            warnings.warn(f"ncc: PSF estimation failed ({exc}); using a Gaussian of FWHM {fwhm}", stacklevel=3)
            return gaussian_template(fwhm, (2 * hz + 1, 2 * hx + 1))
    return psf


@register_method("ncc", description="normalised cross-correlation with the PSF, 3x3 quadratic peak refinement")
def localize_ncc(frames, *, fwhm=(3, 3), number_of_particles: int = 40, n_local_max=None, psf=None,
                 threshold: float = 0.5, mode: str = "amplitude", subpixel: str = "parabolic") -> Localizations:
    """Localize bubbles as the sub-pixel peaks of the NCC with the PSF.

    Parameters
    ----------
    frames : array_like (z, x, t) or (z, x)
        Filtered IQ or amplitude; never modified.
    fwhm : (float, float)
        PSF FWHM (z, x), pixels; sets the template when ``psf`` is not an array.
    number_of_particles : int
        At most this many bubbles per frame among the peaks above
        ``threshold``, the strongest matched-filter responses (NCC × the
        window's signal norm) first: NCC alone ignores brightness, so noise
        blobs would compete with bubbles.
    n_local_max : ignored
        Accepted for the common signature; NCC has no ROI safeguard.
    psf : array_like, "estimate", "gaussian" or None
        The template (odd sizes). None or ``"estimate"``: estimated from the
        frames with :func:`pyulm.psf.estimate_psf` (a Gaussian of ``fwhm`` if
        no isolated bubble is found, with a warning); ``"gaussian"``: the
        Gaussian of ``fwhm``. Default templates span ±ceil(fwhm) pixels.
    threshold : float
        Minimum correlation of a peak (default 0.5).
    mode : {"amplitude", "complex"}
        Map used, see :func:`ncc_maps` (peaks of the modulus for "complex").
    subpixel : {"parabolic", "gaussian"}
        3×3 quadratic fit of the map or of its logarithm, see :func:`peak_offsets`.

    Returns
    -------
    Localizations
        0-based pixel positions; ``intensity`` is |frames| at the peak pixel,
        column ``ncc`` the peak correlation, column ``score`` the ranking
        response (NCC × window signal norm).

    Examples
    --------
    >>> import numpy as np, pyulm
    >>> from pyulm.psf import gaussian_template
    >>> frame = np.zeros((32, 32)); frame[10:21, 5:16] = gaussian_template(3, (11, 11), center=(0.3, -0.2))
    >>> locs = pyulm.localize(frame, "ncc", fwhm=3, number_of_particles=2, psf="gaussian")
    >>> len(locs), round(float(locs.z[0]), 1), round(float(locs.x[0]), 1)
    (1, 15.3, 9.8)
    """
    arr = V.as_frames(frames)
    fz, fx = V.pair(fwhm, "fwhm")
    n_part = V.positive(number_of_particles, "number_of_particles", integer=True)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not np.isfinite(threshold):
        raise ValueError(f"threshold: expected a finite number, got {threshold!r}")
    V.choice(subpixel, "subpixel", {"parabolic", "gaussian"})
    T = _default_template(arr, (fz, fx), psf)
    C = ncc_maps(arr, T, mode=mode)
    R = np.abs(C) if mode == "complex" else C
    # NCC is blind to brightness: a noise blob can correlate as well as a bubble. The
    # top-N choice therefore ranks by the matched-filter response, NCC × the window's
    # signal norm (std for the zero-mean map, RMS for the complex one).
    kz, kx = np.asarray(T).shape
    amp = np.abs(arr).astype(np.float64, copy=False)
    s1, s2 = _box_sum(amp, kz, kx), _box_sum(amp * amp, kz, kx)
    energy = np.maximum(s2 - s1 * s1 / (kz * kx), 0.0) if mode == "amplitude" else np.maximum(s2, 0.0)
    response = R * np.sqrt(energy)
    z, x, t = find_peaks(R, threshold=float(threshold), number_of_particles=n_part, rank=response)
    patches = R[z[:, None, None] + _ZZ[None], x[:, None, None] + _XX[None], t[:, None, None]]
    dz, dx = peak_offsets(patches, method=subpixel)
    return Localizations(z=z + dz, x=x + dx, frame=t, intensity=np.abs(arr[z, x, t]),
                         extra={"score": response[z, x, t], "ncc": R[z, x, t]})
