"""MATLAB's colormaps and PALA's ``WriteTif`` colour quantisation (numpy only)."""
from __future__ import annotations

import math

import numpy as np

from .._validate import positive, round_half_away

__all__ = ["gray", "hot", "jet", "two_sided_hot", "apply_colormap", "as_map"]


# ----------------------------------------------------------------------------- colormaps (MATLAB's)

def _count(n, name="n"):
    return positive(n, name, integer=True)


def gray(n: int = 128) -> np.ndarray:
    """MATLAB ``gray(n)``: (n, 3) grey ramp from black to white.

    Examples
    --------
    >>> gray(3).tolist()
    [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [1.0, 1.0, 1.0]]
    """
    n = _count(n)
    g = np.arange(n) / max(n - 1, 1)
    return np.repeat(g[:, None], 3, axis=1)


def hot(n: int = 128) -> np.ndarray:
    """MATLAB ``hot(n)``: black, red, yellow, white; (n, 3).

    Red rises over the first ``floor(3n/8)`` rows, then green, then blue.

    Examples
    --------
    >>> hot(8)[[0, -1]].tolist()
    [[0.3333333333333333, 0.0, 0.0], [1.0, 1.0, 1.0]]
    """
    n = _count(n)
    k = int(3 * n // 8)
    ramp = np.arange(1, k + 1) / k if k else np.zeros(0)
    r = np.concatenate([ramp, np.ones(n - k)])
    g = np.concatenate([np.zeros(k), ramp, np.ones(max(n - 2 * k, 0))])[:n]
    rest = n - 2 * k
    b = np.concatenate([np.zeros(2 * k), np.arange(1, rest + 1) / rest if rest > 0 else np.zeros(0)])[:n]
    return np.column_stack([r, g, b])


def jet(n: int = 256) -> np.ndarray:
    """MATLAB ``jet(n)``: dark blue, cyan, yellow, dark red; (n, 3).

    Examples
    --------
    >>> jet(4).tolist()
    [[0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    """
    n = _count(n)
    q = math.ceil(n / 4)
    u = np.concatenate([np.arange(1, q + 1) / q, np.ones(q - 1), np.arange(q, 0, -1) / q])
    g = math.ceil(q / 2) - (n % 4 == 1) + np.arange(1, u.size + 1)
    r, b = g + q, g - q
    g, r, b = g[g <= n], r[r <= n], b[b >= 1]
    out = np.zeros((n, 3))
    out[r - 1, 0] = u[:r.size]
    out[g - 1, 1] = u[:g.size]
    out[b - 1, 2] = u[u.size - b.size:]
    return out


def two_sided_hot() -> np.ndarray:
    """PALA's direction colormap: (247, 3), white-blue-black then black-red-white.

    ``hot(128)`` with rows and channels reversed (blue side, for negative
    values) stacked on ``hot(128)``, without the 4 outermost colours at each
    end, so neither extreme is pure white.

    Examples
    --------
    >>> two_sided_hot().shape
    (247, 3)
    """
    h = hot(128)
    return np.vstack([h[::-1, ::-1], h])[4:-5]


# ----------------------------------------------------------------------------- helpers

def as_map(a, name):
    arr = np.asarray(a)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.iscomplexobj(arr):
        raise ValueError(f"{name}: expected a real numeric 2-D map, got dtype {arr.dtype}")
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty 2-D map, got shape {arr.shape}")
    arr = arr.astype(float)  # a copy: inputs are never modified
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: {int(arr.size - np.isfinite(arr).sum())} value(s) are NaN or Inf; expected finite values")
    return arr


def apply_colormap(image, cmap, clim=None) -> np.ndarray:
    """Map a 2-D image through a colormap the way PALA's ``WriteTif`` does.

    Values are clipped to ``clim``, scaled to [0, 1], turned into indices
    ``round(v * N)`` (halves away from zero) clamped to ``1..N``.

    Parameters
    ----------
    image : (H, W) array_like
    cmap : (N, 3) array_like
        RGB colours in [0, 1].
    clim : (low, high), optional
        Colour limits; default ``(0, max(image))``. With ``high <= low``
        every pixel takes the first colour.

    Returns
    -------
    (H, W, 3) float64 array in [0, 1].

    Examples
    --------
    >>> apply_colormap([[0.0, 0.5, 1.0]], gray(3))[0, :, 0].tolist()
    [0.0, 0.5, 1.0]
    """
    img = as_map(image, "image")
    cm = np.asarray(cmap, dtype=float)
    if cm.ndim != 2 or cm.shape[1] != 3 or cm.shape[0] < 1 or np.any(cm < 0) or np.any(cm > 1):
        raise ValueError(f"cmap: expected an (N, 3) array of RGB values in [0, 1], got shape {cm.shape}")
    if clim is None:
        clim = (0.0, float(img.max()))
    lo_hi = np.asarray(clim, dtype=float).ravel()
    if lo_hi.size != 2 or not np.all(np.isfinite(lo_hi)):
        raise ValueError(f"clim: expected (low, high), two finite numbers, got {clim!r}")
    lo, hi = lo_hi
    n = cm.shape[0]
    if hi <= lo:
        idx = np.ones(img.shape, np.int64)
    else:
        norm = (np.clip(img, lo, hi) - lo) / (hi - lo)
        idx = np.clip(round_half_away(norm * n), 1, n).astype(np.int64)
    return cm[idx - 1]
