"""CycleULM's named pipelines and the paper's two conventional baselines.

=================  ==========================================================
``cycleulm-ncc``   MB-DT → NCC (Gaussian template of the MB-only PSF) → tracking
``cycleulm-decon`` MB-DT → sparse deconvolution (MB-only PSF) → tracking
``cycleulm-loc``   MB-DT → MBL-Net → tracking
``cycleulm-e2e``   MB-DT → MBT-Net over sliding 8-frame windows → SR density and
                   velocity maps (explicit tracks on request: MBL-Net detections
                   linked with MBT-Net's velocities as motion prior)
``baseline1``      Bradley–Roth adaptive thresholding → NCC → tracking
``baseline2``      Bradley–Roth adaptive thresholding → deconvolution → tracking
=================  ==========================================================

"Tracking" is pyulm's Hungarian linker (:func:`pyulm.track`, ``velocityinterp``) and the
maps are PALA's (``MatOut`` density, ``MatOut_zdir`` signed speed, ``MatOut_vel`` speed) on
PALA's grid (``res * (Nz, Nx) + 1`` pixels). The paper keeps tracks of at least four frames
(``min_length=3``: strictly more than 3 points) and so does :func:`run_pipeline` by default.

Every stage is timed (``PipelineResult.timings``, seconds), so throughput per stage and per
pipeline comes with each run. Torch is imported only by the learned stages.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ... import _validate as V
from .modelkeys import translator_fwhm
from .precision import check_precision


@dataclass(frozen=True)
class PipelineSpec:
    """One named pipeline: whether MB-DT translates the frames, the denoiser, the localizer."""

    name: str
    translate: bool
    denoise: str | None
    localizer: str | None  # None: CycleULM-E2E (MBT-Net maps)
    description: str


PIPELINES = {p.name: p for p in (
    PipelineSpec("cycleulm-ncc", True, None, "ncc", "MB-DT + NCC + tracking"),
    PipelineSpec("cycleulm-decon", True, None, "decon", "MB-DT + deconvolution + tracking"),
    PipelineSpec("cycleulm-loc", True, None, "mblnet", "MB-DT + MBL-Net + tracking"),
    PipelineSpec("cycleulm-e2e", True, None, None, "MB-DT + MBT-Net sliding windows -> SR density and velocity maps"),
    PipelineSpec("baseline1", False, "bradley_roth", "ncc", "Bradley-Roth thresholding + NCC + tracking"),
    PipelineSpec("baseline2", False, "bradley_roth", "decon", "Bradley-Roth thresholding + deconvolution + tracking"),
)}

#: MBL-Net for the MB-only domain (CycleULM-Loc, E2E's explicit tracks, ``mblnet`` on translated frames in
#: ``pyulm process``): the shipped MBL-Net fine-tuned on synthetic MB-only frames, as the paper trains its
#: MBL-Net, then on data closer to MB-DT's output; chosen by the highest mean validation F1 of CycleULM-Loc
#: (benchmarks/cycleulm_validate.py, seeds 1000-1001; docs/cycleulm.md "Choices made on validation data").
MBONLY_MBLNET = "mblnet_mbonly"
#: Its decode threshold on MB-DT's output, chosen on the same validation acquisitions (mean F1 0.748 vs 0.747
#: at the model's own 0.2, calibrated on synthetic MB-only frames; docs/cycleulm_validation.json). It is the
#: decoder's candidate floor: a lower threshold keeps nothing more (0.01-0.04 scored the same).
MBONLY_THRESHOLD = 0.05


def mbonly_options(method: str, options=()) -> tuple:
    """Localizer options for MB-only frames: MBL-Net's MB-only weights and threshold unless ``options``
    (name, value pairs) name other weights; nothing for the other methods."""
    names = {k for k, _ in options}
    if method != "mblnet" or "weights" in names:
        return ()
    from ..weights_io import SHIPPED

    return (("weights", str(SHIPPED / MBONLY_MBLNET)),) + (
        () if "threshold" in names else (("threshold", MBONLY_THRESHOLD),))


#: PALA's map names for pyulm.render's kinds.
PALA_MAPS = {"density": "MatOut", "direction": "MatOut_zdir", "velocity_norm": "MatOut_vel"}


def pipeline_spec(name, translator=None, where: str = "") -> PipelineSpec:
    """The pipeline called ``name``, checked against ``translator``.

    Raises
    ------
    ValueError
        An unknown name (the message lists the names), a CycleULM pipeline without a
        translator, or a baseline given one (baselines never translate).
    """
    key = name.lower() if isinstance(name, str) else None
    if key not in PIPELINES:
        raise ValueError(f"{where}pipeline: unknown pipeline {name!r}; available: {', '.join(PIPELINES)}")
    spec = PIPELINES[key]
    if spec.translate and translator is None:
        raise ValueError(f"{where}pipeline {key!r} needs an MB-DT translator (a model directory trained with "
                         "`pyulm train mbdt`): give translator=DIR ([ulm] translate = \"DIR\" in a config)")
    if not spec.translate and translator is not None:
        raise ValueError(f"{where}pipeline {key!r} is a conventional baseline and does not translate; "
                         "drop the translator or choose a cycleulm-* pipeline")
    return spec


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` returns.

    Attributes
    ----------
    name : str
    localizations : Localizations or None
        0-based pixel positions (``None`` for CycleULM-E2E without tracks).
    tracks : Tracks or None
        ``z, x`` (pixels), ``vz, vx`` (pixels/s), ``t`` (s); ``None`` for E2E without tracks.
    maps : dict
        ``MatOut`` (tracks per SR pixel, or MBT-Net's trajectory density for E2E),
        ``MatOut_zdir`` and ``MatOut_vel`` (``pixel_size`` units per second), on PALA's grid.
    frames : ndarray (z, x, t) float
        What the localizer saw (MB-DT output, the thresholded amplitude).
    timings : dict
        Seconds per stage (``translate``/``denoise``, ``localize``, ``track``, ``render``, ``e2e``).
    """

    name: str
    localizations: object
    tracks: object
    maps: dict
    frames: np.ndarray
    timings: dict = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """Total seconds over the stages."""
        return float(sum(self.timings.values()))


def run_pipeline(frames, name: str, *, translator=None, fwhm=(3.0, 3.0), number_of_particles: int = 40,
                 frame_rate: float = 1000.0, pixel_size=(1.0, 1.0), res: float = 4, max_linking_distance: float = 2.0,
                 max_gap_closing: int = 0, min_length: int = 3, tracks: bool | None = None,
                 localizer_options: dict | None = None, threshold_options: dict | None = None,
                 mbtnet_weights=None, stride: int | None = None, batch_size: int = 16, device=None,
                 precision: str = "fp32") -> PipelineResult:
    """Run one named pipeline on a block of clutter-filtered frames.

    Parameters
    ----------
    frames : array_like (z, x, t)
        SVD-filtered IQ (complex) or its amplitude; never modified. At least 3 frames (MB-DT's
        context), 8 for CycleULM-E2E (MBT-Net's window).
    name : str
        One of :data:`PIPELINES` (case-insensitive).
    translator : str or Path, optional
        The MB-DT model directory (``pyulm train mbdt``); required by the ``cycleulm-*``
        pipelines, refused by the baselines.
    fwhm : float or (float, float)
        PSF FWHM ``(z, x)`` of the data, pixels: the template of the baselines. After MB-DT the
        localizers use the MB-only PSF recorded in the translator's directory instead.
    number_of_particles : int
        At most this many detections per frame.
    frame_rate : float
        Hz.
    pixel_size : float or (float, float)
        ``(dz, dx)``: the unit of the velocity maps (``pixel_size`` per second).
    res : float
        Super-resolution factor of the maps (PALA's ``ULM.res``).
    max_linking_distance : float
        Pixels per frame.
    max_gap_closing, min_length : int
        As :func:`pyulm.track`; the default keeps tracks of 4 frames or more, as the paper.
    tracks : bool, optional
        Link tracks. Default True, except for CycleULM-E2E, whose maps need none: with True,
        E2E also returns MBL-Net's detections on the MB-only frames linked by
        :func:`pyulm.nn.cycleulm.trackdecode.decode_tracks` (MBT-Net's velocities as motion prior).
    localizer_options : dict, optional
        More options of the localizer (checked by the localizer: unknown names are errors).
        NCC defaults to ``psf="gaussian"`` (the MB-only domain's PSF is a Gaussian by
        construction; the baselines use the Gaussian of ``fwhm``), deconvolution to its Gaussian PSF,
        MBL-Net (CycleULM-Loc, E2E's tracks) to the MB-only model :data:`MBONLY_MBLNET` at
        :data:`MBONLY_THRESHOLD` unless ``weights`` are given.
    threshold_options : dict, optional
        ``window`` and ``t`` of :func:`pyulm.denoise.bradley_roth` (baselines only).
    mbtnet_weights : str or Path, optional
        MBT-Net model directory (E2E); default the shipped model.
    stride : int, optional
        Frames between MBT-Net windows (E2E); default the E2E module's.
    batch_size : int
        Frames (windows) per forward pass of the networks.
    device : str, optional
        Torch device of the networks; default CUDA when available.
    precision : {"fp32", "bf16"}
        Arithmetic of MB-DT and MBT-Net (:mod:`pyulm.nn.cycleulm.precision`): float32, the
        reference, or bfloat16 copies, ~2-3x faster on one thread of a CPU with AMX / AVX-512
        BF16 (docs/cycleulm.md compares the scores). MBL-Net gets the same value where it
        takes one. Anything else is a ValueError.

    Returns
    -------
    PipelineResult

    Raises
    ------
    ValueError
        Unknown pipeline, missing or misplaced translator, options of another pipeline, bad
        frames (non-finite, too few).

    Examples
    --------
    >>> from pyulm.sim import free_motion
    >>> sim = free_motion((48, 48), n_frames=20, n_bubbles=(5, 8), seed=2)
    >>> out = run_pipeline(sim.iq, "baseline1", number_of_particles=10, min_length=2)
    >>> sorted(out.maps), out.maps["MatOut"].shape
    (['MatOut', 'MatOut_vel', 'MatOut_zdir'], (193, 193))
    """
    spec = pipeline_spec(name, translator)
    precision = check_precision(precision, "run_pipeline: ")
    arr = V.as_frames(frames)
    fwhm = V.pair(fwhm, "fwhm")
    dz, dx = V.pair(pixel_size, "pixel_size")
    frame_rate = V.positive(frame_rate, "frame_rate")
    res = V.positive(res, "res")
    if spec.denoise is None and threshold_options:
        raise ValueError(f"threshold_options: pipeline {spec.name!r} has no thresholding step (baselines only)")
    if spec.localizer is not None and (mbtnet_weights is not None or stride is not None):
        raise ValueError(f"mbtnet_weights, stride: pipeline {spec.name!r} does not run MBT-Net (cycleulm-e2e only)")
    want_tracks = (spec.localizer is not None) if tracks is None else bool(tracks)
    if spec.localizer is not None and not want_tracks:
        raise ValueError(f"tracks: pipeline {spec.name!r} makes its maps from tracks; tracks=False is for cycleulm-e2e")
    need = 8 if spec.localizer is None else 3 if spec.translate else 1
    if arr.shape[2] < need:
        raise ValueError(f"frames: pipeline {spec.name!r} needs at least {need} frames, got {arr.shape[2]}")
    t: dict = {}

    t0 = time.perf_counter()
    if spec.translate:
        from .translate import translate

        x = translate(arr, translator, batch_size=int(batch_size), device=device, precision=precision)
        t["translate"] = time.perf_counter() - t0
    else:
        from ...denoise import bradley_roth

        x = bradley_roth(arr, **(threshold_options or {}))
        t["denoise"] = time.perf_counter() - t0

    if spec.localizer is None:
        return _e2e(spec, x, t, want_tracks, translator=translator, mbtnet_weights=mbtnet_weights, stride=stride,
                    res=res, precision=precision, frame_rate=frame_rate, pixel_size=(dz, dx), number_of_particles=number_of_particles,
                    localizer_options=localizer_options, batch_size=batch_size, device=device,
                    link=dict(max_linking_distance=max_linking_distance, max_gap_closing=max_gap_closing,
                              min_length=min_length))
    t0 = time.perf_counter()
    method, loc_fwhm, opts = pipeline_localizer(spec.name, arr, translator=translator, fwhm=fwhm,
                                                localizer_options=localizer_options, batch_size=batch_size,
                                                device=device, precision=precision)
    if spec.denoise:  # Baseline 2's sparsity weight, from the frames before thresholding
        t["denoise"] += time.perf_counter() - t0
    locs = _localize(method, x, loc_fwhm, number_of_particles, opts, t)
    tr = _track(locs, t, frame_rate=frame_rate, res=res, max_linking_distance=max_linking_distance,
                max_gap_closing=max_gap_closing, min_length=min_length)
    t0 = time.perf_counter()
    maps = track_maps(tr, x.shape[:2], res, (dz, dx))
    t["render"] = time.perf_counter() - t0
    return PipelineResult(spec.name, locs, tr, maps, x, t)


def threshold_lam(frames, fwhm, upsample: int = 3, lam_factor: float = 1.0) -> np.ndarray:
    """Deconvolution's sparsity weight per frame for thresholded frames (Baseline 2), from the
    frames *before* thresholding.

    Deconvolution sets its weight from each frame's noise level (robust MAD), but Bradley-Roth
    sets the background to 0, so thresholded frames have no measurable noise: the weight would
    fall to its floor and the solver would keep every speck (and crawl). The noise is taken from
    ``|frames|`` less its per-frame median instead, as :func:`pyulm.localization.decon.default_lambda`
    computes it for unthresholded frames.
    """
    from ...localization.decon import default_lambda, fine_psf

    amp = np.abs(V.as_frames(frames)).astype(np.float64)
    amp -= np.median(amp, axis=(0, 1), keepdims=True)
    return default_lambda(amp, fine_psf(V.pair(fwhm, "fwhm"), int(upsample)), int(upsample), lam_factor)


def pipeline_localizer(name: str, frames, *, translator=None, fwhm=(3.0, 3.0), localizer_options: dict | None = None,
                       batch_size: int = 16, device=None, precision: str = "fp32") -> tuple:
    """The localization step of pipeline ``name`` as :func:`run_pipeline` runs it.

    ``pyulm.localize(x, method, fwhm=loc_fwhm, number_of_particles=n, **options)`` on the
    frames ``x`` the pipeline translated or thresholded (``PipelineResult.frames``) gives its
    localizations; a benchmark can so rerun the same step with other options (a lowered
    detection threshold) without translating again.

    Parameters
    ----------
    name : str
        One of :data:`PIPELINES`; ``cycleulm-e2e``: the MBL-Net of its explicit tracks.
    frames : array_like (z, x, t)
        The pipeline's *input* (clutter-filtered IQ or its amplitude), not modified: Baseline 2's
        sparsity weight is computed from it (:func:`threshold_lam`).
    translator, fwhm, localizer_options, batch_size, device, precision
        As :func:`run_pipeline`.

    Returns
    -------
    method : str
        The registered localizer.
    loc_fwhm : (float, float)
        The PSF FWHM given to it (pixels): the translator's MB-only PSF after MB-DT, ``fwhm`` for
        the baselines.
    options : dict
        Its other options (NCC's Gaussian template, the MB-only MBL-Net and its threshold,
        Baseline 2's ``lam``), ``localizer_options`` included.
    """
    spec = pipeline_spec(name, translator)
    method = spec.localizer or "mblnet"
    opts = dict(localizer_options or {})
    if spec.translate:
        loc_fwhm = (1.0, 1.0) if spec.localizer is None else translator_fwhm(translator)
    else:
        loc_fwhm = V.pair(fwhm, "fwhm")
    if method == "ncc":  # decon's default PSF is already the Gaussian of fwhm
        opts.setdefault("psf", "gaussian")
    elif method == "mblnet":  # the frames here are MB-DT's output: the MB-only MBL-Net (unless weights are given)
        opts.update(mbonly_options(method, tuple(opts.items())))
        opts.setdefault("batch_size", int(batch_size))
        opts.setdefault("device", device)
        if precision != "fp32":  # MBL-Net's own option of the same name and values
            opts.setdefault("precision", precision)
    if spec.denoise and method == "decon" and "lam" not in opts:
        opts["lam"] = threshold_lam(frames, loc_fwhm, **{k: v for k, v in opts.items() if k in ("upsample", "lam_factor")})
    return method, loc_fwhm, opts


def _localize(method, x, fwhm, number_of_particles, options, t):
    from ...localization import localize

    t0 = time.perf_counter()
    locs = localize(x, method, fwhm=fwhm, number_of_particles=int(number_of_particles), **options)
    t["localize"] = time.perf_counter() - t0
    return locs


def _track(locs, t, *, frame_rate, res, **link):
    from ...tracking import track

    t0 = time.perf_counter()
    tr = track(locs, mode="velocityinterp", frame_rate=frame_rate, res=res, **link)
    t["track"] = time.perf_counter() - t0
    return tr


def track_maps(tracks, shape, res: float, pixel_size=(1.0, 1.0)) -> dict:
    """PALA's maps of ``tracks`` (pixels, pixels/s) on PALA's grid: ``MatOut`` (tracks per SR
    pixel), ``MatOut_zdir`` and ``MatOut_vel`` (``pixel_size`` units per second)."""
    from ...render import render
    from ...tables import Tracks

    dz, dx = V.pair(pixel_size, "pixel_size")
    if len(tracks) == 0:  # nothing linked: empty maps (pyulm.render's velocity maps need a track)
        from ...render import SuperResolutionGrid

        sr = tuple(SuperResolutionGrid(tuple(int(s) for s in shape), res).sr_shape)
        return {name: np.zeros(sr) for name in PALA_MAPS.values()}
    pts = np.array(tracks.points, dtype=np.float64, copy=True)
    cols = tracks.columns
    pts[:, cols.index("vz")] *= dz
    pts[:, cols.index("vx")] *= dx
    scaled = Tracks(pts, tracks.offsets, cols)
    maps = render(scaled, res=res, shape=tuple(int(s) for s in shape), kinds=tuple(PALA_MAPS))
    return {PALA_MAPS[k]: v for k, v in maps.items()}


def _e2e(spec, x, t, want_tracks, *, translator, mbtnet_weights, stride, res, precision, frame_rate, pixel_size,
         number_of_particles, localizer_options, batch_size, device, link):
    from .e2e import e2e_maps

    t0 = time.perf_counter()
    kw = {} if stride is None else {"stride": int(stride)}
    maps = e2e_maps(x, weights=mbtnet_weights, res=res, frame_rate=frame_rate, pixel_size=pixel_size,
                    precision=precision, **kw)
    t["e2e"] = time.perf_counter() - t0
    maps = {k: maps[k] for k in PALA_MAPS.values()}
    locs = tr = None
    if want_tracks:
        from .trackdecode import decode_tracks

        method, loc_fwhm, opts = pipeline_localizer(spec.name, x, translator=translator,
                                                    localizer_options=localizer_options, batch_size=batch_size,
                                                    device=device, precision=precision)
        locs = _localize(method, x, loc_fwhm, number_of_particles, opts, t)
        t0 = time.perf_counter()
        tr = decode_tracks(locs, x, weights=mbtnet_weights, mode="velocityinterp", frame_rate=frame_rate,
                           device=device, precision=precision, **link)
        t["track"] = time.perf_counter() - t0
    return PipelineResult(spec.name, locs, tr, maps, x, t)
