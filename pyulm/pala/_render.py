"""PALA's ``ULM_Track2MatOut`` over :mod:`pyulm.render`."""
from __future__ import annotations

import numpy as np

from ..render import KINDS, SMOOTH_SPAN, accumulate, velocity_values
from ._console import say

_DENSITY_MODES = ("2D_allin", "2D_tracks")
_VELOCITY_MODES = ("2D_velmean", "2D_velnorm", "2D_vel_z")
_MIN_COLUMNS = {"2D_allin": 2, "2D_tracks": 2, "2D_velmean": 3, "2D_velnorm": 4, "2D_vel_z": 4}


def _num2str(values) -> str:
    """MATLAB ``num2str`` of a row of whole numbers (two spaces between columns)."""
    text = [str(int(v)) for v in values]
    width = max(len(t) for t in text) + 2
    return "".join(t.rjust(width) for t in text).strip()


def _as_track_list(Tracks):
    """A list of 2-D arrays from a list/tuple, a cell-like object array, or one matrix."""
    if isinstance(Tracks, np.ndarray) and Tracks.dtype != object:
        return [Tracks]
    if isinstance(Tracks, np.ndarray):  # a MATLAB cell array as loaded by scipy.io.loadmat
        Tracks = list(Tracks.ravel(order="F"))
    if not isinstance(Tracks, (list, tuple)):
        raise ValueError(f"Tracks: expected a list of (n, c) arrays or one (N, c) matrix, got {type(Tracks).__name__}")
    return [np.asarray(t) for t in Tracks]


def ULM_Track2MatOut(Tracks, sizeOut, mode=None, *, nargout: int = 1):
    """PALA ``MatOut = ULM_Track2MatOut(Tracks, sizeOut, 'mode', mode)``.

    Parameters
    ----------
    Tracks : list of (n_k, c) arrays, or one (N, c) array
        Columns 1 and 2 are **SR-grid** positions ``(z, x)``, 1-based (the
        caller converts, e.g. ``(pos_wavelength + 1) / SRscale``). Velocity
        modes read column 3 (``2D_velmean``: the value) or columns 3 and 4
        (``vz``, ``vx``). One matrix is one track for the track modes.
    sizeOut : (int, int)
        ``[Nz_SR, Nx_SR]``, size of the map.
    mode : str, optional
        ``'2D_allin'`` (points per pixel), ``'2D_tracks'`` (tracks per
        pixel), ``'2D_velmean'``, ``'2D_velnorm'`` or ``'2D_vel_z'``;
        case-sensitive like PALA. Default: ``'2D_tracks'`` for a list,
        ``'2D_allin'`` for a matrix.
    nargout : {1, 2}
        Number of MATLAB outputs. With 1, density modes return ``MatOut``
        and velocity modes return **``MatOut_vel`` only** (PALA's
        behaviour); with 2 (velocity modes only) ``(MatOut, MatOut_vel)``.

    Returns
    -------
    ndarray or tuple of ndarray, float64 of shape ``sizeOut``.

    Notes
    -----
    Velocity modes reproduce PALA's pairing of the j-th sorted unique pixel of
    a track with its j-th in-grid velocity sample (``pala_compat=True`` of
    :func:`pyulm.render.render`). ``2D_allin`` also accepts a list, whose
    rows are stacked.

    Examples
    --------
    >>> T = [np.array([[1.2, 1.6], [1.4, 1.4], [2.5, 2.5], [2.6, 2.4], [9, 9]]), np.array([[1.0, 2.0], [0.4, 1.0]])]
    >>> ULM_Track2MatOut(T, [3, 3]).tolist()  # doctest: +NORMALIZE_WHITESPACE
    Building 2D ULM image (size : 3  3).
    [[1.0, 2.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 1.0]]
    """
    is_matrix = isinstance(Tracks, np.ndarray) and Tracks.dtype != object
    if mode is None:
        mode = "2D_allin" if is_matrix else "2D_tracks"
    if not isinstance(mode, str) or mode not in _MIN_COLUMNS:
        raise ValueError(f"mode: unknown mode {mode!r}; expected one of {list(_MIN_COLUMNS)} (case-sensitive)")
    size = np.asarray(sizeOut).ravel()
    if size.size != 2 or not np.issubdtype(size.dtype, np.number) or np.any(size < 1) or np.any(size != np.round(size)):
        raise ValueError(f"sizeOut: expected [Nz Nx], two whole numbers >= 1, got {sizeOut!r}")
    sr_shape = (int(size[0]), int(size[1]))
    if nargout not in (1, 2):
        raise ValueError(f"nargout: expected 1 or 2, got {nargout!r}")
    if nargout == 2 and mode in _DENSITY_MODES:
        raise ValueError(f"nargout: mode {mode!r} has one output (MatOut), got nargout=2")

    arrays = _as_track_list(Tracks)
    need = _MIN_COLUMNS[mode]
    for k, a in enumerate(arrays):
        if a.ndim != 2 or (a.shape[0] > 0 and a.shape[1] < need):
            raise ValueError(f"Tracks: mode {mode!r} needs (n, >={need}) arrays, track {k} has shape {a.shape}")
        if not np.issubdtype(a.dtype, np.number):
            raise ValueError(f"Tracks: expected numeric arrays, track {k} has dtype {a.dtype}")
    arrays = [a for a in arrays if a.shape[0] > 0]
    lengths = [a.shape[0] for a in arrays]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    if arrays:
        cols = min(a.shape[1] for a in arrays)
        pts = np.concatenate([a[:, :cols] for a in arrays], axis=0)
    else:
        pts = np.zeros((0, need))

    say(f"Building 2D ULM image (size : {_num2str(sr_shape)}).")
    if mode in _DENSITY_MODES:
        engine = "allin" if mode == "2D_allin" else "tracks"
        return accumulate(pts[:, 0], pts[:, 1], offsets, sr_shape, engine)[0]

    kind = next(k for k, m in KINDS.items() if m == mode)
    if kind == "velocity_mean":
        values, sign = velocity_values(kind, offsets, vmean=pts[:, 2])
    else:
        values, sign = velocity_values(kind, offsets, vz=pts[:, 2], vx=pts[:, 3], smooth_span=SMOOTH_SPAN,
                                       pala_compat=True)
    MatOut, MatOut_vel = accumulate(pts[:, 0], pts[:, 1], offsets, sr_shape, "velocity", values, sign, pala_compat=True)
    return (MatOut, MatOut_vel) if nargout == 2 else MatOut_vel
