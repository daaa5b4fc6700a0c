"""Munkres' frame-pair assignments for a whole block at once, exactly as Yi Cao's munkres.

Used by :func:`pyulm.tracking.hungarian_linker` (one frame pair) and by the
batched linking of :mod:`pyulm.tracking.batchlink` (every frame pair). See
:func:`hungarian_edges` for why splitting the graph of linkable pairs into
connected components and proving each optimum unique gives munkres' answer.
"""
from __future__ import annotations

import math

import numpy as np

from .munkres import munkres
from .radix import stable_argsort
from .smallmatch import SUBSET_MAX, n_matchings, solve_enumerated, solve_stars, solve_subsets


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


# A size class is solved by listing all its matchings while that takes at most this many values (a few
# calls); above, by the subset programme (a dozen calls per row, little arithmetic).
_ENUMERATE_MAX = 100000


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
    source frame), in any order; ``dense(i)`` gives pair i's
    whole squared-distance matrix (needed for the rare ties only). Returns,
    for every global point, the global index of its successor (-1: none).

    Why this equals Yi Cao's munkres on each whole frame-pair matrix: with S > 0
    the sum of the valid costs, invalid pairs cost bigM >= 10 S and the padding
    adds a constant, so munkres' total is ``sum(valid costs used) + bigM *
    (#invalid pairs used) + const``: its optimum is the max-cardinality, then
    min-cost matching on valid pairs, which splits over the connected
    components of the graph of valid pairs. When that optimum is unique in
    every component, any exact method finds munkres' answer: an isolated pair
    is linked directly, stars and components with at most ``SUBSET_MAX``
    points on one side are solved with their runner-up (vectorised over the
    whole block, :mod:`.smallmatch`), larger ones by ``linear_sum_assignment``
    plus a perturbed re-solve to prove uniqueness. Ties (up to a margin of 1e-9 bigM, far above munkres' own
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
    fallback = (s_pair == 0.0) & (np.bincount(pair, minlength=n_pairs) > 0)

    rdeg = np.bincount(src, minlength=n_total)
    cdeg = np.bincount(tgt, minlength=n_total)
    single = (rdeg[src] == 1) & (cdeg[tgt] == 1)
    nxt[src[single]] = tgt[single]

    multi = ~single
    if multi.any():
        _solve_components(src[multi], tgt[multi], cost[multi], pair[multi], n_total, tol_pair, nxt, fallback)

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


def _node_ranks(comp: np.ndarray, node: np.ndarray, n_comp: int, n_total: int):
    """Rank of each edge's node among its component's nodes on that side (ascending index), and their count.

    A node belongs to one component, so its distinct nodes are found with a
    mask and grouped by component with one stable sort.
    """
    comp_of = np.empty(n_total, dtype=np.int64)
    comp_of[node] = comp
    mark = np.zeros(n_total, dtype=bool)
    mark[node] = True
    nodes = np.flatnonzero(mark)
    c = comp_of[nodes]
    count = np.bincount(c, minlength=n_comp)
    order = stable_argsort(c)
    rank = np.empty(n_total, dtype=np.int64)
    rank[nodes[order]] = np.arange(nodes.size) - np.repeat(np.cumsum(count) - count, count)
    return rank[node], count


def _solve_components(ms, mt, mc, mp, n_total, tol_pair, nxt, fallback) -> None:
    """Lexicographic optimum of every component with more than one edge, into ``nxt``; ties flag ``fallback``.

    Components are solved together by size class (:mod:`.smallmatch`): stars
    directly, those whose smaller side has at most ``SUBSET_MAX`` points by the
    subset dynamic programme, the rare larger ones by
    ``linear_sum_assignment`` with a uniqueness proof.
    """
    lab = _component_labels(ms, mt, n_total)
    present = np.zeros(int(lab.max()) + 1, dtype=bool)
    present[lab] = True
    comp = (np.cumsum(present) - 1)[lab]
    n_comp = int(comp.max()) + 1
    row_rank, n_rows = _node_ranks(comp, ms, n_comp, n_total)
    col_rank, n_cols = _node_ranks(comp, mt, n_comp, n_total)
    comp_pair = np.zeros(n_comp, dtype=np.int64)
    comp_pair[comp] = mp
    tol = tol_pair[comp_pair]
    small = np.minimum(n_rows, n_cols)
    # the smaller side is the DP's column side: rows are the larger side
    flip = n_rows < n_cols
    a_rank = np.where(flip[comp], col_rank, row_rank)
    b_rank = np.where(flip[comp], row_rank, col_rank)
    a_node = np.where(flip[comp], mt, ms)
    b_node = np.where(flip[comp], ms, mt)

    # comps and their edges grouped by size class (1: star, 2..SUBSET_MAX: subset DP, above: large), edges
    # of a comp together; `pos`: a comp's place within its class
    size_class = np.minimum(small, SUBSET_MAX + 1)
    comp_order = stable_argsort(size_class)
    comp_bounds = np.searchsorted(size_class[comp_order], np.arange(SUBSET_MAX + 3))
    pos = np.empty(n_comp, dtype=np.int64)
    pos[comp_order] = np.arange(n_comp) - comp_bounds[size_class[comp_order]]
    edge_order = stable_argsort(size_class[comp] * n_comp + comp)
    edge_bounds = np.searchsorted(size_class[comp[edge_order]], np.arange(SUBSET_MAX + 3))

    for c in range(1, SUBSET_MAX + 1):
        ks = comp_order[comp_bounds[c]:comp_bounds[c + 1]]
        if ks.size == 0:
            continue
        e = edge_order[edge_bounds[c]:edge_bounds[c + 1]]
        kp = pos[comp[e]]
        if c == 1:
            edge, unique = solve_stars(kp, mc[e], ks.size, tol[ks])
            fallback[comp_pair[ks[~unique]]] = True
            edge = e[edge[unique]]
            nxt[ms[edge]] = mt[edge]
            continue
        R = int(np.maximum(n_rows, n_cols)[ks].max())
        W = np.full((R, c, ks.size), np.inf)
        W[a_rank[e], b_rank[e], kp] = mc[e]
        rows = np.zeros((ks.size, R), dtype=np.int64)
        cols = np.zeros((ks.size, c), dtype=np.int64)
        rows[kp, a_rank[e]] = a_node[e]
        cols[kp, b_rank[e]] = b_node[e]
        solve = solve_enumerated if n_matchings(R, c) * R * ks.size <= _ENUMERATE_MAX else solve_subsets
        col, unique = solve(W, tol[ks])
        fallback[comp_pair[ks[~unique]]] = True
        rr, kk = np.nonzero((col >= 0) & unique)
        a, b = rows[kk, rr], cols[kk, col[rr, kk]]
        f = flip[ks[kk]]
        nxt[np.where(f, b, a)] = np.where(f, a, b)
    e = edge_order[edge_bounds[SUBSET_MAX + 1]:]
    if e.size:
        ks = comp_order[comp_bounds[SUBSET_MAX + 1]:]
        bounds = np.searchsorted(comp[e], ks, side="right")  # edges of a comp are together, comps ascending
        for k, lo, hi in zip(ks.tolist(), np.concatenate([[0], bounds[:-1]]).tolist(), bounds.tolist()):
            _solve_large(e[lo:hi], int(n_rows[k]), int(n_cols[k]), ms, mt, mc, row_rank, col_rank, float(tol[k]),
                         int(comp_pair[k]), nxt, fallback)


def _solve_large(e, r, c, ms, mt, mc, row_rank, col_rank, tol, pair, nxt, fallback) -> None:
    """One component with edges ``e`` by ``linear_sum_assignment``, proven unique within ``tol`` or deferred."""
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
    tie = _unique_by_perturbation(sub, sval, big, rr, cc, kk, best, tol)
    if tie is None:  # not proven either way: one re-solve per link of the optimum
        tie = False
        for a, b in zip(rr, cc):
            # any other optimum avoids at least one link of this one
            alt_valid = sval.copy()
            alt_valid[a, b] = False
            _, _, k2, alt = _lex_solve(sub, alt_valid, big)
            if k2 == kk and alt <= best + tol:
                tie = True
                break
    if tie:
        fallback[pair] = True
    else:
        nxt[rows[rr]] = cols[cc]
