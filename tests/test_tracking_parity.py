"""Tracking parity with PALA (v1.1 under Octave): every mode, both blocks, all localization methods.

Each test starts from PALA's own ``MatTracking``, so a difference is pinned to tracking.
"""
import numpy as np
import pytest

from pyulm.pala import ULM_tracking2D
from pyulm.tables import Localizations, Metadata
from pyulm.tracking import track

METHODS = ("radial", "wa", "interp", "nolocalization")


@pytest.fixture(scope="module")
def outputs():
    cache = {}

    def get(ref, method):
        key = (ref.name, method)
        if key not in cache:
            mt, ulm = ref[f"{method}/MatTracking"], ref.ulm(method)
            before = mt.copy()
            res = {"pala": ULM_tracking2D(mt, ulm, "pala"), "velocityinterp": ULM_tracking2D(mt, ulm, "velocityinterp"),
                   "nointerp": ULM_tracking2D(mt, ulm, "NoInterp"), "interp": ULM_tracking2D(mt, ulm, "interp")}
            np.testing.assert_array_equal(mt, before)
            cache[key] = res
        return cache[key]
    return get


def _same_tracks(got, expected, rtol=1e-6, atol=1e-6):
    assert len(got) == len(expected)
    for k, (g, e) in enumerate(zip(got, expected)):
        assert g.shape == e.shape, f"track {k}: shape {g.shape} vs {e.shape}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"track {k}")


@pytest.mark.parametrize("method", METHODS)
def test_pala_mode(ref, method, outputs):
    raw, interp = outputs(ref, method)["pala"]
    # raw points are copied, not computed: they must be identical
    exp_raw = ref.tracks(method, "Tracks_raw")
    assert len(raw) == len(exp_raw) > 0
    for g, e in zip(raw, exp_raw):
        np.testing.assert_array_equal(g, e)
    _same_tracks(interp, ref.tracks(method, "Tracks_interp"), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_nointerp_and_interp_modes(ref, method, outputs):
    out = outputs(ref, method)
    _same_tracks(out["nointerp"], ref.tracks(method, "Tracks_nointerp"), rtol=0, atol=0)
    got = out["interp"]
    assert all(t.ndim == 2 and t.shape[0] == 1 for t in got)  # PALA's 1 x 2M rows
    _same_tracks(got, ref.tracks(method, "Tracks_i"), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_velocityinterp_mode(ref, method, outputs):
    got = outputs(ref, method)["velocityinterp"]
    exp = ref.tracks(method, "Tracks_vel")
    assert len(got) == len(exp) > 0
    for k, (g, e) in enumerate(zip(got, exp)):
        assert g.dtype == np.float32 and g.shape == e.shape
        # both are float32 roundings of double values: at most one float32 ulp apart, plus, for
        # velocities, the double rounding of diff(zu) / diff(tu): a few eps * |position| / step
        # in time, which only shows where the true velocity is 0 (integer positions)
        e64, g64 = e.astype(float), g.astype(float)
        tol = np.spacing(np.abs(e)).astype(float)
        step = np.min(np.diff(e64[:, 4])) if e.shape[0] > 1 else 1.0
        tol[:, 2:4] += 8 * np.finfo(float).eps * np.abs(e64[:, :2]).max() / step
        assert np.all(np.abs(g64 - e64) <= tol), f"track {k}: max diff {np.abs(g64 - e64).max(axis=0)}"


def test_velocityinterp_is_the_single_rounding_of_pala_mode(ref_a, outputs):
    # independent check that float32 is the only difference: the double interpolation of
    # 'pala' mode, rounded to float32, is the velocityinterp position columns
    out = outputs(ref_a, "radial")
    for v, p in zip(out["velocityinterp"], out["pala"][1]):
        np.testing.assert_array_equal(v[:, :2], p[:, :2].astype(np.float32))


@pytest.mark.parametrize("method", ("radial", "nolocalization"))
def test_pythonic_track_on_reference(ref, method, outputs):
    mt, ulm = ref[f"{method}/MatTracking"], ref.ulm(method)
    f0 = mt[:, 3].min()
    locs = Localizations(z=mt[:, 1], x=mt[:, 2], frame=mt[:, 3] - f0, intensity=mt[:, 0],
                         meta=Metadata(frame_rate=1 / ulm["scale"][2]))
    kw = dict(max_linking_distance=ulm["max_linking_distance"], max_gap_closing=ulm["max_gap_closing"],
              min_length=ulm["min_length"], res=ulm["res"])
    raw, interp = track(locs, mode="pala", **kw)
    exp_raw, exp_interp = outputs(ref, method)["pala"]
    assert len(raw) == len(exp_raw)
    for g, e in zip(raw, exp_raw):
        np.testing.assert_array_equal(g[:, :2], e[:, :2])
        np.testing.assert_array_equal(g[:, 2] + 1, e[:, 2])
    for g, e, r in zip(interp, exp_interp, raw):
        np.testing.assert_allclose(g[:, :2], e[:, :2], rtol=1e-12)
        # Pythonic vmean: path length over the real duration, PALA's: over n points
        n, span = r.shape[0], r[-1, 2] - r[0, 2]
        np.testing.assert_allclose(g[:, 2] * span, e[:, 2] * n, rtol=1e-12)
    vel = track(locs, mode="velocityinterp", **kw)
    for g, e in zip(vel, outputs(ref, method)["velocityinterp"]):
        np.testing.assert_allclose(g[:, :2], e[:, :2], rtol=1e-6)
