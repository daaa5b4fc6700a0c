"""A label-free check of a trained MB-DT translator: does its output look like the MB-only domain?

MB-DT is a GAN, and a GAN's training can end in a bad state that its losses do not show:
on CycleULM's validation acquisitions, retraining the same configuration once gave a
translator whose output held ~3 times as many peaks per frame as its MB-only domain (it
turned noise into bubbles; NCC's F1 on its output 0.59 against 0.80), while the two best
low-density translators kept 0.76-0.78 times the domain's count. No label is needed to see this: the MB-only
domain's mean bubble count per frame is known (the ``n_bubbles`` range it was drawn from), and
the translated frames' regional maxima can be counted. Nor is one needed to see the other failure, a dim
output: the domain holds no bubble fainter than its ``intensity`` range's lower end, yet the worst
low-density translators put their peaks at 0.01-0.04 (the domain's median peak: 0.53), with about
the right count in one case (ratio 1.5, NCC's F1 0.49); the heights of the translated peaks are
compared with those of the translator's own synthetic domain.

* :func:`peak_mask`, :func:`count_peaks`: strict 3 x 3 regional maxima at or above ``floor`` x each
  frame's maximum (where, and how many per frame); :func:`domain_per_frame`: the domain's mean count
  scaled to a frame;
* :func:`domain_peak_height`: the median height of those peaks on synthetic patches of the domain
  (its PSF, bubble count and intensity range; fixed seed);
* :func:`check_translation`: peaks per translated frame against the domain's mean count and, given
  the domain's PSF and intensity range, their median height against the domain's, with a verdict
  (``ok`` when the count ratio lies in :data:`RATIO_BOUNDS` and the height ratio in
  :data:`HEIGHT_BOUNDS`) and a one-line message;
* :func:`check_translator`: the same for a model directory and frames (translates them first).

``pyulm train mbdt`` runs it on the held-back frames at the end of training, records it in
``metrics.json`` (``label_free_check``), warns when it fails, and with ``[train] restarts`` trains
again with the next seed. A guard, not a guarantee: of 13 low-density translators it passed the
three best and one mediocre one, and failed one fair one (docs/cycleulm_mbdt.md has the table).
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["PEAK_FLOOR", "RATIO_BOUNDS", "HEIGHT_BOUNDS", "peak_mask", "count_peaks", "domain_per_frame",
           "domain_peak_height", "domain_intensity", "check_translation", "check_distance", "check_translator",
           "distance_from_one"]

#: a peak counts when it reaches this fraction of its frame's maximum (MB-only background is ~0)
PEAK_FLOOR = 0.05
#: peaks per frame / the MB-only domain's mean bubbles per frame outside these bounds fail the check
RATIO_BOUNDS = (0.5, 2.0)
#: the translated peaks' median height / the MB-only domain's outside these bounds fail the check
#: (the count's bounds, not tuned; docs/cycleulm_mbdt.md has the translators it was checked on)
HEIGHT_BOUNDS = (0.5, 2.0)
#: synthetic domain patches behind :func:`domain_peak_height` (fixed seed: the same reference every call)
DOMAIN_PATCHES = 512


def peak_mask(frames, floor: float = PEAK_FLOOR) -> np.ndarray:
    """The peaks the check counts: strict 3 x 3 regional maxima at or above ``floor`` x the frame's
    maximum, as a boolean (z, x, t) mask of the (z, x, t) frames."""
    from ...localization.detect import strict_maxima

    a = np.asarray(frames, dtype=np.float32)
    if a.ndim != 3:
        raise ValueError(f"frames: expected (z, x, t) MB-only frames, got shape {a.shape}")
    top = a.reshape(-1, a.shape[-1]).max(axis=0)
    return strict_maxima(a) & (a >= floor * top) & (top > 0)


def count_peaks(frames, floor: float = PEAK_FLOOR) -> np.ndarray:
    """Peaks (:func:`peak_mask`) per frame of (z, x, t)."""
    return peak_mask(frames, floor).sum(axis=(0, 1))


def domain_per_frame(n_bubbles, patch: int, shape) -> float:
    """The MB-only domain's mean bubble count (``n_bubbles`` per ``patch`` x ``patch`` patch, drawn
    uniformly) scaled to a frame of ``shape`` (z, x, ...)."""
    return 0.5 * (n_bubbles[0] + n_bubbles[1]) * shape[0] * shape[1] / float(patch) ** 2


def domain_peak_height(n_bubbles, patch: int, fwhm, intensity, *, n: int = DOMAIN_PATCHES, seed: int = 0) -> float:
    """Median height of the check's peaks (:func:`peak_mask`) on ``n`` synthetic MB-only patches of the
    domain (:func:`~pyulm.nn.cycleulm.mbdt_domain.mb_only_patches` with ``n_bubbles``, ``patch``, the
    MB-only PSF ``fwhm`` (z, x) and the peak-amplitude range ``intensity``), drawn with a fixed seed.
    Deterministic, so computed once per domain (the check runs it for every block and every attempt)."""
    return _domain_peak_height(tuple(n_bubbles), int(patch), tuple(fwhm), tuple(intensity), n, seed)


@functools.lru_cache(maxsize=32)
def _domain_peak_height(n_bubbles: tuple, patch: int, fwhm: tuple, intensity: tuple, n: int, seed: int) -> float:
    from .mbdt_domain import mb_only_patches

    p = mb_only_patches(np.random.default_rng(seed), n, patch, fwhm, n_bubbles=n_bubbles, intensity=intensity)
    p = np.moveaxis(p, 0, -1)
    heights = p[peak_mask(p)]
    if heights.size == 0:
        raise ValueError(f"n_bubbles {tuple(n_bubbles)}: the MB-only domain holds no bubble to compare heights with")
    return float(np.median(heights))


def domain_intensity(model_config: dict) -> tuple:
    """The MB-only peak-amplitude range a translator was trained with, from its config.json
    (``training.intensity.range``; directories written before it was recorded: ``training.config.data.intensity``)."""
    tr = model_config["training"]
    rec = tr.get("intensity")
    lo_hi = rec["range"] if isinstance(rec, dict) else tr["config"]["data"]["intensity"]
    return float(lo_hi[0]), float(lo_hi[1])


def distance_from_one(ratio: float) -> float:
    """``|log(ratio)|``: how far a peak ratio is from the domain's count (a ratio of 0 counts as 1e-9)."""
    return abs(float(np.log(max(ratio, 1e-9))))


def check_translation(mb_frames, n_bubbles, patch: int, *, fwhm=None, intensity=None, bounds=RATIO_BOUNDS,
                      height_bounds=HEIGHT_BOUNDS) -> dict:
    """Peaks per translated frame against the MB-only domain's mean count and, given ``fwhm`` and
    ``intensity``, the peaks' median height against the domain's (:func:`domain_peak_height`).

    Parameters
    ----------
    mb_frames : ndarray (z, x, t)
        Translated frames (:func:`pyulm.nn.translate`).
    n_bubbles : (int, int)
        The domain's bubbles per ``patch`` x ``patch`` patch, drawn uniformly (config.json
        ``training.n_bubbles``).
    patch : int
        The training patch side (pixels).
    fwhm : (float, float), optional
        The domain's MB-only PSF FWHM (z, x) pixels (config.json ``psf.domain_b_fwhm``).
    intensity : (float, float), optional
        The domain's peak-amplitude range (:func:`domain_intensity`). With ``fwhm``, the heights are
        checked too; without them (or for a domain of no bubble, ``n_bubbles`` [0, 0]), the count only.

    Returns
    -------
    dict
        ``peaks_per_frame``, ``domain_per_frame`` (the domain's mean scaled to the frame area),
        ``ratio``, ``bounds``; with the heights, ``peak_height``, ``domain_peak_height``,
        ``height_ratio``, ``height_bounds``; ``ok`` and ``message`` (empty when ok).
    """
    if (fwhm is None) != (intensity is None):
        raise ValueError("check_translation: give both fwhm and intensity (the domain's heights need both), or neither")
    mb = np.asarray(mb_frames)
    mask = peak_mask(mb)
    peaks = float(mask.sum(axis=(0, 1)).mean())
    expected = domain_per_frame(n_bubbles, patch, mb.shape)
    ratio = peaks / expected if expected > 0 else float("inf")
    problems = []
    if not bounds[0] <= ratio <= bounds[1]:
        what = ("it makes bubbles out of noise or clutter" if ratio > bounds[1]
                else "it erases most bubbles")
        problems.append(f"the translated frames hold {peaks:.1f} peaks per frame, {ratio:.2f}x the MB-only domain's "
                        f"{expected:.1f} (expected {bounds[0]}-{bounds[1]}x): {what}")
    out = {"peaks_per_frame": round(peaks, 2), "domain_per_frame": round(expected, 2), "ratio": round(ratio, 3),
           "bounds": list(bounds)}
    if fwhm is not None and n_bubbles[1] > 0:  # an empty domain (n_bubbles [0, 0]) has no height: the count decides
        ref = domain_peak_height(n_bubbles, patch, fwhm, intensity)
        height = float(np.median(mb[mask])) if mask.any() else 0.0
        h_ratio = height / ref
        out.update({"peak_height": round(height, 4), "domain_peak_height": round(ref, 4),
                    "height_ratio": round(h_ratio, 3), "height_bounds": list(height_bounds)})
        if not height_bounds[0] <= h_ratio <= height_bounds[1]:
            what = "its output is too dim: it is not in the MB-only domain" if h_ratio < height_bounds[0] else \
                "its peaks are much brighter than the MB-only domain's"
            problems.append(f"the translated peaks' median height is {height:.3f}, {h_ratio:.2f}x the MB-only domain's "
                            f"{ref:.3f} (expected {height_bounds[0]}-{height_bounds[1]}x): {what}")
    msg = ""
    if problems:
        msg = (f"MB-DT check: {'; '.join(problems)}; retrain (another seed, [train] restarts) and look at the "
               f"translated frames before using it")
    return {**out, "ok": not problems, "message": msg}


def check_distance(result: dict) -> float:
    """How far a check's result lies from the domain: the larger of ``|log(count ratio)|`` and, when checked,
    ``|log(height ratio)|`` (0 for a translator exactly like its domain)."""
    d = distance_from_one(result["ratio"])
    return max(d, distance_from_one(result["height_ratio"])) if "height_ratio" in result else d


def check_translator(weights, frames, *, device=None) -> dict:
    """:func:`check_translation` of a model directory on ``frames`` (z, x, t; IQ or amplitude, >= 3 frames)."""
    from .mbdt_dir import read_model_config
    from .translate import translate

    cfg = read_model_config(weights)
    mb = translate(frames, weights, device=device, check_psf=False)
    return check_translation(mb, cfg["training"]["n_bubbles"], cfg["patch"], fwhm=cfg["psf"]["domain_b_fwhm"],
                             intensity=domain_intensity(cfg))
