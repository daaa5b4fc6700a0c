"""CycleULM-E2E's map accumulation: MBT-Net over sliding 8-frame windows -> PALA's SR maps.

MBT-Net's x4 output pixel ``j`` is centred on input position ``(j - 1) / 4``, which PALA's
super-resolution grid at ``res = 4`` (:class:`pyulm.render.SuperResolutionGrid`, index
``round((p + 1) * res)``, 1-based) calls pixel ``j + 3`` (1-based), i.e. ``j + 2`` 0-based:
each window's maps are added at that offset, so E2E maps overlay the maps of every
tracking pipeline of pyulm at ``res = 4`` pixel for pixel.
"""
from __future__ import annotations

import numpy as np

from ...render import SuperResolutionGrid
from .mbtnet_data import UPSAMPLE
from .mbtnet_infer import iter_predict, load_model

_OFFSET = 2  # 0-based PALA SR index of MBT-Net's x4 pixel 0


def _pixel_size(pixel_size) -> tuple[float, float] | None:
    if pixel_size is None:
        return None
    ps = np.asarray(pixel_size, dtype=float).ravel() if not isinstance(pixel_size, (str, bytes)) else np.zeros(0)
    if ps.size == 1:
        ps = np.repeat(ps, 2)
    if ps.size != 2 or not np.all(np.isfinite(ps)) or np.any(ps <= 0):
        raise ValueError(f"pixel_size: expected a positive size in mm, or (dz, dx) in mm, got {pixel_size!r}")
    return float(ps[0]), float(ps[1])


def _crossed(logit: np.ndarray, threshold) -> tuple:
    """Indices of the pixels whose probability, computed as :func:`~pyulm.nn.cycleulm.mbtnet_infer.predict`
    computes it (float64 sigmoid of the logit, rounded to float32), is ``>= threshold``: the same pixels as
    thresholding the probability map, with the sigmoid evaluated only near and above the threshold (the
    logit bound is lowered by more than the float32 rounding of the probability can move it)."""
    t = float(threshold) - 2.0 ** -20
    mask = logit >= (np.log(t / (1.0 - t)) - 1e-6 if 0 < t < 1 else -np.inf)
    cand = np.divmod(np.flatnonzero(mask), mask.shape[1])  # np.nonzero's indices, in half its time
    p = (1.0 / (1.0 + np.exp(-logit[cand].astype(np.float64)))).astype(np.float32)
    keep = p >= threshold
    return tuple(c[keep] for c in cand)


def e2e_maps(mbonly, *, weights=None, res=4, stride: int = 7, frame_rate=None, pixel_size=None, threshold=None,
             device=None, batch_size: int = 4, precision: str = "fp32") -> dict:
    """Super-resolved density and velocity maps from MB-only frames (CycleULM-E2E), under PALA's names.

    Parameters
    ----------
    mbonly : array_like, shape (Z, X, T)
        MB-only frames (MB-DT's output), T >= 8. Not modified.
    weights : path, optional
        MBT-Net model directory; default the shipped model.
    res : int, optional
        Super-resolution factor; MBT-Net's grid is x4, so only 4 is accepted.
    stride : int, optional
        Frames between windows (default 7: consecutive windows share one frame, so every
        frame-to-frame step of a bubble is counted in exactly one window, except where the
        last window, which ends at frame T-1, overlaps its predecessor).
    frame_rate : float, optional
        Frames per second: velocities per second instead of per frame.
    pixel_size : float or (float, float), optional
        Pixel size (dz, dx) in mm: with ``frame_rate`` the velocity maps are in mm/s;
        also scales ``llz``/``llx`` (mm). Default: pixel units.
    threshold : float or "soft", optional
        A window marks an SR pixel as crossed when its trajectory probability is at least
        this; default the model's own (``config.json`` ``"threshold"``, chosen on validation
        data when it was trained). ``"soft"`` adds the probabilities themselves.
    device, batch_size, precision
        As :func:`pyulm.nn.cycleulm.mbtnet_infer.predict` (``precision``: "fp32" or "bf16").

    Returns
    -------
    dict
        ``MatOut`` (4Z+1, 4X+1): number of windows whose trajectory map crosses each SR
        pixel (PALA's track-count density, one count per window); ``MatOut_vel``: mean speed
        there; ``MatOut_zdir``: that speed signed by the axial velocity (positive: going
        deeper, as PALA's ``2D_vel_z``); ``llz``, ``llx`` (SR axes, mm or pixels);
        ``sizeOut``; ``velocity_unit`` ("mm/s", "pixel/s", "mm/frame" or "pixel/frame");
        ``n_windows``.

    Examples
    --------
    >>> m = e2e_maps(np.zeros((10, 12, 8)))
    >>> m["MatOut"].shape, m["velocity_unit"]
    ((41, 49), 'pixel/frame')
    """
    if isinstance(res, bool) or not isinstance(res, (int, float, np.integer, np.floating)) or res != UPSAMPLE:
        raise ValueError(f"res: MBT-Net's maps are on the x{UPSAMPLE} grid, so e2e_maps takes res={UPSAMPLE}; "
                         f"got {res!r}")
    ps = _pixel_size(pixel_size)
    if frame_rate is not None and (isinstance(frame_rate, bool) or not isinstance(frame_rate, (int, float, np.number))
                                   or not np.isfinite(frame_rate) or frame_rate <= 0):
        raise ValueError(f"frame_rate: expected a positive number of frames per second, got {frame_rate!r}")
    soft = isinstance(threshold, str) and threshold == "soft"
    if threshold is not None and not soft and (isinstance(threshold, bool) or not isinstance(
            threshold, (int, float, np.number)) or not 0 < threshold <= 1):
        raise ValueError(f"threshold: expected a probability in (0, 1], \"soft\" or None (the model's), got {threshold!r}")
    shape_zx = np.shape(mbonly)[:2]
    grid = SuperResolutionGrid(tuple(int(s) for s in shape_zx) if len(shape_zx) == 2 else (1, 1), UPSAMPLE)
    nz, nx = grid.sr_shape
    density, vel, zdir = np.zeros((nz, nx)), np.zeros((nz, nx)), np.zeros((nz, nx))
    scale_t = float(frame_rate) if frame_rate is not None else 1.0
    dz, dx = ps if ps is not None else (1.0, 1.0)
    if threshold is None:
        threshold = load_model(weights, device).threshold
    n = 0
    for _, prob, vz, vx in iter_predict(mbonly, weights, stride=stride, device=device, batch_size=batch_size,
                                        precision=precision, logits=not soft):
        sl = (slice(_OFFSET, None), slice(_OFFSET, None))
        crop = (slice(0, nz - _OFFSET), slice(0, nx - _OFFSET))  # the last x4 pixel falls off PALA's grid
        prob, vz, vx = prob[crop], vz[crop], vx[crop]
        if soft:
            w = prob.astype(np.float64)
            speed = np.hypot(vz * dz, vx * dx) * scale_t
            density[sl] += w
            vel[sl] += w * speed
            zdir[sl] += w * speed * np.sign(vz)
        else:  # weights 0 or 1: the speeds of the crossed pixels alone (the same sums, ~4x less work)
            on = _crossed(prob, threshold)  # prob holds logits here
            vz_on = vz[on]
            speed = np.hypot(vz_on * dz, vx[on] * dx) * scale_t
            density[sl][on] += 1.0
            vel[sl][on] += speed
            zdir[sl][on] += speed * np.sign(vz_on)
        n += 1
    hit = density > 0
    vel[hit] /= density[hit]
    zdir[hit] /= density[hit]
    unit = ("mm" if ps is not None else "pixel") + ("/s" if frame_rate is not None else "/frame")
    return {"MatOut": density, "MatOut_zdir": zdir, "MatOut_vel": vel,
            "llz": np.arange(nz) * grid.scale * dz, "llx": np.arange(nx) * grid.scale * dx,
            "sizeOut": [nz, nx], "velocity_unit": unit, "n_windows": n}
