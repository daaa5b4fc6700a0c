"""Raw binary IQ blocks described by a small JSON sidecar.

A block ``blk001.bin`` is described by ``blk001.bin.json`` (or ``blk001.json``)::

    {"shape": [78, 118, 800],      # (z, x, t): MATLAB's [Nz Nx Nt]
     "dtype": "complex64",         # any numpy dtype name; complex = interleaved re/im
     "order": "F",                 # "F" (MATLAB fwrite of IQ(:)) or "C"
     "complex_layout": "interleaved",  # or "split": all real parts, then all imaginary parts
     "offset": 0,                  # bytes to skip at the start (optional)
     "frame_rate": 1000,           # Hz (optional)
     "pixel_size": [1, 1],         # (dz, dx) wavelengths (optional)
     "origin": [0, -59],           # (z0, x0) wavelengths (optional)
     "center_frequency_mhz": 15.625, "speed_of_sound": 1540}   # (optional)

``split`` with a real ``dtype`` (e.g. ``float64``) is what MATLAB's
``fwrite(fid, [real(IQ(:)); imag(IQ(:))], 'double')`` writes.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._errors import FormatError

_SIDECAR_MAX_BYTES = 2**20
SIDECAR_KEYS = {"shape", "dtype", "order", "complex_layout", "offset", "frame_rate", "pixel_size", "origin",
                "center_frequency_mhz", "speed_of_sound", "byteorder"}


def find_sidecar(path) -> Path | None:
    path = Path(path)
    if path.suffix == ".json":
        return None
    for cand in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if cand.is_file():
            return cand
    return None


def read_sidecar(path, sidecar) -> dict:
    path, sidecar = Path(path), Path(sidecar)
    try:
        if sidecar.stat().st_size > _SIDECAR_MAX_BYTES:
            raise FormatError(f"{sidecar}: a raw-binary sidecar of {sidecar.stat().st_size} bytes; expected a small "
                              f"JSON object (at most {_SIDECAR_MAX_BYTES} bytes)")
        meta = json.loads(sidecar.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        if isinstance(exc, FormatError):
            raise
        raise FormatError(f"{sidecar}: cannot read the raw-binary sidecar ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise FormatError(f"{sidecar}: expected a JSON object with shape, dtype and order")
    unknown = sorted(set(meta) - SIDECAR_KEYS)
    if unknown:
        raise FormatError(f"{sidecar}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SIDECAR_KEYS))}")
    for k in ("shape", "dtype"):
        if k not in meta:
            raise FormatError(f"{sidecar}: missing key {k!r}")
    shape = meta["shape"]
    if not (isinstance(shape, list) and all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                            for s in shape)):
        raise FormatError(f"{sidecar}: shape must be a list of positive integers, got {shape!r}")
    if len(shape) != 3:
        raise FormatError(f"{sidecar}: shape {shape} has {len(shape)} axes; expected 3 (z, x, t)")
    try:
        dtype = np.dtype(meta["dtype"]) if isinstance(meta["dtype"], str) else None
    except (TypeError, ValueError):
        dtype = None
    if dtype is None or dtype.kind not in "biufc" or dtype.itemsize == 0:
        raise FormatError(f"{sidecar}: dtype must name a numeric numpy type (e.g. complex64, float64, int16), "
                          f"got {meta['dtype']!r}")
    byteorder = meta.get("byteorder", "little")
    if byteorder not in ("little", "<", "big", ">"):
        raise FormatError(f"{sidecar}: byteorder must be 'little' or 'big', got {byteorder!r}")
    if byteorder in ("big", ">"):
        dtype = dtype.newbyteorder(">")
    order = meta.get("order", "F")
    if order not in ("F", "C"):
        raise FormatError(f"{sidecar}: order must be 'F' (MATLAB) or 'C', got {order!r}")
    layout = meta.get("complex_layout", "interleaved")
    if layout not in ("interleaved", "split"):
        raise FormatError(f"{sidecar}: complex_layout must be 'interleaved' or 'split', got {layout!r}")
    if layout == "split" and dtype.kind == "c":
        raise FormatError(f"{sidecar}: complex_layout 'split' needs a real dtype (e.g. float64), got {dtype}")
    offset = meta.get("offset", 0)
    size = path.stat().st_size
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 <= offset <= size:
        raise FormatError(f"{sidecar}: offset must be a whole number of bytes in [0, {size}] (the size of "
                          f"{path.name}), got {offset!r}")
    n = int(np.prod(shape)) * dtype.itemsize * (2 if layout == "split" else 1)
    if size - offset != n:
        raise FormatError(
            f"{path}: holds {size - offset} bytes of data but the sidecar describes {n} "
            f"(shape {shape}, {dtype}{', split re/im' if layout == 'split' else ''}); truncated file or wrong sidecar"
        )
    return dict(meta, shape=tuple(shape), dtype=dtype, order=order, complex_layout=layout, offset=offset)


def raw_read(path, meta: dict, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` as a (z, x, t) array, reading only those bytes when the order allows."""
    shape, dtype, order, layout, offset = meta["shape"], meta["dtype"], meta["order"], meta["complex_layout"], meta["offset"]
    halves = 2 if layout == "split" else 1
    mm = np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=(halves * int(np.prod(shape)),))
    parts = []
    for h in range(halves):
        flat = mm[h * int(np.prod(shape)):(h + 1) * int(np.prod(shape))]
        arr = flat.reshape(shape, order=order)
        parts.append(np.array(arr[:, :, start:stop]))
    del mm
    if halves == 2:
        out = np.empty(parts[0].shape, dtype=np.result_type(parts[0].dtype, np.complex64))
        out.real, out.imag = parts
        return out
    return parts[0].astype(parts[0].dtype.newbyteorder("="), copy=False)
