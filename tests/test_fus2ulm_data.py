"""fUS / ULM pairs, files, sliding windows and vessel widths (no torch needed)."""
import numpy as np
import pytest
from scipy import ndimage

from pyulm.nn.fus2ulm import sliding
from pyulm.nn.fus2ulm.data import load_registered_pair, read_image, split
from pyulm.nn.fus2ulm.evaluation import image_metrics, thinnest_width, vessel_widths
from pyulm.sim.doppler import fus_display, load_pairs, save_pairs, simulate_pair, simulate_pairs, ulm_log

TINY = dict(field=32, size=32, res=2, fus_frames=16, ulm_frames=200)


@pytest.fixture(scope="module")
def pair():
    return simulate_pair((7, 1), **TINY)


def test_pair_is_reproducible_registered_and_in_range(pair):
    again = simulate_pair((7, 1), **TINY)
    other = simulate_pair((7, 2), **TINY)
    assert pair.fus.shape == pair.ulm.shape == (32, 32)
    np.testing.assert_array_equal(pair.fus, again.fus)
    np.testing.assert_array_equal(pair.ulm, again.ulm)
    assert not np.array_equal(pair.fus, other.fus)
    for im in (pair.fus, pair.ulm):
        assert im.dtype == np.float32 and im.min() >= 0 and im.max() == pytest.approx(1.0, abs=1e-6)
    # the same vessels: where ULM sees flow, fUS is brighter than where it does not
    vessels = ndimage.binary_dilation(pair.ulm > 0.2, iterations=1)
    assert pair.fus[vessels].mean() > pair.fus[~vessels].mean() + 0.1
    assert pair.density.shape == (64, 64) and pair.power_doppler.shape == (32, 32)


def test_fus_display_and_ulm_log():
    pd = np.array([[1.0, 1e-2], [1e-6, 0.0]])
    np.testing.assert_allclose(fus_display(pd, 40.0), [[1.0, 0.5], [0.0, 0.0]])
    d = np.array([[0.0, np.e - 1], [3.0, 1.0]])
    out = ulm_log(d)
    assert out[0, 0] == 0 and out.max() == 1.0 and out[0, 1] == pytest.approx(1 / np.log(4))
    with pytest.raises(ValueError, match="non-negative"):
        ulm_log(-d)
    with pytest.raises(ValueError, match="positive maximum"):
        fus_display(np.zeros((2, 2)))


def test_pairs_file_roundtrip(tmp_path, pair):
    p = save_pairs(tmp_path / "p.npz", [pair, pair])
    fus, ulm, params = load_pairs(p)
    assert fus.shape == (2, 32, 32)
    np.testing.assert_array_equal(ulm[1], pair.ulm)
    assert params[0]["field"] == 32
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a fUS/ULM pair file"):
        load_pairs(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="FusUlmPair"):
        save_pairs(tmp_path / "q.npz", [])


def test_simulate_pairs_seeds_never_overlap():
    a = simulate_pairs(2, 5, **TINY)
    b = simulate_pairs(1, 5, first=1, **TINY)
    np.testing.assert_array_equal(a[1].fus, b[0].fus)
    assert a[0].params["seed"] == [5, 0] or a[0].params["seed"] == (5, 0)


def test_registered_pair_from_files(tmp_path):
    import tifffile
    from scipy.io import savemat

    rng = np.random.default_rng(0)
    pd = rng.random((40, 40)) + 0.1
    matout = rng.poisson(2.0, (401, 401)).astype(float)  # PALA: res * N + 1
    tifffile.imwrite(tmp_path / "pd.tif", pd.astype(np.float32))
    savemat(tmp_path / "MatOut.mat", {"MatOut": matout, "other": np.zeros(3)})
    pd0, mo0 = pd.copy(), matout.copy()
    f, u = load_registered_pair(tmp_path / "pd.tif", tmp_path / "MatOut.mat", size=64)
    assert f.shape == u.shape == (64, 64) and f.min() >= 0 and u.max() == pytest.approx(1.0)
    f2, u2 = load_registered_pair(pd, matout, size=64)
    np.testing.assert_allclose(f, f2, atol=1e-6)
    np.testing.assert_array_equal(pd, pd0)
    np.testing.assert_array_equal(matout, mo0)
    with pytest.raises(ValueError, match="not registered"):
        load_registered_pair(pd, matout[:, :300], size=64)
    bad = pd.copy()
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        load_registered_pair(bad, matout)
    with pytest.raises(ValueError, match="no variable 'X'"):
        read_image(tmp_path / "MatOut.mat", "X")
    with pytest.raises(ValueError, match="unsupported file type"):
        read_image(tmp_path / "pd.jpg")


def test_split_poster_regime():
    tr, va, te = split(35, [29, 1, 5])
    assert len(tr) == 29 and va.tolist() == [29] and te.tolist() == list(range(30, 35))
    tr2, va2, te2 = split(200, [180, 10, 10])
    assert len(tr2) == 180
    with pytest.raises(ValueError, match="only 35 given"):
        split(35, [30, 1, 5])


def test_sliding_identity_covers_and_rejects():
    img = np.random.default_rng(1).random((50, 70))
    out = sliding.apply(lambda p, c: p, img, 16, 8)
    np.testing.assert_allclose(out, img)
    assert sliding.starts(50, 16, 8)[-1] == 34
    with pytest.raises(ValueError, match="stride"):
        sliding.starts(50, 16, 20)
    with pytest.raises(ValueError, match="does not fit"):
        sliding.starts(10, 16, 8)


def test_sliding_blend_has_no_seams():
    # each window predicts a different constant: hard tiling jumps by up to 1 at the seams,
    # the blended image moves continuously from one window to the next
    img = np.zeros((64, 64))
    rng = np.random.default_rng(2)
    out = sliding.apply(lambda p, c: np.ones_like(p) * rng.random(len(p))[:, None, None], img, 16, 8)
    jumps = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    assert jumps < 0.2


def test_vessel_widths_measures_known_lines():
    img = np.zeros((96, 96))
    img[:, 30] = 1.0
    img[:, 70] = 1.0
    sharp = ndimage.gaussian_filter1d(img, 1.5 / 2.355 * 2, axis=1)  # FWHM 3 px
    blurred = ndimage.gaussian_filter1d(img, 9.0 / 2.355, axis=1)   # FWHM 9 px
    w3 = np.median(vessel_widths(sharp / sharp.max()))
    w9 = np.median(vessel_widths(blurred / blurred.max()))
    assert w3 == pytest.approx(3.0, rel=0.15) and w9 == pytest.approx(9.0, rel=0.1)
    assert np.isnan(thinnest_width(np.zeros((32, 32))))


def test_image_metrics():
    a = np.zeros((16, 16))
    b = np.full((16, 16), 0.1)
    m = image_metrics(a, b)
    assert m["mse"] == pytest.approx(0.01) and m["psnr"] == pytest.approx(20.0)
    with pytest.raises(ValueError, match="different sizes"):
        image_metrics(a, np.zeros((16, 17)))


def test_frc_resolution_and_masked_widths_do_not_reward_noise():
    from pyulm.nn.fus2ulm.evaluation import frc_resolution_px

    rng = np.random.default_rng(3)
    img = np.zeros((128, 128))
    for _ in range(12):  # random thin lines
        z0, z1 = rng.uniform(0, 127, 2)
        t = np.linspace(0, 1, 400)
        img[np.round(z0 + (z1 - z0) * t).astype(int), np.round(t * 127).astype(int)] = 1.0
    sharp = ndimage.gaussian_filter(img, 1.0)
    blurred = ndimage.gaussian_filter(img, 4.0)
    noise = rng.random(img.shape)
    r_sharp, r_blur, r_noise = (frc_resolution_px(x, img) for x in (sharp, blurred, noise))
    assert r_sharp < r_blur < r_noise and r_blur > 2 * r_sharp
    far = np.zeros(img.shape, bool)
    assert vessel_widths(sharp, mask=far).size == 0
    with pytest.raises(ValueError, match="mask"):
        vessel_widths(sharp, mask=np.ones((3, 3), bool))


def test_ulm_through_the_full_pipeline_matches_the_tracks(pair):
    piped = simulate_pair((7, 1), ulm="pipeline", **TINY)
    np.testing.assert_array_equal(piped.fus, pair.fus)  # same network, same fUS
    assert np.corrcoef(piped.ulm.ravel(), pair.ulm.ravel())[0, 1] > 0.7
    with pytest.raises(ValueError, match="ulm: expected"):
        simulate_pair(1, ulm="gt", **TINY)


def test_importing_fus2ulm_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, pyulm.nn.fus2ulm, pyulm.nn.fus2ulm.data, pyulm.nn.fus2ulm.evaluation, "
            "pyulm.nn.fus2ulm.sliding, pyulm.sim.doppler, pyulm.cli.fus2ulm; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
