"""The two interchange tables of pyulm: :class:`Localizations` and :class:`Tracks`.

Both hold plain numpy columns plus metadata (pixel size, origin, frame rate,
units, free-form parameters) and save to / load from HDF5 with that metadata.

Coordinate convention of the Pythonic API: ``z`` and ``x`` are in **pixel
units, 0-based** (the centre of the first pixel is 0.0), ``frame`` is a
0-based frame index. :mod:`pyulm.pala` converts to PALA's 1-based numbers.
Physical positions are ``origin + position * pixel_size``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from ._fileutil import atomic_path
from ._version import __version__

_CORE_LOC = ("z", "x", "frame", "intensity")


@dataclass
class Metadata:
    """Physical context of a table.

    pixel_size : (dz, dx) size of one pixel in ``unit``.
    origin : (z0, x0) physical position of pixel (0, 0) in ``unit``.
    frame_rate : frames per second, or None when unknown.
    unit : name of the physical length unit ("pixel", "wavelength", "mm", ...).
    params : the parameters that produced the table (JSON-serialisable).
    """

    pixel_size: tuple[float, float] = (1.0, 1.0)
    origin: tuple[float, float] = (0.0, 0.0)
    frame_rate: float | None = None
    unit: str = "pixel"
    params: dict = field(default_factory=dict)

    def to_attrs(self) -> dict:
        return {
            "pixel_size": np.asarray(self.pixel_size, float),
            "origin": np.asarray(self.origin, float),
            "frame_rate": np.nan if self.frame_rate is None else float(self.frame_rate),
            "unit": self.unit,
            "params": json.dumps(_jsonable(self.params)),
            "pyulm_version": __version__,
        }

    @classmethod
    def from_attrs(cls, attrs) -> "Metadata":
        fr = float(attrs.get("frame_rate", np.nan))
        return cls(
            pixel_size=tuple(float(v) for v in attrs.get("pixel_size", (1.0, 1.0))),
            origin=tuple(float(v) for v in attrs.get("origin", (0.0, 0.0))),
            frame_rate=None if np.isnan(fr) else fr,
            unit=str(attrs.get("unit", "pixel")),
            params=json.loads(attrs.get("params", "{}")),
        )


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


class Localizations:
    """A table of localized microbubbles, one row per bubble per frame.

    Parameters
    ----------
    z, x : array_like of float
        Sub-pixel positions, pixel units, 0-based.
    frame : array_like of int
        0-based frame index of each row.
    intensity : array_like of float
        Intensity (|IQ| at the detection pixel for the conventional methods).
    extra : mapping of str to array_like, optional
        More columns of the same length (e.g. ``probability``, ``sigma_z``).
    meta : Metadata, optional

    Examples
    --------
    >>> locs = Localizations(z=[1.5], x=[2.0], frame=[0], intensity=[3.0])
    >>> len(locs), locs.columns
    (1, ('z', 'x', 'frame', 'intensity'))
    """

    def __init__(self, z=(), x=(), frame=(), intensity=None, extra: Mapping | None = None, meta: Metadata | None = None):
        z = np.asarray(z, dtype=float).ravel()
        n = z.size
        cols = {
            "z": z,
            "x": np.asarray(x, dtype=float).ravel(),
            "frame": np.asarray(frame).ravel().astype(np.int64),
            "intensity": np.ones(n) if intensity is None else np.asarray(intensity, dtype=float).ravel(),
        }
        for k, v in (extra or {}).items():
            cols[str(k)] = np.asarray(v).ravel()
        for k, v in cols.items():
            if v.size != n:
                raise ValueError(f"Localizations: column {k!r} has {v.size} rows, expected {n} (the length of z)")
        self._cols = cols
        self.meta = meta if meta is not None else Metadata()

    # -- table protocol -------------------------------------------------
    def __len__(self) -> int:
        return self._cols["z"].size

    def __getitem__(self, name: str) -> np.ndarray:
        return self._cols[name]

    def __contains__(self, name: str) -> bool:
        return name in self._cols

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self._cols)

    @property
    def z(self):
        return self._cols["z"]

    @property
    def x(self):
        return self._cols["x"]

    @property
    def frame(self):
        return self._cols["frame"]

    @property
    def intensity(self):
        return self._cols["intensity"]

    def __repr__(self) -> str:
        nf = len(np.unique(self.frame)) if len(self) else 0
        return f"Localizations({len(self)} rows over {nf} frames, columns={list(self.columns)}, unit={self.meta.unit!r})"

    def select(self, index) -> "Localizations":
        """Rows picked by a boolean mask or an integer index array."""
        cols = {k: v[index] for k, v in self._cols.items()}
        return self._from_columns(cols, self.meta)

    def with_columns(self, **columns) -> "Localizations":
        """A new table with columns added or replaced."""
        cols = dict(self._cols)
        cols.update({k: np.asarray(v).ravel() for k, v in columns.items()})
        return self._from_columns(cols, self.meta)

    @classmethod
    def _from_columns(cls, cols: Mapping, meta: Metadata) -> "Localizations":
        extra = {k: v for k, v in cols.items() if k not in _CORE_LOC}
        return cls(cols["z"], cols["x"], cols["frame"], cols["intensity"], extra=extra, meta=meta)

    @classmethod
    def concat(cls, tables: Sequence["Localizations"], frame_offsets: Sequence[int] | None = None) -> "Localizations":
        """Stack tables row-wise; optionally add a frame offset to each."""
        tables = list(tables)
        if not tables:
            return cls()
        names = tables[0].columns
        for t in tables[1:]:
            if t.columns != names:
                raise ValueError(f"Localizations.concat: column sets differ: {names} vs {t.columns}")
        cols = {k: np.concatenate([t[k] for t in tables]) for k in names}
        if frame_offsets is not None:
            cols["frame"] = np.concatenate([t.frame + int(o) for t, o in zip(tables, frame_offsets)])
        return cls._from_columns(cols, tables[0].meta)

    def to_array(self, columns: Iterable[str] = _CORE_LOC) -> np.ndarray:
        """An (N, len(columns)) float array of the named columns."""
        return np.column_stack([self._cols[c].astype(float) for c in columns]) if len(self) else np.zeros((0, len(tuple(columns))))

    def physical(self) -> tuple[np.ndarray, np.ndarray]:
        """(z, x) in the metadata's physical unit."""
        (dz, dx), (z0, x0) = self.meta.pixel_size, self.meta.origin
        return z0 + self.z * dz, x0 + self.x * dx

    # -- HDF5 -------------------------------------------------------------
    def save(self, path) -> Path:
        """Write the table and its metadata to an HDF5 file (atomically)."""
        import h5py

        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                g = f.create_group("localizations")
                for k, v in self._cols.items():
                    g.create_dataset(k, data=v)
                g.attrs.update(self.meta.to_attrs())
                g.attrs["columns"] = json.dumps(list(self.columns))
                f.attrs["pyulm_table"] = "Localizations"
        return path

    @staticmethod
    def writer(path, columns: Mapping, meta: Metadata | None = None, rows: int | None = None) -> "TableWriter":
        """A :class:`TableWriter` that writes a Localizations file part by part (what :meth:`save` writes).

        ``columns``: ``{name: dtype}``, starting with ``z``, ``x``, ``frame``, ``intensity``;
        ``rows``: the total, when known (the columns are then stored as :meth:`save` stores them).
        """
        cols = dict(columns)
        if tuple(cols)[:4] != _CORE_LOC:
            raise ValueError(f"Localizations.writer: columns must start with {_CORE_LOC}, got {tuple(cols)}")
        specs = {k: (np.dtype(np.int64) if k == "frame" else np.dtype(v), ()) for k, v in cols.items()}
        return TableWriter(path, "Localizations", "localizations", specs, rows, meta, list(cols))

    @classmethod
    def load(cls, path) -> "Localizations":
        """Read a table written by :meth:`save`."""
        import h5py

        with h5py.File(path, "r") as f:
            if f.attrs.get("pyulm_table") != "Localizations":
                raise ValueError(f"{path}: not a pyulm Localizations file")
            g = f["localizations"]
            names = json.loads(g.attrs["columns"])
            cols = {k: g[k][()] for k in names}
            meta = Metadata.from_attrs(g.attrs)
        return cls._from_columns(cols, meta)


class Tracks:
    """Tracks as one point array plus per-track offsets.

    ``points`` is (N, C) float, with column names ``columns`` (at least
    ``z``, ``x``; usually ``frame``, and ``vz``, ``vx``, ``t`` after
    velocity interpolation). Track ``k`` is ``points[offsets[k]:offsets[k+1]]``.

    Examples
    --------
    >>> tr = Tracks.from_list([np.zeros((3, 3)), np.ones((2, 3))], columns=("z", "x", "frame"))
    >>> len(tr), tr.lengths.tolist()
    (2, [3, 2])
    """

    def __init__(self, points=None, offsets=None, columns: Sequence[str] = ("z", "x", "frame"), meta: Metadata | None = None):
        columns = tuple(columns)
        points = np.zeros((0, len(columns))) if points is None else np.asarray(points)
        if points.ndim != 2 or points.shape[1] != len(columns):
            raise ValueError(f"Tracks: points must be (N, {len(columns)}) for columns {columns}, got shape {points.shape}")
        offsets = np.zeros(1, np.int64) if offsets is None else np.asarray(offsets, dtype=np.int64).ravel()
        if offsets.size < 1 or offsets[0] != 0 or offsets[-1] != points.shape[0] or np.any(np.diff(offsets) < 0):
            raise ValueError("Tracks: offsets must start at 0, never decrease and end at the number of points")
        self.points = points
        self.offsets = offsets
        self.columns = columns
        self.meta = meta if meta is not None else Metadata()

    def __len__(self) -> int:
        return self.offsets.size - 1

    def __getitem__(self, k: int) -> np.ndarray:
        n = len(self)
        if not -n <= k < n:
            raise IndexError(f"track {k} out of range for {n} tracks")
        k %= n
        return self.points[self.offsets[k]:self.offsets[k + 1]]

    def __iter__(self):
        for k in range(len(self)):
            yield self[k]

    def __repr__(self) -> str:
        return f"Tracks({len(self)} tracks, {self.points.shape[0]} points, columns={list(self.columns)})"

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def column(self, name: str) -> np.ndarray:
        """All points' values of one column."""
        try:
            return self.points[:, self.columns.index(name)]
        except ValueError:
            raise KeyError(f"Tracks has no column {name!r}; columns are {self.columns}") from None

    @property
    def track_id(self) -> np.ndarray:
        """The track index of every point."""
        return np.repeat(np.arange(len(self)), self.lengths)

    def to_list(self) -> list[np.ndarray]:
        return [self[k] for k in range(len(self))]

    @classmethod
    def from_list(cls, arrays: Sequence, columns: Sequence[str] = ("z", "x", "frame"), meta: Metadata | None = None, dtype=None) -> "Tracks":
        arrays = [np.atleast_2d(np.asarray(a)) for a in arrays]
        ncol = len(tuple(columns))
        for i, a in enumerate(arrays):
            if a.shape[1] != ncol:
                raise ValueError(f"Tracks.from_list: track {i} has {a.shape[1]} columns, expected {ncol} ({tuple(columns)})")
        lengths = [a.shape[0] for a in arrays]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        if arrays:
            pts = np.concatenate(arrays, axis=0)
        else:
            pts = np.zeros((0, ncol))
        if dtype is not None:
            pts = pts.astype(dtype)
        return cls(pts, offsets, columns, meta)

    def select(self, keep) -> "Tracks":
        """The tracks picked by a boolean mask or an index array over tracks."""
        idx = np.arange(len(self))[keep]
        return Tracks.from_list([self[k] for k in idx], self.columns, self.meta, dtype=self.points.dtype)

    def save(self, path) -> Path:
        import h5py

        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                g = f.create_group("tracks")
                g.create_dataset("points", data=self.points)
                g.create_dataset("offsets", data=self.offsets)
                g.attrs.update(self.meta.to_attrs())
                g.attrs["columns"] = json.dumps(list(self.columns))
                f.attrs["pyulm_table"] = "Tracks"
        return path

    @staticmethod
    def writer(path, columns: Sequence[str], meta: Metadata | None = None, dtype=np.float64,
               points: int | None = None, tracks: int | None = None) -> "TableWriter":
        """A :class:`TableWriter` that writes a Tracks file part by part (what :meth:`save` writes).

        Each :meth:`TableWriter.append` takes ``points`` (rows of ``columns``) and
        ``offsets`` (of those rows: from 0 to their number); ``points``/``tracks``: the
        totals, when known.
        """
        columns = tuple(columns)
        specs = {"points": (np.dtype(dtype), (len(columns),)), "offsets": (np.dtype(np.int64), ())}
        rows = None if points is None or tracks is None else {"points": int(points), "offsets": int(tracks) + 1}
        return TableWriter(path, "Tracks", "tracks", specs, rows, meta, list(columns))

    @classmethod
    def load(cls, path) -> "Tracks":
        import h5py

        with h5py.File(path, "r") as f:
            if f.attrs.get("pyulm_table") != "Tracks":
                raise ValueError(f"{path}: not a pyulm Tracks file")
            g = f["tracks"]
            return cls(g["points"][()], g["offsets"][()], json.loads(g.attrs["columns"]), Metadata.from_attrs(g.attrs))


from ._tablewriter import TableWriter  # noqa: E402  (the writers of the two tables; needs Metadata above)
