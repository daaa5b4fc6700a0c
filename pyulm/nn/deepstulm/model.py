"""The Deep-stULM network (imports torch).

After Milecki et al., "A deep learning framework for spatiotemporal ultrasound
localization microscopy", IEEE TMI 2021 (Fig. 2), at configurable sizes
(:class:`~pyulm.nn.deepstulm.config.ModelConfig`):

* input (B, 2, Nt, S, S): real and imaginary parts of the correlation maps;
* a V-net-style encoder (residual stages of 3x3x3 convolutions with PReLU),
  **two** down blocks with max pooling of ``time_pool`` along t (4: the
  temporal axis is long) and ``space_pool`` along z, x;
* a decoder of two up blocks that rebuild space (nearest-neighbour x2) but
  **not** time: each collapses the temporal axis further (max pooling of its
  input and of the skip connection to half the remaining frames, then one
  frame), so 3-D convolutions still see time in the first up block;
* ``log2(r)`` blocks of nearest-neighbour x2 resizing + 3x3 convolution (no
  transposed convolutions: they leave checkerboards);
* a 1x1 convolution to one logit per output pixel, (B, r*S, r*S).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from .config import ModelConfig
from ..vml import warm_up

warm_up()  # a serial first call of torch's vector math (see pyulm.nn.vml)


class _Stage(nn.Module):
    """V-net stage: ``convs`` 3-D convolutions with PReLU, residual over all but the first."""

    def __init__(self, cin, cout, convs, kernel=3):
        super().__init__()
        pad = tuple(k // 2 for k in kernel) if isinstance(kernel, tuple) else kernel // 2
        self.first = nn.Conv3d(cin, cout, kernel, padding=pad)
        self.rest = nn.ModuleList(nn.Conv3d(cout, cout, kernel, padding=pad) for _ in range(convs - 1))
        self.acts = nn.ModuleList(nn.PReLU(cout) for _ in range(convs))

    def forward(self, x):
        y = self.acts[0](self.first(x))
        z = y
        for conv, act in zip(self.rest, self.acts[1:]):
            z = act(conv(z))
        return z + y if len(self.rest) else y


class _Up(nn.Module):
    """Up block: space x2 (nearest), time collapsed to ``t_out`` frames, skip concatenated."""

    def __init__(self, cdeep, cskip, cout, t_out, space):
        super().__init__()
        self.t_out, self.space = t_out, space
        kernel = (3, 3, 3) if t_out > 1 else (1, 3, 3)
        self.stage = _Stage(cdeep + cskip, cout, 2, kernel)

    def forward(self, deep, skip):
        deep = F.interpolate(deep, scale_factor=(1, self.space, self.space), mode="nearest")
        size = (self.t_out, skip.shape[-2], skip.shape[-1])
        deep = F.adaptive_max_pool3d(deep, size)
        skip = F.adaptive_max_pool3d(skip, size)
        return self.stage(torch.cat([deep, skip], 1))


class DeepSTULM(nn.Module):
    """Correlation-map cine loop (B, 2, Nt, S, S) -> track-map logits (B, r*S, r*S)."""

    architecture = "deepstulm"

    def __init__(self, config: ModelConfig | None = None):
        super().__init__()
        cfg = config or ModelConfig()
        self.config = cfg
        b, tp, sp = cfg.base, cfg.time_pool, cfg.space_pool
        self.pool = nn.MaxPool3d((tp, sp, sp))
        self.enc1 = _Stage(2, b, cfg.convs)
        self.enc2 = _Stage(b, 2 * b, cfg.convs)
        self.enc3 = _Stage(2 * b, 4 * b, cfg.convs)
        t3 = cfg.n_frames // tp ** 2
        self.up1 = _Up(4 * b, 2 * b, 2 * b, max(1, t3 // 2), sp)
        self.up2 = _Up(2 * b, b, b, 1, sp)
        sr = []
        for _ in range(int(math.log2(cfg.r))):
            sr += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(b, b, 3, padding=1), nn.PReLU(b)]
        self.sr = nn.Sequential(*sr)
        self.head = nn.Conv2d(b, 1, 1)
        nn.init.constant_(self.head.bias, -2.0)  # track pixels are a few per cent of the output

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.enc3(self.pool(e2))
        d = self.up2(self.up1(e3, e2), e1)[:, :, 0]
        return self.head(self.sr(d))[:, 0]


def dice_loss(logits, target, eps: float = 1.0, bce_weight: float = 0.0):
    """Soft Dice loss over the whole batch, ``1 - (2 Σ p t + eps) / (Σ p + Σ t + eps)``,
    plus ``bce_weight`` x the mean binary cross-entropy of the logits.

    Dice alone has a plateau where every pixel is a track (a network that does
    not yet tell pixels apart lowers the loss by raising every probability);
    the per-pixel cross-entropy term gives the gradient that leaves it.
    """
    p = torch.sigmoid(logits)
    t = target.to(p.dtype)
    loss = 1 - (2 * (p * t).sum() + eps) / (p.sum() + t.sum() + eps)
    if bce_weight:
        loss = loss + bce_weight * F.binary_cross_entropy_with_logits(logits, t)
    return loss


def n_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
