"""PALA's console lines ("Building 2D ULM image ...", "Was not able to find tracks at ..."), switchable off.

PALA prints progress and warnings with ``disp``/``fprintf``; a script ported
from PALA sees the same lines from :mod:`pyulm.pala`. They are on by default and
go to ``sys.stdout``. Turn them off for the whole process with
``pyulm.pala.verbose(False)``, for a block of code with ``with
pyulm.pala.quiet():``, or for one call with ``ULM.verbose = 0`` (functions that
take a ``ULM`` struct). The Pythonic API (:func:`pyulm.localize`,
:func:`pyulm.track`, :func:`pyulm.render`) never prints.
"""
from __future__ import annotations

import contextlib
import threading

import numpy as np

_lock = threading.Lock()
_state = {"verbose": True}


def verbose(on: bool | None = None) -> bool:
    """Switch PALA's console lines on or off for the process; returns the previous setting.

    ``verbose()`` with no argument only reads the setting.

    Examples
    --------
    >>> import pyulm.pala as pala
    >>> previous = pala.verbose(False)
    >>> pala.verbose(previous)
    False
    """
    with _lock:
        before = _state["verbose"]
        if on is not None:
            if not isinstance(on, (bool, int)) or on not in (0, 1):
                raise ValueError(f"on: expected True or False, got {on!r}")
            _state["verbose"] = bool(on)
    return before


@contextlib.contextmanager
def quiet():
    """Silence PALA's console lines inside a ``with`` block (the previous setting is restored)."""
    before = verbose(False)
    try:
        yield
    finally:
        verbose(before)


def enabled(ulm=None) -> bool:
    """Whether to print: ``ULM.verbose`` when the struct sets it, else the process setting."""
    if ulm is not None:
        from ._ulm import field, scalar

        v = field(ulm, "verbose", None)
        if v is not None:  # MATLAB's true/false arrive as booleans, 0/1 as numbers
            if np.asarray(v).dtype == bool and np.size(v) == 1:
                return bool(np.asarray(v).reshape(()))
            return scalar(ulm, "verbose") != 0
    return _state["verbose"]


def say(line: str, ulm=None) -> None:
    """Print one PALA console line unless switched off."""
    if enabled(ulm):
        print(line, flush=True)
