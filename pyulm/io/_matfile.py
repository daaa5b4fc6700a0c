"""MAT-files of any version: version detection, listing and MATLAB-faithful decoding.

One entry point per job, whatever the version: :func:`mat_version`,
:func:`list_variables` and :func:`read_mat`. MAT v5/v6/v7 files are read by
pyulm's own codec (:mod:`pyulm.io._v5`), v7.3/HDF5 files by h5py and pyulm's
chunk reader (:mod:`pyulm.io._v73`), and MAT v4 files -- a different format
the codec does not cover -- by ``scipy.io``.

Decoded values follow one convention whatever the version:

* numeric and logical arrays keep MATLAB's class, shape and axis order (at
  least 2-D, nothing squeezed), complex data come back as numpy complex arrays;
* a scalar struct is a ``dict``; a struct array is a ``list`` of dicts in
  MATLAB's column-major element order;
* a cell array is a numpy object array with MATLAB's shape;
* a char array is a ``str`` (a multi-row char matrix a list of ``str``);
* MATLAB objects (``string``, ``datetime``, handles, classdef instances),
  sparse matrices and function handles are skipped and named in ``notes``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import _v5, _v73
from ._errors import FormatError, VarInfo

__all__ = ["FormatError", "VarInfo", "mat_version", "list_variables", "read_mat"]


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


def list_variables(path, version: str | None = None) -> list[VarInfo]:
    """The variables of a MAT-file with shape, MATLAB class and complexity, without loading data."""
    version = version or mat_version(path)
    if version == "mat5":
        return _v5.list_variables(path)
    if version == "mat4":
        import scipy.io

        try:
            items = scipy.io.whosmat(path)
        except Exception as exc:
            raise FormatError(f"{path}: corrupt or truncated MAT-file ({type(exc).__name__}: {exc})") from None
        return [VarInfo(name, tuple(int(s) for s in shape), cls) for name, shape, cls in items]
    return _v73.list_variables(path)


def read_mat(path, names=None, *, version: str | None = None, notes: list | None = None,
             max_bytes: int | None = None) -> dict:
    """Read variables of a MAT-file (any version) into plain Python/numpy values.

    Parameters
    ----------
    path : str or Path
    names : list of str, optional
        Only these variables (default: all).
    notes : list, optional
        Receives one line per skipped MATLAB object.
    max_bytes : int, optional
        Refuse (``FormatError``) any variable asked for that declares more
        bytes than this, before reading it (MAT v5 and v7.3).

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
    if version == "mat5":
        return _v5.read(path, names, notes=notes, max_bytes=max_bytes)
    if version == "mat4":
        return _read_mat4(path, names, notes)
    return _v73.read(path, names, notes, max_bytes)


# --------------------------------------------------------------------------- v4 (scipy)

def _read_mat4(path, names, notes) -> dict:
    import scipy.io

    try:
        raw = scipy.io.loadmat(path, variable_names=names, squeeze_me=False, struct_as_record=False,
                               mat_dtype=False, chars_as_strings=True)
    except Exception as exc:  # scipy raises many types for corrupt data
        raise FormatError(f"{path}: corrupt or truncated MAT-file ({type(exc).__name__}: {exc})") from None
    return {k: _scipy_value(v, notes, k) for k, v in raw.items() if not k.startswith("__")}


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
    return v
