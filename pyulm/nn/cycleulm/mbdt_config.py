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
    restarts = 0             # when the label-free check fails (mbdt_check), train again with seed + 1,
                             # seed + 2, ... up to this many times, each with the same budget
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from ..configcheck import top_level
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
    restarts: int = 0


# (low, high) bounds of every numeric field; None: unbounded on that side
_BOUNDS = {
    "patch": (8, 512), "svd_cutoff": (0, 10_000), "validation_fraction": (0.0, 0.5), "shrink": (0.1, 1.0),
    "adversarial": (0.0, 1e4), "cycle": (0.0, 1e4), "similarity": (0.0, 1e4), "cycle_noise": (0.0, 1.0),
    "epochs": (1, 100_000), "warmup_steps": (0, 10_000_000), "steps_per_epoch": (1, 1_000_000), "batch": (1, 1024),
    "lr": (1e-7, 1.0),
    "max_minutes": (0.0, None), "max_cpu_minutes": (0.0, None), "threads": (1, 256), "val_patches": (1, 10_000),
    "restarts": (0, 100),
}


def _number(v, where, integer, bounds):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if integer:
        ok = ok and float(v).is_integer()
    lo, hi = bounds
    if not ok or (lo is not None and v < lo) or (hi is not None and v > hi):
        kind = "a whole number" if integer else "a number"
        rng = f" in [{lo}, {hi}]" if hi is not None else f" >= {lo}"
        raise ValueError(f"{where}: expected {kind}{rng}, got {v!r}")
    return int(v) if integer else float(v)


def _pair(v, where, integer):
    if not isinstance(v, (list, tuple)) or len(v) != 2:
        raise ValueError(f"{where}: expected \"auto\" or a pair [low, high], got {v!r}")
    a, b = (_number(x, where, integer, (0, None)) for x in v)
    if b < a or (not integer and b <= 0):
        raise ValueError(f"{where}: expected low <= high (and high > 0), got {v!r}")
    return (a, b)


def _table(cls, raw, where):
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table")
    known = {f.name: f for f in fields(cls)}
    bad = sorted(set(raw) - set(known))
    if bad:
        raise ValueError(f"{where}: unknown key(s) {bad}; expected some of {sorted(known)}")
    out = {}
    for k, v in raw.items():
        at = f"{where}.{k}"
        default = known[k].default
        if k in ("psf_fwhm", "n_bubbles", "intensity"):
            out[k] = "auto" if v == "auto" else _pair(v, at, integer=k == "n_bubbles")
        elif isinstance(default, bool):
            if not isinstance(v, bool):
                raise ValueError(f"{at}: expected true or false, got {v!r}")
            out[k] = v
        elif k == "ema":  # a decay < 1 (at 1 only the warm-up would move the average); NaN fails the test
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
                raise ValueError(f"{at}: expected 0 (off) or a decay in [0, 1), e.g. 0.999, got {v!r}")
            out[k] = float(v)
        elif k == "precision":
            out[k] = check_precision(v, f"{where}.")  # the one check of every pyulm network's precision
        elif isinstance(default, str):
            if not isinstance(v, str):
                raise ValueError(f"{at}: expected a string, got {v!r}")
            out[k] = v
        else:
            out[k] = _number(v, at, isinstance(default, int), _BOUNDS[k])
    return cls(**out)


def parse_config(raw: dict | None, where: str = "mbdt config") -> dict:
    """Check a config dict (as read from TOML); returns ``seed``, ``model``, ``data``, ``loss``, ``train``."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a table of settings, got {type(raw).__name__}")
    seed = top_level(raw, where, ("seed",), ("model", "data", "loss", "train"))
    m = raw.get("model", {})
    known = {f.name for f in fields(MBDTConfig)}
    if set(m) - known:
        raise ValueError(f"{where} [model]: unknown key(s) {sorted(set(m) - known)}; expected some of {sorted(known)}")
    model = MBDTConfig(**m)  # checks the bounds
    data = _table(DataCfg, raw.get("data", {}), f"{where} [data]")
    train = _table(TrainCfg, raw.get("train", {}), f"{where} [train]")
    if data.patch % 4:
        raise ValueError(f"{where} [data].patch: expected a multiple of 4 (two stride-2 poolings), got {data.patch}")
    return {"seed": seed, "model": model, "data": data, "loss": _table(LossCfg, raw.get("loss", {}), f"{where} [loss]"),
            "train": train}


def config_dict(cfg: dict) -> dict:
    """The checked config as plain JSON-able data (for config.json and metrics.json)."""
    return {"seed": cfg["seed"], "model": cfg["model"].to_dict(),
            **{k: {n: list(v) if isinstance(v, tuple) else v for n, v in asdict(cfg[k]).items()}
               for k in ("data", "loss", "train")}}
