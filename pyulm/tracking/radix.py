"""Stable argsort of non-negative integer keys by 16-bit radix passes.

numpy's stable sort is a radix sort for 16-bit integers but a merge sort
(several times slower) for wider ones; the linking code sorts many integer
keys (frames, components, packed pairs), so keys below 2**32 are sorted by two
stable 16-bit passes, low half first.
"""
from __future__ import annotations

import numpy as np

__all__ = ["stable_argsort"]


def stable_argsort(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` for an integer array, faster for keys in [0, 2**32).

    Examples
    --------
    >>> stable_argsort(np.array([70000, 3, 70000, 0, 3])).tolist()
    [3, 1, 4, 0, 2]
    """
    keys = np.asarray(keys)
    if keys.size == 0 or keys.min() < 0 or keys.max() >= 2 ** 32:
        return np.argsort(keys, kind="stable")
    if keys.max() < 2 ** 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]
