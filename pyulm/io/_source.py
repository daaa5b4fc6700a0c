"""What a data file holds and how pyulm reads IQ frames from it.

:func:`inspect` reads the headers, the shape of the IQ variable and the small
metadata variables (each once, under a size cap) and checks everything that
can be checked without reading a frame: declared sizes against the file and
the read limit, the sample type, metadata values. :func:`read_frames` then
reads one frame range at a time (only those bytes for v7.3, raw binary and
uncompressed v5 data; one inflate stream for compressed v5 data).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from . import _limits, _raw, _v5, _v73, _verasonics
from . import _matfile as M
from ._errors import NUMERIC_CLASSES, FormatError
from ._metadata import DEFAULT_SPEED_OF_SOUND, apply_metadata, check_sidecar_values
from ._sourceinfo import SourceInfo

__all__ = ["DEFAULT_SPEED_OF_SOUND", "RawChannelDataError", "SourceInfo", "detect_format", "inspect",
           "parse_variable", "read_frames"]

_META_VARS = ("UF", "PData", "Trans", "Resource", "P", "Receive")
_VERASONICS_IQ = ("IQData", "ImgData", "ImgDataP")


class RawChannelDataError(FormatError):
    """The file holds Verasonics RcvData (channel data) but no beamformed IQ."""


_VAR_RE = re.compile(r"^\s*([A-Za-z]\w*)\s*(?:\{\s*(\d+)\s*\})?\s*$")


def parse_variable(spec: str | None):
    """``"IQData{2}"`` -> ("IQData", 2); ``"IQ"`` -> ("IQ", None)."""
    if spec is None:
        return None, None
    m = _VAR_RE.match(str(spec))
    if not m:
        raise ValueError(f"variable: expected a MATLAB variable name, optionally with a cell index like "
                         f"IQData{{2}}, got {spec!r}")
    return m.group(1), (int(m.group(2)) if m.group(2) else None)


def _path(path) -> Path:
    """Any path the OS allows (bytes in any encoding too) as a Path; undecodable bytes round-trip."""
    return Path(os.fsdecode(os.fspath(path)))


def detect_format(path) -> str:
    """``raw`` if a sidecar describes the file, else the MAT/HDF5 version (see :func:`mat_version`)."""
    path = _path(path)
    if not path.exists():
        raise FormatError(f"{path}: no such file")
    if path.is_dir():
        raise FormatError(f"{path}: is a directory, expected a data file")
    if _raw.find_sidecar(path) is not None and path.suffix not in (".mat", ".h5"):
        return "raw"
    return M.mat_version(path)


def inspect(path, variable: str | None = None, *, buffer: int | None = None,
            max_bytes: int | str | None = None, verify: bool = False) -> SourceInfo:
    """Describe a data file and decide how to read its frames, without reading any.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        A PALA block (``IQ``, ``UF``, ``PData``), a Verasonics workspace (``IQData``,
        ``ImgData``, ``PData``, ``Trans``, ``Resource``), any MAT-file with a 3-D IQ
        array, or a raw binary block with a JSON sidecar. Any name the OS allows.
    variable : str, optional
        The variable holding the frames, e.g. ``"IQ"`` or ``"IQData{2}"``. Detected
        when omitted: ``IQ``, then ``IQData``, ``ImgData``, ``ImgDataP``, then the
        only/largest 3-D numeric array.
    buffer : int, optional
        1-based cell index of a Verasonics buffer (default: the first non-empty one).
    max_bytes : int or str, optional
        The most bytes one :func:`read_frames` call may allocate (``"4G"`` works);
        default ``$PYULM_MAX_BYTES``, else the memory available now. A frame (or
        a stored chunk) larger than this is refused here; metadata variables are
        read only below 64 MiB (``$PYULM_MAX_METADATA_BYTES``) and this limit.
    verify : bool
        Also decode every stored byte of the frames (v7.3 chunks: inflate and
        checksums; compressed v5 data: the whole stream) in pieces of at most
        64 MiB, and keep nothing: corrupt data are then refused here rather than
        by the :func:`read_frames` call that meets them. Costs one read of the file.

    Returns
    -------
    SourceInfo

    Raises
    ------
    FormatError
        (a ``ValueError``) with one line naming the file (and variable): headers
        that lie about sizes, compression bombs, corrupt chunk tables, sample
        types that are not numeric, empty or non-3-D frames, non-finite or
        implausible metadata (frame rate, transmit frequency, pixel size, speed
        of sound), bad sidecars; :class:`RawChannelDataError` for Verasonics
        channel data that :mod:`pyulm.beamform` cannot beamform (the reason named).

    Examples
    --------
    >>> from importlib.resources import files
    >>> info = inspect(files("pyulm") / "data" / "example_block.mat")
    >>> info.layout, info.shape, info.frame_rate
    ('pala', (64, 80, 200), 1000.0)
    """
    path = _path(path)
    limit = _limits.max_bytes(max_bytes)
    fmt = detect_format(path)
    name, idx = parse_variable(variable)
    if buffer is not None:
        idx = int(buffer)
    info = _inspect_raw(path) if fmt == "raw" else _inspect_mat(path, fmt, name, idx, limit)
    info.max_bytes = limit
    if any(int(n) <= 0 for n in info.shape):
        raise FormatError(f"{path}: variable {info.label} is empty (shape {'x'.join(map(str, info.shape))})")
    if info.frame_nbytes > limit:
        raise FormatError(f"{path}: one frame of {info.label} takes {_limits.gib(info.frame_nbytes)}, more than "
                          f"the read limit {_limits.gib(limit)} (max_bytes / PYULM_MAX_BYTES)")
    if verify:
        _verify(info)
    return info


_VERIFY_BYTES = 64 * 2**20


def _verify(info: SourceInfo) -> None:
    """Decode all the frames' stored data once, in bounded pieces, keeping nothing."""
    if info.format == "mat5":  # raw (uncompressed) data cannot be corrupt beyond what scan checked
        _v5.verify(info.path, info.variable)
        return
    if info.format not in ("mat73", "hdf5"):
        return
    step = max(1, min(info.n_frames, _VERIFY_BYTES // max(info.frame_nbytes, 1)))
    for a in range(0, info.n_frames, step):
        read_frames(info, a, min(info.n_frames, a + step))


def _inspect_mat(path, fmt, name, idx, limit) -> SourceInfo:
    variables = M.list_variables(path, fmt)
    if not variables:
        raise FormatError(f"{path}: the MAT-file holds no variables")
    names = {v.name: v for v in variables}
    notes: list[str] = []
    known = NUMERIC_CLASSES | {"char", "logical", "cell", "struct"}
    for v in variables:
        if v.mclass not in known and not v.mclass.startswith(("float", "int", "uint", "complex")):
            notes.append(f"skipped {v.name}: MATLAB class {v.mclass!r} (a MATLAB object, not readable outside MATLAB)")
    name = _choose_variable(path, name, names, variables, notes)
    if name == "RcvData":  # Verasonics channel data: beamformed as it is read (pyulm.beamform)
        return _inspect_rcvdata(path, fmt, idx, names, variables, notes)
    if name in _VERASONICS_IQ:
        buf, zxt, shape4, dtype = _verasonics.inspect_buffer(path, fmt, name, idx, names, notes)
        info = SourceInfo(path, fmt, "verasonics", name, buf, zxt, shape4, dtype, notes=notes)
    else:
        if idx is not None:
            raise FormatError(f"{path}: a cell index {{{idx}}} was given but {name!r} is not a Verasonics buffer cell")
        v = names[name]
        if v.mclass not in NUMERIC_CLASSES and v.mclass != "logical":
            raise FormatError(f"{path}: variable {name!r} is a {v.mclass}, expected a numeric (z, x, t) array")
        if len(v.shape) != 3:
            raise FormatError(f"{path}: variable {name!r} has {len(v.shape)} axes (shape {'x'.join(map(str, v.shape))}); "
                              "expected 3 axes (z, x, t) with frames last")
        info = SourceInfo(path, fmt, "generic", name, None, tuple(v.shape), tuple(v.shape), v.mclass, notes=notes)
    _check_storage(info, names, limit)  # first: the sample type too
    if info.layout == "generic" and fmt in ("mat73", "hdf5"):
        info.dtype = str(_v73.h5_dataset_info(path, name)[1])
    elif info.layout == "generic" and fmt == "mat5":
        v = names[name]
        info.dtype = str(np.dtype(np.complex64 if v.mclass == "single" else np.complex128) if v.complex
                         else np.dtype(bool) if v.mclass == "logical" else np.dtype(v.mclass))
    info.sample_nbytes = np.dtype(info.dtype).itemsize if fmt != "mat4" else 16
    meta_names = [n for n in _META_VARS if n in names]
    meta = M.read_mat(path, meta_names, version=fmt, notes=notes,
                      max_bytes=_limits.metadata_max_bytes(limit)) if meta_names else {}
    if info.layout == "generic" and ("UF" in meta or "PData" in meta):
        info.layout = "pala"
    info.variables = variables
    apply_metadata(info, meta)
    return info


def _inspect_rcvdata(path, fmt, idx, names, variables, notes) -> SourceInfo:
    """A workspace holding RcvData: what pyulm.beamform reads from it, or why it cannot."""
    from ..beamform.rcvdata import WorkspaceError, source_info

    try:
        return source_info(path, fmt, idx, variables, notes)
    except WorkspaceError as exc:
        v = names["RcvData"]
        raise RawChannelDataError(
            f"{path}: holds RcvData (Verasonics raw channel data, {v.mclass} {'x'.join(map(str, v.shape))} cell) "
            f"that pyulm cannot beamform: {str(exc).removeprefix(f'{path}: ')}") from None


def _choose_variable(path, name, names, variables, notes) -> str:
    """The variable holding the frames: the one named, else IQ, IQData, ..., else the largest 3-D array."""
    if name is not None and name not in names:
        raise FormatError(f"{path}: no variable {name!r}; the file holds {', '.join(names)}")
    if name is None:
        name = next((c for c in ("IQ",) + _VERASONICS_IQ if c in names), None)
    if name is None and "RcvData" in names:
        name = "RcvData"
    if name is None:
        cands = [v for v in variables if v.mclass in NUMERIC_CLASSES and len(v.shape) == 3]
        if not cands:
            desc = ", ".join(f"{v.name} ({'x'.join(map(str, v.shape))} {v.mclass})" for v in variables)
            raise FormatError(f"{path}: no IQ-like variable (a 3-D numeric array named IQ, IQData, ImgData, ...); "
                              f"the file holds {desc}; name one with --variable")
        cands.sort(key=lambda v: (not v.complex, -int(np.prod(v.shape))))
        name = cands[0].name
        notes.append(f"no variable named IQ: using {name!r}, the largest 3-D numeric array")
    return name


def _check_storage(info: SourceInfo, names: dict, limit: int) -> None:
    """Declared sizes of the frames variable against what the file stores (headers only)."""
    if info.format in ("mat73", "hdf5"):
        _v73.check_storage(info.path, info.variable, None if info.buffer is None else info.buffer - 1, limit)
    elif info.format == "mat5":
        v = names[info.variable]
        if v.stored_nbytes and v.nbytes and v.nbytes > _limits.DEFLATE_MAX_RATIO * v.stored_nbytes:
            raise FormatError(f"{info.path}: variable {info.variable!r} declares {_limits.gib(v.nbytes)} in "
                              f"{_limits.gib(v.stored_nbytes)} of compressed data, more than deflate can hold: "
                              "corrupt file or a compression bomb")


def _inspect_raw(path) -> SourceInfo:
    sidecar = _raw.find_sidecar(path)
    meta = _raw.read_sidecar(path, sidecar)
    check_sidecar_values(meta, sidecar)
    notes = [f"layout from sidecar {sidecar.name}"]
    split = meta["complex_layout"] == "split"
    info = SourceInfo(path, "raw", "raw", path.name, None, meta["shape"], meta["shape"],
                      str(meta["dtype"]) + (" (split re/im)" if split else ""), notes=notes, raw_meta=meta)
    info.sample_nbytes = meta["dtype"].itemsize * (2 if split else 1)
    for key in ("pixel_size", "origin"):
        if key in meta:
            setattr(info, key, (float(meta[key][0]), float(meta[key][1])))
    if "pixel_size" not in meta:
        notes.append("pixel size not in sidecar: assuming 1 wavelength")
    info.frame_rate = float(meta["frame_rate"]) if meta.get("frame_rate") else None
    info.center_frequency_mhz = float(meta["center_frequency_mhz"]) if meta.get("center_frequency_mhz") else None
    info.speed_of_sound = float(meta.get("speed_of_sound", DEFAULT_SPEED_OF_SOUND))
    return info


def read_frames(info: SourceInfo, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Frames ``start:stop`` (0-based, stop exclusive) of a source as a new (z, x, t) array.

    Reads only those frames' bytes (v7.3, raw binary, uncompressed v5); a
    compressed v5 variable is inflated once as a stream, keeping only those
    frames. A range taking more than ``info.max_bytes`` is refused before
    anything is allocated.

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
    need = (stop - start) * info.frame_nbytes
    if info.max_bytes is not None and need > info.max_bytes:
        raise ValueError(f"{info.path}: frames {start}:{stop} of {info.label} take {_limits.gib(need)}, more than "
                         f"the read limit {_limits.gib(info.max_bytes)} (max_bytes / PYULM_MAX_BYTES); "
                         "read fewer frames at a time")
    if info.format == "raw":
        return _raw.raw_read(info.path, info.raw_meta, start, stop)
    if info.layout == "rcvdata":
        from ..beamform.rcvdata import read_beamformed

        return read_beamformed(info, start, stop)
    if info.layout == "verasonics":
        return _verasonics.read_buffer_frames(info, start, stop)
    if info.format in ("mat73", "hdf5"):
        return _v73.h5_read_slice(info.path, info.variable, None, 2, start, stop)
    if info.format == "mat5":
        return _v5.read_frames(info.path, info.variable, info.shape, start, stop)
    arr = M.read_mat(info.path, [info.variable], version=info.format).get(info.variable)  # MAT v4
    return arr[:, :, start:stop]
