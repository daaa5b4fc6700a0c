"""PALA's edge behaviour in pyulm.pala, each pinned against PALA_SPEC's description."""
import numpy as np
import pytest

import pyulm
import pyulm.pala as pala
from pyulm.pala import ULM_localization2D, ULM_Track2MatOut, ULM_tracking2D

TRACK_ULM = dict(max_linking_distance=2, max_gap_closing=0, min_length=15, res=10, size=[64, 64, 20], scale=[1, 1, 1e-3])


def _bubbles(nz=40, nx=48, spots=((12.3, 14.6, 1.0), (26.2, 30.7, 0.8))):
    zz, xx = np.mgrid[0:nz, 0:nx]
    f = sum(a * np.exp(-((zz - z) ** 2 + (xx - x) ** 2) / 2) for z, x, a in spots)
    return f[:, :, None]


def _ulm(n=2, **kw):
    return {"numberOfParticles": n, "fwhm": [3, 3], "LocMethod": "radial", **kw}


# --- §1.5 step 8: no track -> PALA's sentinel and its message -----------------------------------

@pytest.mark.parametrize("empty", [np.zeros((0, 4)), np.zeros((0, 0)), np.zeros(0), np.zeros((0, 4), np.float32)])
def test_empty_table_gives_the_sentinel_and_message(empty, capsys):
    out = ULM_tracking2D(empty, TRACK_ULM)
    assert len(out) == 1 and out[0].tolist() == [[0.0, 0.0, 0.0, 0.0]]
    assert capsys.readouterr().out == "Was not able to find tracks at \n"
    raw, interp = ULM_tracking2D(empty, TRACK_ULM, "pala")
    assert raw[0].tolist() == interp[0].tolist() == [[0.0, 0.0, 0.0, 0.0]]


def test_no_track_long_enough_names_the_first_frame(capsys):
    mt = np.array([[1.0, 10, 10, 7], [1.0, 10.5, 10, 8]])
    assert ULM_tracking2D(mt, TRACK_ULM, "nointerp")[0].tolist() == [[0.0, 0.0, 0.0, 0.0]]
    assert capsys.readouterr().out == "Was not able to find tracks at 7\n"


def test_console_lines_switch_off(capsys):
    before = pala.verbose()
    try:
        ULM_tracking2D(np.zeros((0, 4)), {**TRACK_ULM, "verbose": 0})
        ULM_tracking2D(np.zeros((0, 4)), {**TRACK_ULM, "verbose": np.array([[False]])})  # MATLAB's false
        assert capsys.readouterr().out == ""
        with pala.quiet():
            ULM_tracking2D(np.zeros((0, 4)), TRACK_ULM)
            ULM_Track2MatOut([np.array([[1.0, 1.0]])], [3, 3])
        assert capsys.readouterr().out == "" and pala.verbose() == before
        pala.verbose(False)
        ULM_Track2MatOut([np.array([[1.0, 1.0]])], [3, 3])
        assert capsys.readouterr().out == ""
        ULM_tracking2D(np.zeros((0, 4)), {**TRACK_ULM, "verbose": 1})  # the struct wins for its call
        assert capsys.readouterr().out == "Was not able to find tracks at \n"
    finally:
        pala.verbose(before)
    ULM_Track2MatOut([np.array([[1.0, 1.0]])], [3, 3])
    assert capsys.readouterr().out == "Building 2D ULM image (size : 3  3).\n"
    with pytest.raises(ValueError, match="on: expected True or False"):
        pala.verbose("no")


def test_pythonic_api_keeps_its_errors():
    with pytest.raises(ValueError, match="NaN or Inf"):
        pyulm.localize(np.full((20, 20, 1), np.nan), number_of_particles=2)
    empty = pyulm.tables.Localizations()
    assert len(pyulm.track(empty, max_linking_distance=2, mode="nointerp")) == 0


# --- §1.2 output class: "the same class as MatIn" ----------------------------------------------

@pytest.mark.parametrize("dtype, out_dtype", [(np.float64, np.float64), (np.float32, np.float32),
                                              (np.complex64, np.float32), (np.complex128, np.float64),
                                              (np.int16, np.int16), (np.uint8, np.uint8)])
def test_output_class_follows_input_class(dtype, out_dtype):
    f = _bubbles() * 100
    ref = ULM_localization2D(f, _ulm())
    out = ULM_localization2D(f.astype(dtype), _ulm())
    assert out.dtype == out_dtype and out.shape == ref.shape
    if np.issubdtype(out_dtype, np.integer):  # MATLAB's conversion: round half away, saturate
        exact = ULM_localization2D(f.astype(dtype).astype(np.float64), _ulm())
        np.testing.assert_array_equal(out, np.clip(np.sign(exact) * np.floor(np.abs(exact) + 0.5),
                                                   np.iinfo(out_dtype).min, np.iinfo(out_dtype).max))


def test_tracks_keep_single_precision():
    f = np.arange(1, 21.0)
    mt = np.column_stack([np.ones(20), 10 + 0.5 * f, np.full(20, 10.0), f])
    for mode in ("nointerp", "interp", "velocityinterp"):
        assert ULM_tracking2D(mt.astype(np.float32), TRACK_ULM, mode)[0].dtype == np.float32
        assert ULM_tracking2D(mt, TRACK_ULM, mode)[0].dtype == (np.float32 if mode == "velocityinterp" else np.float64)
    raw, interp = ULM_tracking2D(mt.astype(np.float32), TRACK_ULM, "pala")
    assert raw[0].dtype == interp[0].dtype == np.float32


# --- §1.2 steps 2-6 and §5 item 3: NaN in MatIn ------------------------------------------------
# MATLAB: R keeps the band's NaN, I = R .* mask keeps them (NaN * 0 is NaN), the descending sort puts NaN
# first, so each NaN of the band takes one of the numberOfParticles places; NaN > thr is false.

def test_nan_in_the_band_takes_a_place_in_the_ranking():
    f = _bubbles()
    f[30, 8, 0] = np.nan  # inside the detection band, away from both bubbles
    out = ULM_localization2D(f, _ulm(n=2))
    ref = ULM_localization2D(_bubbles(), _ulm(n=2))
    assert ref.shape[0] == 2 and out.shape[0] == 1
    np.testing.assert_array_equal(out[0], ref[0])  # the brighter bubble (first in column-major order) stays
    assert ULM_localization2D(f, _ulm(n=3)).shape[0] == 2


def test_as_many_nan_as_places_leave_the_frame_empty():
    f = np.concatenate([_bubbles(), _bubbles()], axis=2)
    f[30, 8:11, 0] = np.nan  # 3 NaN >= numberOfParticles + 1 = 3 in frame 1 only
    out = ULM_localization2D(f, _ulm(n=2))
    assert out[:, 3].tolist() == [2.0, 2.0]


def test_nan_outside_the_band_is_ignored_and_nan_in_a_roi_drops_the_bubble():
    f = _bubbles()
    f[0, 0, 0] = f[39, 47, 0] = np.nan  # the 3-pixel border is zeroed before detection
    ref = ULM_localization2D(_bubbles(), _ulm())
    np.testing.assert_array_equal(ULM_localization2D(f, _ulm()), ref)
    g = _bubbles()
    g[27, 31, 0] = np.nan  # next to the second bubble: not a maximum, and its ROI holds NaN
    out = ULM_localization2D(g, _ulm(n=3))
    np.testing.assert_array_equal(out, ref[:1])


def test_inf_is_still_refused_naming_matin():
    f = _bubbles()
    f[5, 5, 0] = np.inf
    with pytest.raises(ValueError, match=r"^MatIn: 1 value\(s\) are Inf"):
        ULM_localization2D(f, _ulm())
