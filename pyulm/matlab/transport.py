"""Side files: one large numeric array per file, beside request.mat/response.mat.

Two formats, both with the array's column-major data in one piece, so that
numpy maps them (mmap) instead of parsing them, and MATLAB/Octave read them
into one new array:

* ``"mat"``: an uncompressed MAT v5 file (what ``save -v6`` writes) holding one
  variable; complex data are stored as two planes (real, then imaginary). Read
  by :func:`pyulm.io._mat5.map_variable`, the one MAT v5 codec.
* ``"octave"``: Octave's native binary format (``save -binary``) holding one
  full double or single matrix; complex data are interleaved, as numpy and
  Octave hold them. Octave 7.3 writes complex double about 3 times faster, and
  reads complex data 2 to 3 times faster, in this format than in MAT v5.
  Octave writes complex *single* data slowly in both formats (its binary writer
  converts them to double first), so it sends them as two float matrices, the
  real part (a variable named ``re...``) and the imaginary part (``im...``), in
  one binary file: 20 % faster than MAT v5.

Readers accept any variable name and any stored element type (MATLAB may store
integer-valued doubles as small integers). Writers name the variable ``x``, or
``xx...x`` in Octave files, long enough to start the data on a 32-byte boundary
(numpy then maps them aligned). Arrays of 2 GB or more travel as
Fortran-ordered ``.npy`` files instead (:func:`write_npy`).
"""
from __future__ import annotations

import os

import numpy as np

from ..io import _mat5
from .values import BridgeError

_MAT_CODES = set(_mat5._DTYPE_CLASS) | {"b1"}  # what a MAT side file holds (b1: logical)
_OCT_SAVE_TYPE = {0: "u1", 1: "u2", 2: "u4", 3: "i1", 4: "i2", 5: "i4", 6: "f4", 7: "f8", 8: "u8", 9: "i8"}
_OCT_TYPE = {"matrix": "f8", "complex matrix": "c16", "float matrix": "f4", "float complex matrix": "c8"}
_OCT_OF = {v: k for k, v in _OCT_TYPE.items()}
_OCTAVE_MAGIC = b"Octave-1-"


def _code(dtype: np.dtype) -> str:
    """'f8', 'c8', 'b1', ... of a numpy dtype (byte order dropped)."""
    return dtype.kind + str(dtype.itemsize)


def complex_from_parts(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    """One Fortran-ordered complex array (complex64 for single parts) from real and imaginary parts."""
    ctype = np.complex64 if re.dtype == np.float32 else np.complex128
    part = np.float32 if ctype == np.complex64 else np.float64
    return _mat5.complex_from_planes(np.asarray(re, part), np.asarray(im, part), ctype)


def side_file_ok(arr) -> bool:
    """Whether :func:`write_side` can write this array (numeric or logical, dims < 2**31)."""
    return (isinstance(arr, np.ndarray) and _code(arr.dtype) in _MAT_CODES | set(_OCT_TYPE.values())
            and all(n < 2**31 for n in arr.shape) and arr.nbytes < 2**32 - 2**16)


def _read_octave_side(path) -> np.ndarray:
    variables = []  # (name, dims, array), in file order
    with open(path, "rb") as f:
        head = f.read(11)
        order = {b"L": "<", b"B": ">"}.get(head[9:10])
        if order is None or head[10] not in (0, 1):  # IEEE little / big endian floats
            raise BridgeError(f"side file {path}: unsupported Octave binary header {head!r}")
        fl = "<" if head[10] == 0 else ">"
        size = os.fstat(f.fileno()).st_size

        def i4(count=1):
            raw = f.read(4 * count)
            if len(raw) != 4 * count:
                raise BridgeError(f"side file {path}: truncated")
            return [int(v) for v in np.frombuffer(raw, order + "i4")]

        while f.tell() < size and len(variables) < 3:
            name = f.read(i4()[0]).decode("ascii", "replace")
            f.read(i4()[0])  # doc string
            flags = f.read(2)
            if len(flags) != 2 or flags[1] != 255:
                raise BridgeError(f"side file {path}: old or truncated Octave binary format")
            tname = f.read(i4()[0]).decode("ascii", "replace")
            if tname not in _OCT_TYPE:
                raise BridgeError(f"side file {path}: unsupported Octave type {tname!r}")
            nd = i4()[0]
            dims = i4(-nd) if nd < 0 else [nd] + i4()  # old files: rows, columns
            stype = f.read(1)[0]
            if stype not in _OCT_SAVE_TYPE:
                raise BridgeError(f"side file {path}: unknown Octave save type {stype}")
            target = np.dtype(_OCT_TYPE[tname])
            real_t = np.dtype(np.float32 if target in (np.float32, np.complex64) else np.float64)
            stored = np.dtype((fl if _OCT_SAVE_TYPE[stype][0] == "f" else order) + _OCT_SAVE_TYPE[stype])
            count = int(np.prod(dims)) * (2 if target.kind == "c" else 1)
            try:
                a = _mat5.map_array(path, stored, f.tell(), count)
            except _mat5.MatFileError as exc:
                raise BridgeError(f"side file {path}: {exc}") from None
            f.seek(count * stored.itemsize, os.SEEK_CUR)
            if a.dtype != real_t:  # another stored type or byte order
                a = a.astype(real_t)
            if target.kind == "c":
                a = a.view(target)  # interleaved pairs: no copy
            variables.append((name, dims, a))
    if len(variables) == 1:
        _, dims, a = variables[0]
        return a.reshape(dims, order="F")
    parts = {v[0][:2]: v for v in variables}
    if (len(variables) == 2 and sorted(parts) == ["im", "re"] and variables[0][1] == variables[1][1]
            and variables[0][2].dtype == variables[1][2].dtype and variables[0][2].dtype.kind == "f"):
        (_, dims, re), (_, _, im) = parts["re"], parts["im"]
        return complex_from_parts(re, im).reshape(dims, order="F")
    raise BridgeError(f"side file {path}: expected one matrix, or the real and imaginary parts of one matrix "
                      f"(variables re..., im...), found {[v[0] for v in variables]}")


def read_side(path) -> np.ndarray:
    """Read a side file written by the MATLAB/Octave side or by :func:`write_side`.

    Returns the array in MATLAB index order. Real data are memory-mapped
    read-only, not copied (like complex data stored interleaved); complex data
    stored as two planes are combined in one pass.

    Raises
    ------
    BridgeError
        Naming the file and what is wrong with it.
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        head = f.read(len(_OCTAVE_MAGIC))
    if head == _OCTAVE_MAGIC:
        return _read_octave_side(path)
    try:
        return _mat5.map_variable(path)
    except _mat5.MatFileError as exc:
        raise BridgeError(f"side file {path}: not a side file pyulm can map ({exc})") from None


def _octave_header(arr: np.ndarray) -> bytes:
    """Octave binary header of one matrix; its variable name aligns the data to 32 bytes."""
    tname = _OCT_OF[_code(arr.dtype)].encode()
    i4 = lambda *v: np.asarray(v, "<i4").tobytes()  # noqa: E731
    save_type = 6 if arr.dtype in (np.float32, np.complex64) else 7
    name = b"x" * ((-(30 + len(tname) + 4 * arr.ndim) - 1) % 32 + 1)
    return (b"Octave-1-L\x00" + i4(len(name)) + name + i4(0) + b"\x00\xff" + i4(len(tname)) + tname
            + i4(-arr.ndim) + i4(*arr.shape) + bytes([save_type]))


def write_side(path, arr: np.ndarray, fmt: str = "mat") -> str:
    """Write one numeric/logical array as a side file; returns the format used.

    ``fmt='octave'`` writes Octave's binary format for double/single (real or
    complex) arrays and falls back to ``'mat'`` (uncompressed MAT v5) for the
    other classes. The data are written straight from the array in column-major
    order (no full copy, whatever its memory layout).
    """
    arr = np.asarray(arr)
    if arr.ndim < 2:
        arr = arr.reshape(arr.shape + (1,) * (2 - arr.ndim))
    if not side_file_ok(arr):
        raise BridgeError(f"cannot write a side file for an array of dtype {arr.dtype} and shape {arr.shape}")
    fmt = "octave" if fmt == "octave" and _code(arr.dtype) in _OCT_OF else "mat"
    if fmt == "mat":  # one variable x; complex data as two planes
        _mat5.write(path, {"x": arr}, header="pyulm.matlab_bridge")
        return fmt
    with open(path, "wb") as f:
        f.write(_octave_header(arr))
        _mat5.write_fortran(f, arr)
    return fmt


def write_npy(path, arr: np.ndarray) -> None:
    """A Fortran-ordered .npy file (what MATLAB's ``read_npy`` reads) written without a full copy."""
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    header = {"descr": np.lib.format.dtype_to_descr(arr.dtype), "fortran_order": True, "shape": arr.shape}
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        _mat5.write_fortran(f, arr)
