import numpy as np
import pytest

import pyulm
from pyulm.localization.ncc import find_peaks, localize_ncc, ncc_maps, peak_offsets
from pyulm.psf import gaussian_template

TRUE = [(12.3, 14.6, 0), (30.8, 40.2, 0), (20.45, 25.1, 1), (8.0, 50.7, 1)]


def _frames(noise=0.0, seed=0, complex_=False):
    rng = np.random.default_rng(seed)
    f = np.zeros((44, 64, 2), complex if complex_ else float)
    for z, x, t in TRUE:
        iz, ix = int(round(z)), int(round(x))
        blob = gaussian_template(3, (13, 13), center=(z - iz, x - ix))
        f[iz - 6:iz + 7, ix - 6:ix + 7, t] += blob * (np.exp(1j * 0.3) if complex_ else 1)
    if noise:
        f = f + noise * rng.normal(size=f.shape)
    return f


def _brute_ncc(I, T, z, x):
    kz, kx = T.shape
    P = np.pad(I, ((kz // 2, kz // 2), (kx // 2, kx // 2)))
    W = P[z:z + kz, x:x + kx]
    a, b = W - W.mean(), T - T.mean()
    return (a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum())


def test_ncc_map_equals_brute_force_and_is_gain_offset_invariant():
    rng = np.random.default_rng(3)
    I = rng.random((20, 25, 2))
    T = gaussian_template((3, 4), (5, 7))
    C = ncc_maps(I, T)
    for z, x, t in ((0, 0, 0), (10, 12, 1), (19, 24, 0), (3, 20, 1)):
        assert C[z, x, t] == pytest.approx(_brute_ncc(I[:, :, t], T, z, x), abs=1e-10)
    C2 = ncc_maps(3.0 * I + 7.0, T)
    np.testing.assert_allclose(C2[3:-3, 4:-4], C[3:-3, 4:-4], atol=1e-9)  # full windows only


def test_complex_map_is_normalised_correlation():
    f = _frames(complex_=True)
    T = gaussian_template(3, (7, 7))
    C = ncc_maps(f, T, mode="complex")
    assert np.iscomplexobj(C) and np.abs(C).max() <= 1 + 1e-12
    z, x = 20, 25
    W = f[z - 3:z + 4, x - 3:x + 4, 1]
    ref = (W * T).sum() / (np.sqrt((np.abs(W) ** 2).sum()) * np.sqrt((T ** 2).sum()))
    assert C[z, x, 1] == pytest.approx(ref)
    with pytest.raises(ValueError, match="complex IQ"):
        ncc_maps(np.abs(f), T, mode="complex")


def test_peak_offsets_exact_for_gaussian_and_bounded_fallback():
    zz, xx = np.mgrid[-1:2, -1:2]
    g = np.exp(-((zz - 0.4) ** 2 / 2 + (xx + 0.35) ** 2 / 3))[None]
    dz, dx = peak_offsets(g, method="gaussian")
    assert (dz[0], dx[0]) == pytest.approx((0.4, -0.35), abs=1e-12)
    saddle = np.array([[[0, 1, 0], [1, 1, 1], [0, 1, 0.0]]]) * np.array([1, -1, 1])[None, :, None]
    dz, dx = peak_offsets(saddle)
    assert abs(dz[0]) <= 0.5 and abs(dx[0]) <= 0.5


def test_find_peaks_top_n_threshold_and_order():
    m = np.zeros((10, 10, 2))
    m[2, 5, 0], m[6, 3, 0], m[4, 7, 0] = 0.9, 0.8, 0.4
    m[5, 5, 1] = 0.95
    z, x, t = find_peaks(m, threshold=0.5, number_of_particles=5)
    assert list(zip(z, x, t)) == [(6, 3, 0), (2, 5, 0), (5, 5, 1)]  # frame, then x, then z
    z, x, t = find_peaks(m, threshold=0.0, number_of_particles=1)
    assert list(zip(z, x, t)) == [(2, 5, 0), (5, 5, 1)]


@pytest.mark.parametrize("subpixel, tol", [("gaussian", 0.05), ("parabolic", 0.2)])
def test_localize_ncc_accuracy_noiseless(subpixel, tol):
    f = _frames()
    locs = pyulm.localize(f, "ncc", fwhm=3, number_of_particles=4, psf=gaussian_template(3, (7, 7)), subpixel=subpixel)
    assert len(locs) == 4
    got = sorted(zip(locs.frame, locs.z, locs.x))
    want = sorted((t, z, x) for z, x, t in TRUE)
    for (tg, zg, xg), (tw, zw, xw) in zip(got, want):
        assert tg == tw and abs(zg - zw) < tol and abs(xg - xw) < tol
    assert np.all(locs["ncc"] > 0.9)


def test_localize_ncc_estimates_psf_and_uses_complex_iq():
    f = _frames(noise=0.02, complex_=True)
    before = f.copy()
    locs = localize_ncc(f, fwhm=3, number_of_particles=2)  # psf estimated from the frames
    np.testing.assert_array_equal(f, before)
    assert len(locs) == 4 and np.all(locs["ncc"] > 0.9)  # the bubbles outrank noise blobs
    locs_c = localize_ncc(f, fwhm=3, number_of_particles=2, psf="gaussian", mode="complex")
    assert len(locs_c) == 4
    assert np.max(np.abs(np.sort(locs_c.z) - np.sort([z for z, _, _ in TRUE]))) < 0.3


def test_ncc_is_registered_and_reachable_from_pala():
    assert "ncc" in pyulm.available_methods()
    pala = pytest.importorskip("pyulm.pala")
    ulm = {"numberOfParticles": 4, "fwhm": [3, 3], "LocMethod": "NCC", "parameters": {"psf": "gaussian"}}
    out = pala.ULM_localization2D(_frames(), ulm)
    assert out.shape[0] == 4


@pytest.mark.parametrize("psf, msg", [
    (np.ones((51, 5)), "larger than the frame"),
    (np.full((3, 3), np.nan), "NaN"),
    (np.zeros((5, 5)), "zero energy"),
])
def test_ncc_bad_psf(psf, msg):
    with pytest.raises(ValueError, match=msg):
        localize_ncc(_frames(), fwhm=3, number_of_particles=4, psf=psf)


def test_ncc_unknown_option():
    with pytest.raises(TypeError, match="bogus"):
        localize_ncc(_frames(), fwhm=3, number_of_particles=4, bogus=1)
    with pytest.raises(ValueError, match=r"^bogus: localization method 'ncc' has no option 'bogus'"):
        pyulm.localize(_frames(), "ncc", fwhm=3, number_of_particles=4, bogus=1)


@pytest.mark.parametrize("exponent", [-700, -520, 520, 700, 1000])
@pytest.mark.parametrize("mode", ["amplitude", "complex"])
def test_ncc_maps_scale_invariant_far_outside_float64_squares(exponent, mode):
    # NCC is scale-invariant; frames whose squares would overflow (or underflow) float64 give the same maps,
    # bit for bit, through an exact power-of-two rescaling (inputs untouched)
    rng = np.random.default_rng(0)
    f = np.abs(rng.standard_normal((40, 36, 3)))
    f[10:21, 5:16, 0] += 5 * gaussian_template(3, (11, 11))
    if mode == "complex":
        f = f * np.exp(1j * rng.uniform(0, 6, f.shape))
    t = gaussian_template(3, (7, 7))
    big = f * 2.0 ** (exponent // 2) * 2.0 ** (exponent - exponent // 2)
    kept = big.copy()
    np.testing.assert_array_equal(ncc_maps(big, t, mode=mode), ncc_maps(f, t, mode=mode))
    np.testing.assert_array_equal(big, kept)
