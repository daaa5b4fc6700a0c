"""MB-DT training configuration: one validated model per table, unknown keys refused (numpy only).

TOML (every key optional; the defaults are the shipped choice, docs/cycleulm_mbdt.md)::

    seed = 0
    [model]                  # network sizes (MBDTConfig)
    width = 8
    context = 3
    disc_width = 16
    [data]
    patch = 40               # training patch, pixels (the paper: 40 x 40)
    svd_cutoff = 5           # files only: first singular component kept (<= 1: no filter);
                             # arrays given from Python are taken as already filtered
    variable = ""            # files only: the frames' variable ("" = detect)
    validation_fraction = 0.1   # last frames of each block held back for validation losses
    shrink = 0.5             # domain-B PSF = data PSF x shrink (both axes)
    psf_fwhm = "auto"        # data PSF (z, x) pixels, or "auto": fitted to isolated bubbles
    n_bubbles = "auto"       # bubbles per MB-only patch [lo, hi], or "auto" (matched to the data)
    intensity = [0.2, 1.0]   # MB-only peak amplitudes [low, high] (frames are normalised to a maximum of 1),
                             # or "auto": [low, 1] with low estimated from the data (mbdt_domain.auto_intensity)
    [loss]
    adversarial = 1.0        # weight of each LSGAN generator loss
    cycle = 10.0             # weight of each cycle-consistency L1 loss
    similarity = 5.0         # weight of the L1 between G_AB(a) (widened) and a's centre frame
    cycle_noise = 0.05       # std of the noise added to G_AB(a) before G_BA (breaks steganography)
    similarity_reblur = true # compare G_AB(a) widened to the data PSF (true) or as is (the paper)
    bubble_weight = 0.0      # > 0: the similarity and A-cycle L1 weight bubble-like pixels of their target
                             # (above 3 x the patch's median) 1 + bubble_weight times (0: plain L1, the default)
    [train]
    epochs = 20
    steps_per_epoch = 150
    batch = 8
    lr = 1e-3                # (CycleGAN uses 2e-4 over ~100k steps; a CPU budget of ~3k steps needs 1e-3)
    warmup_steps = 300       # adversarial weight ramps 0 -> 1 over these steps (0: none)
    max_minutes = 10.0       # wall-clock cap of the whole run (resumes included); 0: none
    max_cpu_minutes = 0.0    # CPU-time cap of the process (all threads); 0: none
    threads = 1
    device = "auto"          # "auto" (CUDA when available), "cpu", "cuda", "cuda:1", "mps"
    val_patches = 32
    precision = "fp32"       # the four networks' forward passes: "fp32", or "bf16" (torch.autocast
                             # bfloat16; losses, gradients, optimiser state and weights stay float32)
    ema = 0.0                # 0: off; else the decay in [0, 1) of an exponential moving average of
                             # G_AB's weights, saved as the translator (e.g. 0.999; mbdt_train)
    grad_clip = 0.0          # 0: off; else the largest L2 norm of each step's gradients, the generators' and
                             # the discriminators' each (torch.nn.utils.clip_grad_norm_)
    restarts = 2             # when the label-free check fails (mbdt_check), train again with seed + 1,
                             # seed + 2, ... up to this many times, each with the same budget
    max_total_minutes = 20.0 # cap of all attempts together (restarts included): a restart starts only when
                             # the attempts' wall-clock minutes so far plus the longest of them fit; 0: none
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..configcheck import check_fields, check_number, reject_unknown, top_level
from ..options import check_precision
from .mbdt_model import MBDTConfig

__all__ = ["DataCfg", "LossCfg", "TrainCfg", "parse_config", "config_dict"]


@dataclass(frozen=True)
class DataCfg:
    patch: int = 40
    svd_cutoff: int = 5
    variable: str = ""
    validation_fraction: float = 0.1
    shrink: float = 0.5
    psf_fwhm: object = "auto"
    n_bubbles: object = "auto"
    intensity: tuple = (0.2, 1.0)


@dataclass(frozen=True)
class LossCfg:
    adversarial: float = 1.0
    cycle: float = 10.0
    similarity: float = 5.0
    cycle_noise: float = 0.05
    similarity_reblur: bool = True
    bubble_weight: float = 0.0


@dataclass(frozen=True)
class TrainCfg:
    epochs: int = 20
    steps_per_epoch: int = 150
    batch: int = 8
    lr: float = 1e-3
    warmup_steps: int = 300
    max_minutes: float = 10.0
    max_cpu_minutes: float = 0.0
    threads: int = 1
    device: str = "auto"
    val_patches: int = 32
    precision: str = "fp32"
    ema: float = 0.0
    grad_clip: float = 0.0
    restarts: int = 2
    max_total_minutes: float = 20.0


# (low, high) bounds of every numeric field; None: unbounded on that side
_BOUNDS = {
    "patch": (8, 512), "svd_cutoff": (0, 10_000), "validation_fraction": (0.0, 0.5), "shrink": (0.1, 1.0),
    "adversarial": (0.0, 1e4), "cycle": (0.0, 1e4), "similarity": (0.0, 1e4), "cycle_noise": (0.0, 1.0),
    "bubble_weight": (0.0, 1e4),
    "epochs": (1, 100_000), "warmup_steps": (0, 10_000_000), "steps_per_epoch": (1, 1_000_000), "batch": (1, 1024),
    "lr": (1e-7, 1.0),
    "max_minutes": (0.0, None), "max_cpu_minutes": (0.0, None), "threads": (1, 256), "val_patches": (1, 10_000),
    "restarts": (0, 100), "max_total_minutes": (0.0, None), "grad_clip": (0.0, None),
}


def _pair(v, where, integer):
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ValueError(f"{where}: expected \"auto\" or a pair [low, high], got {v!r}")
    a, b = (check_number(x, where, 0, whole=integer) for x in v)
    if b < a or (not integer and b <= 0):
        raise ValueError(f"{where}: expected low <= high (and high > 0), got {v!r}")
    return (a, b)


def _auto_or_pair(integer):
    return lambda v, where: "auto" if v == "auto" else _pair(v, where, integer)


def _ema(v, where):
    # a decay < 1 (at 1 only the warm-up would move the average); NaN fails the test
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
        raise ValueError(f"{where}: expected 0 (off) or a decay in [0, 1), e.g. 0.999, got {v!r}")
    return float(v)


# fields with their own rule (check_fields judges the others by their defaults' types, in _BOUNDS)
_SPECIAL = {
    "psf_fwhm": _auto_or_pair(False), "n_bubbles": _auto_or_pair(True), "intensity": _auto_or_pair(False),
    "ema": _ema,
    # the one check of every pyulm network's precision (its message starts "... [train].precision: ")
    "precision": lambda v, where: check_precision(v, where[:-len("precision")]),
}


def _checked(cls, raw, where):
    """``cls`` made from one table: the shared rules of every trainer, with MB-DT's ranges and special fields."""
    return cls(**check_fields(cls, raw, where, bounds={k: b for k, b in _BOUNDS.items() if hasattr(cls, k)},
                              special={k: f for k, f in _SPECIAL.items() if hasattr(cls, k)}))


def parse_config(raw: dict | None, where: str = "mbdt config") -> dict:
    """Check a config dict (as read from TOML); returns ``seed``, ``model``, ``data``, ``loss``, ``train``."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table of settings, got {type(raw).__name__}")
    seed = top_level(raw, where, ("seed",), ("model", "data", "loss", "train"))
    m = raw.get("model", {})
    reject_unknown(MBDTConfig, m, f"{where} [model]")
    model = MBDTConfig(**m)  # checks the bounds
    data = _checked(DataCfg, raw.get("data", {}), f"{where} [data]")
    train = _checked(TrainCfg, raw.get("train", {}), f"{where} [train]")
    if data.patch % 4:
        raise ValueError(f"{where} [data].patch: expected a multiple of 4 (two stride-2 poolings), got {data.patch}")
    loss = _checked(LossCfg, raw.get("loss", {}), f"{where} [loss]")
    return {"seed": seed, "model": model, "data": data, "loss": loss, "train": train}


def config_dict(cfg: dict) -> dict:
    """The checked config as plain JSON-able data (for config.json and metrics.json)."""
    return {"seed": cfg["seed"], "model": cfg["model"].to_dict(),
            **{k: {n: list(v) if isinstance(v, tuple) else v for n, v in asdict(cfg[k]).items()}
               for k in ("data", "loss", "train")}}
