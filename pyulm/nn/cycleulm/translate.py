"""MB-DT inference: translate whole CEUS frames into the MB-only domain (imports torch on use)."""
from __future__ import annotations

import warnings

import numpy as np

from .mbdt_model import MULTIPLE

__all__ = ["translate"]

#: relative difference between the input's PSF width and the trained one above which translate warns
PSF_TOLERANCE = 0.5


def _check_frames(frames) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"frames: expected a numeric (z, x, t) array of IQ or amplitude, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(f"frames: expected a (z, x, t) array with 3 axes, got shape {arr.shape}")
    if arr.shape[2] < 3:
        raise ValueError(f"frames: MB-DT reads 3 consecutive frames; got {arr.shape[2]} frame(s), need t >= 3")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"frames: empty frames (shape {arr.shape})")
    if not np.all(np.isfinite(arr)):
        raise ValueError("frames: contains NaN or Inf; expected finite values")
    return arr


_translators: dict = {}  # (directory, its files' mtime and size, device) -> (network, config)


def _load(weights, device):
    """:func:`~pyulm.nn.cycleulm.mbdt_dir.load_translator`, kept while the directory's files are unchanged
    (translate runs block after block with one translator: one load, one bf16 copy; ~25 ms a call)."""
    from pathlib import Path

    from ..weights_io import CONFIG_FILE, SUMS_FILE, WEIGHTS_FILE, file_stamps, remember
    from .mbdt_dir import load_translator

    d = Path(weights).expanduser()
    key = (str(d.resolve()), file_stamps(d / WEIGHTS_FILE, d / CONFIG_FILE, d / SUMS_FILE), str(device))
    if key in _translators:
        return _translators[key]
    return remember(_translators, key, load_translator(weights, device))  # verifies the checksums


def _psf_check(amp: np.ndarray, trained, where) -> None:
    """Warn once when the input's PSF (fitted to isolated bubbles) is > 50 % off the trained one."""
    from .mbdt_domain import estimate_data_psf

    try:
        est = estimate_data_psf(amp, max_frames=50)["fwhm"]
    except ValueError:  # no isolated bubble (tiny or empty input): nothing to compare
        return
    rel = [abs(e - t) / t for e, t in zip(est, trained)]
    if max(rel) > PSF_TOLERANCE:
        warnings.warn(f"translate: the input's PSF FWHM (z, x) {[round(e, 2) for e in est]} px differs by "
                      f"{100 * max(rel):.0f} % from the {[round(t, 2) for t in trained]} px the translator in {where} "
                      f"was trained for; retrain MB-DT on this data (pyulm train mbdt)", stacklevel=3)


def _contexts_bf16(amp: np.ndarray, context: int):
    """A function ``t0, t1 -> `` the bfloat16 channels-last (t1 - t0, context, z, x) network input of frames
    ``t0 .. t1 - 1`` (:func:`~pyulm.nn.cycleulm.mbdt_domain.context_stack`'s, rounded to bfloat16).

    The frames are rounded to bfloat16 once, with ``context // 2`` edge frames repeated at each end; each
    batch is then one copy of overlapping views (frame t's context is frames t .. t + context - 1 of the
    padded block, contiguous along t): the same values as gathering in float32 and rounding, in one pass
    of half the bytes instead of a gather, a transposing copy and the rounding (~0.05 ms a frame)."""
    import torch

    k = context // 2
    nz, nx, nt = amp.shape
    padded = torch.empty((nz, nx, nt + 2 * k), dtype=torch.bfloat16)
    padded[:, :, k:k + nt] = torch.from_numpy(amp)
    padded[:, :, :k] = padded[:, :, k:k + 1]
    padded[:, :, k + nt:] = padded[:, :, k + nt - 1:k + nt]
    windows = padded.unfold(2, context, 1)  # (z, x, t, context), frame t's context
    return lambda t0, t1: windows[:, :, t0:t1].permute(2, 0, 1, 3).contiguous().permute(0, 3, 1, 2)


def translate(frames, weights, *, batch_size: int = 16, device=None, check_psf: bool = True,
              precision: str = "fp32") -> np.ndarray:
    """Translate CEUS frames into MB-only frames with a trained MB-DT (CycleULM's G_AB).

    Frame ``t`` is translated from frames ``(t-1, t, t+1)``, each ``|frame|`` divided by
    its own maximum; the first and last frames repeat themselves as the missing
    neighbour (edge rule "replicate"). The network is fully convolutional: frames of
    any size are padded (edge values) to a multiple of 4 and cropped back.

    Parameters
    ----------
    frames : array_like (z, x, t)
        SVD-filtered complex IQ or amplitude, ``t >= 3``, finite; never modified.
    weights : path
        An MB-DT model directory (``pyulm train mbdt``); its checksums are verified first.
    batch_size : int
        Frames per forward pass.
    device : str or torch.device, optional
        Default: CUDA when available, else CPU.
    check_psf : bool
        Estimate the input's PSF and warn when its FWHM differs from the trained one by > 50 %.
    precision : {"fp32", "bf16"}
        Arithmetic of the network (:mod:`pyulm.nn.cycleulm.precision`): float32 (the reference),
        or a bfloat16 channels-last copy, ~3x faster on one thread of a CPU with AMX / AVX-512
        BF16 (outputs within ~0.01 of fp32's on a [0, 1] scale; docs/cycleulm.md measures what
        that changes downstream). Anything else is a ValueError.

    Returns
    -------
    ndarray (z, x, t) float32
        MB-only frames in [0, 1]: bubbles as Gaussians of the translator's MB-only PSF
        (half the data's FWHM), background near 0. Deterministic.

    Raises
    ------
    ValueError
        Missing, corrupt or foreign model directory (naming the file), wrong ``frames``
        (not 3-D, fewer than 3 frames, NaN/Inf), bad ``batch_size`` or ``precision``.

    Examples
    --------
    >>> import pyulm.nn                                                     # doctest: +SKIP
    >>> mb = pyulm.nn.translate(iq_filtered, weights="runs/mbdt_medium")  # doctest: +SKIP
    >>> locs = pyulm.localize(mb, method="ncc", fwhm=2)                      # doctest: +SKIP
    """
    import torch

    from .mbdt_domain import context_stack, normalize_frames
    from .precision import as_input, check_precision, inference_net

    if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size: expected a whole number >= 1, got {batch_size!r}")
    check_precision(precision, "translate: ")
    if weights is None:
        raise ValueError("weights: give the MB-DT model directory (pyulm train mbdt ... --out DIR)")
    net, cfg = _load(weights, device)
    arr = _check_frames(frames)
    amp = normalize_frames(arr)  # a new array: the input is untouched
    if check_psf:
        _psf_check(amp, cfg["psf"]["data_fwhm"], weights)
    nz, nx, nt = amp.shape
    pz, px = -nz % MULTIPLE, -nx % MULTIPLE
    if pz or px:
        amp = np.pad(amp, ((0, pz), (0, px), (0, 0)), mode="edge")
    context = int(cfg["model"].get("context", 3))
    dev = next(net.parameters()).device
    run = inference_net(net, precision)
    out = np.empty((nz, nx, nt), np.float32)
    with torch.inference_mode():
        batch = _contexts_bf16(amp, context) if precision == "bf16" else None
        for t0 in range(0, nt, int(batch_size)):
            t = np.arange(t0, min(nt, t0 + int(batch_size)))
            if batch is None:
                x = torch.as_tensor(context_stack(amp, t, context), device=dev)
            else:  # bf16: the contexts copied straight into channels-last memory
                x = batch(int(t[0]), int(t[-1]) + 1).to(dev)
            x = as_input(x, precision)
            y = run(x)[:, 0, :nz, :nx].float().cpu().numpy()
            out[:, :, t] = np.moveaxis(y, 0, 2)
    return out
