"""Reading PALA's ``ULM`` parameter struct from a dict or any attribute object."""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

REQUIRED = object()


def field(ulm, name: str, default=REQUIRED, *, parent: str = "ULM"):
    """``ULM.<name>`` from a dict, a mapping or an object; ValueError if missing without default."""
    if isinstance(ulm, Mapping):
        found = name in ulm
        value = ulm.get(name)
    else:
        found = hasattr(ulm, name)
        value = getattr(ulm, name, None)
    if not found or value is None:
        if default is REQUIRED:
            raise ValueError(f"{parent}.{name}: missing; this field is required")
        return default
    return value


def _numbers(v, name: str, parent: str) -> np.ndarray:
    """``v`` as a flat float array; text, booleans and other non-numbers are refused, naming the field."""
    arr = np.asarray(v)
    if arr.dtype.kind not in "iuf" or np.iscomplexobj(arr):
        raise ValueError(f"{parent}.{name}: expected a number or numbers, got {v!r}")
    return arr.astype(float).ravel()


def scalar(ulm, name: str, default=REQUIRED, *, parent: str = "ULM") -> float:
    v = field(ulm, name, default, parent=parent)
    arr = _numbers(v, name, parent)
    if arr.size != 1:
        raise ValueError(f"{parent}.{name}: expected one number, got {v!r}")
    return float(arr[0])


def vector(ulm, name: str, n: int | None = None, default=REQUIRED, *, parent: str = "ULM") -> np.ndarray:
    v = field(ulm, name, default, parent=parent)
    arr = _numbers(v, name, parent)
    if n is not None and arr.size < n:
        raise ValueError(f"{parent}.{name}: expected at least {n} numbers, got {v!r}")
    return arr


def text(ulm, name: str, default=REQUIRED, *, parent: str = "ULM") -> str:
    v = field(ulm, name, default, parent=parent)
    if isinstance(v, np.ndarray) and v.dtype.kind == "U":
        v = "".join(v.ravel().tolist())
    if not isinstance(v, str):
        raise ValueError(f"{parent}.{name}: expected text, got {v!r}")
    return v
