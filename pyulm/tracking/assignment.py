"""Munkres' frame-pair assignments for a whole block at once, exactly as Yi Cao's munkres.

Used by :func:`pyulm.tracking.hungarian_linker` (one frame pair) and by the
batched linking of :mod:`pyulm.tracking.batchlink` (every frame pair). See
:func:`hungarian_edges` for why splitting the graph of linkable pairs into
connected components and proving each optimum unique gives munkres' answer.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from .munkres import munkres


def _lex_solve(cost: np.ndarray, valid: np.ndarray, big: float):
    """Max-cardinality then min-cost assignment on valid pairs: (rows, cols, count, cost)."""
    r, c = _lsa(np.where(valid, cost, big))
    ok = valid[r, c]
    r, c = r[ok], c[ok]
    return r, c, r.size, math.fsum(cost[r, c])


def _unique_by_perturbation(cost, valid, big, rr, cc, kk, best, tol):
    """Whether the optimum ``(rr, cc)`` of :func:`_lex_solve` has a rival within ``tol``
    (True), has none (False), or one solve cannot tell (None).

    Each of its links costs ``eps = 2 tol`` more in a second solve. A rival matching of the
    same size within ``tol`` keeps at most ``kk - 1`` of those links, so it then costs less
    than the optimum by at least ``eps - tol = tol`` (far above the solver's rounding): if
    the second solve still returns the optimum, there is no rival. If it returns a matching
    of the same size within ``tol`` of the optimum, that is a rival. Anything else (a
    matching a little worse than ``tol`` that the perturbation promoted) proves nothing.
    One solve instead of one per link.
    """
    w = np.where(valid, cost, big)
    w[rr, cc] += 2.0 * tol
    r, c = _lsa(w)
    ok = valid[r, c]
    r, c = r[ok], c[ok]
    if np.array_equal(r, rr) and np.array_equal(c, cc):
        return False
    if r.size == kk and math.fsum(cost[r, c]) <= best + tol:
        return True
    return None


def _lsa(w):
    from scipy.optimize import linear_sum_assignment  # lazy: `import pyulm` stays light

    return linear_sum_assignment(w)


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


@lru_cache(maxsize=None)
def _n_partial_maps(r: int, c: int) -> int:
    return sum(math.comb(r, k) * math.perm(c, k) for k in range(min(r, c) + 1))


# Enumerate every matching of a component while (matchings x rows) stays below this: the
# enumeration's cost grows with it, linear_sum_assignment's (one solve per row) does not.
_ENUMERATE_MAX = 6000
_PAD_SIDE = 3  # components of up to 3 x 3 are solved together in one padded shape


def hungarian_batch(d2_list, starts, max_d2: float) -> np.ndarray:
    """Munkres' links for every consecutive frame pair at once, from dense matrices.

    ``d2_list[i]`` is the squared-distance matrix from frame i to frame i+1 and
    ``starts[i]`` the global index of frame i's first point. Returns, for every
    global point, the global index of its successor (-1: none). See
    :func:`hungarian_edges`.
    """
    starts = np.asarray(starts, dtype=np.int64)
    src, tgt, cost = [], [], []
    for i, d2 in enumerate(d2_list):
        if d2.size == 0:
            continue
        ii, jj = np.nonzero(d2 <= max_d2)
        src.append(starts[i] + ii)
        tgt.append(starts[i + 1] + jj)
        cost.append(d2[ii, jj])
    if not src:
        return np.full(int(starts[-1]), -1, dtype=np.int64)
    src, tgt, cost = (np.concatenate(a) for a in (src, tgt, cost))
    pair = np.searchsorted(starts, src, side="right") - 1
    return hungarian_edges(src, tgt, cost, pair, starts, len(d2_list), lambda i: d2_list[i], max_d2)


def hungarian_edges(src, tgt, cost, pair, starts, n_pairs: int, dense, max_d2: float) -> np.ndarray:
    """Munkres' links for every frame pair at once, from the linkable pairs (edges).

    ``src``/``tgt`` are global point indices of the pairs within ``max_d2``,
    ``cost`` their squared distances, ``pair`` the frame pair of each (its
    source frame), all in (src, tgt) order, i.e. each frame pair's matrix in
    row-major order as ``np.nonzero`` lists it; ``dense(i)`` gives pair i's
    whole squared-distance matrix (needed for the rare ties only). Returns,
    for every global point, the global index of its successor (-1: none).

    Why this equals Yi Cao's munkres on each whole frame-pair matrix: with S > 0
    the sum of the valid costs, invalid pairs cost bigM >= 10 S and the padding
    adds a constant, so munkres' total is ``sum(valid costs used) + bigM *
    (#invalid pairs used) + const``: its optimum is the max-cardinality, then
    min-cost matching on valid pairs, which splits over the connected
    components of the graph of valid pairs. When that optimum is unique in
    every component, any exact method finds munkres' answer: an isolated pair
    is linked directly, small components are solved by enumerating all their
    matchings (vectorised over the whole block), larger ones by
    ``linear_sum_assignment`` plus one re-solve per chosen link to prove
    uniqueness. Ties (up to a margin of 1e-9 bigM, far above munkres' own
    rounding at the bigM scale) and the degenerate S = 0 case make the answer
    depend on munkres' scan order: those frame pairs go through
    :func:`munkres` on the whole matrix.
    """
    starts = np.asarray(starts, dtype=np.int64)
    n_total = int(starts[-1])
    nxt = np.full(n_total, -1, dtype=np.int64)
    if src.size == 0:
        return nxt
    s_pair = np.bincount(pair, weights=cost, minlength=n_pairs)
    with np.errstate(divide="ignore"):
        big_m = 10.0 ** (np.ceil(np.log10(s_pair)) + 1)
    tol_pair = 1e-9 * big_m
    fallback = np.zeros(n_pairs, dtype=bool)
    fallback[np.unique(pair)] = s_pair[np.unique(pair)] == 0.0

    rdeg = np.bincount(src, minlength=n_total)
    cdeg = np.bincount(tgt, minlength=n_total)
    single = (rdeg[src] == 1) & (cdeg[tgt] == 1)
    nxt[src[single]] = tgt[single]

    multi = ~single
    if multi.any():
        ms, mt, mc, mp = src[multi], tgt[multi], cost[multi], pair[multi]
        comps, comp = np.unique(_component_labels(ms, mt, n_total), return_inverse=True)
        n_comp = comps.size
        row_rank, n_rows = _rank_within(comp, ms, n_comp, n_total)
        col_rank, n_cols = _rank_within(comp, mt, n_comp, n_total)
        comp_pair = np.zeros(n_comp, dtype=np.int64)
        comp_pair[comp] = mp
        order = np.argsort(comp, kind="stable")
        bounds = np.searchsorted(comp[order], np.arange(n_comp + 1))
        # Small components share one padded shape (a padded row or column has no valid pair,
        # so the matchings and their costs are those of the component): fewer, larger batches.
        side = np.maximum(n_rows, n_cols)
        small = side <= _PAD_SIDE
        n_rows = np.where(small, side, n_rows)
        n_cols = np.where(small, side, n_cols)
        shapes = n_rows * (n_cols.max() + 1) + n_cols
        for shape in np.unique(shapes):
            ks = np.flatnonzero(shapes == shape)
            r, c = int(n_rows[ks[0]]), int(n_cols[ks[0]])
            if _n_partial_maps(r, c) * r <= _ENUMERATE_MAX:
                _solve_enumerated(ks, r, c, comp, row_rank, col_rank, ms, mt, mc, comp_pair, tol_pair, nxt, fallback)
                continue
            for k in ks:
                e = order[bounds[k]:bounds[k + 1]]
                rows = np.empty(r, np.int64)  # the component's nodes in rank order
                cols = np.empty(c, np.int64)
                rows[row_rank[e]] = ms[e]
                cols[col_rank[e]] = mt[e]
                sub = np.zeros((r, c))
                sval = np.zeros((r, c), dtype=bool)
                sub[row_rank[e], col_rank[e]] = mc[e]
                sval[row_rank[e], col_rank[e]] = True
                big = 2.0 * float(mc[e].sum()) + 1.0
                rr, cc, kk, best = _lex_solve(sub, sval, big)
                tie = _unique_by_perturbation(sub, sval, big, rr, cc, kk, best, tol_pair[comp_pair[k]])
                if tie is None:  # not proven either way: one re-solve per link of the optimum
                    tie = False
                    for a, b in zip(rr, cc):
                        # any other optimum avoids at least one link of this one
                        alt_valid = sval.copy()
                        alt_valid[a, b] = False
                        _, _, k2, alt = _lex_solve(sub, alt_valid, big)
                        if k2 == kk and alt <= best + tol_pair[comp_pair[k]]:
                            tie = True
                            break
                if tie:
                    fallback[comp_pair[k]] = True
                else:
                    nxt[rows[rr]] = cols[cc]

    for i in np.flatnonzero(fallback):
        d2 = dense(i)
        a = munkres(np.where(d2 <= max_d2, d2, np.inf))[0]
        seg = slice(starts[i], starts[i + 1])
        nxt[seg] = np.where(a >= 0, starts[i + 1] + a, -1)
    return nxt


def _component_labels(ms: np.ndarray, mt: np.ndarray, n_total: int) -> np.ndarray:
    """A label per edge, equal for the edges of one connected component of the bipartite graph.

    Labels spread along the edges (each node keeps the smallest label it has
    seen) until nothing changes: as many rounds as the longest path in a
    component, a handful for linking graphs; scipy's graph search takes over
    for a long chain.
    """
    lab_s = np.arange(n_total, dtype=np.int64)  # a source's own index...
    lab_t = np.full(n_total, n_total, dtype=np.int64)  # ...targets take the smallest one they see
    lab = lab_s[ms]
    for _ in range(32):
        np.minimum.at(lab_t, mt, lab)
        lab_e = lab_t[mt]
        np.minimum.at(lab_s, ms, lab_e)
        new = lab_s[ms]
        if np.array_equal(new, lab):
            return lab
        lab = new
    from scipy.sparse import coo_matrix  # lazy: `import pyulm` stays light
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(ms.size), (ms, n_total + mt)), shape=(2 * n_total, 2 * n_total))
    return connected_components(graph, directed=False)[1][ms]


def _rank_within(comp: np.ndarray, node: np.ndarray, n_comp: int, n_total: int):
    """Rank of each edge's node among the distinct nodes of its component, and their count."""
    key = comp * n_total + node
    uniq, inv = np.unique(key, return_inverse=True)
    ucomp = uniq // n_total
    first = np.searchsorted(ucomp, np.arange(n_comp))
    count = np.diff(np.append(first, uniq.size))
    return inv - first[ucomp[inv]], count


def _solve_enumerated(ks, r, c, comp, row_rank, col_rank, ms, mt, mc, comp_pair, tol_pair, nxt, fallback):
    """Lexicographic optimum of many small components of shape (r, c) by enumeration."""
    pos = np.full(comp.max() + 1, -1, dtype=np.int64)
    pos[ks] = np.arange(ks.size)
    e = np.flatnonzero(pos[comp] >= 0)
    kp = pos[comp[e]]
    cost = np.zeros((ks.size, r, c + 1))
    valid = np.zeros((ks.size, r, c + 1), dtype=bool)
    valid[:, :, c] = True
    cost[kp, row_rank[e], col_rank[e]] = mc[e]
    valid[kp, row_rank[e], col_rank[e]] = True
    row_node = np.zeros((ks.size, r), dtype=np.int64)
    col_node = np.zeros((ks.size, c), dtype=np.int64)
    row_node[kp, row_rank[e]] = ms[e]
    col_node[kp, col_rank[e]] = mt[e]

    maps = _partial_maps(r, c)
    rows = np.arange(r)
    feasible = valid[:, rows, maps].all(axis=-1)
    total = cost[:, rows, maps].sum(axis=-1)
    card = np.where(feasible, (maps < c).sum(axis=1)[None, :], -1)
    best_card = card.max(axis=1, keepdims=True)
    cand = card == best_card
    total = np.where(cand, total, np.inf)
    best = total.min(axis=1, keepdims=True)
    tol = tol_pair[comp_pair[ks]][:, None]
    unique = np.count_nonzero(total <= best + tol, axis=1) == 1
    fallback[comp_pair[ks[~unique]]] = True
    arg = total.argmin(axis=1)
    chosen = maps[arg]  # (K, r)
    kk, rr = np.nonzero((chosen < c) & unique[:, None])
    nxt[row_node[kk, rr]] = col_node[kk, chosen[kk, rr]]
