"""PgD model directories (pyulm's model-directory layout, docs/nn.md): ``weights.pt`` (state
dict, ``torch.load(weights_only=True)``), ``config.json``, ``SHA256SUMS`` over every file
(:func:`pyulm.nn.weights_io.write_checksums`), ``train.toml``, ``metrics.json``,
``README.md``, ``log.jsonl``, ``command.txt``.

``config.json``::

    {"format": "pyulm-nn", "format_version": 1, "architecture": "pgd-unet",
     "model": {sizes}, "normalization": "iq_unit_bubble_peak",
     "physics": {"fields": [...], "ranges": {field: [low, high]}},
     "input": {"size": [32, 32]}, "inference": {"steps": 20, "seed": 0}}
"""
from __future__ import annotations

import json
from pathlib import Path

from ..weights_io import (CONFIG_FILE, FORMAT, FORMAT_VERSION, WEIGHTS_FILE, file_stamps, load_state, load_strict,
                          read_config_json, remember, verify_checksums, write_checksums)
from .model import ARCHITECTURE
from .physics import FIELDS, RANGES

#: Images are IQ in units of a unit-amplitude bubble's peak (no per-frame normalisation).
NORMALIZATION = "iq_unit_bubble_peak"
SHIPPED = Path(__file__).resolve().parents[1] / "weights" / "pgd"
WHAT = "pgd"

_cache: dict = {}


def write(directory, model, *, size, inference: dict, extra_files: dict | None = None) -> Path:
    """Write the model directory (weights, config, extra text files, then the checksums)."""
    import torch

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, d / WEIGHTS_FILE)
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": ARCHITECTURE,
           "model": model.cfg.to_dict(), "normalization": NORMALIZATION,
           "physics": {"fields": list(FIELDS), "ranges": {k: list(v[:2]) for k, v in RANGES.items()}},
           "input": {"size": [int(s) for s in size]}, "inference": dict(inference)}
    (d / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    for name, text in (extra_files or {}).items():
        (d / name).write_text(text)
    write_checksums(d)
    return d


def read_config(directory) -> dict:
    """The checked ``config.json`` of a PgD model directory; one clear error for anything else."""
    d = Path(directory).expanduser()
    if not d.is_dir():
        raise FileNotFoundError(f"{WHAT}: weights {d} is not a model directory")
    if not (d / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{WHAT}: model directory {d} has no {WEIGHTS_FILE}")
    cf = d / CONFIG_FILE
    cfg = read_config_json(cf, WHAT)
    if cfg.get("architecture") != ARCHITECTURE:
        raise ValueError(f"{WHAT}: {cf} describes a {cfg.get('architecture')!r} model, not a PgD model "
                         f"({ARCHITECTURE!r})")
    if cfg.get("normalization") != NORMALIZATION:
        raise ValueError(f"{WHAT}: {cf}: expected normalization {NORMALIZATION!r}, got {cfg.get('normalization')!r}")
    phys = cfg.get("physics")
    if not isinstance(phys, dict) or phys.get("fields") != list(FIELDS):
        raise ValueError(f"{WHAT}: {cf}: the model was trained on physics fields "
                         f"{phys.get('fields') if isinstance(phys, dict) else None}; this pyulm provides {list(FIELDS)}")
    ranges = {k: list(v[:2]) for k, v in RANGES.items()}
    if phys.get("ranges") != ranges:
        raise ValueError(f"{WHAT}: {cf}: the model normalised its physics parameters over other ranges "
                         f"({phys.get('ranges')}); this pyulm uses {ranges}")
    if not isinstance(cfg.get("inference"), dict) or not isinstance(cfg["inference"].get("steps", 20), int):
        raise ValueError(f"{WHAT}: {cf}: expected an \"inference\" section with whole-number \"steps\"")
    return cfg


def load(weights=None, device=None):
    """(eval-mode model, config) of a model directory (default: the shipped one), checksums verified first.

    Cached per directory state and device.
    """
    import torch

    from .model import build

    if weights is not None and not isinstance(weights, (str, Path)):
        raise ValueError(f"{WHAT}: weights: expected a path to a model directory, got {weights!r}")
    d = SHIPPED if weights is None else Path(weights).expanduser()
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    files = sorted(p for p in d.glob("*") if p.is_file()) if d.is_dir() else []
    key = (str(d.resolve()), tuple(p.name for p in files), file_stamps(*files), str(dev))
    if key in _cache:
        return _cache[key]
    if not (d / WEIGHTS_FILE).is_file():
        raise FileNotFoundError(f"{WHAT}: {d} is not a model directory (no {WEIGHTS_FILE})")
    verify_checksums(d, WHAT)  # first: nothing unverified is parsed
    cfg = read_config(d)
    try:
        model = build(cfg.get("model"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{WHAT}: {d / CONFIG_FILE}: invalid model sizes: {exc}") from None
    wf = d / WEIGHTS_FILE
    load_strict(model, load_state(wf, WHAT), f"{WHAT}: weights {wf} do not fit the network of {d / CONFIG_FILE}")
    model.eval().to(dev)
    return remember(_cache, key, (model, cfg))
