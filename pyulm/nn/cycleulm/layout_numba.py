"""Memory-bound layout steps of CycleULM's bfloat16 inference copies in one compiled pass each (numba).

PyTorch runs each of these as several passes over small tensors (:mod:`pyulm.nn.cycleulm.precision`);
each function here only moves values, or computes them exactly as the eager form does, so the results
are bit for bit the same (tested against the eager forms):

* :func:`shuffle_cat`: MB-DT's decoder input ``torch.cat([pixel_shuffle(y), skip], 1)`` (the sub-pixel
  convolution's phase-major output and the encoder's skip written straight into the merge
  convolution's input; eager: a permuted copy with inner runs of 2c values, then a concatenation):
  1.21 -> 0.57 ms per 16 frames of 96 x 96;
* :func:`shuffle_float`: MBT-Net's last pixel shuffle written as float32 in plain order (the network
  output; eager: a permuted bfloat16 copy, then a conversion): 1.01 -> 0.43 ms per 4 windows;
* :func:`windows_bf16`: MBT-Net's input, float32 frames clipped at 0, divided by each frame's maximum,
  copied into the windows and rounded to bfloat16 (eager: five NumPy passes and a conversion):
  0.81 -> 0.53 ms per 4 windows (one thread, this AMX CPU).

Deterministic, single-threaded. numba is optional (the ``nn`` extra; :data:`AVAILABLE`), as for
:mod:`pyulm.nn.cycleulm.gates_numba`, whose compile settings and bit conversions this module reuses
(``cache=True``). A compiled max pooling was measured too and not kept: 0.78-1.08 ms vs the eager
0.96 ms at 16 x 8 x 96 x 96, slower at MBT-Net's sizes (docs/cycleulm_mbtnet.md).
"""
from __future__ import annotations

import numpy as np

from . import gates_numba

#: whether the compiled kernels are available (numba importable)
AVAILABLE = gates_numba.AVAILABLE

if AVAILABLE:
    import numba as _nb

    from .gates_numba import from_bf16, JIT_OPTIONS, to_bf16

    @_nb.njit(**JIT_OPTIONS)
    def _shuffle_cat_kernel(y, skip, out):
        # y (N, h, w, 4c) phase-major (p c + o, p = 2a + b); skip (N, 2h, 2w, cs); out (N, 2h, 2w, c + cs)
        n, h, w, c4 = y.shape
        c = c4 // 4
        cs = skip.shape[3]
        for b in range(n):
            for r in range(2 * h):
                i, a = r // 2, r % 2
                for q in range(2 * w):
                    j, bb = q // 2, q % 2
                    src = np.uint64((2 * a + bb) * c)
                    for o in range(c):
                        out[b, r, q, o] = y[b, i, j, src + np.uint64(o)]
                    for o in range(cs):
                        out[b, r, q, np.uint64(c) + np.uint64(o)] = skip[b, r, q, o]

    @_nb.njit(**JIT_OPTIONS)
    def _shuffle_float_kernel(y, out):
        # y (N, h, w, 4c) bfloat16 bits, phase-major; out (N, c, 2h, 2w) float32: rows written contiguously
        n, h, w, c4 = y.shape
        c = c4 // 4
        for b in range(n):
            for i in range(h):
                yrow = y[b, i]
                for a in range(2):
                    for o in range(c):
                        orow = out[b, o, 2 * i + a]
                        s0, s1 = np.uint64(2 * a * c + o), np.uint64((2 * a + 1) * c + o)
                        for j in range(w):
                            orow[2 * j] = from_bf16(yrow[j, s0])
                            orow[2 * j + 1] = from_bf16(yrow[j, s1])

    # no fastmath: the quotient must be IEEE float32 division (fastmath may use a reciprocal)
    @_nb.njit(cache=True, boundscheck=False, error_model="numpy")
    def _windows_kernel(fr, starts, out):
        # fr (Z, X, F) float32 frames; starts (n,) window starts into F; out (n, Zp, Xp, T) bfloat16 bits,
        # zero beyond (Z, X): out[w, z, x, k] = bf16(max(fr[z, x, s_w + k], 0) / frame maximum)
        nz, nx, nf = fr.shape
        peak = np.zeros(nf, np.float32)
        for z in range(nz):
            for x in range(nx):
                for t in range(nf):
                    v = fr[z, x, t]
                    if v > peak[t]:
                        peak[t] = v
        for t in range(nf):
            if not peak[t] > 0:
                peak[t] = np.float32(1.0)
        q = np.empty(nf, np.float32)
        out[:] = 0
        for z in range(nz):
            for x in range(nx):
                for t in range(nf):
                    v = fr[z, x, t]
                    q[t] = (v if v > 0 else np.float32(0.0)) / peak[t]
                for w in range(starts.size):
                    s = starts[w]
                    for k in range(out.shape[3]):
                        out[w, z, x, k] = to_bf16(q[s + k])


def _nhwc_bits(t):
    """The uint16 (N, H, W, C) NumPy view of a channels-last bfloat16 (N, C, H, W) tensor's memory."""
    import torch
    return t.detach().permute(0, 2, 3, 1).view(torch.int16).numpy().view(np.uint16)


def usable(x) -> bool:
    """Whether the kernels take ``x``: numba installed, a 4-D channels-last bfloat16 CPU tensor, no gradient."""
    import torch
    return (AVAILABLE and x.dim() == 4 and x.dtype == torch.bfloat16 and x.device.type == "cpu"
            and x.is_contiguous(memory_format=torch.channels_last)
            and not (torch.is_grad_enabled() and x.requires_grad))


def shuffle_cat(y, skip, c: int):
    """``torch.cat([_shuffle(y, c), skip], 1)``: the pixel shuffle x2 of phase-major channels (channel
    ``p c + o`` of ``y`` is output phase ``p = 2 a + b``, row offset ``a``, column offset ``b``) followed by
    ``skip``'s channels, in one pass. ``y`` (N, 4c, h, w) and ``skip`` (N, cs, 2h, 2w): channels-last
    bfloat16 (:func:`usable`). Returns channels-last bfloat16 (N, c + cs, 2h, 2w)."""
    import torch
    n, c4, h, w = y.shape
    if (c4 != 4 * c or not usable(y) or not usable(skip) or skip.shape[0] != n
            or tuple(skip.shape[2:]) != (2 * h, 2 * w)):
        raise ValueError(f"shuffle_cat: expected channels-last bfloat16 y (N, 4 x {c}, h, w) and skip (N, cs, 2h, 2w); "
                         f"got {y.dtype} {tuple(y.shape)} and {skip.dtype} {tuple(skip.shape)}")
    out = torch.empty((n, c + skip.shape[1], 2 * h, 2 * w), dtype=torch.bfloat16, memory_format=torch.channels_last)
    _shuffle_cat_kernel(_nhwc_bits(y), _nhwc_bits(skip), _nhwc_bits(out))
    return out


def shuffle_float(y, c: int):
    """``_shuffle(y, c).float().contiguous()``: the pixel shuffle x2 of phase-major channels as a float32
    (N, c, 2h, 2w) tensor in plain (channels-first) order, in one pass; ``y``: channels-last bfloat16
    (N, 4c, h, w) (:func:`usable`). The same values (bfloat16 to float32 is exact)."""
    import torch
    n, c4, h, w = y.shape
    if c4 != 4 * c or not usable(y):
        raise ValueError(f"shuffle_float: expected a channels-last bfloat16 y (N, 4 x {c}, h, w); got {y.dtype} "
                         f"{tuple(y.shape)}")
    out = torch.empty((n, c, 2 * h, 2 * w), dtype=torch.float32)
    _shuffle_float_kernel(_nhwc_bits(y), out.numpy())
    return out


def windows_bf16(frames, starts, frames_per_window: int, padded_shape):
    """MBT-Net's bfloat16 channels-last input for windows of float32 MB-only frames, in one pass.

    ``frames`` (Z, X, F) float32; window ``w`` holds frames ``starts[w] .. starts[w] + frames_per_window - 1``,
    each clipped at 0 and divided by its maximum in float32 (frames without signal stay 0), rounded to
    bfloat16 (to nearest even), zero-padded to ``padded_shape`` (Zp, Xp): the values of
    :func:`pyulm.nn.cycleulm.mbtnet_infer` normalising in float32, copying and rounding with torch, bit for
    bit. Returns a (n, frames_per_window, Zp, Xp) bfloat16 tensor, channels-last."""
    import torch
    fr = np.asarray(frames)
    st = np.asarray(starts, dtype=np.int64)
    zp, xp = padded_shape
    if (not AVAILABLE or fr.dtype != np.float32 or fr.ndim != 3 or zp < fr.shape[0] or xp < fr.shape[1]
            or st.size == 0 or st.min() < 0 or st.max() + frames_per_window > fr.shape[2]):
        raise ValueError(f"windows_bf16: expected float32 (Z, X, F) frames covering every window and a padded "
                         f"shape >= (Z, X); got {fr.dtype} {fr.shape}, starts {st.tolist()}, padded {padded_shape}")
    out = torch.empty((st.size, frames_per_window, zp, xp), dtype=torch.bfloat16, memory_format=torch.channels_last)
    _windows_kernel(fr, st, _nhwc_bits(out))
    return out
