"""Frame-to-frame linkers of Tinevez's simpletracker: Hungarian and greedy nearest neighbour.

Behaviour follows J.-Y. Tinevez's ``hungarianlinker.m`` and
``nearestneighborlinker.m`` (simpletracker v1.3, BSD licence), reimplemented.
Indices are 0-based and ``-1`` marks "no target" (MATLAB: 1-based, ``-1``).

Speed: :func:`hungarian_linker` does not run the O(n^3) Munkres algorithm on
every frame pair. It splits the bipartite graph of linkable pairs into connected
components and solves each one on its own, which gives the same links as
Munkres on the whole matrix whenever the optimum is unique, and checks that it
is; see :mod:`pyulm.tracking.assignment` for the argument.
"""
from __future__ import annotations

import math

import numpy as np

from .assignment import hungarian_batch

__all__ = ["hungarian_linker", "nearest_neighbor_linker", "squared_distances"]


def _points(a, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim == 1 and arr.size == 0:
        arr = arr.reshape(0, 2)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected an (n_points, n_dims) array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: positions must be finite, got NaN or Inf")
    return arr


def _max_distance(v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"max_distance: expected a number >= 0 (inf allowed), got {v!r}") from None
    if not v >= 0:
        raise ValueError(f"max_distance: expected a number >= 0 (inf allowed), got {v!r}")
    return v


def _linker_args(source, target, max_distance):
    """Checked ``(source, target, max_distance)`` of a frame-to-frame linker."""
    src = _points(source, "source")
    tgt = _points(target, "target")
    if src.shape[0] and tgt.shape[0] and src.shape[1] != tgt.shape[1]:
        raise ValueError(f"target: expected {src.shape[1]} columns like source, got shape {tgt.shape}")
    return src, tgt, _max_distance(max_distance)


def squared_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(n_source, n_target) squared Euclidean distances, summed over dimensions in order.

    The summation order (dimension 0 first) is Tinevez's, so exact ties and
    the ``<= max_distance**2`` test come out as in MATLAB.
    """
    d = np.zeros((source.shape[0], target.shape[0]))
    for k in range(source.shape[1]):
        diff = target[None, :, k] - source[:, None, k]
        d += diff * diff
    return d


def _unassigned(target_indices: np.ndarray, n_target: int) -> np.ndarray:
    used = np.zeros(n_target, dtype=bool)
    used[target_indices[target_indices >= 0]] = True
    return np.flatnonzero(~used)


def hungarian_linker(source, target, max_distance=np.inf):
    """Optimal frame-to-frame links minimising the sum of squared distances.

    Parameters
    ----------
    source : array_like, shape (n_source, n_dims)
        Positions in the first frame (any unit). Not modified.
    target : array_like, shape (n_target, n_dims)
        Positions in the next frame, same unit.
    max_distance : float, optional
        Pairs farther apart than this (strictly) are never linked; a distance
        exactly equal is allowed. Default: no limit.

    Returns
    -------
    target_indices : ndarray of int, shape (n_source,)
        0-based target linked to each source, ``-1`` if none.
    target_distances : ndarray of float, shape (n_source,)
        Distance of each link, NaN for unlinked sources.
    unassigned_targets : ndarray of int
        Sorted 0-based indices of the targets that received no link.

    Notes
    -----
    The result is exactly that of ``hungarianlinker.m`` + Yi Cao's
    ``munkres.m`` (tie-breaking and the degenerate all-zero-cost case
    included), computed component by component for speed.

    Examples
    --------
    >>> idx, dist, free = hungarian_linker([[0, 0], [5, 5]], [[5, 5.1], [0.1, 0], [9, 9]], 1)
    >>> idx.tolist(), free.tolist()
    ([1, 0], [2])
    """
    src, tgt, md = _linker_args(source, target, max_distance)
    d2 = squared_distances(src, tgt) if src.shape[0] and tgt.shape[0] else np.zeros((src.shape[0], tgt.shape[0]))
    idx = _hungarian_assign(d2, md * md)
    dist = np.full(src.shape[0], np.nan)
    ok = idx >= 0
    dist[ok] = np.sqrt(d2[np.flatnonzero(ok), idx[ok]])
    return idx, dist, _unassigned(idx, tgt.shape[0])


def _hungarian_assign(d2: np.ndarray, max_d2: float) -> np.ndarray:
    """Munkres' links for one squared-distance matrix (see :func:`pyulm.tracking.assignment.hungarian_batch`)."""
    n, m = d2.shape
    if n == 0 or m == 0:
        return np.full(n, -1, dtype=np.int64)
    nxt = hungarian_batch([d2], [0, n, n + m], max_d2)
    out = nxt[:n]
    return np.where(out >= 0, out - n, -1)


def nearest_neighbor_linker(source, target, max_distance=np.inf):
    """Greedy links: repeatedly take the closest remaining pairs.

    Used by simpletracker for gap closing. Each round computes every source's
    nearest remaining target (first index among ties), walks the sources by
    that distance (stable sort) and links them until a wanted target is
    already taken, then recomputes.

    Parameters
    ----------
    source : array_like, shape (n_source, n_dims)
    target : array_like, shape (n_target, n_dims)
    max_distance : float, optional
        Pairs farther apart than this (strictly) are never linked.

    Returns
    -------
    target_indices : ndarray of int, shape (n_source,)
        0-based target linked to each source, ``-1`` if none.
    target_distances : ndarray of float, shape (n_source,)
        Distance of each link, NaN for unlinked sources.
    unassigned_targets : ndarray of int
        Sorted 0-based indices of the targets that received no link.

    Examples
    --------
    >>> idx, _, free = nearest_neighbor_linker([[0, 0], [1, 0]], [[0.9, 0], [3, 0]], 2.5)
    >>> idx.tolist(), free.tolist()
    ([-1, 0], [1])
    """
    src, tgt, md = _linker_args(source, target, max_distance)
    n, m = src.shape[0], tgt.shape[0]
    idx = np.full(n, -1, dtype=np.int64)
    dist = np.full(n, np.nan)
    if n == 0 or m == 0:
        return idx, dist, _unassigned(idx, m)
    d = squared_distances(src, tgt)
    d[d > md * md] = np.inf
    taken = np.zeros(m, dtype=bool)
    while np.isfinite(d).any():
        best = d.argmin(axis=1)
        best_d = d[np.arange(n), best]
        for s in np.argsort(best_d, kind="stable"):
            t = best[s]
            if taken[t]:
                break
            idx[s] = t
            taken[t] = True
            dist[s] = math.sqrt(best_d[s])
            d[:, t] = np.inf
            d[s, :] = np.inf
            if not np.isfinite(d).any():
                break
    return idx, dist, _unassigned(idx, m)
