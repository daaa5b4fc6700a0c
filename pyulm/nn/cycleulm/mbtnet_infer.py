"""MBT-Net inference: model directories and sliding 8-frame windows over whole frames.

A model directory (docs/nn.md's layout): ``weights.pt`` (state dict, loaded with
``torch.load(weights_only=True)``), ``config.json`` (``"architecture": "mbtnet"``, the
network sizes, the input normalisation and the training PSF range), ``SHA256SUMS`` over
every file (checked first), ``train.toml``, ``metrics.json``, ``README.md``. The shipped
model is ``pyulm/nn/weights/mbtnet``.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from ..weights_io import (CONFIG_FILE, FORMAT, FORMAT_VERSION, SUMS_FILE, WEIGHTS_FILE, file_stamps, load_state,
                          load_strict, read_config_json, remember, resolve, verify_checksums, write_checksums)
from .mbtnet_data import UPSAMPLE

ARCHITECTURE = "mbtnet"
NORMALIZATION = "frame_max"  # each frame divided by its maximum (mbtnet_data.normalise_frames)
_cache: dict = {}


def write_model_dir(directory, model, data_cfg, threshold: float = 0.5, extra_files: dict | None = None) -> Path:
    """Write an MBT-Net model directory (weights, config, extra text files, then ``SHA256SUMS``).

    ``threshold``: the trajectory probability from which a pixel counts as crossed (chosen
    on validation data by the trainer; :func:`pyulm.nn.cycleulm.e2e.e2e_maps`' default)."""
    import torch

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, d / WEIGHTS_FILE)
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": ARCHITECTURE,
           "model": asdict(model.cfg), "normalization": NORMALIZATION, "upsample": UPSAMPLE,
           "velocity_unit": "input pixels per frame", "threshold": float(threshold), "trained_on": {"fwhm_px": list(data_cfg.fwhm),
                                                                     "speed_px_per_frame": list(data_cfg.speed)}}
    (d / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    for name, text in (extra_files or {}).items():
        (d / name).write_text(text)
    write_checksums(d)
    return d


def load_model(weights=None, device=None):
    """The eval-mode MBT-Net of a model directory (default: the shipped one), checksums verified.

    Raises ``FileNotFoundError`` for a missing directory or file and ``ValueError`` for a
    corrupt, modified, foreign (other architecture) or broken (NaN) model, naming the file.
    """
    import torch

    from .mbtnet_model import MBTNetConfig, MBTNet

    wf, cf = resolve(ARCHITECTURE, weights)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    key = (str(wf.resolve()), file_stamps(wf, cf, wf.parent / SUMS_FILE), str(dev))
    if key in _cache:
        return _cache[key]
    verify_checksums(wf.parent, ARCHITECTURE)
    cfg = read_config_json(cf, ARCHITECTURE)
    if cfg.get("architecture") != ARCHITECTURE:
        raise ValueError(f"{ARCHITECTURE}: {cf} describes a {cfg.get('architecture')!r} model, not an MBT-Net "
                         f"(pass an MBT-Net model directory, e.g. one written by `pyulm train mbtnet`)")
    if cfg.get("normalization") != NORMALIZATION or cfg.get("upsample") != UPSAMPLE:
        raise ValueError(f"{ARCHITECTURE}: {cf}: expected normalization {NORMALIZATION!r} and upsample {UPSAMPLE}")
    thr = cfg.get("threshold", 0.5)
    if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not 0 < thr <= 1:
        raise ValueError(f"{ARCHITECTURE}: {cf}: threshold must be a probability in (0, 1], got {thr!r}")
    try:
        net = MBTNet(MBTNetConfig.from_dict(cfg.get("model")))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{ARCHITECTURE}: {cf}: invalid model sizes: {exc}") from None
    load_strict(net, load_state(wf, ARCHITECTURE), f"{ARCHITECTURE}: weights {wf} do not fit the network of {cf}")
    net.eval().to(dev)
    net.source = str(wf)
    net.threshold = float(thr)
    return remember(_cache, key, net)


def check_frames(mbonly, frames: int = 8, name: str = "mbonly") -> np.ndarray:
    """``mbonly`` as a float (Z, X, T) array with at least ``frames`` frames, all finite (not copied if it need not be)."""
    a = np.asarray(mbonly)
    if a.ndim != 3:
        raise ValueError(f"{name}: expected MB-only frames of shape (Z, X, T), got {a.ndim} dimension(s) {a.shape}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name}: expected real numbers, got dtype {a.dtype}")
    if a.shape[2] < frames:
        raise ValueError(f"{name}: MBT-Net needs at least {frames} consecutive frames, got {a.shape[2]} "
                         f"(shape {a.shape})")
    if min(a.shape[:2]) < 1:
        raise ValueError(f"{name}: empty frames of shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name}: contains NaN or Inf")
    return a


def _normalised(frames: np.ndarray, dtype) -> np.ndarray:
    """``frames`` (z, x, t) each clipped at 0 and divided by its maximum (frames without signal stay 0),
    computed in ``dtype``; float32 (:func:`pyulm.nn.cycleulm.mbtnet_data.normalise_frames` per frame)."""
    f = np.clip(frames, 0.0, None, dtype=dtype)
    m = f.max(axis=(0, 1))
    f /= np.where(m > 0, m, 1.0).astype(dtype)
    return f.astype(np.float32, copy=False)


def window_starts(n_frames: int, frames: int, stride: int) -> np.ndarray:
    """First frame of every window: 0, stride, ... plus a last one ending at the last frame (all frames covered)."""
    starts = list(range(0, n_frames - frames + 1, stride))
    if starts[-1] != n_frames - frames:
        starts.append(n_frames - frames)
    return np.asarray(starts, dtype=np.int64)


def iter_predict(mbonly, weights=None, *, stride: int = 7, device=None, batch_size: int = 4, precision: str = "fp32",
                 logits: bool = False):
    """Yield ``(start, trajectory, vz, vx)`` per window, in window order (see :func:`predict`).

    ``logits=True`` yields the trajectory logit (float32, as the network gives it) instead of the
    probability: callers that only threshold it skip the sigmoid over every x4 pixel
    (:func:`pyulm.nn.cycleulm.e2e.e2e_maps`)."""
    import torch

    from .precision import as_input, check_precision, inference_net

    check_precision(precision, "mbtnet: ")
    net = load_model(weights, device)
    T = net.cfg.frames
    a = check_frames(mbonly, T)
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride: expected a whole number >= 1, got {stride!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
    Z, X, _ = a.shape
    pz, px = -Z % 4, -X % 4  # two 2x2 poolings: pad with zeros (no signal), crop the output
    starts = window_starts(a.shape[2], T, int(stride))
    dev = next(net.parameters()).device
    run = inference_net(net, precision)
    # float32 frames are normalised in float32: the same values as through float64 (a quotient of two
    # float32 numbers rounded to float64 and then to float32 is the correctly rounded float32 quotient)
    work = np.float32 if a.dtype == np.float32 else np.float64
    from . import layout_numba

    fast_input = precision == "bf16" and a.dtype == np.float32 and layout_numba.AVAILABLE
    for b0 in range(0, starts.size, batch_size):
        sb = starts[b0:b0 + batch_size]
        # every frame of the batch normalised once (windows share frames; per frame, so the same values),
        # in (z, x, t) order: a window's frames are then the channels-last memory of its network input
        f0 = int(sb[0])
        if fast_input:  # the same values in one compiled pass (normalised, copied, rounded to bfloat16)
            xt = layout_numba.windows_bf16(a[:, :, f0:int(sb[-1]) + T], sb - f0, T, (Z + pz, X + px)).to(dev)
        else:
            fr = _normalised(a[:, :, f0:int(sb[-1]) + T], work)
            x = np.zeros((sb.size, Z + pz, X + px, T), np.float32)
            for i, s in enumerate(sb - f0):
                x[i, :Z, :X] = fr[:, :, s:s + T]
            xt = torch.as_tensor(x, device=dev).permute(0, 3, 1, 2)  # (n, T, z, x), channels-last memory
        with torch.no_grad():
            out = run(as_input(xt if precision != "fp32" else xt.contiguous(), precision)).float().cpu().numpy()
        out = out[:, :, :UPSAMPLE * Z, :UPSAMPLE * X]
        traj = out[:, 0] if logits else (1.0 / (1.0 + np.exp(-out[:, 0].astype(np.float64)))).astype(np.float32)
        for i, s in enumerate(sb):
            yield int(s), traj[i], out[i, 1], out[i, 2]


def predict(mbonly, weights=None, *, stride: int = 7, device=None, batch_size: int = 4, precision: str = "fp32") -> dict:
    """MBT-Net's trajectory probability and velocity maps over sliding 8-frame windows.

    Parameters
    ----------
    mbonly : array_like, shape (Z, X, T)
        MB-only frames (MB-DT's output, or any frames of Gaussian-like bubbles on a dark
        background), T >= 8; any size (padded internally). Each frame is divided by its
        maximum, as in training. Not modified.
    weights : path, optional
        MBT-Net model directory; default the shipped model.
    stride : int, optional
        Frames between window starts. The default 7 makes consecutive windows share one
        frame, so every frame pair (t, t+1) lies in exactly one window (a last window
        ending at frame T-1 is added when T - 8 is not a multiple of ``stride``).
    device : str, optional
        Torch device; default CUDA when available, else CPU.
    batch_size : int, optional
        Windows per network call (memory: about 10 MB per window of 128 x 128 pixels).
    precision : {"fp32", "bf16"}, optional
        Arithmetic of the network (:mod:`pyulm.nn.cycleulm.precision`): float32 (the
        reference) or a bfloat16 channels-last copy (~1.8x faster on one thread with AMX).

    Returns
    -------
    dict
        ``start`` (n,) first frame of each window; ``trajectory`` (n, 4Z, 4X) probability
        of a bubble path through each x4 pixel; ``vz``, ``vx`` (n, 4Z, 4X) velocity in
        **input pixels per frame**. x4 pixel ``j`` is centred on input position
        ``(j - 1) / 4`` (PALA's SR pixel ``j + 2`` at res 4). float32.

    Examples
    --------
    >>> out = predict(np.zeros((12, 10, 8)))
    >>> out["trajectory"].shape, out["start"].tolist()
    ((1, 48, 40), [0])
    """
    parts = list(iter_predict(mbonly, weights, stride=stride, device=device, batch_size=batch_size,
                              precision=precision))
    return {"start": np.array([p[0] for p in parts], dtype=np.int64),
            **{k: np.stack([p[i] for p in parts]) for i, k in ((1, "trajectory"), (2, "vz"), (3, "vx"))}}


#: The package-level name (``pyulm.nn.cycleulm.mbtnet_predict``): ``predict`` alone is too generic there.
mbtnet_predict = predict
