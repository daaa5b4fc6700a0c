"""MBT-Net (CycleULM's Microbubble Trajectory Network): a U-Net with ConvLSTM blocks (imports torch).

Architecture (paper, Methods "MBT-Net details"; sizes are :class:`MBTNetConfig`)::

    8 MB-only frames (B, T=8, H, W), each frame through the same encoder:
      enc1: 2 x (3x3 conv + ReLU), 1 -> c1          (H, W)       --> ConvLSTM skip1 (c1)
      pool 2x2 / enc2: 2 x (3x3 conv + ReLU) -> c2  (H/2, W/2)   --> ConvLSTM skip2 (c2)
      pool 2x2 ---------------------------------------------------> ConvLSTM bottleneck (c3)
    decoder on the last hidden state of each ConvLSTM:
      up1: bilinear x2 + 3x3 conv (c3 -> c2), concat skip2, 3x3 conv -> c2      (H/2, W/2)
      up2: bilinear x2 + 3x3 conv (c2 -> c1), concat skip1, 3x3 conv -> c1      (H, W)
      x4 : two more (bilinear x2 + 3x3 conv -> cu) layers                      (4H, 4W)
      head: 1x1 conv -> 3 maps: trajectory logit, v_z, v_x

The three ConvLSTM blocks replace the two skip connections and the bottleneck, as the
paper says; each runs over the 8 frames and passes its last hidden state on. Outputs are
on the x4 grid: output pixel ``j`` is centred on input position ``(j - 1) / 4`` (0-based
pixels), so it is PALA's super-resolution pixel ``j + 2`` (0-based) at ``res = 4``
(:func:`pyulm.nn.cycleulm.e2e.e2e_maps`). Velocities are in input pixels per frame.
H and W must be multiples of 4 (inference pads, :func:`pyulm.nn.cycleulm.mbtnet_infer.predict`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from . import gates_numba
from .fastops import pointwise, tanh
from ..vml import warm_up

warm_up()  # a serial first call of torch's vector math (see pyulm.nn.vml)

ARCHITECTURE = "mbtnet"
UPSAMPLE = 4  # output grid refinement (two extra x2 up-sampling layers)
DIVISOR = 4  # input sizes must be multiples of this (two 2x2 poolings)


@dataclass(frozen=True)
class MBTNetConfig:
    """Network sizes (channels); ``frames`` is the temporal context (the paper's 8)."""

    frames: int = 8
    c1: int = 12
    c2: int = 24
    c3: int = 48
    cu: int = 12

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            lo, hi = (2, 64) if f.name == "frames" else (1, 256)
            if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
                raise ValueError(f"mbtnet [network] {f.name}: expected a whole number in [{lo}, {hi}], got {v!r}")

    @classmethod
    def from_dict(cls, d) -> "MBTNetConfig":
        if d is None:
            return cls()
        if not isinstance(d, dict):
            raise ValueError(f"mbtnet [network]: expected a table, got {type(d).__name__}")
        bad = sorted(set(d) - {f.name for f in fields(cls)})
        if bad:
            raise ValueError(f"mbtnet [network]: unknown field(s) {bad}; expected some of "
                             f"{[f.name for f in fields(cls)]}")
        return cls(**d)


def _conv(cin, cout, k=3):
    return nn.Conv2d(cin, cout, k, padding=k // 2)


def _conv_bn(cin, cout):
    """3x3 conv + batch norm + ReLU: batch norm (running statistics at inference, so the
    network stays translation-equivariant on whole frames) makes the velocity maps
    trainable within the CPU budget; without it they stayed at zero for the first
    hundreds of steps."""
    return nn.Sequential(_conv(cin, cout), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ConvLSTM(nn.Module):
    """One ConvLSTM layer (Shi et al. 2015): gates from a 3x3 conv over [input, hidden].

    ``forward(x)`` with x (B, T, C, H, W) returns the last hidden state (B, hidden, H, W).
    """

    def __init__(self, cin: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        self.gates = _conv(cin + hidden, 4 * hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, _, h, w = x.shape
        hid = x.new_zeros(b, self.hidden, h, w)
        cell = x.new_zeros(b, self.hidden, h, w)
        for k in range(t):
            i, f, o, g = self.gates(torch.cat([x[:, k], hid], 1)).chunk(4, 1)
            cell = torch.sigmoid(f) * cell + torch.sigmoid(i) * torch.tanh(g)
            hid = torch.sigmoid(o) * torch.tanh(cell)
        return hid


class FastConvLSTM(nn.Module):
    """The same function as a trained :class:`ConvLSTM`, arranged for fast inference (bf16 copies).

    The gate convolution over ``[x_k, h]`` is split by output: the sigmoid gates (i, f, o) and the
    tanh gate are separate convolutions, so each nonlinearity runs on a whole tensor rather than a
    strided channel slice (slow in channels-last bfloat16); at the first step, where ``h`` is zero,
    only the ``x_k`` half of the weights runs. Each step reads its frame's input while it is in cache
    (one convolution over ``[x_k, h]``, the sum rounded once: measured ~20 % faster per ConvLSTM than
    the input halves batched over all frames and the hidden halves added with a fused convolution).

    On bfloat16 CPU tensors with numba installed (:data:`pyulm.nn.cycleulm.gates_numba.AVAILABLE`),
    and no gradient needed, each step is instead one convolution for all four gates and the gate
    chain one compiled pass (:func:`pyulm.nn.cycleulm.gates_numba.lstm_step`: cell state kept in
    float32, ``h`` rounded to bfloat16 once; closer to the float32 network than the eager chain,
    which rounds every intermediate to bfloat16; MBT-Net's forward ~30 % faster). Without numba,
    or with ``fused = False``, the eager chain above runs: the same function, slower.
    """

    def __init__(self, cin: int, hidden: int):
        super().__init__()
        self.hidden = hidden
        # [i f o g] over x_k alone (the first step, h = 0) and over [x_k, h]: the eager chain below
        # convolves with the sigmoid rows and the tanh rows of these weights as two views
        self.x_gates, self.xh_gates = _conv(cin, 4 * hidden), _conv(cin + hidden, 4 * hidden)
        #: run the gate chain compiled (gates_numba) where it can (bf16 on the CPU, numba installed)
        self.fused = gates_numba.AVAILABLE

    @classmethod
    def from_convlstm(cls, m: ConvLSTM) -> "FastConvLSTM":
        hd, w, b = m.hidden, m.gates.weight.data, m.gates.bias.data
        cin = w.shape[1] - hd
        f = cls(cin, hd).to(w.device)
        f.x_gates.weight.data, f.x_gates.bias.data = w[:, :cin].clone(), b.clone()
        f.xh_gates.weight.data, f.xh_gates.bias.data = w.clone(), b.clone()
        return f

    def _fusable(self, x: torch.Tensor) -> bool:
        return (self.fused and gates_numba.AVAILABLE and x.dtype == torch.bfloat16 and x.device.type == "cpu"
                and not (torch.is_grad_enabled() and (x.requires_grad or self.xh_gates.weight.requires_grad)))

    def forward(self, x: torch.Tensor, time_major: bool = False) -> torch.Tensor:
        """The last hidden state of ``x`` (B, T, C, H, W), or (T, B, C, H, W) with ``time_major`` (then
        each step's input is contiguous)."""
        if not time_major:
            x = x.transpose(0, 1)
        hid = cell = None
        if self._fusable(x):  # each step's output is the next step's [x_k, h] (the concatenation in the same pass)
            xh = None
            for k in range(len(x)):
                g = self.x_gates(x[k]) if xh is None else self.xh_gates(xh)
                xh, cell = gates_numba.lstm_step(g.contiguous(memory_format=torch.channels_last), cell,
                                                 x[k + 1] if k + 1 < len(x) else None)
            return xh
        n3 = 3 * self.hidden
        for xk in x:
            if hid is None:  # h = 0: the input half of the weights alone
                conv, inp = self.x_gates, xk
            else:
                conv, inp = self.xh_gates, torch.cat([xk, hid], 1)
            w, b = conv.weight, conv.bias  # rows [:3h] sigmoid gates, [3h:] tanh gate: views, no copy
            sg, tg = F.conv2d(inp, w[:n3], b[:n3], padding=1), F.conv2d(inp, w[n3:], b[n3:], padding=1)
            i, f, o = pointwise(torch.sigmoid, sg).chunk(3, 1)
            cell = i * tanh(tg) if cell is None else f * cell + i * tanh(tg)
            hid = o * tanh(cell)
        return hid


class Up(nn.Module):
    """Bilinear x2 up-sampling followed by a 3x3 conv + ReLU (the paper's up-sampling layer)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = _conv_bn(cin, cout)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False))


def _double(cin, cout):
    return nn.Sequential(_conv_bn(cin, cout), _conv_bn(cout, cout))


class MBTNet(nn.Module):
    """MBT-Net: (B, T, H, W) MB-only frames -> (B, 3, 4H, 4W): trajectory logit, v_z, v_x.

    Examples
    --------
    >>> net = MBTNet(MBTNetConfig(c1=2, c2=2, c3=2, cu=2))
    >>> tuple(net(torch.zeros(1, 8, 8, 12)).shape)
    (1, 3, 32, 48)
    """

    architecture = ARCHITECTURE
    #: inference copies (pyulm.nn.cycleulm.precision) set this: the frames run through the encoder in
    #: time-major order (t, b), so the FastConvLSTM steps read contiguous memory; same values
    time_major = False

    def __init__(self, cfg: MBTNetConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or MBTNetConfig()
        self.enc1 = _double(1, cfg.c1)
        self.enc2 = _double(cfg.c1, cfg.c2)
        self.pool = nn.MaxPool2d(2)  # no parameters: a module so that inference copies can replace it
        self.skip1 = ConvLSTM(cfg.c1, cfg.c1)
        self.skip2 = ConvLSTM(cfg.c2, cfg.c2)
        self.bottleneck = ConvLSTM(cfg.c2, cfg.c3)
        self.up1 = Up(cfg.c3, cfg.c2)
        self.fuse1 = _conv_bn(2 * cfg.c2, cfg.c2)
        self.up2 = Up(cfg.c2, cfg.c1)
        self.fuse2 = _conv_bn(2 * cfg.c1, cfg.c1)
        self.sr1 = Up(cfg.c1, cfg.cu)
        self.sr2 = Up(cfg.cu, cfg.cu)
        self.head = nn.Conv2d(cfg.cu, 3, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        b, t, h, w = frames.shape
        if t != self.cfg.frames or h % DIVISOR or w % DIVISOR:
            raise ValueError(f"mbtnet: expected (B, {self.cfg.frames}, H, W) with H, W multiples of {DIVISOR}, "
                             f"got {tuple(frames.shape)}")
        tm = self.time_major
        x = (frames.transpose(0, 1) if tm else frames).reshape(b * t, 1, h, w)
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        e3 = self.pool(e2)
        if tm:
            seq = lambda a: a.reshape(t, b, *a.shape[1:])  # noqa: E731
            s1, s2, bott = (m(seq(e), time_major=True) for m, e in ((self.skip1, e1), (self.skip2, e2),
                                                                     (self.bottleneck, e3)))
        else:
            seq = lambda a: a.reshape(b, t, *a.shape[1:])  # noqa: E731
            s1, s2, bott = self.skip1(seq(e1)), self.skip2(seq(e2)), self.bottleneck(seq(e3))
        d = self.fuse1(torch.cat([self.up1(bott), s2], 1))
        d = self.fuse2(torch.cat([self.up2(d), s1], 1))
        return self.head(self.sr2(self.sr1(d)))


def build(sizes=None) -> MBTNet:
    """An MBT-Net of the given sizes (a dict of :class:`MBTNetConfig` fields; bounds checked)."""
    return MBTNet(MBTNetConfig.from_dict(sizes))


def sizes(model: MBTNet) -> dict:
    return asdict(model.cfg)
