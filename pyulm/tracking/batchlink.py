"""simpletracker's linking for a whole block at once: one candidate search, one assignment, one gap closing.

:func:`link_points` gives the links of Tinevez's simpletracker (Hungarian
frame-to-frame links by Yi Cao's munkres, then greedy gap closing) without a
Python loop over frames; ``tests/test_tracking.py`` checks it against the
frame-by-frame algorithm built from the public linkers.
"""
from __future__ import annotations

import numpy as np

from .assignment import hungarian_batch, hungarian_edges
from .linkers import squared_distances

__all__ = ["link_points"]


def _exact_edges(pts: np.ndarray, src: np.ndarray, tgt: np.ndarray, max_d: float):
    """The candidate pairs within ``max_d`` by their exact squared distance, sorted by (src, tgt).

    Squared distances are summed over dimensions in order, as
    :func:`squared_distances` does, so ties and the inclusive limit come out as
    in simpletracker.
    """
    d2 = np.zeros(src.size)
    for col in range(pts.shape[1]):
        diff = pts[tgt, col] - pts[src, col]
        d2 += diff * diff
    keep = d2 <= max_d * max_d
    src, tgt, d2 = src[keep], tgt[keep], d2[keep]
    order = np.argsort(src * pts.shape[0] + tgt, kind="stable")
    return src[order], tgt[order], d2[order]


def _candidate_edges(pts: np.ndarray, k: np.ndarray, step: int, max_d: float):
    """Every pair (a, b) with ``k[b] == k[a] + step`` and squared distance <= max_d**2, in one search.

    ``pts`` (n, d) are sorted by the frame index ``k``. The points are binned
    on a grid of cells a little larger than ``max_d`` in the first two
    dimensions, keyed by (frame, cell); for each source the 3 x 3 cells around
    its own in frame ``k + step`` are looked up by binary search in the
    sorted keys, all sources and cells at once. The exact squared distances
    (summed over dimensions in order, as :func:`squared_distances`) decide.
    Returns ``(src, tgt, d2)`` sorted by (src, tgt), i.e. each frame pair's
    matrix in row-major order.
    """
    n = pts.shape[0]
    cell = max_d * (1.0 + 1e-6) if max_d > 0 else 1.0  # the margin covers rounding in pts / cell
    c = np.floor(pts[:, :2] / cell) if pts.shape[1] >= 2 else np.column_stack([np.floor(pts[:, 0] / cell), np.zeros(n)])
    lo = c.min(axis=0) - 1
    span = c.max(axis=0) - lo + 2
    if float(span[0]) * float(span[1]) * float(int(k[-1]) + step + 1) > 2.0 ** 62:
        return _candidate_edges_tree(pts, k, step, max_d)
    cz = (c[:, 0] - lo[0]).astype(np.int64)
    cx = (c[:, 1] - lo[1]).astype(np.int64)
    nz, nx = int(span[0]), int(span[1])
    key = (k.astype(np.int64) * nz + cz) * nx + cx
    order = np.argsort(key, kind="stable")
    skey = key[order]
    base = ((k.astype(np.int64) + step) * nz + cz) * nx + cx
    # Sources in key order make the lookups sorted queries (cache-friendly binary searches);
    # the three cells of a row z are contiguous in the key: one range per row offset.
    base = base[order]
    srcs, tgts = [], []
    for dz in (-1, 0, 1):
        q = base + dz * nx
        first = np.searchsorted(skey, q - 1, side="left")
        cnt = np.searchsorted(skey, q + 1, side="right") - first
        total = int(cnt.sum())
        if total == 0:
            continue
        srcs.append(np.repeat(order, cnt))
        tgts.append(order[np.arange(total) - np.repeat(np.cumsum(cnt) - cnt - first, cnt)])
    if not srcs:
        srcs = tgts = [np.zeros(0, dtype=np.int64)]
    return _exact_edges(pts, np.concatenate(srcs), np.concatenate(tgts), max_d)


def _candidate_edges_tree(pts: np.ndarray, k: np.ndarray, step: int, max_d: float):
    """:func:`_candidate_edges` by a KD-tree (for coordinates too spread for the grid's integer keys)."""
    from scipy.spatial import cKDTree  # lazy: `import pyulm` stays light

    radius = max_d * (1.0 + 1e-9) + 1e-300
    S = float(np.ceil(2.0 * radius) + 1.0)  # frames S apart are out of reach
    kf = k.astype(np.float64)
    pairs = cKDTree(np.column_stack([pts, (kf + step) * S])).sparse_distance_matrix(
        cKDTree(np.column_stack([pts, kf * S])), radius, output_type="ndarray")
    return _exact_edges(pts, pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), max_d)


def link_points(pts: np.ndarray, k: np.ndarray, max_d: float, max_gap_closing: int) -> np.ndarray:
    """simpletracker's links (Hungarian, then greedy gap closing) as a successor array.

    ``pts`` (n, d) sorted by the 0-based frame index ``k`` (non-decreasing);
    returns for every point the index of the next point of its track, -1 at
    the end. Candidate pairs of every frame pair come from one grid search
    and the assignments of every frame pair are solved at once, so there is no
    cost per frame; the links are those of the per-frame algorithm
    (simpletracker with munkres), see ``tests/test_tracking.py``.
    """
    n = pts.shape[0]
    if n == 0:
        return np.full(0, -1, dtype=np.int64)
    n_frames = int(k[-1]) + 1
    starts = np.searchsorted(k, np.arange(n_frames + 1))

    def dense(i):
        return squared_distances(pts[starts[i]:starts[i + 1]], pts[starts[i + 1]:starts[i + 2]])

    if not np.isfinite(max_d):  # every pair is a candidate: the dense matrices are the edges
        d2_list = [dense(i) for i in range(n_frames - 1)]
        nxt = hungarian_batch(d2_list, starts, np.inf)
    else:
        src, tgt, d2 = _candidate_edges(pts, k, 1, max_d)
        nxt = hungarian_edges(src, tgt, d2, k[src], starts, max(n_frames - 1, 0), dense, max_d * max_d)
    if max_gap_closing >= 2 and n_frames > 2:
        _close_gaps_edges(pts, k, nxt, max_d, max_gap_closing)
    return nxt


def _close_gaps_edges(pts, k, nxt, max_d: float, max_gap_closing: int) -> None:
    """Greedy gap closing, frame i to frames i+2 .. i+max_gap_closing in that order, in place.

    simpletracker visits the frame pairs (i, j) in that order and, on each,
    links the still-unmatched points greedily: repeatedly the closest pair
    (ties: lowest source, then lowest target index), which is what the
    nearest-neighbour linker's rounds amount to. The whole procedure is thus
    the greedy matching of the edges ordered by (frame i, frame j, squared
    distance, source, target), a strict order; and the greedy matching of a
    strict order is reached by taking, again and again, every edge that comes
    first at both of its ends (a "locally dominant" edge) and dropping the
    edges of the points it matched. Those rounds are vectorised.
    """
    has_in = np.zeros(nxt.size, dtype=bool)
    has_in[nxt[nxt >= 0]] = True
    # only points still free at one end take part: search among them (still sorted by frame)
    sub = np.flatnonzero((nxt < 0) | ~has_in)
    if sub.size == 0:
        return
    ps, ks = pts[sub], k[sub]
    parts = []
    for step in range(2, max_gap_closing + 1):
        if np.isfinite(max_d):
            src, tgt, d2 = _candidate_edges(ps, ks, step, max_d)
        else:
            pos = np.searchsorted(ks, ks + step)  # every pair `step` frames apart
            end = np.searchsorted(ks, ks + step, side="right")
            src = np.repeat(np.arange(ks.size), end - pos)
            tgt = np.arange(src.size) - np.repeat(np.cumsum(end - pos) - (end - pos) - pos, end - pos)
            src, tgt, d2 = _exact_edges(ps, src, tgt, max_d)
        src, tgt = sub[src], sub[tgt]
        free = (nxt[src] < 0) & ~has_in[tgt]
        parts.append((src[free], tgt[free], d2[free]))
    src, tgt, d2 = (np.concatenate(a) for a in zip(*parts))
    if src.size == 0:
        return
    order = np.lexsort((tgt, src, d2, k[tgt], k[src]))
    src, tgt = src[order], tgt[order]
    rank = np.arange(src.size)
    n, none = nxt.size, src.size
    while src.size:
        first_s = np.full(n, none)
        first_t = np.full(n, none)
        np.minimum.at(first_s, src, rank)
        np.minimum.at(first_t, tgt, rank)
        take = (first_s[src] == rank) & (first_t[tgt] == rank)
        nxt[src[take]] = tgt[take]
        used_s = np.zeros(n, dtype=bool)
        used_t = np.zeros(n, dtype=bool)
        used_s[src[take]] = True
        used_t[tgt[take]] = True
        keep = ~(used_s[src] | used_t[tgt])
        src, tgt, rank = src[keep], tgt[keep], rank[keep]
