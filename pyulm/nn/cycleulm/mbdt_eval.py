"""What MB-DT is judged by (numpy only): MIP contrast and isolated-bubble width, against ground truth.

* :func:`mip_cnr`: CNR (dB) of the maximum-intensity projection, signal = pixels the
  ground-truth bubbles visited, background = pixels farther than ``margin`` from any
  of them. Two definitions: pyulm's :func:`pyulm.metrics.cnr`
  (``|μs − μb| / sqrt(σs² + σb²)``) and the CycleULM paper's ratio of means
  (``20 log10(μs / μb)``).
* :func:`isolated_fwhm`: median FWHM (z, x) of bubbles with no other ground-truth
  bubble within ``isolation`` pixels, measured on the axial and lateral profiles
  through the peak nearest each bubble (:func:`pyulm.metrics.profile_fwhm`, baseline 0).
"""
from __future__ import annotations

import numpy as np

__all__ = ["mip_cnr", "isolated_fwhm"]


def _gt_arrays(gt):
    return np.asarray(gt.z, float), np.asarray(gt.x, float), np.asarray(gt.frame, np.int64)


def mip_cnr(frames, gt, *, margin: float = 6.0) -> dict:
    """CNR of the MIP of ``|frames|`` (z, x, t): ``{"cnr_db", "mean_ratio_db"}``.

    Signal: pixels holding a ground-truth position (any frame). Background: pixels
    more than ``margin`` pixels from every signal pixel.
    """
    from scipy import ndimage

    from ...metrics import cnr

    mip = np.abs(np.asarray(frames)).max(axis=2).astype(np.float64)
    z, x, _ = _gt_arrays(gt)
    nz, nx = mip.shape
    iz, ix = np.rint(z).astype(int), np.rint(x).astype(int)
    ok = (iz >= 0) & (iz < nz) & (ix >= 0) & (ix < nx)
    signal = np.zeros((nz, nx), bool)
    signal[iz[ok], ix[ok]] = True
    background = ndimage.distance_transform_edt(~signal) > margin
    ms, mb = mip[signal].mean(), mip[background].mean()
    return {"cnr_db": cnr(mip, signal, background),
            "mean_ratio_db": float(20 * np.log10(ms / mb)) if mb > 0 else float("inf")}


def isolated_fwhm(frames, gt, *, isolation: float = 12.0, half_width: int = 8, min_intensity_quantile: float = 0.5,
                  max_bubbles: int = 400) -> dict:
    """Median FWHM (z, x) in pixels of isolated ground-truth bubbles in ``|frames|``.

    Returns ``{"fwhm": [z, x], "n": bubbles measured, "missed": bubbles whose peak is 0}``
    (NaN when none).
    """
    from ...metrics import profile_fwhm

    amp = np.abs(np.asarray(frames)).astype(np.float64)
    nz, nx, nt = amp.shape
    z, x, f = _gt_arrays(gt)
    inten = np.asarray(gt.intensity, float)
    keep = inten >= np.quantile(inten, min_intensity_quantile) if inten.size else np.zeros(0, bool)
    rows, missed = [], 0
    order = np.argsort(f, kind="stable")
    bounds = np.searchsorted(f[order], np.arange(nt + 1))
    for t in range(nt):
        idx = order[bounds[t]:bounds[t + 1]]
        if idx.size == 0:
            continue
        d = np.hypot(z[idx, None] - z[None, idx], x[idx, None] - x[None, idx])
        np.fill_diagonal(d, np.inf)
        alone = idx[(d.min(axis=1) > isolation) & keep[idx]]
        for i in alone:
            cz, cx = int(round(z[i])), int(round(x[i]))
            if not (half_width + 1 <= cz < nz - half_width - 1 and half_width + 1 <= cx < nx - half_width - 1):
                continue
            win = amp[cz - 1:cz + 2, cx - 1:cx + 2, t]
            dz, dx = np.unravel_index(np.argmax(win), win.shape)
            pz, px = cz + dz - 1, cx + dx - 1
            pr_z = amp[pz - half_width:pz + half_width + 1, px, t]
            pr_x = amp[pz, px - half_width:px + half_width + 1, t]
            if amp[pz, px, t] <= 0:  # nothing there (a translator that dropped the bubble): no width
                missed += 1
                continue
            rows.append((profile_fwhm(pr_z), profile_fwhm(pr_x)))
            if len(rows) >= max_bubbles:
                break
        if len(rows) >= max_bubbles:
            break
    if not rows:
        return {"fwhm": [float("nan"), float("nan")], "n": 0, "missed": missed}
    arr = np.array(rows, float)
    return {"fwhm": [float(np.nanmedian(arr[:, 0])), float(np.nanmedian(arr[:, 1]))],
            "n": int(np.isfinite(arr).all(axis=1).sum()), "missed": missed}
