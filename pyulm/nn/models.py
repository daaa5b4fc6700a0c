"""The networks: MBL-Net (per-frame U-Net with three heads), 3DML-ResNet
(spatio-temporal residual network) and its bubble-count network.

Written from the papers' descriptions (CycleULM's MBL-Net; the 3-D
convolutional ResNet of spatio-temporal ULM), not from any published code.
Every network takes |IQ| normalised per frame by its maximum (see
:func:`pyulm.nn.inference.normalize_frames`). Importing this module imports torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
import torch.nn.functional as F

from .vml import warm_up

warm_up()  # a serial first call of torch's vector math (see pyulm.nn.vml)

#: Channels of the MBL-Net output, in order.
MBLNET_CHANNELS = ("p_logit", "intensity", "dz", "dx", "sigma_z", "sigma_x", "sigma_intensity")
#: Channels of the 3DML-ResNet output per frame, in order.
DML3_CHANNELS = ("p_logit", "dz", "dx")

# Offsets are bounded to +-OFFSET_RANGE pixels around the pixel centre (a bubble on a
# pixel edge may be claimed by either neighbour) and sigmas to [SIGMA_MIN, SIGMA_MIN + SIGMA_RANGE].
OFFSET_RANGE = 1.0
SIGMA_MIN, SIGMA_RANGE = 0.01, 3.0


@dataclass(frozen=True)
class MBLNetConfig:
    """Sizes of MBL-Net. ``width`` channels at full resolution, doubled at each of
    the two down-sampling stages; ``n_res`` residual blocks in the bottleneck."""

    width: int = 16
    n_res: int = 2
    head_width: int = 16
    space_to_depth: int = 2

    #: Allowed (low, high) per field: a model config is checked against these before any
    #: layer is allocated, so an edited config.json cannot ask for an absurd network.
    BOUNDS = {"width": (1, 256), "n_res": (0, 32), "head_width": (1, 256), "space_to_depth": (1, 8)}

    def validate(self):
        return _check_bounds(self)


@dataclass(frozen=True)
class DML3Config:
    """Sizes of 3DML-ResNet (``clip`` consecutive frames in, ``n_blocks`` residual
    blocks of ``width`` channels) and of its count network (``count_width``)."""

    width: int = 8
    n_blocks: int = 3
    clip: int = 5
    count_width: int = 8

    #: Allowed (low, high) per field (see MBLNetConfig.BOUNDS).
    BOUNDS = {"width": (1, 256), "n_blocks": (1, 64), "clip": (1, 33), "count_width": (1, 256)}

    def validate(self):
        return _check_bounds(self)


def _check_bounds(cfg):
    """``cfg`` itself when every field is a whole number within ``cfg.BOUNDS``; else one ValueError naming it."""
    for f in fields(cfg):
        v = getattr(cfg, f.name)
        lo, hi = cfg.BOUNDS[f.name]
        if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
            raise ValueError(f"{type(cfg).__name__}.{f.name}: expected a whole number in [{lo}, {hi}], got {v!r}")
    return cfg


def _conv(cin, cout, k=3, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class _ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1):
        super().__init__(_conv(cin, cout, k, stride), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _DoubleConv(nn.Sequential):
    def __init__(self, cin, cout):
        super().__init__(_ConvBNReLU(cin, cout), _ConvBNReLU(cout, cout))


class _ResBlock2d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.body = nn.Sequential(_ConvBNReLU(c, c), _conv(c, c), nn.BatchNorm2d(c))

    def forward(self, x):
        return F.relu(x + self.body(x))


class _Head(nn.Sequential):
    def __init__(self, cin, hidden, cout):
        super().__init__(nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, cout, 1))


class MBLNet(nn.Module):
    """U-Net with two down- and two up-sampling stages, a residual bottleneck and
    three heads (detection, localisation, uncertainty) giving seven maps per pixel.

    With ``space_to_depth = s > 1`` each s x s block of pixels is folded into s*s
    channels before the U-Net and the heads unfold their s*s*k channels back to
    full resolution (pixel shuffle): the output keeps one prediction per pixel
    while the convolutions run on s*s times fewer positions (4x faster on CPU).

    Input ``(B, 1, H, W)`` (H, W any size; padded internally to a multiple of 4).
    Output ``(B, 7, H, W)`` in the order :data:`MBLNET_CHANNELS`: presence logit,
    intensity (>= 0, in units of the frame maximum), sub-pixel offsets dz, dx of
    the bubble from the pixel centre, and the standard deviations of z, x and
    intensity.
    """

    architecture = "mblnet"

    def __init__(self, config: MBLNetConfig | None = None):
        super().__init__()
        cfg = (config or MBLNetConfig()).validate()
        self.config = cfg
        c, s = cfg.width, cfg.space_to_depth
        self.enc0 = _DoubleConv(s * s, c)
        self.enc1 = _DoubleConv(c, 2 * c)
        self.enc2 = _DoubleConv(2 * c, 4 * c)
        self.bottleneck = nn.Sequential(*[_ResBlock2d(4 * c) for _ in range(cfg.n_res)])
        self.up1 = nn.ConvTranspose2d(4 * c, 2 * c, 2, stride=2)
        self.dec1 = _DoubleConv(4 * c, 2 * c)
        self.up0 = nn.ConvTranspose2d(2 * c, c, 2, stride=2)
        self.dec0 = _DoubleConv(2 * c, c)
        self.head_detect = _Head(c, cfg.head_width, s * s)
        self.head_locate = _Head(c, cfg.head_width, 3 * s * s)
        self.head_sigma = _Head(c, cfg.head_width, 3 * s * s)

    def forward(self, x):
        h, w = x.shape[-2:]
        s = self.config.space_to_depth
        ph, pw = (-h) % (4 * s), (-w) % (4 * s)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        if s > 1:
            x = F.pixel_unshuffle(x, s)
        e0 = self.enc0(x)
        e1 = self.enc1(F.max_pool2d(e0, 2))
        e2 = self.bottleneck(self.enc2(F.max_pool2d(e1, 2)))
        d1 = self.dec1(torch.cat([self.up1(e2), e1], 1))
        d0 = self.dec0(torch.cat([self.up0(d1), e0], 1))
        p = self.head_detect(d0)
        loc = self.head_locate(d0)
        sig = self.head_sigma(d0)
        if s > 1:
            p, loc, sig = (F.pixel_shuffle(t, s) for t in (p, loc, sig))
        out = torch.cat(
            [
                p,
                F.softplus(loc[:, :1]),
                OFFSET_RANGE * torch.tanh(loc[:, 1:3]),
                SIGMA_MIN + SIGMA_RANGE * torch.sigmoid(sig),
            ],
            1,
        )
        return out[..., :h, :w]


class _ResBlock3d(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv3d(c, c, 3, padding=1)
        self.act1 = nn.PReLU(c)
        self.conv2 = nn.Conv3d(c, c, 3, padding=1)
        self.act2 = nn.PReLU(c)

    def forward(self, x):
        return self.act2(x + self.conv2(self.act1(self.conv1(x))))


class DML3ResNet(nn.Module):
    """3-D convolutional ResNet over ``clip`` consecutive frames.

    Input ``(B, 1, T, H, W)``; output ``(B, 3, T, H, W)`` in the order
    :data:`DML3_CHANNELS`: presence logit and sub-pixel offsets dz, dx per frame.
    Residual blocks of two 3x3x3 convolutions with PReLU activations.
    """

    architecture = "3dml"

    def __init__(self, config: DML3Config | None = None):
        super().__init__()
        cfg = (config or DML3Config()).validate()
        self.config = cfg
        c = cfg.width
        self.stem = nn.Sequential(nn.Conv3d(1, c, 3, padding=1), nn.PReLU(c))
        self.blocks = nn.Sequential(*[_ResBlock3d(c) for _ in range(cfg.n_blocks)])
        self.out = nn.Conv3d(c, 3, 1)

    def forward(self, x):
        y = self.out(self.blocks(self.stem(x)))
        return torch.cat([y[:, :1], OFFSET_RANGE * torch.tanh(y[:, 1:3])], 1)


class CountNet(nn.Module):
    """Small network predicting the number of bubbles in a frame.

    Predicts a non-negative density on a grid four times coarser than the frame
    and sums it, so the count scales with the frame area and any frame size works.
    Input ``(B, 1, H, W)``; output ``(B,)``.
    """

    def __init__(self, width: int = 8):
        super().__init__()
        c = width
        self.body = nn.Sequential(
            _ConvBNReLU(1, c),
            _ConvBNReLU(c, 2 * c, stride=2),
            _ConvBNReLU(2 * c, 2 * c),
            _ConvBNReLU(2 * c, 2 * c, stride=2),
            _ConvBNReLU(2 * c, 2 * c),
            nn.Conv2d(2 * c, 1, 1),
        )

    def forward(self, x):
        return F.softplus(self.body(x)).sum(dim=(1, 2, 3))


class DML3(nn.Module):
    """3DML-ResNet and its count network, held (and saved) together."""

    architecture = "3dml"

    def __init__(self, config: DML3Config | None = None):
        super().__init__()
        cfg = (config or DML3Config()).validate()
        self.config = cfg
        self.net = DML3ResNet(cfg)
        self.count = CountNet(cfg.count_width)

    def forward(self, clip):
        """``clip (B, 1, T, H, W)`` -> (maps ``(B, 3, T, H, W)``, counts ``(B, T)``)."""
        B, _, T, H, W = clip.shape
        maps = self.net(clip)
        counts = self.count(clip.permute(0, 2, 1, 3, 4).reshape(B * T, 1, H, W)).reshape(B, T)
        return maps, counts


ARCHITECTURES = {"mblnet": (MBLNet, MBLNetConfig), "3dml": (DML3, DML3Config)}


def build_model(architecture: str, config: dict | None = None) -> nn.Module:
    """Build a network by architecture name from a dict of sizes."""
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture: expected one of {sorted(ARCHITECTURES)}, got {architecture!r}")
    cls, _ = ARCHITECTURES[architecture]
    return cls(check_model_config(architecture, config))


def check_model_config(architecture: str, config: dict | None):
    """The validated size dataclass of ``architecture`` from a dict, without building anything.

    Raises one ValueError for an unknown architecture, an unknown field, or a
    value outside the field's bounds (``BOUNDS`` of the dataclass).
    """
    if architecture not in ARCHITECTURES:
        raise ValueError(f"architecture: expected one of {sorted(ARCHITECTURES)}, got {architecture!r}")
    if config is not None and not isinstance(config, dict):
        raise ValueError(f"{architecture} model config: expected an object of sizes, got {type(config).__name__}")
    _, cfg_cls = ARCHITECTURES[architecture]
    config = dict(config or {})
    known = {f.name for f in fields(cfg_cls)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"{architecture} model config: unknown field(s) {unknown}; expected some of {sorted(known)}")
    return cfg_cls(**config).validate()


def model_config(model: nn.Module) -> dict:
    return asdict(model.config)


def grow_state(model: nn.Module, state: dict) -> list:
    """Load the state of a shallower MBL-Net into ``model`` (same sizes but more bottleneck
    residual blocks): the blocks ``state`` holds are copied, each extra block starts as the
    identity (the weight of its last BatchNorm zeroed: its body outputs 0 and the block passes
    its non-negative input through), so the grown network computes what the shallower one did
    and training continues from there. Returns the names of the new blocks' tensors.

    Raises
    ------
    ValueError
        ``model`` is not an MBL-Net, or ``state`` differs in anything but missing trailing
        bottleneck blocks (naming the first offending tensor).
    """
    if not isinstance(model, MBLNet):
        raise ValueError(f"grow_state: only an MBL-Net's bottleneck can grow, not a {type(model).__name__}")
    own = model.state_dict()
    new = [k for k in own if k not in state]
    bad = [k for k in state if k not in own or own[k].shape != state[k].shape]
    bad += [k for k in new if not k.startswith("bottleneck.")]
    if bad:
        raise ValueError(f"grow_state: {bad[0]!r} does not fit (only missing bottleneck blocks can be added)")
    n_old = len({k.split(".")[1] for k in state if k.startswith("bottleneck.")})
    if any(int(k.split(".")[1]) < n_old for k in new):
        raise ValueError("grow_state: the state's bottleneck blocks must be the first ones of the grown network")
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        for block in list(model.bottleneck)[n_old:]:
            block.body[-1].weight.zero_()  # last BatchNorm: the body outputs its bias, 0
    return new


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every BatchNorm that follows a convolution into that convolution (in
    place, eval mode only): same outputs, one pass fewer over the data."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    if model.training:
        raise RuntimeError("fuse_batchnorm: call model.eval() first")
    for mod in model.modules():
        if isinstance(mod, nn.Sequential):
            kids = list(mod._modules.items())
            for (kc, conv), (kb, bn) in zip(kids, kids[1:]):
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    mod._modules[kc] = fuse_conv_bn_eval(conv, bn)
                    mod._modules[kb] = nn.Identity()
    return model
