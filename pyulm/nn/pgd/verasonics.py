"""PgD's physics parameters from the structs of a Verasonics workspace.

Fields read (Vantage conventions, see ``MATLAB_INTEROP.md`` section 3.1):

* ``Trans.frequency`` (MHz); ``Trans.Bandwidth`` = [low high] MHz, the transducer's
  one-way -6 dB band, becomes the pulse-echo fractional bandwidth
  ``(high - low) / frequency / sqrt(2)`` (a Gaussian response, squared by the round trip);
* ``Trans.spacingMm``, else ``Trans.spacing`` (wavelengths), else the pitch of
  ``Trans.ElementPos`` (in ``Trans.units``); ``Trans.numelements``, else the rows of ``ElementPos``;
* ``TW.Parameters`` = [A B C D]: C half-cycles, so ``n_cycles = C / 2`` (the waveform of
  ``TX(1).waveform`` when ``TX`` is given, else ``TW(1)``);
* ``TX(k).Steer(1)`` (radians): the distinct steering angles give ``n_angles`` and ``angle_span_deg``;
* ``PData.PDelta`` = [dx dy dz] (wavelengths; square pixels expected) gives ``pixel_size_mm``, and the depth of
  the centre of the grid, ``Origin(3) + (Size(1) - 1) * PDelta(3) / 2`` wavelengths;
* ``Resource.Parameters.speedOfSound`` (m/s; default 1540).

Verasonics stores no receive F-number: give ``f_number`` as an override. Any field of
:class:`~pyulm.nn.pgd.physics.PhysicsParams` given as an override replaces what the
structs say; a field neither found nor overridden is one error naming the struct field.
"""
from __future__ import annotations

import math

import numpy as np

from ...beamform._fields import element_positions, number, structs


def _one(struct_or_array, name):
    if struct_or_array is None:
        return None
    try:
        items = structs({name: struct_or_array}, name)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None
    # numeric lists (structs written by hand or from JSON) read as the arrays MAT readers give
    return [{k: np.asarray(v, float) if isinstance(v, (list, tuple)) and all(isinstance(e, (int, float)) for e in v)
             else v for k, v in s.items()} for s in items]


def params_from_verasonics(Trans, TW, PData=None, TX=None, Resource=None, overrides=None) -> dict:
    """``{field: value}`` for :class:`~pyulm.nn.pgd.physics.PhysicsParams` from Verasonics structs (dicts as
    :func:`pyulm.io.read_mat` returns them, or lists / object arrays of them for struct arrays).

    Examples
    --------
    >>> trans = {"frequency": 15.625, "Bandwidth": [10.0, 22.0], "spacingMm": 0.1, "numelements": 128}
    >>> tw = {"type": "parametric", "Parameters": [15.625, 0.67, 2, 1]}
    >>> d = params_from_verasonics(trans, tw, {"PDelta": [0.5, 0, 0.5], "Origin": [-32, 0, 10], "Size": [80, 128, 1]},
    ...                            [{"Steer": [a, 0]} for a in (-0.1, 0.0, 0.1)], None, {"f_number": 1.0})
    >>> d["n_cycles"], d["n_angles"], round(d["angle_span_deg"], 2), round(d["depth_mm"], 3)
    (1.0, 3, 11.46, 2.932)
    """
    over = dict(overrides or {})
    out: dict = {}
    trans = _one(Trans, "Trans")
    if not trans:
        raise ValueError("Trans: expected the Trans struct of the workspace (frequency, spacing, numelements)")
    trans = trans[0]
    f0 = float(number(trans, "frequency", "Trans")[0])
    if f0 <= 0:
        raise ValueError(f"Trans.frequency = {f0}: expected a positive centre frequency in MHz")
    out["center_frequency_mhz"] = f0
    res = Resource if isinstance(Resource, dict) else {}
    par = res.get("Parameters") if isinstance(res.get("Parameters"), dict) else {}
    c = number(par, "speedOfSound", "Resource.Parameters", required=False)
    out["speed_of_sound"] = float(c[0]) if c is not None else 1540.0
    c = float(over.get("speed_of_sound", out["speed_of_sound"]))
    wl_mm = c / (f0 * 1e3)

    bw = number(trans, "Bandwidth", "Trans", required=False)
    if bw is not None:
        if bw.size != 2 or bw[1] <= bw[0]:
            raise ValueError(f"Trans.Bandwidth = {bw.tolist()}: expected [low high] in MHz with low < high")
        out["fractional_bandwidth"] = float((bw[1] - bw[0]) / f0 / math.sqrt(2))

    pitch = number(trans, "spacingMm", "Trans", required=False)
    if pitch is not None:
        out["pitch_mm"] = float(pitch[0])
    elif number(trans, "spacing", "Trans", required=False) is not None:
        out["pitch_mm"] = float(number(trans, "spacing", "Trans")[0]) * wl_mm
    elif "ElementPos" in trans:
        xe = element_positions(trans, wl_mm * 1e-3, [])
        out["pitch_mm"] = float(np.median(np.diff(xe)) * 1e3)
    n_el = number(trans, "numelements", "Trans", required=False)
    if n_el is not None:
        out["n_elements"] = int(n_el[0])
    elif "ElementPos" in trans:
        out["n_elements"] = int(np.asarray(trans["ElementPos"]).shape[0])

    txs = _one(TX, "TX")
    tws = _one(TW, "TW")
    if tws:
        k = 0
        if txs:
            w = number(txs[0], "waveform", "TX(1)", required=False)
            k = int(w[0]) - 1 if w is not None else 0
            if not 0 <= k < len(tws):
                raise ValueError(f"TX(1).waveform = {k + 1}: expected an index into TW(1:{len(tws)})")
        p = number(tws[k], "Parameters", f"TW({k + 1})", required=False)
        if p is not None:
            if p.size < 3 or p[2] <= 0:
                raise ValueError(f"TW({k + 1}).Parameters = {p.tolist()}: expected [frequency duty half-cycles polarity]"
                                 " with half-cycles > 0")
            out["n_cycles"] = float(p[2]) / 2
    if txs:
        steer = [float(number(t, "Steer", f"TX({i + 1})", default=np.zeros(2))[0]) for i, t in enumerate(txs)]
        angles = np.unique(np.round(np.rad2deg(steer), 6))
        out["n_angles"] = int(angles.size)
        out["angle_span_deg"] = float(angles.max() - angles.min())

    pd = _one(PData, "PData")
    if pd:
        pd = pd[0]
        d = number(pd, "PDelta", "PData")
        if d.size != 3 or d[0] <= 0 or d[2] <= 0:
            raise ValueError(f"PData.PDelta = {d.tolist()}: expected [dx dy dz] in wavelengths with dx, dz > 0")
        if not np.isclose(d[0], d[2], rtol=1e-3):
            raise ValueError(f"PData.PDelta = {d.tolist()}: PgD generates square pixels; expected dx = dz "
                             "(or give pixel_size_mm as an override)")
        out["pixel_size_mm"] = float(d[2]) * wl_mm
        origin = number(pd, "Origin", "PData", required=False)
        size = number(pd, "Size", "PData", required=False)
        if origin is not None and size is not None and origin.size == 3:
            out["depth_mm"] = float(origin[2] + (size[0] - 1) * d[2] / 2) * wl_mm

    out.update(over)
    where = {"fractional_bandwidth": "Trans.Bandwidth", "pitch_mm": "Trans.spacingMm (or spacing, ElementPos)",
             "n_elements": "Trans.numelements (or ElementPos)", "n_cycles": "TW.Parameters",
             "n_angles": "TX.Steer", "angle_span_deg": "TX.Steer", "pixel_size_mm": "PData.PDelta",
             "depth_mm": "PData.Origin and PData.Size",
             "f_number": "the receive F-number (Verasonics does not store it)"}
    missing = [f"{k} ({w})" for k, w in where.items() if k not in out]
    if missing:
        raise ValueError(f"from_verasonics: no value for {', '.join(missing)}; give the struct field or pass the "
                         "value as a keyword")
    return out
