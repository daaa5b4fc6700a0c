"""Metrics between super-resolved maps: RMSE, SSIM, CNR, profile FWHM, overlap."""
from __future__ import annotations

import numpy as np

from .._optional import require

__all__ = ["map_rmse", "map_ssim", "cnr", "profile_fwhm", "binary_overlap"]


def _two_maps(a, b, names=("a", "b")):
    A = np.asarray(a, dtype=np.float64)
    B = np.asarray(b, dtype=np.float64)
    if A.ndim != 2 or B.ndim != 2:
        raise ValueError(f"{names[0]}, {names[1]}: expected 2-D maps, got shapes {A.shape} and {B.shape}")
    if A.shape != B.shape:
        raise ValueError(f"{names[0]}, {names[1]}: maps of different sizes {A.shape} and {B.shape}; "
                         "render both on the same super-resolved grid")
    if A.size == 0:
        raise ValueError(f"{names[0]}: the maps are empty")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(B))):
        raise ValueError(f"{names[0]}, {names[1]}: maps contain NaN or Inf")
    return A, B


def map_rmse(estimate, reference, *, normalize: str = "none") -> float:
    """Root mean square difference between two maps of the same size.

    Parameters
    ----------
    estimate, reference : array_like (Nz, Nx)
    normalize : {"none", "max", "sum"}
        Divide each map by its maximum (or sum) first, which compares shapes
        when the maps hold different numbers of localizations.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import map_rmse
    >>> map_rmse(np.zeros((2, 2)), np.array([[0, 0], [0, 2.0]]))
    1.0
    """
    A, B = _two_maps(estimate, reference, ("estimate", "reference"))
    if normalize not in ("none", "max", "sum"):
        raise ValueError(f"normalize: expected 'none', 'max' or 'sum', got {normalize!r}")
    if normalize != "none":
        fa = A.max() if normalize == "max" else A.sum()
        fb = B.max() if normalize == "max" else B.sum()
        if fa == 0 or fb == 0:
            raise ValueError(f"normalize: a map has zero {normalize}; cannot normalise")
        A, B = A / fa, B / fb
    return float(np.sqrt(np.mean((A - B) ** 2)))


def map_ssim(estimate, reference, *, data_range: float | None = None, **kwargs) -> float:
    """Structural similarity (Wang et al. 2004) between two maps (``skimage.metrics.structural_similarity``).

    ``data_range`` defaults to the span of both maps together (skimage would
    otherwise guess it from the dtype). Extra keyword arguments go to skimage.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import map_ssim
    >>> a = np.random.default_rng(0).random((32, 32))
    >>> map_ssim(a, a)
    1.0
    """
    structural_similarity = require("skimage.metrics", "map_ssim").structural_similarity

    A, B = _two_maps(estimate, reference, ("estimate", "reference"))
    if data_range is None:
        data_range = float(max(A.max(), B.max()) - min(A.min(), B.min()))
        if data_range == 0:
            data_range = 1.0
    return float(structural_similarity(A, B, data_range=data_range, **kwargs))


def cnr(image, region, background) -> float:
    """Contrast-to-noise ratio between two regions, in dB.

    ``CNR = 20 log10(|μ_r − μ_b| / sqrt(σ_r² + σ_b²))`` with the means and
    (population) standard deviations of the pixels in each region.

    Parameters
    ----------
    image : array_like (Nz, Nx)
    region, background : array_like of bool (Nz, Nx)
        Masks of the two regions (e.g. a vessel and the tissue beside it).

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import cnr
    >>> img = np.array([[10.0, 12.0, 0.0, 2.0]])
    >>> round(cnr(img, img > 5, img < 5), 2)
    16.99
    """
    I = np.asarray(image, dtype=np.float64)
    masks = []
    for nm, m in (("region", region), ("background", background)):
        M = np.asarray(m)
        if M.shape != I.shape:
            raise ValueError(f"{nm}: mask shape {M.shape} differs from the image shape {I.shape}")
        M = M.astype(bool)
        if not M.any():
            raise ValueError(f"{nm}: the mask selects no pixel")
        masks.append(M)
    a, b = I[masks[0]], I[masks[1]]
    noise = np.sqrt(a.var() + b.var())
    diff = abs(a.mean() - b.mean())
    if noise == 0:
        return float("inf") if diff > 0 else float("nan")
    with np.errstate(divide="ignore"):
        return float(20.0 * np.log10(diff / noise))


def profile_fwhm(profile, spacing: float = 1.0, *, baseline: float | str = 0.0) -> float:
    """Full width at half maximum of a 1-D profile (e.g. across a vessel).

    Half maximum is ``baseline + (max − baseline)/2``; the crossings on each
    side of the highest sample are linearly interpolated.

    Parameters
    ----------
    profile : array_like (n,)
    spacing : float
        Distance between samples (e.g. SR pixel size in λ); the result is in this unit.
    baseline : float or "min"
        Level subtracted first; ``"min"`` uses the profile's minimum.

    Returns
    -------
    float
        NaN when the profile does not fall below half maximum on both sides.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import profile_fwhm
    >>> x = np.arange(-20, 21) * 0.1
    >>> round(profile_fwhm(np.exp(-x**2 / (2 * 0.5**2)), 0.1), 2)   # 2.3548 sigma = 1.177
    1.18
    """
    p = np.asarray(profile, dtype=np.float64).ravel()
    if p.size < 3 or not np.all(np.isfinite(p)):
        raise ValueError(f"profile: expected at least 3 finite samples, got {p.size}")
    step = float(spacing)
    if not step > 0 or not np.isfinite(step):
        raise ValueError(f"spacing: expected a value > 0, got {spacing!r}")
    base = p.min() if isinstance(baseline, str) and baseline == "min" else baseline
    if isinstance(base, str):
        raise ValueError(f"baseline: expected a number or 'min', got {baseline!r}")
    k = int(np.argmax(p))
    half = base + (p[k] - base) / 2.0
    if p[k] <= base:
        raise ValueError("profile: its maximum is not above the baseline")
    left = np.nonzero(p[:k] < half)[0]
    right = np.nonzero(p[k + 1:] < half)[0]
    if left.size == 0 or right.size == 0:
        return float("nan")
    i = left[-1]  # p[i] < half <= p[i+1]
    xl = i + (half - p[i]) / (p[i + 1] - p[i])
    j = k + 1 + right[0]  # p[j-1] >= half > p[j]
    xr = j - 1 + (p[j - 1] - half) / (p[j - 1] - p[j])
    return float((xr - xl) * step)


def binary_overlap(estimate, reference, *, threshold: float = 0.0, reference_threshold: float | None = None) -> dict:
    """Dice, precision and recall of two binarised density maps.

    Pixels above ``threshold`` (estimate) / ``reference_threshold`` (reference,
    default the same) are "vessel".

    Returns
    -------
    dict
        ``dice = 2|E∩R|/(|E|+|R|)``, ``precision = |E∩R|/|E|``,
        ``recall = |E∩R|/|R|`` (NaN when a denominator is 0).

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import binary_overlap
    >>> binary_overlap(np.array([[1, 1, 0, 0]]), np.array([[0, 1, 1, 0]]))
    {'dice': 0.5, 'precision': 0.5, 'recall': 0.5}
    """
    A, B = _two_maps(estimate, reference, ("estimate", "reference"))
    E = A > threshold
    R = B > (threshold if reference_threshold is None else reference_threshold)
    inter = np.count_nonzero(E & R)
    ne, nr = np.count_nonzero(E), np.count_nonzero(R)

    def ratio(a, b):
        return float(a / b) if b > 0 else float("nan")

    return {"dice": ratio(2 * inter, ne + nr), "precision": ratio(inter, ne), "recall": ratio(inter, nr)}
