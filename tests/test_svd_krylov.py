"""The SVD filter's Krylov eigen route (pyulm._krylov): as exact as LAPACK, refused when it
cannot prove it, the same bits on any number of threads."""
import numpy as np
import pytest
from scipy import linalg

import pyulm
from pyulm import _krylov, _svd
from pyulm._parallel import blas_limit, limit_threads
from pyulm.filtering import _svd_filter

EPS = np.finfo(float).eps


def clutter_gram(n=512, m=1500, k_tissue=1, seed=0, cplx=True, tissue=1e3):
    """Gram matrix (upper triangle, as herk leaves it) of tissue + bubbles-like noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n))
    if cplx:
        X = X + 1j * rng.standard_normal((m, n))
    X[:, :20] *= np.linspace(3, 1.5, 20)  # a few stronger components at the top of the bulk
    X += tissue * np.outer(rng.standard_normal(m), 1 + 0.1 * np.sin(np.arange(n) / 50))
    C = X.conj().T @ X
    return np.asfortranarray(np.triu(C)), X


def full(C):
    U = np.triu(C)
    return U + np.triu(U, 1).conj().T


def lapack_top(C, k):
    n = C.shape[0]
    w, U = linalg.eigh(full(C), subset_by_index=[n - k, n - 1])
    return w[::-1], np.asfortranarray(U[:, ::-1])


def backward_error(C, V):
    """The certificate's measure: ||C V - V (V^H C V)||_F / ||C||_F."""
    A = full(C)
    W = A @ V
    return np.linalg.norm(W - V @ (V.conj().T @ W)) / np.linalg.norm(A)


@pytest.mark.parametrize("cplx", [True, False])
@pytest.mark.parametrize("k", [1, 4, 8])
def test_krylov_matches_lapack_to_working_precision(cplx, k):
    C, _ = clutter_gram(cplx=cplx, seed=k)
    with blas_limit(1):
        w, V, cert = _krylov.top_eigenvectors(C, k)
    assert cert.accepted, cert
    wl, U = lapack_top(C, k)
    lam = np.linalg.eigvalsh(full(C))[::-1]
    norm = np.linalg.norm(full(C))
    # Both are exact for C + E, ||E|| ~ eps ||C||: each subspace is within its residual / gap of
    # the exact one (Davis-Kahan), so they are within the sum of the two bounds of each other.
    lapack_bound = backward_error(C, U) * norm * np.sqrt(2) / (lam[k - 1] - lam[k])
    dist = np.linalg.norm(V @ V.conj().T - U @ U.conj().T, 2)
    assert dist <= cert.angle_bound + lapack_bound
    # a useful bound, of LAPACK's own a-priori class eps ||C|| / gap, not a vacuous one
    assert cert.angle_bound <= 64 * EPS * norm / (lam[k - 1] - lam[k])
    np.testing.assert_allclose(w, wl, rtol=0, atol=16 * EPS * norm)
    assert cert.upper >= lam[k] and cert.upper < w[-1]  # a true upper bound of lambda_{k+1}


def test_tolerance_is_what_lapack_itself_delivers():
    """RESIDUAL_TOL asks of the Krylov answer what LAPACK's own answer achieves on the same
    matrices (zheevr: 1.5-5 eps ||C||_F measured), not less and not far more."""
    for seed, cplx in [(0, True), (1, False), (2, True)]:
        C, _ = clutter_gram(cplx=cplx, seed=seed)
        _, U = lapack_top(C, 4)
        assert backward_error(C, U) <= _krylov.RESIDUAL_TOL * EPS
        with blas_limit(1):
            _, V, cert = _krylov.top_eigenvectors(C, 4)
        assert cert.residual <= _krylov.RESIDUAL_TOL * EPS and cert.omega <= _krylov.ORTHO_TOL * np.sqrt(512) * EPS


def test_a_wrong_invariant_subspace_is_refused():
    """Exact eigenvectors, but not the k strongest (the top one missing): the residual check
    passes, the Cholesky certificate of the (k+1)-th eigenvalue must not."""
    C, _ = clutter_gram(seed=3)
    lam, U = np.linalg.eigh(full(C))
    V = np.asfortranarray(U[:, -5:-1][:, ::-1])  # eigenvectors 2..5 of the strongest
    cert = _krylov.certify(C, V, float(lam[-6]), 0)
    assert cert.residual <= _krylov.RESIDUAL_TOL * EPS
    assert not cert.accepted


@pytest.mark.parametrize("split", [0.0, 1e-12, 1e-7, 1e-3])
def test_near_degenerate_cutoff(split):
    """Eigenvalues 4 and 5 (1-based) a relative ``split`` apart: with a tie (or a split within
    rounding of C) no subspace is defined to working precision and nothing is certified (the
    filter then takes LAPACK's answer); once certified, the bound holds against the exact
    eigenvectors."""
    rng = np.random.default_rng(4)
    n = 480
    Q = np.linalg.qr(rng.standard_normal((n, n)) + 1j * rng.standard_normal((n, n)))[0]
    lam = np.linspace(1, 2, n)
    lam[-3:] = [50, 60, 70]
    lam[-5:-3] = [10.0, 10.0 * (1 + split)]
    A = (Q * lam) @ Q.conj().T
    C = np.asfortranarray(np.triu(A))
    with blas_limit(1):
        _, V, cert = _krylov.top_eigenvectors(C, 4)
    if split <= 1e-12:
        assert not cert.accepted
        return
    assert cert.accepted, cert
    exact = Q[:, -4:]
    # C holds A to rounding (~eps ||A|| per entry): its own subspace is that far from Q's
    rounding = 8 * EPS * np.linalg.norm(A) / (10.0 * split)
    assert np.linalg.norm(V @ V.conj().T - exact @ exact.conj().T, 2) <= cert.angle_bound + rounding


def test_filter_routes_agree_and_refusal_falls_back_to_lapack(monkeypatch):
    """The filter's output through the Krylov route and through LAPACK (forced by refusing
    every certificate) agree to rounding; a refused certificate means LAPACK's result, bit
    for bit, whether the certificate ran before the projection or beside it (an output
    apart from the input: the blocks projected meanwhile are redone)."""
    shape = (30, 40, 480)
    x = clutter_gram(n=shape[2], m=shape[0] * shape[1], seed=5, tissue=30)[1].reshape(shape)
    routes = []
    real = _krylov.certify

    def spy(*a, **kw):
        out = real(*a, **kw)
        routes.append(out.accepted)
        return out

    monkeypatch.setattr(_svd, "certify", spy)
    krylov = pyulm.svd_filter(x, [5, shape[2]])
    assert routes == [True]
    in_place = x.copy()
    _svd_filter(in_place, [5, shape[2]], out=in_place)  # no block may be redone: certified first
    np.testing.assert_array_equal(in_place, krylov)
    monkeypatch.setattr(_krylov, "RESIDUAL_TOL", -1.0)
    lapack = {}
    for n in (1, 2):
        with limit_threads(n):
            lapack[n] = pyulm.svd_filter(x, [5, shape[2]])
    in_place = x.copy()
    _svd_filter(in_place, [5, shape[2]], out=in_place)
    assert routes == [True, True, False, False, False]
    monkeypatch.setattr(_svd, "KRYLOV_MIN_FRAMES", 10 ** 9)  # LAPACK without asking Krylov
    want = pyulm.svd_filter(x, [5, shape[2]])
    assert len(routes) == 5
    for got in (lapack[1], lapack[2], in_place):
        np.testing.assert_array_equal(got, want)
    assert np.abs(krylov - want).max() <= 1e-9 * np.abs(want).max()


def test_krylov_route_same_bits_with_any_thread_count(monkeypatch):
    from pyulm import _parallel

    monkeypatch.setattr(_parallel, "available_cpus", lambda: 3)  # fan out even on a busy test machine
    shape = (24, 30, 512)
    x = clutter_gram(n=shape[2], m=shape[0] * shape[1], seed=6, tissue=30)[1].reshape(shape).astype(np.complex64)
    routes = []
    real = _krylov.certify
    monkeypatch.setattr(_svd, "certify", lambda *a, **kw: routes.append(1) or real(*a, **kw))
    out = {}
    for n in (1, 2, 3):
        with limit_threads(n):
            out[n] = pyulm.svd_filter(x, [5, shape[2]])
    np.testing.assert_array_equal(out[2], out[1])
    np.testing.assert_array_equal(out[3], out[1])
    assert len(routes) == 3
