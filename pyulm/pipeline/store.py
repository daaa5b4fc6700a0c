"""Per-block results on disk: one HDF5 file per block, keyed and checksummed.

A block file records the key of what made it (source file identity, frames and every
parameter, :func:`block_key`) and a SHA-256 checksum of its datasets. A file is reused
only when both match and every dataset is there (:func:`read_block`); anything else is
recomputed. Files are written atomically (a temporary name, then a rename), so a
killed run leaves either a whole block file or none.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._fileutil import atomic_path
from .._version import __version__
from .block import BlockResult
from .params import BlockParams

FORMAT = 3  # bump when the per-block file layout or the key changes
#: ``MatOut``: the block's Deep-stULM map on ``MatOut``'s grid, or a 0 x 0 array (linked tracks instead)
DATASETS = ("MatTracking", "tracks_points", "tracks_offsets", "PowDop", "MatOut")


class BlockFileError(ValueError):
    """A block file that cannot be reused: not one, another key, damaged or incomplete."""


def display(path) -> str:
    """A path as text whatever its bytes (non-UTF-8 bytes as ``\\xNN``), for logs, messages and attributes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


@contextlib.contextmanager
def writing(path, what: str):
    """Re-raise an OS error while writing ``path`` (disk full, quota, permissions) as one naming it."""
    try:
        yield
    except OSError as exc:
        if display(path) in str(exc):
            raise
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise OSError(exc.errno, f"{display(path)}: cannot write the {what} ({reason})") from None


@dataclass(frozen=True)
class BlockSpec:
    """One unit of work: frames ``start:stop`` of one source."""

    index: int
    path: str
    variable: str | None
    buffer: int | None
    start: int
    stop: int
    frame_offset: int  # frames of all earlier blocks

    @property
    def name(self) -> str:
        stem = Path(self.path).stem
        return f"{self.index + 1:04d}_{stem}" + (f"_f{self.start}" if self.start else "")


def block_key(spec: BlockSpec, params: BlockParams) -> str:
    """Identity of a block's result: source file, frames and every parameter that changes it."""
    st = os.stat(spec.path)
    payload = {
        "path": os.fsencode(os.path.abspath(spec.path)).hex(), "size": st.st_size, "mtime_ns": st.st_mtime_ns,
        "variable": spec.variable, "buffer": spec.buffer, "start": spec.start, "stop": spec.stop,
        "params": params.as_dict(), "format": FORMAT, "version": __version__,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _checksum(arrays: dict, attrs: dict) -> str:
    h = hashlib.sha256()
    for name in DATASETS:
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.tobytes())
    h.update(json.dumps([attrs["key"], int(attrs["n_frames"]), attrs["ncols"]]).encode())
    return h.hexdigest()


def write_block(path, res: BlockResult, spec: BlockSpec, key: str, label: str = ""):
    """Write one block's results to HDF5, atomically, with its key and checksum."""
    import h5py

    pts = np.concatenate([pad5(t) for t in res.tracks]) if res.tracks else np.zeros((0, 5), np.float32)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in res.tracks])]).astype(np.int64)
    arrays = {"MatTracking": np.asarray(res.MatTracking, np.float64), "tracks_points": pts,
              "tracks_offsets": offsets, "PowDop": np.asarray(res.powdop, np.float64),
              "MatOut": np.zeros((0, 0)) if res.matout is None else np.asarray(res.matout, np.float64)}
    attrs = {"pyulm_block": FORMAT, "key": key, "source": display(spec.path), "variable": label,
             "start": spec.start, "stop": spec.stop, "n_frames": res.n_frames, "frame_offset": spec.frame_offset,
             "timings": json.dumps(res.timings), "ncols": json.dumps([int(t.shape[1]) for t in res.tracks])}
    attrs["checksum"] = _checksum(arrays, attrs)
    with writing(path, "block result"), atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(attrs)
            for name, a in arrays.items():
                f.create_dataset(name, data=a)


def pad5(t) -> np.ndarray:
    """A track as float32 ``[z x vz vx t]`` (PALA's 4-column no-track sentinel padded with 0)."""
    t = np.asarray(t, dtype=np.float32)
    if t.shape[1] < 5:
        t = np.hstack([t, np.zeros((t.shape[0], 5 - t.shape[1]), np.float32)])
    return t


def read_block(path, key: str | None = None) -> tuple[BlockResult, dict]:
    """Read a per-block result file, checking its key (when given), datasets and checksum.

    Returns the block's result (its tracks are views of one array) and the file's
    attributes, plus ``points`` (all tracks' float32 ``[z x vz vx t]`` rows) and ``offsets``.

    Raises
    ------
    BlockFileError
        Naming the file and what is wrong.
    """
    import h5py

    where = display(path)
    try:
        with h5py.File(path, "r") as f:
            attrs = dict(f.attrs)
            if attrs.get("pyulm_block") != FORMAT:
                raise BlockFileError(f"{where}: not a pyulm block result of format {FORMAT}")
            if key is not None and attrs.get("key") != key:
                raise BlockFileError(f"{where}: made with other parameters or input (key {attrs.get('key')!r}, "
                                     f"expected {key!r})")
            missing = [n for n in DATASETS if n not in f]
            if missing:
                raise BlockFileError(f"{where}: dataset(s) {', '.join(missing)} missing")
            arrays = {n: f[n][()] for n in DATASETS}
    except OSError as exc:
        raise BlockFileError(f"{where}: unreadable block result ({exc})") from None
    try:
        if attrs.get("checksum") != _checksum(arrays, attrs):
            raise BlockFileError(f"{where}: checksum mismatch (the file was altered or damaged)")
        ncols = json.loads(attrs["ncols"])
        offs = arrays["tracks_offsets"]
        pts = arrays["tracks_points"]
        tracks = [pts[offs[i]:offs[i + 1], :ncols[i]] for i in range(len(offs) - 1)]
        res = BlockResult(arrays["MatTracking"], tracks, arrays["PowDop"], int(attrs["n_frames"]),
                          json.loads(attrs["timings"]), arrays["MatOut"] if arrays["MatOut"].size else None)
        attrs.update(points=pts, offsets=offs)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        if isinstance(exc, BlockFileError):
            raise
        raise BlockFileError(f"{where}: damaged block result ({exc})") from None
    return res, attrs


def block_ok(path, key: str) -> str | None:
    """``None`` when ``path`` holds a complete, intact result made with ``key``, else why not
    (``"missing"`` when there is no file)."""
    if not os.path.isfile(path):
        return "missing"
    try:
        read_block(path, key)
    except BlockFileError as exc:
        return str(exc)
    return None
