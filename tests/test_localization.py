import numpy as np
import pytest

import pyulm
from pyulm.localization import count_regional_maxima, regional_maxima, select_candidates
from pyulm.localization.kernels import radial_symmetry, weighted_average
from pyulm.pala import ULM_localization2D

from conftest import METHODS

CORE = ("radial", "wa", "nolocalization")


def _reference_rows(ref, method):
    """PALA's rows on the stored frames, with frame numbers mapped to 0..len(frames)-1 + 1."""
    mt = ref[f"{method}/MatTracking_px_sub"].copy()
    frames = ref["loc_frames"]
    lookup = {int(f) + 1: i + 1 for i, f in enumerate(frames)}
    mt[:, 3] = [lookup[int(v)] for v in mt[:, 3]]
    return mt


@pytest.mark.parametrize("method", CORE)
def test_pala_parity_localization(ref, method):
    """ULM_localization2D on abs(IQ_filt) frames vs PALA: same rows, same order, 1e-6 px."""
    ulm = ref.ulm(method)
    mat_in = ref["loc_input"]
    before = mat_in.copy()
    out = ULM_localization2D(mat_in, ulm)
    np.testing.assert_array_equal(mat_in, before)
    expected = _reference_rows(ref, method)
    assert out.shape == expected.shape
    np.testing.assert_array_equal(out[:, 3], expected[:, 3])
    np.testing.assert_allclose(out[:, 0], expected[:, 0], rtol=1e-12)
    np.testing.assert_allclose(out[:, 1:3], expected[:, 1:3], atol=1e-6, rtol=0)


def test_pythonic_localize_is_zero_based_and_memory_order_free(ref_a):
    x = ref_a["loc_input"]
    kw = dict(number_of_particles=40, n_local_max=3, pala_compat=True)
    a = pyulm.localize(x, "radial", fwhm=3, **kw)
    b = pyulm.localize(np.asfortranarray(x), "radial", fwhm=(3, 3), **kw)
    c = pyulm.localize(x.astype(np.complex128) * np.exp(1j * 0.3), "radial", fwhm=3, **kw)
    expected = _reference_rows(ref_a, "radial")
    np.testing.assert_allclose(a.z + 1, expected[:, 1], atol=1e-6)
    np.testing.assert_array_equal(a.frame + 1, expected[:, 3])
    for other in (b, c):
        np.testing.assert_allclose(other.z, a.z, atol=1e-9)
        np.testing.assert_allclose(other.x, a.x, atol=1e-9)


def test_spec_three_frame_vector():
    """PALA_SPEC §6.3: sum of Gaussians (sigma 1 px) on 30x40x3, fwhm [3 3], N=5."""
    zz, xx = np.mgrid[1:31, 1:41].astype(float)
    centres = [[(10.3, 12.6), (20.0, 25.2)], [(11.1, 13.4), (19.4, 26.0)], [(12.0, 14.1), (18.8, 26.9)]]
    mat = np.zeros((30, 40, 3))
    for t, cs in enumerate(centres):
        for z0, x0 in cs:
            mat[:, :, t] += np.exp(-((zz - z0) ** 2 + (xx - x0) ** 2) / 2)
    ulm = {"numberOfParticles": 5, "fwhm": [3, 3]}
    wa = ULM_localization2D(mat, {**ulm, "LocMethod": "wa"})
    rs = ULM_localization2D(mat, {**ulm, "LocMethod": "radial"})
    np.testing.assert_allclose(wa[:, 1:3], [[10.2758, 12.6338], [20.0000, 25.1844], [11.0924, 13.3662],
                                            [19.3662, 26.0000], [12.0000, 14.0924], [18.8156, 26.9076]], atol=1e-4)
    np.testing.assert_allclose(rs[:, 1:3], [[10.3312, 12.5572], [20.0000, 25.2198], [11.1100, 13.4422],
                                            [19.4422, 26.0000], [12.0000, 14.1098], [18.7801, 26.8902]], atol=1e-4)
    np.testing.assert_allclose(rs[:, 0], [0.8825, 0.9802, 0.9185, 0.9231, 0.9950, 0.9753], atol=1e-4)
    ns = ULM_localization2D(mat, {**ulm, "LocMethod": "NoLocalization"})
    assert np.all(ns[:, 1:3] == np.round(ns[:, 1:3]))


def test_radial_and_wa_kernel_vector():
    """PALA_SPEC §1.3 test vector (Octave)."""
    zz, xx = np.mgrid[-2:3, -2:3].astype(float)
    roi = np.exp(-((zz - 0.3) ** 2 + (xx + 0.2) ** 2) / 2)[None]
    zc, xc = radial_symmetry(roi)
    assert zc[0] == pytest.approx(0.3307435646126893, abs=1e-13)
    assert xc[0] == pytest.approx(-0.2200918542400153, abs=1e-13)
    zc, xc = weighted_average(roi)
    assert zc[0] == pytest.approx(0.275808341239082, abs=1e-13)
    assert xc[0] == pytest.approx(-0.1844216314205113, abs=1e-13)


def test_regional_maxima_plateaus_and_borders():
    img = np.array([[0, 0, 0, 0, 0],
                    [0, 5, 5, 0, 0],
                    [0, 0, 0, 0, 3],
                    [0, 4, 0, 0, 0],
                    [0, 6, 5, 0, 0]], float)
    m = regional_maxima(img)
    # the 2-pixel plateau of 5 counts pixel by pixel; border maxima (3 and 6) are allowed;
    # 4 is next to 6, and the 5 at (4, 2) is a shoulder of 6
    assert sorted(zip(*np.nonzero(m))) == [(1, 1), (1, 2), (2, 4), (4, 1)]
    assert count_regional_maxima(img[None])[0] == 4
    # a constant image is marked everywhere (MATLAB/Octave), a non-maximal plateau nowhere
    assert regional_maxima(np.full((3, 4), 2.0)).all()
    shoulder = np.array([[1, 1, 2], [1, 1, 0], [0, 0, 0]], float)
    assert sorted(zip(*np.nonzero(regional_maxima(shoulder)))) == [(0, 2)]


def test_strict_threshold_drops_ties():
    """Candidates must exceed the (N+1)-th largest maximum: a tie at the threshold drops all tied."""
    frame = np.zeros((20, 20))
    for (z, x), v in zip([(5, 5), (5, 14), (14, 5), (14, 14)], [4.0, 3.0, 3.0, 2.0]):
        frame[z, x] = v
    z, x, t = select_candidates(frame[:, :, None], (3, 3), 2)  # 3rd largest is 3 -> only the 4 survives
    assert list(zip(z, x)) == [(5, 5)]
    z, x, t = select_candidates(frame[:, :, None], (3, 3), 3)  # 4th largest is 2 -> 4, 3, 3
    assert sorted(zip(z, x)) == [(5, 5), (5, 14), (14, 5)]


def test_nlocalmax_rejects_crowded_rois():
    zz, xx = np.mgrid[0:30, 0:30].astype(float)
    f = np.exp(-((zz - 15) ** 2 + (xx - 15) ** 2) / 2)
    f += 0.5 * np.exp(-((zz - 15) ** 2 + (xx - 17) ** 2) / 0.3)  # a second peak inside the 5x5 ROI
    kept = pyulm.localize(f, "wa", fwhm=3, number_of_particles=1, n_local_max=3)
    dropped = pyulm.localize(f, "wa", fwhm=3, number_of_particles=1, n_local_max=1)
    assert len(kept) == 1 and len(dropped) == 0


def test_divergence_guard_uses_unrounded_half_fwhm():
    # a bright ROI edge drags the weighted average beyond fwhm/2 = 1.5 px
    f = np.zeros((20, 20))
    f[10, 10] = 1.0
    f[10, 12] = 0.99
    f[8:13, 12] = 0.9
    locs = pyulm.localize(f, "wa", fwhm=3, number_of_particles=1, n_local_max=25)
    assert len(locs) == 0 or abs(locs.x[0] - 10) <= 1.5


def test_empty_and_constant_frames():
    for frames in (np.zeros((20, 20, 3)), np.full((20, 20, 3), 7.0)):
        for method in CORE:
            locs = pyulm.localize(frames, method, fwhm=3, number_of_particles=5)
            assert len(locs) == 0
            out = ULM_localization2D(frames, {"numberOfParticles": 5, "fwhm": [3, 3], "LocMethod": method})
            assert out.shape == (0, 4)


def test_single_precision_stays_single(ref_a):
    x = ref_a["loc_input"][:, :, :3].astype(np.float32)
    out = ULM_localization2D(x, ref_a.ulm("radial"))
    assert out.dtype == np.float32


@pytest.mark.parametrize(
    "ulm, match",
    [
        ({"fwhm": [3, 3]}, "numberOfParticles"),
        ({"numberOfParticles": 5}, "fwhm"),
        ({"numberOfParticles": 5, "fwhm": [3, 3], "LocMethod": "magic"}, "unknown localization method"),
        ({"numberOfParticles": 5, "fwhm": [3, 5]}, "square"),
        ({"numberOfParticles": 5000, "fwhm": [3, 3]}, "numberOfParticles"),
        ({"numberOfParticles": -1, "fwhm": [3, 3]}, "numberOfParticles"),
        ({"numberOfParticles": 5, "fwhm": [3, 3], "parameters": {"NLocalMax": 0}}, "NLocalMax"),
    ],
)
def test_pala_bad_input(ulm, match):
    with pytest.raises(ValueError, match=match):
        ULM_localization2D(np.random.default_rng(0).random((20, 30, 2)), ulm)


def test_bad_frames():
    with pytest.raises(ValueError, match="3 axes"):
        pyulm.localize(np.zeros((2, 3, 4, 5)), number_of_particles=1)
    with pytest.raises(ValueError, match="empty"):
        pyulm.localize(np.zeros((0, 3, 4)), number_of_particles=1)
    bad = np.ones((10, 10, 2))
    bad[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or Inf"):
        pyulm.localize(bad, number_of_particles=1)


def test_registry_plugs_in_a_new_kernel():
    @pyulm.register_kernel("test_centre")
    def centre(rois, *, shift=0.25):
        return np.full(rois.shape[0], shift), np.full(rois.shape[0], -shift)

    try:
        assert pyulm.localization.get_method("test_centre").options == ("shift",)
        f = np.zeros((20, 20))
        f[9:12, 9:12] = [[1, 2, 1], [2, 5, 2], [1, 2, 1]]
        locs = pyulm.localize(f, "test_centre", fwhm=3, number_of_particles=1)
        assert (locs.z[0], locs.x[0]) == (10.25, 9.75)
        out = ULM_localization2D(f[:, :, None], {"numberOfParticles": 1, "fwhm": [3, 3], "LocMethod": "TEST_CENTRE",
                                                 "parameters": {"shift": 0.5}})
        np.testing.assert_allclose(out[0, 1:3], [11.5, 10.5])
        assert "test_centre" in pyulm.available_methods()
    finally:
        pyulm.localization.unregister("test_centre")
    assert "test_centre" not in pyulm.available_methods()
    with pytest.raises(ValueError, match="no localization method 'test_centre'"):
        pyulm.localization.unregister("test_centre")


def test_registry_refuses_signatures_it_cannot_check():
    with pytest.raises(ValueError, match="'test_bad'.*need a default"):
        pyulm.register_kernel("test_bad", lambda rois, *, size: (rois, rois))
    with pytest.raises(ValueError, match="'test_bad'.*must accept"):
        pyulm.register_method("test_bad", lambda frames, *, fwhm=3: None)
    assert "test_bad" not in pyulm.available_methods()


def test_optional_methods_are_declared_by_name_and_imported_one_at_a_time():
    """The registry's list of optional methods matches what their modules register; a lookup imports one module."""
    import importlib
    import subprocess
    import sys

    declared = pyulm.localization.optional_methods()
    for name, module in declared.items():
        importlib.import_module(module)
        assert pyulm.localization.get_method(name).func.__module__.startswith(module), name
    modules = set(declared.values())
    registered = {k for k in pyulm.available_methods()
                  if any(pyulm.localization.get_method(k).func.__module__.startswith(m) for m in modules)}
    assert registered == set(declared)
    code = ("import sys, pyulm; m = pyulm.available_methods(); a = 'pyulm.localization.ncc' in sys.modules; "
            "pyulm.localization.get_method('decon'); "
            "print(sorted(m) == m, 'ncc' in m and 'mblnet' in m and 'radial' in m, a, "
            "'pyulm.localization.ncc' in sys.modules, 'pyulm.localization.decon' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "True", "False", "False", "True"]


def test_every_reference_method_is_registered():
    for m in METHODS:
        pyulm.localization.get_method(m)


def _spots(shape, spots):
    zz, xx = np.mgrid[0:shape[0], 0:shape[1]]
    return sum(np.exp(-((zz - z) ** 2 + (xx - x) ** 2) / 2) for z, x in spots)[:, :, None]


@pytest.mark.parametrize("method", ["radial", "wa", "interp", "curvefitting"])
def test_candidates_reach_the_edge_outside_pala_mode(method):
    edge = [(1.3, 20.4), (15.2, 38.4), (28.6, 0.7)]  # within PALA's 3-pixel border
    inner = (14.4, 17.7)
    f = _spots((30, 40), edge + [inner])
    pala = pyulm.localize(f, method, fwhm=3, number_of_particles=4, pala_compat=True)
    free = pyulm.localize(f, method, fwhm=3, number_of_particles=4)

    def nearest(locs, z, x):
        d = np.hypot(locs.z - z, locs.x - x)
        return int(np.argmin(d)), float(d.min()) if len(locs) else np.inf

    # PALA mode misses them (at best a biased hit on the crop's edge); here all four are found
    assert all(nearest(pala, z, x)[1] > 0.3 for z, x in edge)
    assert len(free) == 4
    # the inner bubble's window does not move: the same position in both modes
    kp, _ = nearest(pala, *inner)
    kf, _ = nearest(free, *inner)
    assert (free.z[kf], free.x[kf]) == (pala.z[kp], pala.x[kp])
    # off-centre windows on a PSF cut by the edge: the model fit is unbiased, the others lean inward
    tol = 0.2 if method == "curvefitting" else 0.75
    for z, x in edge:
        assert nearest(free, z, x)[1] < tol, (z, x)


def test_border_detection_raises_recall_on_a_small_field():
    from pyulm.metrics import detection_scores, match
    from pyulm.sim.free import free_motion

    sims = [free_motion((32, 32), n_frames=30, n_bubbles=5, speed=(0.2, 1.0), snr_db=20, seed=s) for s in range(3)]

    def scores(compat):
        sc = [detection_scores(match(s.gt, pyulm.localize(s.iq, "radial", fwhm=3, number_of_particles=7, n_local_max=3,
                                                          pala_compat=compat), max_distance=0.5)) for s in sims]
        tp, fp, fn = (sum(s[k] for s in sc) for k in ("tp", "fp", "fn"))
        return tp / (tp + fn), tp / (tp + fp)

    (r_pala, p_pala), (r_free, p_free) = scores(True), scores(False)
    assert r_free > r_pala + 0.1 and p_free > p_pala - 0.02


def test_frames_smaller_than_the_window_give_no_candidate():
    f = _spots((4, 30), [(2.0, 10.0)])
    assert len(pyulm.localize(f, "radial", fwhm=3, number_of_particles=2)) == 0
    assert len(pyulm.localize(f, "radial", fwhm=3, number_of_particles=2, pala_compat=True)) == 0


def test_plateau_maxima_equal_skimage_without_needing_it():
    """The plateau rule (numpy + scipy.ndimage) marks what skimage's local_maxima marks (MATLAB imregionalmax)."""
    local_maxima = pytest.importorskip("skimage.morphology").local_maxima
    rng = np.random.default_rng(0)
    for _ in range(500):
        img = rng.integers(0, rng.integers(1, 5), rng.integers(1, 9, 2)).astype(float)
        expected = local_maxima(img, connectivity=2, allow_borders=True)
        if np.all(img == img.flat[0]):
            expected = np.ones(img.shape, bool)  # MATLAB/Octave mark a constant image everywhere
        np.testing.assert_array_equal(regional_maxima(img), expected)
        np.testing.assert_array_equal(count_regional_maxima(img[None]), [expected.sum()])


def test_strict_maxima_skip_plateaus_and_allow_borders():
    from pyulm.localization.detect import regional_maxima, strict_maxima
    img = np.zeros((5, 6), np.float32)
    img[0, 0] = 2.0             # on the border: a maximum (outside counts as -inf)
    img[2, 3] = img[2, 4] = 1.0  # a two-pixel plateau: regional, not strict
    img[4, 1] = 0.5
    s = strict_maxima(img)
    assert s.dtype == bool and s.shape == img.shape
    assert sorted(zip(*np.nonzero(s))) == [(0, 0), (4, 1)]
    assert regional_maxima(img)[2, 3] and not s[2, 3]
    np.testing.assert_array_equal(strict_maxima(np.dstack([img, img]))[:, :, 1], s)  # (z, x, t): per slice
