"""Clutter filtering: SVD (Casorati) projection and Butterworth temporal band-pass."""
from __future__ import annotations

import numpy as np

from . import _validate as V
from ._parallel import default_workers, map_chunks


def normalize_svd_cutoff(cutoff, n_frames: int) -> np.ndarray:
    """PALA's cutoff rules, returning the kept components as 0-based indices.

    ``cutoff`` holds 1-based component numbers: one number ``c`` keeps
    ``c..N``; two numbers ``[a b]`` keep ``a..b``; more are an explicit list.
    A last element beyond N is clipped to N first.
    """
    c = np.atleast_1d(np.asarray(cutoff, dtype=float)).ravel()
    if c.size == 0 or not np.all(np.isfinite(c)) or np.any(c != np.round(c)) or np.any(c < 1):
        raise ValueError(f"SVD_cutoff: expected 1-based whole component numbers >= 1, got {cutoff!r}")
    c = c.astype(int)
    if c[-1] > n_frames:
        c = np.arange(c[0], n_frames + 1)
    if c.size == 1:
        c = np.arange(c[0], n_frames + 1)
    elif c.size == 2:
        c = np.arange(c[0], c[1] + 1)
    if c.size == 0 or c.max() > n_frames:
        raise ValueError(f"SVD_cutoff: components {cutoff!r} are out of range for {n_frames} frames")
    return c - 1


def svd_filter(frames, cutoff) -> np.ndarray:
    """Remove tissue clutter by projecting each pixel's time series on the kept
    temporal singular vectors of the Casorati matrix (PALA's ``SVDfilter``).

    Parameters
    ----------
    frames : array_like, (..., t)
        IQ block, time on the last axis, real or complex, any memory order.
    cutoff : int or sequence of int
        1-based singular components to keep: ``5`` or ``[5, Nt]`` removes the four
        strongest (tissue). As in PALA, ``cutoff[0] < 2`` or keeping every
        component returns the input unchanged (a copy).

    Returns
    -------
    ndarray
        Same shape and dtype as ``frames``. The result does not depend on the
        sign or phase of the singular vectors (it uses ``U_K U_K^H``).

    Examples
    --------
    >>> import numpy as np
    >>> iq = np.random.default_rng(0).standard_normal((8, 9, 20)) + 0j
    >>> svd_filter(iq, [5, 20]).shape
    (8, 9, 20)
    """
    arr = np.asarray(frames)
    if arr.ndim < 2 or arr.size == 0:
        raise ValueError(f"frames: expected a (..., t) array with at least 2 axes, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("frames: contains NaN or Inf; expected finite values")
    return _svd_filter(arr, cutoff)


def _svd_filter(arr: np.ndarray, cutoff, out: np.ndarray | None = None) -> np.ndarray:
    """:func:`svd_filter` on an already validated array.

    ``out`` (same shape, an inexact dtype, C-contiguous) receives the result and may
    be ``arr`` itself: each row block is read before it is written, so the filter can
    run in place on a private copy.
    """
    n = arr.shape[-1]
    if out is None:
        out = np.empty(arr.shape, dtype=arr.dtype if np.issubdtype(arr.dtype, np.inexact) else np.float64)
    elif out.shape != arr.shape or not out.flags.c_contiguous or not np.issubdtype(out.dtype, np.inexact):
        raise ValueError(f"out: expected a C-contiguous floating array of shape {arr.shape}, "
                         f"got {out.dtype} {out.shape}")
    rows = out.reshape(-1, n)

    def write(key, R):
        (out if R.ndim == 3 else rows)[key] = R

    _svd_blocks(arr, cutoff, write)
    return out


def _svd_blocks(arr: np.ndarray, cutoff, write) -> None:
    """PALA's SVD filter of ``arr`` (..., t), handed over in row blocks of ~4 MB in double.

    ``write(key, R)`` receives each block: for a Fortran-ordered (z, x, t) block, as
    MATLAB and scipy.io.loadmat hand it over and as it is read (z fastest, no copy),
    ``R`` is the (z, x1 - x0, t) block of whole z columns and ``key`` indexes the
    (z, x, t) array; otherwise ``R`` is (m, t) rows and ``key`` indexes
    ``arr.reshape(-1, t)`` (other strides are copied to C order first). Each block
    is read from ``arr`` before it is handed over, so ``write`` may overwrite it.
    Keeping every component (or ``cutoff[0] < 2``) hands the input over unchanged.
    """
    n = arr.shape[-1]
    keep = normalize_svd_cutoff(cutoff, n)
    # Always double: the clutter is orders of magnitude stronger than the bubbles, and a
    # single-precision Gram matrix leaves ~0.5 % of it in the output (measured on block a).
    # Row blocks are converted to double one at a time, so no double copy of the block exists.
    work = np.result_type(arr.dtype, np.float64)
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
    if keep[0] < 1 or (keep.size == n and np.array_equal(keep, np.arange(n))):
        step = max(align, max(64, (1 << 22) // (n * np.dtype(work).itemsize)) // align * align)
        for lo in range(0, X.shape[0], step):
            hi = min(X.shape[0], lo + step)
            hand(lo, hi, np.array(X[lo:hi], dtype=work, order="F" if fortran else "C"))
        return
    comp = np.setdiff1d(np.arange(n), keep)
    # X U_K U_K^H == X - X U_R U_R^H for the complement R: project on the smaller side,
    # and compute only those eigenvectors of the (Hermitian) Gram matrix X^H X.
    side, subtract = (keep, False) if keep.size <= comp.size else (comp, True)
    V = np.asfortranarray(_gram_eigenvectors(X, side, work))
    _project(X, V, subtract, hand, align)


def _project(X: np.ndarray, V: np.ndarray, subtract: bool, write, align: int = 1) -> None:
    """``X - X V V^H`` (``subtract``) or ``X V V^H`` in double, handed to
    ``write(lo, hi, rows)`` row block by row block (blocks a multiple of ``align`` rows).

    Both products go through scipy's BLAS ``gemm``, the library (and thread pool) that
    just built the Gram matrix and ran the eigensolver: handing its worker threads the
    next job keeps them busy, where numpy's BLAS (a second pool) would have its threads
    wait on cores the first pool's idle workers still spin on (measured: 5x slower).
    Each block is handed over in the layout it already has (a C-ordered block as its
    Fortran transpose), so BLAS copies nothing.
    """
    from scipy import linalg  # imported on use: ~0.3 s, paid by every MATLAB file-transport call

    n, k = V.shape
    gemm = linalg.blas.get_blas_funcs("gemm", (V,))
    Vc = np.asfortranarray(V.conj())  # (n, k)
    Vh = np.asfortranarray(Vc.T)      # (k, n)
    alpha, beta = (-1.0, 1.0) if subtract else (1.0, 0.0)
    fortran = X.flags.f_contiguous and not X.flags.c_contiguous
    step = max(64, (1 << 22) // (n * V.dtype.itemsize))  # ~4 MB of double rows
    step = max(align, step // align * align)
    for lo in range(0, X.shape[0], step):
        hi = min(X.shape[0], lo + step)
        if fortran:
            B = np.array(X[lo:hi], dtype=V.dtype, order="F")           # (m, n)
            P = gemm(1.0, B, V)                                          # X_b V
            write(lo, hi, gemm(alpha, P, Vh, beta=beta, c=B, overwrite_c=1))  # B -/+ P V^H
        else:
            Bt = np.array(X[lo:hi], dtype=V.dtype, order="C").T          # (n, m), Fortran
            Pt = gemm(1.0, V, Bt, trans_a=1)                             # (X_b V)^T
            write(lo, hi, gemm(alpha, Vc, Pt, beta=beta, c=Bt, overwrite_c=1).T)


def _gram_eigenvectors(X: np.ndarray, components: np.ndarray, work=np.float64) -> np.ndarray:
    """Eigenvectors of ``X^H X`` for the given 0-based components in descending order.

    The Gram matrix is accumulated with BLAS ``herk`` (half the work of a general
    product) over row blocks converted to the double class ``work``, each handed to
    BLAS in the layout it already has (a C-ordered block is the Fortran transpose
    ``A = X_b^T``, whose ``A A^H`` is the conjugate of ``X_b^H X_b``; conjugating the
    eigenvectors at the end undoes it). LAPACK's subset eigensolver then covers only
    the contiguous index range that holds the requested components, so removing 4
    tissue components out of 800 costs a fraction of a full decomposition.
    """
    from scipy import linalg

    n = X.shape[1]
    cplx = np.iscomplexobj(X) or np.issubdtype(work, np.complexfloating)
    dt = np.complex128 if cplx else np.float64
    rank_k = linalg.blas.zherk if cplx else linalg.blas.dsyrk
    fortran = X.flags.f_contiguous and not X.flags.c_contiguous
    C = np.zeros((n, n), dtype=dt, order="F")
    if fortran and X.dtype == dt:
        C = rank_k(1.0, X, beta=1.0, c=C, trans=2 if cplx else 1, overwrite_c=1)
    else:
        step = max(256, (1 << 23) // (n * np.dtype(dt).itemsize))  # ~8 MB of rows per call
        for lo in range(0, X.shape[0], step):
            if fortran:
                blk = np.asarray(X[lo:lo + step], dtype=dt, order="F")
                C = rank_k(1.0, blk, beta=1.0, c=C, trans=2 if cplx else 1, overwrite_c=1)
            else:
                blk = np.ascontiguousarray(X[lo:lo + step], dtype=dt)
                C = rank_k(1.0, blk.T, beta=1.0, c=C, trans=0, overwrite_c=1)  # conj(X_b^H X_b)
    # descending component k is ascending eigenvalue index n-1-k
    lo, hi = n - 1 - components.max(), n - 1 - components.min()
    w, U = linalg.eigh(C, lower=False, subset_by_index=[int(lo), int(hi)], overwrite_a=True,
                       check_finite=False)
    if cplx and not fortran:  # eigenvectors of conj(G) are the conjugates of G's
        U = U.conj()
    U = U[:, ::-1]  # descending, as MATLAB's svd orders them: column j is component min + j
    return U[:, components - components.min()]


def _work_dtype(dtype) -> np.dtype:
    """The floating class computations run in: the input's, as MATLAB does
    (single stays single, double stays double); integers go to double."""
    dtype = np.dtype(dtype)
    if dtype in (np.float32, np.complex64, np.float64, np.complex128):
        return dtype
    return np.dtype(np.complex128 if np.iscomplexobj(np.empty(0, dtype)) else np.float64)


def butter_coefficients(band, frame_rate, order: int = 2):
    """Butterworth band-pass ``(b, a)`` as MATLAB ``butter(order, band/(fs/2), 'bandpass')``."""
    lo, hi = np.asarray(band, dtype=float).ravel()[:2] if np.size(band) == 2 else (np.nan, np.nan)
    fs = V.positive(frame_rate, "frame_rate")
    order = V.positive(order, "order", integer=True)
    if not (0 < lo < hi < fs / 2):
        raise ValueError(
            f"ButterCuttofFreq: expected [low high] Hz with 0 < low < high < frame_rate/2 = {fs / 2:g}, got {band!r}"
        )
    from scipy import signal  # imported here: it costs ~0.5 s, a lot for MATLAB's per-call start-up

    return signal.butter(order, [lo / (fs / 2), hi / (fs / 2)], btype="bandpass")


def butter_bandpass(frames, band, frame_rate, *, order: int = 2, zero_phase: bool = False, axis: int = -1,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Temporal Butterworth band-pass.

    ``out`` may be a floating array of the input's shape and class, ``frames``
    itself included: the result is then written there (chunk by chunk).

    Causal (``scipy.signal.lfilter``, zero initial state, as PALA's
    ``filter(b, a, IQ, [], 3)``) by default; ``zero_phase=True`` uses
    ``filtfilt`` instead (no delay, doubled order).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((4, 4, 100))
    >>> butter_bandpass(x, [50, 249], 1000).shape
    (4, 4, 100)
    """
    arr = np.asarray(frames)
    arr = arr.astype(_work_dtype(arr.dtype), copy=False)
    if out is not None and (out.shape != arr.shape or out.dtype != arr.dtype or not out.flags.c_contiguous):
        raise ValueError(f"out: expected a C-contiguous {arr.dtype} array of shape {arr.shape}, "
                         f"got {out.dtype} {out.shape}")
    b, a = butter_coefficients(band, frame_rate, order)
    real = np.float32 if arr.dtype in (np.float32, np.complex64) else np.float64
    b, a = b.astype(real), a.astype(real)  # single data is filtered in single, as MATLAB's filter
    from scipy import signal

    run = signal.filtfilt if zero_phase else signal.lfilter
    axis = axis % arr.ndim
    if np.iscomplexobj(arr):
        # Real coefficients act on real and imaginary parts separately; filtering the
        # float view is exact and several times faster than scipy's complex path.
        c = np.ascontiguousarray(arr)
        parts = c.view(real).reshape(c.shape + (2,))  # (..., re/im), no copy
        dest = None if out is None else out.view(real).reshape(c.shape + (2,))
        return _filter_along(run, b, a, parts, axis, real, dest).view(c.dtype).reshape(c.shape)
    return _filter_along(run, b, a, arr, axis, arr.dtype, out)


def _filter_along(run, b, a, arr, axis, dtype, out=None):
    """``run(b, a, arr, axis=axis)`` into ``out``, the independent signals in chunks over
    threads (each chunk is read before it is written, so ``out`` may be ``arr``)."""
    other = 0 if axis != 0 else 1
    n = arr.shape[other]
    # chunks of ~2 MB also bound the temporaries of an in-place run (lfilter copies each)
    per = max(1, (2 << 20) // max(1, arr.nbytes // n))
    bounds = [(lo, min(n, lo + per)) for lo in range(0, n, per)]
    if out is None:
        out = np.empty(arr.shape, dtype=dtype)

    def one(lo, hi):
        sl = (slice(None),) * other + (slice(lo, hi),)
        out[sl] = run(b, a, arr[sl], axis=axis)

    map_chunks(one, bounds, default_workers())
    return out


def filter_block(frames, svd_cutoff=5, band=None, frame_rate=None, *, order: int = 2, zero_phase: bool = False) -> np.ndarray:
    """PALA's clutter filter chain: SVD, then (optionally) the band-pass, then
    non-finite values set to 0.

    The output class follows the input, as in MATLAB: complex64 IQ (as Verasonics
    and PALA save it) comes back complex64 and is band-passed in single. The SVD
    itself always runs in double, because tissue clutter is orders of magnitude
    stronger than the bubbles. PALA's reference outputs were computed from double
    input; pass ``frames.astype(np.complex128)`` to reproduce them to 1e-10.

    Examples
    --------
    >>> import numpy as np
    >>> iq = np.random.default_rng(0).standard_normal((8, 8, 64)).astype(np.complex64)
    >>> filter_block(iq, [5, 64], [50, 249], 1000).dtype
    dtype('complex64')
    """
    arr = V.as_frames(frames)
    if band is not None and frame_rate is None:
        raise ValueError("frame_rate: required (Hz) when a band-pass is given")
    out = _svd_filter(arr.astype(_work_dtype(arr.dtype), copy=False), svd_cutoff)
    if band is not None:
        butter_bandpass(out, band, frame_rate, order=order, zero_phase=zero_phase, axis=2, out=out)
    out[~np.isfinite(out)] = 0
    return out
