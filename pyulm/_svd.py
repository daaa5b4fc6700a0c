"""The SVD clutter filter's engine: the Gram matrix, its eigenvectors and the projection,
row block by row block (:func:`pyulm.filtering.svd_filter` and the pipeline's block filter).

Two routes:

``"double"`` (default)
    Every product in double precision, whatever the input class: the tissue clutter is
    orders of magnitude stronger than the bubbles, and a single-precision Gram matrix
    leaves ~0.5 % of it in the output (measured on block a).
``"pala_single"``
    PALA's own arithmetic on single-precision data (``SVDfilter`` with a ``single`` IQ,
    as Verasonics saves it): ``C = X'*X`` in single, ``[U,~,~] = svd(C)`` in single,
    ``X*U(:,K)*U(:,K)'`` in single. For labs that regress against MATLAB results on
    single data; it is less accurate than the double route.
"""
from __future__ import annotations

import numpy as np

from ._gram import gram as _gram
from ._krylov import certify, iterate
from ._parallel import blas_limit, default_workers, map_chunks
from ._validate import as_frames

PRECISIONS = ("double", "pala_single")


def normalize_svd_cutoff(cutoff, n_frames: int, name: str = "cutoff") -> np.ndarray:
    """PALA's cutoff rules, returning the kept components as 0-based indices.

    ``cutoff`` holds 1-based component numbers: one number ``c`` keeps
    ``c..N``; two numbers ``[a b]`` keep ``a..b``; more are an explicit list.
    A last element beyond N is clipped to N first. Errors start with ``name``,
    the caller's argument name.
    """
    c = np.atleast_1d(np.asarray(cutoff, dtype=float)).ravel()
    if c.size == 0 or not np.all(np.isfinite(c)) or np.any(c != np.round(c)) or np.any(c < 1):
        raise ValueError(f"{name}: expected 1-based whole component numbers >= 1, got {cutoff!r}")
    c = c.astype(int)
    if c[-1] > n_frames:
        c = np.arange(c[0], n_frames + 1)
    if c.size == 1:
        c = np.arange(c[0], n_frames + 1)
    elif c.size == 2:
        c = np.arange(c[0], c[1] + 1)
    if c.size == 0 or c.max() > n_frames:
        raise ValueError(f"{name}: components {cutoff!r} are out of range for {n_frames} frames")
    return c - 1


def check_precision(precision) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision: expected one of {list(PRECISIONS)}, got {precision!r}")
    return precision


def svd_blocks(arr: np.ndarray, cutoff, write, *, precision: str = "double", name: str = "cutoff",
               check_finite: str | None = None, rewrite: bool = False) -> None:
    """PALA's SVD filter of ``arr`` (..., t), handed over in row blocks of ~4 MB in double.

    ``write(key, R)`` receives each block: for a Fortran-ordered (z, x, t) block, as
    MATLAB and scipy.io.loadmat hand it over and as it is read (z fastest, no copy),
    ``R`` is the (z, x1 - x0, t) block of whole z columns and ``key`` indexes the
    (z, x, t) array; otherwise ``R`` is (m, t) rows and ``key`` indexes
    ``arr.reshape(-1, t)`` (other strides are copied to C order first). Each block
    is read from ``arr`` before it is handed over, so ``write`` may overwrite it.
    Keeping every component (or ``cutoff[0] < 2``) hands the input over unchanged.
    ``R`` is double (complex or real) on the double route, single on ``"pala_single"``.

    ``check_finite``: the name of a (z, x, t) ``arr`` whose NaN/Inf the caller has not
    looked for. A non-finite value makes its column of the Gram matrix's diagonal
    non-finite, so it is looked for there, before any block is handed over, at no cost
    (then :func:`pyulm._validate.as_frames` on ``arr`` raises its usual error).

    ``rewrite``: ``write`` leaves ``arr`` alone and may receive a block again (the later
    one stands). The projection then starts on the Krylov eigenvectors while another
    thread certifies them, and in the rare case the certificate refuses them, every block
    is computed again from LAPACK's (see :func:`_double_route`). The blocks handed over
    last are the same, bit for bit, either way.
    """
    n = arr.shape[-1]
    keep = normalize_svd_cutoff(cutoff, n, name)
    single = check_precision(precision) == "pala_single"
    # Row blocks are converted to the working class one at a time: no converted copy of the block exists.
    work = np.result_type(arr.dtype, np.float32 if single else np.float64)
    if single:
        work = np.complex64 if np.issubdtype(work, np.complexfloating) else np.float32
    fortran = arr.ndim <= 3 and arr.flags.f_contiguous and not arr.flags.c_contiguous
    if arr.ndim > 2 and not fortran and not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr)
    X = arr.reshape(-1, n, order="F" if fortran else "C")  # the Casorati matrix, a view
    if fortran and arr.ndim == 3:
        nz = arr.shape[0]

        def hand(lo, hi, R):  # rows lo:hi are the whole z columns lo // nz : hi // nz
            write((slice(None), slice(lo // nz, hi // nz)), R.reshape(nz, (hi - lo) // nz, n, order="F"))
        align = nz
    else:
        def hand(lo, hi, R):
            write(slice(lo, hi), R)
        align = 1
    def gram_check(C):
        if check_finite is not None and not np.all(np.isfinite(np.diagonal(C))):
            as_frames(arr, check_finite)  # raises unless the products overflowed

    if keep[0] < 1 or (keep.size == n and np.array_equal(keep, np.arange(n))):
        if check_finite is not None:
            as_frames(arr, check_finite)
        step = max(align, max(64, (1 << 22) // (n * np.dtype(work).itemsize)) // align * align)
        for lo in range(0, X.shape[0], step):
            hi = min(X.shape[0], lo + step)
            hand(lo, hi, np.array(X[lo:hi], dtype=work, order="F" if fortran else "C"))
        return
    if single:
        V = np.asfortranarray(_gram_eigenvectors_single(X, keep, work, gram_check))
        with blas_limit(1):  # see _double_route
            _project(X, V, False, hand, align)  # PALA projects on the kept side: X*U_K*U_K'
        return
    comp = np.setdiff1d(np.arange(n), keep)
    # X U_K U_K^H == X - X U_R U_R^H for the complement R: project on the smaller side,
    # and compute only those eigenvectors of the (Hermitian) Gram matrix X^H X.
    side, subtract = (keep, False) if keep.size <= comp.size else (comp, True)
    _double_route(X, side, subtract, hand, align, work, gram_check, rewrite)


def _project(X: np.ndarray, V: np.ndarray, subtract: bool, write, align: int = 1, first=None) -> bool:
    """``X - X V V^H`` (``subtract``) or ``X V V^H`` in ``V``'s class, handed to
    ``write(lo, hi, rows)`` row block by row block (blocks a multiple of ``align`` rows).

    ``first()``, when given, is the first task of the threads, beside the blocks (the
    certificate of ``V``); once it returns False no further block is computed, and the
    result is False (the blocks already handed over are to be redone). Otherwise True.

    The row blocks are spread over pyulm's threads; both products of a block go through
    :mod:`pyulm._blas` (BLAS ``gemm`` on the calling thread, the GIL released, no BLAS
    thread pool), so the threads' products, band-passes and magnitudes overlap. Each
    block is handed over in the layout it already has (a C-ordered block as its Fortran
    transpose), so BLAS copies nothing.
    """
    from . import _blas

    n, k = V.shape
    Vc = np.asfortranarray(V.conj())  # (n, k)
    Vh = np.asfortranarray(Vc.T)      # (k, n)
    alpha, beta = (-1.0, 1.0) if subtract else (1.0, 0.0)
    fortran = X.flags.f_contiguous and not X.flags.c_contiguous
    step = max(64, (1 << 22) // (n * 16 if V.dtype.kind == "c" else n * 8))  # ~4 MB of double rows
    step = max(align, step // align * align)

    def block(lo):
        hi = min(X.shape[0], lo + step)
        if fortran:
            B = np.array(X[lo:hi], dtype=V.dtype, order="F")           # (m, n)
            P = np.empty((hi - lo, k), V.dtype, order="F")
            _blas.gemm(B, V, P)                                          # X_b V
            _blas.gemm(P, Vh, B, alpha=alpha, beta=beta)                 # B -/+ P V^H
            write(lo, hi, B)
        else:
            Bt = np.array(X[lo:hi], dtype=V.dtype, order="C").T          # (n, m), Fortran
            Pt = np.empty((k, hi - lo), V.dtype, order="F")
            _blas.gemm(Vc, Bt, Pt, trans_a=True)                         # V^T X_b^T = (X_b V)^T
            _blas.gemm(Vc, Pt, Bt, alpha=alpha, beta=beta)               # (B -/+ P V^H)^T
            write(lo, hi, Bt.T)

    refused = []

    def task(lo, _):
        if lo < 0:
            if not first():
                refused.append(True)
        elif not refused:
            block(lo)

    # The row blocks are the same whatever the thread count and each is one single-threaded
    # product (the caller holds BLAS at one thread), so spreading whole blocks over threads
    # keeps results bitwise identical; the blocks' rows are disjoint, and so are their writes.
    tasks = ([(-1, 0)] if first is not None else []) + [(lo, lo + 1) for lo in range(0, X.shape[0], step)]
    map_chunks(task, tasks, default_workers())
    return not refused


#: The Krylov route (:mod:`pyulm._krylov`) is tried for the strongest ``k`` components of a
#: Gram matrix of at least this many frames, with ``k`` at most 1/32 of them: there it takes
#: about half of LAPACK's time (800 frames, 4 components: 65 vs 121 ms of CPU on one thread),
#: where LAPACK's subset solver costs a few ms (PALA's 200-240-frame reference blocks).
KRYLOV_MIN_FRAMES = 400


def _double_route(X: np.ndarray, components: np.ndarray, subtract: bool, hand, align: int, work, check,
                  rewrite: bool) -> None:
    """The double route's Gram matrix ``X^H X``, its eigenvectors for the given 0-based
    ``components`` (descending order) and the projection on them (:func:`_project`).

    Two routes to the eigenvectors, the same answer to working precision. The strongest few
    components of a long block (the tissue: ``components`` = 0..k-1, see
    :data:`KRYLOV_MIN_FRAMES`) come from a block Krylov iteration, used when its
    a-posteriori certificate proves them as accurate as LAPACK's (:mod:`pyulm._krylov`);
    otherwise, and for any other set, LAPACK's subset eigensolver, which covers only the
    contiguous index range that holds the requested components. Only the span of the
    vectors is defined (the filter uses ``V V^H``): their phases differ between the routes.
    ``check(C)`` sees the Gram matrix first.

    With ``rewrite`` (see :func:`svd_blocks`) the certificate (~20 ms of one core on an
    800-frame block) runs beside the projection's first row blocks instead of before
    them; were it to refuse, the blocks are projected again on LAPACK's vectors.
    """
    n = X.shape[1]
    cplx = np.iscomplexobj(X) or np.issubdtype(work, np.complexfloating)
    C, conj = _gram(X, np.complex128 if cplx else np.float64)
    if check is not None:
        check(C)
    k = components.size
    # One BLAS thread: threaded reductions round differently with each thread count, and
    # OpenBLAS splits the projection's thin products differently with each (the output
    # moved by ~1e-15 between 1 and 2 threads); the projection's row blocks run on
    # pyulm's threads instead.
    with blas_limit(1):
        if n >= KRYLOV_MIN_FRAMES and 32 * k <= n and np.array_equal(components, np.arange(k)):
            _, V, theta_next, dim = iterate(C, k)
            # eigenvectors of conj(G) are the conjugates of G's
            U = np.asfortranarray(V.conj()) if conj else V
            if rewrite:
                if _project(X, U, subtract, hand, align, first=lambda: certify(C, V, theta_next, dim).accepted):
                    return
            elif certify(C, V, theta_next, dim).accepted:
                _project(X, U, subtract, hand, align)
                return
        U = _lapack_eigenvectors(C, components)
        _project(X, np.asfortranarray(U.conj() if conj else U), subtract, hand, align)


def _lapack_eigenvectors(C: np.ndarray, components: np.ndarray) -> np.ndarray:
    """LAPACK's subset eigensolver on the upper triangle of ``C`` (overwritten)."""
    from scipy import linalg

    n = C.shape[0]
    # descending component k is ascending eigenvalue index n-1-k
    lo, hi = n - 1 - components.max(), n - 1 - components.min()
    w, U = linalg.eigh(C, lower=False, subset_by_index=[int(lo), int(hi)], overwrite_a=True, check_finite=False)
    U = U[:, ::-1]  # descending, as MATLAB's svd orders them: column j is component min + j
    return U[:, components - components.min()]


def _gram_eigenvectors_single(X: np.ndarray, components: np.ndarray, work, check=None) -> np.ndarray:
    """PALA's single-precision route: ``C = X'*X`` in single, then ``svd(C)`` in single
    (LAPACK ``gesdd``, singular vectors in descending order, as MATLAB's ``svd``)."""
    C, conj = _gram(X, work, step_bytes=1 << 62, split=False)  # one product over all rows, as MATLAB's X'*X
    if check is not None:
        check(C)
    upper = np.triu(C)
    C = upper + np.triu(upper, 1).conj().T  # herk fills the upper triangle only
    with blas_limit(1):
        U = np.linalg.svd(C)[0]
    if conj:
        U = U.conj()
    return U[:, components]
