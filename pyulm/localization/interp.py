"""The ``interp`` kernel: up-sample each ROI ten times and take its maximum.

PALA's "Sp-Interp" / "Bi-Interp" / "Lz-Interp" localizers. Two families of
up-sampling are offered, both linear in the data and separable, so the weights
are built once per ROI size and applied to the whole ``(K, nz, nx)`` stack at
once (``Mz @ rois @ Mx.T`` for the spline; for imresize, its kernel taps in
MATLAB's order, rows first):

* ``"spline"``: the tensor-product not-a-knot cubic spline through the ROI
  samples (MATLAB ``interp2(..., 'spline')``) sampled at ``linspace(1, n, 10 n)``;
* ``"cubic"`` (alias ``"bicubic"``) and ``"lanczos3"``: MATLAB
  ``imresize(ROI, 10, method)``, reimplemented from MathWorks' published
  description (see :func:`imresize_matrix`).

The offset of the first maximum (column-major) is reported on PALA's grid,
``-h - 0.55 + i/10`` with ``i`` the 1-based up-sampled index. That grid is the
imresize pixel mapping; for the spline (whose samples are spread over
``linspace(1, n, 10 n)``) it scales the true offsets by ``0.1 (10 n - 1)/(n - 1)``
(1.225 for n = 5), a bias PALA has and that is kept here on purpose.
"""
from __future__ import annotations

import numbers
from functools import lru_cache

import numpy as np

from .registry import register_kernel

INTERP_METHODS = ("spline", "cubic", "bicubic", "lanczos3")
UPSAMPLING = 10
_IMRESIZE_KERNELS = {"cubic": "cubic", "bicubic": "cubic", "lanczos3": "lanczos3"}
_CHUNK = 2048  # ROIs per matmul batch: bounds the (chunk, 10nz, 10nx) temporary


def _keys_cubic(s: np.ndarray) -> np.ndarray:
    """Keys (1981) cubic convolution kernel with a = -0.5, support [-2, 2]."""
    a = np.abs(s)
    a2, a3 = a * a, a * a * a
    inner = (1.5 * a3 - 2.5 * a2 + 1.0) * (a <= 1)
    outer = (-0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0) * ((a > 1) & (a <= 2))
    return inner + outer


def _lanczos3(s: np.ndarray) -> np.ndarray:
    """Lanczos kernel with 3 lobes; the eps terms make the value at 0 exactly 1."""
    eps = np.finfo(np.float64).eps
    num = np.sin(np.pi * s) * np.sin(np.pi * s / 3.0) + eps
    den = np.pi ** 2 * s * s / 3.0 + eps
    return (num / den) * (np.abs(s) < 3)


_KERNELS = {"cubic": (_keys_cubic, 4.0), "lanczos3": (_lanczos3, 6.0)}


@lru_cache(maxsize=64)
def _imresize_taps(n: int, scale: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB imresize's per-output ``(weights, 0-based source indices)``, each (n_out, taps)."""
    kernel, width = _KERNELS[_IMRESIZE_KERNELS[method]]
    n_out = int(np.ceil(n * scale))
    if scale < 1:  # MATLAB anti-aliases when shrinking: a stretched, flattened kernel
        base = kernel
        kernel = lambda s: scale * base(scale * s)  # noqa: E731
        width = width / scale
    k = np.arange(1, n_out + 1, dtype=np.float64)
    u = k / scale + 0.5 * (1.0 - 1.0 / scale)  # output pixel centre in 1-based input coordinates
    left = np.floor(u - width / 2.0)
    taps = int(np.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    w = kernel(u[:, None] - idx)
    w = w / w.sum(axis=1, keepdims=True)
    # Symmetric padding: index i outside 1..n reads aux[(i-1) mod 2n] with aux = [1..n, n..1].
    aux = np.concatenate([np.arange(n), np.arange(n - 1, -1, -1)])
    src = aux[np.mod(idx.astype(np.int64) - 1, 2 * n)]
    used = np.any(w != 0, axis=0)  # tap columns that are zero for every output are dropped
    w, src = np.ascontiguousarray(w[:, used]), np.ascontiguousarray(src[:, used])
    w.setflags(write=False)
    src.setflags(write=False)
    return w, src


@lru_cache(maxsize=64)
def _imresize_matrix_cached(n: int, scale: float, method: str) -> np.ndarray:
    w, src = _imresize_taps(n, scale, method)
    M = np.zeros((w.shape[0], n))
    np.add.at(M, (np.repeat(np.arange(w.shape[0]), w.shape[1]), src.ravel()), w.ravel())
    M.setflags(write=False)
    return M


def _resize_axis(a: np.ndarray, w: np.ndarray, src: np.ndarray, axis: int) -> np.ndarray:
    """Apply imresize weights along ``axis`` of a (K, ., .) stack, adding the taps in order."""
    out = None
    for p in range(w.shape[1]):
        if axis == 1:
            term = w[None, :, p, None] * a[:, src[:, p], :]
        else:
            term = w[None, None, :, p] * a[:, :, src[:, p]]
        out = term if out is None else out + term
    return out


def imresize_matrix(n: int, scale: float = UPSAMPLING, method: str = "cubic") -> np.ndarray:
    """The linear map of MATLAB ``imresize`` along one axis of length ``n``.

    ``imresize(A, scale, method)`` of a 2-D array equals ``Mz @ A @ Mx.T`` (up to
    rounding) with ``Mz = imresize_matrix(A.shape[0], scale, method)`` and ``Mx``
    likewise. (:func:`upsample` adds the taps one by one instead, as MATLAB does.)

    The weights follow MathWorks' description of ``imresize``: output pixel
    ``k`` (1-based) sits at input coordinate ``u = k/scale + (1 - 1/scale)/2``;
    ``ceil(W) + 2`` taps start at ``floor(u - W/2)``; the kernel weights are
    normalised to sum 1; indices outside ``1..n`` are mirrored with the edge
    sample repeated (period ``2n``). The kernels are Keys' cubic with
    ``a = -0.5`` (width 4) and Lanczos-3 with ``eps`` regularisation (width 6).
    When shrinking (``scale < 1``) the kernel is stretched by ``1/scale``
    (anti-aliasing). The output length is ``ceil(n * scale)``.

    Parameters
    ----------
    n : int
        Input length (>= 1).
    scale : float
        Resize factor (> 0); PALA uses 10.
    method : {"cubic", "bicubic", "lanczos3"}
        Interpolation kernel ("bicubic" is MATLAB's alias of "cubic").

    Returns
    -------
    ndarray, shape (ceil(n*scale), n)
        Read-only; each row sums to 1.

    Examples
    --------
    >>> M = imresize_matrix(5, 10, "cubic")
    >>> M.shape, bool(np.allclose(M.sum(axis=1), 1))
    ((50, 5), True)
    >>> M[15:17] @ np.arange(1.0, 6.0)  # output pixels 16 and 17 sit at input 2.05 and 2.15
    array([2.05, 2.15])
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected a whole number >= 1, got {n!r}")
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not np.isfinite(scale) or scale <= 0:
        raise ValueError(f"scale: expected a finite number > 0, got {scale!r}")
    if method not in _IMRESIZE_KERNELS:
        raise ValueError(f"method: expected one of {sorted(_IMRESIZE_KERNELS)}, got {method!r}")
    return _imresize_matrix_cached(int(n), float(scale), method)


@lru_cache(maxsize=64)
def _spline_matrix_cached(n: int, factor: int) -> np.ndarray:
    nodes = np.arange(1, n + 1, dtype=np.float64)
    query = np.linspace(1.0, float(n), factor * n)
    # Evaluating the interpolant of each unit vector gives the columns of the linear map.
    from scipy.interpolate import CubicSpline  # lazy: keeps `import pyulm` light for MATLAB calls

    M = CubicSpline(nodes, np.eye(n), axis=0, bc_type="not-a-knot")(query)
    M.setflags(write=False)
    return M


def spline_matrix(n: int, factor: int = UPSAMPLING) -> np.ndarray:
    """The linear map of a not-a-knot cubic spline on nodes ``1..n`` sampled at ``linspace(1, n, factor*n)``.

    ``interp2(A, Xq, Zq, 'spline')`` on that grid equals ``Mz @ A @ Mx.T``. As for
    MATLAB's ``spline``, two nodes give a straight line and three a parabola.

    Examples
    --------
    >>> M = spline_matrix(5)
    >>> M.shape, bool(np.allclose(M @ np.arange(5.0) ** 3, (np.linspace(1, 5, 50) - 1) ** 3))
    ((50, 5), True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n: the spline needs at least 2 nodes, got {n!r}")
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise ValueError(f"factor: expected a whole number >= 1, got {factor!r}")
    return _spline_matrix_cached(int(n), int(factor))


def upsample(rois: np.ndarray, interp_method: str = "spline") -> np.ndarray:
    """Up-sample a (K, nz, nx) ROI stack ten times along both axes, as PALA does.

    Returns the (K, 10 nz, 10 nx) stack. See the module docstring for the methods.

    Examples
    --------
    >>> upsample(np.ones((1, 5, 5)), "lanczos3").shape
    (1, 50, 50)
    """
    rois = _check_rois(rois)
    method = _check_method(interp_method)
    K, nz, nx = rois.shape
    if method == "spline":
        if nz < 2 or nx < 2:
            raise ValueError(f"rois: the spline needs ROIs of at least 2x2 pixels, got {nz}x{nx}")
        Mz, Mx = spline_matrix(nz), spline_matrix(nx)
        return np.matmul(np.matmul(Mz, rois), Mx.T)
    # imresize: rows first, then columns, each output a sum over its kernel taps in tap
    # order (mirrored taps kept separate), as MATLAB accumulates them.
    wz, sz = _imresize_taps(nz, float(UPSAMPLING), method)
    wx, sx = _imresize_taps(nx, float(UPSAMPLING), method)
    return _resize_axis(_resize_axis(rois, wz, sz, axis=1), wx, sx, axis=2)


def _check_method(interp_method) -> str:
    if not isinstance(interp_method, str) or interp_method not in INTERP_METHODS:
        raise ValueError(f"interp_method: expected one of {list(INTERP_METHODS)}, got {interp_method!r}")
    return interp_method


def _check_rois(rois) -> np.ndarray:
    arr = np.asarray(rois, dtype=np.float64)
    if arr.ndim != 3:
        raise ValueError(f"rois: expected a (K, nz, nx) stack, got shape {arr.shape}")
    return arr


@register_kernel("interp", description="maximum of the ROI up-sampled 10x (spline, cubic or lanczos3)")
def interp_kernel(rois: np.ndarray, *, interp_method: str = "spline") -> tuple[np.ndarray, np.ndarray]:
    """Offsets of the first maximum of each ROI up-sampled ten times (PALA's ``interp``).

    Parameters
    ----------
    rois : ndarray, (K, nz, nx)
        Amplitude ROIs centred on the candidates (nz, nx odd).
    interp_method : {"spline", "cubic", "bicubic", "lanczos3"}
        Up-sampling: not-a-knot spline (``interp2``) or MATLAB ``imresize``.

    Returns
    -------
    dz, dx : ndarray, (K,)
        Offsets in pixels from the ROI centre, ``-h - 0.55 + i/10`` with ``i``
        the 1-based index of the first maximum in column-major order.

    Examples
    --------
    >>> zz, xx = np.mgrid[-2:3, -2:3]
    >>> roi = np.exp(-((zz - 0.3) ** 2 + (xx + 0.2) ** 2) / 2)[None]
    >>> [round(float(v[0]), 2) for v in interp_kernel(roi, interp_method="cubic")]
    [0.15, -0.15]
    """
    method = _check_method(interp_method)
    rois = _check_rois(rois)
    K, nz, nx = rois.shape
    hz, hx = (nz - 1) // 2, (nx - 1) // 2
    dz = np.empty(K)
    dx = np.empty(K)
    nzu, nxu = UPSAMPLING * nz, UPSAMPLING * nx
    for start in range(0, K, _CHUNK):
        up = upsample(rois[start:start + _CHUNK], method)
        # First maximum in column-major order: flatten each image x-major.
        flat = up.transpose(0, 2, 1).reshape(up.shape[0], nzu * nxu)
        lin = np.argmax(flat, axis=1)
        iz = lin % nzu + 1
        ix = lin // nzu + 1
        dz[start:start + _CHUNK] = iz / UPSAMPLING - hz - 0.55
        dx[start:start + _CHUNK] = ix / UPSAMPLING - hx - 0.55
        bad = np.isnan(flat).any(axis=1)
        dz[start:start + _CHUNK][bad] = np.nan
        dx[start:start + _CHUNK][bad] = np.nan
    return dz, dx
