"""Scores of fUS → ULM predictions (numpy; no torch): MSE, SSIM, PSNR against the ULM
image, and two resolution measures: the Fourier-ring-correlation resolution of an image
against the ULM image (the finest period at which the two still agree: noise or invented
vessels do not count), and the width of its thinnest vessels where ULM has vessels.
"""
from __future__ import annotations

import numpy as np

from ...metrics import frc_resolution, map_ssim
from .data import check_image


def image_metrics(estimate, reference) -> dict:
    """MSE, SSIM (skimage, data range 1, 7×7 window) and PSNR (dB, peak 1) of images in [0, 1]."""
    a = check_image(estimate, "estimate", min_size=7)
    b = check_image(reference, "reference", min_size=7)
    if a.shape != b.shape:
        raise ValueError(f"estimate, reference: images of different sizes {a.shape} and {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    return {"mse": mse, "ssim": map_ssim(a, b, data_range=1.0),
            "psnr": float(10 * np.log10(1.0 / mse)) if mse > 0 else float("inf")}


def frc_resolution_px(image, reference, *, threshold: float = 1 / 7) -> float:
    """Resolution (pixels) of ``image`` against ``reference``: ``1 / f`` where their Fourier ring
    correlation falls below ``threshold`` (:func:`pyulm.metrics.frc_resolution`; 2 px = Nyquist,
    reached when they agree up to the sampling limit)."""
    a = check_image(image, "image")
    b = check_image(reference, "reference")
    return frc_resolution(a, b, threshold=threshold).resolution


def vessel_widths(image, *, mask=None, min_contrast: float = 0.25, n_profiles: int = 200, half: int = 12,
                  seed: int = 0) -> np.ndarray:
    """FWHM (pixels) of vessel cross-sections of ``image``.

    Ridge points (local maxima across the ridge direction given by the Hessian) are
    sampled; at each, the intensity profile across the ridge is extracted and its full
    width at half height above the local background (the profile's 10th percentile) is
    measured. Profiles whose contrast is below ``min_contrast`` of the image's 99th
    percentile are not counted as resolved vessels. ``mask`` (bool, same shape) keeps
    the ridge points inside it — e.g. near the vessels of the ULM image, so that noise
    or invented structures do not count as thin vessels.
    """
    from scipy import ndimage

    img = check_image(image, "image")
    s = ndimage.gaussian_filter(img, 1.0)
    hzz = ndimage.gaussian_filter(img, 1.0, order=(2, 0))
    hxx = ndimage.gaussian_filter(img, 1.0, order=(0, 2))
    hzx = ndimage.gaussian_filter(img, 1.0, order=(1, 1))
    # most negative Hessian eigenvalue and its eigenvector (across the vessel)
    tr, det = hzz + hxx, hzz * hxx - hzx ** 2
    lam = tr / 2 - np.sqrt(np.maximum(tr ** 2 / 4 - det, 0))
    top = np.percentile(s, 99)
    keep = (lam < 0) & (s > min_contrast * top) & (ndimage.maximum_filter(s, 3) == s)
    if mask is not None:
        m = np.asarray(mask, dtype=bool)
        if m.shape != img.shape:
            raise ValueError(f"mask: shape {m.shape} differs from the image shape {img.shape}")
        keep &= m
    cand = np.argwhere(keep)
    cand = cand[(cand[:, 0] >= half) & (cand[:, 0] < img.shape[0] - half) & (cand[:, 1] >= half)
                & (cand[:, 1] < img.shape[1] - half)]
    if len(cand) == 0:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    cand = cand[rng.permutation(len(cand))[:n_profiles]]
    u = np.linspace(-half, half, 8 * half + 1)
    widths = []
    for z, x in cand:
        a, b, c = hzz[z, x], hzx[z, x], hxx[z, x]
        l = lam[z, x]
        vz, vx = (b, l - a) if abs(b) > 1e-12 else ((1.0, 0.0) if a < c else (0.0, 1.0))
        nrm = np.hypot(vz, vx)
        vz, vx = vz / nrm, vx / nrm
        prof = ndimage.map_coordinates(img, [z + u * vz, x + u * vx], order=1)
        base = np.percentile(prof, 10)
        peak = prof[len(u) // 2 - 4: len(u) // 2 + 5].max()
        if peak - base < min_contrast * top:
            continue
        halfh = base + (peak - base) / 2
        k = len(u) // 2 - 4 + int(np.argmax(prof[len(u) // 2 - 4: len(u) // 2 + 5]))
        lo = k
        while lo > 0 and prof[lo] > halfh:
            lo -= 1
        hi = k
        while hi < len(u) - 1 and prof[hi] > halfh:
            hi += 1
        if lo == 0 or hi == len(u) - 1:
            continue
        f_lo = u[lo] + (halfh - prof[lo]) / (prof[lo + 1] - prof[lo]) * (u[lo + 1] - u[lo])
        f_hi = u[hi - 1] + (prof[hi - 1] - halfh) / (prof[hi - 1] - prof[hi]) * (u[hi] - u[hi - 1])
        widths.append(f_hi - f_lo)
    return np.asarray(widths)


def thinnest_width(image, *, quantile: float = 0.1, **kwargs) -> float:
    """Width (pixels) of the thinnest resolved vessels: the ``quantile`` of :func:`vessel_widths` (NaN if none)."""
    w = vessel_widths(image, **kwargs)
    return float(np.quantile(w, quantile)) if w.size else float("nan")
