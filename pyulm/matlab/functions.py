"""The functions MATLAB may call: the whitelist and the wrappers written for MATLAB.

Only the names in :data:`FUNCTIONS` (and the public functions of
``pyulm.metrics``, as ``metrics.<name>``) can be called from MATLAB, whatever
the transport; :func:`resolve` refuses everything else. A new Python entry
point for MATLAB is one line here plus one small .m file in
``matlab_interop/+pyulm/``.
"""
from __future__ import annotations

import importlib
import inspect  # numpy imports it anyway
import sys

import numpy as np

from .._version import __version__
from .values import BridgeError, from_matlab, param

#: Protocol of the request/response envelopes (both transports and the worker).
PROTOCOL = 1

#: name -> (module, attribute).
FUNCTIONS = {
    "info": ("pyulm.matlab.functions", "info"),
    "available_methods": ("pyulm.localization", "available_methods"),
    "SVDfilter": ("pyulm.matlab.functions", "SVDfilter"),
    "ULM_localization2D": ("pyulm.pala", "ULM_localization2D"),
    "ULM_tracking2D": ("pyulm.pala", "ULM_tracking2D"),
    "ULM_Track2MatOut": ("pyulm.pala", "ULM_Track2MatOut"),
    "localize": ("pyulm.localization", "localize"),
    "track": ("pyulm.matlab.functions", "track"),
    "render": ("pyulm.render", "render"),
    "read": ("pyulm.matlab.functions", "read_acquisition"),
    "process": ("pyulm.matlab.functions", "process"),
    "echo": ("pyulm.matlab.functions", "echo"),
    "transport_probe": ("pyulm.matlab.functions", "transport_probe"),
    "svd_filter": ("pyulm.filtering", "svd_filter"),
    "butter_coefficients": ("pyulm.filtering", "butter_coefficients"),
    "butter_bandpass": ("pyulm.filtering", "butter_bandpass"),
    "filter_block": ("pyulm.filtering", "filter_block"),
    "track_maps": ("pyulm.nn", "track_maps"),
    "fus2ulm": ("pyulm.nn.fus2ulm", "enhance"),
    "synth": ("pyulm.nn.pgd.matlab", "synth_for_matlab"),
    "translate": ("pyulm.nn", "translate"),
    "cycleulm": ("pyulm.nn.cycleulm.pipelines", "run_pipeline"),
}


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


def SVDfilter(IQ, cutoff, *, precision="double"):
    """PALA's ``SVDfilter`` for MATLAB, with pyulm's SVD route as an option.

    ``precision="double"`` (default) is :func:`pyulm.pala.SVDfilter` (the SVD
    in double whatever the input class: accurate); ``"pala_single"`` follows
    PALA's single-precision arithmetic on single data (see
    :func:`pyulm.filtering.svd_filter`), for regressions against MATLAB results.
    """
    if precision == "double":
        from ..pala import SVDfilter as pala_svdfilter

        return pala_svdfilter(IQ, cutoff)
    from ..filtering import svd_filter

    return svd_filter(IQ, cutoff, precision=precision)


def process(source, ULM=None, **options):
    """``pyulm.process`` for MATLAB.

    An IQ block (numeric) runs :func:`pyulm.pipeline.process_frames` with PALA's
    ``ULM`` struct (``SVD_cutoff``, ``ButterCuttofFreq``, ``frame_rate`` or
    ``scale(3)``, optionally ``pyulm_svd``) and returns its BlockResult as a
    struct, with ``MatTracking`` as ``ULM_localization2D`` returns it
    (``[intensity z x frame]``, z and x in 1-based pixels, as everywhere in
    MATLAB) and ``tracks`` as PALA's ``Track_tot`` (``[z x vz vx t]``, positions
    in wavelengths from the first pixel, i.e. 0-based, as PALA's script makes
    them). A file name or a cell of file names runs :func:`pyulm.pipeline.run`
    (options ``out_dir``, ``workers``, ...) and returns its summary.
    """
    from .. import pipeline
    from ..pala import block_params

    if isinstance(source, np.ndarray) and source.dtype.kind in "biufc":
        if not isinstance(ULM, dict):
            raise ValueError("ULM: processing an IQ block needs PALA's ULM struct as second argument")
        pixel_size = options.pop("pixel_size", (1.0, 1.0))
        params = block_params(ULM, source.shape, pixel_size)
        result = pipeline.process_frames(source, params, **options)
        pixel = np.asarray(pixel_size, dtype=float).ravel()
        out = {name: getattr(result, name) for name in ("MatTracking", "tracks", "powdop", "n_frames", "timings")}
        one_based = np.array(result.MatTracking, dtype=float, copy=True)
        one_based[:, 1:3] = one_based[:, 1:3] / pixel + 1.0  # PALA's step 4 undone: ULM_localization2D's output
        out["MatTracking"] = one_based
        return out
    inputs = [source] if isinstance(source, str) else source
    if not isinstance(inputs, list) or not inputs or not all(isinstance(p, str) for p in inputs):
        raise ValueError("source: expected an IQ block, a file name or a cell array of file names")
    if ULM is not None:
        raise ValueError("ULM: give the processing parameters of files with the 'cfg' option (a pyulm config)")
    options.setdefault("progress", False)
    return pipeline.run(inputs, **options)


def track(locs, **options):
    """``pyulm.track`` for MATLAB: also takes PALA's MatTracking ``[intensity z x frame]`` (1-based)."""
    from ..tables import Localizations
    from ..tracking import track as _track

    if isinstance(locs, np.ndarray):
        m = np.atleast_2d(np.asarray(locs, dtype=float))
        if m.ndim != 2 or m.shape[1] < 4:
            raise ValueError(f"locs: expected a Localizations struct or an N x 4 MatTracking [intensity z x frame], "
                             f"got shape {m.shape}")
        locs = Localizations(z=m[:, 1] - 1, x=m[:, 2] - 1, frame=np.round(m[:, 3]).astype(np.int64) - 1,
                             intensity=m[:, 0])
    return _track(locs, **options)


def resolve(name: str):
    """The whitelisted Python callable for a MATLAB-side function name.

    Raises
    ------
    BridgeError
        The name is not in :data:`FUNCTIONS` nor a public function of
        ``pyulm.metrics`` (the message lists what is served).
    """
    if not isinstance(name, str):
        raise BridgeError(f"function name: expected text, got {name!r}")
    if name.startswith("metrics."):
        mod = importlib.import_module("pyulm.metrics")
        attr = name.split(".", 1)[1]
        public = getattr(mod, "__all__", [n for n in dir(mod) if not n.startswith("_")])
        functions = sorted(n for n in public if inspect.isfunction(getattr(mod, n, None)))
        if attr not in functions:
            raise BridgeError(f"pyulm.metrics has no public function {attr!r}; available: {', '.join(functions)}")
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
        kw = {k: param(v) for k, v in kw.items()}
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
