"""MAT v5 arrays mapped read-only into memory (zero-copy): how the MATLAB bridge reads side files.

A side file holds one large uncompressed numeric array. :func:`map_variable`
gives it in MATLAB's shape and class as a read-only view of the file (real
data in their class) or combines its two planes into one complex array in one
pass (:func:`complex_from_planes`); :func:`map_planes` gives the planes as they
are stored and :func:`map_array` maps any run of elements of a file.
"""
from __future__ import annotations

import math
import mmap
import os
import sys

import numpy as np

from ._mat5 import _CHUNK_BYTES, _TYPE_DTYPE, MatFileError
from ._mat5scan import Entry, file_byte_order, scan

__all__ = ["map_array", "map_planes", "map_variable", "complex_from_planes"]


def map_array(path, dtype, offset: int, count: int, *, populate: bool = True) -> np.ndarray:
    """``count`` elements of ``dtype`` at byte ``offset`` of a file, mapped read-only (not read).

    With ``populate`` the mapping is filled at once where the OS allows it
    (Linux >= 5.14, ``MADV_POPULATE_READ``): one call instead of a page fault
    per page, which pays when the whole array is used next.
    """
    dtype = np.dtype(dtype)
    if count == 0:
        empty = np.empty(0, dtype)
        empty.flags.writeable = False  # read-only like every mapped array
        return empty
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size < offset + count * dtype.itemsize:
            raise MatFileError(f"file {os.fsdecode(path)}: truncated ({count} elements of {dtype} expected at "
                               f"byte {offset})")
        mm = mmap.mmap(f.fileno(), offset - start + count * dtype.itemsize, access=mmap.ACCESS_READ, offset=start)
    if populate and sys.platform.startswith("linux"):
        try:
            mm.madvise(_MADV_POPULATE_READ)
        except (AttributeError, OSError, ValueError):  # kernels before 5.14: fault in on use
            pass
    return np.frombuffer(mm, dtype=dtype, count=count, offset=offset - start)


_MADV_POPULATE_READ = getattr(mmap, "MADV_POPULATE_READ", 22)  # Linux value; Python < 3.13 lacks the name


def map_planes(path, name: str | None = None, *, populate: bool = True) -> tuple[Entry, tuple]:
    """The data planes of one uncompressed numeric variable, mapped read-only and zero-copy.

    Parameters
    ----------
    path : str, bytes or os.PathLike
    name : str, optional
        The variable; default: the file's first variable.
    populate : bool
        Fault the mapping in at once (see :func:`map_array`).

    Returns
    -------
    entry : Entry
        The variable's headers.
    planes : tuple of numpy.ndarray
        The real plane and, for complex data, the imaginary plane, each a 1-D
        read-only view of the file in its stored element type and byte order
        (MATLAB may store integer-valued doubles as small integers), column-major.
    """
    where = f"MAT file {os.fsdecode(os.fspath(path))}"
    entries = scan(path)
    if not entries:
        raise MatFileError(f"{where}: holds no variable")
    found = [e for e in entries if name is None or e.name == name]
    if not found:
        raise MatFileError(f"{where}: no variable {name!r} (variables: {[e.name for e in entries]})")
    e = found[0]
    if e.compressed:
        raise MatFileError(f"{where}: variable {e.name!r} is compressed (-v7); only uncompressed (-v6) data can "
                           f"be mapped")
    if e.dtype is None:
        raise MatFileError(f"{where}: variable {e.name!r} is a {e.class_name}, not a numeric or logical array")
    count = math.prod(e.dims)
    order = file_byte_order(path)
    return e, tuple(map_array(path, np.dtype(order + _TYPE_DTYPE[p.mtype]), p.offset, count, populate=populate)
                    for p in e.planes)


def complex_from_planes(re: np.ndarray, im: np.ndarray, ctype) -> np.ndarray:
    """One Fortran-ordered complex array from real and imaginary parts of the same shape.

    Fills it chunk by chunk (each chunk of the output is written twice while it
    is still in cache), converting the parts' element type on the way.
    """
    out = np.empty(re.shape, dtype=ctype, order="F")
    if out.size == 0:
        return out
    pairs = out.reshape(-1, order="F").view(out.real.dtype).reshape(-1, 2)
    re = re.reshape(-1, order="F")
    im = im.reshape(-1, order="F")
    step = max(1, _CHUNK_BYTES // out.itemsize)
    for i in range(0, out.size, step):
        pairs[i:i + step, 0] = re[i:i + step]
        pairs[i:i + step, 1] = im[i:i + step]
    return out


def map_variable(path, name: str | None = None, *, populate: bool = True) -> np.ndarray:
    """One uncompressed numeric or logical variable of a MAT v5 file, in MATLAB's shape and class.

    Real data stored in their class and the machine's byte order come back as a
    read-only view of the file (mapped, not read: zero-copy); data stored in
    another element type or byte order are converted (a copy). Complex data,
    stored as two planes, are combined into one new complex array in one pass.
    This is how the MATLAB bridge reads its side files.

    Parameters
    ----------
    path : str, bytes or os.PathLike
    name : str, optional
        The variable; default: the file's first variable.
    populate : bool
        Fault the mapping in at once (see :func:`map_array`).

    Raises
    ------
    MatFileError
        The file is not MAT v5, the variable is missing, compressed, not
        numeric, or its data do not fit its size or the file.
    """
    e, planes = map_planes(path, name, populate=populate)
    target = e.dtype
    if e.complex:
        part = np.dtype(np.float32 if target == np.complex64 else np.float64)
        re, im = (p if p.dtype == part else p.astype(part) for p in planes)
        return complex_from_planes(re, im, target).reshape(e.dims, order="F")
    a = planes[0]
    if target == np.bool_ and a.dtype.itemsize == 1:
        a = a.view(np.bool_)
    elif a.dtype != target:
        a = a.astype(target)
    return a.reshape(e.dims, order="F")
