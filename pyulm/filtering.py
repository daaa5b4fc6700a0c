"""Clutter filtering: SVD (Casorati) projection and Butterworth temporal band-pass."""
from __future__ import annotations

import numpy as np
from scipy import linalg

from . import _validate as V
from ._parallel import chunk_bounds, default_workers, map_chunks


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


def _svd_filter(arr: np.ndarray, cutoff) -> np.ndarray:
    """:func:`svd_filter` on an already validated array."""
    n = arr.shape[-1]
    keep = normalize_svd_cutoff(cutoff, n)
    if keep[0] < 1 or (keep.size == n and np.array_equal(keep, np.arange(n))):
        return arr.copy()
    # Always double: the clutter is orders of magnitude stronger than the bubbles, and a
    # single-precision Gram matrix leaves ~0.5 % of it in the output (measured on block a).
    work = np.result_type(arr.dtype, np.float64)
    X = arr.reshape(-1, n).astype(work, copy=False)
    comp = np.setdiff1d(np.arange(n), keep)
    # X U_K U_K^H == X - X U_R U_R^H for the complement R: project on the smaller side,
    # and compute only those eigenvectors of the (Hermitian) Gram matrix X^H X.
    side, subtract = (keep, False) if keep.size <= comp.size else (comp, True)
    V = np.ascontiguousarray(_gram_eigenvectors(X, side))
    Vh = np.ascontiguousarray(V.conj().T)
    out = np.empty(X.shape, dtype=arr.dtype if np.issubdtype(arr.dtype, np.inexact) else work)
    # Row blocks that fit in cache: no P x N temporaries, written straight in the output class.
    step = max(1, (1 << 21) // (n * X.itemsize))
    for lo in range(0, X.shape[0], step):
        blk = X[lo:lo + step]
        proj = (blk @ V) @ Vh
        out[lo:lo + step] = blk - proj if subtract else proj
    return out.reshape(arr.shape)


def _gram_eigenvectors(X: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Eigenvectors of ``X^H X`` for the given 0-based components in descending order.

    Uses BLAS ``herk`` for the Gram matrix (half the work of a general product)
    and LAPACK's subset eigensolver over the contiguous index range that covers
    the requested components, so removing 4 tissue components out of 800 costs a
    fraction of a full decomposition.
    """
    n = X.shape[1]
    if np.iscomplexobj(X):
        C = linalg.blas.zherk(1.0, X, trans=2)  # upper triangle of X^H X
    else:
        C = linalg.blas.dsyrk(1.0, X, trans=1)
    # descending component k is ascending eigenvalue index n-1-k
    lo, hi = n - 1 - components.max(), n - 1 - components.min()
    w, U = linalg.eigh(C, lower=False, subset_by_index=[int(lo), int(hi)])
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


def butter_bandpass(frames, band, frame_rate, *, order: int = 2, zero_phase: bool = False, axis: int = -1) -> np.ndarray:
    """Temporal Butterworth band-pass.

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
        return _filter_along(run, b, a, parts, axis, real).view(c.dtype).reshape(c.shape)
    return _filter_along(run, b, a, arr, axis, arr.dtype)


def _filter_along(run, b, a, arr, axis, dtype):
    """``run(b, a, arr, axis=axis)``, with the independent signals split over threads."""
    other = 0 if axis != 0 else 1
    bounds = chunk_bounds(arr.shape[other], default_workers(), min_chunk=8) if arr.size >= 1 << 20 else [(0, arr.shape[other])]
    out = np.empty(arr.shape, dtype=dtype)

    def one(lo, hi):
        sl = (slice(None),) * other + (slice(lo, hi),)
        out[sl] = run(b, a, arr[sl], axis=axis)

    map_chunks(one, bounds, len(bounds))
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
    out = _svd_filter(arr.astype(_work_dtype(arr.dtype), copy=False), svd_cutoff)
    if band is not None:
        if frame_rate is None:
            raise ValueError("frame_rate: required (Hz) when a band-pass is given")
        out = butter_bandpass(out, band, frame_rate, order=order, zero_phase=zero_phase, axis=2)
    out[~np.isfinite(out)] = 0
    return out
