"""Metrics without ground truth: Fourier ring correlation and saturation curves."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from .maps import _two_maps

__all__ = ["FRCResult", "frc", "frc_resolution", "saturation_curve"]


@dataclass
class FRCResult:
    """Fourier ring correlation and the resolution it gives.

    resolution : float
        ``1 / f`` at the first crossing of ``threshold`` (units of ``pixel_size``);
        the sampling limit ``1 / f_max`` when the curve never crosses.
    frequency : (n,) ring centre frequencies, cycles per unit.
    curve : (n,) FRC values.
    threshold : float
    crossed : bool
        Whether the curve fell below the threshold.
    """

    resolution: float
    frequency: np.ndarray
    curve: np.ndarray
    threshold: float
    crossed: bool


def frc(map1, map2, *, pixel_size=1.0, n_rings: int | None = None, window: bool = True):
    """Fourier ring correlation between two maps of the same size.

    ``FRC(r) = Re Σ_ring F1·conj(F2) / sqrt(Σ_ring |F1|² · Σ_ring |F2|²)``
    over rings of equal spatial frequency (physical frequency, so rectangular
    maps and anisotropic pixels are handled). Typical use in ULM: the maps of
    two halves of the localizations (e.g. odd and even blocks; Hingot et al.,
    Sci. Rep. 2019).

    Parameters
    ----------
    map1, map2 : array_like (Nz, Nx)
    pixel_size : float or (dz, dx)
        Size of one map pixel (e.g. λ/10 for res = 10).
    n_rings : int, optional
        Number of rings up to the smaller Nyquist frequency; default min(Nz, Nx) // 2.
    window : bool
        Apply a separable Hann window first (limits edge artefacts).

    Returns
    -------
    frequency, curve : ndarray (n_rings,)
        Ring centre frequencies (cycles per unit) and FRC values; rings with
        no power have NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import frc
    >>> a = np.random.default_rng(0).random((64, 64))
    >>> f, c = frc(a, a)
    >>> bool(np.allclose(c, 1.0))
    True
    """
    A, B = _two_maps(map1, map2, ("map1", "map2"))
    dz, dx = V.pair(pixel_size, "pixel_size")
    Nz, Nx = A.shape
    if min(Nz, Nx) < 8:
        raise ValueError(f"map1: expected maps of at least 8x8 pixels, got {A.shape}")
    n = min(Nz, Nx) // 2 if n_rings is None else V.positive(n_rings, "n_rings", integer=True)
    if window:
        w = np.hanning(Nz)[:, None] * np.hanning(Nx)[None, :]
        A, B = A * w, B * w
    F1, F2 = np.fft.fft2(A), np.fft.fft2(B)
    fz = np.fft.fftfreq(Nz, dz)
    fx = np.fft.fftfreq(Nx, dx)
    R = np.hypot(fz[:, None], fx[None, :])
    fmax = min(0.5 / dz, 0.5 / dx)
    edges = np.linspace(0.0, fmax, n + 1)
    idx = np.digitize(R.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < n)
    idx = idx[ok]
    num = np.bincount(idx, (F1 * np.conj(F2)).real.ravel()[ok], minlength=n)
    p1 = np.bincount(idx, (np.abs(F1) ** 2).ravel()[ok], minlength=n)
    p2 = np.bincount(idx, (np.abs(F2) ** 2).ravel()[ok], minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        curve = np.where((p1 > 0) & (p2 > 0), num / np.sqrt(p1 * p2), np.nan)
    return 0.5 * (edges[:-1] + edges[1:]), curve


def frc_resolution(map1, map2, *, pixel_size=1.0, threshold: float = 1 / 7, n_rings: int | None = None,
                   window: bool = True) -> FRCResult:
    """Resolution from the Fourier ring correlation of two half-acquisition maps.

    The resolution is ``1 / f`` where the FRC first falls below ``threshold``
    (the fixed 1/7 ≈ 0.143 of Nieuwenhuizen et al., Nat. Methods 2013, used for
    ULM by Hingot et al. 2019), the crossing linearly interpolated; the lowest
    ring is skipped (it holds the mean).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage
    >>> from pyulm.metrics import frc_resolution
    >>> rng = np.random.default_rng(0)
    >>> truth = ndimage.gaussian_filter(rng.random((128, 128)), 4)
    >>> r = frc_resolution(truth + 0.002 * rng.normal(size=truth.shape), truth + 0.002 * rng.normal(size=truth.shape))
    >>> bool(r.crossed and 5 < r.resolution < 40)
    True
    """
    t = float(threshold)
    if not (0 < t < 1):
        raise ValueError(f"threshold: expected a value in (0, 1), got {threshold!r}")
    f, c = frc(map1, map2, pixel_size=pixel_size, n_rings=n_rings, window=window)
    below = np.nonzero(np.nan_to_num(c[1:], nan=-np.inf) < t)[0]
    if below.size == 0:
        return FRCResult(float(1.0 / (f[-1] + (f[-1] - f[-2]) / 2)), f, c, t, False)
    k = below[0] + 1
    f0, f1, c0, c1 = f[k - 1], f[k], c[k - 1], c[k]
    fc = f1 if not np.isfinite(c0) or c0 == c1 else f0 + (c0 - t) * (f1 - f0) / (c0 - c1)
    return FRCResult(float(1.0 / fc), f, c, t, True)


def saturation_curve(maps, *, cumulative: bool = False) -> np.ndarray:
    """Fraction of SR pixels visited at least once as blocks accumulate.

    Parameters
    ----------
    maps : sequence of array_like (Nz, Nx) or array (K, Nz, Nx)
        Density maps of successive blocks (or already-cumulated maps when
        ``cumulative`` is True).
    cumulative : bool
        Whether ``maps[k]`` already holds blocks 0..k.

    Returns
    -------
    ndarray (K,)
        ``nnz(Σ_{i<=k} maps[i] > 0) / size`` (PALA's ``MatOutSat / numel``).

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import saturation_curve
    >>> saturation_curve([np.array([[1, 0], [0, 0]]), np.array([[1, 1], [0, 0]])]).tolist()
    [0.25, 0.5]
    """
    stack = [np.asarray(m, dtype=np.float64) for m in maps]
    if not stack:
        raise ValueError("maps: expected at least one map")
    shape = stack[0].shape
    for k, m in enumerate(stack):
        if m.ndim != 2 or m.shape != shape:
            raise ValueError(f"maps: map {k} has shape {m.shape}, expected {shape} (all maps the same 2-D size)")
    S = np.stack(stack)
    visited = (S > 0) if cumulative else (np.cumsum(S, axis=0) > 0)
    return visited.reshape(len(stack), -1).mean(axis=1)
