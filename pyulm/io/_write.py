"""Writers: MAT-files MATLAB and Octave load unchanged, and the HDF5 tables."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._fileutil import atomic_path
from .._optional import require
from ._mat5write import StreamedCell

#: Bytes per variable above which save_mat writes MAT v7.3. MAT v5 allows 4 GiB per variable; the
#: threshold stays at the 2 GiB of the scipy writer used before, so files switch format where they did.
V73_THRESHOLD = 2**31 - 2**20


def to_matlab(value):
    """A Python value as the MATLAB value ``save_mat`` writes (plain: no pyulm type tags).

    ``Mapping`` -> struct (recursively); a list/tuple of arrays -> N x 1 cell
    (as PALA's ``Track_tot``); a list/tuple of numbers -> 1 x N double; a
    list/tuple of str -> N x 1 cell of char; other lists/tuples -> 1 x N cell;
    an object array -> a cell of its shape (recursively); ``bool`` -> 1x1
    logical; ``int`` -> 1x1 double (MATLAB's default class); ``float``, numpy
    scalars -> 1x1 of their class; a 1-D array -> a 1 x N row; ``str``,
    ``None`` (-> ``[]``) and other arrays unchanged. 1-D arrays (object arrays
    included) become rows, as ``scipy.io.savemat(oned_as='row')`` wrote them. The MATLAB bridge's tagged
    converter builds on this one.
    """
    if isinstance(value, Mapping):
        return {str(k): to_matlab(v) for k, v in value.items()}
    if isinstance(value, StreamedCell):  # its elements are written as they come (2-D arrays)
        return value
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, np.ndarray) for v in value):
            return _cell([to_matlab(v) for v in value], (len(value), 1))
        if all(isinstance(v, (int, float)) for v in value):
            return np.asarray(value, dtype=float).reshape(1, -1)
        if all(isinstance(v, str) for v in value):
            return _cell(list(value), (len(value), 1))
        return _cell([to_matlab(v) for v in value], (1, len(value)))
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape if value.ndim != 1 else (1, value.size), dtype=object)
        for idx, v in zip(np.ndindex(out.shape), value.reshape(out.shape).flat):
            out[idx] = to_matlab(v)
        return out
    if isinstance(value, bool):
        return np.array([[value]])
    if isinstance(value, int):
        return np.array([[float(value)]])
    if isinstance(value, (float, complex, np.generic)):
        return np.array([[value]])
    if isinstance(value, np.ndarray) and value.ndim == 1:
        return value.reshape(1, -1)
    return value


def _cell(items: list, shape: tuple) -> np.ndarray:
    cell = np.empty(shape, dtype=object)
    for i, v in enumerate(items):
        cell.flat[i] = v
    return cell


def variable_nbytes(value) -> int:
    """Bytes a value occupies in memory, summed over cell elements and struct fields."""
    if isinstance(value, Mapping):
        return sum(variable_nbytes(v) for v in value.values())
    if isinstance(value, StreamedCell):
        return value.nbytes
    if isinstance(value, np.ndarray) and value.dtype == object:
        return sum(variable_nbytes(v) for v in value.ravel())
    if isinstance(value, (list, tuple)):
        return sum(variable_nbytes(v) for v in value)
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    return 8


def save_mat(path, variables: Mapping, *, v73_threshold: int = V73_THRESHOLD, compress: bool = False) -> str:
    """Write ``variables`` to a MAT-file, atomically; v5 unless a variable is too large.

    Parameters
    ----------
    path : str or Path
    variables : mapping of str to value
        Arrays keep their shape (use (z, x, ...) MATLAB order); dicts become
        structs, lists of arrays column cell arrays, strings char arrays. A
        :class:`StreamedCell` is a column cell whose elements are made while the file
        is written, one part at a time (bytes as the same cell held whole).
    v73_threshold : int
        Bytes per variable above which the whole file is written as MAT v7.3
        (HDF5, via hdf5storage) instead of v5 (pyulm's MAT v5 codec).
    compress : bool
        zlib-compress v5 data (MATLAB's ``-v7``); default uncompressed (``-v6``), faster.

    Returns
    -------
    str
        ``"5"`` or ``"7.3"``, the version written.

    Examples
    --------
    >>> import numpy as np, tempfile, os, scipy.io
    >>> p = os.path.join(tempfile.mkdtemp(), "r.mat")
    >>> save_mat(p, {"MatOut": np.zeros((3, 4)), "ULM": {"res": 10}})
    '5'
    >>> scipy.io.loadmat(p)["MatOut"].shape
    (3, 4)
    """
    path = Path(path)
    mdict = {str(k): to_matlab(v) for k, v in variables.items()}
    for k in mdict:
        if not k.isidentifier() or len(k) > 63:
            raise ValueError(f"{path}: {k!r} is not a valid MATLAB variable name")
    big = max((variable_nbytes(v) for v in mdict.values()), default=0)
    if big > v73_threshold:
        hdf5storage = require("hdf5storage", f"{path}: writing a MAT v7.3 file (a variable over 2 GB)")

        streamed = {k: v for k, v in mdict.items() if isinstance(v, StreamedCell)}
        with atomic_path(path) as tmp:  # ".NAME.*.part", the name a rerun's clean-up looks for
            hdf5storage.savemat(str(tmp), {k: v for k, v in mdict.items() if k not in streamed}, format="7.3",
                                matlab_compatible=True, store_python_metadata=False, truncate_existing=True,
                                appendmat=False)
            if streamed:
                from ._mat73write import write_cells

                write_cells(tmp, streamed)
        return "7.3"
    from . import _mat5

    _mat5.write(path, mdict, header="pyulm", compress=compress)
    return "5"


def load_table(path):
    """Load a :class:`~pyulm.Localizations` or :class:`~pyulm.Tracks` HDF5 file, whichever it holds."""
    import h5py

    from ..tables import Localizations, Tracks

    try:
        with h5py.File(path, "r") as f:
            kind = f.attrs.get("pyulm_table")
    except OSError as exc:
        raise ValueError(f"{path}: not an HDF5 file ({exc})") from None
    if kind == "Localizations":
        return Localizations.load(path)
    if kind == "Tracks":
        return Tracks.load(path)
    raise ValueError(f"{path}: not a pyulm table file (no pyulm_table attribute)")
