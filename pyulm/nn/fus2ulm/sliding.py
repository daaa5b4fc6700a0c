"""Sliding-window tiling with overlap blending (numpy; no torch).

A ``size``-long axis is covered by windows of ``patch`` pixels whose starts are
spaced by at most ``stride`` (the last window ends at the border). Overlapping
predictions are blended with a separable weight that falls smoothly towards each
window's edges (a raised cosine, floored at ``EDGE_WEIGHT`` so that border pixels
covered by one window keep a weight), normalised by the sum of the weights:
a pixel's value moves continuously from one window to the next, so patch seams
do not show (``tests/test_fus2ulm.py`` checks it).
"""
from __future__ import annotations

import numpy as np

EDGE_WEIGHT = 1e-3


def starts(size: int, patch: int, stride: int) -> list[int]:
    """Window starts along one axis: 0, stride, 2 stride, ..., and ``size - patch`` last."""
    size, patch, stride = int(size), int(patch), int(stride)
    if patch > size:
        raise ValueError(f"patch: {patch} pixels does not fit in an image of {size} pixels")
    if not 0 < stride <= patch:
        raise ValueError(f"stride: expected 1..patch ({patch}), got {stride}")
    out = list(range(0, size - patch + 1, stride))
    if out[-1] != size - patch:
        out.append(size - patch)
    return out


def positions(shape, patch: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners (z, x) of the windows covering a 2-D image."""
    return [(z, x) for z in starts(shape[0], patch, stride) for x in starts(shape[1], patch, stride)]


def window(patch: int) -> np.ndarray:
    """The (patch, patch) blending weight: raised cosine per axis, floored at ``EDGE_WEIGHT``."""
    u = (np.arange(patch) + 0.5) / patch
    w1 = np.maximum(np.sin(np.pi * u) ** 2, EDGE_WEIGHT)
    return np.outer(w1, w1)


def extract(image, pos, patch: int) -> np.ndarray:
    """Patches (n, patch, patch) of a 2-D image at the corners ``pos``."""
    a = np.asarray(image)
    return np.stack([a[z:z + patch, x:x + patch] for z, x in pos])


def blend(patches, pos, shape, *, weight=None) -> np.ndarray:
    """Weighted average of overlapping patches into an image of ``shape``."""
    p = np.asarray(patches, dtype=np.float64)
    patch = p.shape[-1]
    w = window(patch) if weight is None else np.asarray(weight, dtype=np.float64)
    acc = np.zeros(shape)
    norm = np.zeros(shape)
    for k, (z, x) in enumerate(pos):
        acc[z:z + patch, x:x + patch] += w * p[k]
        norm[z:z + patch, x:x + patch] += w
    if np.any(norm == 0):
        raise ValueError("blend: the windows do not cover the image")
    return acc / norm


def apply(func, image, patch: int, stride: int) -> np.ndarray:
    """``func(patches (n, P, P), corners (n, 2)) -> (n, P, P)`` over sliding windows, blended."""
    a = np.asarray(image)
    pos = positions(a.shape, patch, stride)
    out = np.asarray(func(extract(a, pos, patch), np.array(pos)))
    if out.shape != (len(pos), patch, patch):
        raise ValueError(f"func: returned shape {out.shape}, expected {(len(pos), patch, patch)}")
    return blend(out, pos, a.shape)
