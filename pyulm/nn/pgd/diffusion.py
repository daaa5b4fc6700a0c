"""PgD's diffusion: DDPM training loss and a DDIM sampler over whole images (imports torch).

The schedule is the cosine schedule of the fUS -> ULM model
(:func:`pyulm.nn.fus2ulm.diffusion.cosine_alphas`); the network predicts the clean image
(x0 parametrisation, as there: with few sampling steps the errors stay smooth instead of
leaving residual noise). Sampling is deterministic DDIM (eta = 0): the initial noise of
all images is drawn up front from ``seed`` on the CPU, so the output depends on the seed
only, not on the batch size or the device (up to floating-point rounding).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from ..fus2ulm.diffusion import cosine_alphas

__all__ = ["cosine_alphas", "diffusion_loss", "ddim_sample", "timesteps_for"]

#: Clean-image estimates are clipped to this |value| while sampling (a unit bubble peaks at 1;
#: overlapping bubbles add up to a few).
X0_CLIP = 4.0


def diffusion_loss(model, images, maps, cond, t, noise, abar) -> torch.Tensor:
    """Mean squared error of the predicted clean images at diffusion times ``t``.

    ``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise``; the model sees ``x_t``, the bubble
    maps, ``t`` and the physics vectors ``cond``.
    """
    a = abar[t][:, None, None, None]
    x_t = a.sqrt() * images + (1 - a).sqrt() * noise
    return F.mse_loss(model(x_t, maps, t, cond), images)


def timesteps_for(steps: int, timesteps: int) -> np.ndarray:
    """The ``steps`` diffusion times (descending) a DDIM run visits over a schedule of ``timesteps``."""
    steps = int(steps)
    if steps < 1:
        raise ValueError(f"steps: expected >= 1 DDIM steps, got {steps}")
    return np.unique(np.linspace(timesteps - 1, 0, min(steps, timesteps)).round().astype(int))[::-1]


@torch.no_grad()
def ddim_sample(model, maps: np.ndarray, cond: np.ndarray, *, steps: int = 20, seed: int = 0, device=None,
                batch_size: int = 64) -> np.ndarray:
    """Clean images (n, 2, H, W) float32 for bubble maps (n, 3, H, W) and physics vectors (n, F).

    Parameters
    ----------
    model : PgDUNet
    maps, cond : ndarray
        Bubble maps and normalised physics vectors, one per image.
    steps : int
        DDIM steps spread evenly over the training schedule.
    seed : int
        Seeds the initial noise: same seed, same images.
    device : str or torch.device, optional
        Default: the model's device.
    batch_size : int
        Images per network call.
    """
    n = maps.shape[0]
    if cond.shape[0] != n:
        raise ValueError(f"cond: expected one physics vector per map ({n}), got {cond.shape[0]}")
    batch_size = int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size: expected >= 1, got {batch_size}")
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    T = model.cfg.timesteps
    abar = cosine_alphas(T).double()
    ts = timesteps_for(steps, T)
    g = torch.Generator().manual_seed(int(seed))
    noise = torch.randn((n, model.cfg.image_channels) + tuple(maps.shape[2:]), generator=g)
    out = np.empty(noise.shape, np.float32)
    for b0 in range(0, n, batch_size):
        sl = slice(b0, min(n, b0 + batch_size))
        x = noise[sl].to(dev, torch.float32)
        m = torch.as_tensor(maps[sl], dtype=torch.float32, device=dev)
        c = torch.as_tensor(cond[sl], dtype=torch.float32, device=dev)
        x0 = x
        for i, t in enumerate(ts):
            a = float(abar[t])
            tt = torch.full((x.shape[0],), int(t), dtype=torch.long, device=dev)
            x0 = model(x, m, tt, c).clamp(-X0_CLIP, X0_CLIP)
            if i == len(ts) - 1:
                break
            a_prev = float(abar[ts[i + 1]])
            eps = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
            x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps
        out[sl] = x0.float().cpu().numpy()
    return out
