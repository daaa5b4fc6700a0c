import numpy as np
import pytest

from pyulm.psf import check_psf, estimate_psf, fit_gaussian_2d, gaussian_template, psf_from_transducer


def test_gaussian_kernel_half_maximum_at_half_fwhm():
    h = gaussian_template((2.0, 4.0), (9, 9))
    assert h[4, 4] == 1.0
    assert h[3, 4] == pytest.approx(0.5) and h[5, 4] == pytest.approx(0.5)  # z: fwhm/2 = 1 px
    assert h[4, 2] == pytest.approx(0.5) and h[4, 6] == pytest.approx(0.5)  # x: fwhm/2 = 2 px


def test_fit_gaussian_recovers_width_centre_and_background():
    img = 0.1 + 2.0 * gaussian_template((2.5, 4.5), (15, 17), center=(-0.4, 0.7))
    fit = fit_gaussian_2d(img)
    assert fit["fwhm"] == pytest.approx((2.5, 4.5), abs=1e-4)
    assert (fit["z0"], fit["x0"]) == pytest.approx((7 - 0.4, 8 + 0.7), abs=1e-4)
    assert fit["amplitude"] == pytest.approx(2.0, abs=1e-4) and fit["background"] == pytest.approx(0.1, abs=1e-4)


def _scene(rng, n_frames=12, close_pair=True):
    frames = np.zeros((60, 60, n_frames))
    for t in range(n_frames):
        for (z, x) in ((15, 15), (15, 45), (45, 15), (45, 45)):
            dz, dx = rng.uniform(-0.5, 0.5, 2)
            frames[z - 7:z + 8, x - 7:x + 8, t] += rng.uniform(0.5, 1.0) * gaussian_template((3.0, 5.0), (15, 15), center=(dz, dx))
        if close_pair:  # two bubbles 3 px apart: not isolated, must not be averaged
            frames[27:38, 27:38, t] += gaussian_template((3.0, 5.0), (11, 11))
            frames[30:41, 27:38, t] += gaussian_template((3.0, 5.0), (11, 11))
    return frames + 0.01 * rng.normal(size=frames.shape)


def test_estimate_psf_from_isolated_bubbles():
    rng = np.random.default_rng(0)
    frames = _scene(rng)
    before = frames.copy()
    est = estimate_psf(frames, fwhm=4, pixel_size_wavelengths=(0.5, 0.25))
    np.testing.assert_array_equal(frames, before)  # input untouched
    assert est.fwhm == pytest.approx((3.0, 5.0), rel=0.05)
    assert est.fwhm_wavelengths == pytest.approx((1.5, 1.25), rel=0.05)
    assert est.n_used == 4 * 12  # the close pair is rejected in every frame
    assert est.image.shape == (13, 13) and est.image[6, 6] == 1.0


def test_estimate_psf_without_bubbles_raises():
    with pytest.raises(ValueError, match="isolated"):
        estimate_psf(np.ones((30, 30, 2)))


def test_psf_from_transducer_formulas():
    wl_mm = 1540 / 15e3
    p = psf_from_transducer(15.0, fractional_bandwidth=0.5, f_number=2.0, angles=None, pixel_size_mm=(wl_mm / 2, wl_mm))
    # focused transmit through the receive aperture: sinc^2, FWHM 0.886 wavelength * F
    assert p.fwhm_wavelengths == pytest.approx((2 * np.log(2) / (np.pi * 0.5), 0.886 * 2.0), rel=1e-3)
    assert p.fwhm == pytest.approx((2 * p.fwhm_wavelengths[0], p.fwhm_wavelengths[1]))
    assert p.wavelength == pytest.approx(2.0) and p.pixel_size_mm == pytest.approx((wl_mm / 2, wl_mm))
    q = psf_from_transducer(15.0, n_cycles=2, pitch_mm=0.1, n_elements=128, depth_mm=25.6, angles=None,
                            pixel_size_mm=wl_mm)
    assert q.fwhm_wavelengths == pytest.approx((1.0, 0.886 * 2.0), rel=1e-3)
    assert q.params["f_number"] == pytest.approx(2.0)
    assert q.params["wavelength_mm"] == pytest.approx(wl_mm)
    # an explicit aperture overrides pitch x n_elements
    assert psf_from_transducer(15.0, aperture_mm=12.8, depth_mm=25.6).params["f_number"] == pytest.approx(2.0)


def test_one_psf_model_everywhere():
    """Localization, estimation and simulation share one PSF class (issue 12)."""
    import pyulm.sim
    from pyulm.psf import PSF

    assert pyulm.sim.PSF is PSF and pyulm.sim.psf_from_transducer is psf_from_transducer
    est = estimate_psf(_scene(np.random.default_rng(0)), fwhm=4)
    assert isinstance(est, PSF) and est.kernel is est.image
    model = pyulm.sim.gaussian_psf((2.0, 3.0))
    assert isinstance(model, PSF) and model.image.shape == (7, 11) and model.image[3, 5] == 1.0
    # one name per concept: the PSF model is gaussian_psf, the sampled array gaussian_template
    assert not hasattr(pyulm.psf, "gaussian_psf") and isinstance(gaussian_template(2.0, (5, 5)), np.ndarray)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(fractional_bandwidth=None), "fractional_bandwidth"),
    (dict(fractional_bandwidth=2.5), "fractional_bandwidth"),
    (dict(pitch_mm=None, depth_mm=8.0), "f_number"),
    (dict(fractional_bandwidth=-1, f_number=1), "fractional_bandwidth"),
    (dict(center_frequency_mhz=15e6, pixel_size_mm=-1), "pixel_size_mm"),
    (dict(angles=[95]), "angles"),
])
def test_psf_from_transducer_bad_input(kwargs, msg):
    with pytest.raises(ValueError, match=msg):
        psf_from_transducer(**kwargs)


@pytest.mark.parametrize("psf, msg", [
    (np.ones((41, 5)), "larger than the frame"),
    (np.full((3, 3), np.nan), "NaN"),
    (np.zeros((3, 3)), "zero energy"),
    (np.ones((4, 3)), "odd"),
    (np.ones(3), "2-D"),
])
def test_check_psf_rejects(psf, msg):
    with pytest.raises(ValueError, match=msg):
        check_psf(psf, (40, 40))
