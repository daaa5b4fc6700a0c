import numpy as np
import pytest

from pyulm.denoise import bradley_roth, integral_image, local_mean, noise_level


def test_integral_image_box_sums():
    rng = np.random.default_rng(0)
    a = rng.random((7, 9, 2))
    S = integral_image(a)
    assert S[3, 5, 1] - S[1, 5, 1] - S[3, 2, 1] + S[1, 2, 1] == pytest.approx(a[1:3, 2:5, 1].sum())


def test_local_mean_matches_brute_force_with_clipped_borders():
    rng = np.random.default_rng(1)
    a = rng.random((10, 12, 3))
    m = local_mean(a, (3, 5))
    for z, x, t in ((0, 0, 0), (4, 6, 1), (9, 11, 2), (0, 7, 2)):
        ref = a[max(z - 1, 0):z + 2, max(x - 2, 0):x + 3, t].mean()
        assert m[z, x, t] == pytest.approx(ref)


def test_bradley_roth_keeps_bubbles_on_a_gradient_background():
    z = np.linspace(1.0, 10.0, 40)[:, None] * np.ones((1, 40))  # depth-varying background
    img = z.copy()
    img[5, 20] += 3.0   # faint bubble in the dim part
    img[35, 10] += 6.0  # bubble in the bright part
    frames = np.stack([img, img[::-1]], axis=2)
    before = frames.copy()
    mask = bradley_roth(frames, window=7, t=0.2, output="mask")
    np.testing.assert_array_equal(frames, before)
    assert mask[5, 20, 0] and mask[35, 10, 0] and mask.sum() == 4
    assert mask[34, 20, 1] and mask[4, 10, 1]  # frames independent, same rule
    assert not (img > 6.0)[5, 20]  # a global threshold keeping the bright bubble would miss the faint one
    out = bradley_roth(frames.astype(complex), window=7, t=0.2)
    assert out[5, 20, 0] == pytest.approx(img[5, 20]) and out[0, 0, 0] == 0


@pytest.mark.parametrize("kw, msg", [(dict(window=4), "window"), (dict(t=-0.1), "t:"), (dict(output="x"), "output")])
def test_bradley_roth_bad_input(kw, msg):
    with pytest.raises(ValueError, match=msg):
        bradley_roth(np.ones((8, 8)), **kw)


def test_noise_level_robust_to_sparse_bubbles():
    rng = np.random.default_rng(2)
    a = 0.5 * rng.normal(size=(100, 100, 2))
    a[::10, ::10, :] += 50.0
    assert noise_level(a) == pytest.approx([0.5, 0.5], rel=0.05)


@pytest.mark.parametrize("n", [63, 64])
def test_noise_level_is_numpys_median_absolute_deviation_exactly(n):
    """The one-partition row median gives numpy's medians bit for bit (odd and even counts),
    so noise_level is 1.4826 * MAD as np.median computes it."""
    from pyulm.denoise import row_median

    rng = np.random.default_rng(n)
    block = rng.standard_normal((7, n, 5)) + 1j * rng.standard_normal((7, n, 5))  # 441 or 448 pixels
    rows = np.abs(block).reshape(-1, 5).T
    np.testing.assert_array_equal(row_median(rows), np.median(rows, axis=1))
    mad = np.median(np.abs(rows - np.median(rows, axis=1)[:, None]), axis=1)
    np.testing.assert_array_equal(noise_level(block), 1.4826 * mad)
