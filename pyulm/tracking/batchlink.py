"""simpletracker's linking for a whole block at once: one candidate search, one assignment, one gap closing.

:func:`link_points` gives the links of Tinevez's simpletracker (Hungarian
frame-to-frame links by Yi Cao's munkres, then greedy gap closing) without a
Python loop over frames; ``tests/test_tracking.py`` checks it against the
frame-by-frame algorithm built from the public linkers.
"""
from __future__ import annotations

import numpy as np

from .assignment import hungarian_batch, hungarian_edges
from .candidates import candidate_edges, candidate_pairs, exact_edges
from .linkers import squared_distances
from .radix import stable_argsort

__all__ = ["link_points"]


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
        src, tgt, d2 = candidate_edges(pts, k, [1], max_d)
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
    n_pts = nxt.size
    has_in = np.zeros(n_pts, dtype=bool)
    has_in[nxt[nxt >= 0]] = True
    # only track ends (sources) and track starts (targets) take part: search among them (still sorted by frame)
    ends, starts = np.flatnonzero(nxt < 0), np.flatnonzero(~has_in)
    if ends.size == 0 or starts.size == 0:
        return
    if np.isfinite(max_d):
        src, tgt, d2 = candidate_pairs(pts[ends], k[ends], pts[starts], k[starts], range(2, max_gap_closing + 1),
                                       max_d)
    else:
        ke, ks = k[ends], k[starts]
        parts = []
        for step in range(2, max_gap_closing + 1):
            pos = np.searchsorted(ks, ke + step)  # every pair `step` frames apart
            cnt = np.searchsorted(ks, ke + step, side="right") - pos
            src = np.repeat(np.arange(ke.size), cnt)
            tgt = np.arange(src.size) - np.repeat(np.cumsum(cnt) - cnt - pos, cnt)
            parts.append(exact_edges(pts[ends], src, tgt, max_d, pts[starts]))
        src, tgt, d2 = (np.concatenate(a) for a in zip(*parts))
    src, tgt = ends[src], starts[tgt]
    if src.size == 0:
        return
    # (frame i, frame j, d2, src, tgt): src fixes frame i, so (frame i, step, rank of d2) packs into one
    # integer, sorted (stably) after the unique (src, tgt)
    order = np.argsort(src * n_pts + tgt)
    levels, rank_d2 = np.unique(d2[order], return_inverse=True)
    step = k[tgt[order]] - k[src[order]]  # 2 .. max_gap_closing
    order = order[stable_argsort((k[src[order]] * (max_gap_closing + 1) + step) * levels.size + rank_d2)]
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
