"""What a data file holds and how pyulm reads IQ frames from it.

:func:`inspect` reads only the small metadata variables and the shape of the
IQ variable; :func:`read_frames` then reads one frame range at a time (v7.3
and raw binary read only those bytes; v5 loads the one variable it needs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import _matfile as M
from . import _raw, _v5, _v73
from ._errors import NUMERIC_CLASSES, FormatError

DEFAULT_SPEED_OF_SOUND = 1540.0  # m/s, PALA's value
_META_VARS = ("UF", "PData", "Trans", "Resource", "P", "Receive")
_VERASONICS_IQ = ("IQData", "ImgData", "ImgDataP")


class RawChannelDataError(FormatError):
    """The file holds Verasonics RcvData (channel data) but no beamformed IQ."""


@dataclass
class SourceInfo:
    """How pyulm reads one file.

    Attributes
    ----------
    path : Path
    format : str
        ``mat4``, ``mat5`` (v5/v6/v7), ``mat73``, ``hdf5`` or ``raw``.
    layout : str
        ``pala`` (IQ + UF + PData), ``verasonics`` (IQData/ImgData cells), ``generic``
        (a named or detected 3-D array) or ``raw`` (binary + sidecar).
    variable : str
        The variable holding the frames (``IQ``, ``IQData``, ...).
    buffer : int or None
        1-based cell index for Verasonics buffers (``IQData{buffer}``).
    shape : (Nz, Nx, Nt)
    stored_shape : tuple
        Shape of the stored array in MATLAB order (4-D for Verasonics buffers).
    dtype : numpy dtype name of the stored samples, when known without loading.
    pixel_size : (dz, dx) in wavelengths.
    origin : (z0, x0) in wavelengths (centre of pixel (1,1) in MATLAB terms).
    frame_rate : Hz, or None when the file does not say.
    center_frequency_mhz, speed_of_sound : for the wavelength.
    notes : list of str
        Every assumption made while reading (defaults used, objects skipped, ...).
    variables : list of VarInfo
    """

    path: Path
    format: str
    layout: str
    variable: str
    buffer: int | None = None
    shape: tuple = ()
    stored_shape: tuple = ()
    dtype: str = "?"
    pixel_size: tuple = (1.0, 1.0)
    origin: tuple = (0.0, 0.0)
    frame_rate: float | None = None
    center_frequency_mhz: float | None = None
    speed_of_sound: float = DEFAULT_SPEED_OF_SOUND
    notes: list = field(default_factory=list)
    variables: list = field(default_factory=list)
    raw_meta: dict | None = None
    pages_mode: str = "frames"

    @property
    def n_frames(self) -> int:
        return int(self.shape[2])

    @property
    def wavelength_mm(self) -> float | None:
        """Wavelength in mm: speed of sound / centre frequency (PALA: 1540/(TwFreq*1e3))."""
        if not self.center_frequency_mhz:
            return None
        return self.speed_of_sound / (self.center_frequency_mhz * 1e3)

    @property
    def label(self) -> str:
        return f"{self.variable}{{{self.buffer}}}" if self.buffer else self.variable

    def describe(self) -> str:
        """A human-readable report (used by ``pyulm info``)."""
        fmt = {"mat4": "MAT v4 (scipy)", "mat5": "MAT v5/v6/v7 (pyulm's MAT v5 codec)", "mat73": "MAT v7.3 (HDF5, h5py)",
               "hdf5": "HDF5 without MATLAB header (h5py)", "raw": "raw binary with JSON sidecar"}[self.format]
        lines = [f"file:        {self.path}", f"format:      {fmt}", f"layout:      {self.layout}"]
        if self.variables:
            lines.append("variables:")
            lines += ["  " + v.describe() for v in self.variables]
        lam = self.wavelength_mm
        lines += [
            "pyulm reads:",
            f"  frames     {self.label}  stored {'x'.join(map(str, self.stored_shape))} {self.dtype}"
            f" -> (z, x, t) = {' x '.join(map(str, self.shape))}",
            f"  pixel      dz = {self.pixel_size[0]:g}, dx = {self.pixel_size[1]:g} wavelengths",
            f"  origin     z0 = {self.origin[0]:g}, x0 = {self.origin[1]:g} wavelengths",
            f"  wavelength {lam:.6g} mm (c = {self.speed_of_sound:g} m/s, f = {self.center_frequency_mhz:g} MHz)" if lam
            else "  wavelength unknown (no Trans.frequency / UF.TwFreq): maps stay in wavelengths",
            f"  frame rate {self.frame_rate:g} Hz" if self.frame_rate else
            "  frame rate unknown: give it with scale = [1, 1, dt] in the [ulm] table of the config",
        ]
        if self.notes:
            lines.append("notes:")
            lines += ["  - " + n for n in self.notes]
        return "\n".join(lines)

    def with_overrides(self, *, frame_rate=None, speed_of_sound=None) -> "SourceInfo":
        changes = {}
        if frame_rate is not None:
            changes["frame_rate"] = float(frame_rate)
        if speed_of_sound is not None:
            changes["speed_of_sound"] = float(speed_of_sound)
        return replace(self, **changes)


_VAR_RE = re.compile(r"^\s*([A-Za-z]\w*)\s*(?:\{\s*(\d+)\s*\})?\s*$")


def parse_variable(spec: str | None):
    """``"IQData{2}"`` -> ("IQData", 2); ``"IQ"`` -> ("IQ", None)."""
    if spec is None:
        return None, None
    m = _VAR_RE.match(str(spec))
    if not m:
        raise ValueError(f"variable: expected a MATLAB variable name, optionally with a cell index like IQData{{2}}, got {spec!r}")
    return m.group(1), (int(m.group(2)) if m.group(2) else None)


def detect_format(path) -> str:
    """``raw`` if a sidecar describes the file, else the MAT/HDF5 version (see :func:`mat_version`)."""
    path = Path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected a data file")
    if _raw.find_sidecar(path) is not None and path.suffix not in (".mat", ".h5"):
        return "raw"
    return M.mat_version(path)


def inspect(path, variable: str | None = None, *, buffer: int | None = None) -> SourceInfo:
    """Describe a data file and decide how to read its frames, without loading them.

    Parameters
    ----------
    path : str or Path
        A PALA block (``IQ``, ``UF``, ``PData``), a Verasonics workspace (``IQData``,
        ``ImgData``, ``PData``, ``Trans``, ``Resource``), any MAT-file with a 3-D IQ
        array, or a raw binary block with a JSON sidecar.
    variable : str, optional
        The variable holding the frames, e.g. ``"IQ"`` or ``"IQData{2}"``. Detected
        when omitted: ``IQ``, then ``IQData``, ``ImgData``, ``ImgDataP``, then the
        only/largest 3-D numeric array.
    buffer : int, optional
        1-based cell index of a Verasonics buffer (default: the first non-empty one).

    Returns
    -------
    SourceInfo

    Raises
    ------
    FormatError
        (a ``ValueError``) with one line naming the file and the problem;
        :class:`RawChannelDataError` for Verasonics channel data.

    Examples
    --------
    >>> from importlib.resources import files
    >>> info = inspect(files("pyulm") / "data" / "example_block.mat")
    >>> info.layout, info.shape, info.frame_rate
    ('pala', (64, 80, 200), 1000.0)
    """
    path = Path(path)
    fmt = detect_format(path)
    name, idx = parse_variable(variable)
    if buffer is not None:
        idx = int(buffer)
    if fmt == "raw":
        return _inspect_raw(path)
    variables = M.list_variables(path, fmt)
    if not variables:
        raise FormatError(f"{path}: the MAT-file holds no variables")
    names = {v.name: v for v in variables}
    notes: list[str] = []
    known = NUMERIC_CLASSES | {"char", "logical", "cell", "struct"}
    for v in variables:
        if v.mclass not in known and not v.mclass.startswith(("float", "int", "uint", "complex")):
            notes.append(f"skipped {v.name}: MATLAB class {v.mclass!r} (a MATLAB object, not readable outside MATLAB)")
    if name is not None and name not in names:
        raise FormatError(f"{path}: no variable {name!r}; the file holds {', '.join(names)}")
    if name is None:
        for cand in ("IQ",) + _VERASONICS_IQ:
            if cand in names:
                name = cand
                break
    if name is None and "RcvData" in names:
        name = "RcvData"
    if name == "RcvData":
        v = names["RcvData"]
        raise RawChannelDataError(
            f"{path}: holds RcvData (Verasonics raw channel data, {v.mclass} {'x'.join(map(str, v.shape))} cell) "
            "and no beamformed IQ; pyulm needs beamformed IQ: beamform first (Verasonics reconstruction, USTB, zea) "
            "and save IQData or IQ"
        )
    if name is None:
        cands = [v for v in variables if v.mclass in NUMERIC_CLASSES and len(v.shape) == 3]
        if not cands:
            desc = ", ".join(f"{v.name} ({'x'.join(map(str, v.shape))} {v.mclass})" for v in variables)
            raise FormatError(f"{path}: no IQ-like variable (a 3-D numeric array named IQ, IQData, ImgData, ...); "
                              f"the file holds {desc}; name one with --variable")
        cands.sort(key=lambda v: (not v.complex, -int(np.prod(v.shape))))
        name = cands[0].name
        notes.append(f"no variable named IQ: using {name!r}, the largest 3-D numeric array")
    meta_names = [n for n in _META_VARS if n in names]
    meta = M.read_mat(path, meta_names, version=fmt, notes=notes) if meta_names else {}
    if name in _VERASONICS_IQ:
        info = _inspect_verasonics(path, fmt, name, idx, names, meta, notes)
    else:
        if idx is not None:
            raise FormatError(f"{path}: a cell index {{{idx}}} was given but {name!r} is not a Verasonics buffer cell")
        v = names[name]
        if v.mclass not in NUMERIC_CLASSES and v.mclass != "logical":
            raise FormatError(f"{path}: variable {name!r} is a {v.mclass}, expected a numeric (z, x, t) array")
        if len(v.shape) != 3:
            raise FormatError(f"{path}: variable {name!r} has {len(v.shape)} axes (shape {'x'.join(map(str, v.shape))}); "
                              "expected 3 axes (z, x, t) with frames last")
        layout = "pala" if ("UF" in meta or "PData" in meta) else "generic"
        dtype = v.mclass
        if fmt == "mat5":
            dtype = str(np.dtype(np.complex64 if v.mclass == "single" else np.complex128) if v.complex
                        else np.dtype(bool) if v.mclass == "logical" else np.dtype(dtype))
        if fmt in ("mat73", "hdf5"):
            dtype = str(_v73.h5_dataset_info(path, name)[1])
        info = SourceInfo(path, fmt, layout, name, None, tuple(v.shape), tuple(v.shape), dtype, notes=notes)
    info.variables = variables
    _apply_metadata(info, meta)
    if 0 in info.shape:
        raise FormatError(f"{path}: variable {info.label} is empty (shape {'x'.join(map(str, info.shape))})")
    return info


def _inspect_raw(path) -> SourceInfo:
    sidecar = _raw.find_sidecar(path)
    meta = _raw.read_sidecar(path, sidecar)
    notes = [f"layout from sidecar {sidecar.name}"]
    info = SourceInfo(path, "raw", "raw", path.name, None, meta["shape"], meta["shape"], str(meta["dtype"]) +
                      (" (split re/im)" if meta["complex_layout"] == "split" else ""), notes=notes, raw_meta=meta)
    for key, attr in (("pixel_size", "pixel_size"), ("origin", "origin")):
        if key in meta:
            val = meta[key]
            if not (isinstance(val, list) and len(val) == 2):
                raise FormatError(f"{sidecar}: {key} must be [z, x], got {val!r}")
            setattr(info, attr, (float(val[0]), float(val[1])))
    if "pixel_size" not in meta:
        notes.append("pixel size not in sidecar: assuming 1 wavelength")
    info.frame_rate = float(meta["frame_rate"]) if meta.get("frame_rate") else None
    info.center_frequency_mhz = float(meta["center_frequency_mhz"]) if meta.get("center_frequency_mhz") else None
    info.speed_of_sound = float(meta.get("speed_of_sound", DEFAULT_SPEED_OF_SOUND))
    return info


def _inspect_verasonics(path, fmt, name, idx, names, meta, notes) -> SourceInfo:
    v = names[name]
    if v.mclass != "cell":
        raise FormatError(f"{path}: {name} is a {v.mclass}, expected a Verasonics buffer cell {name}{{n}}")
    # Cell element shapes: v5 needs the cell loaded (buffers are loaded whole by scipy anyway).
    if fmt in ("mat73", "hdf5"):
        n_cells = int(np.prod(v.shape))
        shapes = []
        for i in range(n_cells):
            try:
                shapes.append(_v73.h5_dataset_info(path, name, i))
            except FormatError:
                shapes.append(((0,), np.dtype(float)))
    else:
        shapes = [(dims, dtype if dtype is not None else np.dtype(float)) for dims, dtype in _v5.cell_shapes(path, name)]
    nonempty = [i for i, (s, _) in enumerate(shapes) if int(np.prod(s)) > 0]
    if not nonempty:
        raise FormatError(f"{path}: every {name} buffer is empty")
    if idx is None:
        idx = nonempty[0] + 1
        if len(nonempty) > 1:
            notes.append(f"{name} has {len(nonempty)} non-empty buffers ({', '.join(f'{{{i + 1}}}' for i in nonempty)}); "
                         f"reading {name}{{{idx}}} (choose with --variable {name}{{n}})")
    if not 1 <= idx <= len(shapes):
        raise FormatError(f"{path}: {name} has {len(shapes)} buffer(s); {name}{{{idx}}} does not exist")
    shape, dtype = shapes[idx - 1]
    if int(np.prod(shape)) == 0:
        raise FormatError(f"{path}: {name}{{{idx}}} is empty")
    shape4 = tuple(shape) + (1,) * (4 - len(shape))
    if len(shape4) != 4:
        raise FormatError(f"{path}: {name}{{{idx}}} has {len(shape)} axes (shape {'x'.join(map(str, shape))}); "
                          "expected [rows cols pages frames]")
    r, c, p, f = shape4
    if p == 1:
        zxt = (r, c, f)
    elif f == 1:
        zxt = (r, c, p)
        notes.append(f"{name}{{{idx}}} has {p} pages and 1 frame: pages read as frames")
    else:
        zxt = (r, c, p * f)
        notes.append(f"{name}{{{idx}}} has {p} pages x {f} frames: read as {p * f} consecutive frames (pages fastest)")
    if name != "IQData":
        notes.append(f"{name} holds intensity (real), not complex IQ: the SVD clutter filter then acts on intensity")
    info = SourceInfo(path, fmt, "verasonics", name, idx, zxt, shape4, str(np.dtype(dtype)), notes=notes)
    return info


def _num(d, *keys):
    cur = d
    for k in keys:
        if isinstance(cur, list):
            cur = cur[0] if cur else None
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    if cur is None or isinstance(cur, (str, dict, list)):
        return None
    arr = np.asarray(cur, dtype=float).ravel()
    return arr if arr.size else None


def _apply_metadata(info: SourceInfo, meta: dict):
    notes = info.notes
    pdata = meta.get("PData")
    if isinstance(pdata, list):
        notes.append(f"PData is a struct array of {len(pdata)}: using PData(1)")
    pdelta = _num(meta, "PData", "PDelta")
    if pdelta is not None and pdelta.size >= 3:
        dz, dx = float(pdelta[2]), float(pdelta[0])
        if dz <= 0 or dx <= 0:
            raise FormatError(f"{info.path}: PData.PDelta = {pdelta.tolist()} has a non-positive x or z step")
        info.pixel_size = (dz, dx)
    else:
        notes.append("no PData.PDelta: assuming pixels of 1 wavelength")
    origin = _num(meta, "PData", "Origin")
    if origin is not None and origin.size >= 3:
        info.origin = (float(origin[2]), float(origin[0]))
    c = _num(meta, "Resource", "Parameters", "speedOfSound")
    if c is not None:
        info.speed_of_sound = float(c[0])
    f0 = None
    for keys in (("Trans", "frequency"), ("UF", "TwFreq"), ("UF", "TxFreq")):
        val = _num(meta, *keys)
        if val is not None and val[0] > 0:
            f0 = float(val[0])
            if info.layout == "pala" and keys[0] == "Trans" and _num(meta, "UF", "TwFreq") is not None:
                f0 = float(_num(meta, "UF", "TwFreq")[0])  # PALA: lambda from UF.TwFreq
            break
    info.center_frequency_mhz = f0
    if f0 is not None and c is None:
        notes.append(f"speed of sound not in the file: using {DEFAULT_SPEED_OF_SOUND:g} m/s")
    for keys in (("UF", "FrameRateUF"), ("P", "FrameRate"), ("P", "frameRate"), ("UF", "FrameRate")):
        val = _num(meta, *keys)
        if val is not None and val[0] > 0:
            info.frame_rate = float(val[0])
            break


def read_frames(info: SourceInfo, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames ``start:stop`` (0-based, stop exclusive) of a source as a (z, x, t) array.

    v7.3 and raw binary files read only those frames from disk; a v5 file
    loads the one variable and slices it (v5 data are not sliceable on disk).

    Examples
    --------
    >>> from importlib.resources import files
    >>> info = inspect(files("pyulm") / "data" / "example_block.mat")
    >>> read_frames(info, 0, 10).shape
    (64, 80, 10)
    """
    nt = info.n_frames
    stop = nt if stop is None else int(stop)
    start = int(start)
    if not 0 <= start < stop <= nt:
        raise ValueError(f"{info.path}: frame range {start}:{stop} outside 0:{nt}")
    if info.format == "raw":
        return _raw.raw_read(info.path, info.raw_meta, start, stop)
    if info.layout == "verasonics":
        return _read_verasonics(info, start, stop)
    if info.format in ("mat73", "hdf5"):
        return _v73.h5_read_slice(info.path, info.variable, None, 2, start, stop)
    if info.format == "mat5":
        return _v5.read_frames(info.path, info.variable, info.shape, start, stop)
    arr = M.read_mat(info.path, [info.variable], version=info.format).get(info.variable)  # MAT v4
    return arr[:, :, start:stop]


def _read_verasonics(info: SourceInfo, start: int, stop: int) -> np.ndarray:
    r, c, p, f = info.stored_shape
    idx = info.buffer - 1
    if info.format in ("mat73", "hdf5"):
        # Frames are pages-fastest: a frame range maps to a range of (page, frame) pairs.
        if p == 1:
            data = _v73.h5_read_slice(info.path, info.variable, idx, 3, start, stop)
            return data.reshape(r, c, -1, order="F")
        f0, f1 = start // p, -(-stop // p)
        data = _v73.h5_read_slice(info.path, info.variable, idx, 3, f0, f1)
        data = data.reshape(r, c, -1, order="F")
        return data[:, :, start - f0 * p: stop - f0 * p]
    return _v5.read_frames(info.path, info.variable, (r, c, p * f), start, stop, cell=idx)
