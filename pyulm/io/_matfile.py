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
    data = obj[()]
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
        try:
            data = ds[tuple(sel)]
        except (OSError, RuntimeError) as exc:
            raise FormatError(f"{path}: cannot read {name} (corrupt or truncated data: {exc})") from None
        if _h5_is_complex(ds):
            data = _complex_from(data)
        return np.asarray(data).T


def file_size(path) -> int:
    return os.stat(path).st_size
