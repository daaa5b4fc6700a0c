"""Reading single Verasonics fields with their units, each error naming the field.

Verasonics conventions (Vantage "Sequence Programming" manual): distances and
delays in wavelengths of ``Trans.frequency`` (MHz) at
``Resource.Parameters.speedOfSound`` (m/s), except ``Trans.ElementPos`` in
``Trans.units`` (``'mm'`` or ``'wavelengths'``), which is never guessed
silently.
"""
from __future__ import annotations

import numpy as np

from ..io import FormatError


class WorkspaceError(FormatError):
    """A Verasonics workspace pyulm cannot beamform; the message names the field and what is expected."""


#: Vantage sample modes: rows per wavelength of the stored samples and how they are stored
SAMPLE_MODES = {"NS200BW": "rf", "BS100BW": "quadrature", "BS67BW": "quadrature", "BS50BW": "quadrature",
                "custom": "rf"}


def number(struct, key, where, *, default=None, required=True):
    v = struct.get(key) if isinstance(struct, dict) else None
    if v is None or isinstance(v, (str, dict, list)) or np.size(v) == 0:
        if default is not None or not required:
            return default
        raise WorkspaceError(f"{where}.{key} is missing; expected a number")
    arr = np.asarray(v, dtype=float).ravel()
    if not np.all(np.isfinite(arr)):
        raise WorkspaceError(f"{where}.{key} = {arr.tolist()}: expected finite numbers")
    return arr


def structs(meta, name):
    v = meta.get(name)
    if v is None:
        return None
    if isinstance(v, dict):
        return [v]
    if isinstance(v, list) and all(isinstance(i, dict) for i in v):
        return v
    if isinstance(v, np.ndarray) and v.dtype == object and all(isinstance(i, dict) for i in v.ravel(order="F")):
        return list(v.ravel(order="F"))
    raise WorkspaceError(f"{name} is a {type(v).__name__}; expected the struct (array) Verasonics saves")


def element_positions(trans: dict, wavelength_m: float, notes: list) -> np.ndarray:
    """Lateral element positions in m from ``Trans`` (units handled explicitly); checks a flat linear array."""
    number(trans, "ElementPos", "Trans")
    raw = np.asarray(trans["ElementPos"], float)
    if raw.ndim != 2 or raw.shape[1] < 3:
        raise WorkspaceError(f"Trans.ElementPos has shape {raw.shape}; expected n_elements x (3 to 5) "
                             "columns [x y z azimuth elevation]")
    ttype = number(trans, "type", "Trans", required=False)
    if ttype is not None and int(ttype[0]) != 0:
        kind = {1: "curved", 2: "2-D matrix", 3: "annular/custom"}.get(int(ttype[0]), f"type {int(ttype[0])}")
        raise WorkspaceError(f"Trans.type = {int(ttype[0])} ({kind} array); pyulm beamforms flat linear arrays "
                             "(Trans.type = 0) only")
    units = trans.get("units")
    lam_mm = wavelength_m * 1e3
    if units is None:
        spacing, spacing_mm = (number(trans, k, "Trans", required=False) for k in ("spacing", "spacingMm"))
        step = float(np.median(np.diff(raw[:, 0]))) if raw.shape[0] > 1 else 0.0
        if spacing_mm is not None and np.isclose(step, spacing_mm[0], rtol=1e-3):
            units = "mm"
        elif spacing is not None and np.isclose(step, spacing[0], rtol=1e-3):
            units = "wavelengths"
        else:
            raise WorkspaceError("Trans.units is missing; expected 'mm' or 'wavelengths' (the unit of "
                                 "Trans.ElementPos), or Trans.spacing/spacingMm to tell which")
        notes.append(f"Trans.units missing: ElementPos read in {units} (its pitch matches Trans."
                     f"{'spacingMm' if units == 'mm' else 'spacing'})")
    if units not in ("mm", "wavelengths"):
        raise WorkspaceError(f"Trans.units = {units!r}; expected 'mm' or 'wavelengths'")
    scale = 1e-3 if units == "mm" else wavelength_m
    span = np.ptp(raw[:, 0]) * scale
    flat = np.ptp(raw[:, 1]) * scale, np.ptp(raw[:, 2]) * scale
    if flat[0] > 1e-3 * max(span, 1e-9):
        raise WorkspaceError("Trans.ElementPos: elements spread along y (a 2-D matrix array); pyulm beamforms "
                             "flat linear arrays only")
    if flat[1] > 1e-3 * max(span, 1e-9) or (raw.shape[1] > 3 and np.ptp(raw[:, 3]) > 1e-6):
        raise WorkspaceError("Trans.ElementPos: elements at different depths or angles (a curved array); pyulm "
                             "beamforms flat linear arrays only")
    x = raw[:, 0] * scale
    if np.any(np.diff(x) <= 0):
        raise WorkspaceError("Trans.ElementPos: x positions must increase from element 1 to the last")
    if units == "mm" and lam_mm > 0 and np.median(np.diff(raw[:, 0])) / lam_mm > 20:
        notes.append("Trans.ElementPos pitch exceeds 20 wavelengths in mm: check Trans.units")
    return x


def receive_timing(recv: list, trans_f0_hz: float, notes: list):
    """Sample mode, stored-sample rate (Hz), demodulation frequency (Hz) shared by all receives."""
    modes = {str(r.get("sampleMode", "NS200BW")) for r in recv}
    if any("sampleMode" not in r for r in recv):
        notes.append("Receive.sampleMode missing: NS200BW assumed (Verasonics' default)")
    if len(modes) != 1:
        raise WorkspaceError(f"Receive.sampleMode: receives mix {sorted(modes)}; expected one sample mode")
    mode = modes.pop()
    if mode not in SAMPLE_MODES:
        raise WorkspaceError(f"Receive.sampleMode = {mode!r}; expected one of {', '.join(SAMPLE_MODES)}")

    def common(key, default=None):
        vals = {float(number(r, key, f"Receive({i + 1})", default=np.array([default]) if default else None,
                           required=default is None)[0]) for i, r in enumerate(recv)}
        if len(vals) != 1:
            raise WorkspaceError(f"Receive.{key}: receives differ ({sorted(vals)}); expected one value")
        return vals.pop()

    rate = common("decimSampleRate")
    quad = common("quadDecim", 1.0)
    fd = common("demodFrequency", trans_f0_hz / 1e6)
    if rate <= 0 or quad <= 0 or fd <= 0:
        raise WorkspaceError(f"Receive.decimSampleRate = {rate}, quadDecim = {quad}, demodFrequency = {fd}: "
                             "expected positive values (MHz)")
    fs = rate / quad * 1e6
    kind = SAMPLE_MODES[mode]
    if kind == "quadrature":
        fs /= 2  # two rows (I, Q) per complex sample
    return mode, kind, fs, fd * 1e6
