"""Deep-stULM model directories: save and load (imports torch on load).

A model directory holds ``weights.pt`` (state dict, read with
``torch.load(weights_only=True)``), ``config.json`` (format, architecture
``"deepstulm"``, network sizes, input normalisation, the simulation ranges the
model was trained on — whose PSF is the default correlation template — and the
decode threshold), ``SHA256SUMS`` (checked on load) and the provenance files
``train.toml``, ``metrics.json``, ``log.jsonl``, ``README.md``. Every failure
names the file.
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from ..weights_io import resolve, sha256
from .config import DataConfig, ModelConfig

ARCHITECTURE = "deepstulm"
FORMAT, FORMAT_VERSION = "pyulm-nn", 1
NORMALIZATION = "complex_correlation_over_window_max"
WEIGHTS_FILE, CONFIG_FILE, SUMS_FILE = "weights.pt", "config.json", "SHA256SUMS"

_cache: dict = {}


def save_model_dir(model, directory, data: DataConfig, *, threshold: float, extra_files: dict | None = None) -> Path:
    """Write weights, config, checksum and the ``extra_files`` texts into ``directory``."""
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
    (d / SUMS_FILE).write_text(f"{sha256(d / WEIGHTS_FILE)}  {WEIGHTS_FILE}\n")
    return d


def read_model_config(config_file: Path) -> dict:
    """The checked ``config.json`` of a Deep-stULM model directory:
    ``{"model": ModelConfig, "data": DataConfig, "threshold": float}``."""
    where = f"{ARCHITECTURE}: {config_file}"
    if not config_file.is_file():
        raise FileNotFoundError(f"{where} is missing (a model directory needs {WEIGHTS_FILE} and {CONFIG_FILE})")
    try:
        cfg = json.loads(config_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{where} is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ValueError(f"{where} is not a pyulm model config (no \"format\": \"{FORMAT}\")")
    if cfg.get("architecture") != ARCHITECTURE:
        raise ValueError(f"{where} describes a {cfg.get('architecture')!r} model, not {ARCHITECTURE!r}; pass the "
                         f"directory of a Deep-stULM model")
    if cfg.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{where} has format_version {cfg.get('format_version')!r}; this pyulm reads "
                         f"{FORMAT_VERSION}")
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
    st = wf.stat()
    cst = cf.stat() if cf.is_file() else None
    key = (str(wf.resolve()), st.st_mtime_ns, st.st_size, cst and (cst.st_mtime_ns, cst.st_size), str(dev))
    if key in _cache:
        return _cache[key]
    cfg = read_model_config(cf)
    sums = wf.parent / SUMS_FILE
    if sums.is_file():
        expected = {ln.split()[1].lstrip("*"): ln.split()[0] for ln in sums.read_text().splitlines()
                    if len(ln.split()) == 2}
        if wf.name in expected and expected[wf.name] != sha256(wf):
            raise ValueError(f"{ARCHITECTURE}: weights {wf} do not match their checksum in {sums} (corrupt or "
                             f"modified file)")
    try:
        state = torch.load(wf, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise ValueError(f"{ARCHITECTURE}: weights {wf} cannot be read as torch weights (corrupt, truncated or not "
                         f"a weights file): {type(exc).__name__}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{ARCHITECTURE}: weights {wf} hold a {type(state).__name__}, expected a state dict")
    model = DeepSTULM(cfg["model"])
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = " ".join(str(exc).split())[:300]
        raise ValueError(f"{ARCHITECTURE}: weights {wf} do not fit the network described by {cf} (weights of "
                         f"another r, size or architecture?): {msg}") from None
    model.eval().to(dev)
    model.source = str(wf)
    if len(_cache) >= 4:
        _cache.clear()
    _cache[key] = (model, cfg)
    return model, cfg
