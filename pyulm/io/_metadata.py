"""Pixel size, origin, wavelength and frame rate from a file's metadata variables, checked.

PALA blocks carry ``UF`` and ``PData``; Verasonics workspaces ``PData``,
``Trans``, ``Resource`` and sometimes ``P``. Every value pyulm uses must be
finite and plausible (:mod:`pyulm.io._limits`): a file saying ``UF.TwFreq =
Inf`` or ``PData.PDelta = [1e-12 0 1e-12]`` is refused here, with a message
naming the file and the field, before any output exists.
"""
from __future__ import annotations

import math

import numpy as np

from ._errors import FormatError
from ._limits import FRAME_RATE_HZ, FREQUENCY_MHZ, PIXEL_SIZE_WAVELENGTHS, SPEED_OF_SOUND_M_S

DEFAULT_SPEED_OF_SOUND = 1540.0  # m/s, PALA's value
FREQUENCY_FIELDS = (("Trans", "frequency"), ("UF", "TwFreq"), ("UF", "TxFreq"))
FRAME_RATE_FIELDS = (("UF", "FrameRateUF"), ("P", "FrameRate"), ("P", "frameRate"), ("UF", "FrameRate"))


def field(meta: dict, *keys) -> np.ndarray | None:
    """``meta[k1][k2]...`` as a flat float array (first element of struct arrays), or None
    when absent, empty or not numeric."""
    cur = meta
    for k in keys:
        if isinstance(cur, list):
            cur = cur[0] if cur else None
        if not isinstance(cur, dict) or k not in cur:
            return None
        cur = cur[k]
    if cur is None or isinstance(cur, (str, dict, list)):
        return None
    try:
        arr = np.asarray(cur, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    return arr if arr.size else None


def _fail(info, keys, value, expected):
    shown = value.tolist() if isinstance(value, np.ndarray) and value.size <= 6 else value
    raise FormatError(f"{info.path}: {'.'.join(keys)} = {shown}; expected {expected}")


def _finite(info, keys, value: np.ndarray, count: int | None = None) -> None:
    used = value if count is None else value[:count]
    if not np.all(np.isfinite(used)):
        _fail(info, keys, value, "finite numbers")


def _in_range(info, keys, v: float, bounds, what: str) -> float:
    if not (math.isfinite(v) and bounds[0] <= v <= bounds[1]):
        _fail(info, keys, v, f"a {what} in [{bounds[0]:g}, {bounds[1]:g}]")
    return v


def apply_metadata(info, meta: dict) -> None:
    """Set ``info``'s pixel size, origin, speed of sound, centre frequency and frame rate from ``meta``."""
    notes = info.notes
    if isinstance(meta.get("PData"), list):
        notes.append(f"PData is a struct array of {len(meta['PData'])}: using PData(1)")
    pdelta = field(meta, "PData", "PDelta")
    if pdelta is not None and pdelta.size >= 3:
        _finite(info, ("PData", "PDelta"), pdelta, 3)
        dz = _in_range(info, ("PData", "PDelta(3)"), float(pdelta[2]), PIXEL_SIZE_WAVELENGTHS,
                       "pixel size (wavelengths)")
        dx = _in_range(info, ("PData", "PDelta(1)"), float(pdelta[0]), PIXEL_SIZE_WAVELENGTHS,
                       "pixel size (wavelengths)")
        info.pixel_size = (dz, dx)
    else:
        notes.append("no PData.PDelta: assuming pixels of 1 wavelength")
    origin = field(meta, "PData", "Origin")
    if origin is not None and origin.size >= 3:
        _finite(info, ("PData", "Origin"), origin, 3)
        info.origin = (float(origin[2]), float(origin[0]))
    size = field(meta, "PData", "Size")
    if size is not None and not (np.all(np.isfinite(size)) and np.all(size >= 0)):
        _fail(info, ("PData", "Size"), size, "finite sizes >= 0")
    c = field(meta, "Resource", "Parameters", "speedOfSound")
    if c is not None:
        info.speed_of_sound = _in_range(info, ("Resource", "Parameters", "speedOfSound"), float(c[0]),
                                        SPEED_OF_SOUND_M_S, "speed of sound (m/s)")
    f0, keys = _first_positive(info, meta, FREQUENCY_FIELDS, FREQUENCY_MHZ, "frequency (MHz)")
    if info.layout == "pala" and keys == ("Trans", "frequency") and field(meta, "UF", "TwFreq") is not None:
        f0 = _in_range(info, ("UF", "TwFreq"), float(field(meta, "UF", "TwFreq")[0]), FREQUENCY_MHZ,
                       "frequency (MHz)")  # PALA: lambda from UF.TwFreq
    info.center_frequency_mhz = f0
    if info.center_frequency_mhz is not None and c is None:
        notes.append(f"speed of sound not in the file: using {DEFAULT_SPEED_OF_SOUND:g} m/s")
    info.frame_rate = _first_positive(info, meta, FRAME_RATE_FIELDS, FRAME_RATE_HZ, "frame rate (Hz)")[0]


def _first_positive(info, meta, candidates, bounds, what) -> tuple[float | None, tuple | None]:
    """(value, field) of the first candidate holding a positive number, range-checked; a
    non-finite or negative candidate is refused wherever it stands (0 stands for unknown)."""
    chosen = (None, None)
    for keys in candidates:
        val = field(meta, *keys)
        if val is None:
            continue
        _finite(info, keys, val, 1)
        if val[0] < 0:
            _fail(info, keys, val, f"a {what} in [{bounds[0]:g}, {bounds[1]:g}] (0 for unknown)")
        if chosen[0] is None and val[0] > 0:
            chosen = _in_range(info, keys, float(val[0]), bounds, what), keys
    return chosen


def check_sidecar_values(meta: dict, sidecar) -> None:
    """The same ranges for the values of a raw-binary sidecar."""
    for key, bounds, what in (("frame_rate", FRAME_RATE_HZ, "frame rate (Hz)"),
                              ("center_frequency_mhz", FREQUENCY_MHZ, "frequency (MHz)"),
                              ("speed_of_sound", SPEED_OF_SOUND_M_S, "speed of sound (m/s)")):
        if meta.get(key) is not None:
            _sidecar_number(sidecar, key, meta[key], bounds, what)
    for key in ("pixel_size", "origin"):
        if key in meta:
            val = meta[key]
            if not (isinstance(val, list) and len(val) == 2):
                raise FormatError(f"{sidecar}: {key} must be [z, x], got {val!r}")
            for v in val:
                bounds = PIXEL_SIZE_WAVELENGTHS if key == "pixel_size" else (-math.inf, math.inf)
                _sidecar_number(sidecar, key, v, bounds, "pixel size (wavelengths)" if key == "pixel_size"
                                else "finite origin (wavelengths)")


def _sidecar_number(sidecar, key, v, bounds, what) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) \
            or not bounds[0] <= v <= bounds[1]:
        raise FormatError(f"{sidecar}: {key} = {v!r}; expected a {what} in [{bounds[0]:g}, {bounds[1]:g}]")
    return float(v)
