"""MB-DT's two domains (numpy only).

* **Domain A** (CEUS): ``context`` consecutive frames of |IQ|, each frame divided by
  its own maximum (:func:`normalize_frames`, :func:`context_stack`). Frame ``t`` sees
  ``t - k .. t + k``; at the first and last frames the missing neighbours are the
  edge frame repeated (``edge rule: replicate``).
* **Domain B** (MB-only): a uniform random number of bubbles at uniform random
  positions with uniform random intensities, convolved with a 2-D Gaussian whose
  FWHM is the PSF **estimated from the user's own frames** (a Gaussian fitted to the
  average of automatically selected isolated bubbles, :func:`pyulm.psf.estimate_psf`)
  times ``shrink`` (0.5: the paper's isotropic halving) — :func:`mb_only_patches`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["normalize_frames", "context_stack", "estimate_data_psf", "domain_b_fwhm", "mb_only_patches",
           "auto_n_bubbles", "auto_intensity"]


def normalize_frames(frames) -> np.ndarray:
    """|frames| divided by each frame's maximum, float32 (z, x, t); an all-zero frame stays zero.

    ``frames`` (complex IQ or amplitude) is never modified.
    """
    amp = np.abs(np.asarray(frames)).astype(np.float32)  # a new array: the input is untouched
    peak = amp.reshape(-1, amp.shape[-1]).max(axis=0)
    amp /= np.where(peak > 0, peak, 1.0).astype(np.float32)
    return amp


def context_stack(amp: np.ndarray, t, context: int = 3) -> np.ndarray:
    """Domain-A inputs of frames ``t``: (len(t), context, z, x), edge frames replicated."""
    k = context // 2
    t = np.atleast_1d(np.asarray(t, dtype=np.int64))
    idx = np.clip(t[:, None] + np.arange(-k, k + 1)[None, :], 0, amp.shape[-1] - 1)
    return np.ascontiguousarray(np.moveaxis(amp[:, :, idx], (2, 3), (0, 1)))


def estimate_data_psf(amp: np.ndarray, *, max_frames: int = 200) -> dict:
    """FWHM (z, x) in pixels of the data's PSF: a Gaussian fitted to the average of isolated bubbles.

    Uses :func:`pyulm.psf.estimate_psf` on up to ``max_frames`` frames spread over the block,
    with its isolation rule (no other maximum above 0.25 × the bubble nearby), relaxed to
    0.4 when fewer than 5 bubbles pass (noisy data).

    Returns
    -------
    dict
        ``fwhm`` (z, x) pixels, ``n_used`` (bubbles averaged).

    Raises
    ------
    ValueError
        When no isolated bubble is found (too few frames, or no bubbles).
    """
    from ...psf import estimate_psf

    nt = amp.shape[-1]
    sel = np.unique(np.linspace(0, nt - 1, min(nt, max_frames)).round().astype(int))
    psf = None
    # strict isolation first; noisy data may leave no neighbour-free peak, so relax once
    for isolation in (0.25, 0.4):
        try:
            psf = estimate_psf(amp[:, :, sel], fwhm=(3, 3), isolation=isolation)
        except ValueError:
            continue
        if psf.n_used >= 5:
            break
    if psf is None:
        raise ValueError("frames: no isolated bubble found to estimate the PSF (too few frames or bubbles)")
    fwhm = [float(f) for f in psf.fwhm]
    if not all(np.isfinite(f) and f > 0 for f in fwhm):
        raise ValueError(f"frames: the PSF fitted to the isolated bubbles is not usable (FWHM {fwhm})")
    return {"fwhm": fwhm, "n_used": int(psf.n_used)}


def domain_b_fwhm(data_fwhm, shrink: float = 0.5) -> list[float]:
    """FWHM (z, x) of the MB-only PSF: the data's times ``shrink`` in both axes."""
    return [float(f) * float(shrink) for f in data_fwhm]


def _bubble_maxima(amp: np.ndarray, noise_factor: float, max_frames: int):
    """Strict 3 x 3 regional maxima at or above ``noise_factor`` x each frame's median, on up to
    ``max_frames`` frames spread over the block: (frames (z, x, k), maxima mask, per-frame max, noise level)."""
    from ...localization.detect import strict_maxima

    nt = amp.shape[-1]
    sel = np.unique(np.linspace(0, nt - 1, min(nt, max_frames)).round().astype(int))
    a = amp[:, :, sel]
    flat = a.reshape(-1, a.shape[-1])
    noise = noise_factor * np.median(flat, axis=0)
    return a, strict_maxima(a) & (a >= noise), flat.max(axis=0), noise


def auto_n_bubbles(amp: np.ndarray, size: int, *, rel_threshold: float = 0.3, noise_factor: float = 3.0,
                   max_frames: int = 100) -> list[int]:
    """Range of bubbles per ``size`` × ``size`` MB-only patch matched to the data.

    Counts the strict regional maxima above both ``rel_threshold`` × each frame's
    maximum and ``noise_factor`` × its median (the median of |IQ| is mostly background:
    a Rayleigh background exceeds 3 medians with probability ~1e-3, so noise peaks are
    not counted as bubbles), scales the mean count to the patch area, and returns ``[0, 2 * mean]`` (at least ``[0, 3]``), so the uniform
    draw has the data's mean density.
    """
    a, peaks, top, _ = _bubble_maxima(amp, noise_factor, max_frames)
    count = (peaks & (a >= rel_threshold * top)).sum(axis=(0, 1)).mean()
    per_patch = count * size * size / (amp.shape[0] * amp.shape[1])
    return [0, int(max(3, round(2 * per_patch)))]


#: bounds of the estimated lower end of the MB-only peak amplitudes ([data].intensity = "auto")
INTENSITY_BOUNDS = (0.03, 0.5)


def auto_intensity(amp, *, quantile: float = 0.25, noise_factor: float = 3.0, max_frames: int = 100,
                   bounds=INTENSITY_BOUNDS, min_maxima: int = 20) -> dict:
    """MB-only peak-amplitude range ``[low, 1]`` matched to the data (``[data].intensity = "auto"``).

    The bubble-like maxima are :func:`auto_n_bubbles`' (strict 3 x 3 regional maxima at or
    above ``noise_factor`` x the frame's median, without its relative floor). Each one's
    height above that noise level, as a fraction of the frame maximum's,
    ``h = (peak - L) / (max - L)`` with ``L = noise_factor x median``, is what a bubble can keep
    in the MB-only frame: the translator has to remove every noise peak, and noise peaks reach
    ``L``. ``low`` is the ``quantile`` (lower quartile) of ``h`` over all maxima, clipped to
    ``bounds``: a lower quartile rather than a low percentile because the lowest heights are
    where the noise maxima that pass the rule pile up.

    Parameters
    ----------
    amp : ndarray (z, x, t) or list of them
        Frames normalised to a maximum of 1 each (:func:`normalize_frames`); the maxima of
        several blocks are pooled (up to ``max_frames`` frames of each).
    quantile, noise_factor, max_frames, bounds, min_maxima
        The rule above; fewer than ``min_maxima`` maxima is an error.

    Returns
    -------
    dict
        ``range`` [low, 1.0]; ``estimate`` (the quantile before clipping); ``n_maxima``.

    Raises
    ------
    ValueError
        Too few bubble-like maxima (all-zero or flat frames): give ``[data].intensity`` as a pair.
    """
    heights = []
    for block in amp if isinstance(amp, (list, tuple)) else [amp]:
        a, peaks, top, noise = _bubble_maxima(block, noise_factor, max_frames)
        room = top - noise
        peaks &= (room > 0)[None, None, :]  # a frame whose maximum is at the noise level has no bubble above it
        heights.append(((a - noise) / np.where(room > 0, room, 1.0))[peaks])
    h = np.concatenate(heights)
    if h.size < min_maxima:
        raise ValueError(f"[data].intensity = \"auto\": only {h.size} bubble-like maxima in the frames (at least "
                         f"{min_maxima} needed to estimate the faintest bubbles); give a pair [low, high]")
    est = float(np.quantile(h, quantile))
    return {"range": [float(np.clip(est, *bounds)), 1.0], "estimate": est, "n_maxima": int(h.size)}


def mb_only_patches(rng: np.random.Generator, n: int, size: int, fwhm, *, n_bubbles=(0, 10),
                    intensity=(0.2, 1.0)) -> np.ndarray:
    """``n`` synthetic MB-only patches (n, size, size), float32.

    Each patch: ``N ~ U{n_bubbles}`` bubbles, centres uniform in the patch
    (continuous, pixels), peak amplitudes ``U(intensity)``, rendered as Gaussians
    of FWHM ``fwhm`` (z, x) pixels and summed.
    """
    sz, sx = (float(f) / (2 * np.sqrt(2 * np.log(2))) for f in fwhm)
    grid = np.arange(size, dtype=np.float64)
    out = np.zeros((n, size, size), np.float32)
    for i in range(n):
        k = int(rng.integers(n_bubbles[0], n_bubbles[1] + 1))
        if k == 0:
            continue
        z = rng.uniform(-0.5, size - 0.5, k)
        x = rng.uniform(-0.5, size - 0.5, k)
        a = rng.uniform(intensity[0], intensity[1], k)
        gz = np.exp(-0.5 * ((grid[None, :] - z[:, None]) / sz) ** 2)
        gx = np.exp(-0.5 * ((grid[None, :] - x[:, None]) / sx) ** 2)
        out[i] = np.einsum("k,kz,kx->zx", a, gz, gx)
    return out
