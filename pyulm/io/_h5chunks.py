"""pyulm's own reader of chunked MAT v7.3/HDF5 datasets (deflate, shuffle, fletcher32).

MATLAB's save -v7.3 stores numeric arrays as chunked HDF5 datasets compressed with deflate
(hdf5storage, which pyulm's save_mat uses, adds the shuffle and fletcher32 filters). h5py
inflates those chunks one after the other on one core, under its global lock. The reader
below decodes the same bytes itself: it asks HDF5 where each chunk is stored (offset, size,
filter mask), reads the stored bytes with os.pread in one thread per core, undoes the
filters (:mod:`pyulm.io._h5filters`: fletcher32 check, bounded inflate, unshuffle; all
release the GIL) and copies each chunk into its place in the output. Which path a read
takes is decided from the dataset's properties before any data is read (see
:func:`plan_chunk_read`); both paths give the same array, byte for byte, and raise
FormatError on corrupt data.
"""
from __future__ import annotations

import itertools

import numpy as np

from ._errors import FormatError
from ._h5chunkread import _H5Z_DEFLATE, _H5Z_FLETCHER32, _H5Z_SHUFFLE, ChunkRead

__all__ = ["h5_read", "h5_read_path", "plan_chunk_read", "chunk_table", "ChunkRead"]

_HANDLED_FILTERS = {_H5Z_DEFLATE: "deflate", _H5Z_SHUFFLE: "shuffle", _H5Z_FLETCHER32: "fletcher32"}


def h5_read(ds, sel=None, *, path=None, name=None, inflater: str | None = None) -> np.ndarray:
    """``ds[sel]`` read from a v7.3/HDF5 dataset, byte for byte what h5py returns.

    Parameters
    ----------
    ds : h5py.Dataset
    sel : tuple of slice, optional
        One step-1 slice per HDF5 axis (HDF5 order, the reverse of MATLAB's); ``None``
        reads the whole dataset (``ds[()]``).
    path, name : optional
        The file and variable named in error messages (default: from ``ds``).
    inflater : str, optional
        A key of :data:`pyulm.io._h5filters.INFLATERS` (``"libdeflate"``, ``"isal"``,
        ``"zlib"``); default: the fastest installed.

    Returns
    -------
    numpy.ndarray
        In HDF5 axis order and h5py's dtype (the ``real``/``imag`` compound for complex data).

    Notes
    -----
    Chunked datasets whose filters are any of deflate (gzip), shuffle and fletcher32 with a
    plain numeric (or ``real``/``imag`` compound) type are decoded by pyulm's chunk reader, in
    parallel; every other dataset (contiguous, compact, other filters such as szip, lzf or
    scale-offset, unwritten chunks, types h5py converts) is read by h5py. :func:`h5_read_path`
    tells which. Corrupt or truncated data raise :class:`FormatError` on both paths.
    """
    path = ds.file.filename if path is None else path
    name = ds.name.lstrip("/") if name is None else name
    try:
        plan = plan_chunk_read(ds, sel, inflater)
        if isinstance(plan, str):
            return ds[() if sel is None else sel]
        return plan.run(path, name)
    except (OSError, RuntimeError) as exc:  # h5py's errors for unreadable data
        raise FormatError(f"{path}: cannot read {name} (corrupt or truncated data: {exc})") from None


def h5_read_path(ds, sel=None, inflater: str | None = None) -> str:
    """How :func:`h5_read` reads ``ds[sel]``: ``"chunks: ..."`` (pyulm's chunk reader) or ``"h5py: <reason>"``."""
    plan = plan_chunk_read(ds, sel, inflater)
    if isinstance(plan, str):
        return f"h5py: {plan}"
    filters = "+".join(_HANDLED_FILTERS[c] for c, _ in plan.filters) or "no filter"
    return f"chunks: {filters}, {plan.inflater} inflate, {plan.n_chunks} chunk(s)"


def _selection(shape, sel):
    if sel is None:
        return [0] * len(shape), list(shape)
    if len(sel) != len(shape) or not all(isinstance(s, slice) for s in sel):
        return None
    starts, stops = [], []
    for s, n in zip(sel, shape):
        a, b, step = s.indices(n)
        if step != 1:
            return None
        starts.append(a)
        stops.append(max(a, b))
    return starts, stops


def _plain_numeric(dt) -> bool:
    from h5py import check_enum_dtype

    return dt.names is None and dt.subdtype is None and dt.kind in "iuf" and check_enum_dtype(dt) is None


def plan_chunk_read(ds, sel=None, inflater: str | None = None):
    """A :class:`ChunkRead` for ``ds[sel]``, or the reason (a str) why h5py reads it."""
    import h5py

    shape = tuple(ds.shape)
    dcpl = ds.id.get_create_plist()
    if ds.chunks is None or dcpl.get_layout() != h5py.h5d.CHUNKED:
        return "not chunked (contiguous or compact storage)"
    box = _selection(shape, sel)
    if box is None:
        return "selection other than one step-1 slice per axis"
    starts, stops = box
    if any(b <= a for a, b in zip(starts, stops)):
        return "empty selection"
    filters = []
    for i in range(dcpl.get_nfilters()):
        code, _flags, cd_values, fname = dcpl.get_filter(i)
        if code not in _HANDLED_FILTERS:
            label = fname.decode(errors="replace") if isinstance(fname, bytes) else str(fname)
            return f"filter {label or code} (id {code}) is not decoded by pyulm"
        filters.append((int(code), tuple(int(v) for v in cd_values)))
    dt = ds.dtype
    simple = _plain_numeric(dt) or (dt.names is not None and all(_plain_numeric(dt[n]) for n in dt.names))
    if not simple or not ds.id.get_type().equal(h5py.h5t.py_create(dt)):
        return f"datatype {dt} is converted by h5py"
    queries = hasattr(ds.id, "chunk_iter") or hasattr(ds.id, "get_chunk_info")  # HDF5 >= 1.10.5
    if not (queries and hasattr(ds.id, "read_direct_chunk")):
        return "this h5py/HDF5 has no chunk queries"
    chunks = tuple(ds.chunks)
    table = chunk_table(ds.id)
    axes = [range(a // c * c, b, c) for a, b, c in zip(starts, stops, chunks)]
    wanted = []
    for origin in itertools.product(*axes):
        entry = table.get(origin)
        if entry is None:
            return "unwritten chunks (HDF5 fills them with the fill value)"
        wanted.append((origin,) + entry)
    return ChunkRead(ds, shape, chunks, filters, starts, stops, wanted, inflater)


def chunk_table(dsid) -> dict:
    """{chunk origin (HDF5 coordinates): (filter_mask, file address, stored size)}."""
    import h5py

    table = {}
    # chunk_iter is one pass over the chunk index; before HDF5 1.14 it reported chunk
    # indices instead of coordinates, so older libraries are asked chunk by chunk.
    if hasattr(dsid, "chunk_iter") and h5py.version.hdf5_version_tuple >= (1, 14, 0):
        def visit(info):
            table[tuple(info.chunk_offset)] = (int(info.filter_mask), int(info.byte_offset), int(info.size))

        dsid.chunk_iter(visit)
    else:
        for i in range(dsid.get_num_chunks()):
            info = dsid.get_chunk_info(i)
            table[tuple(info.chunk_offset)] = (int(info.filter_mask), int(info.byte_offset), int(info.size))
    return table
