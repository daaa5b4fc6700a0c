"""pyulm tables as MATLAB structs, with MATLAB's 1-based positions.

A ``Localizations`` table becomes a struct with one column vector per column
(``z``, ``x``, ``frame`` 1-based) plus ``meta``; a ``Tracks`` table a struct with
``tracks`` (a cell column of N x C matrices), ``columns`` and ``meta``. Both carry
``pyulm_type`` so that MATLAB code can pass them back, and
:func:`table_from_matlab` restores the 0-based table.
"""
from __future__ import annotations

import numpy as np

from .values import TYPE, text

#: Columns that hold positions or frame numbers: +1 in MATLAB, -1 on the way back.
ONE_BASED = ("z", "x", "frame")


def _meta_from_matlab(m):
    from ..tables import Metadata

    if not isinstance(m, dict):
        return Metadata()
    fr = m.get("frame_rate")
    if fr is None or np.size(fr) == 0 or (isinstance(fr, float) and np.isnan(fr)):
        fr = None
    else:
        fr = float(np.asarray(fr).ravel()[0])
    return Metadata(
        pixel_size=tuple(np.asarray(m.get("pixel_size", (1.0, 1.0)), float).ravel()[:2]),
        origin=tuple(np.asarray(m.get("origin", (0.0, 0.0)), float).ravel()[:2]),
        frame_rate=fr,
        unit=str(m.get("unit", "pixel")),
        params=m.get("params") if isinstance(m.get("params"), dict) else {},
    )


def _meta_to_matlab(meta) -> dict:
    return {
        "pixel_size": np.asarray(meta.pixel_size, float).reshape(1, -1),
        "origin": np.asarray(meta.origin, float).reshape(1, -1),
        "frame_rate": np.nan if meta.frame_rate is None else float(meta.frame_rate),
        "unit": str(meta.unit),
    }


def _col(v) -> np.ndarray:
    return np.atleast_1d(np.asarray(v)).ravel(order="F")


def table_from_matlab(d: dict):
    """A struct made by :func:`table_to_matlab` -> the pyulm table (0-based again).

    Raises
    ------
    ValueError
        Naming the missing field or the unknown ``pyulm_type``.
    """
    from ..tables import Localizations, Tracks

    kind = text(d[TYPE])
    meta = _meta_from_matlab(d.get("meta"))
    if kind == "Localizations":
        cols = {k: _col(v) for k, v in d.items() if k not in (TYPE, "meta")}
        for k in ONE_BASED:
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
        for t in tracks:
            a = np.array(np.atleast_2d(np.asarray(t, dtype=float)))
            if a.shape[1] != len(columns) and a.shape[0] == len(columns) and a.shape[1] == 1:
                a = a.T
            for j, c in enumerate(columns):
                if c in ONE_BASED and j < a.shape[1]:
                    a[:, j] -= 1.0
            arrays.append(a)
        return Tracks.from_list(arrays, columns=columns, meta=meta)
    raise ValueError(f"{TYPE}: unknown pyulm table type {kind!r}")


def table_to_matlab(obj) -> dict | None:
    """A pyulm table -> its MATLAB struct (1-based positions); anything else -> ``None``."""
    from ..tables import Localizations, Tracks

    if isinstance(obj, Localizations):
        d = {TYPE: "Localizations"}
        for name in obj.columns:
            col = np.asarray(obj[name])
            if name in ONE_BASED:
                col = col.astype(float) + 1.0
            d[name] = col.reshape(-1, 1)
        d["meta"] = _meta_to_matlab(obj.meta)
        return d
    if isinstance(obj, Tracks):
        shift = np.array([1.0 if c in ONE_BASED else 0.0 for c in obj.columns])
        pts = np.asarray(obj.points, dtype=float) + shift
        tracks = [pts[obj.offsets[k]:obj.offsets[k + 1]] for k in range(len(obj))]
        return {TYPE: "Tracks", "tracks": tracks, "columns": list(obj.columns), "meta": _meta_to_matlab(obj.meta)}
    return None
