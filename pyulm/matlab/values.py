"""Values between MATLAB and Python: :func:`from_matlab` and :func:`to_matlab`.

MATLAB values arrive in one of two shapes. The ``py`` transport passes what
MATLAB's ``py.*`` makes (memoryviews of column-major arrays, ``array.array``
for row vectors, ``dict`` for structs, Python scalars for 1x1 values, ``str``
for char), usually wrapped by the MATLAB encoder in small tagged dicts that
carry the exact MATLAB size and class. The file transport passes what
:mod:`pyulm.io._mat5` reads from a MAT v5 file (arrays in MATLAB index order,
dicts, object arrays for cells). Both become numpy arrays in MATLAB index order
(never copied unless needed), ``dict``, ``list`` and ``str``; results go back as
plain arrays, dicts and cells (see :func:`to_matlab`).
"""
from __future__ import annotations

import array
import os
import sys

import numpy as np

KIND = "pyulm_kind"  # tag field of the encoded values
TYPE = "pyulm_type"  # marks a struct that stands for a pyulm table


class BridgeError(Exception):
    """A request the bridge cannot serve (unknown function, bad encoding, ...)."""


def _array(data, shape=None, dtype=None) -> np.ndarray:
    """A numpy array in MATLAB index order from a buffer/sequence and a MATLAB size."""
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, (memoryview, array.array, bytes, bytearray, bool, int, float, complex, np.generic,
                           list, tuple)):
        arr = np.asarray(data)  # a zero-copy view of MATLAB's column-major buffer for memoryviews
    else:
        raise BridgeError(f"cannot convert a {type(data).__name__} to an array")
    if dtype is not None and arr.dtype != np.dtype(dtype):
        arr = arr.astype(dtype)
    if shape is not None:
        shape = tuple(int(s) for s in np.asarray(shape, dtype=float).ravel())
        if arr.shape != shape:
            if arr.size != int(np.prod(shape)):
                raise BridgeError(f"array of {arr.size} elements does not fit MATLAB size {list(shape)}")
            arr = arr.reshape(shape, order="F")  # a view for F-contiguous or 1-D input
    return arr


def _numeric(arr: np.ndarray):
    """MATLAB numeric/logical array -> ndarray, or a Python scalar if it is 1x1."""
    if arr.size == 1 and arr.dtype != object:
        return arr.reshape(()).item()
    return arr


def text(v) -> str:
    """A MATLAB char value (``str`` or a char array) as ``str``."""
    if isinstance(v, str):
        return v
    arr = np.asarray(v)
    if arr.dtype.kind == "U":
        return "".join(arr.ravel().tolist())
    if arr.size == 0:
        return ""
    raise BridgeError(f"expected text, got {v!r}")


def _fields(v) -> dict | None:
    """The fields of a struct-like value (dict or scipy mat_struct), else None."""
    if isinstance(v, dict):
        return v
    names = getattr(v, "_fieldnames", None)
    if names is not None:
        return {n: getattr(v, n) for n in names}
    return None


def _items(v) -> list:
    """The items of a cell: an object ndarray (file transport) or a list/tuple (``py.*``)."""
    if isinstance(v, np.ndarray) and v.dtype == object:
        return list(v.ravel(order="F"))
    if isinstance(v, (list, tuple)):
        return list(v)
    return [v]  # a 1x1 cell saved by MATLAB may come back as its only element


def _decode_tagged(d: dict, kind: str):
    if kind == "array":
        return _numeric(_array(d["data"], d.get("shape"), d.get("dtype") and text(d["dtype"])))
    if kind == "complex":
        from .transport import complex_from_parts

        shape = d.get("shape")
        re = _array(np.asarray(from_matlab(d["re"])), shape)  # the parts may be tagged .npy files
        im = _array(np.asarray(from_matlab(d["im"])), shape)
        return _numeric(complex_from_parts(re, im))
    if kind == "npy":
        return _numeric(np.load(text(d["path"]), mmap_mode="r"))
    if kind == "side":
        from .transport import read_side

        return _numeric(read_side(text(d["path"])))
    if kind in ("cell", "structarray"):
        return [from_matlab(x) for x in _items(d.get("items", []))]
    if kind == "empty":
        return None
    raise BridgeError(f"unknown encoded value kind {kind!r}")


def from_matlab(v):
    """Convert one value from MATLAB (either transport) to plain Python/numpy.

    * numeric and logical arrays -> ndarray in MATLAB index order (a view of
      MATLAB's buffer when possible); 1x1 -> ``float``/``int``/``bool``/``complex``;
    * char -> ``str``; cell -> ``list`` (column-major order); struct -> ``dict``;
      struct array -> ``list`` of ``dict``;
    * a struct tagged ``pyulm_type`` (made by :func:`to_matlab`) -> the pyulm table
      (positions 0-based again);
    * tagged dicts ``pyulm_kind`` = ``array`` (data, shape, dtype), ``complex``
      (re, im, shape), ``npy`` (path), ``side`` (path, format: see
      :func:`pyulm.matlab.transport.read_side`), ``cell`` (items), ``empty``.
    """
    if v is None or isinstance(v, (bool, str, int, float, complex)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (memoryview, array.array)):
        return _numeric(_array(v))
    f = _fields(v)
    if f is not None:
        if KIND in f:
            return _decode_tagged(f, text(f[KIND]))
        out = {str(k): param(from_matlab(x)) for k, x in f.items()}
        if TYPE in out:
            from .tables import table_from_matlab

            return table_from_matlab(out)
        return out
    if isinstance(v, (list, tuple)):
        return [from_matlab(x) for x in v]
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "U":
            return text(v)
        if v.dtype == object:
            flat = v.ravel(order="F")
            items = [from_matlab(x) for x in flat]
            # a cell, or a struct array; scipy's loadmat also wraps a scalar
            # struct (mat_struct) in a 1x1 object array
            if flat.size == 1 and not isinstance(flat[0], dict) and _fields(flat[0]) is not None:
                return items[0]
            return items
        if v.dtype.kind in "biufc":
            return _numeric(v)
        raise BridgeError(f"unsupported array type {v.dtype}")
    raise BridgeError(f"cannot convert a {type(v).__name__} from MATLAB")


def param(v):
    """A struct field or option: a MATLAB row vector becomes 1-D, as ``py.*`` passes it."""
    if isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[0] == 1:
        return v.reshape(-1)
    return v


def _plain(obj):
    """Python objects without a MATLAB class of their own -> dict / str (else ``obj``)."""
    if "pyulm.tables" in sys.modules:  # no table exists before its module is imported
        from .tables import table_to_matlab

        table = table_to_matlab(obj)
        if table is not None:
            return table
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if getattr(type(obj), "__dataclass_fields__", None) is not None:  # a dataclass instance
        import dataclasses

        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return dict(obj._asdict())
    return obj


def _array_to_matlab(arr: np.ndarray, tagged: bool):
    if arr.dtype == object:
        return to_matlab(list(arr.ravel()), tagged=tagged)
    if arr.dtype.kind == "U":  # one string -> char row; several -> a cell of char rows
        return "".join(arr.ravel().tolist()) if arr.size <= 1 else to_matlab(arr.tolist(), tagged=tagged)
    if arr.dtype.kind not in "biufc":
        raise TypeError(f"cannot return an array of dtype {arr.dtype} to MATLAB")
    if arr.ndim == 0:
        return to_matlab(arr.item(), tagged=tagged)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.dtype.kind == "f" and arr.dtype.itemsize == 2:
        arr = arr.astype(np.float32)
    if not tagged:
        return arr
    shape = [float(s) for s in arr.shape]
    if arr.dtype.kind == "c":
        return {KIND: "complex", "re": np.asfortranarray(arr.real), "im": np.asfortranarray(arr.imag),
                "shape": shape, "dtype": str(arr.real.dtype)}
    return {KIND: "array", "data": arr, "shape": shape, "dtype": str(arr.dtype)}


def to_matlab(obj, *, tagged: bool = False):
    """Convert a result to values MATLAB understands.

    Numbers and logicals go through :func:`pyulm.io.to_matlab`, the plain
    Python -> MATLAB converter (1x1 of their class, integers as double) for the
    file transport; the ``py`` transport keeps them Python scalars, which
    ``py.*`` converts. On top of it, results take MATLAB's column shapes:
    ndarray -> ndarray (1-D becomes an N x 1 column, as a table's columns);
    list/tuple -> N x 1 cell (as PALA's ``Track_tot``); complex stays complex
    for the file transport, and with ``tagged=True`` every array becomes
    ``{pyulm_kind: 'array'|'complex', data|re+im, shape, dtype}`` so that MATLAB
    can rebuild its class and size whatever its release supports; dict,
    dataclass, named tuple -> struct; tables -> tagged structs (1-based z, x,
    frame); ``None`` -> ``[]``; integers beyond 2**53 stay exact (int64).
    """
    obj = _plain(obj)
    if obj is None:
        return {KIND: "empty"} if tagged else np.zeros((0, 0))
    if not tagged and isinstance(obj, (bool, int, float, complex, np.generic)) and not (
            isinstance(obj, int) and not isinstance(obj, bool) and abs(obj) >= 2**53):
        from ..io import to_matlab as plain_to_matlab

        return plain_to_matlab(obj)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, (bool, str, float)):
        return obj
    if isinstance(obj, int):
        return float(obj) if abs(obj) < 2**53 else obj
    if isinstance(obj, complex):
        return {KIND: "complex", "re": obj.real, "im": obj.imag, "shape": [1.0, 1.0]} if tagged else obj
    if isinstance(obj, dict):
        return {str(k): to_matlab(v, tagged=tagged) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        items = [to_matlab(v, tagged=tagged) for v in obj]
        if tagged:
            return {KIND: "cell", "items": items, "shape": [float(len(items)), 1.0]}
        cell = np.empty((len(items), 1), dtype=object)
        for i, v in enumerate(items):
            cell[i, 0] = v
        return cell
    if isinstance(obj, np.ndarray):
        return _array_to_matlab(obj, tagged)
    raise TypeError(f"cannot return a {type(obj).__name__} to MATLAB")
