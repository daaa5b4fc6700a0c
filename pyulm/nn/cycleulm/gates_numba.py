"""MBT-Net's ConvLSTM gate chain in one compiled pass (numba): the bfloat16 inference copy's fast path.

One ConvLSTM step after its gate convolution is, per element (i, f, o, g the gate pre-activations)::

    c = sigmoid(f) * c + sigmoid(i) * tanh(g)        (c = sigmoid(i) * tanh(g) at the first step)
    h = sigmoid(o) * tanh(c)

Eager PyTorch runs this as about ten separate passes over the bfloat16 tensors (each rounding to
bfloat16); :func:`lstm_step` runs it as one loop over the gate tensor's memory, reading the
bfloat16 bits directly (float32 = bits << 16), keeping the cell state in float32 and writing ``h``
as bfloat16 rounded to nearest even, directly into the next step's convolution input ``[x_next, h]``.
Measured on MBT-Net's bf16 copy (4 windows of 8 frames of 96 x 96, one thread, this AMX CPU): the
forward 57-60 -> 38.6-40 ms (docs/cycleulm_mbtnet.md, "Speed").

Why numba: LLVM compiles the loop to AVX vector code; TorchScript's fuser needs an LLVM-enabled
torch build (not the CPU wheel), ``torch.compile`` costs ~80 s on the first call, and eager
arrangements were all at the same floor (measured, docs). numba is optional (the ``nn`` extra):
where it is missing, :class:`pyulm.nn.cycleulm.mbtnet_model.FastConvLSTM` runs the eager chain,
the same function (performance only; :data:`AVAILABLE` says which).

tanh is a rational approximation (odd degree-13 over even degree-6 polynomial, the coefficients
of Eigen's ``generic_fast_tanh_float``; |x| clamped to 7.905, where tanh is 1 to float32
precision) because scalar ``math.exp``/``tanh`` do not vectorise without Intel's SVML; sigmoid is
``0.5 + 0.5 tanh(x / 2)``. Maximum absolute error against float64 over [-30, 30]: tanh 2.9e-7,
sigmoid 1.8e-7 (bfloat16's resolution near 1 is 3.9e-3; tests/test_cycleulm_fastops.py).
Compiled with ``fastmath`` (contractions, no NaN/inf handling: the inputs are finite, checked
upstream), single-threaded and deterministic. ``cache=True``: the compiled code is stored in
``__pycache__`` next to this file, or numba's per-user cache directory where that is not writable
(``NUMBA_CACHE_DIR`` overrides), so only the first process on a machine compiles (~1.4 s for both
kernels); later processes load them (~0.25 s at the first call, numba's own setup).
"""
from __future__ import annotations

import numpy as np

try:  # optional: the eager chain runs without it
    import numba as _nb
    from llvmlite import ir as _ir
    from numba.core import types as _types
    from numba.extending import intrinsic as _intrinsic
except ImportError:  # pragma: no cover - exercised where numba is not installed
    _nb = None

#: whether the compiled gate chain is available (numba importable)
AVAILABLE = _nb is not None

# tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= _CLAMP (Eigen's generic_fast_tanh_float coefficients)
_P = tuple(np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05,
                                   5.12229709037114e-08, -8.60467152213735e-11, 2.00018790482477e-13,
                                   -2.76076847742355e-16))
_Q = tuple(np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04,
                                   1.19825839466702e-06))
_CLAMP = np.float32(7.90531110763549805)
_HALF = np.float32(0.5)


if AVAILABLE:
    _A1, _A3, _A5, _A7, _A9, _A11, _A13 = _P
    _B0, _B2, _B4, _B6 = _Q
    #: numba options of every kernel here and in layout_numba: fastmath, and error_model="numpy" (no
    #: ZeroDivisionError branch on "/", which would stop LLVM vectorising the loop); compiled once, cached
    JIT_OPTIONS = dict(fastmath=True, cache=True, boundscheck=False, error_model="numpy")

    @_intrinsic
    def _as_f32(typingctx, u):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], _ir.FloatType())
        return _types.float32(_types.uint32), codegen

    @_intrinsic
    def _as_u32(typingctx, x):
        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], _ir.IntType(32))
        return _types.uint32(_types.float32), codegen

    @_nb.njit(inline="always", **JIT_OPTIONS)
    def from_bf16(u):
        """float32 of bfloat16 bits (exact)."""
        return _as_f32(np.uint32(u) << np.uint32(16))

    @_nb.njit(inline="always", **JIT_OPTIONS)
    def to_bf16(x):
        """bfloat16 bits of a float32, rounded to nearest even."""
        u = _as_u32(x)  # round to nearest even (finite x)
        return np.uint16((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16))

    @_nb.njit(inline="always", **JIT_OPTIONS)
    def _tanh(x):
        x = _CLAMP if x > _CLAMP else x
        x = -_CLAMP if x < -_CLAMP else x
        x2 = x * x
        p = x2 * _A13 + _A11
        p = x2 * p + _A9
        p = x2 * p + _A7
        p = x2 * p + _A5
        p = x2 * p + _A3
        p = x2 * p + _A1
        q = x2 * _B6 + _B4
        q = x2 * q + _B2
        q = x2 * q + _B0
        return x * p / q

    @_nb.njit(inline="always", **JIT_OPTIONS)
    def _sigmoid(x):
        return _HALF + _HALF * _tanh(_HALF * x)

    @_nb.njit(**JIT_OPTIONS)
    def _tanh_kernel(x, out):
        for k in range(x.shape[0]):
            out[k] = _tanh(x[k])

    @_intrinsic
    def _prefer_512_bit(typingctx):
        # LLVM's function attributes for 512-bit vectors in the calling function: numba's default target
        # (this CPU's tuning) prefers 256-bit vectors, 1.4x slower here for rows of >= 16 channels; for 8
        # channels 256 bits are faster (a 16-lane loop over 8 values runs its scalar remainder)
        def codegen(context, builder, sig, args):
            for a in ('"prefer-vector-width"="512"', '"min-legal-vector-width"="512"'):
                set.add(builder.function.attributes, a)  # llvmlite's add() knows enum attributes only
            return context.get_dummy_value()
        return _types.none(), codegen

    @_nb.njit(inline="always", **JIT_OPTIONS)
    def _step(gates, cell, out, x_next, first):
        # gates (P, 4 hd) bfloat16 bits, [i f o g] per pixel; cell (P, hd) float32, updated; x_next (P, cin)
        # bits; out (P, cin + hd) bits: [x_next, h] per pixel, the next step's convolution input (no torch.cat).
        # Unsigned column offsets: a signed index gets a negative-index select that stops vectorisation.
        n, hd = cell.shape
        cin = np.uint64(x_next.shape[1])
        for p in range(n):
            for c in range(x_next.shape[1]):
                out[p, c] = x_next[p, c]
            for c in range(hd):
                ig = _sigmoid(from_bf16(gates[p, c])) * _tanh(from_bf16(gates[p, 3 * hd + c]))
                cc = ig if first else _sigmoid(from_bf16(gates[p, hd + c])) * cell[p, c] + ig
                cell[p, c] = cc
                out[p, cin + np.uint64(c)] = to_bf16(_sigmoid(from_bf16(gates[p, 2 * hd + c])) * _tanh(cc))

    @_nb.njit(**JIT_OPTIONS)
    def _step_kernel(gates, cell, out, x_next, first):
        _step(gates, cell, out, x_next, first)

    @_nb.njit(**JIT_OPTIONS)
    def _step_kernel_512(gates, cell, out, x_next, first):
        _prefer_512_bit()
        _step(gates, cell, out, x_next, first)


def _require():
    if not AVAILABLE:
        raise ModuleNotFoundError("pyulm.nn.cycleulm.gates_numba: numba is not installed "
                                  "(pip install numba, or the pyulm[nn] extra)")


def tanh_approx(x: np.ndarray) -> np.ndarray:
    """The compiled tanh approximation of a 1-D float32 array (for checks; float32 out)."""
    _require()
    x = np.ascontiguousarray(x, dtype=np.float32).ravel()
    out = np.empty_like(x)
    _tanh_kernel(x, out)
    return out


def _bits(t):
    """The uint16 (P, C) NumPy view of a channels-last bfloat16 (N, C, H, W) tensor's memory."""
    import torch
    n, c, h, w = t.shape
    return t.detach().permute(0, 2, 3, 1).reshape(n * h * w, c).view(torch.int16).numpy().view(np.uint16)


def lstm_step(gates, cell: np.ndarray | None, x_next=None):
    """One ConvLSTM gate chain: the hidden state (after ``x_next``, if given) and the updated cell state.

    Parameters
    ----------
    gates : torch.Tensor
        The gate pre-activations, bfloat16 (N, 4 hd, H, W), channels-last contiguous, channels
        in the order [i, f, o, g] (:class:`pyulm.nn.cycleulm.mbtnet_model.ConvLSTM`'s).
    cell : numpy.ndarray or None
        The float32 cell state (N H W, hd) from the previous step, updated in place; None at the
        first step (zero cell state: a new one is returned).
    x_next : torch.Tensor, optional
        The next step's input, bfloat16 (N, cin, H, W) channels-last: then ``torch.cat([x_next, h], 1)``
        is returned (the next gate convolution's input), written in the same pass.

    Returns
    -------
    hid : torch.Tensor
        bfloat16 (N, hd, H, W), or (N, cin + hd, H, W) ``[x_next, h]``; channels-last.
    cell : numpy.ndarray
        float32 (N H W, hd), the cell state after this step.
    """
    _require()
    import torch

    n, c4, h, w = gates.shape
    if gates.dtype != torch.bfloat16 or c4 % 4 or not gates.is_contiguous(memory_format=torch.channels_last):
        raise ValueError(f"lstm_step: expected channels-last bfloat16 gates (N, 4 hd, H, W), got {gates.dtype} "
                         f"{tuple(gates.shape)}")
    hd = c4 // 4
    first = cell is None
    if first:
        cell = np.empty((n * h * w, hd), np.float32)
    elif cell.shape != (n * h * w, hd) or cell.dtype != np.float32:
        raise ValueError(f"lstm_step: expected a float32 cell state of shape {(n * h * w, hd)}, got "
                         f"{cell.dtype} {cell.shape}")
    if x_next is None:
        x_next = gates.new_empty((n, 0, h, w))
    elif x_next.dtype != torch.bfloat16 or x_next.dim() != 4 or x_next.shape[0] != n or x_next.shape[2:] != (h, w):
        raise ValueError(f"lstm_step: expected a bfloat16 x_next of shape (N={n}, cin, {h}, {w}), got "
                         f"{x_next.dtype} {tuple(x_next.shape)}")
    out = torch.empty((n, x_next.shape[1] + hd, h, w), dtype=torch.bfloat16, memory_format=torch.channels_last)
    kernel = _step_kernel_512 if hd >= 16 else _step_kernel  # a fixed choice per size: deterministic
    kernel(_bits(gates), cell, _bits(out), _bits(x_next), first)
    return out, cell
