"""The ``curvefitting`` kernel (PALA's Gauss fit): no MATLAB oracle, so scipy and known centres."""
import numpy as np
import pytest
from scipy.optimize import least_squares

import pyulm
from pyulm.localization import count_regional_maxima, extract_rois, half_widths, select_candidates
from pyulm.localization.gaussfit import gauss_fit
from pyulm.pala import ULM_localization2D


def _real_rois(ref, limit=400):
    """ROIs of PALA's candidates on the reference frames that pass the NLocalMax check."""
    ulm = ref.ulm("interp")
    fwhm = ulm["fwhm"]
    amp = ref["loc_input"]
    z, x, t = select_candidates(amp, fwhm, ulm["numberOfParticles"])
    rois = extract_rois(amp, z, x, t, half_widths(fwhm))
    rois = rois[count_regional_maxima(rois) <= ulm["parameters"]["NLocalMax"]]
    step = max(1, rois.shape[0] // limit)
    return rois[::step][:limit]


def _scipy_fit(roi, **kw):
    n_z, n_x = roi.shape
    vz = np.arange(n_z) - (n_z - 1) // 2
    vx = np.arange(n_x) - (n_x - 1) // 2
    X, Z = np.meshgrid(vx, vz)
    data = roi / roi.max()

    def residuals(p):
        return (np.exp(-(X - p[0]) ** 2 / 2 - (Z - p[1]) ** 2 / 2) - data).ravel()

    res = least_squares(residuals, [0.0, 0.0], method="trf", jac="2-point", x_scale=1.0, **kw)
    return res.x[1], res.x[0]  # (dz, dx)


def test_matches_scipy_trf_with_matlab_settings(ref):
    # MaxIterations 5 = 5 trial points after the start, StepTolerance 0.01; the stopping
    # rules differ slightly (scipy's xtol is relative), hence the 1e-2 px tolerance.
    rois = _real_rois(ref)
    dz, dx = gauss_fit(rois)
    expected = np.array([_scipy_fit(r, xtol=0.01, ftol=1e-6, gtol=1e-6, max_nfev=6) for r in rois])
    err = np.hypot(dz - expected[:, 0], dx - expected[:, 1])
    assert rois.shape[0] >= 300
    assert np.mean(err < 1e-2) >= 0.99
    assert np.median(err) < 1e-6


@pytest.mark.parametrize("iterations", [1, 2, 5])
def test_trust_region_iterates_match_scipy_exactly(ref, iterations):
    # With the stopping tests switched off, both run the same trust-region iteration
    # (radius 1 px at the start, exact subproblem, forward-difference Jacobian).
    rois = _real_rois(ref, limit=120)
    dz, dx = gauss_fit(rois, max_iterations=iterations, step_tolerance=0, function_tolerance=0,
                       optimality_tolerance=0)
    tiny = 1e-15
    expected = np.array([_scipy_fit(r, xtol=tiny, ftol=tiny, gtol=tiny, max_nfev=iterations + 1) for r in rois])
    np.testing.assert_allclose(dz, expected[:, 0], atol=1e-6)
    np.testing.assert_allclose(dx, expected[:, 1], atol=1e-6)


def test_more_iterations_converge_to_the_least_squares_optimum(ref_a):
    rois = _real_rois(ref_a, limit=100)
    dz, dx = gauss_fit(rois, max_iterations=100, step_tolerance=1e-12, function_tolerance=0,
                       optimality_tolerance=0)
    expected = np.array([_scipy_fit(r, xtol=1e-14, ftol=1e-14, gtol=1e-14) for r in rois])
    np.testing.assert_allclose(dz, expected[:, 0], atol=1e-6)
    np.testing.assert_allclose(dx, expected[:, 1], atol=1e-6)


@pytest.mark.parametrize("n", [5, 7])
def test_known_centres_noise_free(n):
    rng = np.random.default_rng(n)
    h = n // 2
    zz, xx = np.mgrid[-h:h + 1, -h:h + 1].astype(float)
    c = rng.uniform(-1.0, 1.0, (500, 2))
    rois = 4.2 * np.exp(-((zz[None] - c[:, :1, None]) ** 2 + (xx[None] - c[:, 1:, None]) ** 2) / 2)
    before = rois.copy()
    dz, dx = gauss_fit(rois)
    np.testing.assert_array_equal(rois, before)
    err = np.hypot(dz - c[:, 0], dx - c[:, 1])
    # Five iterations stopped by the 0.01 px step tolerance; the data are scaled by their
    # largest sample, not the true peak, so even the exact optimum is off by ~1e-3 px.
    assert err.max() < 1e-2
    assert np.median(err) < 2e-3


def test_noisy_centres_are_unbiased():
    rng = np.random.default_rng(5)
    zz, xx = np.mgrid[-2:3, -2:3].astype(float)
    c = np.array([0.4, -0.3])
    rois = np.exp(-((zz - c[0]) ** 2 + (xx - c[1]) ** 2) / 2)[None] + rng.normal(0, 0.03, (2000, 5, 5))
    dz, dx = gauss_fit(rois)
    assert abs(dz.mean() - c[0]) < 0.01 and abs(dx.mean() - c[1]) < 0.01
    assert 0.005 < dz.std() < 0.1


def test_pala_wrapper_on_the_spec_scene():
    # PALA_SPEC 6.3 scene: sum of sigma = 1 px Gaussians, three frames, fwhm 3.
    zz, xx = np.mgrid[0:30, 0:40]
    scenes = [[(10.3, 12.6), (20.0, 25.2)], [(11.1, 13.4), (19.4, 26.0)], [(12.0, 14.1), (18.8, 26.9)]]
    frames = np.stack([sum(np.exp(-((zz - (a - 1)) ** 2 + (xx - (b - 1)) ** 2) / 2) for a, b in s)
                       for s in scenes], axis=2)
    out = ULM_localization2D(frames, {"numberOfParticles": 5, "fwhm": [3, 3], "LocMethod": "curvefitting"})
    truth = np.array([p for s in scenes for p in s])
    assert out.shape == (6, 4)
    np.testing.assert_array_equal(out[:, 3], [1, 1, 2, 2, 3, 3])
    np.testing.assert_allclose(out[:, 1:3], truth, atol=0.01)
    np.testing.assert_allclose(out[:, 0], [0.8825, 0.9802, 0.9185, 0.9231, 0.9950, 0.9753], atol=1e-4)
    # Same through the core, which is case-insensitive on the method name.
    locs = pyulm.localize(frames, "CurveFitting", fwhm=3, number_of_particles=5)
    np.testing.assert_allclose(np.c_[locs.z, locs.x] + 1, out[:, 1:3])


def test_real_block_through_localize(ref):
    ulm = ref.ulm("interp")
    locs = pyulm.localize(ref["loc_input"], "curvefitting", fwhm=ulm["fwhm"],
                          number_of_particles=ulm["numberOfParticles"], n_local_max=ulm["parameters"]["NLocalMax"],
                          pala_compat=True)
    # Rows are those of the per-ROI fit, in PALA's order, minus the diverged ones.
    amp = ref["loc_input"]
    z, x, t = select_candidates(amp, ulm["fwhm"], ulm["numberOfParticles"])
    rois = extract_rois(amp, z, x, t, half_widths(ulm["fwhm"]))
    ok = count_regional_maxima(rois) <= ulm["parameters"]["NLocalMax"]
    dz, dx = gauss_fit(rois[ok])
    half = ulm["fwhm"][0] / 2
    kept = (np.abs(dz) <= half) & (np.abs(dx) <= half)
    assert 0.9 * ok.sum() <= kept.sum() == len(locs)
    np.testing.assert_array_equal(locs.z, z[ok][kept] + dz[kept])
    np.testing.assert_array_equal(locs.x, x[ok][kept] + dx[kept])
    np.testing.assert_array_equal(locs.frame, t[ok][kept])


def test_non_positive_roi_gives_nan():
    rois = np.zeros((2, 5, 5))
    rois[1, 2, 2] = 1.0
    dz, dx = gauss_fit(rois)
    assert np.isnan(dz[0]) and np.isnan(dx[0])
    assert dz[1] == 0.0 and dx[1] == 0.0  # a centred peak: the gradient vanishes at the start


def test_bad_input():
    rois = np.ones((1, 5, 5))
    with pytest.raises(ValueError, match="rois"):
        gauss_fit(np.ones((5, 5)))
    with pytest.raises(ValueError, match="max_iterations"):
        gauss_fit(rois, max_iterations=-1)
    with pytest.raises(ValueError, match="max_iterations"):
        gauss_fit(rois, max_iterations=2.5)
    with pytest.raises(ValueError, match="step_tolerance"):
        gauss_fit(rois, step_tolerance=-0.1)
    with pytest.raises(ValueError, match="function_tolerance"):
        gauss_fit(rois, function_tolerance=np.nan)
    with pytest.raises(ValueError, match="optimality_tolerance"):
        gauss_fit(rois, optimality_tolerance="x")
