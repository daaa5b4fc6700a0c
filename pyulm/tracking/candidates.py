"""The linkable pairs of a whole block: every (a, b) with ``k[b] - k[a]`` in the given steps and distance <= max_d.

One spatial grid serves every frame pair at once: points are binned in cells
of side ``h >= max_d`` in the first two dimensions, keyed by (frame, cell
row, cell column) and sorted by key; a table of where every key starts turns
each lookup (the 3 x 3 cells around a point, in the frame ``step`` later)
into three contiguous ranges, read by indexing, not by search. The exact
squared distances (summed over dimensions in order, as
:func:`~pyulm.tracking.linkers.squared_distances`) decide.
"""
from __future__ import annotations

import numpy as np

__all__ = ["candidate_edges", "exact_edges"]

# Cell side: a table entry costs about a tenth of a candidate pair, so cells grow past max_d until the
# table has about 1 / _CELL_AREA entries per point (sparse frames: fewer frames' worth of empty cells).
_CELL_AREA = 0.1


def exact_edges(pts: np.ndarray, src: np.ndarray, tgt: np.ndarray, max_d: float):
    """The pairs ``(src, tgt)`` within ``max_d`` (inclusive) and their squared distances.

    Squared distances are summed over dimensions in order, as
    :func:`~pyulm.tracking.linkers.squared_distances`, so ties and the
    inclusive limit come out as in simpletracker.
    """
    d2 = np.zeros(src.size)
    for col in range(pts.shape[1]):
        p = np.ascontiguousarray(pts[:, col])  # 1-D gathers: several times faster than pts[idx, col]
        diff = p[tgt] - p[src]
        d2 += diff * diff
    keep = d2 <= max_d * max_d
    return src[keep], tgt[keep], d2[keep]


def candidate_edges(pts: np.ndarray, k: np.ndarray, steps, max_d: float):
    """Every pair (a, b) with ``k[b] == k[a] + step`` for a step in ``steps`` and distance <= ``max_d``.

    ``pts`` (n, d) sorted by the 0-based frame index ``k``; ``max_d`` finite.
    Returns ``(src, tgt, d2)`` in no particular order.
    """
    n = pts.shape[0]
    steps = [int(s) for s in steps]
    empty = (np.zeros(0, dtype=np.int64),) * 2 + (np.zeros(0),)
    if n == 0 or not steps:
        return empty
    z = pts[:, 0]
    x = pts[:, 1] if pts.shape[1] >= 2 else np.zeros(n)
    z0, x0 = z.min(), x.min()
    n_frames = int(k[-1]) + 1
    area = (z.max() - z0 + max_d) * (x.max() - x0 + max_d)
    h = max(max_d * (1.0 + 1e-6), float(np.sqrt(_CELL_AREA * n_frames * area / n)))  # margin: rounding
    if not h > 0:  # every point at one place and max_d = 0
        h = 1.0
    scale = max(abs(float(z0)), abs(float(z.max())), abs(float(x0)), abs(float(x.max())))
    nz = int((z.max() - z0) / h) + 3  # a margin cell on each side: neighbours never wrap
    nx = int((x.max() - x0) / h) + 3
    n_keys = (n_frames + max(steps)) * nz * nx
    if scale / h > 2.0 ** 40 or n_keys > 32 * n + 65536:  # coordinates too spread for cells
        return _tree_edges(pts, k, steps, max_d)
    cz = ((z - z0) / h).astype(np.int64) + 1
    cx = ((x - x0) / h).astype(np.int64) + 1
    cell = cz * nx + cx
    key = k.astype(np.int64) * (nz * nx) + cell
    bits = max(int(n - 1).bit_length(), 1)
    by_key = np.sort((key << bits) | np.arange(n)) & ((1 << bits) - 1)  # points in key order
    start = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(np.bincount(key, minlength=n_keys), out=start[1:])
    lo, cnt = [], []
    for step in steps:
        base = key + (step * nz * nx - 1)  # the cell left of the point's own, `step` frames later
        for dz in (-nx, 0, nx):  # three rows of three cells: contiguous keys
            first = start[base + dz]
            lo.append(first)
            cnt.append(start[base + dz + 3] - first)
    lo, cnt = np.concatenate(lo), np.concatenate(cnt)
    total = int(cnt.sum())
    if total > 64 * n + 65536:  # clustered points in a wide field: cells too coarse
        return _tree_edges(pts, k, steps, max_d)
    src = np.repeat(np.tile(np.arange(n), len(steps) * 3), cnt)
    tgt = by_key[np.arange(total) - np.repeat(np.cumsum(cnt) - cnt - lo, cnt)]
    return exact_edges(pts, src, tgt, max_d)


def _tree_edges(pts: np.ndarray, k: np.ndarray, steps, max_d: float):
    """:func:`candidate_edges` by a KD-tree (for coordinates too spread or clustered for the grid)."""
    from scipy.spatial import cKDTree  # lazy: `import pyulm` stays light

    radius = max_d * (1.0 + 1e-9) + 1e-300
    S = float(np.ceil(2.0 * radius) + 1.0)  # frames S apart are out of reach
    kf = k.astype(np.float64)
    target = cKDTree(np.column_stack([pts, kf * S]))
    parts = []
    for step in steps:
        pairs = cKDTree(np.column_stack([pts, (kf + step) * S])).sparse_distance_matrix(
            target, radius, output_type="ndarray")
        parts.append(exact_edges(pts, pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), max_d))
    return tuple(np.concatenate(a) for a in zip(*parts))
