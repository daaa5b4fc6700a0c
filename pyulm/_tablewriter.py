"""Tables written part by part: :class:`TableWriter` (:meth:`Localizations.writer`, :meth:`Tracks.writer`).

A long acquisition's tables need not fit in memory: each part (a block's rows) goes to
the HDF5 file as it comes, in the layout and with the metadata ``save`` writes.
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import numpy as np

from ._fileutil import atomic_path
from .tables import Localizations, Metadata, Tracks  # noqa: F401  (Localizations, Tracks: the doctest)
class TableWriter:
    """A :class:`Localizations` or :class:`Tracks` file written part by part, atomically.

    Made by :meth:`Localizations.writer` / :meth:`Tracks.writer`; a context manager.
    The file has the layout and metadata :meth:`Localizations.save` / :meth:`Tracks.save`
    write, so ``load`` reads it unchanged; memory holds one part at a time. With the
    totals given, the datasets are allocated whole (contiguous, as ``save`` stores them)
    and the totals are checked at the end; without them they grow (chunked). The file
    appears under its name only when the block exits without an error.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "t.h5")
    >>> with Tracks.writer(p, ("z", "x")) as w:
    ...     w.append(points=np.zeros((3, 2)), offsets=[0, 1, 3])
    ...     w.append(points=np.ones((2, 2)), offsets=[0, 2])
    >>> Tracks.load(p).lengths.tolist()
    [1, 2, 2]
    """

    def __init__(self, path, kind: str, group: str, specs: dict, rows, meta, columns: list):
        self.path, self.kind, self._group, self._specs = Path(path), kind, group, specs
        self._total = rows if rows is None or isinstance(rows, dict) else {k: int(rows) for k in specs}
        self._meta = meta if meta is not None else Metadata()
        self._columns = columns
        self._row = {k: 0 for k in specs}

    def __enter__(self) -> "TableWriter":
        import h5py

        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        try:
            self._f = h5py.File(tmp, "w")
            g = self._g = self._f.create_group(self._group)
            for k, (dt, tail) in self._specs.items():
                if self._total is not None:
                    g.create_dataset(k, shape=(self._total[k],) + tail, dtype=dt)
                else:
                    g.create_dataset(k, shape=(0,) + tail, maxshape=(None,) + tail, dtype=dt,
                                     chunks=(max(1, 2**16 // max(1, dt.itemsize * int(np.prod(tail)))),) + tail)
            if self.kind == "Tracks":
                self._put("offsets", np.zeros(1, np.int64))
        except BaseException:
            self._close(*sys.exc_info())
            raise
        return self

    def append(self, **columns) -> None:
        """Add rows: every column (Localizations), or ``points`` and ``offsets`` (Tracks)."""
        if set(columns) != set(self._specs):
            raise ValueError(f"{self.path}: append takes the columns {tuple(self._specs)}, got {tuple(columns)}")
        if self.kind == "Tracks":
            pts = np.asarray(columns["points"])
            offs = np.asarray(columns["offsets"], np.int64).ravel()
            ncol = self._specs["points"][1][0]
            if pts.ndim != 2 or pts.shape[1] != ncol:
                raise ValueError(f"{self.path}: points must be (N, {ncol}), got shape {pts.shape}")
            if offs.size < 1 or offs[0] != 0 or offs[-1] != len(pts) or np.any(np.diff(offs) < 0):
                raise ValueError(f"{self.path}: offsets must start at 0, never decrease and end at the number of points")
            base = self._row["points"]
            self._put("points", pts)
            self._put("offsets", offs[1:] + base)
            return
        arrays = {k: np.asarray(v).ravel() for k, v in columns.items()}
        n = {a.size for a in arrays.values()}
        if len(n) != 1:
            raise ValueError(f"{self.path}: the columns of one append differ in length ({sorted(n)})")
        for k, a in arrays.items():
            self._put(k, a)

    def _put(self, name: str, a: np.ndarray) -> None:
        ds, r = self._g[name], self._row[name]
        if self._total is None:
            ds.resize(r + len(a), axis=0)
        elif r + len(a) > self._total[name]:
            raise ValueError(f"{self.path}: more rows in {name!r} than the {self._total[name]} declared")
        if len(a):
            ds[r:r + len(a)] = a.astype(self._specs[name][0], copy=False)
        self._row[name] = r + len(a)

    def __exit__(self, et, ev, tb) -> bool:
        if et is None and self._total is not None and self._row != self._total:
            short = {k: f"{self._row[k]} of {self._total[k]}" for k in self._row if self._row[k] != self._total[k]}
            err = ValueError(f"{self.path}: fewer rows than declared ({short})")
            raise self._close(ValueError, err, None) or err
        err = self._close(et, ev, tb)
        if err is not None:
            raise err
        return False

    def _close(self, et, ev, tb):
        """Finish the file (metadata last, as ``save``), close it and rename it into place, or
        remove it when ``et`` is set; returns an error of its own to raise, if any."""
        err = None
        f = getattr(self, "_f", None)
        if f is not None:
            try:
                if et is None:
                    self._g.attrs.update(self._meta.to_attrs())
                    self._g.attrs["columns"] = json.dumps(self._columns)
                    f.attrs["pyulm_table"] = self.kind
                f.close()
            except Exception as exc:  # the metadata or the close failed: no file under the name
                err, (et, ev, tb) = exc, (type(exc), exc, exc.__traceback__)
                with contextlib.suppress(Exception):
                    f.close()
        try:
            self._atomic.__exit__(et, ev, tb)
        except BaseException as exc:  # the rename failed, or the error named after the file
            if exc is not ev:
                return exc
        return err
