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

__all__ = ["candidate_edges", "candidate_pairs", "exact_edges"]

# Cell side: a table entry costs about a tenth of a candidate pair, so cells grow past max_d until the
# table has about 1 / _CELL_AREA entries per point (sparse frames: fewer frames' worth of empty cells).
_CELL_AREA = 0.1


def exact_edges(pts: np.ndarray, src: np.ndarray, tgt: np.ndarray, max_d: float, tpts=None):
    """The pairs ``(src, tgt)`` within ``max_d`` (inclusive) and their squared distances.

    ``src`` indexes ``pts``, ``tgt`` indexes ``tpts`` (default: ``pts`` too).
    Squared distances are summed over dimensions in order, as
    :func:`~pyulm.tracking.linkers.squared_distances`, so ties and the
    inclusive limit come out as in simpletracker.
    """
    scols = _columns(pts)
    return _exact(scols, src, scols if tpts is None else _columns(tpts), tgt, max_d)


def _columns(pts):
    # 1-D gathers from contiguous columns: several times faster than pts[idx, col]
    return [np.ascontiguousarray(pts[:, c]) for c in range(pts.shape[1])]


def _exact(scols, src, tcols, tgt, max_d: float):
    d2 = np.zeros(src.size)
    for sc, tc in zip(scols, tcols):
        diff = tc[tgt] - sc[src]
        d2 += diff * diff
    keep = np.flatnonzero(d2 <= max_d * max_d)
    return src[keep], tgt[keep], d2[keep]


def candidate_edges(pts: np.ndarray, k: np.ndarray, steps, max_d: float):
    """Every pair (a, b) with ``k[b] == k[a] + step`` for a step in ``steps`` and distance <= ``max_d``.

    ``pts`` (n, d) sorted by the 0-based frame index ``k``; ``max_d`` finite.
    Returns ``(src, tgt, d2)`` in no particular order.
    """
    return candidate_pairs(pts, k, pts, k, steps, max_d)


def candidate_pairs(spts, sk, tpts, tk, steps, max_d: float):
    """:func:`candidate_edges` from the sources ``spts`` (frames ``sk``) to other targets ``tpts`` (``tk``).

    Returns ``(src, tgt, d2)``: indices into the sources and into the targets.
    """
    steps = [int(s) for s in steps]
    ns, nt = spts.shape[0], tpts.shape[0]
    if ns == 0 or nt == 0 or not steps:
        return (np.zeros(0, dtype=np.int64),) * 2 + (np.zeros(0),)
    same = spts is tpts
    scols = _columns(spts)
    tcols = scols if same else _columns(tpts)
    one = spts.shape[1] == 1  # 1-D points: one row of cells
    sz, sx = scols[0], (np.zeros(ns) if one else scols[1])
    tz, tx = tcols[0], (np.zeros(nt) if one else tcols[1])
    z0, z1, x0, x1 = sz.min(), sz.max(), sx.min(), sx.max()
    if not same:
        z0, z1, x0, x1 = min(z0, tz.min()), max(z1, tz.max()), min(x0, tx.min()), max(x1, tx.max())
    n_frames = max(int(sk[-1]), int(tk[-1])) + 1
    h = max(max_d * (1.0 + 1e-6),  # the margin covers the rounding of (z - z0) / h
            float(np.sqrt(_CELL_AREA * n_frames * (z1 - z0 + max_d) * (x1 - x0 + max_d) / nt)))
    if not h > 0:  # every point at one place and max_d = 0
        h = 1.0
    nz = int((z1 - z0) / h) + 3  # a margin cell on each side: neighbours never wrap
    nx = int((x1 - x0) / h) + 3
    n_keys = (n_frames + max(steps)) * nz * nx
    if n_keys > 32 * nt + 65536:  # coordinates too spread for cells
        return _tree_pairs(spts, sk, tpts, tk, steps, max_d)

    def keys(z, x, k):
        return k.astype(np.int64) * (nz * nx) + (((z - z0) / h).astype(np.int64) + 1) * nx \
            + (((x - x0) / h).astype(np.int64) + 1)

    tkey = keys(tz, tx, tk)
    bits = max(int(nt - 1).bit_length(), 1)
    by_key = np.sort((tkey << bits) | np.arange(nt)) & ((1 << bits) - 1)  # targets in key order
    start = np.bincount(tkey + 1, minlength=n_keys + 1)  # where each key's targets start in by_key
    np.cumsum(start, out=start)
    skey = tkey if same else keys(sz, sx, sk)
    lo, cnt = [], []
    for step in steps:
        base = skey + (step * nz * nx - 1)  # the cell left of the point's own, `step` frames later
        for dz in (-nx, 0, nx):  # three rows of three cells: contiguous keys
            first = start[base + dz]
            lo.append(first)
            cnt.append(start[base + dz + 3] - first)
    lo, cnt = np.concatenate(lo), np.concatenate(cnt)
    total = int(cnt.sum())
    if total > 64 * (ns + nt) + 65536:  # clustered points in a wide field: cells too coarse
        return _tree_pairs(spts, sk, tpts, tk, steps, max_d)
    src = np.repeat(np.tile(np.arange(ns), len(steps) * 3), cnt)
    tgt = by_key[np.arange(total) - np.repeat(np.cumsum(cnt) - cnt - lo, cnt)]
    return _exact(scols, src, tcols, tgt, max_d)


def _tree_pairs(spts, sk, tpts, tk, steps, max_d: float):
    """:func:`candidate_pairs` by a KD-tree (for coordinates too spread or clustered for the grid)."""
    from scipy.spatial import cKDTree  # lazy: `import pyulm` stays light

    radius = max_d * (1.0 + 1e-9) + 1e-300
    S = float(np.ceil(2.0 * radius) + 1.0)  # frames S apart are out of reach
    target = cKDTree(np.column_stack([tpts, tk.astype(np.float64) * S]))
    parts = []
    for step in steps:
        pairs = cKDTree(np.column_stack([spts, (sk.astype(np.float64) + step) * S])).sparse_distance_matrix(
            target, radius, output_type="ndarray")
        parts.append(exact_edges(spts, pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), max_d, tpts))
    return tuple(np.concatenate(a) for a in zip(*parts))
