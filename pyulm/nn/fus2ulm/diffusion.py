"""Conditional DDPM on patches: noise schedule, training loss with an edge term, and
whole-image DDIM sampling by sliding windows (imports torch).

Sampling blends the windows at **every** denoising step, not only at the end:
the image-sized noisy state is cut into overlapping patches, each patch's clean
estimate is predicted (with its position; the network predicts x0), the estimates are blended with the
raised-cosine weights of :mod:`.sliding`, and the whole image takes the DDIM step.
Overlapping windows therefore agree on one trajectory, which removes patch-boundary
artefacts (blending independent samples would average different vessels).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F

from . import sliding


def cosine_alphas(timesteps: int) -> torch.Tensor:
    """ᾱ_t of the cosine schedule (Nichol & Dhariwal 2021), t = 1..T (index 0 is t = 1)."""
    s = 0.008
    t = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    betas = (1 - abar[1:] / abar[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, 0).float()


def ema_update(ema: dict, model, step: int, ema_max: float) -> None:
    """Move the exponential moving average ``ema`` (a state dict) of ``model``'s weights one
    step, with decay ``min(ema_max, (1 + step) / (10 + step))``: the warm-up lets the early
    averages forget the random initialisation. Integer buffers are copied."""
    decay = min(ema_max, (1 + step) / (10 + step))
    with torch.no_grad():
        for k, v in model.state_dict().items():
            ema[k].mul_(decay).add_(v.detach(), alpha=1 - decay) if v.dtype.is_floating_point else ema[k].copy_(v)


_SOBEL = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def sobel(x: torch.Tensor) -> torch.Tensor:
    """Gradient magnitude (Sobel) of (n, 1, h, w) images, replicate-padded."""
    k = torch.stack([_SOBEL, _SOBEL.T])[:, None].to(x)
    g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), k)
    return torch.sqrt((g ** 2).sum(1, keepdim=True) + 1e-6)


def diffusion_loss(model, ulm, fus, pos, t, noise, abar, edge_weight: float):
    """Clean-patch (x0) prediction MSE plus ``edge_weight`` × L1 between the Sobel edge
    maps of the predicted and the target patch. Returns (total, mse, edge).

    The network predicts the clean patch rather than the noise: with few training steps
    and few sampling steps its errors then stay smooth instead of leaving residual noise
    in the image (the two parametrisations define the same DDPM; ε = (x_t − √ᾱ x0) / √(1 − ᾱ))."""
    a = abar[t][:, None, None, None]
    x_t = a.sqrt() * ulm + (1 - a).sqrt() * noise
    x0 = model(x_t, fus, t, pos)
    mse = F.mse_loss(x0, ulm)
    edge = (sobel(x0) - sobel(ulm)).abs().mean()
    return mse + edge_weight * edge, mse, edge


@torch.no_grad()
def sample(model, fus: np.ndarray, *, steps: int = 25, stride: int | None = None, seed: int = 0,
           samples: int = 1, eta: float = 0.0, batch: int = 16, device="cpu") -> np.ndarray:
    """Whole-image DDIM sampling by sliding windows, averaged over ``samples`` trajectories.

    Parameters
    ----------
    model : DiffusionUNet
    fus : ndarray (H, W)
        Condition in [-1, 1]; H and W at least the model's patch.
    steps : int
        DDIM steps (spread evenly over the training schedule), >= 1.
    stride : int, optional
        Window spacing (pixels), default half a patch (50 % overlap).
    seed : int
        Seeds the initial noise (and η's noise): same seed, same output.
    samples : int
        Number of independent trajectories whose final clean estimates are averaged
        (>= 1). The average estimates the posterior mean E[ULM | fUS]: where single
        samples place a faint vessel a pixel or two apart, the mean keeps what they
        agree on. Trajectory ``k`` starts from the ``k``-th noise image drawn from
        ``seed``, so ``samples=1`` is the first trajectory of any larger ``samples`` (η = 0;
        up to float32 rounding, the windows being batched differently).
    eta : float
        DDIM stochasticity in [0, 1]: 0 deterministic (DDIM), 1 the DDPM posterior variance.

    Returns
    -------
    ndarray (H, W)
        The clean estimate in [-1, 1].
    """
    return trajectories(model, fus, steps=steps, stride=stride, seed=seed, samples=samples, eta=eta, batch=batch,
                        device=device).mean(axis=0)


@torch.no_grad()
def trajectories(model, fus: np.ndarray, *, steps: int = 25, stride: int | None = None, seed: int = 0,
                 samples: int = 1, eta: float = 0.0, batch: int = 16, device="cpu") -> np.ndarray:
    """The ``samples`` final clean estimates (samples, H, W) that :func:`sample` averages (same parameters)."""
    steps, samples, eta = int(steps), int(samples), float(eta)
    if steps < 1:
        raise ValueError(f"steps: expected >= 1 DDIM steps, got {steps}")
    if samples < 1:
        raise ValueError(f"samples: expected >= 1 trajectories to average, got {samples}")
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta: expected a value in [0, 1], got {eta}")
    P = model.cfg.patch
    stride = P // 2 if stride is None else int(stride)
    H, W = fus.shape
    pos = sliding.positions((H, W), P, stride)
    n = len(pos)
    abar = cosine_alphas(model.cfg.timesteps).double()
    ts = np.unique(np.linspace(model.cfg.timesteps - 1, 0, steps).round().astype(int))[::-1]
    g = torch.Generator().manual_seed(int(seed))
    x = np.stack([torch.randn((H, W), generator=g, dtype=torch.float64).numpy() for _ in range(samples)])
    cond = torch.as_tensor(sliding.extract(fus, pos, P), dtype=torch.float32)[:, None].repeat(samples, 1, 1, 1)
    corner = torch.tensor([[z / H, xx / W] for z, xx in pos], dtype=torch.float32).repeat(samples, 1)
    weight = sliding.window(P)
    for i, t in enumerate(ts):
        a = float(abar[t])
        xp = torch.as_tensor(np.concatenate([sliding.extract(xk, pos, P) for xk in x]), dtype=torch.float32)[:, None]
        x0_p = []
        for b in range(0, len(xp), batch):
            sl = slice(b, b + batch)
            tt = torch.full((xp[sl].shape[0],), int(t), dtype=torch.long)
            x0_p.append(model(xp[sl].to(device), cond[sl].to(device), tt.to(device), corner[sl].to(device)).cpu())
        x0_p = np.clip(torch.cat(x0_p)[:, 0].double().numpy(), -1, 1)
        x0 = np.stack([sliding.blend(x0_p[k * n:(k + 1) * n], pos, (H, W), weight=weight) for k in range(samples)])
        if i == len(ts) - 1:
            break
        a_prev = float(abar[ts[i + 1]])
        eps_img = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        # DDIM (Song et al. 2021, eq. 12): σ = η √((1 − ᾱ_prev)/(1 − ᾱ)) √(1 − ᾱ/ᾱ_prev)
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a)) * math.sqrt(1 - a / a_prev)
        x = math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev - sigma ** 2) * eps_img
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=g, dtype=torch.float64).numpy()
    return x0
