"""One block: filter, localize, track, on the core verbs (PALA's in vivo example).

1. ``IQ_svd = SVDfilter(IQ, SVD_cutoff)``; power Doppler ``sqrt(sum_t |IQ_svd|^2)``;
2. causal Butterworth band-pass along time, non-finite values set to 0
   (:func:`pyulm.filtering.filter_amplitude`);
3. :func:`pyulm.localize` on ``|IQ_filt|`` (any registered method);
4. positions to wavelengths: ``(pos - 1) * pixel_size`` (no origin, as PALA);
5. :func:`pyulm.track` in ``velocityinterp`` mode with ``pala_compat=True``: float32
   ``[z x vz vx t]``.

With ``params.tracking == "deepstulm"`` steps 3-5 are those of
:mod:`pyulm.pipeline.deepstulm`: localizations still, no tracks, and the block's map on
``MatOut``'s grid from the Deep-stULM network.

Between steps 2 and 3, CycleULM's translate step (``params.translator``: MB-DT turns
``|IQ_filt|`` into MB-only frames, localized with the MB-only PSF) or the baselines'
Bradley-Roth thresholding (``params.denoise``); ``params.pipeline == "cycleulm-e2e"`` runs
:mod:`pyulm.pipeline.cycleulm` instead of steps 3-5 (MBT-Net's maps, no tracks).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from .. import _validate as V
from ..filtering import filter_amplitude
from ..localization import get_method
from ..localization.core import run_localization
from ..tables import Localizations
from ..tracking import track
from .params import BlockParams

log = logging.getLogger("pyulm.pipeline")

#: PALA's no-track result, kept in the block's track list (and so in the maps) as PALA's example does.
NO_TRACK = np.zeros((1, 4))


@dataclass
class BlockResult:
    """What one block contributes.

    MatTracking : (N, 4) ``[intensity z x frame]``, z and x in wavelengths
        (``(pos - 1) * pixel_size``), frames 1-based within the block (PALA step 4).
    tracks : list of float32 (M, 5) ``[z x vz vx t]`` (wavelengths, wavelengths/s, s).
    powdop : (Nz, Nx) power Doppler of the SVD-filtered block.
    n_frames : frames in the block.
    timings : seconds per stage.
    matout : (res Nz + 1, res Nx + 1) or None
        The block's Deep-stULM map on ``MatOut``'s grid (``tracking = "deepstulm"``); None otherwise.
    """

    MatTracking: np.ndarray
    tracks: list
    powdop: np.ndarray
    n_frames: int
    timings: dict = field(default_factory=dict)
    matout: np.ndarray | None = None


def process_frames(frames, params: BlockParams, *, progress=None, overwrite_input: bool = False) -> BlockResult:
    """Filter, localize and track one block, reproducing PALA's in vivo example.

    Parameters
    ----------
    frames : array_like, (z, x, t)
        Beamformed IQ (complex) of one block.
    params : BlockParams
        From :func:`pyulm.pipeline.block_params` (config + file metadata) or, from PALA's
        ``ULM`` struct, :func:`pyulm.pala.block_params`.
    progress : callable, optional
        Called with each stage name as it starts.
    overwrite_input : bool
        Give ``frames`` up: the amplitude is then written over it when it has room
        (C- or Fortran-contiguous complex64, complex128 or float64 blocks), so the block
        costs its own memory plus temporaries. Default: ``frames`` is never modified.

    Returns
    -------
    BlockResult

    Notes
    -----
    Besides ``frames``, a block costs one double-precision amplitude array of its
    size (a complex64 block's size in bytes) and a few MB of row-block temporaries.

    Examples
    --------
    >>> from importlib.resources import files
    >>> from pyulm.io import inspect, read_frames
    >>> from pyulm.config import Config
    >>> from pyulm.pipeline import block_params
    >>> info = inspect(files("pyulm") / "data" / "example_block.mat")
    >>> params = block_params(Config.from_dict({"ulm": {"numberOfParticles": 40}}), info)
    >>> res = process_frames(read_frames(info), params)
    >>> res.MatTracking.shape[1], res.tracks[0].dtype
    (4, dtype('float32'))
    """
    # The SVD filter looks for NaN/Inf on its way through the block (its Gram matrix): no pass of its own
    arr = V.as_frames(frames, check_finite=False)
    if not isinstance(params, BlockParams):
        raise TypeError(f"params: expected BlockParams (pyulm.pipeline.block_params(cfg, info), or "
                        f"pyulm.pala.block_params(ULM, frames.shape) from PALA's ULM struct), got {type(params).__name__}")
    if not filter_checks_input(params):
        V.as_frames(arr)
    if tuple(arr.shape[:2]) != tuple(params.shape) or arr.shape[2] != params.n_frames:
        raise ValueError(f"frames: shape {arr.shape} does not match params ({params.shape[0]}, {params.shape[1]}, "
                         f"{params.n_frames}); build them with block_params(cfg, info, n_frames)")
    step = progress or (lambda stage: None)
    step("filter")
    holder = [arr]
    del arr
    return run_stages(holder, params, step, consume=overwrite_input)


def filter_checks_input(params: BlockParams) -> bool:
    """Whether :func:`run_stages` starts with pyulm's SVD filter, which looks for NaN/Inf in the
    block on its way (so the caller need not check them first); Deep-stULM and CycleULM-E2E
    have filters of their own."""
    return params.tracking != "deepstulm" and params.pipeline != "cycleulm-e2e"


def run_stages(holder: list, params: BlockParams, step, *, consume: bool) -> BlockResult:
    """The block ``holder[0]``, taken out of ``holder`` so that no reference to it outlives
    the filter. With ``consume`` the caller gives it up and the amplitude goes over it."""
    t = {}
    t0 = time.perf_counter()
    arr = holder.pop()
    if params.tracking == "deepstulm":
        from .deepstulm import deepstulm_stages

        mat, powdop, matout = deepstulm_stages(arr, params, step, mat_tracking, t)
        return BlockResult(mat, [], powdop, params.n_frames, t, matout)
    if params.pipeline == "cycleulm-e2e":
        from .cycleulm import e2e_stages

        mat, powdop, matout = e2e_stages(arr, params, step, mat_tracking, t)
        return BlockResult(mat, [], powdop, params.n_frames, t, matout)
    amplitude, powdop = filter_amplitude(arr, params.svd_cutoff, params.band or None, params.frame_rate,
                                         out=_amplitude_buffer(arr, consume), svd_precision=params.svd_precision,
                                         check_finite="frames")
    del arr  # when it is not the amplitude's own memory, the input is freed here
    t["filter"] = time.perf_counter() - t0
    loc_params = params
    if params.translator or params.denoise:
        from .cycleulm import before_localization, localization_params

        loc_params = localization_params(amplitude, params)
        amplitude = before_localization(amplitude, params, step, t)

    t0 = time.perf_counter()
    step("localize")
    # the filter's amplitude is finite by construction (non-finite values set to 0): not checked again
    mat = mat_tracking(amplitude, loc_params, finite=not (params.translator or params.denoise))
    del amplitude
    t["localize"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("track")
    tracks = track_block(mat, params)
    t["track"] = time.perf_counter() - t0
    return BlockResult(mat, tracks, powdop, params.n_frames, t)


def mat_tracking(amplitude: np.ndarray, params: BlockParams, *, finite: bool = False) -> np.ndarray:
    """PALA's ``MatTracking`` in wavelengths: ``[intensity z x frame]``, frames 1-based.

    ``finite``: ``amplitude`` is the filter's own (z, x, t) float64 output, known finite."""
    method = get_method(params.method)
    # Translated frames: a method modelling the PSF (a "frames" method: NCC's template, deconvolution's
    # kernel) gets the MB-only PSF; an ROI kernel keeps ULM.fwhm, which sizes its ROI (PALA's meaning),
    # and an ROI of the data's width holds the narrower MB-only bubble (radial symmetry fails on
    # 3 x 3 ROIs of a 1.5-pixel PSF).
    fwhm = params.translator[2:] if params.translator and method.kind == "frames" else params.fwhm
    locs = run_localization(amplitude, params.method, fwhm, params.number_of_particles, params.n_local_max, None, True,
                            dict(params.method_options), finite=finite)
    if not len(locs):
        return np.zeros((0, 4))
    # PALA's example goes through 1-based pixels, (pos - 1) * PDelta: the same arithmetic
    # here keeps the positions bit-identical to PALA's route.
    z1, x1 = locs.z + 1.0, locs.x + 1.0
    mat = np.column_stack([locs.intensity, (z1 - 1) * params.pixel_size[0], (x1 - 1) * params.pixel_size[1],
                           locs.frame + 1.0]).astype(np.float64, copy=False)
    if method.kind == "frames":  # whole-frame methods: PALA's row order (frame, then x, then z)
        mat = mat[np.lexsort((z1, x1, mat[:, 3]))]
    return mat


def track_block(mat: np.ndarray, params: BlockParams) -> list:
    """PALA's ``ULM_tracking2D(MatTracking, ULM, 'velocityinterp')`` on the core tracker.

    As in PALA's example: frames renumbered from the first detection's, the frame
    rate read back from the frame period ``ULM.scale(3)``, and :data:`NO_TRACK` when
    nothing is linked.
    """
    if not mat.shape[0]:
        log.info("no localization in this block: no tracks")
        return []
    frames = mat[:, 3]
    first = frames.min()
    locs = Localizations(z=mat[:, 1], x=mat[:, 2], frame=(frames - first).astype(np.int64), intensity=mat[:, 0])
    out = track(locs, max_linking_distance=params.max_linking_distance, max_gap_closing=params.max_gap_closing,
                min_length=params.min_length, mode="velocityinterp", frame_rate=1.0 / (1.0 / params.frame_rate),
                res=params.res, n_frames=params.n_frames, pala_compat=True)
    if len(out) == 0:
        log.info("no track in this block (from frame %g)", first)
        return [NO_TRACK.copy()]
    return [np.array(t) for t in out]


def _amplitude_buffer(arr: np.ndarray, consume: bool) -> np.ndarray:
    """Where |IQ| goes: over ``arr`` itself when it is given up and has the room (one
    float64 per sample, in the same place as that sample, so a row block of pixels
    overwrites only samples the filter has already read), else a new float64 array
    in ``arr``'s memory order."""
    fortran = arr.flags.f_contiguous and not arr.flags.c_contiguous
    if consume and arr.flags.writeable and arr.dtype.isnative and (fortran or arr.flags.c_contiguous):
        if arr.dtype in (np.complex64, np.float64):
            return arr.view(np.float64)
        if arr.dtype == np.complex128:
            return arr.real
    return np.empty(arr.shape, np.float64, order="F" if fortran else "C")
