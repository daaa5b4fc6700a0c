"""Building blocks of CycleULM's bfloat16 inference copies (:mod:`pyulm.nn.cycleulm.precision`; imports torch).

Each computes the same function as the trained layers it replaces, arranged for one CPU thread:

* :func:`pointwise`, :func:`tanh`: element-wise functions on the memory of a channels-last tensor
  seen as a plain NHWC tensor, and bfloat16 tanh through float32 (bit for bit the same values:
  PyTorch's CPU sigmoid takes a ~4x slower path on channels-last tensors, its bfloat16 tanh is ~2x
  slower than float32's);
* :class:`ConvAct`, :func:`conv_add`: a convolution with its ReLU / leaky ReLU, or with the tensor it is
  added to, as one oneDNN call (``torch.ops.mkldnn._convolution_pointwise``, the fused kernel
  torch.compile emits on CPU), so the result is written once; the plain operations where the op is
  missing or the tensor is not bfloat16 on the CPU;
* :class:`SubPixelUp`: bilinear x2 up-sampling + 3x3 convolution + activation (+ a 1x1 head) as one
  convolution at the input's resolution and a pixel shuffle.

Measured on MBT-Net (4 windows of 8 frames of 96 x 96, one thread, AMX): docs/cycleulm.md.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


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


def conv_add(conv: nn.Conv2d, x: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
    """``other + conv(x)`` (in bfloat16 on CPU one call, the sum rounded once)."""
    if not _fusable(conv, x):
        return other + conv(x)
    return _FUSED.binary(x, other, conv.weight, conv.bias, *_geometry(conv), "add", None, None, [], None)


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

    Bilinear x2 up-sampling followed by a 3x3 convolution is linear, so it equals a 3x3 convolution
    of the edge-replicated input with ``4 cout`` outputs (one per output phase) and a pixel
    shuffle; the activation and a 1x1 ``head`` act per pixel, so they run before the shuffle (the
    head as a block-diagonal 1x1 convolution). The one difference is at the outermost output rows
    and columns, where the 3x3 convolution's zero padding falls inside the phase kernels: those are
    recomputed by ``exact`` (the original layers) on two-pixel strips of the input.

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
        k = torch.einsum("ocyx,ayk,bxl->oabckl", w, _BILINEAR, _BILINEAR).reshape(4 * cout, cin, 3, 3)
        sub = nn.Conv2d(cin, 4 * cout, 3)
        sub.weight.data, sub.bias.data = k.float(), b.repeat_interleave(4).float()
        self.sub = ConvAct(sub, act)
        self.tail = None
        if head is not None:  # channel h * 4 + p from channels o * 4 + p (p: the output phase)
            hw, hb = head.weight.data.double()[:, :, 0, 0], head.bias.data.double()
            tail = torch.einsum("ho,pq->hpoq", hw, torch.eye(4, dtype=torch.float64)).reshape(4 * len(hb), 4 * cout)
            self.tail = nn.Conv2d(4 * cout, 4 * len(hb), 1)
            self.tail.weight.data, self.tail.bias.data = tail[..., None, None].float(), hb.repeat_interleave(4).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 2:
            return self.exact(x)
        y = self.sub(F.pad(x, (1, 1, 1, 1), mode="replicate"))
        y = F.pixel_shuffle(self.tail(y) if self.tail is not None else y, 2)
        y[..., :1, :] = self.exact(x[..., :2, :])[..., :1, :]
        y[..., -1:, :] = self.exact(x[..., -2:, :])[..., -1:, :]
        y[..., :, :1] = self.exact(x[..., :, :2])[..., :, :1]
        y[..., :, -1:] = self.exact(x[..., :, -2:])[..., :, -1:]
        return y

