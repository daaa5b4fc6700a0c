"""Sub-pixel ROI kernels: radial symmetry, weighted average, no localization.

Every kernel takes a (K, nz, nx) float64 stack of ROIs and returns the offsets
``(dz, dx)`` in pixels from the ROI centre (+z down, +x right), vectorised over
all K candidates. NaN marks a failed localization.
"""
from __future__ import annotations

import numpy as np

from .registry import register_kernel


def _offsets(n: int) -> np.ndarray:
    h = (n - 1) // 2
    return np.arange(-h, h + 1, dtype=np.float64)


def _box3_same(a: np.ndarray) -> np.ndarray:
    """conv2(a, ones(3)/9, 'same') with zero padding, per ROI of a (K, m, n) stack."""
    p = np.pad(a, ((0, 0), (1, 1), (1, 1)))
    m, n = a.shape[1:]
    s = np.zeros_like(a)
    for dz in range(3):
        for dx in range(3):
            s += p[:, dz:dz + m, dx:dx + n]
    return s / 9.0


@register_kernel("radial", description="Parthasarathy radial symmetry (Nat. Methods 2012)")
def radial_symmetry(rois: np.ndarray, **_) -> tuple[np.ndarray, np.ndarray]:
    """Radial-symmetry centre of each ROI (Parthasarathy 2012), PALA's variant.

    Roberts-cross gradients on the midpoint grid, a zero-padded 3x3 mean, the
    least-squares intersection of the gradient lines weighted by gradient
    magnitude over distance to the centroid. PALA's slope quirks are kept: NaN
    slopes fall back to the unsmoothed slope with the opposite sign convention,
    then to 0, and infinite slopes become 10x the largest finite slope.
    """
    I = np.asarray(rois, dtype=np.float64)
    K, nz, nx = I.shape
    zm = (-(nz - 1) / 2.0 + 0.5 + np.arange(nz - 1))[:, None] * np.ones((1, nx - 1))
    xm = (-(nx - 1) / 2.0 + 0.5 + np.arange(nx - 1))[None, :] * np.ones((nz - 1, 1))
    dIdu = I[:, :-1, 1:] - I[:, 1:, :-1]
    dIdv = I[:, :-1, :-1] - I[:, 1:, 1:]
    fdu = _box3_same(dIdu)
    fdv = _box3_same(dIdv)
    dImag2 = fdu * fdu + fdv * fdv
    with np.errstate(divide="ignore", invalid="ignore"):
        m = -(fdv + fdu) / (fdu - fdv)
        nan = np.isnan(m)
        if nan.any():
            m[nan] = ((dIdv + dIdu) / (dIdu - dIdv))[nan]
        m[np.isnan(m)] = 0.0
        inf = np.isinf(m)
        if inf.any():
            finite = np.where(inf, -np.inf, m)
            big = finite.reshape(K, -1).max(axis=1)
            bad = inf.any(axis=(1, 2)) & np.isinf(big)
            if bad.any():
                raise RuntimeError(
                    f"radial symmetry: every gradient slope is infinite in {int(bad.sum())} ROI(s); "
                    "this input is degenerate for the method"
                )
            m = np.where(inf, 10.0 * big[:, None, None], m)
        b = zm - m * xm
        # MATLAB's sum(sum(.)) adds column sums first.
        S = dImag2.sum(axis=1).sum(axis=1)
        zcen = (dImag2 * zm).sum(axis=1).sum(axis=1) / S
        xcen = (dImag2 * xm).sum(axis=1).sum(axis=1) / S
        w = dImag2 / np.sqrt((zm - zcen[:, None, None]) ** 2 + (xm - xcen[:, None, None]) ** 2)
        wm = w / (m * m + 1.0)

        def tot(a):
            return a.sum(axis=1).sum(axis=1)

        sw = tot(wm)
        smmw = tot(m * m * wm)
        smw = tot(m * wm)
        smbw = tot(m * b * wm)
        sbw = tot(b * wm)
        det = smw * smw - smmw * sw
        xc = (smbw * sw - smw * sbw) / det
        zc = (smbw * smw - smmw * sbw) / det
    return zc, xc


@register_kernel("wa", description="weighted average (centroid) of the ROI")
def weighted_average(rois: np.ndarray, **_) -> tuple[np.ndarray, np.ndarray]:
    """Intensity-weighted centroid of each ROI (NaN when the ROI sums to 0)."""
    I = np.asarray(rois, dtype=np.float64)
    vz = _offsets(I.shape[1])
    vx = _offsets(I.shape[2])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = I.sum(axis=1).sum(axis=1)
        zc = (I * vz[None, :, None]).sum(axis=1).sum(axis=1) / s
        xc = (I * vx[None, None, :]).sum(axis=1).sum(axis=1) / s
    return zc, xc


@register_kernel("nolocalization", description="no sub-pixel step: the integer detection pixel")
def no_localization(rois: np.ndarray, **_) -> tuple[np.ndarray, np.ndarray]:
    """Zero offsets: positions are the detection pixels."""
    K = rois.shape[0]
    return np.zeros(K), np.zeros(K)
