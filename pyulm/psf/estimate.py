"""PSF templates as arrays, and the PSF estimated from data.

* :func:`gaussian_template` samples an anisotropic 2-D Gaussian of given FWHM (the
  template of :mod:`pyulm.localization.ncc` and :mod:`pyulm.localization.decon`);
* :func:`estimate_psf` finds isolated bubbles in the data, registers them on a
  common sub-pixel centre, averages them and fits a Gaussian;
* :func:`check_psf` validates a template array.

All widths are full widths at half maximum (FWHM) of the **amplitude**
(|IQ|), in pixels unless the name says otherwise; axes are (z, x).
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage, optimize

from .. import _validate as V
from .model import FWHM_PER_SIGMA as _FWHM_PER_SIGMA
from .model import PSF

__all__ = ["gaussian_template", "fit_gaussian_2d", "estimate_psf", "check_psf"]

def check_psf(psf, frame_shape=None, name: str = "psf") -> np.ndarray:
    """Validate a PSF image and return it as float64 (real) or complex128.

    Raises ``ValueError`` for a non-2-D array, even sizes, NaN/Inf, zero energy
    or a PSF larger than the frame.
    """
    arr = np.asarray(psf)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name}: expected a numeric 2-D array, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D (z, x) array, got shape {arr.shape}")
    if arr.shape[0] % 2 == 0 or arr.shape[1] % 2 == 0:
        raise ValueError(f"{name}: expected odd sizes so that the centre is a pixel, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or Inf; expected finite values")
    if not np.any(arr != 0):
        raise ValueError(f"{name}: has zero energy (all values are 0)")
    if frame_shape is not None and (arr.shape[0] > frame_shape[0] or arr.shape[1] > frame_shape[1]):
        raise ValueError(
            f"{name}: shape {arr.shape} is larger than the frame {tuple(frame_shape[:2])}; "
            "expected a PSF no larger than the frame"
        )
    return arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64)


def gaussian_template(fwhm, shape=None, *, center=(0.0, 0.0)) -> np.ndarray:
    """Sample an anisotropic 2-D Gaussian of peak 1.

    Parameters
    ----------
    fwhm : float or (fwhm_z, fwhm_x)
        Amplitude FWHM in pixels.
    shape : (int, int), optional
        Odd output size; default ``2*ceil(1.5*fwhm)+1`` per axis (±3.5 sigma).
    center : (float, float)
        Sub-pixel offset (z, x) of the peak from the centre pixel, pixels.

    Returns
    -------
    ndarray (kz, kx), float64

    Examples
    --------
    >>> from pyulm.psf import gaussian_template
    >>> h = gaussian_template((3, 3))
    >>> h.shape, float(h[5, 5])
    ((11, 11), 1.0)
    >>> round(float(gaussian_template(2.0, (3, 3))[1, 2]), 3)   # half maximum one half-width away
    0.5
    """
    fz, fx = V.pair(fwhm, "fwhm")
    if shape is None:
        shape = (2 * int(np.ceil(1.5 * fz)) + 1, 2 * int(np.ceil(1.5 * fx)) + 1)
    kz, kx = (V.positive(s, "shape", integer=True) for s in shape)
    if kz % 2 == 0 or kx % 2 == 0:
        raise ValueError(f"shape: expected odd sizes, got {tuple(shape)}")
    z = np.arange(kz) - kz // 2 - float(center[0])
    x = np.arange(kx) - kx // 2 - float(center[1])
    sz, sx = fz / _FWHM_PER_SIGMA, fx / _FWHM_PER_SIGMA
    return np.exp(-0.5 * (z[:, None] / sz) ** 2 - 0.5 * (x[None, :] / sx) ** 2)


def fit_gaussian_2d(image) -> dict:
    """Least-squares fit of ``b + a*exp(-(dz²/2sz² + dx²/2sx²))`` to an image.

    Axis-aligned anisotropic Gaussian (the PSF axes of a linear-array image are
    the z and x axes).

    Parameters
    ----------
    image : array_like (kz, kx), real

    Returns
    -------
    dict
        ``z0``, ``x0`` (peak position, 0-based pixels), ``fwhm`` (z, x) in
        pixels, ``amplitude``, ``background``, ``residual`` (RMS / amplitude).

    Examples
    --------
    >>> from pyulm.psf import gaussian_template, fit_gaussian_2d
    >>> fit = fit_gaussian_2d(gaussian_template((3.0, 5.0), (15, 15), center=(0.3, -0.2)))
    >>> [round(v, 3) for v in (*fit["fwhm"], fit["z0"], fit["x0"])]
    [3.0, 5.0, 7.3, 6.8]
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2 or img.size < 9 or not np.all(np.isfinite(img)):
        raise ValueError(f"image: expected a finite 2-D array of at least 3x3, got shape {img.shape}")
    kz, kx = img.shape
    zz, xx = np.mgrid[0:kz, 0:kx].astype(np.float64)
    z0, x0 = np.unravel_index(np.argmax(img), img.shape)
    b0 = float(np.median(img))
    a0 = float(img[z0, x0]) - b0
    if a0 <= 0:
        raise ValueError("image: no peak above the background; cannot fit a Gaussian")
    p0 = np.array([a0, z0, x0, 1.0, 1.0, b0], dtype=np.float64)

    def resid(p):
        a, zc, xc, sz, sx, b = p
        return (b + a * np.exp(-0.5 * ((zz - zc) / sz) ** 2 - 0.5 * ((xx - xc) / sx) ** 2) - img).ravel()

    lo = [0.0, 0.0, 0.0, 0.2, 0.2, -np.inf]
    hi = [np.inf, kz - 1.0, kx - 1.0, float(kz), float(kx), np.inf]
    sol = optimize.least_squares(resid, p0, bounds=(lo, hi), x_scale="jac")
    a, zc, xc, sz, sx, b = sol.x
    rms = float(np.sqrt(np.mean(sol.fun ** 2)))
    return {"z0": float(zc), "x0": float(xc), "fwhm": (float(sz * _FWHM_PER_SIGMA), float(sx * _FWHM_PER_SIGMA)),
            "amplitude": float(a), "background": float(b), "residual": rms / float(a) if a > 0 else np.inf}


def _centroid_offsets(patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel peak offsets of a (K, kz, kx) stack from its centre: 3x3 parabolic fit per axis."""
    K, kz, kx = patches.shape
    c = patches[:, kz // 2 - 1:kz // 2 + 2, kx // 2 - 1:kx // 2 + 2]

    def vertex(m, o, p):
        den = m - 2 * o + p
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(den < 0, 0.5 * (m - p) / den, 0.0)
        return np.clip(d, -0.5, 0.5)

    return vertex(c[:, 0, 1], c[:, 1, 1], c[:, 2, 1]), vertex(c[:, 1, 0], c[:, 1, 1], c[:, 1, 2])


def estimate_psf(frames, *, fwhm=(3, 3), half_size=None, max_bubbles: int = 500, rel_threshold: float = 0.3,
                 isolation: float = 0.25, pixel_size_wavelengths=None) -> PSF:
    """Estimate the amplitude PSF from data.

    1. On each frame of |frames|, the regional maxima brighter than
       ``rel_threshold`` × the frame's largest value are candidates.
    2. A candidate is **isolated** when its patch lies inside the frame and no
       other regional maximum brighter than ``isolation`` × its own value lies
       within ``half_size + ceil(fwhm)`` pixels (so that neighbours do not leak
       into the patch).
    3. The brightest ``max_bubbles`` isolated patches are normalised to peak 1,
       shifted by their sub-pixel offset (3×3 parabolic peak, spline shift) so
       that every peak sits on the centre pixel, and averaged.
    4. An anisotropic Gaussian is fitted to the average (:func:`fit_gaussian_2d`).

    Parameters
    ----------
    frames : array_like (z, x, t) or (z, x)
        IQ or amplitude; never modified.
    fwhm : float or (float, float)
        Rough FWHM guess (pixels) that sets the default patch and isolation distance.
    half_size : int or (int, int), optional
        Patch half sizes; default ``ceil(1.5*fwhm)`` per axis.
    max_bubbles : int
        Most bubbles averaged (the brightest).
    rel_threshold, isolation : float in (0, 1]
        See above.
    pixel_size_wavelengths : float or (float, float), optional
        Pixel size (z, x) in wavelengths, to report ``fwhm_wavelengths`` and
        set the PSF's ``wavelength``.

    Returns
    -------
    PSF
        ``kernel`` (= ``image``) is the registered average, 1 at the centre
        pixel; ``fwhm`` the Gaussian fit (pixels); ``params`` the fit details
        (centre offset, amplitude, background, residual).

    Raises
    ------
    ValueError
        When no isolated bubble is found.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.psf import gaussian_template, estimate_psf
    >>> frames = np.zeros((40, 40, 2))
    >>> frames[5:16, 5:16, 0] = gaussian_template((3, 4), (11, 11), center=(0.2, 0.1))
    >>> frames[20:31, 22:33, 1] = gaussian_template((3, 4), (11, 11), center=(-0.3, 0.4))
    >>> est = estimate_psf(frames, fwhm=3, pixel_size_wavelengths=0.5)
    >>> est.n_used, [round(f, 1) for f in est.fwhm], [round(f, 1) for f in est.fwhm_wavelengths]
    (2, [3.0, 4.0], [1.5, 2.0])
    """
    arr = np.abs(V.as_frames(frames)).astype(np.float64, copy=False)
    fz, fx = V.pair(fwhm, "fwhm")
    if half_size is None:
        hz, hx = int(np.ceil(1.5 * fz)), int(np.ceil(1.5 * fx))
    else:
        hz, hx = (V.positive(h, "half_size", integer=True) for h in np.broadcast_to(np.asarray(half_size), (2,)))
    max_bubbles = V.positive(max_bubbles, "max_bubbles", integer=True)
    for val, nm in ((rel_threshold, "rel_threshold"), (isolation, "isolation")):
        if not (0 < V.positive(val, nm) <= 1):
            raise ValueError(f"{nm}: expected a value in (0, 1], got {val!r}")
    Nz, Nx, Nt = arr.shape
    if 2 * hz + 1 > Nz or 2 * hx + 1 > Nx:
        raise ValueError(f"half_size: patch {(2 * hz + 1, 2 * hx + 1)} is larger than the frame {(Nz, Nx)}")

    # Strict 3x3 maxima (plateaus are not bubbles). The same mask as scipy's maximum_filter
    # (footprint without its centre, -inf outside) gave here, NaN aside: as_frames refuses NaN.
    from ..localization.detect import strict_maxima  # lazy: localization imports psf
    is_max = strict_maxima(arr)
    fmax = arr.reshape(-1, Nt).max(axis=0)
    z, x, t = np.nonzero(is_max)
    v = arr[z, x, t]
    cand = (v >= rel_threshold * fmax[t]) & (z >= hz) & (z < Nz - hz) & (x >= hx) & (x < Nx - hx) & (v > 0)
    # Isolation: compare every candidate with every maximum of its frame (few per frame).
    rz, rx = hz + int(np.ceil(fz)), hx + int(np.ceil(fx))
    ok = np.zeros(z.size, bool)
    order_t = np.argsort(t, kind="stable")
    bounds = np.searchsorted(t[order_t], np.arange(Nt + 1))
    for f in range(Nt):
        idx = order_t[bounds[f]:bounds[f + 1]]
        c = idx[cand[idx]]
        if c.size == 0:
            continue
        near = (np.abs(z[c, None] - z[None, idx]) <= rz) & (np.abs(x[c, None] - x[None, idx]) <= rx)
        bright = v[None, idx] > isolation * v[c, None]
        near &= bright
        ok[c] = near.sum(axis=1) == 1  # only itself
    sel = np.nonzero(ok)[0]
    if sel.size == 0:
        raise ValueError("frames: no isolated bubble found to estimate the PSF; lower isolation or give the PSF")
    sel = sel[np.argsort(-v[sel], kind="stable")[:max_bubbles]]
    vz = np.arange(-hz, hz + 1)
    vx = np.arange(-hx, hx + 1)
    patches = arr[z[sel, None, None] + vz[None, :, None], x[sel, None, None] + vx[None, None, :], t[sel, None, None]]
    patches = patches / v[sel, None, None]
    dz, dx = _centroid_offsets(patches)
    # Register: resample each patch so that its sub-pixel peak lands on the centre pixel.
    gz, gx = np.mgrid[0:2 * hz + 1, 0:2 * hx + 1].astype(np.float64)
    reg = np.empty_like(patches)
    for k in range(sel.size):
        reg[k] = ndimage.map_coordinates(patches[k], [gz + dz[k], gx + dx[k]], order=3, mode="nearest")
    mean = reg.mean(axis=0)
    fit = fit_gaussian_2d(mean)
    image = mean / mean[hz, hx]
    fwhm_l, wavelength = None, np.inf
    if pixel_size_wavelengths is not None:
        pz, px = V.pair(pixel_size_wavelengths, "pixel_size_wavelengths")
        fwhm_l, wavelength = (fit["fwhm"][0] * pz, fit["fwhm"][1] * px), 1.0 / pz
    return PSF(fwhm=fit["fwhm"], wavelength=wavelength, kernel=image, fwhm_wavelengths=fwhm_l, n_used=int(sel.size),
               params={"kind": "estimate", **fit})
