"""Deep-stULM configuration: network sizes, simulation ranges, training schedule.

Three frozen dataclasses, each read from one table of the training TOML file
(``[model]``, ``[data]``, ``[train]``) and checked field by field; an unknown
field or a value out of range is a ``ValueError`` naming ``[table].field``.
No torch here: the inference code reads the model sizes from ``config.json``
with the same checks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from ..configcheck import check_fields, top_level

#: Seed namespaces: training windows, per-epoch validation, held-out test (shipped metrics).
#: The benchmark draws its networks from its own base seed, never from these.
TRAIN, VALIDATION, TEST = 0, 1, 2


_VARIABLE_LENGTH = {"angles", "phase1_milestones", "phase2_milestones"}
_MAY_BE_ZERO = {"phase1_epochs", "phase2_epochs", "dilation_radius"}


def _check_fields(cls, d, where):
    return check_fields(cls, d, where, zero_ok=_MAY_BE_ZERO, numeric_tuples=True, variable_length=_VARIABLE_LENGTH)


def _range(value, name, *, positive=False):
    lo, hi = value
    if lo > hi or (positive and lo <= 0):
        raise ValueError(f"{name}: expected a range [lo, hi] with {'0 < ' if positive else ''}lo <= hi, got {list(value)}")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the network (see :mod:`pyulm.nn.deepstulm.model`).

    n_frames : temporal window Nt (frames per input block); a multiple of ``time_pool**2``.
    size : spatial window (pixels, square); a multiple of ``space_pool**2``.
    r : super-resolution factor of the output (a power of 2); output ``r*size`` pixels square.
    base : channels of the first stage (then 2x, 4x).
    time_pool, space_pool : max-pooling factors of the two down blocks along t and (z, x).
    convs : convolutions per encoder stage (V-net: 1 to 3).
    """

    n_frames: int = 64
    size: int = 32
    r: int = 4
    base: int = 8
    time_pool: int = 4
    space_pool: int = 2
    convs: int = 2

    @classmethod
    def from_dict(cls, d, where="[model]") -> "ModelConfig":
        cfg = cls(**_check_fields(cls, d, where))
        if cfg.r & (cfg.r - 1):
            raise ValueError(f"{where}.r: expected a power of 2 (1, 2, 4, 8...), got {cfg.r}")
        if cfg.n_frames % cfg.time_pool ** 2:
            raise ValueError(f"{where}.n_frames: expected a multiple of time_pool**2 = {cfg.time_pool ** 2}, "
                             f"got {cfg.n_frames}")
        if cfg.size % cfg.space_pool ** 2:
            raise ValueError(f"{where}.size: expected a multiple of space_pool**2 = {cfg.space_pool ** 2}, "
                             f"got {cfg.size}")
        return cfg


@dataclass(frozen=True)
class DataConfig:
    """Simulation ranges of the training windows (:func:`pyulm.sim.simulate` on
    :func:`pyulm.sim.random_network` vessel trees, Poiseuille flow).

    field : simulated field (pixels, square, >= the model's ``size``); windows are cut from it at random.
    concentration : bubbles per mm^2 of image, drawn log-uniformly (sparse to very dense).
    snr_db : thermal-noise SNR range (dB re the mean bubble amplitude).
    max_velocity : peak velocity of the fastest vessel (mm/s).
    intensity : bubble amplitude range; intensity_jitter: frame-to-frame log-normal jitter.
    n_roots, root_radius (pixels), min_radius (pixels), max_depth, segment_length (pixels): vessel trees.
    center_frequency (MHz), fractional_bandwidth, f_number, angles (degrees): the transducer PSF
    (:func:`pyulm.psf.psf_from_transducer`), sampled at ``pixel_wavelengths`` wavelengths per pixel.
    frame_rate : Hz.
    """

    field: int = 40
    concentration: tuple = (0.5, 40.0)
    snr_db: tuple = (10.0, 30.0)
    max_velocity: tuple = (3.0, 15.0)
    intensity: tuple = (0.5, 1.5)
    intensity_jitter: float = 0.1
    n_roots: tuple = (2, 4)
    root_radius: tuple = (0.6, 1.2)
    min_radius: float = 0.1
    max_depth: int = 6
    segment_length: tuple = (6.0, 20.0)
    center_frequency: float = 15.625
    fractional_bandwidth: float = 0.67
    f_number: float = 1.0
    angles: tuple = (-1.0, 0.0, 1.0)
    pixel_wavelengths: float = 0.25
    frame_rate: float = 1000.0

    @classmethod
    def from_dict(cls, d, where="[data]") -> "DataConfig":
        kw = _check_fields(cls, d, where)
        if "angles" in kw:  # any number of compounding angles
            kw["angles"] = tuple(float(a) for a in kw["angles"])
        if "n_roots" in kw:
            kw["n_roots"] = tuple(int(a) for a in kw["n_roots"])
        cfg = cls(**kw)
        for k in ("concentration", "max_velocity", "intensity", "root_radius", "segment_length", "n_roots"):
            _range(getattr(cfg, k), f"{where}.{k}", positive=True)
        _range(cfg.snr_db, f"{where}.snr_db")
        for k in ("min_radius", "center_frequency", "fractional_bandwidth", "f_number", "pixel_wavelengths",
                  "frame_rate"):
            if getattr(cfg, k) <= 0:
                raise ValueError(f"{where}.{k}: expected a number > 0, got {getattr(cfg, k)!r}")
        return cfg

    def psf(self):
        """The transducer PSF of these simulations (pixels of ``pixel_wavelengths`` wavelengths)."""
        from ...psf import psf_from_transducer

        wl_mm = 1540.0 / (self.center_frequency * 1e3)
        px = wl_mm * self.pixel_wavelengths
        return psf_from_transducer(self.center_frequency, fractional_bandwidth=self.fractional_bandwidth,
                                   f_number=self.f_number, angles=list(self.angles), pixel_size_mm=(px, px))


@dataclass(frozen=True)
class TrainConfig:
    """Two-phase schedule (the paper's): phase 1 on targets dilated by a disk of
    radius ``dilation_radius`` (output pixels), phase 2 on the raw targets from
    the phase-1 weights. Adam; the learning rate of each phase decays by
    ``gamma`` at its milestones (epochs counted within the phase).
    ``epoch`` = ``steps_per_epoch`` optimiser steps of ``batch_size`` windows.
    Validation Dice on ``val_windows`` fixed windows after every epoch; the
    shipped weights are the phase-2 epoch with the best validation Dice.
    Loss: Dice + ``bce_weight`` x binary cross-entropy (``bce_weight = 0``: the
    paper's Dice alone, which stays on the all-positive plateau on this budget)."""

    phase1_epochs: int = 6
    phase2_epochs: int = 10
    steps_per_epoch: int = 200
    batch_size: int = 4
    phase1_lr: float = 2e-3
    phase1_milestones: tuple = ()
    phase2_lr: float = 1e-3
    phase2_milestones: tuple = ()
    gamma: float = 0.3
    dilation_radius: int = 2
    bce_weight: float = 1.0
    val_windows: int = 48
    test_windows: int = 96
    threshold: float = 0.5
    threads: int = 1
    device: str = "auto"

    @classmethod
    def from_dict(cls, d, where="[train]") -> "TrainConfig":
        kw = _check_fields(cls, d, where)
        for k in ("phase1_milestones", "phase2_milestones"):
            if k in kw:
                v = kw[k]
                if not all(isinstance(a, int) and not isinstance(a, bool) and a >= 1 for a in v):
                    raise ValueError(f"{where}.{k}: expected whole numbers >= 1 (epochs), got {list(v)}")
                kw[k] = tuple(sorted(v))
        cfg = cls(**kw)
        if not 0 < cfg.threshold < 1:
            raise ValueError(f"{where}.threshold: expected a probability in (0, 1), got {cfg.threshold}")
        if cfg.phase1_epochs + cfg.phase2_epochs < 1:
            raise ValueError(f"{where}: phase1_epochs + phase2_epochs: expected at least one epoch")
        if not 0 < cfg.gamma <= 1:
            raise ValueError(f"{where}.gamma: expected a factor in (0, 1], got {cfg.gamma}")
        return cfg


def parse_config(raw: dict, where: str = "config") -> dict:
    """A checked config: {"seed", "model": ModelConfig, "data": DataConfig, "train": TrainConfig}."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table")
    seed = top_level(raw, where, ("seed", "architecture"), ("model", "data", "train"))
    if raw.get("architecture", "deepstulm") != "deepstulm":
        raise ValueError(f"{where}: architecture: this is the deepstulm trainer, the config says "
                         f"{raw['architecture']!r}")
    model = ModelConfig.from_dict(raw.get("model", {}), f"{where} [model]")
    data = DataConfig.from_dict(raw.get("data", {}), f"{where} [data]")
    train = TrainConfig.from_dict(raw.get("train", {}), f"{where} [train]")
    if data.field < model.size:
        raise ValueError(f"{where} [data].field: expected at least [model].size = {model.size} pixels, got {data.field}")
    return {"seed": seed, "model": model, "data": data, "train": train}


def load_config(path) -> dict:
    """Read and check a Deep-stULM training TOML file (see :func:`parse_config`)."""
    from ..._optional import load_toml

    p = Path(path)
    raw = load_toml(p, "training config")
    return parse_config(raw, str(p))


def to_toml(cfg: dict) -> str:
    """The TOML text of a parsed config (what :func:`load_config` reads back)."""
    import json

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(a) for a in v) + "]"
        if isinstance(v, str):
            return json.dumps(v)
        return repr(v)

    lines = [f"seed = {cfg['seed']}", 'architecture = "deepstulm"', ""]
    for sec in ("model", "data", "train"):
        lines.append(f"[{sec}]")
        lines += [f"{k} = {val(v)}" for k, v in asdict(cfg[sec]).items()]
        lines.append("")
    return "\n".join(lines)
