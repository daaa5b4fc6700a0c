"""Tinevez's simpletracker (v1.3, BSD licence), reimplemented with 0-based indices.

Frame-to-frame links come from the Hungarian linker (or the greedy nearest
neighbour), then gaps of up to ``max_gap_closing - 1`` missing frames are
bridged with the greedy linker between still-unmatched points, then tracks are
read off the links starting from every point without an incoming link, in
ascending global index.
"""
from __future__ import annotations

import numbers

import numpy as np

from .linkers import _hungarian_batch, _hungarian_edges, _points, nearest_neighbor_linker, squared_distances

__all__ = ["simpletracker"]

_METHODS = ("hungarian", "nearestneighbor")


def _check_distance(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
        raise ValueError(f"{name}: expected a number >= 0 (inf allowed), got {v!r}")
    return float(v)


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
        nxt = _hungarian_batch(d2_list, starts, np.inf)
    else:
        src, tgt, d2 = _candidate_edges(pts, k, 1, max_d)
        nxt = _hungarian_edges(src, tgt, d2, k[src], starts, max(n_frames - 1, 0), dense, max_d * max_d)
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


def _nearest_neighbor_links(points, max_d: float):
    """Greedy links between consecutive frames: (next_of_global, starts, unmatched_sources, unmatched_targets)."""
    n_frames = len(points)
    counts = np.array([p.shape[0] for p in points], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    nxt = np.full(int(starts[-1]), -1, dtype=np.int64)
    unmatched_src = [np.zeros(0, np.int64) for _ in range(n_frames)]
    unmatched_tgt = [np.arange(c, dtype=np.int64) for c in counts]
    for i in range(n_frames - 1):
        if points[i].shape[0] == 0 or points[i + 1].shape[0] == 0:
            idx = np.full(points[i].shape[0], -1, dtype=np.int64)
        else:
            idx = nearest_neighbor_linker(points[i], points[i + 1], max_d)[0]
            linked = np.flatnonzero(idx >= 0)
            nxt[starts[i] + linked] = starts[i + 1] + idx[linked]
        unmatched_src[i] = np.flatnonzero(idx < 0)
        used = np.zeros(points[i + 1].shape[0], dtype=bool)
        used[idx[idx >= 0]] = True
        unmatched_tgt[i + 1] = np.flatnonzero(~used)
    return nxt, starts, unmatched_src, unmatched_tgt


def simpletracker(points_per_frame, max_linking_distance=np.inf, max_gap_closing=3, method="hungarian"):
    """Link points frame to frame into tracks, as Tinevez's ``simpletracker.m``.

    Parameters
    ----------
    points_per_frame : sequence of array_like, each (n_i, n_dims)
        Positions in each frame (any unit, the same in every frame); a frame may
        be empty. Not modified.
    max_linking_distance : float, optional
        Largest distance (inclusive) of a link, same unit as the points.
        Default: no limit.
    max_gap_closing : int, optional
        Links may skip up to ``max_gap_closing - 1`` frames (greedy nearest
        neighbour between unmatched points); 0 or 1 disables gap closing.
        Default 3, as simpletracker (PALA passes its own value, usually 0).
    method : {"hungarian", "nearestneighbor"}, optional
        Frame-to-frame linker. Default "hungarian".

    Returns
    -------
    tracks : list of ndarray of float, each (n_frames,)
        For each track, the 0-based in-frame index of its point in every frame,
        NaN where the track has no point.
    adjacency_tracks : list of ndarray of int
        For each track, the 0-based global indices of its points (global index =
        points in earlier frames + in-frame index). Tracks are ordered by the
        global index of their first point.
    adjacency : scipy.sparse.csr_matrix, (n_total, n_total)
        1 at (source, target) for every link.

    Examples
    --------
    >>> pts = [[[0, 0], [5, 5]], [[0.1, 0], [5, 5.1]], [[0.2, 0], [9, 9]]]
    >>> _, adj, _ = simpletracker(pts, max_linking_distance=1, max_gap_closing=0)
    >>> [a.tolist() for a in adj]
    [[0, 2, 4], [1, 3], [5]]
    """
    if isinstance(method, str) and method.lower().replace("_", "") in _METHODS:
        method = method.lower().replace("_", "")
    else:
        raise ValueError(f"method: expected one of {list(_METHODS)}, got {method!r}")
    max_d = _check_distance(max_linking_distance, "max_linking_distance")
    if isinstance(max_gap_closing, bool) or not isinstance(max_gap_closing, numbers.Real) or max_gap_closing < 0 \
            or max_gap_closing != int(max_gap_closing):
        raise ValueError(f"max_gap_closing: expected a whole number >= 0, got {max_gap_closing!r}")
    points = [_points(p, f"points_per_frame[{i}]") for i, p in enumerate(points_per_frame)]
    dims = {p.shape[1] for p in points if p.shape[0]}
    if len(dims) > 1:
        raise ValueError(f"points_per_frame: every frame must have the same number of columns, got {sorted(dims)}")
    n_frames = len(points)
    counts = np.array([p.shape[0] for p in points], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)])
    if method == "hungarian":
        dim = dims.pop() if dims else 2
        pts = np.concatenate([p.reshape(-1, dim) for p in points]) if n_frames else np.zeros((0, dim))
        nxt = link_points(pts, np.repeat(np.arange(n_frames), counts), max_d, int(max_gap_closing))
    else:
        nxt, starts, unmatched_src, unmatched_tgt = _nearest_neighbor_links(points, max_d)
        _close_gaps(points, nxt, starts, unmatched_src, unmatched_tgt, max_d, int(max_gap_closing))
    adjacency = _assemble(nxt)

    frame_of = np.repeat(np.arange(n_frames), np.diff(starts))
    tracks = []
    for adj in adjacency:
        t = np.full(n_frames, np.nan)
        t[frame_of[adj]] = adj - starts[frame_of[adj]]
        tracks.append(t)
    n_total = int(starts[-1])
    src = np.flatnonzero(nxt >= 0)
    from scipy.sparse import coo_matrix  # lazy: `import pyulm` stays light

    A = coo_matrix((np.ones(src.size), (src, nxt[src])), shape=(n_total, n_total)).tocsr()
    return tracks, adjacency, A


def _close_gaps(points, nxt, starts, unmatched_src, unmatched_tgt, max_d: float, max_gap_closing: int) -> None:
    """Greedy links from frame i to frames i+2 .. i+max_gap_closing, in place."""
    n_frames = len(points)
    for i in range(n_frames - 2):
        for j in range(i + 2, min(i + max_gap_closing, n_frames - 1) + 1):
            us, ut = unmatched_src[i], unmatched_tgt[j]
            if us.size == 0 or ut.size == 0:
                continue
            idx = nearest_neighbor_linker(points[i][us], points[j][ut], max_d)[0]
            linked = np.flatnonzero(idx >= 0)
            if linked.size == 0:
                continue
            nxt[starts[i] + us[linked]] = starts[j] + ut[idx[linked]]
            unmatched_src[i] = np.delete(us, linked)
            unmatched_tgt[j] = np.delete(ut, idx[linked])


def _assemble(nxt: np.ndarray) -> list:
    """Tracks from a successor array: one per point without predecessor, in index order.

    Links always go to a later frame, so to a larger global index: a track's
    points in index order are its chain. Each point's track start is found by
    pointer jumping (log2 of the longest track passes over the array), and a
    stable sort by start groups the tracks, each in index order.
    """
    n = nxt.size
    if n == 0:
        return []
    src = np.flatnonzero(nxt >= 0)
    if np.any(nxt[src] <= src):
        raise RuntimeError("simpletracker: internal error, a link goes backwards in the global index")
    root = np.arange(n)
    root[nxt[src]] = src  # predecessor (self for a track start)
    while True:
        jumped = root[root]
        if np.array_equal(jumped, root):
            break
        root = jumped
    order = np.argsort(root, kind="stable")
    sizes = np.bincount(root, minlength=n)
    sizes = sizes[sizes > 0]  # track starts in ascending index, as np.unique(root) orders them
    ends = np.cumsum(sizes).tolist()
    return [order[a:b] for a, b in zip([0] + ends[:-1], ends)]
