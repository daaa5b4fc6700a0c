"""The Python side of the MATLAB/Octave wrappers in ``matlab_interop/``.

Every wrapper call goes through :func:`call`, in one of two transports:

* ``py``: MATLAB's ``py.*`` interface calls ``pyulm.matlab_bridge.call(...)``
  directly. Arguments arrive as MATLAB passes them (memoryviews of column-major
  arrays, ``array.array`` for row vectors, ``dict`` for structs, Python scalars
  for 1x1 values, ``str`` for char), usually wrapped by the MATLAB encoder in
  small tagged dicts that carry the exact MATLAB shape and class (see
  :func:`from_matlab`).
* ``file``: ``python -m pyulm.matlab_bridge REQUEST.mat RESPONSE.mat``. The
  request and the response are uncompressed MAT v5 (``-v6``) files. Numeric
  arrays of 1 MiB or more travel in *side files* beside them, one array per
  file, referenced from the envelope (see :func:`read_side`/:func:`write_side`:
  an uncompressed MAT v5 file, or Octave's own binary format where that is what
  Octave reads and writes fastest); arrays above 2 GB travel as
  Fortran-ordered ``.npy`` files.

This module owns all conversion, so the MATLAB side stays thin: inputs become
numpy arrays (MATLAB index order, never copied unless needed), ``dict``,
``list`` and ``str``; results become plain arrays, dicts and lists (track lists
become cell arrays), in MATLAB's 1-based conventions. Errors never escape as
Python exceptions: the response carries the exception's type and message, and
the MATLAB side raises ``pyulm:Python:<ExceptionType>``.

Only the functions in :data:`FUNCTIONS` (and public functions of
``pyulm.metrics``) can be called. Importing this module is cheap (numpy only);
scipy and the pyulm modules are imported on first use.
"""
from __future__ import annotations

import array
import importlib
import inspect  # numpy imports it anyway
import mmap
import os
import sys

import numpy as np

from .io import _mat5
from ._version import __version__

if __name__ == "__main__":
    # Run as ``python -m pyulm.matlab_bridge``: functions listed under
    # "pyulm.matlab_bridge" resolve to this module instead of a second copy.
    sys.modules.setdefault("pyulm.matlab_bridge", sys.modules[__name__])

PROTOCOL = 1
#: Variables at or above this many bytes travel as .npy files (MAT v5 limit: 2**31 bytes).
NPY_THRESHOLD = 2**31 - 1024
KIND = "pyulm_kind"  # tag field of the encoded values; see from_matlab / to_matlab
TYPE = "pyulm_type"  # marks a struct that stands for a pyulm table

#: name -> (module, attribute). A new Python entry point for MATLAB is one line here
#: plus one small .m file in matlab_interop/+pyulm/.
FUNCTIONS = {
    "info": ("pyulm.matlab_bridge", "info"),
    "available_methods": ("pyulm.localization", "available_methods"),
    "SVDfilter": ("pyulm.pala", "SVDfilter"),
    "ULM_localization2D": ("pyulm.pala", "ULM_localization2D"),
    "ULM_tracking2D": ("pyulm.pala", "ULM_tracking2D"),
    "ULM_Track2MatOut": ("pyulm.pala", "ULM_Track2MatOut"),
    "localize": ("pyulm.localization", "localize"),
    "track": ("pyulm.matlab_bridge", "track"),
    "render": ("pyulm.render", "render"),
    "read": ("pyulm.matlab_bridge", "read_acquisition"),
    "process": ("pyulm.matlab_bridge", "process"),
    "echo": ("pyulm.matlab_bridge", "echo"),
    "transport_probe": ("pyulm.matlab_bridge", "transport_probe"),
    "svd_filter": ("pyulm.filtering", "svd_filter"),
    "butter_coefficients": ("pyulm.filtering", "butter_coefficients"),
    "butter_bandpass": ("pyulm.filtering", "butter_bandpass"),
    "filter_block": ("pyulm.filtering", "filter_block"),
}


class BridgeError(Exception):
    """A request the bridge cannot serve (unknown function, bad encoding, ...)."""


class VersionMismatch(Exception):
    """The MATLAB wrapper and the Python package are different pyulm versions."""


# ---------------------------------------------------------------------------
# MATLAB -> Python
# ---------------------------------------------------------------------------
_INT_KINDS = "iu"


def _scalar(a: np.ndarray):
    v = a.reshape(()).item()
    return v


def _array(data, shape=None, dtype=None) -> np.ndarray:
    """A numpy array in MATLAB index order from a buffer/sequence and a MATLAB shape."""
    if isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, (memoryview, array.array, bytes, bytearray)):
        arr = np.asarray(data)  # zero-copy view of MATLAB's column-major buffer
    elif isinstance(data, (bool, int, float, complex, np.generic)):
        arr = np.asarray(data)
    elif isinstance(data, (list, tuple)):
        arr = np.asarray(data)
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
        return _scalar(arr)
    return arr


def _text(v) -> str:
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


def _unwrap_cell(v) -> np.ndarray:
    """loadmat gives a cell as an object ndarray; py.* gives a list/tuple."""
    if isinstance(v, np.ndarray) and v.dtype == object:
        return v
    if isinstance(v, (list, tuple)):
        out = np.empty(len(v), dtype=object)
        for i, item in enumerate(v):
            out[i] = item
        return out
    # a 1x1 cell saved by MATLAB may come back as its only element
    out = np.empty(1, dtype=object)
    out[0] = v
    return out


def _decode_tagged(d: dict, kind: str):
    if kind == "array":
        return _numeric(_array(d["data"], d.get("shape"), d.get("dtype") and _text(d["dtype"])))
    if kind == "complex":
        shape = d.get("shape")
        re, im = d["re"], d["im"]
        re = _array(np.asarray(from_matlab(re)), shape)  # the parts may be tagged .npy files
        im = _array(np.asarray(from_matlab(im)), shape)
        ctype = np.complex64 if re.dtype == np.float32 else np.complex128
        return _numeric(_complex_from_parts(re, im, ctype))
    if kind == "npy":
        arr = np.load(_text(d["path"]), mmap_mode="r")
        return _numeric(arr)
    if kind == "side":
        return _numeric(read_side(_text(d["path"])))
    if kind == "cell":
        items = [from_matlab(x) for x in _unwrap_cell(d.get("items", [])).ravel(order="F")]
        return items
    if kind == "empty":
        return None
    if kind == "structarray":
        return [from_matlab(x) for x in _unwrap_cell(d.get("items", [])).ravel(order="F")]
    raise BridgeError(f"unknown encoded value kind {kind!r}")


def from_matlab(v):
    """Convert one value from MATLAB (either transport) to plain Python/numpy.

    * numeric and logical arrays -> ndarray in MATLAB index order (a view of
      MATLAB's buffer when possible); 1x1 -> ``float``/``int``/``bool``/``complex``;
    * char -> ``str``; cell -> ``list`` (column-major order); struct -> ``dict``;
      struct array -> ``list`` of ``dict``;
    * a struct tagged ``pyulm_type`` (made by :func:`to_matlab`) -> the pyulm table;
    * tagged dicts ``pyulm_kind`` = ``array`` (data, shape, dtype), ``complex``
      (re, im, shape), ``npy`` (path), ``side`` (path, format: see
      :func:`read_side`), ``cell`` (items), ``empty``.
    """
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, (int, float, complex)):
        return v
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (memoryview, array.array)):
        return _numeric(_array(v))
    f = _fields(v)
    if f is not None:
        if KIND in f:
            return _decode_tagged(f, _text(f[KIND]))
        out = {str(k): _param(from_matlab(x)) for k, x in f.items()}
        if TYPE in out:
            return _table_from_matlab(out)
        return out
    if isinstance(v, (list, tuple)):
        return [from_matlab(x) for x in v]
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "U":
            return _text(v)
        if v.dtype == object:
            flat = v.ravel(order="F")
            items = [from_matlab(x) for x in flat]
            # a cell, or a struct array; scipy's loadmat also wraps a scalar
            # struct (mat_struct) in a 1x1 object array
            if flat.size == 1 and not isinstance(flat[0], dict) and _fields(flat[0]) is not None:
                return items[0]
            return items  # cell or struct array
        if v.dtype.kind in "biufc":
            return _numeric(v)
        raise BridgeError(f"unsupported array type {v.dtype}")
    raise BridgeError(f"cannot convert a {type(v).__name__} from MATLAB")


def _param(v):
    """A struct field or option: a MATLAB row vector becomes 1-D, as py.* passes it."""
    if isinstance(v, np.ndarray) and v.ndim == 2 and v.shape[0] == 1:
        return v.reshape(-1)
    return v


def _meta_from_matlab(m):
    from .tables import Metadata

    if not isinstance(m, dict):
        return Metadata()
    fr = m.get("frame_rate")
    fr = None if fr is None or (isinstance(fr, float) and np.isnan(fr)) or np.size(fr) == 0 else float(np.asarray(fr).ravel()[0])
    return Metadata(
        pixel_size=tuple(np.asarray(m.get("pixel_size", (1.0, 1.0)), float).ravel()[:2]),
        origin=tuple(np.asarray(m.get("origin", (0.0, 0.0)), float).ravel()[:2]),
        frame_rate=fr,
        unit=str(m.get("unit", "pixel")),
        params=m.get("params") if isinstance(m.get("params"), dict) else {},
    )


def _col(v) -> np.ndarray:
    return np.atleast_1d(np.asarray(v)).ravel(order="F")


def _table_from_matlab(d: dict):
    """A struct made by :func:`to_matlab` for a table -> the pyulm table (0-based again)."""
    from .tables import Localizations, Tracks

    kind = _text(d[TYPE])
    meta = _meta_from_matlab(d.get("meta"))
    if kind == "Localizations":
        cols = {k: _col(v) for k, v in d.items() if k not in (TYPE, "meta")}
        for k in ("z", "x", "frame"):
            if k not in cols:
                raise ValueError(f"Localizations struct: missing field {k!r}")
        extra = {k: v for k, v in cols.items() if k not in ("z", "x", "frame", "intensity")}
        return Localizations(z=cols["z"] - 1.0, x=cols["x"] - 1.0, frame=np.round(cols["frame"]).astype(np.int64) - 1,
                             intensity=cols.get("intensity"), extra=extra, meta=meta)
    if kind == "Tracks":
        columns = d.get("columns", ["z", "x", "frame"])
        columns = [columns] if isinstance(columns, str) else [str(c) for c in columns]
        tracks = d.get("tracks", [])
        tracks = [tracks] if isinstance(tracks, np.ndarray) else list(tracks)
        arrays = []
        for i, t in enumerate(tracks):
            a = np.array(np.atleast_2d(np.asarray(t, dtype=float)))
            if a.shape[1] != len(columns) and a.shape[0] == len(columns) and a.shape[1] == 1:
                a = a.T
            for j, c in enumerate(columns):
                if c in _ONE_BASED and j < a.shape[1]:
                    a[:, j] -= 1.0
            arrays.append(a)
        return Tracks.from_list(arrays, columns=columns, meta=meta)
    raise ValueError(f"{TYPE}: unknown pyulm table type {kind!r}")


# ---------------------------------------------------------------------------
# Python -> MATLAB
# ---------------------------------------------------------------------------
_ONE_BASED = ("z", "x", "frame")


def _meta_to_matlab(meta) -> dict:
    return {
        "pixel_size": np.asarray(meta.pixel_size, float).reshape(1, -1),
        "origin": np.asarray(meta.origin, float).reshape(1, -1),
        "frame_rate": np.nan if meta.frame_rate is None else float(meta.frame_rate),
        "unit": str(meta.unit),
    }


def _table_to_matlab(obj):
    if "pyulm.tables" not in sys.modules:  # no table exists before its module is imported
        return None
    from .tables import Localizations, Tracks

    if isinstance(obj, Localizations):
        d = {TYPE: "Localizations"}
        for name in obj.columns:
            col = np.asarray(obj[name])
            if name in _ONE_BASED:
                col = col.astype(float) + 1.0
            d[name] = col.reshape(-1, 1)
        d["meta"] = _meta_to_matlab(obj.meta)
        return d
    if isinstance(obj, Tracks):
        shift = np.array([1.0 if c in _ONE_BASED else 0.0 for c in obj.columns])
        pts = np.asarray(obj.points, dtype=float) + shift
        tracks = [pts[obj.offsets[k]:obj.offsets[k + 1]] for k in range(len(obj))]
        return {TYPE: "Tracks", "tracks": tracks, "columns": list(obj.columns), "meta": _meta_to_matlab(obj.meta)}
    return None


def to_matlab(obj, *, tagged: bool = False):
    """Convert a result to values MATLAB understands.

    ndarray -> ndarray (1-D becomes an N x 1 column); complex stays complex for the
    file transport, and with ``tagged=True`` (the ``py`` transport) every array
    becomes ``{pyulm_kind: 'array'|'complex', data|re+im, shape, dtype}`` so that
    MATLAB can rebuild its class and shape whatever its release supports;
    list/tuple -> cell (N x 1); dict -> struct; tables -> tagged structs
    (1-based z, x, frame); ``None`` -> ``[]``; numpy scalars -> Python scalars.
    """
    table = _table_to_matlab(obj)
    if table is not None:
        return to_matlab(table, tagged=tagged)
    if obj is None:
        return {KIND: "empty"} if tagged else np.zeros((0, 0))
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, (bool, str, float)):
        return obj
    if isinstance(obj, int):
        return float(obj) if abs(obj) < 2**53 else obj
    if isinstance(obj, complex):
        return {KIND: "complex", "re": obj.real, "im": obj.imag, "shape": [1.0, 1.0]} if tagged else obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if getattr(type(obj), "__dataclass_fields__", None) is not None:  # a dataclass instance
        import dataclasses

        return to_matlab({f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}, tagged=tagged)
    if isinstance(obj, tuple) and hasattr(obj, "_asdict"):
        return to_matlab(dict(obj._asdict()), tagged=tagged)
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
        arr = obj
        if arr.dtype == object:
            return to_matlab(list(arr.ravel()), tagged=tagged)
        if arr.dtype.kind == "U":  # one string -> char row; several -> a cell of char rows
            if arr.size <= 1:
                return "".join(arr.ravel().tolist())
            return to_matlab(arr.tolist(), tagged=tagged)
        if arr.dtype.kind not in "biufc":
            raise TypeError(f"cannot return an array of dtype {arr.dtype} to MATLAB")
        if arr.ndim == 0:
            return to_matlab(arr.item(), tagged=tagged)
        if arr.ndim == 1:
            arr = arr.reshape(-1, 1)
        if arr.dtype.kind == "f" and arr.dtype.itemsize == 2:
            arr = arr.astype(np.float32)
        if tagged:
            shape = [float(s) for s in arr.shape]
            if arr.dtype.kind == "c":
                return {KIND: "complex", "re": np.asfortranarray(arr.real), "im": np.asfortranarray(arr.imag),
                        "shape": shape, "dtype": str(arr.real.dtype)}
            return {KIND: "array", "data": arr, "shape": shape, "dtype": str(arr.dtype)}
        return arr
    raise TypeError(f"cannot return a {type(obj).__name__} to MATLAB")


# ---------------------------------------------------------------------------
# The call
# ---------------------------------------------------------------------------
def info() -> dict:
    """Versions and paths, for ``pyulm.setup`` and ``pyulm.doctor``."""
    return {
        "pyulm_version": __version__,
        "python_version": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "numpy_version": np.__version__,
        "protocol": float(PROTOCOL),
    }


def read_acquisition(path, variable=None, *, buffer=None, frames=None) -> dict:
    """``pyulm.read`` for MATLAB: ``{IQ, info}`` from a PALA block or a Verasonics file.

    ``frames`` is MATLAB's 1-based inclusive ``[first last]`` (default: all).
    """
    import pyulm.io as io

    info = io.inspect(path, variable, buffer=None if buffer is None else int(buffer))
    start, stop = 0, None
    if frames is not None:
        f = np.asarray(frames, dtype=float).ravel()
        if f.size != 2 or f[0] < 1 or f[1] < f[0] or f[1] > info.n_frames or np.any(f != np.round(f)):
            raise ValueError(f"frames: expected [first last] with 1 <= first <= last <= {info.n_frames}, got {f.tolist()}")
        start, stop = int(f[0]) - 1, int(f[1])
    iq = io.read_frames(info, start, stop)
    meta = {k: getattr(info, k) for k in ("format", "layout", "variable", "shape", "dtype", "pixel_size", "origin",
                                          "center_frequency_mhz", "speed_of_sound", "notes")}
    meta["path"] = str(info.path)
    meta["buffer"] = info.buffer
    meta["frame_rate"] = np.nan if info.frame_rate is None else float(info.frame_rate)
    meta["wavelength_mm"] = np.nan if info.wavelength_mm is None else float(info.wavelength_mm)
    meta["shape"] = np.asarray(info.shape, float).reshape(1, -1)
    meta["pixel_size"] = np.asarray(info.pixel_size, float).reshape(1, -1)
    meta["origin"] = np.asarray(info.origin, float).reshape(1, -1)
    meta["notes"] = [str(n) for n in info.notes]
    return {"IQ": iq, "info": meta}


def echo(*args):
    """Return the arguments unchanged: shows how MATLAB values arrive and come back."""
    return tuple(args)


def transport_probe(*args, make=None, dtype="complex64", nargout=1):
    """One direction of the transport, for benchmarks/bench_matlab_transport.py.

    Without ``make``: the total bytes of the arrays received (MATLAB -> Python;
    the result is one number). With ``make`` (a MATLAB size): a new array of that
    size and ``dtype``, every element written (Python -> MATLAB), and, as a
    second output, the seconds spent making it (the function's own work, which
    the benchmark does not count as transport).
    """
    if make is not None:
        import time

        t0 = time.perf_counter()
        shape = tuple(int(n) for n in np.asarray(make, dtype=float).ravel())
        out = np.empty(shape, dtype=np.dtype(str(dtype)), order="F")
        out.fill(1 + 2j if out.dtype.kind == "c" else 1)
        made = time.perf_counter() - t0
        return (out, made) if nargout >= 2 else out
    return float(sum(a.nbytes for a in args if isinstance(a, np.ndarray)))


def process(source, ULM=None, **options):
    """``pyulm.process`` for MATLAB.

    An IQ block (numeric) runs :func:`pyulm.pipeline.process_frames` with PALA's
    ``ULM`` struct (plus ``frame_rate``, ``SVD_cutoff``, ``ButterCuttofFreq``) and
    returns its BlockResult as a struct; a file name or a cell of file names
    runs :func:`pyulm.pipeline.run` (options ``out_dir``, ``workers``, ...) and
    returns its summary.
    """
    from . import pipeline

    if isinstance(source, np.ndarray) and source.dtype.kind in "biufc":
        if not isinstance(ULM, dict):
            raise ValueError("ULM: processing an IQ block needs PALA's ULM struct as second argument")
        return pipeline.process_frames(source, ULM, **options)
    inputs = [source] if isinstance(source, str) else source
    if not isinstance(inputs, list) or not inputs or not all(isinstance(p, str) for p in inputs):
        raise ValueError("source: expected an IQ block, a file name or a cell array of file names")
    if ULM is not None:
        raise ValueError("ULM: give the processing parameters of files with the 'cfg' option (a pyulm config)")
    options.setdefault("progress", False)
    return pipeline.run(inputs, **options)


def track(locs, **options):
    """``pyulm.track`` for MATLAB: also takes PALA's MatTracking ``[intensity z x frame]`` (1-based)."""
    from .tables import Localizations
    from .tracking import track as _track

    if isinstance(locs, np.ndarray):
        m = np.atleast_2d(np.asarray(locs, dtype=float))
        if m.ndim != 2 or m.shape[1] < 4:
            raise ValueError(f"locs: expected a Localizations struct or an N x 4 MatTracking [intensity z x frame], "
                             f"got shape {m.shape}")
        locs = Localizations(z=m[:, 1] - 1, x=m[:, 2] - 1, frame=np.round(m[:, 3]).astype(np.int64) - 1,
                             intensity=m[:, 0])
    return _track(locs, **options)


def resolve(name: str):
    """The whitelisted Python callable for a MATLAB-side function name."""
    if not isinstance(name, str):
        raise BridgeError(f"function name: expected text, got {name!r}")
    if name.startswith("metrics."):
        mod = importlib.import_module("pyulm.metrics")
        attr = name.split(".", 1)[1]
        public = getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")])
        if attr not in public or not callable(getattr(mod, attr, None)):
            raise BridgeError(f"pyulm.metrics has no public function {attr!r}; available: {', '.join(sorted(public))}")
        return getattr(mod, attr)
    if name not in FUNCTIONS:
        raise BridgeError(f"unknown function {name!r}; the MATLAB bridge serves: {', '.join(sorted(FUNCTIONS))}")
    module, attr = FUNCTIONS[name]
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            raise BridgeError(f"{name}: this pyulm installation has no {module} module (pyulm {__version__})") from exc
        raise
    if not hasattr(mod, attr):
        raise BridgeError(f"{name}: {module} has no function {attr!r} in pyulm {__version__}")
    return getattr(mod, attr)


def _accepts_nargout(func) -> bool:
    try:
        return "nargout" in inspect.signature(func).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return False


def call_python(name: str, args=(), kwargs=None, nargout: int = 1) -> list:
    """Run one whitelisted function on converted arguments; return its outputs as a list."""
    func = resolve(name)
    args = [from_matlab(a) for a in (args or [])]
    kw = from_matlab(kwargs) if kwargs is not None else {}
    if isinstance(kw, dict):
        kw = {k: _param(v) for k, v in kw.items()}
    if kw is None or (isinstance(kw, list) and not kw):
        kw = {}
    if not isinstance(kw, dict):
        raise BridgeError(f"keyword arguments: expected a struct, got {type(kw).__name__}")
    nargout = int(nargout)
    if _accepts_nargout(func) and "nargout" not in kw:
        kw["nargout"] = max(nargout, 1)
    result = func(*args, **kw)
    outs = list(result) if isinstance(result, tuple) else [result]
    if nargout > len(outs):
        raise ValueError(f"{name}: too many output arguments: asked for {nargout}, it returns {len(outs)}")
    return outs[:max(nargout, 1)]


def _error_fields(exc: BaseException) -> dict:
    import traceback

    return {
        "ok": False,
        "err_type": type(exc).__name__,
        "err_msg": str(exc) or type(exc).__name__,
        "err_traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        "pyulm_version": __version__,
    }


def _check_version(wrapper_version) -> None:
    if wrapper_version is None:
        return
    wv = _text(wrapper_version) if not isinstance(wrapper_version, str) else wrapper_version
    if wv and wv != __version__:
        raise VersionMismatch(
            f"the MATLAB wrapper is pyulm {wv} but Python ({sys.executable}) has pyulm {__version__}; "
            f"install the matching version: {sys.executable} -m pip install pyulm=={wv} "
            f"(or add the matlab_interop folder of pyulm {__version__} to the MATLAB path)"
        )


def call(name, args=None, kwargs=None, nargout=1, wrapper_version=None) -> dict:
    """Entry point of the ``py`` transport: never raises, returns a response dict.

    ``{'ok': True, 'out': [...]}`` with outputs tagged for MATLAB (see
    :func:`to_matlab`), or ``{'ok': False, 'err_type', 'err_msg', 'err_traceback'}``.
    """
    try:
        _check_version(wrapper_version)
        name = from_matlab(name)
        args = from_matlab(args) if args is not None else []
        if not isinstance(args, list):
            args = [args]
        outs = call_python(name, args, kwargs, from_matlab(nargout))
        return {"ok": True, "out": [to_matlab(o, tagged=True) for o in outs], "pyulm_version": __version__}
    except Exception as exc:  # every error goes back to MATLAB as data
        return _error_fields(exc)


# ---------------------------------------------------------------------------
# Side files: one large numeric array per file, beside request.mat/response.mat
# ---------------------------------------------------------------------------
# Two formats, both with the array's column-major data in one piece, so that
# numpy maps them (mmap) instead of parsing them, and MATLAB/Octave read them
# into one new array:
#
# * "mat": an uncompressed MAT v5 file (what ``save -v6`` writes) holding one
#   variable; complex data are stored as two planes (real, then imaginary).
# * "octave": Octave's native binary format (``save -binary``) holding one
#   full double or single matrix; complex data are interleaved, as numpy and
#   Octave hold them. Octave 7.3 writes complex double about 3 times faster,
#   and reads complex data 2 to 3 times faster, in this format than in MAT v5
#   (its MAT code goes through double temporaries and separate planes).
#   Octave writes complex *single* data slowly in both formats (its binary
#   writer converts them to double first), so it sends them as two float
#   matrices, the real part (a variable named "re...") and the imaginary part
#   ("im..."), in one binary file: 20 % faster than MAT v5.
#
# Readers accept any variable name and any stored element type (MATLAB may
# store integer-valued doubles as small integers). Writers name the variable
# "x", or "xx...x" in Octave files, long enough to start the data on a 32-byte
# boundary (numpy then maps them aligned).
# MAT v5 class numbers and data types (shared with the envelope codec, pyulm._mat5)
_MAT_CLASS = _mat5._CLASS_DTYPE  # class number -> numpy code
_MAT_TYPE = _mat5._TYPE_DTYPE    # data type number -> numpy code
_MAT_CODES = set(_mat5._DTYPE_CLASS) | {"b1"}  # what a MAT side file holds (b1: logical)
_MAT_COMPLEX, _MAT_LOGICAL = _mat5._COMPLEX, _mat5._LOGICAL
_OCT_SAVE_TYPE = {0: "u1", 1: "u2", 2: "u4", 3: "i1", 4: "i2", 5: "i4", 6: "f4", 7: "f8", 8: "u8", 9: "i8"}
_OCT_TYPE = {"matrix": "f8", "complex matrix": "c16", "float matrix": "f4", "float complex matrix": "c8"}
_OCT_OF = {v: k for k, v in _OCT_TYPE.items()}
_OCTAVE_MAGIC = b"Octave-1-"
_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux value; Python < 3.13 lacks the name


def _code(dtype: np.dtype) -> str:
    """'f8', 'c8', 'b1', ... of a numpy dtype (byte order dropped)."""
    return dtype.kind + str(dtype.itemsize)


def side_file_ok(arr) -> bool:
    """Whether :func:`write_side` can write this array (numeric or logical, dims < 2**31)."""
    return (isinstance(arr, np.ndarray) and _code(arr.dtype) in _MAT_CODES | set(_OCT_TYPE.values())
            and all(n < 2**31 for n in arr.shape) and arr.nbytes < 2**32 - 2**16)


def _mapped(path, dtype, offset: int, count: int) -> np.ndarray:
    """``count`` elements at ``offset`` of a file as a read-only 1-D array (mapped, not read).

    The mapping is populated at once where the OS allows it (Linux >= 5.14):
    one call instead of a page fault per 64 KB, and writing such an array to
    another file is then as fast as writing ordinary memory.
    """
    dtype = np.dtype(dtype)
    if count == 0:
        return np.empty(0, dtype)
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size < offset + count * dtype.itemsize:
            raise BridgeError(f"side file {path}: truncated ({count} elements of {dtype} expected at byte {offset})")
        mm = mmap.mmap(f.fileno(), offset - start + count * dtype.itemsize, access=mmap.ACCESS_READ, offset=start)
    if sys.platform.startswith("linux"):
        try:
            mm.madvise(_MADV_POPULATE_READ)
        except (AttributeError, OSError, ValueError):  # kernels before 5.14: fault in on use
            pass
    return np.frombuffer(mm, dtype=dtype, count=count, offset=offset - start)


def _complex_from_parts(re: np.ndarray, im: np.ndarray, ctype) -> np.ndarray:
    """One Fortran-ordered complex array from real and imaginary parts of the same shape.

    Fills it chunk by chunk (each chunk of the output is written twice while it
    is still in cache), converting the parts' element type on the way.
    """
    out = np.empty(re.shape, dtype=ctype, order="F")
    if out.size == 0:
        return out
    pairs = out.reshape(-1, order="F").view(out.real.dtype).reshape(-1, 2)
    re = re.reshape(-1, order="F")
    im = im.reshape(-1, order="F")
    step = max(1, _mat5._CHUNK_BYTES // out.itemsize)
    for i in range(0, out.size, step):
        pairs[i:i + step, 0] = re[i:i + step]
        pairs[i:i + step, 1] = im[i:i + step]
    return out


def _read_mat_side(path, head: bytes) -> np.ndarray:
    if len(head) < 136 or head[126:128] not in (b"IM", b"MI"):
        raise BridgeError(f"side file {path}: not an uncompressed MAT v5 or Octave binary file")
    order = "<" if head[126:128] == b"IM" else ">"
    with open(path, "rb") as f:

        def element(pos):
            """(type, nbytes, data position, next position) of the data element at pos."""
            f.seek(pos)
            raw = f.read(8)
            if len(raw) < 8:
                raise BridgeError(f"side file {path}: truncated at byte {pos}")
            first, second = np.frombuffer(raw, order + "u4").tolist()
            if first >> 16:  # small data element: type, size and up to 4 bytes in 8 bytes
                return first & 0xFFFF, first >> 16, pos + 4, pos + 8
            return first, second, pos + 8, pos + 8 + (second + 7) // 8 * 8

        mtype, nbytes, pos, _ = element(128)
        if mtype != 14:  # miMATRIX; 15 would be a compressed (-v7) variable
            raise BridgeError(f"side file {path}: expected an uncompressed numeric array (MAT data type {mtype})")
        parts = []
        while pos < 136 + nbytes and len(parts) < 5:
            t, n, data, pos = element(pos)
            if len(parts) < 3:
                f.seek(data)
                parts.append((t, f.read(n)))
            else:
                parts.append((t, n, data))
    if len(parts) < 4:
        raise BridgeError(f"side file {path}: incomplete array")
    flags = int(np.frombuffer(parts[0][1][:4], order + "u4")[0])
    dims = [int(v) for v in np.frombuffer(parts[1][1], order + "i4")]
    cls = _MAT_CLASS.get(flags & 0xFF)
    if cls is None:
        raise BridgeError(f"side file {path}: unsupported MATLAB class number {flags & 0xFF}")
    target = np.dtype(np.bool_) if flags & _MAT_LOGICAL else np.dtype(cls)
    count = int(np.prod(dims))

    def plane(t, n, data):
        if t not in _MAT_TYPE:
            raise BridgeError(f"side file {path}: unsupported MAT data type {t}")
        stored = np.dtype(order + _MAT_TYPE[t])
        if n != count * stored.itemsize:
            raise BridgeError(f"side file {path}: {n} data bytes do not fit size {dims}")
        a = _mapped(path, stored, data, count)
        if target == np.bool_ and stored.itemsize == 1:
            return a.view(np.bool_)
        return a if a.dtype == target else a.astype(target)

    if flags & _MAT_COMPLEX:
        if len(parts) < 5:
            raise BridgeError(f"side file {path}: complex array without imaginary part")
        ctype = np.complex64 if target == np.float32 else np.complex128
        re = np.asarray(plane(*parts[3]), dtype=np.float64 if ctype == np.complex128 else np.float32)
        im = np.asarray(plane(*parts[4]), dtype=re.dtype)
        return _complex_from_parts(re, im, ctype).reshape(dims, order="F")
    return plane(*parts[3]).reshape(dims, order="F")


def _read_octave_side(path) -> np.ndarray:
    variables = []  # (name, dims, array), in file order
    with open(path, "rb") as f:
        head = f.read(11)
        order = {b"L": "<", b"B": ">"}.get(head[9:10])
        if order is None or head[10] not in (0, 1):  # IEEE little / big endian floats
            raise BridgeError(f"side file {path}: unsupported Octave binary header {head!r}")
        fl = "<" if head[10] == 0 else ">"
        size = os.fstat(f.fileno()).st_size

        def i4(count=1):
            raw = f.read(4 * count)
            if len(raw) != 4 * count:
                raise BridgeError(f"side file {path}: truncated")
            return [int(v) for v in np.frombuffer(raw, order + "i4")]

        while f.tell() < size and len(variables) < 3:
            name = f.read(i4()[0]).decode("ascii", "replace")
            f.read(i4()[0])  # doc string
            flags = f.read(2)
            if len(flags) != 2 or flags[1] != 255:
                raise BridgeError(f"side file {path}: old or truncated Octave binary format")
            tname = f.read(i4()[0]).decode("ascii", "replace")
            if tname not in _OCT_TYPE:
                raise BridgeError(f"side file {path}: unsupported Octave type {tname!r}")
            nd = i4()[0]
            dims = i4(-nd) if nd < 0 else [nd] + i4()  # old files: rows, columns
            stype = f.read(1)[0]
            if stype not in _OCT_SAVE_TYPE:
                raise BridgeError(f"side file {path}: unknown Octave save type {stype}")
            target = np.dtype(_OCT_TYPE[tname])
            real_t = np.dtype(target.kind.replace("c", "f") + str(target.itemsize // (2 if target.kind == "c" else 1)))
            stored = np.dtype((fl if _OCT_SAVE_TYPE[stype][0] == "f" else order) + _OCT_SAVE_TYPE[stype])
            count = int(np.prod(dims)) * (2 if target.kind == "c" else 1)
            a = _mapped(path, stored, f.tell(), count)
            f.seek(count * stored.itemsize, os.SEEK_CUR)
            if a.dtype != real_t:  # another stored type or byte order
                a = a.astype(real_t)
            if target.kind == "c":
                a = a.view(target)  # interleaved pairs: no copy
            variables.append((name, dims, a))
    if len(variables) == 1:
        _, dims, a = variables[0]
        return a.reshape(dims, order="F")
    parts = {v[0][:2]: v for v in variables}
    if (len(variables) == 2 and sorted(parts) == ["im", "re"] and variables[0][1] == variables[1][1]
            and variables[0][2].dtype == variables[1][2].dtype and variables[0][2].dtype.kind == "f"):
        (_, dims, re), (_, _, im) = parts["re"], parts["im"]
        ctype = np.complex64 if re.dtype == np.float32 else np.complex128
        return _complex_from_parts(re, im, ctype).reshape(dims, order="F")
    raise BridgeError(f"side file {path}: expected one matrix, or the real and imaginary parts of one matrix "
                      f"(variables re..., im...), found {[v[0] for v in variables]}")


def read_side(path) -> np.ndarray:
    """Read a side file written by the MATLAB/Octave side or by :func:`write_side`.

    Returns the array in MATLAB index order. Real data are memory-mapped
    read-only, not copied (like complex data stored interleaved); complex data
    stored as two planes are combined in one pass.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(136)
    if head.startswith(_OCTAVE_MAGIC):
        return _read_octave_side(path)
    return _read_mat_side(path, head)


def _octave_header(arr: np.ndarray) -> bytes:
    """Octave binary header of one matrix; its variable name aligns the data to 32 bytes."""
    tname = _OCT_OF[_code(arr.dtype)].encode()
    i4 = lambda *v: np.asarray(v, "<i4").tobytes()  # noqa: E731
    save_type = 6 if arr.dtype in (np.float32, np.complex64) else 7
    name = b"x" * ((-(30 + len(tname) + 4 * arr.ndim) - 1) % 32 + 1)
    head = (b"Octave-1-L\x00" + i4(len(name)) + name + i4(0) + b"\x00\xff" + i4(len(tname)) + tname
            + i4(-arr.ndim) + i4(*arr.shape) + bytes([save_type]))
    return head


def write_side(path, arr: np.ndarray, fmt: str = "mat") -> str:
    """Write one numeric/logical array as a side file; returns the format used.

    ``fmt='octave'`` writes Octave's binary format for double/single (real or
    complex) arrays and falls back to ``'mat'`` (uncompressed MAT v5) for the
    other classes. The data are written straight from the array in column-major
    order (no full copy, whatever its memory layout).
    """
    arr = np.asarray(arr)
    if arr.ndim < 2:
        arr = arr.reshape(arr.shape + (1,) * (2 - arr.ndim))
    if not side_file_ok(arr):
        raise BridgeError(f"cannot write a side file for an array of dtype {arr.dtype} and shape {arr.shape}")
    fmt = "octave" if fmt == "octave" and _code(arr.dtype) in _OCT_OF else "mat"
    if fmt == "mat":  # one variable x; complex data as two planes
        _mat5.write(path, {"x": arr}, header="pyulm.matlab_bridge")
        return fmt
    with open(path, "wb") as f:
        f.write(_octave_header(arr))
        _mat5.write_fortran(f, arr)
    return fmt


def _write_npy(path, arr: np.ndarray) -> None:
    """A Fortran-ordered .npy file written without a full copy of ``arr``."""
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    header = {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": True, "shape": arr.shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        _mat5.write_fortran(f, arr)


# ---------------------------------------------------------------------------
# File transport
# ---------------------------------------------------------------------------
def load_request(path) -> dict:
    """Read a request .mat written by the MATLAB/Octave side (``save -v6``).

    Read by :mod:`pyulm._mat5` rather than ``scipy.io`` (whose import alone
    costs about 0.2 s on every call): numbers keep their MATLAB class (MATLAB
    may store a double ``[5 800]`` as uint16 in the file), 1x1 structs become
    dicts, cells object arrays.
    """
    return _mat5.read(path)


def _file_outputs(value, directory, counter, threshold, side_threshold=float("inf"), side_format="mat"):
    """Replace large arrays by tagged files beside the response.

    Arrays of ``threshold`` bytes or more become Fortran-ordered .npy files
    (complex ones two real files, which MATLAB reads at disk speed); arrays of
    ``side_threshold`` bytes or more become side files (:func:`write_side`).
    """
    if isinstance(value, np.ndarray) and value.dtype.kind == "c" and value.nbytes >= threshold:
        return {KIND: "complex", "re": _file_outputs(value.real, directory, counter, 0),
                "im": _file_outputs(value.imag, directory, counter, 0),
                "shape": np.asarray(value.shape, float).reshape(1, -1)}
    if isinstance(value, np.ndarray) and value.dtype != object and value.nbytes >= threshold:
        counter[0] += 1
        path = os.path.join(directory, f"out_{counter[0]}.npy")
        _write_npy(path, value)
        return {KIND: "npy", "path": path, "dtype": str(value.dtype), "shape": np.asarray(value.shape, float).reshape(1, -1)}
    if isinstance(value, np.ndarray) and value.nbytes >= side_threshold and side_file_ok(value):
        counter[0] += 1
        path = os.path.join(directory, f"out_{counter[0]}.side")
        fmt = write_side(path, value, side_format)
        return {KIND: "side", "path": path, "format": fmt}
    if isinstance(value, dict):
        return {k: _file_outputs(v, directory, counter, threshold, side_threshold, side_format)
                for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            out[idx] = _file_outputs(value[idx], directory, counter, threshold, side_threshold, side_format)
        return out
    return value


def _write_response(path, resp: dict) -> None:
    # written under a temporary name and renamed: MATLAB never sees a half-written response
    _mat5.write(path, resp, header="pyulm.matlab_bridge")


def serve_file(request_path, response_path) -> int:
    """Serve one file-transport request; always tries to write a response."""
    try:
        req = load_request(request_path)
        protocol = from_matlab(req.get("protocol", PROTOCOL))
        if protocol != PROTOCOL:
            raise BridgeError(f"request protocol {protocol!r}, this pyulm speaks protocol {PROTOCOL}")
        _check_version(from_matlab(req.get("wrapper_version", "")))
        args = req.get("args", np.empty((1, 0), dtype=object))  # converted by call_python
        args = list(args.ravel(order="F")) if isinstance(args, np.ndarray) and args.dtype == object else [args]
        kwargs = req.get("kwargs")
        nargout = from_matlab(req.get("nargout", 1))
        threshold = float(from_matlab(req.get("npy_threshold", NPY_THRESHOLD)))
        side_threshold = float(from_matlab(req.get("side_threshold", np.inf)))  # none unless asked for
        side_format = from_matlab(req.get("side_format", "mat"))
        outs = call_python(from_matlab(req["func"]), args, kwargs, nargout)
        cell = np.empty((1, len(outs)), dtype=object)
        directory = os.path.dirname(os.path.abspath(response_path))
        counter = [0]
        for i, o in enumerate(outs):
            cell[0, i] = _file_outputs(to_matlab(o), directory, counter, threshold, side_threshold, side_format)
        resp = {"ok": True, "out": cell, "pyulm_version": __version__}
    except Exception as exc:
        resp = _error_fields(exc)
    try:
        _write_response(response_path, resp)
    except Exception as exc:  # e.g. a result MATLAB cannot hold; report that instead
        _write_response(response_path, _error_fields(exc))
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python -m pyulm.matlab_bridge REQUEST.mat RESPONSE.mat\n"
              "(called by the MATLAB/Octave wrappers in matlab_interop/; see matlab_interop/README.md)",
              file=sys.stderr)
        return 2
    return serve_file(argv[0], argv[1])


if __name__ == "__main__":
    code = main()
    # The response file is complete, closed and renamed into place: skip the
    # interpreter's teardown (about 30 ms, on every call of MATLAB's file transport).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
