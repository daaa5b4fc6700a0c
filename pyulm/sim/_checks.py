"""Argument checks specific to the simulators (one clear ValueError each)."""
from __future__ import annotations

import numbers

import numpy as np

from .. import _validate as V


def value_range(value, name: str, *, allow_zero: bool = True, integer: bool = False) -> tuple:
    """A number or a (lo, hi) pair of non-negative numbers with lo <= hi."""
    if isinstance(value, (numbers.Real, np.number)) and not isinstance(value, bool):
        v = V.positive(value, name, allow_zero=allow_zero, integer=integer)
        return v, v
    try:
        arr = list(value)
    except TypeError:
        raise ValueError(f"{name}: expected a number or a (low, high) pair, got {value!r}") from None
    if len(arr) != 2:
        raise ValueError(f"{name}: expected a number or a (low, high) pair, got {value!r}")
    lo = V.positive(arr[0], name, allow_zero=allow_zero, integer=integer)
    hi = V.positive(arr[1], name, allow_zero=allow_zero, integer=integer)
    if lo > hi:
        raise ValueError(f"{name}: expected low <= high, got {value!r}")
    return lo, hi


def shape2(shape, name: str = "shape") -> tuple[int, int]:
    try:
        s = [v for v in shape]
    except TypeError:
        raise ValueError(f"{name}: expected (nz, nx) in pixels, got {shape!r}") from None
    if len(s) != 2:
        raise ValueError(f"{name}: expected (nz, nx) in pixels, got {shape!r}")
    return V.positive(s[0], name, integer=True), V.positive(s[1], name, integer=True)


def db(value, name: str):
    """None, or a finite number of decibels."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.number)):
        raise ValueError(f"{name}: expected a number of dB or None, got {value!r}")
    v = float(value)
    if np.isnan(v) or v == -np.inf:
        raise ValueError(f"{name}: expected a number of dB (or +inf / None for none), got {value!r}")
    return v


def rng_of(seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (numbers.Integral, np.integer)) or seed < 0):
        raise ValueError(f"seed: expected a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)
