"""Argument checks shared by every public function.

Each check raises one ``ValueError`` naming the parameter, what it got and what
is expected, so bad input never turns into a silent wrong answer.
"""
from __future__ import annotations

import numbers

import numpy as np


def as_frames(frames, name: str = "frames", *, allow_complex: bool = True) -> np.ndarray:
    """Return ``frames`` as a 3-D (z, x, t) array without copying or modifying it.

    Raises ``ValueError`` for a wrong number of axes, an empty array or
    non-finite values.
    """
    arr = np.asarray(frames)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr) and not allow_complex:
        raise ValueError(f"{name}: expected a real array, got complex {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, np.newaxis]
    if arr.ndim != 3:
        raise ValueError(
            f"{name}: expected a (z, x, t) array with 3 axes (or one 2-D frame), got {arr.ndim} axes "
            f"with shape {arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name}: the array is empty (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: {bad} value(s) are NaN or Inf; expected finite values")
    return arr


def positive(value, name: str, *, integer: bool = False, allow_zero: bool = False, allow_inf: bool = False):
    """Check a positive scalar; return it as ``int`` or ``float``."""
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if np.isnan(v) or (np.isinf(v) and not allow_inf):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    if v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a value {bound}, got {value!r}")
    if integer:
        if np.isinf(v) or v != int(v):
            raise ValueError(f"{name}: expected a whole number, got {value!r}")
        return int(v)
    return v


def pair(value, name: str) -> tuple[float, float]:
    """Accept a scalar or a 2-sequence of positive numbers; return a (a, b) tuple."""
    arr = np.atleast_1d(np.asarray(value, dtype=float)).ravel()
    if arr.size == 1:
        arr = np.repeat(arr, 2)
    if arr.size != 2:
        raise ValueError(f"{name}: expected one number or two numbers, got {value!r}")
    for v in arr:
        positive(float(v), name)
    return float(arr[0]), float(arr[1])


def choice(value, name: str, allowed) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name}: expected one of {sorted(allowed)}, got {value!r}")
    return value


def round_half_away(x):
    """MATLAB ``round``: halves go away from zero (numpy rounds them to even)."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)
