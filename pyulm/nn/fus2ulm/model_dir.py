"""fUS → ULM model directories (same layout as pyulm's other learned models, docs/nn.md):
``weights.pt`` (state dict, ``torch.load(weights_only=True)``), ``config.json``,
``SHA256SUMS`` (every file, :func:`pyulm.nn.weights_io.write_checksums`), ``train.toml``, ``metrics.json``, ``README.md``, ``log.jsonl``.

``config.json``::

    {"format": "pyulm-nn", "format_version": 1, "architecture": "fus2ulm-diffusion",
     "model": {sizes}, "normalization": "unit_interval_to_pm1",
     "input": {"size": 128, "dynamic_range_db": 40.0},
     "inference": {"steps": 25, "stride": 32, "seed": 0, "samples": 1, "eta": 0.0}}
"""
from __future__ import annotations

import json
from pathlib import Path

from ..weights_io import (CONFIG_FILE, FORMAT, FORMAT_VERSION, WEIGHTS_FILE, load_state, load_strict, read_config_json,
                          verify_checksums, write_checksums)

KINDS = ("pix2pix", "mhvae", "diffusion")
NORMALIZATION = "unit_interval_to_pm1"
SHIPPED = Path(__file__).resolve().parents[1] / "weights"


def architecture(kind: str) -> str:
    return f"fus2ulm-{kind}"


def shipped(kind: str = "diffusion") -> Path:
    """Directory of the shipped model of ``kind``."""
    return SHIPPED / f"fus2ulm_{kind}"


def write(directory, model, kind: str, *, size: int, dynamic_range_db: float, inference: dict,
          extra_files: dict | None = None) -> Path:
    """Write the model directory (weights, config, checksum, extra text files)."""
    import torch
    from dataclasses import asdict

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, d / WEIGHTS_FILE)
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": architecture(kind),
           "model": asdict(model.cfg), "normalization": NORMALIZATION,
           "input": {"size": int(size), "dynamic_range_db": float(dynamic_range_db)}, "inference": dict(inference)}
    (d / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    for name, text in (extra_files or {}).items():
        (d / name).write_text(text)
    write_checksums(d)
    return d


def read_config(directory) -> tuple[str, dict]:
    """(kind, config) of a fUS → ULM model directory; one clear error for anything else."""
    d = Path(directory).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"fus2ulm: weights {d} is not a model directory")
    cf = d / CONFIG_FILE
    if not cf.is_file() or not (d / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"fus2ulm: model directory {d} needs {WEIGHTS_FILE} and {CONFIG_FILE}")
    cfg = read_config_json(cf, "fus2ulm")
    arch = cfg.get("architecture")
    kind = arch[len("fus2ulm-"):] if isinstance(arch, str) and arch.startswith("fus2ulm-") else None
    if kind not in KINDS:
        raise ValueError(f"fus2ulm: {cf} describes a {arch!r} model, not a fUS → ULM model (expected one of "
                         f"{', '.join(architecture(k) for k in KINDS)})")
    if cfg.get("normalization") != NORMALIZATION or not isinstance(cfg.get("input"), dict):
        raise ValueError(f"fus2ulm: {cf}: expected normalization {NORMALIZATION!r} and an \"input\" section")
    return kind, cfg


def load(directory, device=None):
    """(kind, eval-mode model, config) from a model directory, checksum verified."""
    import torch

    from .models import build

    kind, cfg = read_config(directory)
    d = Path(directory).expanduser()
    wf = d / WEIGHTS_FILE
    verify_checksums(d, "fus2ulm")
    try:
        model = build(kind, cfg.get("model"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fus2ulm: {d / CONFIG_FILE}: invalid model sizes: {exc}") from None
    load_strict(model, load_state(wf, "fus2ulm"), f"fus2ulm: weights {wf} do not fit the {kind} network of "
                f"{d / CONFIG_FILE}")
    model.eval()
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return kind, model.to(dev), cfg
