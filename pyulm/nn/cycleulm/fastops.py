"""Building blocks of CycleULM's bfloat16 inference copies (:mod:`pyulm.nn.cycleulm.precision`; imports torch).

Each computes the same function as the trained layers it replaces, arranged for one CPU thread:

* :func:`pointwise`, :func:`tanh`: element-wise functions on the memory of a channels-last tensor
  seen as a plain NHWC tensor, and bfloat16 tanh through float32 (bit for bit the same values:
  PyTorch's CPU sigmoid takes a ~4x slower path on channels-last tensors, its bfloat16 tanh is ~2x
  slower than float32's);
* :class:`ConvAct`: a convolution with its ReLU / leaky ReLU as one oneDNN call
  (``torch.ops.mkldnn._convolution_pointwise``, the fused kernel torch.compile emits on CPU), so the
  result is written once; the plain operations where the op is missing or the tensor is not bfloat16
  on the CPU;
* :class:`SubPixelUp`: bilinear x2 up-sampling + 3x3 convolution + activation (+ a 1x1 head) as one
  convolution at the input's resolution and a pixel shuffle (phase-major channels, so the shuffle is one
  permuted copy of the channels-last tensor, ~3x faster than ``F.pixel_shuffle`` there);
* :class:`MaxPool`: 2x2 / stride 2 and 4x4 / stride 2 / padding 1 max pooling as maxima of strided views of
  the channels-last tensor (the same values: a maximum is exact; ~3x faster than PyTorch's channels-last
  max pooling of 8-16 channels, whose inner loop runs over the channels alone).

Measured on MBT-Net (4 windows of 8 frames of 96 x 96, one thread, AMX): docs/cycleulm.md.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..vml import warm_up

warm_up()  # a serial first call of torch's vector math (see pyulm.nn.vml)


def pointwise(fn, x: torch.Tensor) -> torch.Tensor:
    """``fn(x)`` for an element-wise ``fn``, computed on the NHWC view of a channels-last ``x`` (same values)."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return fn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    return fn(x)


def tanh(x: torch.Tensor) -> torch.Tensor:
    """``torch.tanh(x)``, bit for bit; for bfloat16 through float32."""
    return x.float().tanh_().to(x.dtype) if x.dtype == torch.bfloat16 else torch.tanh(x)


def _onednn():
    """The fused op, or None where this torch build has no usable oneDNN (then the plain operations run)."""
    if not torch.backends.mkldnn.is_available():
        return None
    try:
        return torch.ops.mkldnn._convolution_pointwise
    except (AttributeError, RuntimeError):
        return None


_FUSED = _onednn()


def _fusable(conv: nn.Conv2d, x: torch.Tensor) -> bool:
    return (_FUSED is not None and x.dtype == torch.bfloat16 and x.device.type == "cpu" and conv.groups == 1
            and conv.padding_mode == "zeros" and isinstance(conv.padding, tuple))


def _geometry(conv: nn.Conv2d):
    return list(conv.padding), list(conv.stride), list(conv.dilation), 1


class ConvAct(nn.Module):
    """``act(conv(x))`` for a trained convolution and ``act`` an ``nn.ReLU`` or ``nn.LeakyReLU``."""

    def __init__(self, conv: nn.Conv2d, act: nn.Module):
        super().__init__()
        if not isinstance(act, (nn.ReLU, nn.LeakyReLU)):
            raise ValueError(f"ConvAct: expected nn.ReLU or nn.LeakyReLU, got {type(act).__name__}")
        self.conv = conv
        self.slope = float(act.negative_slope) if isinstance(act, nn.LeakyReLU) else None

    def activate(self, y: torch.Tensor) -> torch.Tensor:
        return torch.relu_(y) if self.slope is None else F.leaky_relu_(y, self.slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.conv
        if not _fusable(c, x):
            return self.activate(c(x))
        attr, scalars = ("relu", []) if self.slope is None else ("leaky_relu", [self.slope])
        return _FUSED(x, c.weight, c.bias, *_geometry(c), attr, scalars, "")


def fuse_activations(net: nn.Module) -> None:
    """Replace, in place, every ``nn.Sequential`` run conv, [identity (a folded batch norm)], ReLU /
    leaky ReLU by ``ConvAct`` and identities."""
    for mod in net.modules():
        if not isinstance(mod, nn.Sequential):
            continue
        for k in range(len(mod) - 1):
            if not isinstance(mod[k], nn.Conv2d):
                continue
            j = k + 1
            while j < len(mod) - 1 and isinstance(mod[j], nn.Identity):
                j += 1
            if isinstance(mod[j], (nn.ReLU, nn.LeakyReLU)):
                mod[k], mod[j] = ConvAct(mod[k], mod[j]), nn.Identity()


# Bilinear x2 (align_corners=False) along one axis as weights on the input pixels i-1, i, i+1 (edges
# replicated) of the up-sampled pixels 2i+a+d, d = -1, 0, 1, for output phase a = 0, 1: _BILINEAR[a, d, k].
_BILINEAR = torch.tensor([[[.75, .25, 0.], [.25, .75, 0.], [0., .75, .25]],
                          [[.25, .75, 0.], [0., .75, .25], [0., .25, .75]]], dtype=torch.float64)


class SubPixelUp(nn.Module):
    """``head(act(conv(bilinear_x2(x))))`` as one sub-pixel convolution at the input's resolution.

    Bilinear x2 up-sampling followed by a 3x3 convolution is linear, so away from the borders it
    equals a 3x3 convolution of the input with ``4 cout`` outputs (one per output phase) and a
    pixel shuffle; the activation and a 1x1 ``head`` act per pixel, so they run before the shuffle
    (the head as a block-diagonal 1x1 convolution). The two outermost output rows and columns on
    each side, where the bilinear edge rule and the convolution's zero padding differ from the
    sub-pixel convolution's zero padding, are recomputed by ``exact`` (the original layers) on the
    strips of the first two and last two input rows (columns), which they depend on alone.

    Parameters
    ----------
    conv : nn.Conv2d
        The trained 3x3 convolution (batch norm folded), padding 1.
    act : nn.ReLU or nn.LeakyReLU
    exact : callable
        The original layers, ``x -> head(act(conv(bilinear_x2(x))))``.
    head : nn.Conv2d, optional
        A 1x1 convolution after the activation.
    """

    def __init__(self, conv: nn.Conv2d, act: nn.Module, exact, head: nn.Conv2d | None = None):
        super().__init__()
        if conv.kernel_size != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1) or conv.groups != 1:
            raise ValueError("SubPixelUp: expected a 3x3 convolution with padding 1, stride 1")
        self.exact = exact
        w = conv.weight.data.double()
        b = conv.bias.data.double() if conv.bias is not None else torch.zeros(w.shape[0], dtype=torch.float64)
        cout, cin = w.shape[:2]
        # phase-major channels: p * cout + o for output phase p = 2 a + b (a: row, b: column)
        k = torch.einsum("ocyx,ayk,bxl->abockl", w, _BILINEAR, _BILINEAR).reshape(4 * cout, cin, 3, 3)
        sub = nn.Conv2d(cin, 4 * cout, 3, padding=1)
        sub.weight.data, sub.bias.data = k.float(), b.repeat(4).float()
        self.sub = ConvAct(sub, act)
        self.tail, self.cout = None, cout
        if head is not None:  # channel p * nh + h from channels p * cout + o (block diagonal over the phases)
            hw, hb = head.weight.data.double()[:, :, 0, 0], head.bias.data.double()
            tail = torch.einsum("ho,pq->phqo", hw, torch.eye(4, dtype=torch.float64)).reshape(4 * len(hb), 4 * cout)
            self.tail = nn.Conv2d(4 * cout, 4 * len(hb), 1)
            self.tail.weight.data, self.tail.bias.data = tail[..., None, None].float(), hb.repeat(4).float()
            self.cout = len(hb)

    #: return float32 in channels-first order (a network's last layer: one compiled pass instead of the
    #: shuffle and a conversion; :func:`pyulm.nn.cycleulm.layout_numba.shuffle_float`), where numba can
    float_out = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 2:
            return self.exact(x)
        y = self.phases(x)
        if self.float_out:
            from . import layout_numba

            if layout_numba.usable(y):
                y = layout_numba.shuffle_float(y, self.cout)
                self.fix_edges(x, y)
                return y
        y = _shuffle(y, self.cout)
        self.fix_edges(x, y)
        return y

    def phases(self, x: torch.Tensor) -> torch.Tensor:
        """The sub-pixel convolution's output before the shuffle: (n, 4 cout, h, w), phase-major channels
        (exact away from the two outermost output rows and columns; :meth:`fix_edges` writes those)."""
        y = self.sub(x)
        return self.tail(y) if self.tail is not None else y

    def fix_edges(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Write the two outermost rows and columns of the output ``y`` (n, cout, 2h, 2w), in place, from the
        original layers (``x``: the input, h and w >= 2)."""
        # output rows 0 and 1 depend on the first two input rows only (the last two on the last two), so
        # one call on the 4-row strip [first two, last two] gives all four (the rows between are not used)
        e = self.exact(torch.cat([x[..., :2, :], x[..., -2:, :]], 2))
        y[..., :2, :], y[..., -2:, :] = e[..., :2, :], e[..., -2:, :]
        e = self.exact(torch.cat([x[..., :2], x[..., -2:]], 3))
        y[..., :2], y[..., -2:] = e[..., :2], e[..., -2:]



def _shuffle(y: torch.Tensor, c: int) -> torch.Tensor:
    """Pixel shuffle x2 of phase-major channels (``p * c + o``, phase ``p = 2 a + b``): (n, 4c, h, w) ->
    (n, c, 2h, 2w), channels-last (one permuted copy of the NHWC memory, inner runs of 2c values)."""
    n, _, h, w = y.shape
    v = y.permute(0, 2, 3, 1).reshape(n, h, w, 2, 2 * c).transpose(2, 3)  # (n, h, a, w, (b, o))
    return v.reshape(n, 2 * h, 2 * w, c).permute(0, 3, 1, 2)


def _max2(v: torch.Tensor) -> torch.Tensor:
    """2x2 / stride 2 maximum of an NHWC tensor with even h and w."""
    n, h, w, c = v.shape
    v = v.reshape(n, h // 2, 2, w // 2, 2, c)
    a = torch.maximum(v[:, :, :, :, 0], v[:, :, :, :, 1])  # (n, h/2, 2, w/2, c)
    return torch.maximum(a[:, :, 0], a[:, :, 1])


class MaxPool(nn.Module):
    """``nn.MaxPool2d`` of kernel 2 / stride 2 or kernel 4 / stride 2 / padding 1, computed on the NHWC
    memory of a channels-last tensor as maxima of strided views (the same values, ties and all).

    The 4x4 window ``x[2i-1 .. 2i+2]`` is the union of the 2x2 / stride 2 windows ``i`` and ``i + 1`` of
    the input padded by one ``-inf`` on each side. Other tensors (channels-first, odd sizes) go to
    ``F.max_pool2d``.
    """

    def __init__(self, kernel_size: int, stride: int, padding: int = 0):
        super().__init__()
        if (kernel_size, stride, padding) not in ((2, 2, 0), (4, 2, 1)):
            raise ValueError(f"MaxPool: expected kernel/stride/padding (2, 2, 0) or (4, 2, 1), got "
                             f"{(kernel_size, stride, padding)}")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    @classmethod
    def from_module(cls, m: nn.MaxPool2d) -> "MaxPool":
        one = lambda v: v if isinstance(v, int) else v[0] if len(set(v)) == 1 else -1  # noqa: E731
        if m.dilation not in (1, (1, 1)) or m.ceil_mode or m.return_indices:
            raise ValueError("MaxPool: dilation, ceil_mode and return_indices are not supported")
        return cls(one(m.kernel_size), one(m.stride if m.stride is not None else m.kernel_size), one(m.padding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if (x.dim() != 4 or h % 2 or w % 2 or not x.is_contiguous(memory_format=torch.channels_last)
                or x.is_contiguous()):
            return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)
        v = x.permute(0, 2, 3, 1)
        if self.kernel_size == 2:
            return _max2(v).permute(0, 3, 1, 2)
        a = _max2(F.pad(v, (0, 0, 1, 1, 1, 1), value=float("-inf")))  # (n, h/2 + 1, w/2 + 1, c)
        b = torch.maximum(a[:, :-1], a[:, 1:])
        return torch.maximum(b[:, :, :-1], b[:, :, 1:]).permute(0, 3, 1, 2)
