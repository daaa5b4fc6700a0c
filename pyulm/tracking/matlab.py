"""MATLAB semantics that tracking depends on: ``smooth(y, span)`` and the colon ``a:d:b``."""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["matlab_smooth", "matlab_colon", "smooth_segments"]

_EPS = np.finfo(float).eps


def _round_half_away(v: float) -> float:
    return math.copysign(math.floor(abs(v) + 0.5), v)


def matlab_smooth(y, span=5) -> np.ndarray:
    """Moving average with the semantics of MATLAB's ``smooth(y, span)`` ('moving').

    The window is ``span`` capped at the length ``n`` of ``y`` and forced odd
    (20 -> 19); interior points get the centred mean, the first and last
    ``(w - 1) / 2`` points get the mean of the largest symmetric window that
    fits (``c[k] = mean(y[:2k+1])``, ``c[0] = y[0]``). ``scipy.ndimage`` and
    pandas filters treat the ends differently.

    Parameters
    ----------
    y : array_like
        Values (any shape; flattened in column-major order as MATLAB does).
        Not modified.
    span : int or float, optional
        Number of samples of the window (floored), default 5.

    Returns
    -------
    ndarray of float, shape (n,)

    Examples
    --------
    >>> matlab_smooth([1, 2, 4, 8, 16, 32, 64], 20) * [1, 3, 5, 7, 5, 3, 1]
    array([  1.,   7.,  31., 127., 124., 112.,  64.])
    """
    y = np.asarray(y, dtype=float).ravel(order="F")
    if isinstance(span, bool) or not isinstance(span, numbers.Real) or not span >= 1 or math.isinf(span):
        raise ValueError(f"span: expected a finite number >= 1, got {span!r}")
    return smooth_rows(y[None, :], span)[0]


def _pairwise(parts: list) -> np.ndarray:
    """The elementwise sum of equal-shape arrays in numpy's pairwise order for a reduction of
    that many values (eight running sums for up to 128 values, halves above): the sums
    ``sliding_window_view(...).sum(axis=-1)`` gives, bit for bit (tested), from len(parts)
    vector additions into a few buffers instead of a short reduction per window."""
    n = len(parts)
    if n < 8:
        out = parts[0] + 0.0
        for a in parts[1:]:
            np.add(out, a, out=out)
        return out
    if n <= 128:
        if n < 16:  # one sum per running sum: no buffer of their own
            r = parts[:8]
        else:
            r = [parts[j] + 0.0 for j in range(8)]
            for i in range(8, n - n % 8, 8):
                for j in range(8):
                    np.add(r[j], parts[i + j], out=r[j])
        out = r[0] + r[1]
        tmp = r[2] + r[3]
        np.add(out, tmp, out=out)
        right = r[4] + r[5]
        np.add(r[6], r[7], out=tmp)
        np.add(right, tmp, out=right)
        np.add(out, right, out=out)
        for a in parts[n - n % 8:]:
            np.add(out, a, out=out)
        return out
    half = n // 2
    half -= half % 8
    out = _pairwise(parts[:half])
    np.add(out, _pairwise(parts[half:]), out=out)
    return out


def window_sums(Y: np.ndarray, w: int) -> np.ndarray:
    """Sums of every ``w`` consecutive values along the last axis of ``Y`` (shape ``(..., n - w + 1)``),
    equal bit for bit to ``sliding_window_view(Y, w, axis=-1).sum(axis=-1)``."""
    m = Y.shape[-1] - w + 1
    return _pairwise([Y[..., i:i + m] for i in range(w)])


def smooth_rows(Y: np.ndarray, span: float) -> np.ndarray:
    """:func:`matlab_smooth` applied to every row of a 2-D array (rows of equal length)."""
    k, n = Y.shape
    span = min(int(math.floor(span)), n)
    w = span - 1 + span % 2
    if w <= 1:
        return Y.astype(float, copy=True)
    h = (w - 1) // 2
    out = np.empty((k, n))
    # interior: centred window of w samples (MATLAB runs filter(ones(w,1)/w, 1, y))
    out[:, h:n - h] = window_sums(Y, w) / w
    lengths = 2 * np.arange(h) + 1
    out[:, :h] = np.cumsum(Y[:, : 2 * h - 1], axis=1)[:, lengths - 1] / lengths
    out[:, n - h:] = (np.cumsum(Y[:, ::-1][:, : 2 * h - 1], axis=1)[:, lengths - 1] / lengths)[:, ::-1]
    return out


def smooth_segments(y: np.ndarray, offsets: np.ndarray, span: float) -> np.ndarray:
    """:func:`matlab_smooth` applied to each segment ``y[offsets[k]:offsets[k+1]]`` of a flat
    float64 array (tracks one after another), the same values as :func:`smooth_rows` per
    segment, bit for bit.

    Segments shorter than the span have their own (odd) window: few lengths, one
    :func:`smooth_rows` matrix each. Every other segment has the same window: one pass over
    all points, with smooth_rows' arithmetic (w-sample window sums, sequential end sums),
    so the cost does not grow with the number of distinct segment lengths.
    """
    span = int(math.floor(span))
    lengths = np.diff(offsets)
    out = y.copy()
    short = (lengths > 0) & (lengths < span)
    for n in np.unique(lengths[short]):
        idx = offsets[:-1][lengths == n][:, None] + np.arange(n)
        out[idx] = smooth_rows(y[idx], span)
    w = span - 1 + span % 2  # MATLAB forces the window odd (10 -> 9)
    long_ = np.flatnonzero(lengths >= span)
    if w <= 1 or long_.size == 0:
        return out
    h = (w - 1) // 2
    starts, ends = offsets[:-1][long_], offsets[1:][long_]
    sums = window_sums(y, w) / w  # window starting at each point
    inner = np.zeros(y.size + 1, np.int64)
    np.add.at(inner, starts + h, 1)
    np.add.at(inner, ends - h, -1)
    centre = np.flatnonzero(np.cumsum(inner[:-1]) > 0)  # points whose centred window lies in their segment
    out[centre] = sums[centre - h]
    odd = 2 * np.arange(h) + 1
    head = np.cumsum(y[starts[:, None] + np.arange(2 * h - 1)], axis=1)[:, odd - 1] / odd
    out[starts[:, None] + np.arange(h)] = head
    tail = np.cumsum(y[ends[:, None] - 1 - np.arange(2 * h - 1)], axis=1)[:, odd - 1] / odd
    out[ends[:, None] - 1 - np.arange(h)] = tail
    return out


def matlab_colon(a, step, b) -> np.ndarray:
    """The MATLAB range ``a:step:b``, built as MATLAB builds it.

    The number of intervals is ``round((b - a) / step)``, less one if that
    overshoots ``b`` by more than ``2 * eps * max(|a|, |b|)``; an end point
    within that tolerance of ``b`` is snapped to ``b``; the first half of the
    values is ``a + k * step`` and the second half ``end - k * step`` (and the
    midpoint ``(a + end) / 2`` for an even number of intervals).
    ``np.arange`` accumulates differently, never includes ``b`` and can differ
    by one element.

    Parameters
    ----------
    a, step, b : float
        Start, increment and end.

    Returns
    -------
    ndarray of float, shape (m,)
        Empty when the range is empty (``step == 0`` or pointing away from ``b``).

    Examples
    --------
    >>> q = matlab_colon(1, ((1 / 2) / 10) * 0.8, 20)   # PALA's grid for n = 20
    >>> q.size, bool(q[-1] == 20.0)
    (476, True)
    """
    vals = []
    for name, v in (("a", a), ("step", step), ("b", b)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v):
            raise ValueError(f"{name}: expected a finite number, got {v!r}")
        vals.append(float(v))
    a, d, b = vals
    if d == 0 or (a < b and d < 0) or (b < a and d > 0):
        return np.zeros(0)
    tol = 2.0 * _EPS * max(abs(a), abs(b))
    sig = math.copysign(1.0, d)
    if a == math.floor(a) and d == 1:
        n = int(math.floor(b) - a)
    elif a == math.floor(a) and d == math.floor(d):
        q = math.floor(a / d)
        r = a - q * d
        n = int(math.floor((b - r) / d) - q)
    else:
        n = int(_round_half_away((b - a) / d))
        if sig * (a + n * d - b) > tol:
            n -= 1
    last = a + n * d
    if sig * (last - b) > -tol:
        last = b
    out = np.empty(n + 1)
    k = np.arange(n // 2 + 1)
    out[k] = a + k * d
    out[n - k] = last - k * d
    if n % 2 == 0:
        out[n // 2] = (a + last) / 2
    return out
