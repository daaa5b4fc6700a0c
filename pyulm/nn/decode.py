"""Decoding network output maps into localizations (per frame, torch tensors in,
numpy columns out). Coordinates are 0-based pixels of the frame.

Two decode-time choices are shared by both networks:

* **sub-pixel position** (``subpixel``): ``"max"`` takes ``pixel + offset`` of
  the presence maximum; ``"weighted"`` averages ``pixel + offset`` over the
  maximum's 3x3 neighbourhood, each neighbour weighted by its presence
  probability, using only the neighbours whose own estimate lies within
  :data:`WEIGHT_GATE` pixels of the maximum's (a neighbour pointing at another,
  nearby bubble is left out);
* **a per-detection quality cutoff**, MBL-Net's ``max_sigma`` (predicted
  localisation uncertainty ``sqrt(sigma_z**2 + sigma_x**2)``, pixels) and
  3DML's ``min_probability`` (its detection probability: the presence
  probability summed over the maximum and the neighbours that agree with it on
  the position, capped at 1; see :func:`decode_3dml`). A cutoff is
  a number (the same everywhere) or a table ``{"density": [...], "cutoff":
  [...]}`` read against each frame's bubble density as the network itself
  estimates it (:func:`frame_density`), linearly interpolated between the table's
  points and held constant beyond its ends (see :mod:`pyulm.nn.calibrate`).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .options import SUBPIXEL

#: Neighbours whose own position estimate is further than this (pixels) from the
#: maximum's do not take part in the weighted sub-pixel position.
WEIGHT_GATE = 0.75


def _local_maxima(p: torch.Tensor) -> torch.Tensor:
    """Pixels that are the maximum of their 3x3 neighbourhood; ``p`` (N, H, W)."""
    return p == F.max_pool2d(p.unsqueeze(1), 3, stride=1, padding=1).squeeze(1)


def frame_density(expected_count, shape) -> np.ndarray:
    """Bubbles per 100 pixels of each frame from the network's own expected count
    per frame (MBL-Net: sum of the presence probabilities; 3DML: count network)."""
    h, w = shape
    return np.asarray(expected_count, dtype=float) * 100.0 / (h * w)


def cutoff_per_frame(spec, density: np.ndarray) -> np.ndarray | None:
    """Cutoff of each frame: ``spec`` None (no cutoff), a number, or a density table."""
    if spec is None:
        return None
    density = np.asarray(density, dtype=float)
    if isinstance(spec, dict):
        return np.interp(density, spec["density"], spec["cutoff"])
    return np.full(density.shape, float(spec))


def _positions(p, dz, dx, f, iz, ix, subpixel: str):
    """Sub-pixel positions of the maxima ``(f, iz, ix)`` (see the module
    docstring) and their *support*: the summed presence probability of the
    3x3 neighbours (the maximum included) whose own position estimate lies
    within :data:`WEIGHT_GATE` pixels of the maximum's."""
    if subpixel not in SUBPIXEL:
        raise ValueError(f"subpixel: expected one of {SUBPIXEL}, got {subpixel!r}")
    z0 = iz.to(dz.dtype) + dz[f, iz, ix]
    x0 = ix.to(dx.dtype) + dx[f, iz, ix]
    H, W = p.shape[-2:]
    sz = torch.zeros_like(z0)
    sx = torch.zeros_like(x0)
    sw = torch.zeros_like(z0)
    for a in (-1, 0, 1):
        for b in (-1, 0, 1):
            jz, jx = iz + a, ix + b
            inside = (jz >= 0) & (jz < H) & (jx >= 0) & (jx < W)
            jz, jx = jz.clamp(0, H - 1), jx.clamp(0, W - 1)
            zz = jz.to(dz.dtype) + dz[f, jz, jx]
            xx = jx.to(dx.dtype) + dx[f, jz, jx]
            w = p[f, jz, jx] * (inside & ((zz - z0) ** 2 + (xx - x0) ** 2 <= WEIGHT_GATE ** 2))
            sz, sx, sw = sz + w * zz, sx + w * xx, sw + w
    if subpixel == "max":
        return z0, x0, sw
    ok = sw > 0  # the maximum itself always qualifies; guard anyway
    return torch.where(ok, sz / sw.clamp_min(1e-12), z0), torch.where(ok, sx / sw.clamp_min(1e-12), x0), sw


def mblnet_candidates(out: torch.Tensor, scale: torch.Tensor, *, threshold: float = 0.5, subpixel: str = "weighted",
                      candidate_floor: float = 0.05) -> tuple[dict, np.ndarray]:
    """First stage of :func:`decode_mblnet`: every presence maximum above
    ``threshold`` (no uncertainty cutoff, no per-frame cap) as numpy columns
    (``frame`` 0-based in the batch), and each frame's density estimate."""
    p = torch.sigmoid(out[:, 0])
    agg = (F.avg_pool2d(p.unsqueeze(1), 3, stride=1, padding=1, divisor_override=1).squeeze(1)).clamp(max=1.0)
    keep = _local_maxima(p) & (p > candidate_floor) & (agg > threshold)
    f, iz, ix = torch.nonzero(keep, as_tuple=True)
    vals = out[f, :, iz, ix]  # (K, 7)
    z, x, _ = _positions(p, out[:, 2], out[:, 3], f, iz, ix, subpixel)
    cols = {
        "frame": f, "z": z, "x": x,
        "intensity": vals[:, 1] * scale[f], "probability": agg[f, iz, ix], "sigma_z": vals[:, 4],
        "sigma_x": vals[:, 5], "sigma_intensity": vals[:, 6] * scale[f],
    }
    cols = {k: v.detach().cpu().numpy() for k, v in cols.items()}
    return cols, frame_density(p.sum((1, 2)).detach().cpu().numpy(), p.shape[-2:])


def select_mblnet(cols: dict, density: np.ndarray, *, max_sigma=None, max_per_frame: int | None = None) -> dict:
    """Second stage of :func:`decode_mblnet`: drop the candidates whose predicted
    uncertainty ``sqrt(sigma_z**2 + sigma_x**2)`` is above the frame's
    ``max_sigma``, then keep at most ``max_per_frame`` per frame, most probable first.

    The probability is capped at 1, so many candidates tie at 1 where the network is sure of
    several bubbles; among equal probabilities the brighter (predicted intensity) goes first, as
    PALA keeps the brightest maxima, rather than the table's order (position in the frame)."""
    if max_sigma is not None:
        cut = cutoff_per_frame(max_sigma, density)
        ok = np.hypot(cols["sigma_z"], cols["sigma_x"]) <= cut[cols["frame"]]
        cols = {k: v[ok] for k, v in cols.items()}
    sel = _top_per_frame(cols["frame"], cols["probability"], max_per_frame, tiebreak=cols["intensity"])
    return {k: v[sel] for k, v in cols.items()}


def decode_mblnet(out: torch.Tensor, scale: torch.Tensor, *, threshold: float = 0.5, max_per_frame: int | None = None,
                  max_sigma=None, subpixel: str = "weighted", candidate_floor: float = 0.05,
                  frame_offset: int = 0) -> dict:
    """MBL-Net maps ``(N, 7, H, W)`` -> columns of a Localizations table.

    A bubble near a pixel edge spreads its presence over neighbouring pixels,
    so each local maximum of the presence map takes the summed probability of
    its 3x3 neighbourhood (capped at 1), DECODE-style; maxima whose summed
    probability exceeds ``threshold`` are kept. ``max_sigma`` (None: no cutoff;
    a number; or a density table, see the module docstring) then drops the
    detections whose predicted uncertainty ``sqrt(sigma_z**2 + sigma_x**2)``
    is above it; the frame's density is the sum of its presence probabilities
    per 100 pixels. At most ``max_per_frame`` per frame are kept, most probable
    first. Positions: see ``subpixel`` in the module docstring.
    ``scale`` (N,) undoes the per-frame normalisation of intensities.
    """
    cols, density = mblnet_candidates(out, scale, threshold=threshold, subpixel=subpixel,
                                      candidate_floor=candidate_floor)
    cols = select_mblnet(cols, density, max_sigma=max_sigma, max_per_frame=max_per_frame)
    cols["frame"] = cols["frame"].astype(np.int64) + frame_offset
    return cols


def dml3_candidates(maps: torch.Tensor, counts: torch.Tensor, *, max_per_frame: int | None = None,
                    subpixel: str = "weighted", candidate_floor: float = 0.05) -> tuple[dict, np.ndarray]:
    """First stage of :func:`decode_3dml`: the top ``round(count)`` maxima of each
    frame (no probability cutoff) as numpy columns and each frame's density
    estimate (predicted count per 100 pixels). Maxima are ranked by their
    support (see :func:`_positions`); ``probability`` is the support capped at 1."""
    p = torch.sigmoid(maps[:, 0])
    keep = _local_maxima(p) & (p > candidate_floor)
    f, iz, ix = torch.nonzero(keep, as_tuple=True)
    z, x, support = _positions(p, maps[:, 1], maps[:, 2], f, iz, ix, subpixel)
    cols = {"frame": f, "z": z, "x": x, "probability": support.clamp(max=1.0), "support": support, "iz": iz, "ix": ix}
    cols = {k: v.detach().cpu().numpy() for k, v in cols.items()}
    count = counts.detach().cpu().numpy()
    n_keep = np.rint(count).astype(np.int64)
    if max_per_frame is not None:
        n_keep = np.minimum(n_keep, max_per_frame)
    sel = _top_per_frame(cols["frame"], cols.pop("support"), n_keep)
    return {k: v[sel] for k, v in cols.items()}, frame_density(count, p.shape[-2:])


def select_3dml(cols: dict, density: np.ndarray, *, min_probability=None) -> dict:
    """Second stage of :func:`decode_3dml`: drop the detections whose presence
    probability is below the frame's ``min_probability``."""
    if min_probability is None:
        return cols
    ok = cols["probability"] >= cutoff_per_frame(min_probability, density)[cols["frame"]]
    return {k: v[ok] for k, v in cols.items()}


def decode_3dml(maps: torch.Tensor, counts: torch.Tensor, *, max_per_frame: int | None = None,
                min_probability=None, subpixel: str = "weighted", candidate_floor: float = 0.05,
                frame_offset: int = 0) -> dict:
    """3DML maps ``(N, 3, H, W)`` and predicted counts ``(N,)`` -> columns.

    The local maxima of each frame's presence map are ranked by their *support*
    -- the summed presence probability of the 3x3 neighbours (the maximum
    included) whose own position estimates agree with the maximum's within
    :data:`WEIGHT_GATE` px: the network's consensus on that bubble -- and the top
    ``round(count)`` (at most ``max_per_frame``) are kept: the count network, not
    a probability threshold, decides how many bubbles go on to tracking. Their
    ``probability`` is the support capped at 1. ``min_probability`` (None: no
    cutoff; a number; or a density table read against the predicted count per
    100 pixels) then drops those whose probability is below it. Positions: see
    ``subpixel`` in the module docstring.
    """
    cols, density = dml3_candidates(maps, counts, max_per_frame=max_per_frame, subpixel=subpixel,
                                    candidate_floor=candidate_floor)
    cols = select_3dml(cols, density, min_probability=min_probability)
    cols["frame"] = cols["frame"].astype(np.int64) + frame_offset
    return cols


def _top_per_frame(frame: np.ndarray, score: np.ndarray, limit, tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``limit`` (scalar or per-frame array) highest scores of
    each frame, in (frame, descending score) order; equal scores in descending
    ``tiebreak`` order (None: the input order)."""
    keys = (-score, frame) if tiebreak is None else (-np.asarray(tiebreak), -score, frame)
    order = np.lexsort(keys)
    if limit is None:
        return order
    f = frame[order]
    starts = np.searchsorted(f, f, side="left")
    rank = np.arange(f.size) - starts
    lim = np.asarray(limit)
    lim = lim[f] if lim.ndim else lim
    return order[rank < lim]
