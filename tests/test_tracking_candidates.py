"""The block-wide candidate search (grid, KD-tree fallback) against brute force: every pair within reach."""
import numpy as np
import pytest

from pyulm.tracking.candidates import candidate_edges
from pyulm.tracking.linkers import squared_distances


def _brute(pts, k, steps, max_d):
    out = set()
    for step in steps:
        for a in range(pts.shape[0]):
            for b in np.flatnonzero(k == k[a] + step):
                if squared_distances(pts[a:a + 1], pts[b:b + 1])[0, 0] <= max_d * max_d:
                    out.add((a, int(b)))
    return out


def _check(pts, k, steps, max_d):
    src, tgt, d2 = candidate_edges(pts, k, steps, max_d)
    got = list(zip(src.tolist(), tgt.tolist()))
    assert len(got) == len(set(got)), "a pair listed twice"
    assert set(got) == _brute(pts, k, steps, max_d)
    if got:  # the exact squared distances of simpletracker, bit for bit
        np.testing.assert_array_equal(d2, [squared_distances(pts[a:a + 1], pts[b:b + 1])[0, 0] for a, b in got])


@pytest.mark.parametrize("seed", range(8))
def test_grid_search_finds_every_pair_within_reach(seed):
    rng = np.random.default_rng(seed)
    n_frames = int(rng.integers(2, 12))
    per_frame = [0, 2, 8, 40][seed % 4]
    counts = rng.poisson(per_frame, n_frames)
    k = np.repeat(np.arange(n_frames), counts)
    dims = [2, 2, 1, 3][seed % 4]
    pts = rng.uniform(0, 15, (k.size, dims))
    if seed % 2:
        pts = np.round(pts)  # integer grids: distances exactly at the limit, coincident points
    for max_d in (0.0, 1.0, 2.0, 4.5):
        _check(pts, k, [1], max_d)
        _check(pts, k, [2, 3], max_d)


def test_far_spread_and_clustered_points():
    """Both leave the grid for the KD-tree (too many cells, then too many candidates per cell)."""
    rng = np.random.default_rng(3)
    k = np.repeat(np.arange(5), 6)
    far = np.column_stack([rng.choice([0.0, 1e17], k.size) + rng.uniform(0, 3, k.size), rng.uniform(0, 3, k.size)])
    _check(far, k, [1, 2], 1.5)
    # two dense clusters far apart: cells sized for the whole field would hold every point
    k = np.repeat(np.arange(4), 200)
    clus = np.column_stack([rng.choice([0.0, 1e6], k.size) + rng.uniform(0, 1, k.size), rng.uniform(0, 1, k.size)])
    _check(clus, k, [1], 0.05)


def test_empty_and_single_frame():
    assert all(a.size == 0 for a in candidate_edges(np.zeros((0, 2)), np.zeros(0, np.int64), [1], 1.0))
    _check(np.array([[0.0, 0.0], [0.5, 0.0]]), np.array([0, 0]), [1], 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_pairs_between_two_point_sets(seed):
    from pyulm.tracking.candidates import candidate_pairs

    rng = np.random.default_rng(seed)
    k = np.sort(rng.integers(0, 10, 120))
    pts = np.round(rng.uniform(0, 12, (120, 2)), 1 if seed % 2 else 6)
    s = np.sort(rng.choice(120, 50, replace=False))
    t = np.sort(rng.choice(120, 70, replace=False))
    src, tgt, d2 = candidate_pairs(pts[s], k[s], pts[t], k[t], [2, 3], 1.7)
    got = set(zip(s[src].tolist(), t[tgt].tolist()))
    want = {(a, b) for a, b in _brute(pts, k, [2, 3], 1.7) if a in set(s.tolist()) and b in set(t.tolist())}
    assert got == want and len(got) == src.size
