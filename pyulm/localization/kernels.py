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
    """conv2(a, ones(3)/9, 'same') with zero padding, per ROI of a (K, m, n) stack.

    Separable: three-row sums, then three-column sums of those (4 additions per
    pixel instead of 8 and no padded copy)."""
    s = a.copy()
    s[:, 1:, :] += a[:, :-1, :]
    s[:, :-1, :] += a[:, 1:, :]
    r = s.copy()
    r[:, :, 1:] += s[:, :, :-1]
    r[:, :, :-1] += s[:, :, 1:]
    r /= 9.0
    return r


@register_kernel("radial", description="Parthasarathy radial symmetry (Nat. Methods 2012)")
def radial_symmetry(rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radial-symmetry centre of each ROI (Parthasarathy 2012), PALA's variant.

    Roberts-cross gradients on the midpoint grid, a zero-padded 3x3 mean, the
    least-squares intersection of the gradient lines weighted by gradient
    magnitude over distance to the centroid. PALA's slope quirks are kept: NaN
    slopes fall back to the unsmoothed slope with the opposite sign convention,
    then to 0, and infinite slopes become 10x the largest finite slope.
    Sums run over the flattened grid of each ROI (the order of the additions
    differs from MATLAB's column sums by rounding only, ~1e-16 px).
    """
    I = np.asarray(rois, dtype=np.float64)
    K, nz, nx = I.shape
    zf = np.repeat(-(nz - 1) / 2.0 + 0.5 + np.arange(nz - 1), nx - 1)  # midpoint grid, flattened
    xf = np.tile(-(nx - 1) / 2.0 + 0.5 + np.arange(nx - 1), nz - 1)
    dIdu = I[:, :-1, 1:] - I[:, 1:, :-1]
    dIdv = I[:, :-1, :-1] - I[:, 1:, 1:]
    fdu = _box3_same(dIdu)
    fdv = _box3_same(dIdv)
    dImag2 = fdu * fdu
    dImag2 += fdv * fdv
    with np.errstate(divide="ignore", invalid="ignore"):
        m = fdv + fdu
        m /= fdv - fdu  # = -(fdv + fdu) / (fdu - fdv); an infinity's sign is not used below
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
        W = dImag2.reshape(K, -1)
        mf = m.reshape(K, -1)
        S = W.sum(axis=1)
        zcen = (W * zf).sum(axis=1) / S  # not W @ zf: BLAS threads would fight the chunk threads
        xcen = (W * xf).sum(axis=1) / S
        d2 = (zf - zcen[:, None]) ** 2
        d2 += (xf - xcen[:, None]) ** 2
        wm = W / np.sqrt(d2)
        wm /= mf * mf + 1.0
        b = zf - mf * xf
        mw = mf * wm
        sw = wm.sum(axis=1)
        smw = mw.sum(axis=1)
        smmw = (mf * mw).sum(axis=1)
        smbw = (b * mw).sum(axis=1)
        sbw = (b * wm).sum(axis=1)
        det = smw * smw - smmw * sw
        xc = (smbw * sw - smw * sbw) / det
        zc = (smbw * smw - smmw * sbw) / det
    return zc, xc


@register_kernel("wa", description="weighted average (centroid) of the ROI")
def weighted_average(rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
def no_localization(rois: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero offsets: positions are the detection pixels."""
    K = rois.shape[0]
    return np.zeros(K), np.zeros(K)
