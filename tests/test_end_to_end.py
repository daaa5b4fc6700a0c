"""End to end against PALA: the raw example block (= reference block a) through every stage.

Unlike the stage-wise tests, nothing here starts from a PALA intermediate: the filter
output feeds localization, whose output feeds tracking, whose output feeds rendering.
"""
import numpy as np
import pytest
import scipy.io as sio

import pyulm
from pyulm import pala
from pyulm.render import SuperResolutionGrid

from conftest import REF, RefBlock

EXAMPLE = REF.parent / "pyulm" / "data" / "example_block.mat"


@pytest.fixture(scope="module")
def filtered():
    iq = sio.loadmat(EXAMPLE)["IQ"].astype(np.complex128)  # PALA's run filtered in double
    return pyulm.filter_block(iq, [5, iq.shape[2]], [50, 249], 1000)


@pytest.mark.parametrize("method", ["radial", "wa", "interp", "nolocalization"])
def test_raw_block_to_maps_equals_pala(filtered, method):
    ref = RefBlock("a")
    ulm = ref.ulm(method)
    mt_px = pala.ULM_localization2D(np.abs(filtered), ulm)
    mt = mt_px.copy()
    mt[:, 1:3] -= 1  # pixels -> wavelengths (PDelta 1, no origin), as PALA's example
    ref_mt = ref[f"{method}/MatTracking"]
    assert mt.shape == ref_mt.shape
    np.testing.assert_array_equal(mt[:, 3], ref_mt[:, 3])
    np.testing.assert_allclose(mt[:, 1:3], ref_mt[:, 1:3], atol=1e-6, rtol=0)

    raw, interp = pala.ULM_tracking2D(mt, ulm, "pala")
    vel = pala.ULM_tracking2D(mt, ulm, "velocityinterp")
    ref_vel = ref.tracks(method, "Tracks_vel")
    assert [t.shape for t in vel] == [t.shape for t in ref_vel]
    for a, b in zip(raw, ref.tracks(method, "Tracks_raw")):
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)

    grid = SuperResolutionGrid((64, 80), ulm["res"])  # the one SR conversion
    size_out = list(grid.sr_shape)
    tm = grid.tracks_to_sr(vel, 4)
    np.testing.assert_array_equal(pala.ULM_Track2MatOut(tm, size_out), ref.map(method, "MatOut"))
    zdir = pala.ULM_Track2MatOut(tm, size_out, "2D_vel_z")
    np.testing.assert_allclose(zdir, ref.map(method, "MatOut_zdir"), rtol=2e-6, atol=1e-3)
