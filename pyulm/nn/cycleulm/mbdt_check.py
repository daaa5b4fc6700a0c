"""A label-free check of a trained MB-DT translator: does its output look like the MB-only domain?

MB-DT is a GAN, and a GAN's training can end in a bad state that its losses do not show:
on CycleULM's validation acquisitions, retraining the same configuration once gave a
translator whose output held ~3 times as many peaks per frame as its MB-only domain (it
turned noise into bubbles; NCC's F1 on its output 0.59 against 0.80), while the two best
low-density translators kept 0.76-0.78 times the domain's count. No label is needed to see this: the MB-only
domain's mean bubble count per frame is known (the ``n_bubbles`` range it was drawn from), and
the translated frames' regional maxima can be counted.

* :func:`peak_mask`, :func:`count_peaks`: strict 3 x 3 regional maxima at or above ``floor`` x each
  frame's maximum (where, and how many per frame); :func:`domain_per_frame`: the domain's mean count
  scaled to a frame;
* :func:`check_translation`: peaks per translated frame against the domain's mean count, and a
  verdict (``ok`` when the ratio lies in :data:`RATIO_BOUNDS`) with a one-line message;
* :func:`check_translator`: the same for a model directory and frames (translates them first).

``pyulm train mbdt`` runs it on the held-back frames at the end of training, records it in
``metrics.json`` (``label_free_check``), warns when it fails, and with ``[train] restarts`` trains
again with the next seed. A guard, not a guarantee: at low density the translators failing it by
the widest margins were the worst downstream, but one passing at ratio 1.5 was bad too
(docs/cycleulm_mbdt.md has the table).
"""
from __future__ import annotations

import numpy as np

__all__ = ["PEAK_FLOOR", "RATIO_BOUNDS", "peak_mask", "count_peaks", "domain_per_frame", "check_translation",
           "check_translator", "distance_from_one"]

#: a peak counts when it reaches this fraction of its frame's maximum (MB-only background is ~0)
PEAK_FLOOR = 0.05
#: peaks per frame / the MB-only domain's mean bubbles per frame outside these bounds fail the check
RATIO_BOUNDS = (0.5, 2.0)


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


def distance_from_one(ratio: float) -> float:
    """``|log(ratio)|``: how far a peak ratio is from the domain's count (a ratio of 0 counts as 1e-9)."""
    return abs(float(np.log(max(ratio, 1e-9))))


def check_translation(mb_frames, n_bubbles, patch: int, *, bounds=RATIO_BOUNDS) -> dict:
    """Peaks per translated frame against the MB-only domain's mean count.

    Parameters
    ----------
    mb_frames : ndarray (z, x, t)
        Translated frames (:func:`pyulm.nn.translate`).
    n_bubbles : (int, int)
        The domain's bubbles per ``patch`` x ``patch`` patch, drawn uniformly (config.json
        ``training.n_bubbles``).
    patch : int
        The training patch side (pixels).

    Returns
    -------
    dict
        ``peaks_per_frame``, ``domain_per_frame`` (the domain's mean scaled to the frame area),
        ``ratio``, ``bounds``, ``ok`` and ``message`` (empty when ok).
    """
    mb = np.asarray(mb_frames)
    peaks = float(count_peaks(mb).mean())
    expected = domain_per_frame(n_bubbles, patch, mb.shape)
    ratio = peaks / expected if expected > 0 else float("inf")
    ok = bool(bounds[0] <= ratio <= bounds[1])
    msg = ""
    if not ok:
        what = ("it makes bubbles out of noise or clutter" if ratio > bounds[1]
                else "it erases most bubbles")
        msg = (f"MB-DT check: the translated frames hold {peaks:.1f} peaks per frame, {ratio:.2f}x the MB-only "
               f"domain's {expected:.1f} (expected {bounds[0]}-{bounds[1]}x): {what}; retrain (another seed, "
               f"[train] ema) and look at the translated frames before using it")
    return {"peaks_per_frame": round(peaks, 2), "domain_per_frame": round(expected, 2), "ratio": round(ratio, 3),
            "bounds": list(bounds), "ok": ok, "message": msg}


def check_translator(weights, frames, *, device=None) -> dict:
    """:func:`check_translation` of a model directory on ``frames`` (z, x, t; IQ or amplitude, >= 3 frames)."""
    from .mbdt_dir import read_model_config
    from .translate import translate

    cfg = read_model_config(weights)
    mb = translate(frames, weights, device=device, check_psf=False)
    return check_translation(mb, cfg["training"]["n_bubbles"], cfg["patch"])
