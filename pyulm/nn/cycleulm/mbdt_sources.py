"""MB-DT training data: the user's acquisitions (files or arrays) as normalised amplitude blocks (numpy only).

Files are read with pyulm's readers (:func:`pyulm.io.inspect`, :func:`pyulm.io.read_frames`:
PALA blocks, Verasonics workspaces, any MAT-file with a 3-D array, raw binary + JSON),
cropped to the ROI and SVD-filtered (``[data].svd_cutoff``); arrays given from Python
are taken as already filtered (as :func:`pyulm.nn.translate` takes them).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .mbdt_domain import normalize_frames

__all__ = ["parse_roi", "load_blocks"]


def parse_roi(roi):
    """``"Z0:Z1,X0:X1"`` or ``(z0, z1, x0, x1)`` (pixels, 0-based, end exclusive) -> tuple, or None."""
    if roi is None:
        return None
    if isinstance(roi, str):
        try:
            (z0, z1), (x0, x1) = ([int(v) for v in part.split(":")] for part in roi.split(","))
        except ValueError:
            raise ValueError(f"roi: expected Z0:Z1,X0:X1 (whole pixels), got {roi!r}") from None
    else:
        try:
            z0, z1, x0, x1 = (int(v) for v in roi)
        except (TypeError, ValueError):
            raise ValueError(f"roi: expected (z0, z1, x0, x1), got {roi!r}") from None
    if not (0 <= z0 < z1 and 0 <= x0 < x1):
        raise ValueError(f"roi: expected 0 <= Z0 < Z1 and 0 <= X0 < X1, got {roi!r}")
    return z0, z1, x0, x1


def _read_file(path, variable: str) -> np.ndarray:
    from ... import io

    info = io.inspect(path, variable or None)
    return io.read_frames(info)


def load_blocks(sources, roi, data_cfg, context: int) -> tuple[list, list]:
    """(blocks, names): each source as a (z, x, t) float32 |IQ| block normalised per frame."""
    from ...filtering import svd_filter

    if isinstance(sources, (str, os.PathLike, np.ndarray)):
        sources = [sources]
    sources = list(sources)
    if not sources:
        raise ValueError("sources: give at least one acquisition (a file or a (z, x, t) array)")
    roi = parse_roi(roi)
    blocks, names = [], []
    for i, src in enumerate(sources):
        is_file = isinstance(src, (str, os.PathLike))
        name = str(src) if is_file else f"sources[{i}]"
        if is_file:
            if not Path(src).is_file():
                raise ValueError(f"sources: {src} does not exist or is not a file")
            frames = _read_file(src, data_cfg.variable)
        else:
            frames = np.asarray(src)
        if frames.ndim != 3:
            raise ValueError(f"{name}: expected frames (z, x, t), got shape {frames.shape}")
        if not (np.issubdtype(frames.dtype, np.number) or frames.dtype == bool):
            raise ValueError(f"{name}: expected numeric frames, got dtype {frames.dtype}")
        if roi is not None:
            z0, z1, x0, x1 = roi
            if z1 > frames.shape[0] or x1 > frames.shape[1]:
                raise ValueError(f"roi: {z0}:{z1},{x0}:{x1} exceeds the frames of {name} {frames.shape[:2]}")
            frames = frames[z0:z1, x0:x1]
        if not np.all(np.isfinite(frames)):
            raise ValueError(f"{name}: contains NaN or Inf; expected finite values")
        nt = frames.shape[2]
        if nt < context + 1:
            raise ValueError(f"{name}: {nt} frames; MB-DT needs at least {context + 1} (context {context} + validation)")
        if min(frames.shape[:2]) < data_cfg.patch:
            raise ValueError(f"{name}: frames {frames.shape[:2]} (after the ROI) are smaller than the "
                             f"{data_cfg.patch}-pixel training patch; lower [data].patch or widen the ROI")
        if is_file and data_cfg.svd_cutoff > 1:
            if data_cfg.svd_cutoff >= nt:
                raise ValueError(f"[data].svd_cutoff {data_cfg.svd_cutoff}: {name} has only {nt} frames")
            frames = svd_filter(frames, [data_cfg.svd_cutoff, nt])
        blocks.append(normalize_frames(frames))
        names.append(name)
    return blocks, names
