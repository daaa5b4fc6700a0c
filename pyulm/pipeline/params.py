"""The parameters of one block: built once, from the config and the file's metadata.

:class:`BlockParams` is what :func:`pyulm.pipeline.process_frames` runs on: plain
Python names and units (wavelengths, Hz, pixels), frozen, checked when built, so a
block never re-derives or re-validates anything. PALA's ``ULM`` struct is made from
it only where a ``.mat`` is written (:mod:`pyulm.pipeline.outputs`); a ``ULM`` struct
coming in (from MATLAB) is turned into one by the PALA adapter, :func:`pyulm.pala.block_params`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from ..config import LEARNED_LOCALIZERS, Config, ConfigError


@dataclass(frozen=True)
class BlockParams:
    """Everything that decides a block's result.

    Attributes
    ----------
    shape : (int, int)
        ``(Nz, Nx)`` pixels of a frame.
    n_frames : int
        Frames in the block.
    pixel_size : (float, float)
        ``(dz, dx)`` in wavelengths.
    frame_rate : float
        Hz.
    wavelength_mm : float or None
        Wavelength in mm (velocity maps in mm/s when known).
    svd_cutoff : tuple of int
        Kept singular components ``(first, last)``, 1-based, ``last <= n_frames``
        (from a ``ULM`` struct: any of PALA's ``SVD_cutoff`` forms).
    band : tuple
        Band-pass ``(low, high)`` in Hz, or ``()`` for none.
    svd_precision : {"double", "pala_single"}
    method : str
        Registered localization method.
    fwhm : (float, float)
        ``(fwhm_z, fwhm_x)`` in pixels (Python order; PALA's ``ULM.fwhm`` is ``[x z]``).
    number_of_particles, n_local_max : int
    method_options : tuple of (name, value)
        Extra options of the method (``interp_method`` for ``interp``).
    max_linking_distance : float
        Wavelengths per frame.
    max_gap_closing, min_length : int
    res : float
        Super-resolution factor.
    tracking : {"hungarian", "deepstulm"}
        ``"hungarian"``: localize and link (PALA); ``"deepstulm"``: the Deep-stULM
        network's track maps (:func:`pyulm.nn.track_maps`) on ``MatOut``'s grid.
    tracking_model : tuple
        ``(weights file, its SHA-256, n_frames, size)`` of the Deep-stULM model (the key
        of a block changes with the weights; a block needs ``n_frames`` frames of at least
        ``size`` x ``size`` pixels), ``()`` for ``"hungarian"``.
    translator : tuple
        ``(directory, SHA-256 of its SHA256SUMS, fwhm_z, fwhm_x)`` of the CycleULM MB-DT model
        that translates the filtered frames into the MB-only domain before localization
        (``[ulm] translate``); a localizer that models the PSF (NCC, deconvolution) then uses the
        MB-only PSF ``(fwhm_z, fwhm_x)`` (pixels), an ROI kernel (radial, ...) keeps ``fwhm`` for its
        ROI. ``()``: no translation. The block key changes with the weights.
    denoise : str
        ``"bradley_roth"``: Bradley-Roth adaptive thresholding of the filtered amplitude before
        localization (the CycleULM paper's baselines); ``""``: none.
    pipeline : str
        The named pipeline (``[ulm] pipeline``, :data:`pyulm.nn.cycleulm.PIPELINES`), ``""`` for none.
        ``"cycleulm-e2e"``: the block's maps come from MBT-Net (:mod:`pyulm.pipeline.cycleulm`).
    e2e_model : tuple
        ``(directory, SHA-256)`` of the MBT-Net model of ``cycleulm-e2e``, ``()`` otherwise.
    precision : str
        Arithmetic of the CycleULM networks (``[ulm] precision``: "fp32" or "bf16",
        :mod:`pyulm.nn.cycleulm.precision`); set only with a translator. MBL-Net and 3DML get
        a non-default ``[ulm] precision`` in ``method_options`` instead.
    """

    shape: tuple
    n_frames: int
    pixel_size: tuple
    frame_rate: float
    wavelength_mm: float | None
    svd_cutoff: tuple
    band: tuple
    svd_precision: str
    method: str
    fwhm: tuple
    number_of_particles: int
    n_local_max: int
    method_options: tuple
    max_linking_distance: float
    max_gap_closing: int
    min_length: int
    res: float
    tracking: str = "hungarian"
    tracking_model: tuple = ()
    translator: tuple = ()
    denoise: str = ""
    pipeline: str = ""
    e2e_model: tuple = ()
    precision: str = "fp32"

    def for_frames(self, n_frames: int, where: str = "") -> "BlockParams":
        """The same parameters for a block of ``n_frames`` frames (the SVD's last component clipped)."""
        if len(self.svd_cutoff) != 2:
            raise ValueError(f"svd_cutoff: for_frames needs (first, last), got {self.svd_cutoff!r}")
        last = min(self.svd_cutoff[1], int(n_frames))
        if self.svd_cutoff[0] > last:
            raise ConfigError(f"{where}[ulm] SVD_cutoff: first component {self.svd_cutoff[0]} exceeds the "
                              f"{n_frames} frames of a block")
        if self.tracking_model and n_frames < self.tracking_model[2]:
            window, weights = self.tracking_model[2], self.tracking_model[0]
            raise ConfigError(f'{where}[ulm] tracking = "deepstulm": a block of {n_frames} frames is shorter than the '
                              f"network's temporal window of {window} frames ({weights}); "
                              "use [input] frames_per_block = 0 or a multiple of the window, or longer files")
        context = 8 if self.e2e_model else 3 if self.translator else 1
        if n_frames < context:
            what = f'pipeline = "{self.pipeline}"' if self.pipeline else "translate"
            raise ConfigError(f"{where}[ulm] {what}: a block of {n_frames} frames is shorter than the network's "
                              f"context of {context} frames; use longer blocks ([input] frames_per_block)")
        return dataclasses.replace(self, n_frames=int(n_frames), svd_cutoff=(self.svd_cutoff[0], last))

    def as_dict(self) -> dict:
        """JSON-ready form (the block key hashes it)."""
        return dataclasses.asdict(self)


def block_params(cfg: Config, info, n_frames: int | None = None) -> BlockParams:
    """The parameters of a block of ``info``'s file (``n_frames`` frames, default the
    config's ``frames_per_block`` or the whole file).

    Raises
    ------
    ConfigError
        Naming the file and the config field (``[ulm] ButterCuttofFreq`` ...) when the
        config does not fit the file.
    """
    u = cfg.ulm
    where = f"{info.path}: "
    nz, nx, nt = (int(s) for s in info.shape)
    if n_frames is None:
        n_frames = min(nt, cfg.input.frames_per_block) if cfg.input.frames_per_block else nt
    fs = info.frame_rate
    if fs is None and u.scale is not None:
        fs = 1.0 / u.scale[2]
    if fs is None:
        raise ConfigError(f"{where}the frame rate is unknown (the file does not give it): "
                          "set scale = [1, 1, dt] (dt in s) in the [ulm] table of the config")
    band = tuple(float(b) for b in u.ButterCuttofFreq)
    if band and not band[1] < fs / 2:
        raise ConfigError(f"{where}[ulm] ButterCuttofFreq: the high cut-off {band[1]:g} Hz must be below "
                          f"half the frame rate ({fs / 2:g} Hz)")
    svd_hi = nt if u.SVD_cutoff[1] == "end" else int(u.SVD_cutoff[1])
    lam = info.wavelength_mm
    mld = u.max_linking_distance
    if u.max_velocity_mm_s is not None:
        if lam is None:
            raise ConfigError(f"{where}[ulm] max_velocity_mm_s needs the wavelength, which the file does not give "
                              "(no Trans.frequency / UF.TwFreq): use max_linking_distance in wavelengths instead")
        mld = u.max_velocity_mm_s / fs / lam
    if not math.isfinite(mld) or mld <= 0:
        raise ConfigError(f"{where}[ulm] max_linking_distance: {mld!r} is not a positive number")
    fx, fz = u.fwhm  # the config keeps PALA's [fwhm_x fwhm_z] order
    method = u.LocMethod
    p = BlockParams(
        shape=(nz, nx), n_frames=nt, pixel_size=tuple(float(s) for s in info.pixel_size), frame_rate=float(fs),
        wavelength_mm=None if lam is None else float(lam), svd_cutoff=(int(u.SVD_cutoff[0]), min(svd_hi, nt)),
        band=band, svd_precision=u.pyulm_svd, method=method, fwhm=(float(fz), float(fx)),
        number_of_particles=int(u.numberOfParticles), n_local_max=int(u.NLocalMax),
        method_options=(("interp_method", u.InterpMethod),) if method == "interp" else (),
        max_linking_distance=float(mld), max_gap_closing=int(u.max_gap_closing), min_length=int(u.min_length),
        res=float(u.res))
    if u.tracking == "deepstulm":
        p = dataclasses.replace(p, tracking="deepstulm", tracking_model=deepstulm_model(u.deepstulm_weights, p, where))
    if u.translate is not None:
        from ..nn.cycleulm.pipelines import mbonly_options  # MBL-Net on MB-only frames: its MB-only model

        p = dataclasses.replace(p, translator=cycleulm_model("translate", u.translate, where), precision=u.precision,
                                method_options=p.method_options + mbonly_options(p.method, p.method_options))
    if u.pipeline is not None:
        p = pipeline_params(p, u.pipeline, u.mbtnet_weights, where)
    if u.precision != "fp32" and p.method in LEARNED_LOCALIZERS:  # fp32 adds nothing: the block keys stay
        p = dataclasses.replace(p, method_options=p.method_options + (("precision", u.precision),))
    return p.for_frames(n_frames, where)


def pipeline_params(p: BlockParams, name: str, mbtnet_weights, where: str) -> BlockParams:
    """``p`` set up for the named pipeline ``name`` (localizer, thresholding, MBT-Net for E2E);
    the config has already checked the name and the translator (:class:`pyulm.config.ULMParams`)."""
    from ..nn.cycleulm.pipelines import PIPELINES, mbonly_options

    spec = PIPELINES[name]
    method = spec.localizer or "mblnet"  # E2E: MBL-Net on the MB-only frames gives its localizations
    return dataclasses.replace(
        p, pipeline=spec.name, denoise=spec.denoise or "", method=method,
        # the NCC template: the Gaussian of the PSF (MB-only PSF after MB-DT), as run_pipeline
        method_options=(("psf", "gaussian"),) if method == "ncc" else mbonly_options(method) if spec.translate else (),
        e2e_model=cycleulm_model("mbtnet_weights", mbtnet_weights, where) if spec.localizer is None else ())


def cycleulm_model(key: str, weights, where: str) -> tuple:
    """The identity of a CycleULM model (``key`` = "translate": the MB-DT directory ``weights``;
    "mbtnet_weights": MBT-Net, ``None`` for the shipped model), checked without running it;
    ConfigError naming the field."""
    from .._optional import require
    from ..nn.cycleulm.modelkeys import mbtnet_identity, translator_identity

    require("torch", f"[ulm] {key}")
    try:
        return translator_identity(weights) if key == "translate" else mbtnet_identity(weights)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}[ulm] {key}: {exc}") from None


def deepstulm_model(weights, p: BlockParams, where: str) -> tuple:
    """``(weights file, SHA-256, n_frames, size)`` of the Deep-stULM model, checked without
    running it: torch installed, the model's config readable, frames at least one
    ``size`` x ``size`` window (the frames per block are checked by :meth:`BlockParams.for_frames`).
    ConfigError naming the field otherwise."""
    from .._optional import require
    from ..nn.deepstulm.modeldir import ARCHITECTURE, read_model_config
    from ..nn.weights_io import resolve, sha256

    require("torch", '[ulm] tracking = "deepstulm"')
    try:
        wf, cf = resolve(ARCHITECTURE, weights)
        mc = read_model_config(cf)["model"]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{where}[ulm] deepstulm_weights: {exc}") from None
    if p.shape[0] < mc.size or p.shape[1] < mc.size:
        raise ConfigError(f'{where}[ulm] tracking = "deepstulm": frames of {p.shape[0]} x {p.shape[1]} pixels are '
                          f"smaller than one {mc.size} x {mc.size} window of the network ({wf})")
    return (str(wf.resolve()), sha256(wf), int(mc.n_frames), int(mc.size))
