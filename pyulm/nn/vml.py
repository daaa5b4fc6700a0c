"""A serial first call of PyTorch's CPU vector-math functions, made when a network module is imported.

PyTorch's CPU build (2.13, MKL) computes tanh, sin, exp, ... through vector-math routines that are
set up on their first call in the process. When that first call ran on several threads at once (a
large tensor: one share per thread), one thread's share now and then came out less accurate: MBL-Net's
tanh offsets were 3.9e-5 away from the true tanh (normally 3e-8), so the same frames gave sub-pixel
positions 1.1e-5 px apart between two calls in one process. Found by a CI failure
(tests/test_cycleulm_curves.py, a default run against the permissive run filtered to it); reproduced
here in about one test process in five with ``OMP_NUM_THREADS=16`` after the suite's first files, with
tanh, sin or exp, whatever the tensor's layout, ``MKL_NUM_THREADS=1`` too. A first call on a few
elements (one thread) beforehand: 0 of 16 such processes (tanh, sin), 0 of 25 for the test.

Every module that defines a network calls :func:`warm_up` when it is imported (once per process).
"""
from __future__ import annotations

import torch

_done = False


def warm_up() -> None:
    """Call the vector-math functions once on a few elements (one thread); later calls return at once."""
    global _done
    if not _done:
        x = torch.zeros(8)
        for f in (torch.tanh, torch.exp, torch.sin):
            f(x)
        _done = True
