"""Tinevez's simpletracker (v1.3, BSD licence), reimplemented with 0-based indices.

Frame-to-frame links come from the Hungarian linker (or the greedy nearest
neighbour), then gaps of up to ``max_gap_closing - 1`` missing frames are
bridged with the greedy linker between still-unmatched points, then tracks are
read off the links starting from every point without an incoming link, in
ascending global index. With the Hungarian linker the whole block is linked at
once by :func:`pyulm.tracking.batchlink.link_points` (same links, no loop over
frames).
"""
from __future__ import annotations

import numbers

import numpy as np

from .batchlink import link_points
from .linkers import _points, nearest_neighbor_linker

__all__ = ["simpletracker"]

_METHODS = ("hungarian", "nearestneighbor")


def _check_distance(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not v >= 0:
        raise ValueError(f"{name}: expected a number >= 0 (inf allowed), got {v!r}")
    return float(v)


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
    adjacency = assemble_tracks(nxt)

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


def assemble_tracks(nxt: np.ndarray) -> list:
    """Tracks from a successor array: one per point without predecessor, in index order.

    The list form of :func:`track_order`: track i is ``order[offsets[i]:offsets[i + 1]]``.
    """
    order, offsets = track_order(nxt)
    bounds = offsets.tolist()
    return [order[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def track_order(nxt: np.ndarray):
    """Tracks from a successor array as ``(order, offsets)``: every point, track after track.

    One track per point without predecessor, tracks in the order of their
    first point, each track's points in index order; track i is
    ``order[offsets[i]:offsets[i + 1]]`` (the layout of a Tracks table).
    Links always go to a later frame, so to a larger global index: a track's
    points in index order are its chain. Pointer jumping (log2 of the longest
    track passes over the array) gives every point its track's first point
    and its depth in the track, hence its place in the output, without a sort.
    """
    n = nxt.size
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
    src = np.flatnonzero(nxt >= 0)
    if np.any(nxt[src] <= src):
        raise RuntimeError("simpletracker: internal error, a link goes backwards in the global index")
    up = np.arange(n)
    up[nxt[src]] = src  # predecessor (self for a track start)
    depth = np.zeros(n, dtype=np.int64)
    depth[nxt[src]] = 1
    while True:
        jumped = up[up]
        if np.array_equal(jumped, up):
            break
        depth += depth[up]
        up = jumped
    number = np.cumsum(up == np.arange(n)) - 1  # at a start: its track's number, starts in index order
    track_id = number[up]
    offsets = np.zeros(int(number[-1]) + 2, dtype=np.int64)
    np.cumsum(np.bincount(track_id, minlength=offsets.size - 1), out=offsets[1:])
    order = np.empty(n, dtype=np.int64)
    order[offsets[track_id] + depth] = np.arange(n)
    return order, offsets
