"""Clutter filtering: SVD (Casorati) projection and Butterworth temporal band-pass.

Errors name the caller's argument (``cutoff``, ``svd_cutoff``, ``band``); :mod:`pyulm.pala`
renames them to PALA's fields (``SVD_cutoff``, ``ButterCuttofFreq``) where it calls these.
"""
from __future__ import annotations

import numpy as np

from . import _validate as V
from ._parallel import default_workers, map_chunks
from ._svd import PRECISIONS, normalize_svd_cutoff, svd_blocks

__all__ = ["svd_filter", "butter_coefficients", "butter_bandpass", "filter_block", "filter_amplitude",
           "normalize_svd_cutoff", "PRECISIONS"]


def svd_filter(frames, cutoff, *, precision: str = "double") -> np.ndarray:
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
    precision : {"double", "pala_single"}
        ``"double"``: the Gram matrix, its eigenvectors and the projection in double
        whatever the input class (accurate). ``"pala_single"``: PALA's arithmetic on
        single data, ``X'*X``, ``svd`` and the projection in single (to regress
        against MATLAB results on single IQ). On the bundled example block it is
        1.9e-3 (of the output's maximum) from the double route and 2.7e-6 from a
        direct transcription of PALA's arithmetic; the route itself moves by ~2e-3
        with the summation order of ``X'*X`` (the weak components are lost in the
        tissue's rounding), so MATLAB's results are met to that order, not bit for bit.

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
    return _svd_filter(arr, cutoff, precision=precision)


def _svd_filter(arr: np.ndarray, cutoff, out: np.ndarray | None = None, *, precision: str = "double",
                name: str = "cutoff", finish=None, check_finite: str | None = None) -> np.ndarray:
    """:func:`svd_filter` on an already validated array.

    ``out`` (same shape, an inexact dtype, C-contiguous) receives the result and may
    be ``arr`` itself: each row block is read before it is written, so the filter can
    run in place on a private copy. ``finish(block)``, when given, acts in place on each
    C-contiguous (..., t) block of the result in ``out``'s class before it is stored
    (the rest of a chain whose steps act on each pixel's time series alone).
    ``check_finite``: see :func:`pyulm._svd.svd_blocks`.
    """
    n = arr.shape[-1]
    if out is None:
        out = np.empty(arr.shape, dtype=arr.dtype if np.issubdtype(arr.dtype, np.inexact) else np.float64)
    elif out.shape != arr.shape or not out.flags.c_contiguous or not np.issubdtype(out.dtype, np.inexact):
        raise ValueError(f"out: expected a C-contiguous floating array of shape {arr.shape}, "
                         f"got {out.dtype} {out.shape}")
    rows = out.reshape(-1, n)

    def write(key, R):
        if R.ndim == 2:  # rows of the C-ordered (..., t) result: contiguous, finished where they lie
            rows[key] = R
            if finish is not None:
                finish(rows[key])
        elif finish is None:
            out[key] = R
        else:  # whole z columns: a strided part of the C-ordered result, finished before it goes there
            block = np.empty(R.shape, out.dtype)
            block[...] = R
            finish(block)
            out[key] = block

    # a block may be handed over twice (see svd_blocks) unless the result overwrites the input
    svd_blocks(arr, cutoff, write, precision=precision, name=name, check_finite=check_finite,
               rewrite=not np.may_share_memory(out, arr))
    return out


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
            f"band: expected [low high] Hz with 0 < low < high < frame_rate/2 = {fs / 2:g}, got {band!r}"
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
    return _bandpass(arr, butter_coefficients(band, frame_rate, order), zero_phase, axis, out)


def _bandpass(arr: np.ndarray, coefficients, zero_phase: bool, axis: int, out):
    """:func:`butter_bandpass` with its ``(b, a)`` designed (once for every row block of a filter)."""
    b, a = coefficients
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


def filter_block(frames, svd_cutoff=5, band=None, frame_rate=None, *, order: int = 2, zero_phase: bool = False,
                 svd_precision: str = "double") -> np.ndarray:
    """PALA's clutter filter chain: SVD, then (optionally) the band-pass, then
    non-finite values set to 0.

    The output class follows the input, as in MATLAB: complex64 IQ (as Verasonics
    and PALA save it) comes back complex64 and is band-passed in single. The SVD
    itself always runs in double, because tissue clutter is orders of magnitude
    stronger than the bubbles. PALA's reference outputs were computed from double
    input; pass ``frames.astype(np.complex128)`` to reproduce them to 1e-10, or
    ``svd_precision="pala_single"`` (see :func:`svd_filter`) to follow PALA's
    single-precision SVD on single data.

    Examples
    --------
    >>> import numpy as np
    >>> iq = np.random.default_rng(0).standard_normal((8, 8, 64)).astype(np.complex64)
    >>> filter_block(iq, [5, 64], [50, 249], 1000).dtype
    dtype('complex64')
    """
    arr = V.as_frames(frames, check_finite=False)  # NaN/Inf are looked for on the way (svd_blocks)
    if band is not None and frame_rate is None:
        raise ValueError("frame_rate: required (Hz) when a band-pass is given")
    # designed once, before any work (a bad band fails here)
    coefficients = None if band is None else butter_coefficients(band, frame_rate, order)

    def finish(block: np.ndarray) -> None:
        """Band-pass and non-finite values to 0, in place, on a C-contiguous (..., t) block:
        each step acts on each pixel's time series alone, so row block by row block, while
        the block is in cache, gives the same values as whole-array passes."""
        if coefficients is not None:
            _bandpass(block, coefficients, zero_phase, block.ndim - 1, block)
        # A sum of finite values is finite unless it overflows: one pass for the usual
        # all-finite block, the exact test (setting non-finite values to 0) otherwise.
        if not np.isfinite(block.sum()):
            block[~np.isfinite(block)] = 0

    return _svd_filter(arr.astype(_work_dtype(arr.dtype), copy=False), svd_cutoff, precision=svd_precision,
                       name="svd_cutoff", finish=finish, check_finite="frames")


def filter_amplitude(frames, svd_cutoff, band=None, frame_rate=None, *, out=None, svd_precision: str = "double",
                     check_finite: str | None = None):
    """PALA's in vivo filter chain, straight to the amplitude and the power Doppler image.

    ``IQ_svd = SVDfilter(IQ)``, ``PowDop = sqrt(sum_t |IQ_svd|^2)``, the causal band-pass
    along time, then ``|IQ_filt|`` with non-finite values set to 0: the result equals
    ``abs(filter_block(frames, svd_cutoff, band, frame_rate))`` for a double block, but
    past the SVD's Gram matrix every step acts on each pixel's time series alone, so
    the projection's row blocks of pixels (~4 MB in double) go through all of them in
    turn: the double-precision filtered block never exists as a whole.

    Parameters
    ----------
    frames : ndarray, (z, x, t)
        IQ block, validated (see :func:`pyulm._validate.as_frames`).
    svd_cutoff, band, frame_rate
        As :func:`filter_block` (``band=None``: no band-pass).
    out : ndarray, optional
        float64 (z, x, t) array for the amplitude, C-ordered or (for a Fortran-ordered
        ``frames``) Fortran-ordered. It may share memory with ``frames`` when each
        sample's amplitude lands where that sample is (a complex64 or float64 block
        viewed as float64, the real parts of a complex128 block): every row block is
        read before it is written.
    svd_precision : {"double", "pala_single"}
        See :func:`svd_filter`.
    check_finite : str, optional
        ``frames`` has not been checked for NaN/Inf: look for them on the way (a
        ``ValueError`` naming this argument before any output is written; see
        :func:`pyulm._svd.svd_blocks`).

    Returns
    -------
    amplitude : (z, x, t) float64 ndarray
    power_doppler : (z, x) float64 ndarray
    """
    nz, nx, n = frames.shape
    fortran = frames.flags.f_contiguous and not frames.flags.c_contiguous
    if out is None:
        out = np.empty(frames.shape, np.float64, order="F" if fortran else "C")
    band = np.zeros(0) if band is None else np.asarray(band, dtype=float).ravel()
    # designed once, before any work (a bad band fails here)
    coefficients = butter_coefficients(band, frame_rate) if band.size else None
    powdop = np.empty((nz, nx))

    def finish(chunk: np.ndarray, dest: np.ndarray) -> np.ndarray:
        """Power Doppler, band-pass (in place) and |IQ| into ``dest`` of a C-ordered (z, x, n) block."""
        pd = _power_doppler(chunk)
        if coefficients is not None:
            _bandpass(chunk, coefficients, False, 2, chunk)
        np.abs(chunk, out=dest)
        # A sum of magnitudes is finite when every one is (no cancellation): one pass for the
        # usual all-finite block, the non-finite values set to 0 (as PALA does) otherwise.
        if not np.isfinite(dest.sum()):
            dest[~np.isfinite(dest)] = 0
        return pd

    if not fortran:  # rows of C-ordered (z, x) pixels, as svd_blocks hands them
        pd_rows, amp_rows = powdop.reshape(-1), out.reshape(-1, n)
        if not np.shares_memory(amp_rows, out):
            raise ValueError("out: expected a C-ordered array for a C-ordered block")

    def write(key, R):
        if R.ndim == 3:  # whole z columns of a Fortran-ordered block
            powdop[key] = finish(np.ascontiguousarray(R), out[key])
        else:  # rows of the C-ordered (z * x, n) block
            pd_rows[key] = finish(np.ascontiguousarray(R).reshape(1, -1, n), amp_rows[key][None])[0]

    svd_blocks(frames, svd_cutoff, write, precision=svd_precision, name="svd_cutoff", check_finite=check_finite,
               rewrite=not np.may_share_memory(out, frames))
    return out, powdop


def _power_doppler(iq) -> np.ndarray:
    """``sqrt(sum_t |IQ|^2)`` per pixel in one pass over the block (no |IQ|^2 temporary)."""
    c = np.ascontiguousarray(iq)
    v = c.view(c.real.dtype).reshape(c.shape[0], c.shape[1], -1) if np.iscomplexobj(c) else c
    return np.sqrt(np.einsum("ijk,ijk->ij", v, v))
