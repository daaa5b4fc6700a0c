"""Exact max-cardinality, min-cost matchings of many small bipartite components at once.

The linking graph of a block splits into thousands of tiny components (a
handful of points in one frame competing for a handful in the next). Solving
each with a call to an assignment solver costs more in Python overhead than in
arithmetic, so the components are solved together, vectorised over the
component axis:

* a **star** (one point on one side) takes its cheapest edge;
* a component whose smaller side has ``c <= SUBSET_MAX`` points is solved,
  when its shape is small, by listing all its matchings at once, else by
  dynamic programming over the subsets of that side: rows of the larger side
  are added one at a time and, for every subset of used columns, the two
  cheapest partial matchings are kept. The two best matchings of the largest
  cardinality come out, so a rival within the tie margin is detected, not
  guessed.

Both report, per component, the optimum and whether it is unique within the
component's tie margin ``tol`` (a rival matching of the same size costing at
most ``tol`` more makes it not unique: the caller then defers to munkres).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SUBSET_MAX = 6  # 2**6 subsets per component; larger components go to linear_sum_assignment


def solve_stars(comp, cost, n_comp, tol):
    """Cheapest edge of every star component, and whether it is unique within ``tol``.

    ``comp`` (m,) is the component of every edge, ``cost`` its cost, ``tol``
    (n_comp,) the tie margins. Returns ``(edge, unique)``, both (n_comp,):
    the index of the chosen edge (lowest cost) and whether every other edge of
    the component costs more than that plus ``tol``.
    """
    best = np.full(n_comp, np.inf)
    np.minimum.at(best, comp, cost)
    at_best = cost == best[comp]
    runner = np.full(n_comp, np.inf)
    np.minimum.at(runner, comp[~at_best], cost[~at_best])
    tied = np.bincount(comp[at_best], minlength=n_comp) > 1  # two edges at the minimum: the runner-up ties
    runner[tied] = best[tied]
    edge = np.empty(n_comp, dtype=np.int64)
    edge[comp[at_best]] = np.flatnonzero(at_best)  # with a tie, any of them (the component defers to munkres)
    return edge, runner > best + tol


@lru_cache(maxsize=None)
def _partial_maps(r: int, c: int) -> np.ndarray:
    """Every injective partial map of r rows into c columns, (M, r); value c = unassigned."""
    maps = np.zeros((1, 0), dtype=np.int64)
    for _ in range(r):
        grown = [np.column_stack([maps, np.full(maps.shape[0], c)])]
        for j in range(c):
            free = maps[~(maps == j).any(axis=1)]
            grown.append(np.column_stack([free, np.full(free.shape[0], j)]))
        maps = np.concatenate(grown)
    return maps


def n_matchings(r: int, c: int) -> int:
    """How many partial matchings an r x c component has at most (the enumeration's size)."""
    return sum(math.comb(r, k) * math.perm(c, k) for k in range(min(r, c) + 1))


def solve_enumerated(W: np.ndarray, tol: np.ndarray):
    """:func:`solve_subsets` by listing every partial matching of the (R, c) shape at once.

    A few calls whatever the shape, but ``n_matchings(R, c) * R`` values per
    component: the choice for small shapes, where the subset programme's
    calls (a dozen per row) cost more than the arithmetic.
    """
    R, c, K = W.shape
    maps = _partial_maps(R, c)
    ext = np.concatenate([W, np.zeros((R, 1, K))], axis=1)  # column c: row left unmatched, free
    total = ext[np.arange(R)[None, :], maps, :].sum(axis=1)  # (M, K)
    finite = np.isfinite(total)
    size = (maps < c).sum(axis=1)
    card = np.where(finite, size[:, None], -1).max(axis=0)
    total[size[:, None] != card] = np.inf
    arg = total.argmin(axis=0)
    ks = np.arange(K)
    best = total[arg, ks]
    unique = np.count_nonzero(total <= best + tol, axis=0) == 1
    col = maps[arg].T.copy()
    col[col == c] = -1
    return col, unique


@lru_cache(maxsize=None)
def _subset_tables(c: int):
    """For column j and subset S of c columns: S minus j (the sentinel 2**c if j is not in S), (c, 2**c); and |S|."""
    n_sets = 1 << c
    sets = np.arange(n_sets)
    bit = 1 << np.arange(c)[:, None]
    has = (sets[None, :] & bit) != 0
    pred = np.where(has, sets[None, :] ^ bit, n_sets)
    return pred, has.sum(axis=0)


def solve_subsets(W: np.ndarray, tol: np.ndarray):
    """Max-cardinality, then min-cost matchings of K components by dynamic programming over column subsets.

    Parameters
    ----------
    W : ndarray, shape (R, c, K)
        Cost of row r -> column j of component k; ``inf`` where there is no
        edge (padding rows and columns are all ``inf``). ``c <= SUBSET_MAX``.
    tol : ndarray, shape (K,)
        Tie margins: the optimum is unique when every other matching of the
        same size costs more than the optimum plus ``tol``.

    Returns
    -------
    col : ndarray of int, shape (R, K)
        Column matched to every row, -1 for none.
    unique : ndarray of bool, shape (K,)

    Notes
    -----
    The component axis is the last (contiguous) one and the few candidates of
    a subset are combined slab by slab with element-wise minima: numpy's
    reductions and arg-reductions over a short leading axis cost several
    times more.
    """
    R, c, K = W.shape
    pred, size = _subset_tables(c)
    n_sets = 1 << c
    # best: cheapest matching of the rows so far using exactly the columns of each subset (last: a sentinel,
    # never reachable); second: the cheapest other matching; choice: 0 row unmatched, 1 + j row -> column j
    best = np.full((n_sets + 1, K), np.inf)
    best[0] = 0.0
    second = np.full((n_sets + 1, K), np.inf)
    choice = np.zeros((R, n_sets, K), dtype=np.int8)
    b1, b2 = best[:n_sets], second[:n_sets]
    for r in range(R):
        w = W[r, :, None, :]
        # row r either stays unmatched (same subset) or takes column j (from the subset without j)
        take = best[pred] + w
        take2 = second[pred] + w
        for j in range(c):
            t = take[j]
            np.minimum(b2, np.maximum(b1, t), out=b2)
            np.minimum(b2, take2[j], out=b2)
            np.copyto(choice[r], j + 1, where=t < b1)
            np.minimum(b1, t, out=b1)
    card = np.where(np.isfinite(b1), size[:, None], -1).max(axis=0)
    top = size[:, None] == card
    ranked = np.where(top, b1, np.inf)
    state = ranked.argmin(axis=0)
    ks = np.arange(K)
    opt = ranked[state, ks]
    ranked[state, ks] = np.inf
    unique = np.minimum(ranked.min(axis=0), np.where(top, b2, np.inf).min(axis=0)) > opt + tol
    col = np.empty((R, K), dtype=np.int64)
    for r in range(R - 1, -1, -1):  # walk the choices back from the optimal final subset
        j = choice[r, state, ks] - 1
        col[r] = j
        state = state ^ np.where(j >= 0, 1 << np.maximum(j, 0), 0)
    return col, unique
