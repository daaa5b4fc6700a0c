"""Running trained networks on frames: normalisation, batching, decoding.

Input normalisation (both networks): the network sees ``|IQ|`` of each frame
divided by that frame's maximum ``|IQ|`` (so values lie in [0, 1] whatever the
scanner's gain); intensities are multiplied back by the maximum on output.

Arithmetic (``precision``, see :func:`pyulm.nn.options.check_precision`):
``"fp32"`` runs the networks in float32; ``"bf16"`` runs their forward pass
under ``torch.autocast`` in bfloat16 (AMX / AVX-512 BF16 on CPU, tensor cores
on CUDA) and hands float32 maps to the decoder, so decoding is unchanged.
Either is deterministic: the same frames give the same localizations.
"""
from __future__ import annotations

import contextlib

import numpy as np
import torch

from ..tables import Localizations
from .decode import decode_3dml, decode_mblnet
from .options import check_precision
from .weights_io import load_model

#: Smallest frame (z and x, pixels) the networks accept.
MIN_SIZE = 8


def normalize_frames(frames: np.ndarray, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, x, t) IQ or amplitude -> ((t, 1, z, x) float32 |IQ| / per-frame max, scale (t,))."""
    amp = torch.from_numpy(np.ascontiguousarray(np.abs(frames).astype(np.float32, copy=False).transpose(2, 0, 1)))
    amp = amp.to(device)
    scale = amp.flatten(1).amax(1)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    return (amp / scale[:, None, None]).unsqueeze(1), scale


def _check(frames, model, name):
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or not (np.issubdtype(arr.dtype, np.number)):
        raise ValueError(f"{name}: frames: expected a numeric (z, x, t) array, got shape {arr.shape} dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name}: frames: {bad} value(s) are NaN or Inf; the network needs finite input")
    if arr.shape[0] < MIN_SIZE or arr.shape[1] < MIN_SIZE:
        raise ValueError(f"{name}: frames too small: (z, x) = {arr.shape[:2]}; the model {model.source} needs at "
                         f"least {MIN_SIZE} x {MIN_SIZE} pixels")
    if arr.shape[2] == 0:
        raise ValueError(f"{name}: frames: no frames (shape {arr.shape})")
    return arr


def _device_of(model):
    return next(model.parameters()).device


def autocast(precision: str, device) -> contextlib.AbstractContextManager:
    """The context in which a network's forward pass runs at ``precision``
    (``"fp32"``: none; ``"bf16"``: bfloat16 autocast on ``device``'s type)."""
    if check_precision(precision) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def _decode_options(model, given: dict) -> dict:
    """The model's decode settings (its config.json, defaults filled in),
    overridden by the options given explicitly (not None)."""
    return {k: (given[k] if given.get(k) is not None else v) for k, v in model.decode.items()}


def run_mblnet(frames, *, weights=None, threshold: float | None = None, max_sigma=None, subpixel: str | None = None,
               max_per_frame: int | None = None, batch_size: int = 32, device=None,
               precision: str = "fp32") -> Localizations:
    """Localize with MBL-Net. See :func:`pyulm.nn.mblnet` for the parameters
    (None: the model's ``config.json`` ``decode`` value)."""
    precision = check_precision(precision, "mblnet: ")
    model = load_model("mblnet", weights, device)
    arr = _check(frames, model, "mblnet")
    opts = _decode_options(model, {"threshold": threshold, "max_sigma": max_sigma, "subpixel": subpixel})
    parts = [decode_mblnet(out, scale, threshold=float(opts["threshold"]), max_sigma=opts["max_sigma"],
                           subpixel=opts["subpixel"], max_per_frame=max_per_frame, frame_offset=t0)
             for out, scale, t0 in mblnet_outputs(model, arr, batch_size, precision)]
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    extra = {k: cols[k].astype(float) for k in ("probability", "sigma_z", "sigma_x", "sigma_intensity")}
    return Localizations(cols["z"], cols["x"], cols["frame"], cols["intensity"], extra=extra)


def mblnet_outputs(model, arr: np.ndarray, batch_size: int = 32, precision: str = "fp32"):
    """Run a loaded MBL-Net over checked frames ``arr`` (z, x, t) in batches at
    ``precision``; yields ``(maps (n, 7, H, W) float32, scales (n,), first frame index)``."""
    dev = _device_of(model)
    with torch.inference_mode():
        for t0 in range(0, arr.shape[2], batch_size):
            x, scale = normalize_frames(arr[:, :, t0:t0 + batch_size], dev)
            with autocast(precision, dev):
                out = model(x)
            yield out.float(), scale, t0


def run_3dml(frames, *, weights=None, min_probability=None, subpixel: str | None = None,
             max_per_frame: int | None = None, batch_size: int = 4, device=None,
             precision: str = "fp32") -> Localizations:
    """Localize with 3DML-ResNet + its count network. See :func:`pyulm.nn.dml3`
    (None: the model's ``config.json`` ``decode`` value)."""
    precision = check_precision(precision, "3dml: ")
    model = load_model("3dml", weights, device)
    arr = _check(frames, model, "3dml")
    opts = _decode_options(model, {"min_probability": min_probability, "subpixel": subpixel})
    parts = []
    x_all, scale = None, None
    for fm, counts, frames_kept, (x_all, scale) in dml3_outputs(model, arr, batch_size, precision):
        cols = decode_3dml(fm, counts, max_per_frame=max_per_frame, **opts)
        cols["frame"] = frames_kept[cols["frame"]]
        parts.append(cols)
    if not parts:
        return Localizations(extra={"probability": []})
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    inten = (x_all[torch.as_tensor(cols["frame"]), 0, torch.as_tensor(cols["iz"]), torch.as_tensor(cols["ix"])]
             * scale[torch.as_tensor(cols["frame"])]).cpu().numpy() if cols["frame"].size else np.zeros(0)
    order = np.lexsort((-cols["probability"], cols["frame"]))
    return Localizations(cols["z"][order], cols["x"][order], cols["frame"][order], inten[order].astype(float),
                         extra={"probability": cols["probability"][order].astype(float)})


def dml3_outputs(model, arr: np.ndarray, batch_size: int = 4, precision: str = "fp32"):
    """Run a loaded 3DML model over checked frames ``arr`` (z, x, t) clip by clip at ``precision``;
    yields, for each clip, ``(maps (k, 3, H, W), counts (k,), frames (k,) int64,
    (normalised frames, scales))`` for the ``k`` frames read from that clip."""
    dev = _device_of(model)
    T = model.config.clip
    nt = arr.shape[2]
    x_all, scale = normalize_frames(arr, dev)  # (nt, 1, H, W)
    # Clips of T frames; consecutive clips overlap by 2*m frames and each frame is
    # read from the clip where it sits furthest from the clip's ends.
    m = 1 if T >= 3 else 0
    stride = T - 2 * m
    starts = list(range(0, max(nt - T, 0) + 1, stride))
    if starts[-1] + T < nt:
        starts.append(nt - T)
    owner = _owners(starts, T, nt)
    with torch.inference_mode():
        for b0 in range(0, len(starts), batch_size):
            batch_starts = starts[b0:b0 + batch_size]
            idx = torch.tensor([[min(max(s + k, 0), nt - 1) for k in range(T)] for s in batch_starts], device=dev)
            clips = x_all[idx.flatten()].reshape(len(batch_starts), T, 1, *x_all.shape[-2:]).permute(0, 2, 1, 3, 4)
            with autocast(precision, dev):
                maps = model.net(clips).float()
            kept = [[k for k in range(T) if s + k < nt and owner[s + k] == s] for s in batch_starts]
            # the count network is per frame: run it once on each frame kept, not on every frame of every clip
            t_kept = [s + k for s, ks in zip(batch_starts, kept) for k in ks]
            with autocast(precision, dev):
                counts = model.count(x_all[torch.tensor(t_kept, device=dev)]).float() if t_kept else None
            c0 = 0
            for j, s in enumerate(batch_starts):
                if not kept[j]:
                    continue
                ks = torch.tensor(kept[j], device=dev)
                yield (maps[j][:, ks].permute(1, 0, 2, 3), counts[c0:c0 + len(kept[j])],
                       np.asarray(kept[j], np.int64) + s, (x_all, scale))
                c0 += len(kept[j])


def _owners(starts, T: int, nt: int) -> np.ndarray:
    """For each frame, the start of the clip whose output is used: the clip in
    which the frame sits furthest from a clip end that has a neighbour clip
    (the first and last clips' outer ends count as far); first clip on ties."""
    owner = np.full(nt, -1)
    best = np.full(nt, -1)
    for s in starts:
        for k in range(T):
            t = s + k
            if t >= nt:
                break
            d = min(k if s > 0 else T, T - 1 - k if s + T < nt else T)
            if d > best[t]:
                best[t], owner[t] = d, s
    return owner
