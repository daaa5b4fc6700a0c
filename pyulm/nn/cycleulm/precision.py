"""Arithmetic of CycleULM's inference (MB-DT's translate step, MBT-Net's windows): ``precision``.

* ``"fp32"`` (the default): the trained networks as they are, float32 throughout. The
  reference: its outputs are those of every earlier pyulm release.
* ``"bf16"``: an inference copy of the network, made once per loaded model: batch norms folded
  into the convolutions before them (eval mode: an affine map per channel), every weight in
  bfloat16, tensors in channels-last order, and (:mod:`pyulm.nn.cycleulm.fastops`):

  - MBT-Net's ConvLSTM gates computed by :class:`pyulm.nn.cycleulm.mbtnet_model.FastConvLSTM`
    (sigmoid and tanh gates as separate convolutions over ``[x_k, h]`` so the nonlinearities run
    on whole tensors, the ``x_k`` half alone at the first step), the frames in time-major order;
    with numba installed, one convolution for all four gates and the gate chain as one compiled
    pass (:mod:`pyulm.nn.cycleulm.gates_numba`: float32 cell state, ``h`` rounded to bfloat16 once);
  - the bilinear x2 up-sampling + 3x3 convolution layers of both networks (MBT-Net's two x4
    layers, its last one with the 1x1 head; MB-DT's two decoder layers) as sub-pixel
    convolutions at the input's resolution and a pixel shuffle (``SubPixelUp``); with numba, MB-DT's
    shuffle and skip concatenation, and MBT-Net's last shuffle with its float32 output, are one
    compiled pass each (:mod:`pyulm.nn.cycleulm.layout_numba`; the same values);
  - max pooling as maxima of strided channels-last views (``MaxPool``, the same values);
  - every convolution + (leaky) ReLU as one fused oneDNN call (``ConvAct``).

  On CPUs with AMX / AVX-512 BF16 the convolutions run on the bfloat16 units; the outputs come
  back as float32. Deterministic (same input, same output); the small rounding differences
  against fp32 and what they change downstream are measured in docs/cycleulm.md.

Why not ``torch.autocast``: autocast re-casts every weight at every call and leaves the
nonlinearities on strided channel slices in bfloat16, which this CPU runs slower than the
convolutions they follow (measured: MBT-Net 185 ms fp32, 140-154 ms under autocast, ~100 ms
with this copy, 4 windows of 8 frames of 96 x 96, one thread).

There is no "auto": whether bfloat16 is faster depends on the CPU (without AMX / AVX-512 BF16
it is emulated and slower), and it changes results slightly, so it is the caller's choice.
"""
from __future__ import annotations

import copy
import weakref

from ..options import PRECISIONS, check_precision  # one option, one check, for every network of pyulm

__all__ = ["PRECISIONS", "check_precision", "inference_net", "as_input"]

_copies: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # network -> its bf16 inference copy


def inference_net(net, precision: str):
    """The network to run at ``precision``: ``net`` itself for fp32, else its bf16 inference copy
    (made once per network object and kept while ``net`` lives; ``net`` is never modified)."""
    if check_precision(precision) == "fp32":
        return net
    if net in _copies:
        return _copies[net]
    import torch
    from torch import nn

    from ..models import fuse_batchnorm
    from .fastops import MaxPool, SubPixelUp, fuse_activations
    from .mbdt_model import DecoderUp
    from .mbtnet_model import ConvLSTM, FastConvLSTM, MBTNet

    fast = fuse_batchnorm(copy.deepcopy(net).eval())
    if isinstance(fast, MBTNet):  # the last up-sampling layer and the 1x1 head: one sub-pixel convolution
        # (the only one that pays: it alone avoids a 4H x 4W intermediate; on the others the pixel
        # shuffle costs what the bilinear up-sampling did)
        sr2 = fast.sr2.conv
        fast.sr2 = SubPixelUp(sr2[0], sr2[2], nn.Sequential(fast.sr2, fast.head), head=fast.head)
        fast.head = nn.Identity()
        fast.sr2.float_out = True  # the network's output as float32 straight from the shuffle (same values)
        sr1 = fast.sr1.conv
        fast.sr1 = SubPixelUp(sr1[0], sr1[2], fast.sr1)
        fast.time_major = True
    for mod in list(fast.modules()):
        if isinstance(mod, DecoderUp):  # MB-DT's bilinear x2 + convolution: a sub-pixel convolution and a shuffle
            mod.fast = SubPixelUp(mod.up[0], mod.up[1], mod.up_x2)
        for name, child in list(mod.named_children()):
            if isinstance(child, ConvLSTM):
                setattr(mod, name, FastConvLSTM.from_convlstm(child))
            elif isinstance(child, nn.MaxPool2d):
                setattr(mod, name, MaxPool.from_module(child))
    fuse_activations(fast)
    fast = fast.to(torch.bfloat16).to(memory_format=torch.channels_last)
    for p in fast.parameters():
        p.requires_grad_(False)
    fast.source = getattr(net, "source", None)
    if isinstance(fast, nn.Module):
        _copies[net] = fast
    return fast


def as_input(x, precision: str):
    """A float32 (n, c, h, w) tensor as the input of :func:`inference_net`'s network at ``precision``."""
    import torch

    if precision == "fp32":
        return x
    return x.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
