"""Track interpolation held flat (pyulm.tracking.interpolate) against a track-by-track loop of
PALA's formulas: the same values bit for bit."""
import numpy as np
import pytest

from pyulm.tracking.interpolate import interpolate_flat, interpolate_tracks
from pyulm.tracking.matlab import matlab_colon, matlab_smooth


def per_track(raw, mode, factor, span, dt, pala_compat):
    """PALA's interpolation written for one track at a time."""
    out = []
    for r in raw:
        n = r.shape[0]
        q = matlab_colon(1.0, factor, float(n))
        j = np.clip(np.floor(q).astype(np.int64) - 1, 0, max(n - 2, 0))
        j1, w = np.minimum(j + 1, n - 1), q - (j + 1)
        lin = lambda y: y[j] + (y[j1] - y[j]) * w  # noqa: E731
        zu, xu = lin(matlab_smooth(r[:, 0], span)), lin(matlab_smooth(r[:, 1], span))
        if mode == "interp":
            out.append(np.column_stack([zu, xu, lin(r[:, 2])]))
            continue
        tu = lin(np.arange(n) * dt if pala_compat else r[:, 2] * dt)
        if q.size > 1:
            vz, vx = np.diff(zu) / np.diff(tu), np.diff(xu) / np.diff(tu)
            vz, vx = np.r_[vz[:1], vz], np.r_[vx[:1], vx]
        else:
            vz = vx = np.full(1, np.nan)
        out.append(np.column_stack([zu, xu, vz, vx, tu]))
    return out


@pytest.mark.parametrize("pala_compat", [True, False])
@pytest.mark.parametrize("mode", ["interp", "velocityinterp"])
def test_flat_interpolation_is_the_per_track_loop(mode, pala_compat):
    rng = np.random.default_rng(4)
    lengths = [1, 2, 3, 7, 19, 20, 21, 40, 40, 7, 63, 1, 20]  # one-point, shorter than the span, equal lengths
    raw = []
    for n in lengths:
        frames = np.cumsum(rng.integers(1, 3, n)).astype(float)  # gaps too
        raw.append(np.column_stack([rng.normal(size=n).cumsum(), rng.normal(size=n).cumsum(), frames]))
    factor, span, dt = 0.04, 20, 1e-3
    want = per_track(raw, mode, factor, span, dt, pala_compat)
    for dtype in (np.float64, np.float32):
        pts, offs = interpolate_tracks(raw, mode, factor, span, dt, pala_compat, dtype)
        assert pts.dtype == dtype and offs[-1] == pts.shape[0] == sum(len(t) for t in want)
        for k, t in enumerate(want):
            np.testing.assert_array_equal(pts[offs[k]:offs[k + 1]], t.astype(dtype))
    flat = np.concatenate(raw)
    pts2, offs2 = interpolate_flat(flat[:, 0], flat[:, 1], flat[:, 2], np.r_[0, np.cumsum(lengths)], mode, factor,
                                   span, dt, pala_compat)
    np.testing.assert_array_equal(pts2, interpolate_tracks(raw, mode, factor, span, dt, pala_compat)[0])
    np.testing.assert_array_equal(offs2, offs)


def test_no_track():
    pts, offs = interpolate_flat(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(1, np.int64), "velocityinterp",
                                 0.04, 20, 1e-3, True, np.float32)
    assert pts.shape == (0, 5) and pts.dtype == np.float32 and offs.tolist() == [0]


def test_chunks_over_threads_give_the_same_bits():
    """Many tracks (several chunks of rows): the same points on 1 and 2 threads, and as the
    per-track loop."""
    from pyulm._parallel import limit_threads

    rng = np.random.default_rng(5)
    lengths = rng.integers(16, 80, 400)
    offsets = np.r_[0, np.cumsum(lengths)]
    z, x = rng.normal(size=(2, offsets[-1])).cumsum(axis=1)
    frame = np.concatenate([np.arange(n, dtype=float) for n in lengths])
    got = {}
    for n in (1, 2):
        with limit_threads(n):
            got[n] = interpolate_flat(z, x, frame, offsets, "velocityinterp", 0.04, 20, 1e-3, True, np.float32)
    assert got[1][0].shape[0] > 3 * (1 << 16)
    np.testing.assert_array_equal(got[1][0], got[2][0])
    raw = [np.column_stack([z[a:b], x[a:b], frame[a:b]]) for a, b in zip(offsets[:-1], offsets[1:])]
    want = np.concatenate(per_track(raw[:50], "velocityinterp", 0.04, 20, 1e-3, True)).astype(np.float32)
    np.testing.assert_array_equal(got[2][0][:want.shape[0]], want)


@pytest.mark.parametrize("w", [1, 2, 5, 7, 8, 9, 15, 16, 19, 24, 41, 129, 200])
def test_window_sums_are_numpys_window_reductions(w):
    """MATLAB smooth's window sums by vector additions: the bits of numpy's reduction of each
    window (what smooth_rows computed before), in 1-D and along the rows of a 2-D array."""
    from pyulm.tracking.matlab import window_sums

    rng = np.random.default_rng(w)
    for shape in ((5000,), (6, 700)):
        y = rng.standard_normal(shape) * rng.uniform(1e-3, 1e4, shape)
        before = y.copy()
        want = np.lib.stride_tricks.sliding_window_view(y, w, axis=-1).sum(axis=-1)
        np.testing.assert_array_equal(window_sums(y, w), want)
        np.testing.assert_array_equal(y, before)
