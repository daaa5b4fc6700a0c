"""The batched small-component matchings (stars, subset DP) against brute force, ties included."""
import itertools

import numpy as np
import pytest

from pyulm.tracking.smallmatch import SUBSET_MAX, solve_enumerated, solve_stars, solve_subsets


def _brute(w, tol):
    """Every matching of one (R, c) component (inf = no edge): the max-cardinality optimum and uniqueness."""
    R, c = w.shape
    found = []
    for cols in itertools.product(range(-1, c), repeat=R):
        used = [j for j in cols if j >= 0]
        if len(used) != len(set(used)) or any(j >= 0 and not np.isfinite(w[r, j]) for r, j in enumerate(cols)):
            continue
        found.append((len(used), sum(w[r, j] for r, j in enumerate(cols) if j >= 0), cols))
    card = max(f[0] for f in found)
    top = sorted((f[1], f[2]) for f in found if f[0] == card)
    unique = len(top) == 1 or top[1][0] > top[0][0] + tol
    return top[0][1], unique, top[0][0]


@pytest.mark.parametrize("solve", [solve_subsets, solve_enumerated])
@pytest.mark.parametrize("c", range(2, SUBSET_MAX + 1))
def test_small_components_equal_brute_force(c, solve):
    rng = np.random.default_rng(c)
    R = min(c + 1, 4) if c > 3 else c + 2  # keeps the brute force small
    K = 60 if c <= 3 else 12
    W = np.where(rng.random((R, c, K)) < 0.5, rng.random((R, c, K)), np.inf)
    W[:, :, K // 2:] = np.round(W[:, :, K // 2:] * 3)  # integer costs: exact ties
    W[0, 0] = np.where(np.isfinite(W[0, 0]), W[0, 0], 1.0)  # at least one edge
    W[:, :, -1] = np.inf  # a component with a single edge (rows and a column without any: padding)
    W[1, c - 1, -1] = 0.5
    tol = np.full(K, 1e-9)
    col, unique = solve(W, tol)
    for k in range(K):
        w = W[:, :, k]
        want_cols, want_unique, want_cost = _brute(w, 1e-9)
        assert unique[k] == want_unique, k
        got = [(r, j) for r, j in enumerate(col[:, k]) if j >= 0]
        assert len(set(j for _, j in got)) == len(got) and all(np.isfinite(w[r, j]) for r, j in got)
        assert len(got) == sum(j >= 0 for j in want_cols)
        assert np.isclose(sum(w[r, j] for r, j in got), want_cost)
        if want_unique:
            assert list(col[:, k]) == list(want_cols)


@pytest.mark.parametrize("solve", [solve_subsets, solve_enumerated])
def test_tie_margin(solve):
    # (R=2, c=2, K=1): the diagonal costs 2 + 1.5e-9; the anti-diagonal the same (a tie), then 3e-9 more
    W = np.array([[[1.0], [1.0 + 1.5e-9]], [[1.0], [1.0 + 1.5e-9]]])
    assert not solve(W, np.array([1e-9]))[1][0]
    W[1, 0, 0] = 1.0 + 3e-9
    col, unique = solve(W, np.array([1e-9]))
    assert unique[0] and col[:, 0].tolist() == [0, 1]
    assert not solve(W, np.array([5e-9]))[1][0]


def test_stars_pick_the_cheapest_edge_and_flag_ties():
    comp = np.array([0, 0, 0, 1, 1, 2, 2])
    cost = np.array([3.0, 1.0, 2.0, 5.0, 5.0, 1.0, 1.0 + 1e-6])
    edge, unique = solve_stars(comp, cost, 3, np.full(3, 1e-9))
    assert edge[0] == 1 and unique.tolist() == [True, False, True] and edge[2] == 5
    assert not solve_stars(comp, cost, 3, np.full(3, 1e-5))[1][2]


@pytest.mark.parametrize("integer", [False, True])
def test_crowded_frame_pairs_follow_munkres(integer):
    """Crowded frame pairs make components of every size class (stars, the subset DP up to
    SUBSET_MAX columns, larger ones for linear_sum_assignment); integer positions make exact ties,
    which must defer to munkres. The links are munkres' on the whole matrix, every time."""
    from pyulm.tracking import hungarian_linker, munkres
    from pyulm.tracking.linkers import squared_distances

    rng = np.random.default_rng(11 + integer)
    for _ in range(40):
        n, m = rng.integers(5, 22, 2)
        side = rng.uniform(3, 8)
        src, tgt = rng.uniform(0, side, (n, 2)), rng.uniform(0, side, (m, 2))
        if integer:
            src, tgt = np.round(src), np.round(tgt)
        max_d = rng.uniform(0.8, 2.5)
        d = squared_distances(src, tgt)
        want = munkres(np.where(d <= max_d * max_d, d, np.inf))[0]
        np.testing.assert_array_equal(hungarian_linker(src, tgt, max_d)[0], want)
