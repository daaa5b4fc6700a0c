"""A serial first call of each of PyTorch's CPU vector-math functions, made when a network module is imported.

PyTorch's CPU wheels (2.13 here, with oneMKL 2024.2) compute contiguous float unary functions (tanh,
exp, sin, sqrt, log, ...) through MKL's vector math, which picks each function's kernel lazily, on
that function's first call. When the first call runs on several threads at once (a large tensor: one
share per thread), one thread can run a low-accuracy kernel for its share of that one call: a known
race, pytorch/pytorch#188792 (open; oneMKL >= 2025.0 no longer shows it; the proposed fix, PR
#188791, warms each function up the same way as here). Here MBL-Net's tanh offsets came out 3.9e-5
from the true tanh (normally 3e-8), so the same frames gave sub-pixel positions 1.1e-5 px apart
between two calls in one process. Found by a CI failure (tests/test_cycleulm_curves.py, a default run
against the permissive run filtered to it); reproduced here in about one test process in five with
``OMP_NUM_THREADS=16`` after the suite's first files (tanh, sin or exp), not by a contiguous input nor
``MKL_NUM_THREADS=1``. With a serial first call beforehand: 0 of 30 for the test.

:func:`warm_up` calls each function once on a few elements (one thread), in float32 and float64;
every module that defines a network calls it when imported (once per process).
"""
from __future__ import annotations

import threading

import torch

#: unary functions ATen may route to MKL's vector math (each has its own lazily chosen kernel)
FUNCTIONS = ("acos", "asin", "atan", "cos", "cosh", "erf", "erfc", "erfinv", "exp", "expm1", "lgamma", "log",
             "log10", "log1p", "log2", "rsqrt", "sin", "sinh", "sqrt", "tan", "tanh")

_done = False
_lock = threading.Lock()  # two threads importing two network modules at once must not race either


def warm_up() -> None:
    """Call every function of :data:`FUNCTIONS` once on a few elements, float32 and float64 (one thread);
    later calls return at once."""
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        for dtype in (torch.float32, torch.float64):
            # 0.5: inside every function's domain; the CPU even where a default device is set
            x = torch.full((8,), 0.5, dtype=dtype, device="cpu")
            for name in FUNCTIONS:
                getattr(torch, name)(x)
        _done = True
