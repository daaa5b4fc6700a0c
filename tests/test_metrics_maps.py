import numpy as np
import pytest
from scipy import ndimage

from pyulm.metrics import (binary_overlap, cnr, frc, frc_resolution, map_rmse, map_ssim, profile_fwhm,
                           saturation_curve)


def test_rmse_ssim_and_size_mismatch():
    rng = np.random.default_rng(0)
    a = rng.random((30, 40))
    b = a + 0.1
    assert map_rmse(a, b) == pytest.approx(0.1)
    assert map_rmse(a, 2 * a, normalize="max") == pytest.approx(0.0)
    assert map_ssim(a, a) == pytest.approx(1.0)
    assert map_ssim(a, rng.random((30, 40))) < 0.2
    for f in (map_rmse, map_ssim, binary_overlap, frc):
        with pytest.raises(ValueError, match="different sizes"):
            f(a, a[:, :39])


def test_cnr_and_profile_fwhm():
    img = np.zeros((4, 4))
    img[:2] = [[10, 12, 10, 12]] * 2
    img[2:] = [[0, 2, 0, 2]] * 2
    reg, bg = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    reg[:2], bg[2:] = True, True
    assert cnr(img, reg, bg) == pytest.approx(20 * np.log10(10 / np.sqrt(2)))
    with pytest.raises(ValueError, match="no pixel"):
        cnr(img, reg, np.zeros((4, 4), bool))
    x = np.arange(-50, 51) * 0.05
    assert profile_fwhm(np.exp(-x ** 2 / 2), 0.05) == pytest.approx(2.3548, abs=0.01)
    wide = np.arange(-120, 121) * 0.05
    assert profile_fwhm(1 + np.exp(-wide ** 2 / 2), 0.05, baseline="min") == pytest.approx(2.3548, abs=0.01)
    assert profile_fwhm(1 + np.exp(-x ** 2 / 2), 0.05, baseline=1.0) == pytest.approx(2.3548, abs=0.01)
    assert np.isnan(profile_fwhm(np.linspace(0, 1, 10)))


def test_binary_overlap():
    a = np.array([[1, 1, 1, 0]])
    b = np.array([[0, 1, 1, 1]])
    o = binary_overlap(a, b)
    assert o == {"dice": pytest.approx(2 / 3), "precision": pytest.approx(2 / 3), "recall": pytest.approx(2 / 3)}


def test_frc_resolution_tracks_blur():
    rng = np.random.default_rng(1)
    base = rng.random((128, 128))
    resolutions = []
    for sigma in (2.0, 6.0):
        truth = ndimage.gaussian_filter(base, sigma)
        n = 0.02 * truth.std()
        r = frc_resolution(truth + n * rng.normal(size=truth.shape), truth + n * rng.normal(size=truth.shape),
                           pixel_size=0.1)
        assert r.crossed
        resolutions.append(r.resolution)
    assert resolutions[1] > 1.3 * resolutions[0]  # three times the blur, a coarser resolution
    f, c = frc(base, base)
    np.testing.assert_allclose(c, 1.0)


def test_saturation_curve():
    maps = [np.array([[1, 0], [0, 0]]), np.array([[0, 0], [0, 0]]), np.array([[0, 1], [1, 1]])]
    np.testing.assert_allclose(saturation_curve(maps), [0.25, 0.25, 1.0])
    with pytest.raises(ValueError, match="same 2-D size"):
        saturation_curve([np.zeros((2, 2)), np.zeros((3, 2))])
