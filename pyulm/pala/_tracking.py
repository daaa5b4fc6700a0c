"""PALA's ULM_tracking2D over :func:`pyulm.tracking.track` (``pala_compat=True``)."""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..tables import Localizations
from ..tracking.core import MODES, track
from ._console import say
from ._ulm import scalar, vector

__all__ = ["ULM_tracking2D"]


# the ULM field or argument each argument of pyulm.track comes from, for errors
_NAMES = {"max_linking_distance": "ULM.max_linking_distance", "max_gap_closing": "ULM.max_gap_closing",
          "min_length": "ULM.min_length", "res": "ULM.res", "n_frames": "ULM.size(3)",
          "interp_factor": "ULM.max_linking_distance", "locs": "MatTracking", "locs.frame": "MatTracking(:, 4)"}


def _sentinel():
    return [np.array([[0.0, 0.0, 0.0, 0.0]])]


def ULM_tracking2D(MatTracking, ULM, mode="velocityinterp"):
    """PALA ``Tracks = ULM_tracking2D(MatTracking, ULM, mode)``.

    Parameters
    ----------
    MatTracking : array_like, shape (N, >=4)
        ``[intensity, z, x, frame]`` rows (positions in any unit, PALA passes
        wavelengths; 1-based frames). Should be sorted by frame, as
        ``ULM_localization2D`` returns it: PALA reads each point's frame from
        the row at the point's position among the frame-sorted points.
        Not modified. An empty table (``zeros(0, 4)``, a block without
        detections) gives PALA's "no track" answer below.
    ULM : dict or object
        Fields ``max_linking_distance``, ``max_gap_closing``, ``min_length``,
        ``res``, ``size`` (``size[2]`` = number of frames) and, for
        ``"velocityinterp"`` and ``"pala"``, ``scale`` (``scale[2]`` = frame
        period, s). ``ULM.interp_factor`` is ignored, as in PALA.
    mode : str, optional
        ``"velocityinterp"`` (default), ``"nointerp"``, ``"interp"`` or
        ``"pala"``; case-insensitive.

    Returns
    -------
    list of ndarray, or a pair of lists for ``"pala"``
        One array per track with more than ``min_length`` points:

        * ``"nointerp"``: ``[z x frame]`` (frames renumbered from 1);
        * ``"interp"``: PALA's ``1 x 2M`` row ``[zu xu]`` (interp1's row
          output concatenated horizontally);
        * ``"velocityinterp"``: float32 ``[zu xu vz vx t]``, M x 5;
        * ``"pala"``: ``(raw, interp)`` with raw as ``"nointerp"`` and interp
          ``[zu xu vmean]`` (vmean = path length / n / frame period, PALA's
          divisor).

        With no track, PALA's sentinel ``[array([[0, 0, 0, 0]])]`` (twice for
        ``"pala"``) after printing ``Was not able to find tracks at <first frame>``
        (see :func:`pyulm.pala.verbose`; ``ULM.verbose = 0`` silences one call).
        Tracks come in MatTracking's class where PALA keeps it: single input
        gives single tracks in every mode (``"velocityinterp"`` is single always).

    Examples
    --------
    >>> f = np.arange(1, 21.0)
    >>> MT = np.column_stack([np.ones(20), 10 + 0.5 * f, np.full(20, 10.0), f])
    >>> ULM = dict(max_linking_distance=2, max_gap_closing=0, min_length=15, res=10,
    ...            size=[64, 64, 20], scale=[1, 1, 1e-3])
    >>> raw, interp = ULM_tracking2D(MT, ULM, "pala")
    >>> raw[0].shape, interp[0].shape, round(float(interp[0][0, 2]), 6)
    ((20, 3), (476, 3), 475.0)
    """
    if not isinstance(mode, str) or mode.lower() not in MODES:
        raise ValueError(f"mode: expected one of {list(MODES)} (any case), got {mode!r}")
    mode = mode.lower()
    mt = np.asarray(MatTracking)
    if mt.dtype == object or not np.issubdtype(mt.dtype, np.number) or np.iscomplexobj(mt):
        raise ValueError(f"MatTracking: expected a real numeric (N, 4) array [intensity z x frame], got dtype {mt.dtype}")
    if mt.size and (mt.ndim != 2 or mt.shape[1] < 4):
        raise ValueError(f"MatTracking: expected an (N, >=4) array [intensity z x frame], got shape {mt.shape}")
    single = mt.dtype == np.float32
    mt = mt.reshape(-1, 4).astype(float) if mt.size == 0 else mt.astype(float, copy=False)
    mld = scalar(ULM, "max_linking_distance")
    gap = scalar(ULM, "max_gap_closing")
    min_length = scalar(ULM, "min_length")
    res = scalar(ULM, "res")
    n_frames = vector(ULM, "size", 3)[2]
    frame_rate = None
    if mode in ("velocityinterp", "pala"):
        dt = vector(ULM, "scale", 3)[2]
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"ULM.scale(3): the frame period (s) must be a finite number > 0, got {dt!r}")
        frame_rate = 1.0 / dt

    if mt.shape[0] == 0:  # min of an empty column is [], which MATLAB prints as nothing
        say("Was not able to find tracks at ", ULM)
        return (_sentinel(), _sentinel()) if mode == "pala" else _sentinel()
    frames = mt[:, 3]
    if not np.all(np.isfinite(frames)) or np.any(frames != np.round(frames)):
        raise ValueError("MatTracking: the frame column (4th) must hold whole numbers")
    first = frames.min()
    locs = Localizations(z=mt[:, 1], x=mt[:, 2], frame=(frames - first).astype(np.int64), intensity=mt[:, 0])
    try:
        out = track(locs, max_linking_distance=mld, max_gap_closing=gap, min_length=min_length, mode=mode,
                    frame_rate=frame_rate, res=res, n_frames=int(n_frames), pala_compat=True)
    except ValueError as exc:
        raise V.renamed(exc, _NAMES) from None
    tracks = out[0] if mode == "pala" else out
    if len(tracks) == 0:
        say(f"Was not able to find tracks at {first:g}", ULM)
        return (_sentinel(), _sentinel()) if mode == "pala" else _sentinel()
    cls = np.float32 if single else np.float64  # MATLAB computes in the input's class
    if mode in ("nointerp", "pala"):
        raw = [np.column_stack([t[:, :2], t[:, 2] + 1.0]).astype(cls, copy=False) for t in tracks]
        return (raw, [t.astype(cls, copy=False) for t in out[1].to_list()]) if mode == "pala" else raw
    if mode == "interp":
        # interp1 returns rows for a row query, and PALA concatenates them side by side
        return [np.concatenate([t[:, 0], t[:, 1]])[None, :].astype(cls, copy=False) for t in tracks]
    return [t.copy() for t in tracks]
