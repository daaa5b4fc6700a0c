"""Deep-stULM as a tracker: sliding windows over space and time (imports torch).

The acquisition is cut into temporal windows of the network's ``n_frames``
(start every ``time_stride`` frames, the last one aligned with the end), and
each into spatial windows of ``size`` pixels (start every ``stride`` pixels,
the last one aligned with the field's edge). Each window's output keeps only
its centre: ``crop`` input pixels are dropped on every side that is not the
field's edge (the network sees less context there). Overlapping kept parts are
combined (mean or max of the probabilities), thresholded into one binary track
map per temporal window, and the angiogram is the sum of these maps
(the paper's Eq. 10).
"""
from __future__ import annotations

import numpy as np

from ... import _validate as V
from .data import correlation_maps, normalize_window, psf_template
from .modeldir import load_model_dir


def window_starts(n: int, w: int, step: int) -> list[int]:
    """Starts of windows of ``w`` covering ``range(n)`` every ``step``, the last aligned with the end.

    >>> window_starts(64, 32, 16), window_starts(70, 32, 16)
    ([0, 16, 32], [0, 16, 32, 38])
    """
    starts = list(range(0, n - w + 1, step))
    if starts[-1] != n - w:
        starts.append(n - w)
    return starts


def _check_frames(frames):
    arr = np.asarray(frames)
    if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"frames: expected a numeric (z, x, t) array of IQ, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(f"frames: expected a (z, x, t) block of IQ frames, got {arr.ndim} dimension(s) {arr.shape}")
    if not np.iscomplexobj(arr):
        raise ValueError(f"frames: expected complex IQ (the network reads the real and imaginary parts of the "
                         f"correlation maps), got {arr.dtype}; pass the filtered IQ, not its amplitude")
    if not np.all(np.isfinite(arr)):
        raise ValueError("frames: contains NaN or Inf; expected finite IQ values")
    return arr


def _int_in(value, name, lo, hi, what):
    # whole-valued floats and 1-element arrays pass (MATLAB sends doubles)
    try:
        v = V.positive(value, name, integer=True, allow_zero=True)
    except ValueError:
        v = None
    if v is None or not lo <= v <= hi:
        raise ValueError(f"{name}: expected a whole number in [{lo}, {hi}] ({what}), got {value!r}")
    return v


def run_track_maps(frames, psf=None, *, weights=None, r=None, time_stride=None, stride=None, crop=None,
                   threshold=None, combine="mean", batch_size=16, device=None, return_blocks=False):
    """The implementation of :func:`pyulm.nn.deepstulm.track_maps` (documented there)."""
    import torch

    arr = _check_frames(frames)
    model, cfg = load_model_dir(weights, device)
    mc = cfg["model"]
    S, Nt, R = mc.size, mc.n_frames, mc.r
    src = getattr(model, "source", "the shipped weights")
    if r is not None and _int_in(r, "r", 1, 1 << 10, "refinement factor") != R:
        raise ValueError(f"r: the weights {src} produce maps {R} times finer than the frames, not {r!r}; pass r={R} "
                         f"or weights trained for r={r}")
    nz, nx, nt = arr.shape
    if nt < Nt:
        raise ValueError(f"frames: the block has {nt} frames, fewer than the network's temporal window of {Nt} frames "
                         f"({src}); pass at least {Nt} frames")
    if nz < S or nx < S:
        raise ValueError(f"frames: the frames are {nz} x {nx} pixels, smaller than one {S} x {S} window of the "
                         f"network ({src})")
    crop = _int_in(S // 4 if crop is None else crop, "crop", 0, (S - 1) // 2, "input pixels dropped per window side")
    stride = _int_in(S - 2 * crop if stride is None else stride, "stride", 1, S - 2 * crop,
                     "pixels between windows, at most size - 2 crop so that the kept centres tile the field")
    time_stride = _int_in(Nt if time_stride is None else time_stride, "time_stride", 1, Nt,
                          "frames between temporal windows, at most the window so that no frame is skipped")
    thr = cfg["threshold"] if threshold is None else V.positive(threshold, "threshold")
    if not 0 < thr < 1:
        raise ValueError(f"threshold: expected a probability in (0, 1), got {threshold!r}")
    if combine not in ("mean", "max"):
        raise ValueError(f"combine: expected 'mean' or 'max', got {combine!r}")
    batch_size = _int_in(batch_size, "batch_size", 1, 1 << 16, "windows per forward pass")
    template = psf_template(cfg["data"].psf() if psf is None else psf)
    if template.shape[0] > nz or template.shape[1] > nx:
        raise ValueError(f"psf: the template {template.shape} is larger than the frames ({nz}, {nx})")

    zs, xs = window_starts(nz, S, stride), window_starts(nx, S, stride)
    cells = [(z0, x0) for z0 in zs for x0 in xs]
    keep = [((0 if z0 == 0 else crop), (S if z0 + S == nz else S - crop),
             (0 if x0 == 0 else crop), (S if x0 + S == nx else S - crop)) for z0, x0 in cells]
    dev = next(model.parameters()).device
    ts = window_starts(nt, Nt, time_stride)
    angio = np.zeros((R * nz, R * nx))
    blocks = np.zeros((len(ts), R * nz, R * nx), bool) if return_blocks else None
    for b, t0 in enumerate(ts):
        chi = correlation_maps(arr[:, :, t0:t0 + Nt], template)
        x = np.stack([normalize_window(chi[z0:z0 + S, x0:x0 + S]) for z0, x0 in cells])
        with torch.no_grad():
            prob = np.concatenate([torch.sigmoid(model(torch.from_numpy(x[i:i + batch_size]).to(dev))).cpu().numpy()
                                   for i in range(0, len(x), batch_size)])
        acc = np.zeros((R * nz, R * nx))
        n = np.zeros((R * nz, R * nx))
        for (z0, x0), (a, bz, c, bx), p in zip(cells, keep, prob):
            dst = (slice(R * (z0 + a), R * (z0 + bz)), slice(R * (x0 + c), R * (x0 + bx)))
            part = p[R * a:R * bz, R * c:R * bx]
            if combine == "mean":
                acc[dst] += part
                n[dst] += 1
            else:
                np.maximum(acc[dst], part, out=acc[dst])
        tracks = (acc / np.maximum(n, 1) if combine == "mean" else acc) > thr
        angio += tracks
        if return_blocks:
            blocks[b] = tracks
    if return_blocks:
        return angio, blocks, np.asarray(ts)
    return angio


def to_pala_grid(angio, r: int, res: float) -> np.ndarray:
    """An ``r``-times-finer track map resampled (nearest) on PALA's ``MatOut`` grid at ``res``.

    PALA's SR pixel ``i`` (1-based) is centred on the 0-based input position
    ``i / res - 1``; it takes the value of the track-map pixel containing that
    position (``floor((p + 0.5) r)``), 0 outside. Shape ``res * (nz, nx) + 1``.

    >>> to_pala_grid(np.arange(16.0).reshape(4, 4), 2, 2).shape
    (5, 5)
    """
    from ...render import SuperResolutionGrid

    angio = np.asarray(angio)
    nz, nx = angio.shape[0] // r, angio.shape[1] // r
    grid = SuperResolutionGrid((nz, nx), res)
    mz, mx = grid.sr_shape
    pz = np.arange(1, mz + 1) / grid.res - 1
    px = np.arange(1, mx + 1) / grid.res - 1
    iz = np.floor((pz + 0.5) * r).astype(np.int64)
    ix = np.floor((px + 0.5) * r).astype(np.int64)
    okz = (iz >= 0) & (iz < angio.shape[0])
    okx = (ix >= 0) & (ix < angio.shape[1])
    out = np.zeros((mz, mx), angio.dtype)
    out[np.ix_(okz, okx)] = angio[np.ix_(iz[okz], ix[okx])]
    return out
