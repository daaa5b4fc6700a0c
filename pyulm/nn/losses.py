"""Training losses of the learned localizers.

* MBL-Net: binary cross-entropy on the presence map plus a Gaussian-mixture
  negative log-likelihood (the idea of DECODE, Speiser et al. 2021): the
  network's per-pixel predictions form a mixture whose components sit at
  ``pixel + offset`` with the predicted intensity and standard deviations,
  weighted by the presence probabilities; the ground-truth bubbles are scored
  under that mixture, and their number under a Gaussian approximation of the
  sum of Bernoulli presences.
* 3DML-ResNet: a blurred-presence loss (squared difference between the
  presence map and the ground-truth spikes after both are blurred by the same
  Gaussian, so a detection one pixel off is penalised softly), an offset loss
  at the ground-truth pixels, and an L1 count loss for the count network.

Ground truth arrives as :class:`Targets` (see :func:`pyulm.nn.data.make_targets`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

_LOG2PI = math.log(2 * math.pi)


@dataclass
class Targets:
    """Ground truth of a batch of N frames of size (H, W).

    presence : (N, H, W) float, 1 at the pixel holding a bubble.
    offsets : (N, 2, H, W) float, bubble position minus pixel centre (dz, dx).
    points : (N, M, 3) float, (z, x, intensity) of each bubble, padded.
    mask : (N, M) bool, which rows of ``points`` are real.
    counts : (N,) float, bubbles per frame.
    """

    presence: torch.Tensor
    offsets: torch.Tensor
    points: torch.Tensor
    mask: torch.Tensor
    counts: torch.Tensor

    def to(self, device):
        return Targets(*(getattr(self, k).to(device) for k in ("presence", "offsets", "points", "mask", "counts")))


def presence_bce(logit: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """BCE summed over pixels, averaged over frames. ``logit`` (N, H, W)."""
    return F.binary_cross_entropy_with_logits(logit, presence, reduction="sum") / logit.shape[0]


def gmm_nll(out: torch.Tensor, t: Targets, radius: int = 2) -> torch.Tensor:
    """Gaussian-mixture NLL of the ground truth under MBL-Net's output.

    ``out`` (N, 7, H, W): presence logit, intensity, dz, dx, sigma_z, sigma_x,
    sigma_intensity. Returns the mean over frames of (position/intensity NLL of
    every bubble + NLL of the bubble count).

    The mixture weights are normalised over the whole frame, but each bubble is
    scored only against the components of the (2 radius + 1)^2 pixels around
    it: farther components (offsets are bounded to one pixel) contribute
    nothing measurable and skipping them makes the loss ~100x cheaper.
    """
    N, _, H, W = out.shape
    p = torch.sigmoid(out[:, 0]).reshape(N, -1)  # (N, K)
    P = p.sum(1).clamp_min(1e-6)
    var = (p * (1 - p)).sum(1).clamp_min(1e-6)
    count_nll = 0.5 * (t.counts - P) ** 2 / var + 0.5 * torch.log(var) + 0.5 * _LOG2PI
    M = t.points.shape[1]
    if M == 0:
        return count_nll.mean()

    iz = torch.arange(H, device=out.device, dtype=out.dtype).view(1, H, 1)
    ix = torch.arange(W, device=out.device, dtype=out.dtype).view(1, 1, W)
    comp = torch.stack([iz + out[:, 2], ix + out[:, 3], out[:, 1], out[:, 4], out[:, 5], out[:, 6],
                        torch.log(p.clamp_min(1e-8)).view(N, H, W)], 1).reshape(N, 7, -1)  # (N, 7, K)
    # pixel indices of each bubble's window
    cz = torch.round(t.points[..., 0]).long().clamp(0, H - 1)  # (N, M)
    cx = torch.round(t.points[..., 1]).long().clamp(0, W - 1)
    r = torch.arange(-radius, radius + 1, device=out.device)
    wz = cz[..., None, None] + r.view(-1, 1)  # (N, M, w, 1)
    wx = cx[..., None, None] + r.view(1, -1)  # (N, M, 1, w)
    inside = ((wz >= 0) & (wz < H) & (wx >= 0) & (wx < W)).reshape(N, M, -1)  # (N, M, w*w)
    idx = (wz.clamp(0, H - 1) * W + wx.clamp(0, W - 1)).reshape(N, 1, -1)  # (N, 1, M*w*w)
    g = torch.gather(comp, 2, idx.expand(N, 7, idx.shape[-1])).reshape(N, 7, M, -1)  # (N, 7, M, w*w)
    mu, sig, logp = g[:, 0:3], g[:, 3:6], g[:, 6]
    x = t.points.permute(0, 2, 1).unsqueeze(-1)  # (N, 3, M, 1)
    log_n = (-0.5 * ((x - mu) / sig) ** 2 - torch.log(sig)).sum(1) - 1.5 * _LOG2PI  # (N, M, w*w)
    log_w = logp - torch.log(P).view(N, 1, 1)
    log_mix = torch.logsumexp((log_n + log_w).masked_fill(~inside, -1e30), dim=-1)  # (N, M)
    point_nll = -(log_mix * t.mask).sum(1)
    return (point_nll + count_nll).mean()


def mblnet_loss(out: torch.Tensor, t: Targets, *, bce_weight: float = 1.0, gmm_weight: float = 1.0,
                offset_weight: float = 0.0):
    """Total MBL-Net loss and its parts (for logging). ``offset_weight`` adds a
    direct L1 loss on the offsets at the ground-truth pixels (0: GMM only)."""
    bce = presence_bce(out[:, 0], t.presence)
    gmm = gmm_nll(out, t)
    total = bce_weight * bce + gmm_weight * gmm
    parts = {"bce": float(bce.detach()), "gmm": float(gmm.detach())}
    if offset_weight:
        off = offset_loss(out[:, 2:4], t)
        total = total + offset_weight * off
        parts["offset"] = float(off.detach())
    return total, parts


def gaussian_kernel(sigma: float, device=None, dtype=torch.float32) -> torch.Tensor:
    """(1, 1, k, k) Gaussian of peak 1 (a lone spike blurs to a bump of height 1)."""
    r = max(1, int(math.ceil(3 * sigma)))
    g = torch.exp(-0.5 * (torch.arange(-r, r + 1, device=device, dtype=dtype) / sigma) ** 2)
    return (g[:, None] * g[None, :]).view(1, 1, 2 * r + 1, 2 * r + 1)


def blurred_presence_loss(logit: torch.Tensor, presence: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Squared difference of the blurred presence map and blurred ground truth,
    summed over pixels and divided by the number of bubbles (at least 1).
    ``logit``, ``presence`` (N, H, W)."""
    k = gaussian_kernel(sigma, logit.device, logit.dtype)
    pad = k.shape[-1] // 2
    bp = F.conv2d(torch.sigmoid(logit).unsqueeze(1), k, padding=pad)
    bt = F.conv2d(presence.unsqueeze(1), k, padding=pad)
    return ((bp - bt) ** 2).sum() / presence.sum().clamp_min(1.0)


def offset_loss(offsets: torch.Tensor, t: Targets) -> torch.Tensor:
    """L1 error of (dz, dx) at the ground-truth pixels, per bubble. ``offsets`` (N, 2, H, W)."""
    m = t.presence.unsqueeze(1)
    return ((offsets - t.offsets).abs() * m).sum() / m.sum().clamp_min(1.0)


def dml3_loss(maps: torch.Tensor, counts: torch.Tensor, t: Targets, *, bce_weight: float = 1.0,
              blur_weight: float = 1.0, offset_weight: float = 1.0, count_weight: float = 0.1, blur_sigma: float = 1.0):
    """Total 3DML loss. ``maps`` (B, 3, T, H, W), ``counts`` (B, T); ``t`` holds the
    B*T frames in clip-major order. ``bce_weight`` adds a plain per-pixel BCE on
    the presence logits (mean over pixels) that speeds up the start of training."""
    B, _, T, H, W = maps.shape
    flat = maps.permute(0, 2, 1, 3, 4).reshape(B * T, 3, H, W)
    blur = blurred_presence_loss(flat[:, 0], t.presence, blur_sigma)
    off = offset_loss(flat[:, 1:3], t)
    bce = F.binary_cross_entropy_with_logits(flat[:, 0], t.presence)
    cnt = (counts.reshape(-1) - t.counts).abs().mean()
    total = blur_weight * blur + offset_weight * off + bce_weight * bce + count_weight * cnt
    return total, {"blur": float(blur.detach()), "offset": float(off.detach()), "bce": float(bce.detach()),
                   "count": float(cnt.detach())}
