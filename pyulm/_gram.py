"""The SVD filter's Gram matrix ``X^H X`` (BLAS ``herk``), summed in fixed pieces on pyulm's
threads (:func:`gram`); split from :mod:`pyulm._svd`, which uses it."""
from __future__ import annotations

import numpy as np

from ._parallel import available_cpus, blas_limit, default_workers, map_chunks

#: Gram products smaller than this (bytes of the working class) run on one thread as one
#: sum: PALA's reference blocks (64 x 80 x 200, 56 x 72 x 240) take tens of ms, less than
#: handing work to threads costs. Larger ones are :data:`GRAM_PIECES` partial sums.
_GRAM_THREADED_BYTES = 1 << 24
#: The rows of a large block are summed in this many contiguous pieces, each on one of
#: pyulm's threads (as many as the CPUs other processes leave, at most this many), then
#: added in order: a fixed split, so the bits do not depend on the thread count.
GRAM_PIECES = 2


def gram(X: np.ndarray, dt, step_bytes: int = 1 << 22, split: bool = True) -> tuple[np.ndarray, bool]:
    """Upper triangle of the Gram matrix ``X^H X`` in class ``dt`` (BLAS ``herk``/``syrk``),
    and whether it is the conjugate (a C-ordered ``X`` is handed over as its transpose
    ``A = X_b^T``, whose ``A A^H`` is ``conj(X_b^H X_b)``).

    Row blocks of a fixed number of rows (``step_bytes``) are summed one after another, in
    :data:`GRAM_PIECES` pieces for a large block (unless ``split`` is False), so the
    summation order, and so the result, depends only on the block's shape and layout. Each
    piece runs on one of pyulm's threads through :mod:`pyulm._blas` (one BLAS thread each,
    the GIL released), converting its own rows as it goes: no BLAS thread pool wakes up,
    whose workers would spin for ~0.1 s on the cores the eigensolver and the projection
    need next (scipy's BLAS wrappers hold the GIL, so only BLAS's own threads ran them in
    parallel). A busy machine gets one thread, which sums the pieces in turn. One piece
    (``split=False``: PALA's single route, one product as MATLAB's ``X'*X``) runs on BLAS's
    threads when large.
    """
    from . import _blas

    m, n = X.shape
    item = np.dtype(dt).itemsize
    cplx = np.dtype(dt).kind == "c"
    fortran = X.flags.f_contiguous and not X.flags.c_contiguous
    big = m * n * item >= _GRAM_THREADED_BYTES
    step = min(m, max(256, step_bytes // (n * item)))
    pieces = min(GRAM_PIECES, m) if big and split else 1
    edges = [round(i * m / pieces) for i in range(pieces + 1)]
    order = "F" if fortran else "C"

    def piece(lo: int, hi: int) -> np.ndarray:
        C = np.zeros((n, n), dtype=dt, order="F")
        if fortran and X.dtype == dt:  # whole columns of the working class: one product, read in place
            _blas.rank_k(X[lo:hi], C, trans=True)
            return C
        buf = None
        for a in range(lo, hi, step):
            b = min(hi, a + step)
            if X.dtype == dt:  # C-ordered rows of the working class: read in place
                blk = X[a:b]
            else:
                if buf is None:
                    buf = np.empty((min(step, hi - lo), n), dtype=dt, order=order)
                blk = buf[:b - a]
                np.copyto(blk, X[a:b])
            if fortran:
                _blas.rank_k(blk, C, trans=True)          # X_b^H X_b
            else:
                _blas.rank_k(blk.T, C, trans=False)       # A A^H = conj(X_b^H X_b)
        return C

    if pieces == 1:
        with blas_limit(min(default_workers(), available_cpus()) if big else 1):
            return piece(0, m), cplx and not fortran
    with blas_limit(1):
        parts = map_chunks(piece, list(zip(edges[:-1], edges[1:])), min(default_workers(), pieces))
    C = parts[0]
    for P in parts[1:]:
        C += P
    return C, cplx and not fortran
