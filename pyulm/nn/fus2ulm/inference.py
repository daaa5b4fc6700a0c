"""Applying a fUS → ULM model to images (imports torch)."""
from __future__ import annotations

import numpy as np
import torch

from ...sim.doppler import fus_display, resize
from . import model_dir
from .data import check_image


@torch.no_grad()
def predict(model, kind: str, fus: np.ndarray, *, steps: int = 25, stride: int | None = None, seed: int = 0,
            device=None) -> np.ndarray:
    """ULM-like image in [0, 1] from a preprocessed fUS image in [0, 1] (H, W), H and W multiples of 16."""
    dev = next(model.parameters()).device if device is None else torch.device(device)
    x = torch.as_tensor(np.asarray(fus, dtype=np.float32) * 2 - 1)[None, None].to(dev)
    if kind == "pix2pix":
        y = model(x)
    elif kind == "mhvae":
        y = model(x, None, sample=False)[1]
    else:
        from .diffusion import sample

        y = torch.as_tensor(sample(model, x[0, 0].cpu().numpy(), steps=steps, stride=stride, seed=seed, device=dev))
    return ((y.squeeze().double().cpu().numpy() + 1) / 2).clip(0, 1)


def enhance(image, weights=None, *, power_doppler: bool = False, steps: int | None = None,
            stride: int | None = None, seed: int | None = None, device=None) -> np.ndarray:
    """Raise the resolution of a fUS (power Doppler) image towards ULM.

    Parameters
    ----------
    image : array_like (H, W)
        A grayscale fUS image in [0, 1] (``pyulm.sim.doppler.fus_display`` of the power
        Doppler), or raw power Doppler with ``power_doppler=True``. Never modified.
    weights : path, optional
        A fUS → ULM model directory; default the shipped diffusion model
        (``pyulm/nn/weights/fus2ulm_diffusion``).
    power_doppler : bool
        Convert raw power Doppler to the display image first (dB over the model's dynamic range).
    steps, stride, seed
        Diffusion only: DDIM steps, sliding-window spacing (pixels), noise seed; defaults from
        the model's ``config.json`` ``inference`` section.
    device : str, optional
        Default CUDA when available.

    Returns
    -------
    ndarray (size, size) float32 in [0, 1]
        The predicted log-ULM image at the model's input size (``config.json`` ``input.size``:
        the image is resized to it, as the training pairs were).

    Examples
    --------
    >>> from pyulm.sim.doppler import simulate_pair
    >>> from pyulm.nn.fus2ulm import enhance
    >>> pair = simulate_pair(seed=1)                          # doctest: +SKIP
    >>> out = enhance(pair.fus)                               # doctest: +SKIP
    """
    kind, model, cfg = model_dir.load(model_dir.shipped("diffusion") if weights is None else weights, device)
    img = check_image(image, "image")
    size = int(cfg["input"]["size"])
    if power_doppler:
        if img.min() < 0:
            raise ValueError("image: power Doppler must be >= 0 (or pass power_doppler=False for a display image)")
        img = fus_display(img, cfg["input"].get("dynamic_range_db", 40.0))
    elif img.min() < 0 or img.max() > 1:
        raise ValueError(f"image: expected a grayscale fUS image in [0, 1], got values in [{img.min():.3g}, "
                         f"{img.max():.3g}]; pass power_doppler=True for raw power Doppler")
    inf = cfg.get("inference", {})
    out = predict(model, kind, resize(img, size), steps=int(steps if steps is not None else inf.get("steps", 25)),
                  stride=stride if stride is not None else inf.get("stride"),
                  seed=int(seed if seed is not None else inf.get("seed", 0)), device=device)
    return out.astype(np.float32)
