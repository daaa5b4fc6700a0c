"""Low-level MAT-file access: version detection, listing, and MATLAB-faithful
decoding of v4-v7 (scipy) and v7.3 (h5py) files.

Decoded values follow one convention whatever the version:

* numeric and logical arrays keep MATLAB's shape and axis order (at least 2-D,
  nothing squeezed), complex data come back as numpy complex arrays;
* a scalar struct is a ``dict``; a struct array is a ``list`` of dicts in
  MATLAB's column-major element order;
* a cell array is a numpy object array with MATLAB's shape;
* a char array is a ``str`` (a multi-row char matrix a list of ``str``);
* MATLAB objects (``string``, ``datetime``, handles, classdef instances) that
  no reader outside MATLAB can decode are skipped and named in ``notes``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_NUMERIC = {
    "double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
}


class FormatError(ValueError):
    """The file cannot be read as what it claims to be (one line, names the file)."""


@dataclass(frozen=True)
class VarInfo:
    """One variable of a file as listed without loading it."""

    name: str
    shape: tuple
    mclass: str  # MATLAB class: double, single, int16, cell, struct, char, ...
    complex: bool = False

    def describe(self) -> str:
        dims = "x".join(str(int(s)) for s in self.shape) if self.shape else "?"
        cplx = " complex" if self.complex else ""
        return f"{self.name:<16s} {dims:>18s}  {self.mclass}{cplx}"


def mat_version(path) -> str:
    """``'mat4'``, ``'mat5'`` (v5/v6/v7), ``'mat73'`` (MATLAB HDF5) or ``'hdf5'`` (HDF5 without MATLAB header).

    Raises FormatError for anything else (including truncated headers).
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(128)
            fh.seek(512)
            sig512 = fh.read(8)
    except OSError as exc:
        raise FormatError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if len(head) == 0:
        raise FormatError(f"{path}: the file is empty")
    if head[:8] == b"\x89HDF\r\n\x1a\n":
        return "hdf5"
    if sig512 == b"\x89HDF\r\n\x1a\n":
        return "mat73"
    if head.startswith(b"MATLAB 5.0 MAT-file") or (len(head) == 128 and head[126:128] in (b"IM", b"MI") and head[124:126] in (b"\x00\x01", b"\x01\x00")):
        if len(head) < 128:
            raise FormatError(f"{path}: truncated MAT-file (header shorter than 128 bytes)")
        return "mat5"
    if head.startswith(b"MATLAB 7.3 MAT-file"):
        raise FormatError(f"{path}: MAT v7.3 header but no HDF5 data (truncated or corrupt file)")
    # MAT v4 has no text header: a 20-byte binary header whose first int is the type code.
    if len(head) >= 20:
        mopt = int.from_bytes(head[:4], "little")
        if mopt < 5000 and (mopt // 1000) in (0, 1) and (mopt % 10) in (0, 1, 2) and (mopt // 10) % 10 <= 5:
            try:
                from scipy.io.matlab import matfile_version

                with open(path, "rb") as fh:
                    if matfile_version(fh)[0] == 0:
                        return "mat4"
            except Exception:
                pass
    raise FormatError(f"{path}: not a MAT-file (no MATLAB v5 header and no HDF5 signature) and no raw-binary sidecar")


# --------------------------------------------------------------------------- v4-v7 (scipy)

def _scipy_value(v, notes, name):
    from scipy.io.matlab import mat_struct, MatlabOpaque, MatlabFunction, MatlabObject

    if isinstance(v, mat_struct):
        return {k: _scipy_value(getattr(v, k), notes, f"{name}.{k}") for k in v._fieldnames}
    if isinstance(v, (MatlabOpaque, MatlabFunction, MatlabObject)):
        notes.append(f"skipped {name}: MATLAB object ({type(v).__name__}), not readable outside MATLAB")
        return None
    if isinstance(v, np.ndarray):
        if v.dtype.kind == "U":
            if v.size == 0:
                return ""
            return "".join(v.ravel().tolist()) if v.ndim <= 1 or v.shape[0] == 1 else [str(s) for s in v.ravel()]
        if v.dtype == object:
            if v.size and all(isinstance(e, mat_struct) for e in v.ravel()):
                items = [_scipy_value(e, notes, f"{name}({i + 1})") for i, e in enumerate(v.ravel(order="F"))]
                return items[0] if len(items) == 1 else items
            out = np.empty(v.shape, dtype=object)
            for idx in np.ndindex(v.shape):
                out[idx] = _scipy_value(v[idx], notes, f"{name}{{{','.join(str(i + 1) for i in idx)}}}")
            return out
        if v.dtype.names:  # struct read as record (not used with struct_as_record=False)
            return v
        return v
    return v


def _loadmat5(path, names=None):
    import scipy.io

    try:
        return scipy.io.loadmat(path, variable_names=names, squeeze_me=False, struct_as_record=False,
                                mat_dtype=False, chars_as_strings=True)
    except NotImplementedError:
        raise FormatError(f"{path}: MAT v7.3 file could not be read with the v5 reader") from None
    except Exception as exc:  # scipy raises many types for corrupt data
        raise FormatError(f"{path}: corrupt or truncated MAT-file ({type(exc).__name__}: {exc})") from None


def list_variables(path, version: str | None = None) -> list[VarInfo]:
    """The variables of a MAT-file with shape and MATLAB class, without loading data."""
    version = version or mat_version(path)
    if version in ("mat4", "mat5"):
        import scipy.io

        try:
            items = scipy.io.whosmat(path)
        except Exception as exc:
            raise FormatError(f"{path}: corrupt or truncated MAT-file ({type(exc).__name__}: {exc})") from None
        out = []
        for name, shape, cls in items:
            out.append(VarInfo(name, tuple(int(s) for s in shape), cls, _v5_is_complex(path, name, cls)))
        return out
    import h5py

    with _h5open(path) as f:
        out = []
        for name in f:
            if name.startswith("#"):
                continue
            obj = f[name]
            cls = _h5class(obj)
            if isinstance(obj, h5py.Dataset):
                shape = tuple(int(v) for v in obj[()]) if obj.attrs.get("MATLAB_empty", 0) else tuple(reversed(obj.shape))
                out.append(VarInfo(name, shape, cls or str(obj.dtype), _h5_is_complex(obj)))
            else:
                out.append(VarInfo(name, (1, 1), cls or "struct"))
        return out


def _v5_is_complex(path, name, cls) -> bool:
    # whosmat does not report complexity; it is only needed for numeric arrays and is
    # cheap to find from the array flags, but reading them means parsing the tag: skip.
    return False


def read_mat(path, names=None, *, version: str | None = None, notes: list | None = None) -> dict:
    """Read variables of a MAT-file (any version) into plain Python/numpy values.

    Parameters
    ----------
    path : str or Path
    names : list of str, optional
        Only these variables (default: all).
    notes : list, optional
        Receives one line per skipped MATLAB object.

    Returns
    -------
    dict
        name -> value in the convention of this module (MATLAB shapes kept).

    Examples
    --------
    >>> import numpy as np, scipy.io, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "a.mat")
    >>> scipy.io.savemat(p, {"IQ": np.ones((2, 3, 4), complex), "UF": {"FrameRateUF": 1000.0}})
    >>> d = read_mat(p)
    >>> d["IQ"].shape, d["UF"]["FrameRateUF"].item()
    ((2, 3, 4), 1000.0)
    """
    version = version or mat_version(path)
    notes = notes if notes is not None else []
    if version in ("mat4", "mat5"):
        raw = _loadmat5(path, names)
        return {k: _scipy_value(v, notes, k) for k, v in raw.items() if not k.startswith("__")}
    with _h5open(path) as f:
        wanted = [n for n in f if not n.startswith("#")] if names is None else [n for n in names if n in f]
        out = {}
        for n in wanted:
            try:
                out[n] = _h5_value(f, f[n], notes, n)
            except FormatError:
                raise
            except Exception as exc:
                raise FormatError(f"{path}: cannot decode variable {n!r} ({type(exc).__name__}: {exc})") from None
        return {k: v for k, v in out.items() if v is not _SKIP}


# --------------------------------------------------------------------------- v7.3 (h5py)

_SKIP = object()


class _h5open:
    def __init__(self, path):
        self.path = path

    def __enter__(self):
        import h5py

        try:
            self.f = h5py.File(self.path, "r")
        except OSError as exc:
            raise FormatError(f"{self.path}: corrupt or truncated HDF5/MAT v7.3 file ({exc})") from None
        return self.f

    def __exit__(self, *exc):
        self.f.close()


def _h5class(obj) -> str | None:
    c = obj.attrs.get("MATLAB_class")
    if c is None:
        return None
    return c.decode() if isinstance(c, bytes) else str(c)


def _h5_is_complex(ds) -> bool:
    names = ds.dtype.names or ()
    return "real" in names and "imag" in names


def _complex_from(data):
    # MATLAB's {real, imag} compound of two equal floats has complex's memory layout: view it
    names = data.dtype.names
    if (names == ("real", "imag") and data.dtype["real"] == data.dtype["imag"]
            and data.dtype["real"].kind == "f" and data.dtype.itemsize == 2 * data.dtype["real"].itemsize
            and data.dtype.fields["imag"][1] == data.dtype["real"].itemsize and data.flags.c_contiguous):
        return data.view(np.dtype(f"c{data.dtype.itemsize}").newbyteorder(data.dtype["real"].byteorder))
    real, imag = data["real"], data["imag"]
    dt = np.result_type(real.dtype, imag.dtype, np.complex64)
    out = np.empty(real.shape, dtype=dt)
    out.real, out.imag = real, imag
    return out


def _h5_value(f, obj, notes, name):
    import h5py

    cls = _h5class(obj)
    if isinstance(obj, h5py.Group):
        if obj.attrs.get("MATLAB_object_decode") is not None or (cls not in (None, "struct")):
            notes.append(f"skipped {name}: MATLAB class {cls!r} (a MATLAB object, not readable outside MATLAB)")
            return _SKIP
        fields = obj.attrs.get("MATLAB_fields")
        if fields is not None:
            keys = [b"".join(np.asarray(k).ravel().tolist()).decode() for k in fields]
        else:
            keys = [k for k in obj.keys() if not k.startswith("#")]
        keys = [k for k in keys if k in obj]
        # A struct array stores each field as a dataset of references, one per element.
        children = [obj[k] for k in keys]
        if children and all(isinstance(c, h5py.Dataset) and c.dtype == h5py.ref_dtype and _h5class(c) is None for c in children):
            refs = {k: np.asarray(obj[k][()]).T.ravel(order="F") for k in keys}
            n = len(next(iter(refs.values())))
            items = []
            for i in range(n):
                items.append({k: _deref(f, refs[k][i], notes, f"{name}({i + 1}).{k}") for k in keys})
            return items[0] if n == 1 else items
        out = {}
        for k in keys:
            v = _h5_value(f, obj[k], notes, f"{name}.{k}")
            if v is not _SKIP:
                out[k] = v
        return out
    # dataset
    if obj.attrs.get("MATLAB_object_decode") is not None:
        notes.append(f"skipped {name}: MATLAB class {cls!r} (a MATLAB object, not readable outside MATLAB)")
        return _SKIP
    if obj.attrs.get("MATLAB_empty", 0):
        dims = tuple(int(v) for v in np.asarray(obj[()]).ravel()) if obj.shape else (0, 0)
        if cls == "char":
            return ""
        if cls == "cell":
            return np.empty(dims, dtype=object)
        if cls == "struct":
            return {}
        return np.zeros(dims, dtype=_np_dtype(cls))
    if cls == "cell" or (cls is None and obj.dtype == h5py.ref_dtype):
        refs = np.asarray(obj[()]).T
        out = np.empty(refs.shape, dtype=object)
        for idx in np.ndindex(refs.shape):
            v = _deref(f, refs[idx], notes, f"{name}{{{','.join(str(i + 1) for i in idx)}}}")
            out[idx] = None if v is _SKIP else v
        return out
    if cls is not None and cls not in _NUMERIC and cls not in ("char", "logical"):
        notes.append(f"skipped {name}: MATLAB class {cls!r} (not readable outside MATLAB)")
        return _SKIP
    data = h5_read(obj, None)
    if _h5_is_complex(obj):
        data = _complex_from(data)
    data = np.asarray(data).T
    if cls == "char":
        codes = np.asarray(data, dtype=np.uint32)
        if codes.ndim == 2 and codes.shape[0] > 1:
            return ["".join(map(chr, row)) for row in codes]
        return "".join(map(chr, codes.ravel(order="F")))
    if cls == "logical":
        return data.astype(bool)
    if data.ndim < 2:
        data = data.reshape((1,) * (2 - data.ndim) + data.shape)
    return data


def _deref(f, ref, notes, name):
    if not ref:
        return None
    return _h5_value(f, f[ref], notes, name)


def _np_dtype(cls):
    if cls in _NUMERIC:
        return np.dtype({"single": "float32", "double": "float64"}.get(cls, cls))
    if cls == "logical":
        return np.dtype(bool)
    return np.dtype(float)


def h5_dataset_info(path, name: str, index: int | None = None):
    """Shape (MATLAB order), dtype and complexity of a v7.3 variable or of cell element ``index`` (0-based, F order)."""
    with _h5open(path) as f:
        ds = _h5_locate(f, name, index, path)
        shape = tuple(reversed(ds.shape))
        dt = ds.dtype
        if _h5_is_complex(ds):
            dt = np.result_type(dt["real"], np.complex64)
        return shape, np.dtype(dt)


def _h5_locate(f, name, index, path):
    import h5py

    if name not in f:
        raise FormatError(f"{path}: no variable {name!r}")
    ds = f[name]
    if index is not None:
        if not isinstance(ds, h5py.Dataset) or ds.dtype != h5py.ref_dtype:
            raise FormatError(f"{path}: variable {name!r} is not a cell array")
        refs = np.asarray(ds[()]).T.ravel(order="F")
        if not 0 <= index < refs.size:
            raise FormatError(f"{path}: {name} has {refs.size} cell(s); buffer {index + 1} does not exist")
        ds = f[refs[index]]
    if not isinstance(ds, h5py.Dataset):
        raise FormatError(f"{path}: variable {name!r} is a struct, not an array")
    return ds


def h5_read_slice(path, name: str, index: int | None, frame_axis_matlab: int, start: int, stop: int) -> np.ndarray:
    """Read frames ``start:stop`` along MATLAB axis ``frame_axis_matlab`` (0-based) of a v7.3 array.

    Only that slab is read from disk; the result is in MATLAB axis order.
    """
    with _h5open(path) as f:
        ds = _h5_locate(f, name, index, path)
        nd = ds.ndim
        sel = [slice(None)] * nd
        if frame_axis_matlab < nd:
            sel[nd - 1 - frame_axis_matlab] = slice(start, stop)
        elif (start, stop) != (0, 1):  # MATLAB dropped a trailing singleton frame axis
            raise FormatError(f"{path}: {name} holds 1 frame; frames {start}:{stop} requested")
        data = h5_read(ds, tuple(sel), path=path, name=name)
        if _h5_is_complex(ds):
            data = _complex_from(data)
        return np.asarray(data).T


def file_size(path) -> int:
    return os.stat(path).st_size


# --------------------------------------------------------------------------- v7.3 chunk reader
#
# MATLAB's save -v7.3 stores numeric arrays as chunked HDF5 datasets compressed with deflate
# (hdf5storage, which pyulm's save_mat uses, adds the shuffle and fletcher32 filters). h5py
# inflates those chunks one after the other on one core, under its global lock. The reader
# below decodes the same bytes itself: it asks HDF5 where each chunk is stored (offset, size,
# filter mask), reads the stored bytes with os.pread in one thread per core, undoes the
# filters (fletcher32 check, inflate with libdeflate, ISA-L or zlib, unshuffle: all release
# the GIL) and copies each chunk into its place in the output. Which path a read takes is
# decided from the dataset's properties before any data is read (see _plan_chunk_read);
# both paths give the same array, byte for byte, and raise FormatError on corrupt data.


def _inflaters() -> dict:
    """The zlib-format inflaters available, fastest first: {name: inflate(data, nbytes) -> bytes}.

    All give the same bytes and all release the GIL. On IQ data libdeflate (PyPI ``deflate``)
    takes about 0.75x the CPU time of ISA-L (PyPI ``isal``), which takes about 0.75x zlib's.
    """
    found = {}
    try:
        import deflate

        if tuple(int(v) for v in deflate.__version__.split(".")[:2]) >= (0, 9):  # releases the GIL from 0.9
            found["libdeflate"] = deflate.zlib_decompress
    except (ImportError, ValueError, AttributeError):
        pass
    try:
        from isal import isal_zlib

        found["isal"] = lambda data, nbytes: isal_zlib.decompress(data, bufsize=nbytes)
    except ImportError:
        pass
    import zlib

    found["zlib"] = lambda data, nbytes: zlib.decompress(data, bufsize=nbytes)
    return found


_INFLATERS = _inflaters()
INFLATE, _inflate = next(iter(_INFLATERS.items()))  # the fastest one installed

_H5Z_DEFLATE, _H5Z_SHUFFLE, _H5Z_FLETCHER32 = 1, 2, 3  # HDF5 filter ids (H5Zpublic.h)
_HANDLED_FILTERS = {_H5Z_DEFLATE: "deflate", _H5Z_SHUFFLE: "shuffle", _H5Z_FLETCHER32: "fletcher32"}
_FLETCHER_BLOCK = 256  # words per row of the block sums in _fletcher32


def h5_read(ds, sel=None, *, path=None, name=None) -> np.ndarray:
    """``ds[sel]`` read from a v7.3/HDF5 dataset, byte for byte what h5py returns.

    Parameters
    ----------
    ds : h5py.Dataset
    sel : tuple of slice, optional
        One step-1 slice per HDF5 axis (HDF5 order, the reverse of MATLAB's); ``None``
        reads the whole dataset (``ds[()]``).
    path, name : optional
        The file and variable named in error messages (default: from ``ds``).

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
        plan = _plan_chunk_read(ds, sel)
        if isinstance(plan, str):
            return ds[() if sel is None else sel]
        return plan.run(path, name)
    except (OSError, RuntimeError) as exc:  # h5py's errors for unreadable data
        raise FormatError(f"{path}: cannot read {name} (corrupt or truncated data: {exc})") from None


def h5_read_path(ds, sel=None) -> str:
    """How :func:`h5_read` reads ``ds[sel]``: ``"chunks: ..."`` (pyulm's chunk reader) or ``"h5py: <reason>"``."""
    plan = _plan_chunk_read(ds, sel)
    if isinstance(plan, str):
        return f"h5py: {plan}"
    filters = "+".join(_HANDLED_FILTERS[c] for c, _ in plan.filters) or "no filter"
    inflater = next((k for k, f in _INFLATERS.items() if f is _inflate), "custom")
    return f"chunks: {filters}, {inflater} inflate, {plan.n_chunks} chunk(s)"


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


def _plan_chunk_read(ds, sel):
    """A :class:`_ChunkRead` for ``ds[sel]``, or the reason (a str) why h5py reads it."""
    import itertools

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
    table = _chunk_table(ds.id)
    axes = [range(a // c * c, b, c) for a, b, c in zip(starts, stops, chunks)]
    wanted = []
    for origin in itertools.product(*axes):
        entry = table.get(origin)
        if entry is None:
            return "unwritten chunks (HDF5 fills them with the fill value)"
        wanted.append((origin,) + entry)
    return _ChunkRead(ds, shape, chunks, filters, starts, stops, wanted)


def _chunk_table(dsid) -> dict:
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


def _unshuffle(buf, size: int):
    """Undo HDF5's shuffle filter (bytes of ``size``-byte elements grouped by byte position)."""
    n = len(buf) // size
    if size <= 1 or n <= 1:
        return buf
    src = np.frombuffer(buf, np.uint8)
    out = np.empty(len(buf), np.uint8)
    out[:n * size].reshape(n, size)[...] = src[:n * size].reshape(size, n).T
    out[n * size:] = src[n * size:]  # HDF5 leaves a trailing partial element as it is
    return out


def _fletcher32(data) -> int:
    """HDF5's Fletcher-32 checksum of ``data`` (H5_checksum_fletcher32), vectorised.

    HDF5 sums big-endian 16-bit words (an odd last byte is the high byte of a word) with
    end-around carry: sum1 = sum of the words, sum2 = sum of the running sum1, each folded
    to 16 bits, so each is its value modulo 65535 written in 1..65535, or 0 when every word
    is 0. Swapping a word's bytes multiplies it by 256 modulo 65535, so the sums are taken
    over little-endian words and multiplied by 256. sum2 = sum_i (n - i) w_i is computed
    from the row and column sums of the words laid out in rows of ``_FLETCHER_BLOCK``.
    """
    if len(data) % 2:
        data = bytes(data) + b"\0"
    w = np.frombuffer(data, "<u2")
    n, b = w.size, _FLETCHER_BLOCK
    m = n // b
    rows = w[:m * b].reshape(m, b)
    tail = w[m * b:].astype(np.uint64)
    s_tail = int(tail.sum())
    s2_tail = int(np.dot(n - m * b - _arange_u64(tail.size), tail))
    if m < 65536:  # exact in 64 bits: row sums < 2**24, column sums < 2**32
        row_sums = rows.sum(axis=1, dtype=np.uint32)
        col_sums = rows.sum(axis=0, dtype=np.uint32)
        s_rows = int(row_sums.sum(dtype=np.uint64))
        s1 = s_rows + s_tail
        s2 = (n * s_rows - b * int(np.dot(_arange_u64(m), row_sums))
              - int(np.dot(_arange_u64(b), col_sums)) + s2_tail)
    else:  # huge chunks: the same sums reduced modulo 65535 on the way
        row_sums = rows.sum(axis=1, dtype=np.uint64)
        col_sums = rows.sum(axis=0, dtype=np.uint64)
        s1 = int(row_sums.sum()) + s_tail
        s2 = int(np.dot((n - b * _arange_u64(m)) % 65535, row_sums % 65535))
        s2 -= int(np.dot(_arange_u64(b), col_sums % 65535))
        s2 += s2_tail
    if s1 == 0:
        return 0
    return ((256 * s1) % 65535 or 65535) | (((256 * s2) % 65535 or 65535) << 16)


_ARANGE = np.arange(0, dtype=np.uint64)


def _arange_u64(k: int) -> np.ndarray:
    """0, 1, ..., k-1 as uint64, from one growing cache (a slice is a view: no allocation)."""
    global _ARANGE
    if _ARANGE.size < k:
        _ARANGE = np.arange(max(k, 2 * _ARANGE.size, 4096), dtype=np.uint64)
    return _ARANGE[:k]


def _fletcher32_ok(data, stored: bytes) -> bool:
    value = int.from_bytes(stored, "little")
    want = _fletcher32(data)
    # HDF5 before 1.6.3 stored each 16-bit half byte-swapped; HDF5 accepts both.
    swapped = int.from_bytes(want.to_bytes(4, "little")[1::-1] + want.to_bytes(4, "little")[:1:-1], "little")
    return value in (want, swapped)


def _n_threads() -> int:
    """Decoding threads: the cores this process may use, at most 8."""
    import os

    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


class _ChunkRead:
    """Decode the chunks of one selection of a chunked dataset into a new array."""

    def __init__(self, ds, shape, chunks, filters, starts, stops, wanted):
        self.ds, self.shape, self.chunks, self.filters = ds, shape, chunks, filters
        self.starts, self.stops, self.wanted = starts, stops, wanted
        self.n_chunks = len(wanted)
        self.dtype = ds.dtype
        self.itemsize = ds.dtype.itemsize
        self.chunk_nbytes = int(np.prod(chunks)) * self.itemsize
        self._step_cache = {}

    # -- stored bytes -------------------------------------------------------------------

    def _address_base(self, fd):
        """What to add to HDF5's chunk addresses to get file offsets, or None to read chunks with h5py.

        HDF5 before 1.14.4 reported chunk addresses without the user block (MAT v7.3 files
        have a 512-byte one); the first chunk read both ways tells which convention holds.
        """
        import os

        if fd is None:
            return None
        origin, _mask, addr, size = self.wanted[0]
        _fm, ref = self.ds.id.read_direct_chunk(origin)
        ref = bytes(ref)
        for base in dict.fromkeys((0, int(self.ds.file.userblock_size or 0))):
            if os.pread(fd, size, addr + base) == ref:
                return base
        return None

    # -- decoding -----------------------------------------------------------------------

    def _steps(self, mask):
        """The filters to undo for a chunk stored with ``mask``, in order, as (filter id, argument),
        and the shuffle element size left to undo while copying into place (0: none)."""
        cached = self._step_cache.get(mask)
        if cached is not None:
            return cached
        active = [i for i in range(len(self.filters)) if not (mask >> i) & 1]
        steps, pending = [], 0
        for i in reversed(active):
            code, cd = self.filters[i]
            if code == _H5Z_DEFLATE:
                # what went into deflate: the chunk, plus any checksums appended before it
                steps.append((code, self.chunk_nbytes + 4 * sum(self.filters[j][0] == _H5Z_FLETCHER32
                                                                for j in active if j < i)))
            elif code == _H5Z_SHUFFLE:  # element size: the filter's parameter (HDF5 sets the type size)
                size = cd[0] if cd else self.itemsize
                if i == active[0] and size == self.itemsize:
                    pending = size  # the last step: undone while copying into place (one pass less)
                else:
                    steps.append((code, size))
            else:
                steps.append((code, None))
        self._step_cache[mask] = steps, pending
        return steps, pending

    def _decode(self, raw, mask, origin, path, name):
        """Stored bytes -> (chunk bytes, shuffle element size still to undo or 0)."""
        steps, pending = self._steps(mask)
        buf = raw
        for code, arg in steps:
            if code == _H5Z_FLETCHER32:
                view = memoryview(buf)
                if len(buf) < 4 or not _fletcher32_ok(view[:-4], bytes(view[-4:])):
                    raise FormatError(f"{path}: cannot read {name} (corrupt data: Fletcher-32 checksum mismatch "
                                      f"in the chunk at {origin})")
                buf = view[:-4]
            elif code == _H5Z_DEFLATE:
                try:
                    buf = _inflate(buf, arg)
                except Exception as exc:  # zlib.error, isal's IsalError, deflate.DeflateError
                    raise FormatError(f"{path}: cannot read {name} (corrupt data: cannot inflate the chunk at "
                                      f"{origin}: {exc})") from None
            else:
                buf = _unshuffle(buf, arg)
        if len(buf) != self.chunk_nbytes:
            raise FormatError(f"{path}: cannot read {name} (corrupt data: the chunk at {origin} holds {len(buf)} "
                              f"bytes, expected {self.chunk_nbytes})")
        return buf, pending

    def _place(self, buf, pending, origin):
        src_sl, dst_sl = [], []
        for o, c, a, b in zip(origin, self.chunks, self.starts, self.stops):
            lo, hi = max(o, a), min(o + c, b)
            src_sl.append(slice(lo - o, hi - o))
            dst_sl.append(slice(lo - a, hi - a))
        src_sl, dst_sl = tuple(src_sl), tuple(dst_sl)
        if pending:  # shuffled: byte k of every element is stored in the k-th block of the chunk
            src = np.frombuffer(buf, np.uint8).reshape((pending,) + self.chunks)[(slice(None),) + src_sl]
            dst = self.out_bytes[dst_sl]
            for k in range(pending):  # one strided copy per byte position: faster than one 4-D copy
                dst[..., k] = src[k]
        else:
            src = np.frombuffer(buf, self.view_dtype).reshape(self.chunks + self.view_tail)
            self.out_view[dst_sl] = src[src_sl]

    def _is_edge(self, origin) -> bool:
        return any(o + c > n for o, c, n in zip(origin, self.chunks, self.shape))

    def _ambiguous(self, mask, size, origin) -> bool:
        """An edge chunk stored at exactly its unfiltered size although its mask says filtered.

        HDF5's "do not filter partial edge chunks" option (not visible through h5py) stores
        such chunks unfiltered with mask 0; h5py reads them, whatever they are.
        """
        active = any(not (mask >> i) & 1 for i in range(len(self.filters)))
        return active and size == self.chunk_nbytes and self._is_edge(origin)

    # -- the read -----------------------------------------------------------------------

    def run(self, path, name) -> np.ndarray:
        import os
        import threading
        from concurrent.futures import ThreadPoolExecutor

        out_shape = tuple(b - a for a, b in zip(self.starts, self.stops))
        out = np.empty(out_shape, self.dtype)
        self.out_bytes = out.view(np.uint8).reshape(out_shape + (self.itemsize,))
        if self.itemsize in (1, 2, 4, 8):
            self.view_dtype, self.view_tail = np.dtype(f"u{self.itemsize}"), ()
            self.out_view = out.view(self.view_dtype)
        else:
            self.view_dtype, self.view_tail = np.dtype(np.uint8), (self.itemsize,)
            self.out_view = self.out_bytes
        by_h5py = [w for w in self.wanted if self._ambiguous(w[1], w[3], w[0])]
        todo = [w for w in self.wanted if not self._ambiguous(w[1], w[3], w[0])]
        fd = None
        if hasattr(os, "pread"):
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                fd = None
        try:
            base = self._address_base(fd) if todo else 0
            if base is None:  # stored bytes through h5py (one thread), decoding still in parallel
                todo = [(o, m, bytes(self.ds.id.read_direct_chunk(o)[1]), s) for o, m, _a, s in todo]
            self._read_with_h5py(by_h5py)
            # Every thread (this one included) takes the next chunk from one shared iterator
            # (a list iterator's next() is atomic under the GIL): no thread waits on another's
            # share when the machine is busy and some threads get less CPU time than others.
            queue = iter(todo)
            abort = threading.Event()

            def work():
                try:
                    for origin, mask, where, size in queue:
                        if abort.is_set():
                            return
                        raw = where if base is None else os.pread(fd, size, where + base)
                        if len(raw) != size:
                            raise FormatError(f"{path}: cannot read {name} (truncated file: the chunk at {origin} "
                                              f"needs {size} bytes, {len(raw)} read)")
                        self._place(*self._decode(raw, mask, origin, path, name), origin)
                except BaseException:
                    abort.set()  # the other threads stop at their next chunk
                    raise

            n_helpers = min(_n_threads(), len(todo)) - 1
            if n_helpers <= 0:
                work()
            else:
                with ThreadPoolExecutor(n_helpers, thread_name_prefix="pyulm-h5chunks") as pool:
                    futures = [pool.submit(work) for _ in range(n_helpers)]
                    work()
                    for fut in futures:
                        fut.result()
        finally:
            if fd is not None:
                os.close(fd)
            self.out_bytes = self.out_view = None
        return out

    def _read_with_h5py(self, entries):
        for origin, *_ in entries:
            src, dst = [], []
            for o, c, a, b in zip(origin, self.chunks, self.starts, self.stops):
                lo, hi = max(o, a), min(o + c, b)
                src.append(slice(lo, hi))
                dst.append(slice(lo - a, hi - a))
            self.out_view[tuple(dst)] = self.ds[tuple(src)].view(self.view_dtype).reshape(
                tuple(s.stop - s.start for s in src) + self.view_tail)
