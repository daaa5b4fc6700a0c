"""MAT v7.3 (HDF5) files decoded the way MATLAB sees them, through h5py.

Numeric and logical datasets go through pyulm's chunk reader
(:mod:`pyulm.io._h5chunks`); the walker here turns MATLAB's HDF5 conventions
(``MATLAB_class`` attributes, ``real``/``imag`` compounds, references for cells
and struct arrays, ``MATLAB_empty``) into the values of :mod:`pyulm.io._matfile`.
"""
from __future__ import annotations

import math
import os

import numpy as np

from ._errors import NUMERIC_CLASSES, FormatError, VarInfo
from ._h5chunks import chunk_table, h5_read
from ._limits import DEFLATE_MAX_RATIO, gib

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
    if cls is not None and cls not in NUMERIC_CLASSES and cls not in ("char", "logical"):
        notes.append(f"skipped {name}: MATLAB class {cls!r} (not readable outside MATLAB)")
        return _SKIP
    data = h5_read(obj, None, name=name)  # named here: h5py finds a dereferenced object's name by searching the file
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
    if cls in NUMERIC_CLASSES:
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


def list_variables(path) -> list[VarInfo]:
    """The variables of a v7.3/HDF5 file with shape (MATLAB order), class and complexity."""
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


def read(path, names=None, notes=None, max_bytes: int | None = None) -> dict:
    """Variables of a v7.3/HDF5 file (all, or ``names``) as plain values; skipped objects named in
    ``notes``. With ``max_bytes``, a variable whose datasets declare more bytes (references
    followed) is refused before any of its data is read."""
    notes = notes if notes is not None else []
    with _h5open(path) as f:
        wanted = [n for n in f if not n.startswith("#")] if names is None else [n for n in names if n in f]
        out = {}
        for n in wanted:
            if max_bytes is not None:
                declared = _declared_nbytes(f, f[n], max_bytes, set())
                if declared > max_bytes:
                    raise FormatError(f"{path}: variable {n!r} declares more than {gib(max_bytes)} "
                                      f"(the limit for a metadata variable); not read")
            try:
                out[n] = _h5_value(f, f[n], notes, n)
            except FormatError:
                raise
            except Exception as exc:
                raise FormatError(f"{path}: cannot decode variable {n!r} ({type(exc).__name__}: {exc})") from None
        return {k: v for k, v in out.items() if v is not _SKIP}


def _declared_nbytes(f, obj, limit: int, seen: set) -> int:
    """Bytes the datasets under ``obj`` declare (references followed once), counted up to ``limit``."""
    import h5py

    if obj.id in seen:
        return 0
    seen.add(obj.id)
    if isinstance(obj, h5py.Group):
        total = 0
        for key in obj:
            total += _declared_nbytes(f, obj[key], limit - total, seen)
            if total > limit:
                break
        return total
    total = math.prod(obj.shape or ()) * obj.dtype.itemsize
    if obj.dtype == h5py.ref_dtype and total <= limit:
        for ref in np.asarray(obj[()]).ravel():
            if ref:
                total += _declared_nbytes(f, f[ref], limit - total, seen)
            if total > limit:
                break
    return total


def check_storage(path, name: str, index: int | None, max_bytes: int) -> None:
    """Check what a frames dataset declares against what the file stores, before reading it.

    Refuses (``FormatError`` naming the file and variable): a type that is not
    numeric; contiguous data running past the end of the file; chunks that were
    never written (HDF5 would read them as fill values), lie past the end of the
    file, or are larger than ``max_bytes``; unfiltered chunks of the wrong size;
    deflated chunks declaring more than deflate can produce (a header lie or a
    compression bomb).
    """
    import h5py

    label = name if index is None else f"{name}{{{index + 1}}}"
    with _h5open(path) as f:
        ds = _h5_locate(f, name, index, path)
        where = f"{path}: variable {label}"
        dt = ds.dtype
        plain = dt.names is None and dt.kind in "biuf"
        if not (plain or _h5_is_complex(ds) and all(dt[k].kind == "f" for k in dt.names)):
            raise FormatError(f"{where} has HDF5 type {dt}; expected numeric samples")
        size = os.path.getsize(path)
        declared = math.prod(ds.shape) * dt.itemsize
        dcpl = ds.id.get_create_plist()
        layout = dcpl.get_layout()
        if layout == h5py.h5d.CONTIGUOUS:
            offset = ds.id.get_offset()
            if declared and (offset is None or offset + declared > size):
                raise FormatError(f"{where} declares {gib(declared)} of samples, more than the file holds "
                                  f"({gib(size)}): truncated or corrupt file")
            return
        if layout != h5py.h5d.CHUNKED:
            return
        chunk_bytes = math.prod(ds.chunks) * dt.itemsize
        if chunk_bytes > max_bytes:
            raise FormatError(f"{where} has chunks of {gib(chunk_bytes)}, more than the read limit "
                              f"{gib(max_bytes)} (max_bytes / PYULM_MAX_BYTES)")
        needed = math.prod(-(-n // c) for n, c in zip(ds.shape, ds.chunks))
        table = chunk_table(ds.id) if declared else {}
        if len(table) < needed:
            raise FormatError(f"{where} stores {len(table)} of its {needed} chunks; the others were never "
                              f"written (truncated or incomplete file)")
        filters = [dcpl.get_filter(i)[0] for i in range(dcpl.get_nfilters())]
        stored = 0
        for origin, (_mask, addr, nbytes) in table.items():
            if addr + nbytes > size:  # (HDF5 < 1.14.4 leaves the user block out of addr: a weaker check)
                raise FormatError(f"{where}: the chunk at {origin} lies past the end of the file "
                                  f"(truncated or corrupt file)")
            stored += nbytes
        if 1 in filters:  # deflate
            if declared > DEFLATE_MAX_RATIO * max(stored, 1):
                raise FormatError(f"{where} declares {gib(declared)} in {gib(stored)} of compressed chunks, "
                                  f"more than deflate can hold: corrupt file or a compression bomb")
        elif not filters and any(nbytes != chunk_bytes for _m, _a, nbytes in table.values()):
            raise FormatError(f"{where}: unfiltered chunks of the wrong size (corrupt file)")
