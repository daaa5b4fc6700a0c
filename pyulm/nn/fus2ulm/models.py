"""The three fUS → ULM networks (imports torch).

* :class:`Pix2PixGenerator` (U-Net) and :class:`PatchDiscriminator` (PatchGAN),
  after Isola et al. (CVPR 2017);
* :class:`MHVAE`: a multimodal hierarchical VAE (after Dorent et al., MICCAI 2023):
  one encoder per modality (fUS, ULM), a two-level latent (1/16 and 1/4 of the
  image) whose posterior is the product of Gaussian experts of the available
  modalities and of the (top-down) prior, one decoder per modality;
* :class:`DiffusionUNet`: the denoiser (clean-patch predictor) of a conditional
  DDPM on patches, with time and patch-position embeddings.

Images are (batch, 1, H, W) in [-1, 1]; H and W are multiples of the network's
down-sampling factor (16 for all three with the default depths).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..vml import warm_up

warm_up()  # a serial first call of torch's vector math (see pyulm.nn.vml)


# --------------------------------------------------------------------------- Pix2Pix
@dataclass
class Pix2PixConfig:
    width: int = 16      # channels of the first generator level (doubled per level, capped at 8x)
    depth: int = 4       # generator down-sampling levels (factor 2**depth)
    disc_width: int = 16
    disc_layers: int = 3


class Pix2PixGenerator(nn.Module):
    """U-Net: 4x4 stride-2 convolutions down, transposed convolutions up, skip connections, tanh."""

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__()
        ch = [min(cfg.width * 2 ** i, cfg.width * 8) for i in range(cfg.depth)]
        self.down = nn.ModuleList()
        cin = 1
        for i, c in enumerate(ch):
            layers = [nn.Conv2d(cin, c, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2))
            self.down.append(nn.Sequential(*layers))
            cin = c
        self.up = nn.ModuleList()
        for i in reversed(range(cfg.depth)):
            cout = ch[i - 1] if i > 0 else cfg.width
            cin_up = ch[i] if i == cfg.depth - 1 else ch[i] * 2
            self.up.append(nn.Sequential(nn.ConvTranspose2d(cin_up, cout, 4, 2, 1, bias=False),
                                         nn.BatchNorm2d(cout), nn.ReLU()))
        self.out = nn.Conv2d(cfg.width + 1, 1, 3, 1, 1)

    def forward(self, x):
        skips, h = [], x
        for d in self.down:
            h = d(h)
            skips.append(h)
        for i, u in enumerate(self.up):
            if i > 0:
                h = torch.cat([h, skips[-1 - i]], 1)
            h = u(h)
        return torch.tanh(self.out(torch.cat([h, x], 1)))


class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, each seeing a patch of the (fUS, ULM) pair."""

    def __init__(self, cfg: Pix2PixConfig):
        super().__init__()
        layers, cin = [], 2
        for i in range(cfg.disc_layers):
            c = cfg.disc_width * 2 ** i
            layers += [nn.Conv2d(cin, c, 4, 2, 1, bias=i == 0)]
            if i > 0:
                layers.append(nn.BatchNorm2d(c))
            layers.append(nn.LeakyReLU(0.2))
            cin = c
        layers += [nn.Conv2d(cin, cin, 3, 1, 1), nn.LeakyReLU(0.2), nn.Conv2d(cin, 1, 3, 1, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, fus, ulm):
        return self.net(torch.cat([fus, ulm], 1))


class Pix2Pix(nn.Module):
    """Generator + discriminator in one module (one state dict); inference uses the generator."""

    architecture = "fus2ulm-pix2pix"

    def __init__(self, cfg: Pix2PixConfig | None = None):
        super().__init__()
        self.cfg = cfg or Pix2PixConfig()
        self.generator = Pix2PixGenerator(self.cfg)
        self.discriminator = PatchDiscriminator(self.cfg)

    def forward(self, fus):
        return self.generator(fus)


# --------------------------------------------------------------------------- MHVAE
@dataclass
class MHVAEConfig:
    width: int = 16        # encoder/decoder channels at full resolution (doubled per level)
    latent_top: int = 8    # channels of the 1/16 latent
    latent_mid: int = 4    # channels of the 1/4 latent


def _block(cin, cout, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(min(8, cout), cout), nn.SiLU())


class _Encoder(nn.Module):
    """Bottom-up features of one modality at 1/4 and 1/16."""

    def __init__(self, w):
        super().__init__()
        self.to_mid = nn.Sequential(_block(1, w), _block(w, 2 * w, 2), _block(2 * w, 2 * w, 2))
        self.to_top = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w, 2))

    def forward(self, x):
        mid = self.to_mid(x)
        return mid, self.to_top(mid)


def _product_of_experts(mus, logvars):
    """Precision-weighted Gaussian product (each expert (mu, log variance))."""
    prec = [torch.exp(-lv) for lv in logvars]
    total = sum(prec)
    mu = sum(m * p for m, p in zip(mus, prec)) / total
    return mu, -torch.log(total)


def _kl(mu_q, lv_q, mu_p, lv_p):
    return 0.5 * (lv_p - lv_q + (torch.exp(lv_q) + (mu_q - mu_p) ** 2) / torch.exp(lv_p) - 1)


class MHVAE(nn.Module):
    """Two modalities (0: fUS, 1: ULM), a latent at 1/16 (``z_top``) and one at 1/4 (``z_mid``).

    ``q(z_top | x_S) ∝ p(z_top) Π_{m∈S} q_m(z_top | x_m)``;
    ``q(z_mid | z_top, x_S) ∝ p(z_mid | z_top) Π_{m∈S} q_m(z_mid | z_top, x_m)``;
    ``S`` is the set of modalities given (ULM is decoded from ``S = {fUS}``).
    """

    architecture = "fus2ulm-mhvae"

    def __init__(self, cfg: MHVAEConfig | None = None):
        super().__init__()
        self.cfg = c = cfg or MHVAEConfig()
        w = c.width
        self.enc = nn.ModuleList([_Encoder(w), _Encoder(w)])
        self.top_expert = nn.ModuleList([nn.Conv2d(4 * w, 2 * c.latent_top, 3, 1, 1) for _ in range(2)])
        self.top_down = nn.Sequential(nn.Conv2d(c.latent_top, 4 * w, 3, 1, 1), nn.SiLU(),
                                      nn.Upsample(scale_factor=4, mode="nearest"), _block(4 * w, 2 * w))
        self.mid_prior = nn.Conv2d(2 * w, 2 * c.latent_mid, 3, 1, 1)
        self.mid_expert = nn.ModuleList([nn.Conv2d(4 * w, 2 * c.latent_mid, 3, 1, 1) for _ in range(2)])
        self.dec = nn.ModuleList([
            nn.Sequential(_block(2 * w + c.latent_mid, 2 * w), nn.Upsample(scale_factor=2, mode="nearest"),
                          _block(2 * w, w), nn.Upsample(scale_factor=2, mode="nearest"), _block(w, w),
                          nn.Conv2d(w, 1, 3, 1, 1)) for _ in range(2)])

    def forward(self, fus, ulm=None, *, sample: bool = True):
        """Decoded (fUS, ULM) in [-1, 1] and the KL terms (top, mid), each summed per image."""
        inputs = [fus, ulm]
        feats = [self.enc[m](x) if x is not None else None for m, x in enumerate(inputs)]
        given = [m for m in range(2) if feats[m] is not None]

        def draw(mu, lv):
            return mu + torch.exp(0.5 * lv) * torch.randn_like(mu) if sample else mu

        zeros = torch.zeros_like(self.top_expert[0](feats[given[0]][1])[:, : self.cfg.latent_top])
        ex = [self.top_expert[m](feats[m][1]).chunk(2, 1) for m in given]
        mu_t, lv_t = _product_of_experts([zeros] + [e[0] for e in ex], [zeros] + [e[1].clamp(-8, 8) for e in ex])
        z_top = draw(mu_t, lv_t)
        h = self.top_down(z_top)
        mu_p, lv_p = self.mid_prior(h).chunk(2, 1)
        lv_p = lv_p.clamp(-8, 8)
        ex = [self.mid_expert[m](torch.cat([h, feats[m][0]], 1)).chunk(2, 1) for m in given]
        mu_m, lv_m = _product_of_experts([mu_p] + [e[0] for e in ex], [lv_p] + [e[1].clamp(-8, 8) for e in ex])
        z_mid = draw(mu_m, lv_m)
        d = torch.cat([h, z_mid], 1)
        outs = [torch.tanh(dec(d)) for dec in self.dec]
        kl_top = _kl(mu_t, lv_t, zeros, zeros).flatten(1).sum(1)
        kl_mid = _kl(mu_m, lv_m, mu_p, lv_p).flatten(1).sum(1)
        return outs[0], outs[1], kl_top, kl_mid


# --------------------------------------------------------------------------- diffusion
@dataclass
class DiffusionConfig:
    width: int = 16           # channels at the patch resolution (x1, x2, x4 over three levels)
    emb: int = 64             # time / position embedding size
    patch: int = 64           # training patch (the poster: 128)
    timesteps: int = 200      # diffusion steps T of the training schedule (cosine)


def sinusoidal(x, dim: int, max_period: float = 1000.0):
    """Sinusoidal embedding of the values ``x`` (batch,) into ``dim`` features."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    a = x.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(a), torch.sin(a)], 1)


class ResBlock(nn.Module):
    """Two 3x3 convolutions with GroupNorm and SiLU; the conditioning vector ``e`` modulates
    the second by FiLM (scale and shift per channel)."""

    def __init__(self, cin, cout, emb):
        super().__init__()
        self.n1, self.c1 = nn.GroupNorm(min(8, cin), cin), nn.Conv2d(cin, cout, 3, 1, 1)
        self.n2, self.c2 = nn.GroupNorm(min(8, cout), cout), nn.Conv2d(cout, cout, 3, 1, 1)
        self.e = nn.Linear(emb, 2 * cout)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, e):
        h = self.c1(F.silu(self.n1(x)))
        scale, shift = self.e(e)[:, :, None, None].chunk(2, 1)
        h = self.n2(h) * (1 + scale) + shift  # FiLM: time and patch position modulate every block
        return self.skip(x) + self.c2(F.silu(h))


class FiLMUNet(nn.Module):
    """The three-level U-Net of :class:`ResBlock` s shared by the diffusion models (fUS -> ULM
    and PgD): a subclass makes the conditioning vector, :meth:`unet` does the rest.

    The layers are attributes of the model itself (``inp``, ``down``, ``pool``, ``mid``,
    ``up``, ``out``), so the shipped weights' names stay those of the models that
    defined them.
    """

    def build_unet(self, in_channels: int, out_channels: int, width: int, emb: int) -> None:
        w = width
        self.inp = nn.Conv2d(in_channels, w, 3, 1, 1)
        chans = [w, 2 * w, 4 * w]
        self.down = nn.ModuleList([ResBlock(chans[max(i - 1, 0)], chans[i], emb) for i in range(3)])
        self.pool = nn.AvgPool2d(2)
        self.mid = ResBlock(4 * w, 4 * w, emb)
        self.up = nn.ModuleList([ResBlock(chans[i] * 2, chans[max(i - 1, 0)], emb) for i in reversed(range(3))])
        self.out = nn.Sequential(nn.GroupNorm(min(8, w), w), nn.SiLU(), nn.Conv2d(w, out_channels, 3, 1, 1))

    def unet(self, x, e):
        """The U-Net on the input channels ``x`` (n, in, h, w) conditioned on ``e`` (n, emb)."""
        h = self.inp(x)
        skips = []
        for i, blk in enumerate(self.down):
            h = blk(h, e)
            skips.append(h)
            if i < 2:
                h = self.pool(h)
        h = self.mid(h, e)
        for i, blk in enumerate(self.up):
            h = blk(torch.cat([h, skips[-1 - i]], 1), e)
            if i < 2:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
        return self.out(h)


class DiffusionUNet(FiLMUNet):
    """Predicts the clean ULM patch from ``x_t`` (noisy ULM patch), the fUS patch, ``t`` and the patch position.

    The patch position ``(z0, x0)`` is the top-left corner divided by the image size
    (values in [0, 1)), embedded sinusoidally (as ``t``) and added to the time embedding.
    """

    architecture = "fus2ulm-diffusion"

    def __init__(self, cfg: DiffusionConfig | None = None):
        super().__init__()
        self.cfg = c = cfg or DiffusionConfig()
        w, e = c.width, c.emb
        self.t_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        self.p_mlp = nn.Sequential(nn.Linear(2 * e, e), nn.SiLU(), nn.Linear(e, e))
        self.build_unet(2, 1, w, e)

    def forward(self, x_t, fus, t, pos):
        e = self.t_mlp(sinusoidal(t, self.cfg.emb))
        e = e + self.p_mlp(torch.cat([sinusoidal(pos[:, 0] * 1000, self.cfg.emb),
                                      sinusoidal(pos[:, 1] * 1000, self.cfg.emb)], 1))
        return torch.tanh(self.unet(torch.cat([x_t, fus], 1), e))


CONFIGS = {"pix2pix": Pix2PixConfig, "mhvae": MHVAEConfig, "diffusion": DiffusionConfig}
MODELS = {"pix2pix": Pix2Pix, "mhvae": MHVAE, "diffusion": DiffusionUNet}


def build(kind: str, sizes: dict | None = None):
    """The network ``kind`` (``pix2pix``, ``mhvae``, ``diffusion``) with the given sizes."""
    if kind not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {kind!r}")
    fields = CONFIGS[kind].__dataclass_fields__
    unknown = set(sizes or {}) - set(fields)
    if unknown:
        raise ValueError(f"[network]: unknown field(s) {sorted(unknown)} for {kind}; expected {sorted(fields)}")
    cfg = CONFIGS[kind](**(sizes or {}))
    for k, v in asdict(cfg).items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"[network]: {k} must be a positive integer, got {v!r}")
    return MODELS[kind](cfg)
