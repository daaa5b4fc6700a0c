"""Deep-stULM model directories: save and load (imports torch on load).

A model directory holds ``weights.pt`` (state dict, read with
``torch.load(weights_only=True)``), ``config.json`` (format, architecture
``"deepstulm"``, network sizes, input normalisation, the simulation ranges the
model was trained on — whose PSF is the default correlation template — and the
decode threshold), ``SHA256SUMS`` (the SHA-256 of every file, checked before
anything is read, as for every pyulm model: :mod:`pyulm.nn.weights_io`) and the
provenance files ``train.toml``, ``metrics.json``, ``log.jsonl``, ``README.md``.
Every failure names the file.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..weights_io import (CONFIG_FILE, FORMAT, FORMAT_VERSION, SUMS_FILE, WEIGHTS_FILE, file_stamps, load_state,
                          load_strict, read_config_json, remember, resolve, verify_checksums, write_checksums)
from .config import DataConfig, ModelConfig

ARCHITECTURE = "deepstulm"
NORMALIZATION = "complex_correlation_over_window_max"

_cache: dict = {}


def save_model_dir(model, directory, data: DataConfig, *, threshold: float, extra_files: dict | None = None) -> Path:
    """Write weights, config, the ``extra_files`` texts and the checksums of every file into ``directory``
    (a file written later must be followed by :func:`pyulm.nn.weights_io.write_checksums`)."""
    import torch

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, d / WEIGHTS_FILE)
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": ARCHITECTURE,
           "model": asdict(model.config), "normalization": NORMALIZATION, "data": asdict(data),
           "decode": {"threshold": float(threshold)}}
    (d / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    for name, text in (extra_files or {}).items():
        (d / name).write_text(text)
    write_checksums(d)
    return d


def read_model_config(config_file: Path) -> dict:
    """The checked ``config.json`` of a Deep-stULM model directory:
    ``{"model": ModelConfig, "data": DataConfig, "threshold": float}``."""
    where = f"{ARCHITECTURE}: {config_file}"
    cfg = read_config_json(config_file, ARCHITECTURE)
    if cfg.get("architecture") != ARCHITECTURE:
        raise ValueError(f"{where} describes a {cfg.get('architecture')!r} model, not {ARCHITECTURE!r}; pass the "
                         f"directory of a Deep-stULM model")
    if cfg.get("normalization") != NORMALIZATION:
        raise ValueError(f"{where} expects input normalisation {cfg.get('normalization')!r}; pyulm provides "
                         f"{NORMALIZATION!r}")
    model = ModelConfig.from_dict(cfg.get("model", {}), f"{where}: model")
    data = DataConfig.from_dict(cfg.get("data", {}), f"{where}: data")
    thr = (cfg.get("decode") or {}).get("threshold", 0.5)
    if not isinstance(thr, (int, float)) or isinstance(thr, bool) or not 0 < thr < 1:
        raise ValueError(f"{where}: decode.threshold: expected a probability in (0, 1), got {thr!r}")
    return {"model": model, "data": data, "threshold": float(thr)}


def load_model_dir(weights=None, device=None):
    """(eval-mode model, config) of the shipped model or a user's directory / ``weights.pt``; cached."""
    import torch

    from .model import DeepSTULM

    wf, cf = resolve(ARCHITECTURE, weights)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    key = (str(wf.resolve()), file_stamps(wf, cf, wf.parent / SUMS_FILE), str(dev))
    if key in _cache:
        return _cache[key]
    verify_checksums(wf.parent, ARCHITECTURE)  # first: nothing unverified is parsed
    cfg = read_model_config(cf)
    state = load_state(wf, ARCHITECTURE)
    model = DeepSTULM(cfg["model"])
    load_strict(model, state, f"{ARCHITECTURE}: weights {wf} do not fit the network described by {cf} (weights of "
                f"another r, size or architecture?)")
    model.eval().to(dev)
    model.source = str(wf)
    return remember(_cache, key, (model, cfg))
