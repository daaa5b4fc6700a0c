"""MATLAB v7.3 cells written element by element with h5py (for :class:`StreamedCell` variables).

MATLAB's v7.3 layout, as hdf5storage writes it with ``matlab_compatible=True``: the
cell is a dataset of object references (its dimensions reversed, MATLAB's column
order) with ``MATLAB_class = 'cell'``; each element is a dataset in ``/#refs#``
holding the transposed array, with its ``MATLAB_class`` and ``H5PATH``; an empty
element holds its dimensions (uint64) and ``MATLAB_empty = 1``; ``/#refs#/a`` is the
canonical empty. Elements of 16 KiB or more are deflated (gzip 7, shuffle and
Fletcher-32), as hdf5storage's defaults do, so the files match its files array for array.
"""
from __future__ import annotations

import numpy as np

from ._mat5 import MatFileError

_CLASS = {"f8": "double", "f4": "single", "i1": "int8", "u1": "uint8", "i2": "int16", "u2": "uint16",
          "i4": "int32", "u4": "uint32", "i8": "int64", "u8": "uint64"}
COMPRESS_AT = 16 * 1024  # hdf5storage's compress_size_threshold


def _names(group):
    """Element names not yet in ``group`` (a counter; names hdf5storage wrote are skipped)."""
    k = 0
    while True:
        k += 1
        name = f"s{k:x}"
        if name not in group:
            yield name


def write_cells(path, cells: dict) -> None:
    """Add ``{name: StreamedCell}`` to the v7.3 file ``path`` (made by hdf5storage), part by part.

    Raises
    ------
    MatFileError
        An element that is not a real 2-D array, or parts that do not give the declared count
        and sizes (the sizes the same elements have in a MAT v5 file).
    """
    import h5py

    with h5py.File(path, "a") as f:
        refs = f.require_group("#refs#")
        if "a" not in refs:
            ce = refs.create_dataset("a", data=np.zeros(2, np.uint64))
            ce.attrs["MATLAB_class"] = np.bytes_("canonical empty")
            ce.attrs["MATLAB_empty"] = np.uint8(1)
        names = _names(refs)
        for var, cell in cells.items():
            n = cell.shape[0]
            if n == 0:  # an empty cell holds its dimensions, as hdf5storage writes it
                ds = f.create_dataset(var, data=np.array(cell.shape, np.uint64))
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
                ds.attrs["MATLAB_empty"] = np.uint8(1)
            else:
                ds = f.create_dataset(var, shape=(1, n), dtype=h5py.ref_dtype)
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
            k = size = 0
            for part in cell.parts():
                batch = []
                for v in part:
                    where = f"variable {var!r}{{{k + len(batch) + 1}}}"
                    if not (isinstance(v, np.ndarray) and v.ndim == 2 and v.dtype.str[1:] in _CLASS):
                        raise MatFileError(f"{where}: a streamed cell holds real 2-D arrays, "
                                           f"not {type(v).__name__} {getattr(v, 'shape', '')}")
                    size += cell.sizes([v.shape[0]], [v.shape[1]], v.dtype)[0]  # the declaration, as in v5
                    if k + len(batch) >= n or size > cell.size:
                        _mismatch(var, cell, k + len(batch) + 1, size)
                    batch.append(_element(refs, next(names), v).ref)
                if batch:
                    ds[0, k:k + len(batch)] = np.array(batch, dtype=h5py.ref_dtype)
                    k += len(batch)
            if (k, size) != (n, cell.size):
                _mismatch(var, cell, k, size)


def _mismatch(var, cell, count, size):
    raise MatFileError(f"variable {var!r}: the streamed cell declared {cell.shape[0]} elements of {cell.size} "
                       f"bytes; its parts gave {count} of {size} (or more)")


def _element(refs, name: str, a: np.ndarray):
    cls = _CLASS[a.dtype.str[1:]]
    if a.size == 0:
        ds = refs.create_dataset(name, data=np.array(a.shape, np.uint64))
        ds.attrs["H5PATH"] = np.bytes_(refs.name)
        ds.attrs["MATLAB_class"] = np.bytes_(cls)
        ds.attrs["MATLAB_empty"] = np.uint8(1)
        return ds
    data = np.ascontiguousarray(a.T)
    filters = dict(compression="gzip", compression_opts=7, shuffle=True, fletcher32=True) \
        if data.nbytes >= COMPRESS_AT else {}
    ds = refs.create_dataset(name, data=data, **filters)
    ds.attrs["H5PATH"] = np.bytes_(refs.name)
    ds.attrs["MATLAB_class"] = np.bytes_(cls)
    return ds
