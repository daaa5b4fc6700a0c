"""Decode options of the learned localizers: names, defaults and checks.

Torch-free (used to validate user options before torch is imported and to read
a model directory's ``config.json`` ``"decode"`` section). The options, per
architecture:

=================== ======== ======================================================
option              methods  meaning
=================== ======== ======================================================
``threshold``       mblnet   minimum detection probability, in (0, 1)
``max_sigma``       mblnet   drop detections whose predicted uncertainty
                             ``sqrt(sigma_z**2 + sigma_x**2)`` (pixels) is above it;
                             in (0, inf]
``min_probability`` 3dml     drop detections whose probability (presence summed
                             over the maximum and the neighbours agreeing with its
                             position, capped at 1) is below it; in [0, 1)
``subpixel``        both     ``"weighted"`` or ``"max"`` (see :mod:`pyulm.nn.decode`)
=================== ======== ======================================================

and one inference option (not a decode setting, never in ``config.json``):
``precision`` (both), the arithmetic of the forward pass, one of
:data:`PRECISIONS` (see :func:`check_precision`).

``max_sigma`` and ``min_probability`` are a number or a density table
``{"density": [...], "cutoff": [...]}`` (see :mod:`pyulm.nn.decode`).
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import unknown_option

#: Sub-pixel decoders.
SUBPIXEL = ("weighted", "max")

#: Forward-pass arithmetic: ``"fp32"`` (float32, the default) or ``"bf16"`` (bfloat16
#: autocast: convolutions in bfloat16, accumulations and outputs in float32).
PRECISIONS = ("fp32", "bf16")

#: Defaults when a model's config.json does not set an option (no cutoff).
DECODE_DEFAULTS = {
    "mblnet": {"threshold": 0.5, "max_sigma": None, "subpixel": "weighted"},
    "3dml": {"min_probability": None, "subpixel": "weighted"},
}

# (lo, hi, lo_open, hi_open, table allowed)
_RANGES = {
    "threshold": (0.0, 1.0, True, True, False),
    "max_sigma": (0.0, math.inf, True, False, True),
    "min_probability": (0.0, 1.0, False, True, True),
}


def _is_number(v) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float, np.integer, np.floating))


def check_cutoff(value, name: str, lo: float, hi: float, *, lo_open: bool, hi_open: bool, where: str = "",
                 table: bool = True):
    """Validate a cutoff: ``None`` (no cutoff), a number in the range, or a density
    table ``{"density": [...], "cutoff": [...]}`` (densities >= 0, strictly
    increasing; cutoffs in the range). Returns it normalised to floats; raises a
    ValueError naming ``where`` + ``name`` and the expected range."""
    rng = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def cut(v, what):
        f = float(v) if _is_number(v) else math.nan
        if math.isnan(f) or not lo <= f <= hi or (lo_open and f == lo) or (hi_open and f == hi):
            raise ValueError(f"{where}{name}: {what} a number in {rng}, got {v!r}")
        return f

    if value is None:
        return None
    if not isinstance(value, dict) or not table:
        return cut(value, "expected a density table {\"density\": [...], \"cutoff\": [...]} or" if table else "expected")
    d, c = value.get("density"), value.get("cutoff")
    if (sorted(value) != ["cutoff", "density"] or not isinstance(d, (list, tuple)) or not isinstance(c, (list, tuple))
            or len(d) != len(c) or not d):
        raise ValueError(f"{where}{name}: a density table must be {{\"density\": [...], \"cutoff\": [...]}} with "
                         f"two lists of the same non-zero length, got {value!r}")
    if (not all(_is_number(v) and math.isfinite(float(v)) and v >= 0 for v in d)
            or any(float(b) <= float(a) for a, b in zip(d, d[1:]))):
        raise ValueError(f"{where}{name}: table densities (bubbles per 100 pixels) must be finite numbers >= 0 in "
                         f"strictly increasing order, got {d!r}")
    return {"density": [float(v) for v in d], "cutoff": [cut(v, "every table cutoff must be") for v in c]}


def check_precision(value, where: str = "") -> str:
    """Validate the ``precision`` of a learned localizer's forward pass.

    Parameters
    ----------
    value : {"fp32", "bf16"} or None
        ``"fp32"``: float32 throughout (the reference). ``"bf16"``: the
        convolutions run under ``torch.autocast`` in bfloat16 -- about 2-2.5x
        faster on CPUs with AMX / AVX-512 BF16 (slower on CPUs without), same
        detections up to rare borderline ones, positions within ~0.01 px.
        None means ``"fp32"``.
    where : str
        Prefix of the error message (the method name).

    Returns
    -------
    str
        The precision.

    Raises
    ------
    ValueError
        Any other value, naming ``precision`` and the accepted values.
    """
    if value is None:
        return "fp32"
    if not isinstance(value, str) or value not in PRECISIONS:
        raise ValueError(f"{where}precision: expected one of {', '.join(map(repr, PRECISIONS))}, got {value!r}")
    return value


def check_decode_option(architecture: str, name: str, value, where: str = ""):
    """Validate one decode option of ``architecture`` (None passes through:
    "use the model's default"); returns the normalised value. ValueErrors name
    ``where`` + the option and the expected values."""
    if name not in DECODE_DEFAULTS[architecture]:
        err = unknown_option(f"the {architecture} decode section", name, DECODE_DEFAULTS[architecture])
        raise type(err)(f"{where}{err}")
    if value is None:
        return None
    if name == "subpixel":
        if not isinstance(value, str) or value not in SUBPIXEL:
            raise ValueError(f"{where}subpixel: expected one of {', '.join(map(repr, SUBPIXEL))}, got {value!r}")
        return value
    lo, hi, lo_open, hi_open, table = _RANGES[name]
    return check_cutoff(value, name, lo, hi, lo_open=lo_open, hi_open=hi_open, where=where, table=table)


def check_decode_section(architecture: str, section, where: str) -> dict:
    """Validate a config.json ``"decode"`` object; returns the full option dict
    (defaults filled in)."""
    if section is None:
        section = {}
    if not isinstance(section, dict):
        raise ValueError(f"{where}\"decode\" must be an object, got {section!r}")
    out = dict(DECODE_DEFAULTS[architecture])
    for k, v in section.items():
        if v is None:
            raise ValueError(f"{where}\"decode\".{k}: null is not a value (leave the key out for the default)")
        out[k] = check_decode_option(architecture, k, v, f"{where}\"decode\".")
    return out
