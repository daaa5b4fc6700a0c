import numpy as np
import pytest

import pyulm
from pyulm.metrics import match
from pyulm.localization.decon import PolyphaseOperator, deconvolve, fine_psf, localize_decon
from pyulm.psf import gaussian_psf


@pytest.mark.parametrize("u", [1, 2, 3])
def test_operator_matches_direct_model(u):
    """A fine point j is a PSF centred at pixel (j - (u-1)/2)/u, sampled at the pixel centres."""
    Nz, Nx = 12, 14
    op = PolyphaseOperator((Nz, Nx), fine_psf((3, 3), u), u)
    rng = np.random.default_rng(u)
    v = np.zeros((1, u, u, Nz, Nx))
    jz, jx = 5 * u + (u - 1), 6 * u  # arbitrary fine point
    v[0, jz % u, jx % u, jz // u, jx // u] = 1.0
    y = op.forward(v)[0]
    cz, cx = (jz - (u - 1) / 2) / u, (jx - (u - 1) / 2) / u
    zz, xx = np.mgrid[0:Nz, 0:Nx]
    s = 3 / 2.3548200450309493
    ref = np.exp(-((zz - cz) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    np.testing.assert_allclose(y, ref, atol=1e-4)  # the kernel is truncated at ±2 FWHM
    # Adjoint: <Hv, r> == <v, H^T r>, and the Lipschitz bound holds.
    w = rng.random((1, u, u, Nz, Nx))
    r = rng.random((1, Nz, Nx))
    lhs = np.sum(op.forward(w) * r)
    rhs = np.sum(w * (-op.gram_minus(np.zeros_like(w), op.spectrum(r))))
    assert lhs == pytest.approx(rhs, rel=1e-5)
    assert np.sum(op.forward(w) ** 2) / np.sum(w ** 2) <= op.norm2 * (1 + 1e-6)


def _scene(noise, seed=0, n_frames=3):
    rng = np.random.default_rng(seed)
    f = np.zeros((40, 48, n_frames))
    truth = []
    for t in range(n_frames):
        for z, x in ((10.3, 12.7), (25.6, 30.2), (25.6, 33.0)):  # the last two are 2.8 px apart
            z, x = z + 0.1 * t, x - 0.05 * t
            iz, ix = int(round(z)), int(round(x))
            f[iz - 6:iz + 7, ix - 6:ix + 7, t] += gaussian_psf(3, (13, 13), center=(z - iz, x - ix))
            truth.append((t, z, x))
    return f + noise * np.abs(rng.normal(size=f.shape)), truth


def test_decon_localizes_and_separates_close_bubbles():
    f, truth = _scene(0.0)
    before = f.copy()
    locs = pyulm.localize(f, "decon", fwhm=3, number_of_particles=5, lam=0.02, background="none", n_iter=300)
    np.testing.assert_array_equal(f, before)
    assert len(locs) == len(truth)
    gt = np.array([(z, x, t) for t, z, x in truth])
    m = match(gt, locs, max_distance=0.5)
    assert m.gt_index.size == len(truth) and m.distance.max() < 0.15


def test_default_lambda_rejects_pure_noise():
    rng = np.random.default_rng(5)
    noise = np.abs(rng.normal(size=(40, 48, 2)) + 1j * rng.normal(size=(40, 48, 2)))
    assert len(localize_decon(noise, fwhm=3, number_of_particles=10)) <= 2
    f, truth = _scene(0.05)
    locs = localize_decon(f * 10, fwhm=3, number_of_particles=5)
    assert len(locs) >= len(truth) - 1


def test_temporal_term_couples_frames_and_zero_equals_independent():
    f, _ = _scene(0.05, n_frames=3)
    x_all, _ = deconvolve(f, fwhm=3, n_iter=40, tol=0)
    x_one, _ = deconvolve(f[:, :, 1], fwhm=3, n_iter=40, tol=0)
    np.testing.assert_allclose(x_all[:, :, 1], x_one[:, :, 0], atol=1e-5)
    x_tmp, info = deconvolve(f, fwhm=3, n_iter=40, tol=0, temporal=1.0)
    d_plain = np.abs(np.diff(x_all, axis=2)).sum()
    d_tmp = np.abs(np.diff(x_tmp, axis=2)).sum()
    assert d_tmp < d_plain and info["n_iter"] == 40


@pytest.mark.parametrize("kw, msg", [
    (dict(lam=0.0), "lam"), (dict(lam=-1.0), "lam"), (dict(lam=[1.0, 2.0]), "lam"),
    (dict(psf=np.ones((41, 3))), "larger than the frame"), (dict(psf=np.full((3, 3), np.nan)), "NaN"),
    (dict(psf=np.zeros((3, 3))), "zero energy"), (dict(upsample=0), "upsample"), (dict(temporal=-1), "temporal"),
])
def test_decon_bad_input(kw, msg):
    f, _ = _scene(0.0)
    with pytest.raises(ValueError, match=msg):
        localize_decon(f, fwhm=3, number_of_particles=3, **kw)


def test_decon_registered():
    assert "decon" in pyulm.available_methods()
