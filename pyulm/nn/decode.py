"""Decoding network output maps into localizations (per frame, torch tensors in,
numpy columns out). Coordinates are 0-based pixels of the frame."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _local_maxima(p: torch.Tensor) -> torch.Tensor:
    """Pixels that are the maximum of their 3x3 neighbourhood; ``p`` (N, H, W)."""
    return p == F.max_pool2d(p.unsqueeze(1), 3, stride=1, padding=1).squeeze(1)


def decode_mblnet(out: torch.Tensor, scale: torch.Tensor, *, threshold: float = 0.5, max_per_frame: int | None = None,
                  candidate_floor: float = 0.05, frame_offset: int = 0) -> dict:
    """MBL-Net maps ``(N, 7, H, W)`` -> columns of a Localizations table.

    A bubble near a pixel edge spreads its presence over neighbouring pixels,
    so each local maximum of the presence map takes the summed probability of
    its 3x3 neighbourhood (capped at 1), DECODE-style; maxima whose summed
    probability exceeds ``threshold`` are kept (at most ``max_per_frame`` per
    frame, most probable first), at the position ``pixel + offset`` of the maximum.
    ``scale`` (N,) undoes the per-frame normalisation of intensities.
    """
    p = torch.sigmoid(out[:, 0])
    agg = (F.avg_pool2d(p.unsqueeze(1), 3, stride=1, padding=1, divisor_override=1).squeeze(1)).clamp(max=1.0)
    keep = _local_maxima(p) & (p > candidate_floor) & (agg > threshold)
    f, iz, ix = torch.nonzero(keep, as_tuple=True)
    prob = agg[f, iz, ix]
    vals = out[f, :, iz, ix]  # (K, 7)
    cols = {
        "frame": f, "z": iz.to(out.dtype) + vals[:, 2], "x": ix.to(out.dtype) + vals[:, 3],
        "intensity": vals[:, 1] * scale[f], "probability": prob, "sigma_z": vals[:, 4], "sigma_x": vals[:, 5],
        "sigma_intensity": vals[:, 6] * scale[f],
    }
    cols = {k: v.detach().cpu().numpy() for k, v in cols.items()}
    sel = _top_per_frame(cols["frame"], cols["probability"], max_per_frame)
    cols = {k: v[sel] for k, v in cols.items()}
    cols["frame"] = cols["frame"].astype(np.int64) + frame_offset
    return cols


def decode_3dml(maps: torch.Tensor, counts: torch.Tensor, *, max_per_frame: int | None = None,
                candidate_floor: float = 0.05, frame_offset: int = 0) -> dict:
    """3DML maps ``(N, 3, H, W)`` and predicted counts ``(N,)`` -> columns.

    The local maxima of each frame's presence map are ranked by probability and
    the top ``round(count)`` (at most ``max_per_frame``) are kept: the count
    network, not a probability threshold, decides how many bubbles go on to tracking.
    """
    p = torch.sigmoid(maps[:, 0])
    keep = _local_maxima(p) & (p > candidate_floor)
    f, iz, ix = torch.nonzero(keep, as_tuple=True)
    vals = maps[f, :, iz, ix]
    cols = {"frame": f, "z": iz.to(maps.dtype) + vals[:, 1], "x": ix.to(maps.dtype) + vals[:, 2],
            "probability": p[f, iz, ix], "iz": iz, "ix": ix}
    cols = {k: v.detach().cpu().numpy() for k, v in cols.items()}
    n_keep = np.rint(counts.detach().cpu().numpy()).astype(np.int64)
    if max_per_frame is not None:
        n_keep = np.minimum(n_keep, max_per_frame)
    sel = _top_per_frame(cols["frame"], cols["probability"], n_keep)
    cols = {k: v[sel] for k, v in cols.items()}
    cols["frame"] = cols["frame"].astype(np.int64) + frame_offset
    return cols


def _top_per_frame(frame: np.ndarray, score: np.ndarray, limit) -> np.ndarray:
    """Indices of the ``limit`` (scalar or per-frame array) highest scores of
    each frame, in (frame, descending score) order."""
    order = np.lexsort((-score, frame))
    if limit is None:
        return order
    f = frame[order]
    starts = np.searchsorted(f, f, side="left")
    rank = np.arange(f.size) - starts
    lim = np.asarray(limit)
    lim = lim[f] if lim.ndim else lim
    return order[rank < lim]
