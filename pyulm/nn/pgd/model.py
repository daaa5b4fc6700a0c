"""The PgD network: a small conditional U-Net that predicts the clean image from a noisy one
(imports torch).

Inputs: the noisy image ``x_t`` (n, 2, H, W) (IQ channels), the bubble map (n, 3, H, W)
(:func:`pyulm.nn.pgd.data.bubble_map`), the diffusion time ``t`` (n,) and the physics
vector (n, F) (:func:`pyulm.nn.pgd.physics.normalise`). ``t`` is embedded sinusoidally,
the physics vector through a learned per-parameter embedding (each normalised value
scales its own learned vector, then an MLP mixes them); their sum modulates every
residual block (FiLM: scale and shift after normalisation). The blocks are those of the
fUS -> ULM diffusion U-Net (:mod:`pyulm.nn.fus2ulm.models`). H and W must be multiples of 4;
the network is fully convolutional, so it runs at any such size (32-64 px).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from ..fus2ulm.models import FiLMUNet, sinusoidal
from .physics import FIELDS

ARCHITECTURE = "pgd-unet"


@dataclass(frozen=True)
class PgDConfig:
    """Network sizes."""

    width: int = 32           # channels at full resolution (x1, x2, x4 over three levels)
    emb: int = 128            # time / physics embedding size
    timesteps: int = 200      # diffusion steps T of the training schedule (cosine)
    n_params: int = len(FIELDS)
    image_channels: int = 2   # real, imaginary
    map_channels: int = 3     # bubble map: real, imaginary, amplitude

    @classmethod
    def from_dict(cls, d: dict | None, where: str = "[network]") -> "PgDConfig":
        """Checked construction: unknown fields and non-positive sizes are one error."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"{where}: unknown field(s) {bad}; expected some of {sorted(known)}")
        for k, v in d.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{where}: {k} must be a positive whole number, got {v!r}")
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


class PgDUNet(FiLMUNet):
    """Predicts the clean image ``x0`` from ``(x_t, bubble_map, t, physics)``.

    Examples
    --------
    >>> net = PgDUNet(PgDConfig(width=8, emb=16))
    >>> x = torch.zeros(2, 2, 32, 32)
    >>> net(x, torch.zeros(2, 3, 32, 32), torch.tensor([0, 5]), torch.zeros(2, 10)).shape
    torch.Size([2, 2, 32, 32])
    """

    architecture = ARCHITECTURE

    def __init__(self, cfg: PgDConfig | None = None):
        super().__init__()
        self.cfg = c = cfg or PgDConfig()
        w, e = c.width, c.emb
        self.t_mlp = nn.Sequential(nn.Linear(e, e), nn.SiLU(), nn.Linear(e, e))
        # learned embedding per physics parameter (value x its vector + its bias), mixed by an MLP
        self.p_vec = nn.Parameter(torch.randn(c.n_params, e) * 0.5)
        self.p_bias = nn.Parameter(torch.zeros(c.n_params, e))
        self.p_mlp = nn.Sequential(nn.SiLU(), nn.Linear(c.n_params * e, e), nn.SiLU(), nn.Linear(e, e))
        self.build_unet(c.image_channels + c.map_channels, c.image_channels, w, e)

    def embed(self, t, physics):
        """The conditioning vector (n, emb) of diffusion time and physics."""
        p = physics[:, :, None] * self.p_vec[None] + self.p_bias[None]
        return self.t_mlp(sinusoidal(t, self.cfg.emb)) + self.p_mlp(p.flatten(1))

    def forward(self, x_t, bubble_map, t, physics):
        if x_t.shape[-2] % 4 or x_t.shape[-1] % 4:
            raise ValueError(f"pgd: image size {tuple(x_t.shape[-2:])}: expected multiples of 4 pixels")
        e = self.embed(t, physics)
        return self.unet(torch.cat([x_t, bubble_map], 1), e)


def build(sizes: dict | None = None) -> PgDUNet:
    """The network with the given sizes (a ``[network]`` table or ``config.json``'s ``model``)."""
    return PgDUNet(PgDConfig.from_dict(sizes))


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
