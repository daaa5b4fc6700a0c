import numpy as np
import pytest
import scipy.io as sio

import pyulm
from pyulm.filtering import butter_coefficients, normalize_svd_cutoff

from conftest import REF

EXAMPLE = REF.parent / "pyulm" / "data" / "example_block.mat"


@pytest.fixture(scope="module")
def block_a_iq():
    return sio.loadmat(EXAMPLE)["IQ"]


def test_filter_matches_pala_block_a(block_a_iq, ref_a):
    """Whole block a through SVD [5 Nt] + causal Butterworth [50 249] Hz vs PALA's IQ_filt.

    PALA's reference run filtered in double, so the single-precision block is cast first.
    """
    iq = block_a_iq.copy()
    out = pyulm.filter_block(block_a_iq.astype(np.complex128), [5, block_a_iq.shape[2]], [50, 249], 1000)
    np.testing.assert_array_equal(iq, block_a_iq)  # input untouched
    frames = ref_a["filter/frames"]
    ref = ref_a["filter/IQ_filt"]
    err = np.abs(out[:, :, frames] - ref).max() / np.abs(ref).max()
    assert err < 1e-8
    assert out.dtype == np.complex128


def test_single_precision_filter_follows_matlab_class(block_a_iq, ref_a):
    """complex64 in -> computed and returned in single, within single-precision error of PALA's."""
    out = pyulm.filter_block(block_a_iq, [5, block_a_iq.shape[2]], [50, 249], 1000)
    assert out.dtype == np.complex64
    frames = ref_a["filter/frames"]
    ref = ref_a["filter/IQ_filt"]
    assert np.abs(out[:, :, frames] - ref).max() / np.abs(ref).max() < 1e-5


def test_butterworth_coefficients_match_pala(ref_a):
    b, a = butter_coefficients([50, 249], 1000)
    but = ref_a.attrs("filter")["but"]
    np.testing.assert_allclose(b, but[0], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(a, but[1], rtol=1e-12)


def test_svd_cutoff_rules():
    assert normalize_svd_cutoff([5, 200], 100).tolist() == list(range(4, 100))  # end clipped to N
    assert normalize_svd_cutoff(3, 6).tolist() == [2, 3, 4, 5]
    assert normalize_svd_cutoff([2, 4], 6).tolist() == [1, 2, 3]
    assert normalize_svd_cutoff([2, 4, 6], 6).tolist() == [1, 3, 5]  # explicit list
    with pytest.raises(ValueError, match="^cutoff: "):
        normalize_svd_cutoff([0, 4], 6)
    with pytest.raises(ValueError, match="^cutoff: "):
        normalize_svd_cutoff([2.5], 6)
    # errors name the caller's argument
    with pytest.raises(ValueError, match="^cutoff: components"):
        pyulm.svd_filter(np.ones((2, 2, 6)), [7, 9])
    with pytest.raises(ValueError, match="^svd_cutoff: "):
        pyulm.filter_block(np.ones((2, 2, 6)), 0)
    with pytest.raises(ValueError, match="^precision: "):
        pyulm.svd_filter(np.ones((2, 2, 6)), 2, precision="single")


def test_pala_single_route_follows_palas_arithmetic(block_a_iq):
    """precision="pala_single": X'*X, svd and the projection in single, as PALA's SVDfilter on
    single IQ; close to a direct transcription of that arithmetic (same data order), and
    within the single route's own error of the accurate double route."""
    iq = block_a_iq  # complex64, Fortran-ordered as MATLAB stores it
    got = pyulm.svd_filter(iq, [5, 200], precision="pala_single")
    assert got.dtype == np.complex64
    X = iq.reshape(-1, 200, order="F")
    U = np.linalg.svd(X.conj().T @ X)[0]  # single precision throughout
    assert U.dtype == np.complex64
    want = ((X @ U[:, 4:]) @ U[:, 4:].conj().T).reshape(iq.shape, order="F")
    scale = np.abs(want).max()
    assert np.abs(got - want).max() / scale < 2e-5
    double = pyulm.svd_filter(iq, [5, 200])
    err = np.abs(got - double).max() / scale
    assert 1e-4 < err < 1e-2  # the single route's error (1.9e-3), far above the double route's ~1e-7
    f = pyulm.filter_block(iq, [5, 200], [50, 249], 1000, svd_precision="pala_single")
    assert f.dtype == np.complex64 and np.abs(f).max() > 0


def test_svd_early_exit_and_projection_properties():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 7, 30)) + 1j * rng.standard_normal((6, 7, 30))
    np.testing.assert_array_equal(pyulm.svd_filter(x, [1, 30]), x)  # keeps everything
    np.testing.assert_array_equal(pyulm.svd_filter(x, 1), x)
    y = pyulm.svd_filter(x, [3, 30])
    z = pyulm.svd_filter(y, [3, 30])
    # removing the two strongest components of an already-filtered block removes two more
    assert np.linalg.norm(z) < np.linalg.norm(y) < np.linalg.norm(x)
    # projection onto complementary subspaces adds back to the input
    lo = pyulm.svd_filter(x, [1, 2]) if False else x - y
    np.testing.assert_allclose(lo + y, x, atol=1e-12)
    # rank of the removed part is 2
    s = np.linalg.svd(lo.reshape(-1, 30), compute_uv=False)
    assert np.sum(s > 1e-9 * s[0]) == 2


def test_svd_filter_any_memory_order_and_dtype():
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((8, 9, 40)) + 1j * rng.standard_normal((8, 9, 40))).astype(np.complex64)
    a = pyulm.svd_filter(x, [5, 40])
    b = pyulm.svd_filter(np.asfortranarray(x), [5, 40])
    assert a.dtype == np.complex64
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layout", ["F", "strided", "F4d", "F2d"])
def test_svd_filter_layouts_agree_over_many_row_blocks(layout):
    # 37 x 300 pixels x 40 frames spans two ~4 MB row blocks; a Fortran block is read in
    # whole z columns (37 does not divide the block size), then written to a C-ordered output
    rng = np.random.default_rng(3)
    x = rng.standard_normal((37, 300, 40)) + 1j * rng.standard_normal((37, 300, 40))
    x += 30 * rng.standard_normal((37, 300, 1))  # strong rank-1 "tissue"
    if layout == "F4d":
        x = x.reshape(37, 20, 15, 40)
    if layout == "F2d":
        x = x.reshape(-1, 40)
    want = pyulm.svd_filter(np.ascontiguousarray(x), [3, 40])
    src = x[:, ::2] if layout == "strided" else np.asfortranarray(x)
    if layout == "strided":
        want = pyulm.svd_filter(np.ascontiguousarray(src), [3, 40])
    before = src.copy()
    got = pyulm.svd_filter(src, [3, 40])
    assert got.flags.c_contiguous and got.shape == src.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9 * np.abs(want).max())
    np.testing.assert_array_equal(src, before)
    # keeping few components projects on them instead of subtracting the rest
    np.testing.assert_allclose(pyulm.svd_filter(src, [1, 2]), pyulm.svd_filter(np.ascontiguousarray(src), [1, 2]),
                               rtol=0, atol=1e-9 * np.abs(x).max())


def test_svd_independent_of_singular_vector_phase():
    """The output is a projection U_K U_K^H: invariant to the phase of each vector."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 6, 12)) + 1j * rng.standard_normal((5, 6, 12))
    y1 = pyulm.svd_filter(x, [4, 12])
    X = x.reshape(-1, 12)
    U, s, Vh = np.linalg.svd(X, full_matrices=False)
    V = Vh.conj().T * np.exp(1j * rng.uniform(0, 2 * np.pi, 12))  # arbitrary phases
    Vk = V[:, 3:]
    y2 = (X @ Vk @ Vk.conj().T).reshape(x.shape)
    np.testing.assert_allclose(y1, y2, atol=1e-10)


def test_zero_phase_option_has_no_delay():
    t = np.arange(400) / 1000.0
    sig = np.sin(2 * np.pi * 100 * t)[None, None, :] * np.ones((2, 2, 1))
    causal = pyulm.butter_bandpass(sig, [50, 249], 1000)
    zp = pyulm.butter_bandpass(sig, [50, 249], 1000, zero_phase=True)
    core = slice(100, 300)
    assert np.abs(zp[0, 0, core] - sig[0, 0, core]).max() < 0.01
    assert np.abs(causal[0, 0, core] - sig[0, 0, core]).max() > 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(band=[50, 600], frame_rate=1000), "^band: "),
        (dict(band=[80, 50], frame_rate=1000), "^band: "),
        (dict(band=[50, 249], frame_rate=-1), "frame_rate"),
    ],
)
def test_bandpass_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        pyulm.butter_bandpass(np.zeros((2, 2, 10)), **kwargs)


def test_filter_block_bad_input():
    with pytest.raises(ValueError, match="3 axes"):
        pyulm.filter_block(np.zeros((2, 2, 2, 2)))
    with pytest.raises(ValueError, match="empty"):
        pyulm.filter_block(np.zeros((0, 2, 2)))
    x = np.ones((3, 3, 10))
    x[1, 1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pyulm.filter_block(x)
    with pytest.raises(ValueError, match="frame_rate"):
        pyulm.filter_block(np.ones((3, 3, 10)), 2, band=[50, 249])


@pytest.mark.parametrize("cutoff", [[3, 30], [1, 30]])  # through the Gram matrix / no SVD at all
@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_filter_block_finds_non_finite_values_on_its_way(cutoff, order, bad):
    """No pass of its own over the block: a NaN/Inf shows in the Gram matrix's diagonal (or is
    looked for when no SVD runs), with the usual error, before anything is written."""
    x = np.random.default_rng(0).standard_normal((5, 6, 30)).astype(np.complex64)
    x = np.asarray(x, order=order)
    x[2, 3, 17] = bad
    with pytest.raises(ValueError, match=r"^frames: 1 value\(s\) are NaN or Inf; expected finite values$"):
        pyulm.filter_block(x, cutoff, [50, 249], 1000)
