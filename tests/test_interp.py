"""The ``interp`` kernel: PALA parity for the spline, MATLAB-imresize properties for cubic/lanczos3."""
import numpy as np
import pytest
from scipy.interpolate import RectBivariateSpline

import pyulm
from pyulm.localization import interp as I
from pyulm.pala import ULM_localization2D


def _localize_ref(ref, **extra):
    ulm = ref.ulm("interp")
    return pyulm.localize(
        ref["loc_input"], "interp", fwhm=ulm["fwhm"], number_of_particles=ulm["numberOfParticles"],
        n_local_max=ulm["parameters"]["NLocalMax"], pala_compat=True, **extra,
    )


# --- PALA parity (spline) ---------------------------------------------------------------------

def test_spline_parity_with_pala(ref):
    expected = ref["interp/MatTracking_px_sub"]
    frames = ref["loc_frames"]
    assert ref.ulm("interp")["parameters"]["InterpMethod"] == "spline"
    locs = _localize_ref(ref, interp_method="spline")
    assert len(locs) == expected.shape[0] > 100
    np.testing.assert_array_equal(frames[locs.frame] + 1, expected[:, 3])
    np.testing.assert_allclose(locs.z + 1, expected[:, 1], atol=1e-6, rtol=0)
    np.testing.assert_allclose(locs.x + 1, expected[:, 2], atol=1e-6, rtol=0)
    np.testing.assert_allclose(locs.intensity, expected[:, 0], rtol=1e-12)


def test_spline_is_the_default_method(ref):
    locs = _localize_ref(ref)
    expected = ref["interp/MatTracking_px_sub"]
    np.testing.assert_allclose(locs.z + 1, expected[:, 1], atol=1e-6, rtol=0)


def test_spline_parity_through_pala_wrapper(ref):
    expected = ref["interp/MatTracking_px_sub"]
    frames = ref["loc_frames"]
    ulm = ref.ulm("interp")
    out = ULM_localization2D(ref["loc_input"], ulm)
    assert out.shape == expected.shape
    # The wrapper numbers the frames of the subset 1..n; map them back to the block's frames.
    np.testing.assert_array_equal(frames[out[:, 3].astype(int) - 1] + 1, expected[:, 3])
    np.testing.assert_allclose(out[:, :3], expected[:, :3], atol=1e-6, rtol=0)
    # PALA's default InterpMethod is 'spline' when LocMethod is exactly 'interp'.
    del ulm["parameters"]["InterpMethod"]
    np.testing.assert_array_equal(ULM_localization2D(ref["loc_input"], ulm), out)


def test_spline_matrix_matches_rectbivariatespline():
    rng = np.random.default_rng(3)
    for nz, nx in ((5, 5), (7, 7), (5, 7), (4, 6)):
        rois = rng.random((3, nz, nx))
        up = I.upsample(rois, "spline")
        qz, qx = np.linspace(1, nz, 10 * nz), np.linspace(1, nx, 10 * nx)
        for k in range(3):
            s = RectBivariateSpline(np.arange(1, nz + 1), np.arange(1, nx + 1), rois[k], kx=3, ky=3, s=0)
            np.testing.assert_allclose(up[k], s(qz, qx), atol=1e-12)


def test_spline_reproduces_cubics_on_linspace_grid():
    M = I.spline_matrix(5)
    q = np.linspace(1, 5, 50)
    poly = lambda t: 0.3 * t ** 3 - t ** 2 + 2.0 * t - 7.0  # noqa: E731
    np.testing.assert_allclose(M @ poly(np.arange(1.0, 6.0)), poly(q), atol=1e-11)
    # Few nodes: a straight line (2 nodes), a parabola (3 nodes), as MATLAB's spline.
    np.testing.assert_allclose(I.spline_matrix(2) @ [1.0, 3.0], 1 + 2 * (np.linspace(1, 2, 20) - 1))
    np.testing.assert_allclose(I.spline_matrix(3) @ [1.0, 4.0, 9.0], np.linspace(1, 3, 30) ** 2, atol=1e-12)


def test_spline_offset_bias_is_kept():
    # A paraboloid is reproduced exactly by the spline; its peak at +0.5 px (z) and -1 px (x)
    # is sampled at linspace(1, 5, 50), closest samples k = 32 and k = 13 (1-based), and
    # reported on PALA's grid -2.55 + k/10: +0.65 and -1.25 (scaled by ~1.225, not +0.5/-1).
    zz, xx = np.mgrid[-2:3, -2:3].astype(float)
    roi = 10.0 - (zz - 0.5) ** 2 - (xx + 1.0) ** 2
    dz, dx = I.interp_kernel(roi[None], interp_method="spline")
    np.testing.assert_allclose([dz[0], dx[0]], [0.65, -1.25], atol=1e-12)


# --- imresize (cubic / lanczos3): no PALA oracle, so pin MATLAB's documented algorithm ---------

def test_keys_kernel_is_a_minus_half():
    # Keys a = -0.5 (MATLAB); OpenCV's a = -0.75 would give 0.59375 and -0.09375.
    np.testing.assert_allclose(I._keys_cubic(np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])),
                               [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625])


def test_lanczos3_kernel():
    s = np.array([0.25, 0.5, 1.3, 2.2, -2.9])
    np.testing.assert_allclose(I._lanczos3(s), np.sinc(s) * np.sinc(s / 3), rtol=1e-12)
    assert I._lanczos3(np.array([0.0]))[0] == 1.0
    np.testing.assert_array_equal(I._lanczos3(np.array([3.0, 3.5, -4.0])), 0.0)


def test_imresize_hand_computed_edge_row():
    # Output pixel 1 sits at u = 0.55; taps -2..3 with Keys weights
    # [0, -0.0556875, 0.4933125, 0.6304375, -0.0680625, 0]; indices -1 and 0 mirror to 2 and 1.
    M = I.imresize_matrix(5, 10, "cubic")
    np.testing.assert_allclose(M[0], [1.12375, -0.12375, 0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(M[-1], [0, 0, 0, -0.12375, 1.12375], atol=1e-15)


@pytest.mark.parametrize("method", ["cubic", "bicubic", "lanczos3"])
def test_imresize_constant_and_symmetry(method):
    for n in (1, 3, 5, 7):
        M = I.imresize_matrix(n, 10, method)
        assert M.shape == (10 * n, n)
        np.testing.assert_allclose(M.sum(axis=1), 1.0, atol=1e-14)
        # Output grid is symmetric about the input centre, and so are the kernels.
        np.testing.assert_allclose(M[::-1, ::-1], M, atol=1e-14)
    up = I.upsample(np.full((2, 5, 7), 3.25), method)
    np.testing.assert_allclose(up, 3.25, atol=1e-13)
    # The tap-ordered application and the dense matrices agree.
    a = np.random.default_rng(2).random((3, 5, 7))
    dense = I.imresize_matrix(5, 10, method) @ a @ I.imresize_matrix(7, 10, method).T
    np.testing.assert_allclose(I.upsample(a, method), dense, atol=1e-14)


def test_imresize_coordinate_mapping_on_a_ramp():
    # Keys' cubic reproduces linear functions, so where every tap is inside the image
    # (u in [2, n-1)) the output equals the input coordinate u = k/10 + 0.45 exactly.
    n = 7
    M = I.imresize_matrix(n, 10, "cubic")
    k = np.arange(1, 10 * n + 1)
    u = k / 10 + 0.45
    interior = (u >= 2) & (u < n - 1)
    np.testing.assert_allclose((M @ np.arange(1.0, n + 1))[interior], u[interior], atol=1e-13)
    # A 2-D ramp along x only: rows first, then columns, still the same mapping.
    ramp = np.tile(np.arange(1.0, n + 1), (n, 1))
    up = I.upsample(ramp[None], "cubic")[0]
    np.testing.assert_allclose(up[:, interior], np.tile(u[interior], (10 * n, 1)), atol=1e-13)


@pytest.mark.parametrize("method", ["cubic", "lanczos3"])
def test_imresize_symmetric_padding(method):
    # Out-of-range taps read the mirrored image with the edge sample repeated (numpy 'symmetric').
    rng = np.random.default_rng(7)
    x = rng.random(5)
    pad = 6
    big = I.imresize_matrix(5 + 2 * pad, 10, method) @ np.pad(x, pad, mode="symmetric")
    np.testing.assert_allclose(I.imresize_matrix(5, 10, method) @ x, big[10 * pad:10 * (pad + 5)], atol=1e-14)


def test_imresize_other_scales():
    np.testing.assert_allclose(I.imresize_matrix(6, 1, "cubic"), np.eye(6), atol=1e-15)
    np.testing.assert_allclose(I.imresize_matrix(6, 1, "lanczos3"), np.eye(6), atol=1e-14)
    M = I.imresize_matrix(4, 2, "cubic")  # u = k/2 + 0.25
    np.testing.assert_allclose(M[2], [0.203125, 0.8671875, -0.0703125, 0.0])
    # Shrinking anti-aliases: a wider, flatter kernel; still a partition of unity.
    S = I.imresize_matrix(10, 0.5, "cubic")
    assert S.shape == (5, 10)
    np.testing.assert_allclose(S.sum(axis=1), 1.0)
    assert np.count_nonzero(S[2]) == 8


# --- the kernel itself ------------------------------------------------------------------------

@pytest.mark.parametrize("method", I.INTERP_METHODS)
def test_symmetric_roi_peaks_next_to_the_centre(method):
    zz, xx = np.mgrid[-2:3, -2:3]
    roi = np.exp(-(zz ** 2 + xx ** 2) / 2.0)
    dz, dx = I.interp_kernel(roi[None], interp_method=method)
    # Offsets sit on the -h - 0.55 + i/10 grid; the centre falls between the samples
    # at -0.05 and +0.05, whose values tie up to rounding.
    for v in (dz[0], dx[0]):
        assert min(abs(v - 0.05), abs(v + 0.05)) < 1e-12


@pytest.mark.parametrize("method", ["cubic", "lanczos3"])
def test_imresize_kernels_track_a_moving_gaussian(method):
    zz, xx = np.mgrid[-3:4, -3:4].astype(float)
    centres = np.linspace(-0.9, 0.9, 19)
    rois = np.exp(-((zz[None] - centres[:, None, None]) ** 2 + (xx[None] + 0.4) ** 2) / 2)
    dz, dx = I.interp_kernel(rois, interp_method=method)
    assert np.all(np.diff(dz) >= 0) and np.ptp(dx) == 0
    np.testing.assert_allclose(dz, centres, atol=0.2)
    frac = np.round((dz + 0.05) * 10, 9)
    np.testing.assert_array_equal(frac, np.round(frac))  # on the x.x5 grid


def test_first_maximum_in_column_major_order():
    roi = np.zeros((1, 3, 3))
    roi[0, 2, 0] = roi[0, 0, 2] = 1.0  # two equal peaks: column 0 comes first in MATLAB's order
    dz, dx = I.interp_kernel(roi, interp_method="cubic")
    assert dx[0] < 0 < dz[0]


def test_batches_match_single_rois_and_input_untouched():
    rng = np.random.default_rng(11)
    rois = rng.random((2 * I._CHUNK + 3, 5, 5))
    before = rois.copy()
    dz, dx = I.interp_kernel(rois, interp_method="lanczos3")
    np.testing.assert_array_equal(rois, before)
    for k in (0, I._CHUNK, 2 * I._CHUNK + 2):
        one = I.interp_kernel(rois[k:k + 1], interp_method="lanczos3")
        assert (one[0][0], one[1][0]) == (dz[k], dx[k])


@pytest.mark.parametrize("method", ["cubic", "lanczos3"])
def test_localize_and_wrapper_run_imresize_methods(ref_a, method):
    ulm = ref_a.ulm("interp")
    ulm["parameters"]["InterpMethod"] = method
    out = ULM_localization2D(ref_a["loc_input"], ulm)
    spline = ref_a["interp/MatTracking_px_sub"]
    assert abs(out.shape[0] - spline.shape[0]) <= 0.05 * spline.shape[0]
    frac = np.round(out[:, 1:3] * 10 - 0.5, 6)
    np.testing.assert_array_equal(frac, np.round(frac))  # positions on the x.x5 grid


# --- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["bilinear", "nearest", "Spline", "linear", 3, None])
def test_unknown_interp_method(bad):
    rois = np.ones((1, 5, 5))
    with pytest.raises(ValueError, match="interp_method"):
        I.interp_kernel(rois, interp_method=bad)
    frame = np.zeros((20, 20))
    frame[10, 10] = 1.0
    with pytest.raises(ValueError, match="interp_method"):
        pyulm.localize(frame, "interp", fwhm=3, number_of_particles=2, interp_method=bad)


def test_unknown_interp_method_through_wrapper():
    frame = np.zeros((20, 20, 1))
    frame[10, 10, 0] = 1.0
    ulm = {"numberOfParticles": 2, "fwhm": [3, 3], "LocMethod": "interp", "parameters": {"InterpMethod": "box"}}
    with pytest.raises(ValueError, match=r"^ULM\.parameters\.InterpMethod: expected one of"):
        ULM_localization2D(frame, ulm)


def test_bad_matrix_arguments():
    with pytest.raises(ValueError, match="n:"):
        I.imresize_matrix(0)
    with pytest.raises(ValueError, match="scale"):
        I.imresize_matrix(5, -1.0)
    with pytest.raises(ValueError, match="method"):
        I.imresize_matrix(5, 10, "spline")
    with pytest.raises(ValueError, match="n:"):
        I.spline_matrix(1)
    with pytest.raises(ValueError, match="rois"):
        I.interp_kernel(np.ones((5, 5)))
    with pytest.raises(ValueError, match="rois"):
        I.upsample(np.ones((2, 1, 5)), "spline")
