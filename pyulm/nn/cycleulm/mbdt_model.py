"""MB-DT networks (imports torch): CycleULM's U-Net generators and PatchGAN discriminators.

As the paper (§3.1, Fig. 10) describes them:

* **Generators** (``G_AB``: 3 CEUS frames → 1 MB-only frame; ``G_BA``: 1 → 3): a U-Net
  with two down-sampling layers (4 × 4 max pooling, stride 2) and two up-sampling
  layers (bilinear × 2, then a 3 × 3 convolution); the bottleneck is a residual block
  of two 3 × 3 convolutions. No normalisation layers: the network is trained on
  40 × 40 patches and run on whole frames, and batch or instance statistics would
  differ between the two. The output is clipped to [0, 1] (both domains are normalised
  to a maximum of one) with a leaky clip while training: a sigmoid output saturated
  (logits ~ -60, no gradient) and MB-DT stayed dark.
* **Discriminators** (PatchGAN, Isola et al. 2017): strided 4 × 4 convolutions ending
  in a grid of real/fake scores (no sigmoid: the LSGAN losses are least squares).

Widths are small (``width`` channels at full resolution, doubled per level): MB-DT
runs before every localizer, so it must be fast on a CPU.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..vml import warm_up

warm_up()  # a serial first call of torch's vector math (see pyulm.nn.vml)

__all__ = ["MBDTConfig", "UNetGenerator", "PatchDiscriminator", "build_generator", "build_cycle", "MULTIPLE"]

#: frames are padded to a multiple of this (two stride-2 poolings)
MULTIPLE = 4


@dataclass(frozen=True)
class MBDTConfig:
    """Network sizes.

    Attributes
    ----------
    width : int
        Channels of the first U-Net level (2x, 4x at the next levels), 4-64.
    context : int
        Consecutive CEUS frames in domain A (the paper: 3). Odd, 1-9.
    disc_width : int
        Channels of the first discriminator layer, 4-128.
    """

    width: int = 8
    context: int = 3
    disc_width: int = 16

    def __post_init__(self):
        for name, lo, hi in (("width", 4, 64), ("context", 1, 9), ("disc_width", 4, 128)):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError(f"mbdt model.{name}: expected a whole number in [{lo}, {hi}], got {v!r}")
        if self.context % 2 == 0:
            raise ValueError(f"mbdt model.context: expected an odd number of frames, got {self.context}")

    def to_dict(self) -> dict:
        return asdict(self)


def _soft_clamp(x, training: bool):
    """[0, 1] output: identity inside, slope 0.01 outside while training (so the gradient never
    vanishes, unlike a sigmoid, which saturated to an all-dark output), a hard clip in eval mode."""
    if not training:
        return x.clamp(0.0, 1.0)
    return x.clamp(0.0, 1.0) + 0.01 * (x - x.clamp(0.0, 1.0))


def _conv(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.LeakyReLU(0.1, inplace=True))


class DecoderUp(nn.Module):
    """Bilinear × 2 then a 3 × 3 convolution, concatenated with the skip, then a 3 × 3 convolution."""

    def __init__(self, cin, cskip, cout):
        super().__init__()
        self.up = _conv(cin, cout)
        self.merge = _conv(cout + cskip, cout)
        #: inference copies only (pyulm.nn.cycleulm.precision): a module computing ``up_x2`` faster
        self.fast = None

    def up_x2(self, x):
        """Bilinear x2 then the up convolution (the ``fast`` module's reference, also on edge strips)."""
        return self.up(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))

    def forward(self, x, skip):
        if self.fast is not None and tuple(skip.shape[-2:]) == (2 * x.shape[-2], 2 * x.shape[-1]):
            from . import layout_numba  # inference copies only (numba, optional)

            if min(x.shape[-2:]) >= 2 and layout_numba.usable(x) and layout_numba.usable(skip):
                # the shuffled up-sampling and the skip written into the merge's input in one pass (no cat)
                xs = layout_numba.shuffle_cat(self.fast.phases(x), skip, self.fast.cout)
                self.fast.fix_edges(x, xs[:, :self.fast.cout])
                return self.merge(xs)
            x = self.fast(x)
        else:
            x = self.up(F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False))
        return self.merge(torch.cat([x, skip], 1))


class UNetGenerator(nn.Module):
    """CycleULM generator: ``(n, in_ch, H, W) -> (n, out_ch, H, W)``, H and W multiples of 4."""

    def __init__(self, in_ch: int, out_ch: int, width: int = 8):
        super().__init__()
        w1, w2, w3 = width, 2 * width, 4 * width
        self.enc1 = nn.Sequential(_conv(in_ch, w1), _conv(w1, w1))
        self.enc2 = nn.Sequential(_conv(w1, w2), _conv(w2, w2))
        # 4 x 4 max pooling with stride 2 (padding 1 halves an even size exactly)
        self.pool = nn.MaxPool2d(4, stride=2, padding=1)
        self.bottom_in = _conv(w2, w3)
        self.res = nn.Sequential(nn.Conv2d(w3, w3, 3, padding=1), nn.LeakyReLU(0.1, inplace=True),
                                 nn.Conv2d(w3, w3, 3, padding=1))
        self.up2 = DecoderUp(w3, w2, w2)
        self.up1 = DecoderUp(w2, w1, w1)
        self.head = nn.Conv2d(w1, out_ch, 1)

    def forward(self, x):
        s1 = self.enc1(x)
        s2 = self.enc2(self.pool(s1))
        b = self.bottom_in(self.pool(s2))
        b = F.leaky_relu(b + self.res(b), 0.1)  # residual bottleneck (He et al. 2016)
        return _soft_clamp(self.head(self.up1(self.up2(b, s2), s1)), self.training)


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``(n, ch, H, W) -> (n, 1, h, w)`` real/fake scores, receptive field 34 pixels."""

    def __init__(self, in_ch: int, width: int = 16):
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(2 * w, 4 * w, 4, 1, 1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(4 * w, 1, 4, 1, 1),
        )

    def forward(self, x):
        return self.net(x)


def build_generator(cfg: MBDTConfig) -> UNetGenerator:
    """G_AB, the translator: ``context`` CEUS frames -> 1 MB-only frame."""
    return UNetGenerator(cfg.context, 1, cfg.width)


def build_cycle(cfg: MBDTConfig) -> nn.ModuleDict:
    """The four CycleGAN networks: ``G_AB``, ``G_BA`` (1 -> context frames), ``D_A``, ``D_B``."""
    return nn.ModuleDict({
        "G_AB": build_generator(cfg),
        "G_BA": UNetGenerator(1, cfg.context, cfg.width),
        "D_A": PatchDiscriminator(cfg.context, cfg.disc_width),
        "D_B": PatchDiscriminator(1, cfg.disc_width),
    })
