"""pyulm._blas: BLAS products through scipy's Cython function pointers (GIL released)."""
import threading

import numpy as np
import pytest

from pyulm import _blas, _gram, _svd
from pyulm._parallel import limit_threads

DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def _rand(rng, shape, dt):
    a = rng.standard_normal(shape)
    if np.dtype(dt).kind == "c":
        a = a + 1j * rng.standard_normal(shape)
    return a.astype(dt)


@pytest.mark.parametrize("dt", DTYPES)
def test_rank_k_and_gemm_match_numpy(dt):
    rng = np.random.default_rng(0)
    tol = 1e-5 if dt in (np.float32, np.complex64) else 1e-13
    a = np.asfortranarray(_rand(rng, (50, 30), dt))
    for trans, ref in ((True, a.conj().T @ a), (False, a @ a.conj().T)):
        c = np.asfortranarray(np.triu(_rand(rng, ref.shape, dt)))
        c[np.diag_indices(len(c))] = c.diagonal().real  # the upper triangle of a Hermitian matrix
        c0 = c.copy()
        _blas.rank_k(a, c, trans=trans, beta=0.5)
        want = np.triu(ref + 0.5 * c0)
        np.testing.assert_allclose(np.triu(c), want, rtol=0, atol=tol * np.abs(want).max())
    b = np.asfortranarray(_rand(rng, (30, 7), dt))
    d = np.asfortranarray(_rand(rng, (50, 7), dt))
    want = 2 * a @ b - d
    _blas.gemm(a, b, d, alpha=2.0, beta=-1.0)
    np.testing.assert_allclose(d, want, rtol=0, atol=tol * np.abs(want).max())
    e = np.zeros((30, 7), dt, order="F")
    # a C-ordered array goes in as its transpose, and a strided view of rows keeps its leading dimension
    view, transposed = _blas.fortran_view(np.ascontiguousarray(a[:20]))
    assert transposed and view.shape == (30, 20)
    _blas.gemm(view, np.asfortranarray(d[:20]), e[:, :7], trans_b=False)
    want = a[:20].T @ d[:20]
    np.testing.assert_allclose(e, want, rtol=0, atol=tol * np.abs(want).max())
    f = np.zeros((7, 7), dt, order="F")
    _blas.gemm(d[10:40], d[10:40], f, trans_a=True)  # rows 10:40 of a Fortran array: leading dimension 50
    want = d[10:40].conj().T @ d[10:40]
    np.testing.assert_allclose(f, want, rtol=0, atol=tol * np.abs(want).max())


def test_bad_arrays_are_refused():
    a = np.zeros((4, 3), order="C")
    with pytest.raises(ValueError, match="column-major"):
        _blas.gemm(a, np.zeros((3, 2), order="F"), np.zeros((4, 2), order="F"))
    with pytest.raises(ValueError, match="one class"):
        _blas.gemm(np.zeros((4, 3), order="F"), np.zeros((3, 2), np.float32, order="F"), np.zeros((4, 2), order="F"))
    with pytest.raises(ValueError, match="shapes"):
        _blas.gemm(np.zeros((4, 3), order="F"), np.zeros((2, 2), order="F"), np.zeros((4, 2), order="F"))
    with pytest.raises(ValueError, match="c: expected"):
        _blas.rank_k(np.zeros((4, 3), order="F"), np.zeros((4, 4), order="F"), trans=True)
    with pytest.raises(ValueError, match="one class"):
        _blas.rank_k(np.zeros((4, 3), np.int64, order="F"), np.zeros((3, 3), np.int64, order="F"), trans=True)


def test_calls_release_the_gil():
    """A Python thread keeps counting while another thread is inside a product (were the GIL
    held, it would stop for the whole product)."""
    import time

    a = np.asfortranarray(np.random.default_rng(1).standard_normal((3000, 600)))
    c = np.zeros((600, 600), order="F")
    done, ticks = threading.Event(), [0]

    def count():
        while not done.is_set():
            ticks[0] += 1

    with limit_threads(1):
        t = threading.Thread(target=count)
        t.start()
        try:
            t0, n0 = time.perf_counter(), ticks[0]
            time.sleep(0.05)
            rate = (ticks[0] - n0) / (time.perf_counter() - t0)  # counting alone
            t0, n0 = time.perf_counter(), ticks[0]
            for _ in range(3):
                _blas.rank_k(a, c, trans=True)
            during = (ticks[0] - n0) / (time.perf_counter() - t0)
        finally:
            done.set()
            t.join()
    assert during > 0.25 * rate


@pytest.mark.parametrize("layout", ["C", "F"])
@pytest.mark.parametrize("dt", [np.complex64, np.complex128, np.float64])
def test_gram_pieces_match_one_sum(monkeypatch, layout, dt):
    """A large block's Gram matrix is summed in pieces (on threads): the same matrix to rounding
    as the one-piece sum, and the same bits on 1, 2 or 3 threads."""
    rng = np.random.default_rng(2)
    x = _rand(rng, (700, 40), dt)
    x = np.asfortranarray(x) if layout == "F" else x
    work = np.complex128 if np.dtype(dt).kind == "c" else np.float64
    one, conj = _svd._gram(x, work, step_bytes=64 * 40 * 16)
    monkeypatch.setattr(_gram, "_GRAM_THREADED_BYTES", 0)
    got = {}
    for n in (1, 2, 3):
        with limit_threads(n):
            got[n], conj_n = _svd._gram(x, work, step_bytes=64 * 40 * 16)
    assert conj_n == conj == (layout == "C" and work == np.complex128)
    np.testing.assert_array_equal(got[2], got[1])
    np.testing.assert_array_equal(got[3], got[1])
    # split=False (PALA's single route): one sum over all rows however large the block
    whole, _ = _svd._gram(x, work, step_bytes=1 << 62, split=False)
    monkeypatch.setattr(_gram, "_GRAM_THREADED_BYTES", 1 << 62)
    np.testing.assert_array_equal(whole, _svd._gram(x, work, step_bytes=1 << 62)[0])
    ref = x.astype(work).conj().T @ x.astype(work)
    ref = ref.conj() if conj else ref
    for g in (one, got[1]):
        np.testing.assert_allclose(np.triu(g), np.triu(ref), rtol=0, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("dt", [np.float64, np.complex128])
def test_hemm_rank_2k_and_cholesky_match_numpy(dt):
    rng = np.random.default_rng(3)
    g = _rand(rng, (40, 40), dt)
    h = g @ g.conj().T + 40 * np.eye(40)           # Hermitian positive definite
    upper = np.asfortranarray(np.triu(h))          # only the upper triangle is read
    b = np.asfortranarray(_rand(rng, (40, 3), dt))
    c = np.empty((40, 3), dt, order="F")
    _blas.hemm(upper, b, c)
    np.testing.assert_allclose(c, h @ b, rtol=0, atol=1e-12 * np.abs(h @ b).max())
    a = np.asfortranarray(_rand(rng, (40, 3), dt))
    r = upper.copy(order="F")
    _blas.rank_2k(a, b, r, beta=-1.0)
    want = a @ b.conj().T + b @ a.conj().T - h
    np.testing.assert_allclose(np.triu(r), np.triu(want), rtol=0, atol=1e-12 * np.abs(want).max())
    f = upper.copy(order="F")
    f[np.tril_indices(40, -1)] = 7.0               # the strict lower triangle is left alone
    assert _blas.cholesky_upper(f) == 0
    np.testing.assert_allclose(np.triu(f), np.linalg.cholesky(h).conj().T, rtol=0, atol=1e-12 * np.abs(h).max())
    assert np.all(f[np.tril_indices(40, -1)] == 7.0)
    bad = np.asfortranarray(-upper)
    assert _blas.cholesky_upper(bad) == 1          # LAPACK's info: the first minor is not positive
    with pytest.raises(ValueError, match="square"):
        _blas.cholesky_upper(np.zeros((3, 4), dt, order="F"))
