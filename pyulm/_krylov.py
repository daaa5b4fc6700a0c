"""The strongest eigenvectors of a Hermitian positive semi-definite matrix, by block Krylov
iteration, with a certificate that they are exact to working precision.

The SVD filter removes a few tissue components out of hundreds (4 of 800 for PALA's in
vivo blocks): LAPACK's subset solver still reduces the whole Gram matrix to tridiagonal
form (~0.12-0.15 s on one thread for 800 x 800), where a block Krylov space of ~150
vectors holds the k wanted ones to working precision (~0.07 s with the check). The
iteration's answer is used only when an a-posteriori check proves it as good as LAPACK's;
otherwise (a flat spectrum at the cutoff, where it stops early, or a tie) the caller runs
LAPACK.

What "as good" means. LAPACK's computed eigenpairs are exact for ``C + E`` with
``||E|| ~ p(n) eps ||C||`` (backward stability); their subspace is then within
``||E|| / gap`` of the exact one. The check proves the same of the Krylov answer:

1. residual: ``R = C V - V Theta`` (Rayleigh-Ritz, ``Theta = V^H C V``) with
   ``||R||_F <= RESIDUAL_TOL * eps * ||C||_F`` and ``omega = ||V^H V - I||_F <=
   ORTHO_TOL * sqrt(n) * eps``. ``V`` is then (to ``omega``) an exact invariant subspace
   of ``C + E``, ``||E|| <= sqrt(2) ||R||`` (Rayleigh-Ritz backward error). The
   tolerances are set from LAPACK's own answers measured the same way (``zheevr`` on
   the filter's Gram matrices and on random ones: ``||R||_F`` 0.2 to 5 ``eps ||C||_F``,
   ``omega`` up to 2 ``sqrt(n) eps``; tests/test_svd_krylov.py), so nothing less
   accurate than LAPACK is accepted (LAPACK's own test suite accepts 30 ``n eps``).
2. the right eigenvalues: an upper bound ``mu`` on the (k+1)-th eigenvalue of ``C``
   below the smallest wanted Ritz value ``theta_k``. Courant-Fischer gives
   ``lambda_{k+1}(C) <= lambda_max(P C P)`` with ``P = I - V V^H``; ``tau I - P C P``
   is proven positive definite by a Cholesky factorisation (which succeeds in floating
   point only on a matrix within ``gamma_{n+1} ||G||_F^2`` of a positive definite one,
   Demmel 1989), so ``mu = tau`` plus that and the rounding of forming ``P C P``. The
   k Ritz values all lie above ``mu``: they are the k largest, and by Davis-Kahan the
   subspace is within ``(||R||_2 + 2 omega ||C||) / (theta_k - mu)`` of the exact top-k
   one, the form of LAPACK's own bound.

The iteration, the check and the start block are deterministic, and the caller runs them
on one BLAS thread: the result does not depend on the machine's thread count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._parallel import chunk_pool, default_workers

#: Accepted residual ``||R||_F``, in units of ``eps * ||C||_F``, and departure from
#: orthonormality ``||V^H V - I||_F``, in units of ``sqrt(n) eps`` (see the module docstring).
RESIDUAL_TOL = 16.0
ORTHO_TOL = 4.0
#: The iteration stops when every wanted residual is below this many ``eps * theta_1``.
_STOP = 2.0
_SEED = 20240521  # the fixed start block: the same answer on every run and machine


@dataclass(frozen=True)
class Certificate:
    """Why a Krylov answer was accepted or refused.

    residual : ``||R||_F / ||C||_F``, relative backward error.
    omega : ``||V^H V - I||_F``.
    upper : certified upper bound on the (k+1)-th eigenvalue (``inf``: not proven).
    gap : ``theta_k - upper``, relative to ``||C||_F`` (<= 0: not separated).
    angle_bound : Davis-Kahan bound on the sine of the largest angle to the exact subspace.
    dim : size of the Krylov space.
    accepted : both checks passed.
    """

    residual: float
    omega: float
    upper: float
    gap: float
    angle_bound: float
    dim: int
    accepted: bool


def top_eigenvectors(C: np.ndarray, k: int, *, block: int | None = None, max_dim: int | None = None):
    """The ``k`` largest eigenpairs of the Hermitian (real symmetric) PSD ``C``, given by its
    upper triangle (as BLAS ``herk`` leaves it), and their :class:`Certificate`.

    Returns ``(w, V, certificate)``: ``w`` descending, ``V`` (n, k) orthonormal; use them
    only when ``certificate.accepted``. ``C`` is not modified. Run on one BLAS thread.
    The two steps, :func:`iterate` and :func:`certify`, may also be run apart (the SVD
    filter starts projecting on ``V`` while another thread certifies it).
    """
    w, V, theta_next, dim = iterate(C, k, block=block, max_dim=max_dim)
    return w, V, certify(C, V, theta_next, dim)


def iterate(C: np.ndarray, k: int, *, block: int | None = None, max_dim: int | None = None):
    """The block Krylov iteration of :func:`top_eigenvectors`: ``(w, V, theta_next, dim)``,
    the ``k`` largest Ritz pairs (``V`` (n, k) Fortran-ordered), the next Ritz value and the
    size of the space, for :func:`certify`. Not to be used uncertified."""
    n = C.shape[0]
    dt = C.dtype
    b = block or max(12, k + 8)
    max_dim = min(max_dim or 192, n // 3)
    rng = np.random.default_rng(_SEED)
    S = rng.standard_normal((n, b))
    if dt.kind == "c":
        S = S + 1j * rng.standard_normal((n, b))
    Q = np.empty((n, max_dim + b), dt, order="F")
    H = np.zeros((max_dim + b, max_dim + b), dt, order="F")  # Q^H C Q, upper triangle
    Q[:, :b] = np.linalg.qr(S.astype(dt))[0]
    with chunk_pool(default_workers()) as run:
        return _iterate(C, k, b, max_dim, Q, H, run)


def _iterate(C, k, b, max_dim, Q, H, run):
    """:func:`iterate`'s loop; ``run`` spreads its largest product over threads."""
    from scipy.linalg import blas, eigh

    n, dt = C.shape[0], C.dtype
    eps = np.finfo(float).eps
    gemm = blas.get_blas_funcs("gemm", (C,))
    ct = 2 if dt.kind == "c" else 1  # BLAS's conjugate transpose
    d = b
    check, last = 4 * b, None  # where the next Rayleigh-Ritz check is; the last one's (d, ratio)
    while True:
        W = _times(C, Q[:, d - b:d], run)               # C times the newest block
        Qd = Q[:, :d]
        h = gemm(1.0, Qd, W, trans_a=ct)                # (d, b): Q^H C Q_new
        H[:d, d - b:d] = h
        # Block classical Gram-Schmidt twice, each pass followed by a QR of the block: the
        # QR first rescales directions the strong eigenvalues dwarfed (tissue is 1e5-1e6x
        # the rest), so the second pass restores their orthogonality (one pass lost 1e-11).
        Z, r1 = np.linalg.qr(gemm(-1.0, Qd, h, beta=1.0, c=W, overwrite_c=1))
        Z, r2 = np.linalg.qr(gemm(-1.0, Qd, gemm(1.0, Qd, Z, trans_a=ct), beta=1.0, c=Z, overwrite_c=1))
        if d >= check or d + b > max_dim:
            # Rayleigh-Ritz: the k + 1 largest Ritz pairs
            theta, Y = eigh(H[:d, :d], lower=False, subset_by_index=[d - k - 1, d - 1], check_finite=False)
            theta, Y = theta[::-1], Y[:, ::-1]
            # Lanczos residual of each Ritz pair (the next block's coefficient times its last
            # rows), against the target
            est = np.linalg.norm((r2 @ r1) @ Y[d - b:d, :k], axis=0).max()
            ratio = est / (_STOP * eps * max(theta[0], np.finfo(float).tiny))
            if ratio <= 1 or d + b > max_dim or _hopeless(last, d, ratio, b, max_dim):
                break  # converged, or out of room: the certificate decides
            last = (d, ratio)
            # Far from the target, check every other step (the rate of a Krylov method grows
            # as it goes, so no prediction from the rate so far is safe)
            check = d + (2 * b if ratio > 1e3 else b)
        Q[:, d:d + b] = Z
        d += b
    V = Qd @ Y[:, :k]
    # Restore orthonormality lost to rounding (V <- V (V^H V)^(-1/2), to first order)
    F = V.conj().T @ V - np.eye(k)
    V = np.asfortranarray(V - V @ (F / 2))
    return theta[:k], V, float(theta[k]), d


def _times(C: np.ndarray, B: np.ndarray, run) -> np.ndarray:
    """``C B`` for the Hermitian ``C`` given by its upper triangle, in two fixed halves of rows
    (BLAS ``hemm`` and ``gemm`` through :mod:`pyulm._blas`, one BLAS thread each, the GIL
    released) spread by ``run`` (:func:`pyulm._parallel.chunk_pool`): the iteration's
    largest product, otherwise one core's work while the other idles. The split is fixed,
    so the bits do not depend on the thread count."""
    from . import _blas

    n = C.shape[0]
    h = n // 2
    W = np.empty(B.shape, C.dtype, order="F")

    def half(i, _):
        if i == 0:   # rows :h  = C[:h, :h] B[:h] + C[:h, h:] B[h:]
            _blas.hemm(C[:h, :h], B[:h], W[:h])
            _blas.gemm(C[:h, h:], B[h:], W[:h], beta=1.0)
        else:        # rows h:  = C[:h, h:]^H B[:h] + C[h:, h:] B[h:]
            _blas.hemm(C[h:, h:], B[h:], W[h:])
            _blas.gemm(C[:h, h:], B[:h], W[h:], beta=1.0, trans_a=True)

    run(half, [(0, 1), (1, 2)])
    return W


def _hopeless(last, d: int, ratio: float, b: int, max_dim: int) -> bool:
    """Whether the residual's progress since the last check, kept up (Krylov methods speed up
    as they go, so this is pessimistic), would need a space over twice ``max_dim``: then the
    iteration stops early and LAPACK answers (a flat spectrum at the cutoff, e.g. white noise)."""
    if last is None:
        return False
    rate = (last[1] / ratio) ** (b / (d - last[0]))  # per step
    return rate <= 1 or d + b * np.log(ratio) / np.log(rate) > 2 * max_dim


def _frobenius_upper(C: np.ndarray, hermitian: bool = True) -> float:
    """||C||_F of the Hermitian matrix whose upper triangle ``C`` holds (column by column), or
    of that upper triangle itself (``hermitian=False``)."""
    total = 0.0
    twice = 2 if hermitian else 1
    for j in range(C.shape[0]):
        col = C[:j, j]
        total += twice * float(np.vdot(col, col).real) + abs(C[j, j]) ** 2
    return float(np.sqrt(total))


def certify(C, V, theta_next: float, dim: int) -> Certificate:
    """The a-posteriori check of the module docstring on ``V`` (n, k), with ``theta_next`` and
    ``dim`` from :func:`iterate`. Its large products and the Cholesky factorisation release
    the GIL (:mod:`pyulm._blas`), so it can run beside other threads' work."""
    from . import _blas

    n, k = V.shape
    eps = np.finfo(float).eps
    V = np.asfortranarray(V)
    W = np.empty((n, k), C.dtype, order="F")
    _blas.hemm(C, V, W)                                   # C V
    M = V.conj().T @ W                                    # Theta = V^H C V
    M = (M + M.conj().T) / 2
    th = np.linalg.eigvalsh(M)[::-1]
    R = W - V @ M
    omega = float(np.linalg.norm(V.conj().T @ V - np.eye(k)))
    normC = _frobenius_upper(C)
    residual = float(np.linalg.norm(R)) / max(normC, np.finfo(float).tiny)
    refused = Certificate(residual, omega, np.inf, -np.inf, np.inf, dim, False)
    if not (residual <= RESIDUAL_TOL * eps and omega <= ORTHO_TOL * np.sqrt(n) * eps and np.all(np.isfinite(th))):
        return refused
    # P C P = C - V Y^H - Y V^H with Y = W - V M / 2, upper triangle (one her2k)
    Y = np.asfortranarray(W - V @ (M / 2))
    A = np.array(C, order="F")
    _blas.rank_2k(V, Y, A, beta=-1.0)                     # -(P C P)
    theta_k = float(th[-1])
    tau = theta_next + 0.25 * (theta_k - theta_next)      # between the Ritz values k+1 and k
    A[np.diag_indices(n)] += tau
    if _blas.cholesky_upper(A) != 0:                      # A = G^H G, G in A's upper triangle
        return refused
    # Rounding bounds, generous (Higham's gamma_m = m eps / (1 - m eps), complex arithmetic
    # counted as 4 real operations): Cholesky's backward error (Demmel 1989), then forming
    # P C P: C V (gamma_n sqrt(k) ||C||_F, entering three times), V^H W, Y, her2k and tau;
    # V's departure from orthonormality moves P C P by at most ~3 omega ||C||.
    gam = lambda m: 4 * m * eps / (1 - 4 * m * eps)  # noqa: E731
    chol = gam(n + 1) * _frobenius_upper(A, hermitian=False) ** 2
    forming = gam(n + 2 * k + 2) * ((1 + 4 * k) * normC + 4 * np.sqrt(k) * float(np.linalg.norm(Y)) + tau)
    upper = tau + chol + forming + 3 * omega * normC
    gap = theta_k - upper
    bound = (float(np.linalg.norm(R, 2)) + 2 * omega * normC) / gap if gap > 0 else np.inf
    return Certificate(residual, omega, upper, gap / normC, bound, dim, gap > 0)
