"""Writers: MAT-files MATLAB and Octave load unchanged, and the HDF5 tables."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._fileutil import atomic_path

#: scipy's v5 writer fails above 2**31 bytes per variable (int32 sizes); leave room for headers.
V73_THRESHOLD = 2**31 - 2**20


def _to_matlab(value):
    """Python values to what scipy/hdf5storage write as MATLAB types."""
    if isinstance(value, Mapping):
        return {str(k): _to_matlab(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, np.ndarray) for v in value):
        cell = np.empty((len(value), 1), dtype=object)  # a column cell, as PALA's Track_tot
        for i, v in enumerate(value):
            cell[i, 0] = v
        return cell
    if isinstance(value, np.ndarray) and value.dtype == object:
        out = np.empty(value.shape, dtype=object)
        for idx in np.ndindex(value.shape):
            out[idx] = _to_matlab(value[idx])
        return out
    if isinstance(value, bool):
        return np.array([[value]])
    if isinstance(value, (int, float, np.generic)) and not isinstance(value, str):
        return np.array([[float(value)]]) if isinstance(value, int) else np.array([[value]])
    if isinstance(value, (list, tuple)) and all(isinstance(v, (int, float)) for v in value):
        return np.asarray(value, dtype=float).reshape(1, -1)
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        cell = np.empty((len(value), 1), dtype=object)
        for i, v in enumerate(value):
            cell[i, 0] = v
        return cell
    return value


def variable_nbytes(value) -> int:
    """Bytes a value occupies in memory, summed over cell elements and struct fields."""
    if isinstance(value, Mapping):
        return sum(variable_nbytes(v) for v in value.values())
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
        structs, lists of arrays column cell arrays, strings char arrays.
    v73_threshold : int
        Bytes per variable above which the whole file is written as MAT v7.3
        (HDF5, via hdf5storage) instead of v5 (scipy; limited to 2**31 bytes per variable).
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
    mdict = {str(k): _to_matlab(v) for k, v in variables.items()}
    for k in mdict:
        if not k.isidentifier() or len(k) > 63:
            raise ValueError(f"{path}: {k!r} is not a valid MATLAB variable name")
    big = max((variable_nbytes(v) for v in mdict.values()), default=0)
    if big > v73_threshold:
        import hdf5storage

        with atomic_path(path, suffix=".part.mat") as tmp:
            hdf5storage.savemat(str(tmp), mdict, format="7.3", matlab_compatible=True,
                                store_python_metadata=False, truncate_existing=True)
        return "7.3"
    import scipy.io

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            scipy.io.savemat(fh, mdict, format="5", do_compression=compress, oned_as="row", long_field_names=True)
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
