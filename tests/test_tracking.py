"""Unit tests of pyulm.tracking: munkres, linkers, simpletracker, MATLAB semantics, track."""
import numpy as np
import pytest

from pyulm.pala import ULM_tracking2D
from pyulm.tables import Localizations, Metadata, Tracks
from pyulm.tracking import (hungarian_linker, matlab_colon, matlab_smooth, munkres, nearest_neighbor_linker,
                            simpletracker, track)
from pyulm.tracking.linkers import squared_distances

INF = np.inf


# -- munkres (spec §1.8; MATLAB answers are 1-based, 0 = unassigned) -------------------------
@pytest.mark.parametrize("cost, expected", [
    ([[INF, 0], [0, INF]], [0, 0]),          # bigM = 0: the feasible [2 1] is lost
    ([[INF, 1e-9], [1e-9, INF]], [2, 1]),
    ([[0, INF], [INF, 0]], [1, 2]),
    ([[0, INF, 0], [INF, 0, INF]], [1, 2]),
    ([[1, 1], [1, 1]], [1, 2]),
    ([[2, 1, 1], [1, 1, 2], [1, 2, 1]], [2, 1, 3]),
])
def test_munkres_spec_vectors(cost, expected):
    c = np.array(cost, float)
    before = c.copy()
    a, total = munkres(c)
    assert (a + 1).tolist() == expected
    np.testing.assert_array_equal(c, before)
    assert total == sum(c[i, j] for i, j in enumerate(a) if j >= 0)


def test_munkres_partial_and_pruned():
    a, total = munkres([[INF, INF], [3.0, INF], [np.nan, 1.0]])
    assert a.tolist() == [-1, 0, 1] and total == 4.0
    assert munkres(np.zeros((0, 3)))[0].shape == (0,)
    assert munkres(np.full((2, 2), INF))[0].tolist() == [-1, -1]


def test_munkres_is_optimal_on_random_rectangles():
    from scipy.optimize import linear_sum_assignment
    rng = np.random.default_rng(3)
    for _ in range(40):
        c = rng.random(rng.integers(1, 8, 2))
        r, k = linear_sum_assignment(c)
        assert munkres(c)[1] == pytest.approx(c[r, k].sum(), abs=1e-12)


@pytest.mark.parametrize("bad", [np.zeros(3), [[-1.0, 2.0]]])
def test_munkres_bad_input(bad):
    with pytest.raises(ValueError, match="cost"):
        munkres(bad)


# -- linkers (spec §1.7, §1.9) ---------------------------------------------------------------
def _reference_links(src, tgt, max_d):
    d = squared_distances(np.asarray(src, float), np.asarray(tgt, float))
    return munkres(np.where(d <= max_d * max_d, d, INF))[0]


@pytest.mark.parametrize("integer", [True, False])
def test_hungarian_linker_equals_munkres_on_whole_matrix(integer):
    # integer positions give exact ties and all-zero frame pairs: the fast path must fall back
    rng = np.random.default_rng(7 if integer else 8)
    for _ in range(150):
        n, m = rng.integers(0, 9, 2)
        if integer:
            src, tgt = rng.integers(0, 5, (n, 2)).astype(float), rng.integers(0, 5, (m, 2)).astype(float)
        else:
            src, tgt = rng.random((n, 2)) * 6, rng.random((m, 2)) * 6
        md = rng.choice([0.0, 1.0, 1.5, 2.0, INF])
        idx, dist, free = hungarian_linker(src, tgt, md)
        np.testing.assert_array_equal(idx, _reference_links(src, tgt, md) if n and m else -np.ones(n))
        assert free.tolist() == sorted(set(range(m)) - set(idx.tolist()))
        ok = idx >= 0
        np.testing.assert_allclose(dist[ok], np.hypot(*(tgt[idx[ok]] - src[ok]).T))
        assert np.isnan(dist[~ok]).all()


@pytest.mark.parametrize("gap", [0.5, 1.5, 6.0])
def test_large_component_near_ties_follow_munkres(gap):
    """A 5 x 5 component (solved by linear_sum_assignment, not enumerated) whose second-best
    matching is ``gap`` tie margins (1e-9 bigM) worse: below one margin munkres decides (a
    tie), above it the optimum stands; at 1.5 margins the one-solve uniqueness test cannot
    tell and the link-by-link proof decides. Always munkres' answer."""
    from pyulm.tracking.assignment import hungarian_edges

    cost = np.full((5, 5), 3.0)
    np.fill_diagonal(cost, 1.0)
    tol = 1e-9 * 10.0 ** (np.ceil(np.log10(cost.sum())) + 1)
    cost[0, 1] = cost[1, 0] = 1.0 + gap * tol / 2  # swapping rows 0 and 1 costs gap * tol more
    src, tgt = (a.ravel() for a in np.mgrid[0:5, 5:10])
    nxt = hungarian_edges(src, tgt, cost.ravel(), np.zeros(25, np.int64), np.array([0, 5, 10]), 1,
                          lambda i: cost, 9.0)
    want = munkres(cost)[0]
    np.testing.assert_array_equal(nxt[:5], 5 + want)
    if gap > 1:
        assert want.tolist() == [0, 1, 2, 3, 4]


def test_hungarian_linker_distance_is_inclusive_and_degenerate_case():
    idx, _, _ = hungarian_linker([[0, 0]], [[0, 2]], 2)
    assert idx.tolist() == [0]
    # two stationary bubbles, each also 0 away from... nothing else: bigM = 0 loses both links
    idx, _, free = hungarian_linker([[0, 0], [5, 5]], [[5, 5], [0, 0]], 1)
    assert idx.tolist() == [-1, -1] and free.tolist() == [0, 1]


def test_nearest_neighbor_linker_greedy():
    # greedy takes the closest pair first, even if the total is worse than Hungarian's
    src, tgt = [[0, 0], [0, 1.0]], [[0, 1.1], [0, 2.5]]
    assert nearest_neighbor_linker(src, tgt, 2)[0].tolist() == [-1, 0]
    assert hungarian_linker(src, tgt, 2)[0].tolist() == [0, 1]
    idx, dist, free = nearest_neighbor_linker([[0, 0], [3, 0]], [[0, 0.5], [3, 0.2], [9, 9]])
    assert idx.tolist() == [0, 1] and free.tolist() == [2]
    np.testing.assert_allclose(dist, [0.5, 0.2])
    assert nearest_neighbor_linker(np.zeros((0, 2)), [[1, 1]])[2].tolist() == [0]


def test_linker_bad_input():
    with pytest.raises(ValueError, match="max_distance"):
        hungarian_linker([[0, 0]], [[1, 1]], -1)
    with pytest.raises(ValueError, match="source"):
        nearest_neighbor_linker([[np.nan, 0]], [[1, 1]])


# -- simpletracker (spec §1.6) ---------------------------------------------------------------
def test_simpletracker_spec_vector():
    pts = [np.array([[0, 0], [5, 5.0]]), np.array([[0.1, 0], [5, 5.1]]), np.array([[0.2, 0], [9, 9.0]])]
    tracks, adj, A = simpletracker(pts, max_linking_distance=1, max_gap_closing=0)
    assert [a.tolist() for a in adj] == [[0, 2, 4], [1, 3], [5]]
    np.testing.assert_array_equal(tracks[1], [1, 1, np.nan])
    assert A.nnz == 3 and A[0, 2] == 1 and A[2, 4] == 1 and A[1, 3] == 1


def test_simpletracker_gap_closing_and_empty_frames():
    pts = [[[0, 0]], np.zeros((0, 2)), [[0, 0.5]], [[0, 1.0]]]
    _, adj, _ = simpletracker(pts, max_linking_distance=1, max_gap_closing=0)
    assert [a.tolist() for a in adj] == [[0], [1, 2]]
    _, adj, _ = simpletracker(pts, max_linking_distance=1, max_gap_closing=2)
    assert [a.tolist() for a in adj] == [[0, 1, 2]]
    _, adj, _ = simpletracker(pts, max_linking_distance=1, method="NearestNeighbor")  # default gap closing 3
    assert [a.tolist() for a in adj] == [[0, 1, 2]]


def _simpletracker_oracle(points, max_d, gap, pair_links=None):
    """simpletracker as its MATLAB code reads: one Hungarian linker per frame pair (``pair_links``,
    default pyulm's hungarian_linker), then greedy gap closing from frame i to i+2 .. i+gap between
    the still-unmatched points, in that order."""
    starts = np.concatenate([[0], np.cumsum([p.shape[0] for p in points])])
    nxt = np.full(int(starts[-1]), -1)
    free_src = [np.ones(p.shape[0], bool) for p in points]
    free_tgt = [np.ones(p.shape[0], bool) for p in points]
    for i in range(len(points) - 1):
        if points[i].shape[0] and points[i + 1].shape[0]:
            idx = (pair_links or hungarian_linker)(points[i], points[i + 1], max_d)[0]
            for s_, t_ in enumerate(idx):
                if t_ >= 0:
                    nxt[starts[i] + s_] = starts[i + 1] + t_
                    free_src[i][s_] = free_tgt[i + 1][t_] = False
    for i in range(len(points) - 2):
        for j in range(i + 2, min(i + gap, len(points) - 1) + 1):
            us, ut = np.flatnonzero(free_src[i]), np.flatnonzero(free_tgt[j])
            if us.size and ut.size:
                idx = nearest_neighbor_linker(points[i][us], points[j][ut], max_d)[0]
                for s_, t_ in zip(us[idx >= 0], ut[idx[idx >= 0]]):
                    nxt[starts[i] + s_] = starts[j] + t_
                    free_src[i][s_] = free_tgt[j][t_] = False
    return nxt


@pytest.mark.parametrize("seed", range(12))
def test_batched_linking_equals_the_frame_by_frame_algorithm(seed):
    """One grid search and one vectorised gap closing give simpletracker's links exactly:
    dense and sparse frames, empty frames, ties (integer grids), gap closing over several frames,
    no distance limit."""
    from pyulm.tracking import link

    rng = np.random.default_rng(seed)
    n_frames = int(rng.integers(3, 30))
    density = [0, 1, 5, 30][seed % 4]
    points = []
    for f in range(n_frames):
        n = 0 if rng.random() < 0.15 else int(rng.poisson(density) + (seed % 3 == 0))
        p = rng.uniform(0, 12, (n, 2))
        points.append(np.round(p) if seed % 2 else p)  # integer grids make exact ties
    max_d = [0.0, 1.0, 1.5, 2.0, 3.0, np.inf][seed % 6]
    gap = [0, 2, 3, 5][seed % 4]
    expected = _simpletracker_oracle(points, max_d, gap)
    frames = np.concatenate([np.full(p.shape[0], f) for f, p in enumerate(points)])
    pts = np.concatenate(points)
    tracks = link(pts[:, 0], pts[:, 1], frames, max_linking_distance=max_d, max_gap_closing=gap)
    got = np.full(pts.shape[0], -1)
    for t in tracks:
        got[t[:-1]] = t[1:]
    np.testing.assert_array_equal(got, expected)
    _, adj, _ = simpletracker(points, max_linking_distance=max_d, max_gap_closing=gap)
    assert [a.tolist() for a in adj] == [t.tolist() for t in tracks]


def test_batched_linking_with_far_spread_coordinates():
    """Coordinates too spread for the grid's integer cell keys take the KD-tree search; same links."""
    from pyulm.tracking import link

    rng = np.random.default_rng(7)
    points = [np.column_stack([rng.choice([0.0, 1e17], 6) + rng.uniform(0, 3, 6), rng.uniform(0, 3, 6)])
              for _ in range(8)]
    frames = np.concatenate([np.full(p.shape[0], f) for f, p in enumerate(points)])
    pts = np.concatenate(points)
    tracks = link(pts[:, 0], pts[:, 1], frames, max_linking_distance=1e-3 + 1.0, max_gap_closing=3)
    got = np.full(pts.shape[0], -1)
    for t in tracks:
        got[t[:-1]] = t[1:]
    np.testing.assert_array_equal(got, _simpletracker_oracle(points, 1e-3 + 1.0, 3))
    assert any(t.size > 1 for t in tracks)


def test_simpletracker_bad_input():
    with pytest.raises(ValueError, match="method"):
        simpletracker([[[0, 0]]], method="kalman")
    with pytest.raises(ValueError, match="max_gap_closing"):
        simpletracker([[[0, 0]]], max_gap_closing=1.5)
    with pytest.raises(ValueError, match="max_linking_distance"):
        simpletracker([[[0, 0]]], max_linking_distance=-2)


# -- MATLAB semantics (spec §1.5, §5 item 9) -------------------------------------------------
def test_matlab_smooth_spec_example_and_rules():
    np.testing.assert_allclose(matlab_smooth([1, 2, 4, 8, 16, 32, 64], 20),
                               [1, 7 / 3, 31 / 5, 127 / 7, 124 / 5, 112 / 3, 64], rtol=1e-15)
    y = np.arange(30.0) ** 2
    out = matlab_smooth(y, 20)  # window 19
    assert out[15] == pytest.approx(y[6:25].mean()) and out[0] == y[0] and out[-1] == y[-1]
    assert out[3] == pytest.approx(y[:7].mean()) and out[-4] == pytest.approx(y[-7:].mean())
    np.testing.assert_array_equal(matlab_smooth(y, 1), y)
    np.testing.assert_allclose(matlab_smooth([[1, 3], [2, 4]], 3), [1, 2, 3, 4])  # column-major flatten
    with pytest.raises(ValueError, match="span"):
        matlab_smooth(y, 0)


@pytest.mark.parametrize("n", [2, 16, 20, 37, 200])
def test_matlab_colon_pala_grid(n):
    q = matlab_colon(1, ((1 / 2) / 10) * 0.8, n)
    assert q.size == 25 * (n - 1) + 1 and q[-1] == n and q[0] == 1
    assert np.all(np.diff(q) > 0)


def test_matlab_colon_cases():
    q = matlab_colon(1, ((1 / 1.5) / 10) * 0.8, 20)  # non-dividing step: last point < n
    assert q[-1] < 20 and q.size == int(np.floor(19 / (((1 / 1.5) / 10) * 0.8))) + 1
    np.testing.assert_array_equal(matlab_colon(0, 1, 3.5), [0, 1, 2, 3])
    np.testing.assert_array_equal(matlab_colon(5, 2, 9), [5, 7, 9])
    np.testing.assert_allclose(matlab_colon(0, 0.1, 0.3), [0, 0.1, 0.2, 0.3])
    assert matlab_colon(0, 0.1, 0.3)[-1] == 0.3
    assert matlab_colon(3, 1, 1).size == 0 and matlab_colon(1, 0, 3).size == 0
    with pytest.raises(ValueError, match="step"):
        matlab_colon(1, np.nan, 3)


# -- ULM_tracking2D test vector (spec §1.5) -------------------------------------------------
def _three_bubbles():
    rows = []
    for f in range(1, 21):
        for z, x in ((10 + 0.5 * f, 10.0), (30.0, 5 + 0.3 * f), (50 - 0.2 * f, 40 + 0.1 * f)):
            rows.append((1.0, z, x, f))
    mt = np.array(rows)
    mt = mt[np.lexsort((mt[:, 1], mt[:, 2], mt[:, 3]))]
    ulm = dict(max_linking_distance=2, max_gap_closing=0, min_length=15, res=10, size=[64, 64, 20],
               scale=[1, 1, 1e-3], interp_factor=123.0)  # interp_factor is ignored, as in PALA
    return mt, ulm


def test_ulm_tracking2d_spec_vector():
    mt, ulm = _three_bubbles()
    before = mt.copy()
    raw, interp = ULM_tracking2D(mt, ulm, "PALA")
    np.testing.assert_array_equal(mt, before)
    assert [tuple(t[0, :2]) for t in raw] == [(30, 5.3), (10.5, 10), (49.8, 40.1)]
    assert all(t.shape == (20, 3) for t in raw) and all(t.shape == (476, 3) for t in interp)
    np.testing.assert_allclose([t[0, 2] for t in interp], [285, 475, 212.426457862479], rtol=1e-12)
    vel = ULM_tracking2D(mt, ulm)
    assert all(t.shape == (476, 5) and t.dtype == np.float32 for t in vel)
    np.testing.assert_allclose(vel[1][:, 2], 500, rtol=1e-5)
    np.testing.assert_allclose(vel[1][:, 3], 0, atol=1e-3)
    assert vel[1][-1, 4] == np.float32(0.019)
    row = ULM_tracking2D(mt, ulm, "interp")
    assert row[0].shape == (1, 952)
    np.testing.assert_array_equal(row[0][0, :476], interp[0][:, 0])
    noi = ULM_tracking2D(mt, ulm, "nointerp")
    np.testing.assert_array_equal(noi[2], raw[2])


def test_ulm_tracking2d_frame_quirks(capsys):
    mt, ulm = _three_bubbles()
    shifted = mt + [0, 0, 0, 99]  # frames renumbered from their minimum
    np.testing.assert_array_equal(ULM_tracking2D(shifted, ulm, "nointerp")[0], ULM_tracking2D(mt, ulm, "nointerp")[0])
    # the frame of the k-th frame-sorted point is read from row k of the (here unsorted) input
    perm = np.r_[3:60, 0:3]
    raw = ULM_tracking2D(mt[perm], ulm, "nointerp")
    assert raw[0][:, 2].tolist() == mt[perm][[1 + 3 * k for k in range(20)], 3].tolist()
    # frames beyond ULM.size(3) are ignored
    short = dict(ulm, size=[64, 64, 15])
    out = ULM_tracking2D(mt, short, "nointerp")
    assert capsys.readouterr().out.strip() == "Was not able to find tracks at 1"
    np.testing.assert_array_equal(out[0], [[0, 0, 0, 0]])
    short["min_length"] = 14
    assert [len(t) for t in ULM_tracking2D(mt, short, "nointerp")] == [15, 15, 15]


def test_ulm_tracking2d_sentinel_and_errors(capsys):
    mt, ulm = _three_bubbles()
    raw, interp = ULM_tracking2D(mt, dict(ulm, min_length=20), "pala")  # strict >: 20 points fail
    assert "Was not able to find tracks at 1" in capsys.readouterr().out
    for out in (raw, interp):
        assert len(out) == 1 and out[0].tolist() == [[0, 0, 0, 0]]
    with pytest.raises(ValueError, match="ULM.min_length"):
        ULM_tracking2D(mt, {k: v for k, v in ulm.items() if k != "min_length"})
    with pytest.raises(ValueError, match="ULM.scale"):
        ULM_tracking2D(mt, {k: v for k, v in ulm.items() if k != "scale"}, "velocityinterp")
    assert len(ULM_tracking2D(mt, {k: v for k, v in ulm.items() if k != "scale"}, "nointerp")) == 3
    with pytest.raises(ValueError, match="mode"):
        ULM_tracking2D(mt, ulm, "kalman")
    with pytest.raises(ValueError, match="MatTracking"):
        ULM_tracking2D(mt[:, :3], ulm)


# -- the Pythonic track ----------------------------------------------------------------------
def _locs(mt, frame_rate=1000.0):
    return Localizations(z=mt[:, 1] - 1, x=mt[:, 2] - 1, frame=mt[:, 3] - 1, intensity=mt[:, 0],
                         meta=Metadata(frame_rate=frame_rate))


def test_track_modes_match_pala_where_no_quirk():
    mt, ulm = _three_bubbles()
    locs = _locs(mt)
    raw_p, interp_p = ULM_tracking2D(mt, ulm, "pala")
    raw, interp = track(locs, max_linking_distance=2, mode="pala")
    assert isinstance(raw, Tracks) and raw.columns == ("z", "x", "frame")
    for a, b in zip(raw, raw_p):
        np.testing.assert_allclose(a + 1, b)
    for a, b in zip(interp, interp_p):  # the right divisor: n - 1 intervals instead of n points
        np.testing.assert_allclose(a[:, :2] + 1, b[:, :2], rtol=1e-12)
        np.testing.assert_allclose(a[:, 2], b[:, 2] * 20 / 19, rtol=1e-12)
    pala = track(locs, max_linking_distance=2, mode="pala", pala_compat=True)[1]
    np.testing.assert_allclose(pala.column("vmean"), np.concatenate(interp_p)[:, 2], rtol=1e-15)
    vel = track(locs, max_linking_distance=2)
    assert vel.columns == ("z", "x", "vz", "vx", "t") and vel.points.dtype == np.float64
    np.testing.assert_allclose(vel[1][:, 2], 500, rtol=1e-9)
    assert vel[1][0, 4] == 0.0 and vel[1][-1, 4] == pytest.approx(0.019)
    it = track(locs, max_linking_distance=2, mode="interp")
    assert it.columns == ("z", "x", "frame") and it[0].shape == (476, 3)
    np.testing.assert_allclose(it[0][:, 2], np.linspace(0, 19, 476), atol=1e-12)
    assert vel.meta.params["track"]["max_linking_distance"] == 2.0


def test_track_absolute_time_and_gaps():
    f = np.r_[0:10, 11:21] + 100  # one missing frame, bridged by gap closing
    locs = Localizations(z=5 + 0.5 * (f - 100), x=np.zeros(20), frame=f, meta=Metadata(frame_rate=1000))
    vel = track(locs, max_linking_distance=1.2, max_gap_closing=2, min_length=15)
    assert len(vel) == 1
    assert vel[0][0, 4] == pytest.approx(0.1) and vel[0][-1, 4] == pytest.approx(0.12)
    compat = track(locs, max_linking_distance=1.2, max_gap_closing=2, min_length=15, pala_compat=True)
    assert compat.points.dtype == np.float32 and compat[0][-1, 4] == pytest.approx(0.019)
    t0, t1 = vel[0][0], vel[0][-1]  # the ends are not smoothed: net displacement over real elapsed time
    assert (t1[0] - t0[0]) / (t1[4] - t0[4]) == pytest.approx(500, rel=1e-9)
    c0, c1 = compat[0][0].astype(float), compat[0][-1].astype(float)
    assert (c1[0] - c0[0]) / (c1[4] - c0[4]) == pytest.approx(10 / 0.019, rel=1e-5)  # PALA ignores the gap
    assert len(track(locs, max_linking_distance=1.2, max_gap_closing=0, min_length=15)) == 0


def test_track_unsorted_input_is_fine_without_compat():
    mt, _ = _three_bubbles()
    locs = _locs(mt)
    perm = np.random.default_rng(0).permutation(len(mt))
    a = track(locs, max_linking_distance=2, mode="nointerp")
    b = track(locs.select(perm), max_linking_distance=2, mode="nointerp")
    assert sorted(map(tuple, a.points.tolist())) == sorted(map(tuple, b.points.tolist()))
    for t in b:
        assert np.all(np.diff(t[:, 2]) == 1)


def test_track_empty_and_bad_input():
    empty = track(Localizations(), max_linking_distance=2, frame_rate=1000)
    assert isinstance(empty, Tracks) and len(empty) == 0 and empty.columns == ("z", "x", "vz", "vx", "t")
    raw, interp = track(Localizations(), max_linking_distance=2, mode="pala", frame_rate=1000)
    assert len(raw) == len(interp) == 0
    mt, _ = _three_bubbles()
    locs = _locs(mt, frame_rate=None)
    with pytest.raises(ValueError, match="frame_rate"):
        track(locs, max_linking_distance=2)
    assert len(track(locs, max_linking_distance=2, mode="nointerp")) == 3
    with pytest.raises(ValueError, match="max_linking_distance"):
        track(locs, max_linking_distance=0, mode="nointerp")
    with pytest.raises(ValueError, match="mode"):
        track(locs, max_linking_distance=2, mode="spline")
    with pytest.raises(ValueError, match="locs"):
        track(mt, max_linking_distance=2)
    with pytest.raises(ValueError, match="max_gap_closing"):
        track(locs, max_linking_distance=2, max_gap_closing=1.5, mode="nointerp")
    with pytest.raises(ValueError, match="locs.frame"):
        track(Localizations(z=[1], x=[1], frame=[-1]), max_linking_distance=2, mode="nointerp")


def test_link_flat_is_the_list_concatenated():
    from pyulm.tracking import link

    rng = np.random.default_rng(4)
    frame = rng.integers(0, 30, 300)
    z, x = rng.uniform(0, 20, (2, 300))
    tracks = link(z, x, frame, max_linking_distance=2.0, max_gap_closing=3)
    idx, offsets = link(z, x, frame, max_linking_distance=2.0, max_gap_closing=3, flat=True)
    assert offsets[0] == 0 and offsets[-1] == idx.size == 300 and offsets.size == len(tracks) + 1
    assert [idx[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])] == [t.tolist() for t in tracks]
    idx, offsets = link([], [], [], max_linking_distance=1.0, flat=True)
    assert idx.size == 0 and offsets.tolist() == [0]
    with pytest.raises(ValueError, match="flat"):
        link(z, x, frame, max_linking_distance=2.0, flat="yes")


def test_stable_argsort_equals_numpy():
    from pyulm.tracking.radix import stable_argsort

    rng = np.random.default_rng(5)
    for high in (3, 2 ** 16, 2 ** 20, 2 ** 40):
        keys = rng.integers(0, high, 5000)
        np.testing.assert_array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))
    keys = rng.integers(-5, 5, 100)  # negative keys: numpy's own sort
    np.testing.assert_array_equal(stable_argsort(keys), np.argsort(keys, kind="stable"))
    assert stable_argsort(np.zeros(0, np.int64)).size == 0


@pytest.mark.parametrize("seed", range(4))
def test_crowded_blocks_link_as_munkres_per_frame_pair(seed):
    """An oracle independent of the batched solver: Yi Cao's munkres on every whole frame-pair
    matrix, then greedy gap closing. Crowded frames make components of every size class;
    odd seeds use integer positions (exact ties, deferred to munkres)."""
    from pyulm.tracking import link

    rng = np.random.default_rng(100 + seed)
    n_frames, max_d, gap = 8, [1.5, 2.0, 2.5, 3.0][seed], [0, 2, 3, 2][seed]
    points = [rng.uniform(0, 9, (int(rng.integers(15, 40)), 2)) for _ in range(n_frames)]
    if seed % 2:
        points = [np.round(p) for p in points]
    want = _simpletracker_oracle(points, max_d, gap, lambda src, tgt, md: (_reference_links(src, tgt, md),))
    pts = np.concatenate(points)
    frames = np.repeat(np.arange(n_frames), [p.shape[0] for p in points])
    got = np.full(pts.shape[0], -1)
    for t in link(pts[:, 0], pts[:, 1], frames, max_linking_distance=max_d, max_gap_closing=gap):
        got[t[:-1]] = t[1:]
    np.testing.assert_array_equal(got, want)


def test_link_n_frames_same_for_sorted_and_shuffled_rows():
    """Frame-sorted rows skip the sort; shuffled rows give the same tracks (continuous positions: no ties)."""
    from pyulm.tracking import link

    rng = np.random.default_rng(9)
    frame = np.sort(rng.integers(0, 20, 200))
    z, x = rng.uniform(0, 10, (2, 200))
    perm = rng.permutation(200)
    row_of = perm[np.argsort(frame[perm], kind="stable")]  # shuffled input's sorted index -> original row
    for n_frames in (None, 0, 7, 25):
        a = link(z, x, frame, max_linking_distance=1.5, n_frames=n_frames)
        b = link(z[perm], x[perm], frame[perm], max_linking_distance=1.5, n_frames=n_frames)
        assert sum(t.size for t in a) == (200 if n_frames is None else int(np.count_nonzero(frame < n_frames)))
        assert {tuple(t.tolist()) for t in a} == {tuple(row_of[t].tolist()) for t in b}
