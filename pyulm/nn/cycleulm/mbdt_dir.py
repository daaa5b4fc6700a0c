"""MB-DT model directories (same rules as pyulm's other learned models, docs/nn.md).

A trained translator is a directory holding

* ``weights.pt``: the state dict of G_AB (the translator), ``torch.load(weights_only=True)``;
* ``config.json``::

      {"format": "pyulm-nn", "format_version": 1, "architecture": "mbdt",
       "model": {"width": 8, "context": 3, "disc_width": 16},
       "normalization": "abs_iq_over_frame_max", "edge_rule": "replicate",
       "psf": {"data_fwhm": [z, x], "domain_b_fwhm": [z, x], "shrink": 0.5, "n_used": 27},
       "patch": 40, "loss_weights": {...}, "seed": 0, "training": {...}}

* ``checkpoint.pt`` (all four networks and optimisers: ``--resume``), ``log.jsonl``,
  ``metrics.json``, ``command.txt``, ``README.md``, ``train.toml`` (when trained from a file);
* ``SHA256SUMS`` over every other file, verified before anything is read.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..weights_io import (CONFIG_FILE, FORMAT, FORMAT_VERSION, NORMALIZATION, WEIGHTS_FILE, load_state, load_strict,
                          read_config_json, verify_checksums, write_checksums)

ARCHITECTURE = "mbdt"
EDGE_RULE = "replicate"
WHAT = "mbdt"

__all__ = ["write_model_dir", "read_model_config", "load_translator", "translator_info", "ARCHITECTURE",
           "EDGE_RULE"]


def write_model_dir(directory, generator, *, model_cfg: dict, psf: dict, patch: int, loss_weights: dict, seed: int,
                    training: dict, extra_files: dict) -> Path:
    """Write weights.pt, config.json and the text files, then SHA256SUMS over everything."""
    import torch

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().cpu() for k, v in generator.state_dict().items()}, d / WEIGHTS_FILE)
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": ARCHITECTURE, "model": model_cfg,
           "normalization": NORMALIZATION, "edge_rule": EDGE_RULE, "psf": psf, "patch": int(patch),
           "loss_weights": loss_weights, "seed": int(seed), "training": training}
    (d / CONFIG_FILE).write_text(json.dumps(cfg, indent=2) + "\n")
    for name, text in extra_files.items():
        (d / name).write_text(text)
    write_checksums(d)
    return d


def read_model_config(directory) -> dict:
    """The checked config.json of an MB-DT directory (checksums verified first); one clear error otherwise."""
    d = Path(directory).expanduser()
    if not d.is_dir():
        raise ValueError(f"weights: {d} is not an MB-DT model directory (no such directory)")
    for name in (WEIGHTS_FILE, CONFIG_FILE):
        if not (d / name).is_file():
            raise ValueError(f"weights: MB-DT model directory {d} has no {name}")
    verify_checksums(d, WHAT)
    try:
        cfg = read_config_json(d / CONFIG_FILE, WHAT)
    except FileNotFoundError as exc:  # raced away between the checks: still one ValueError
        raise ValueError(str(exc)) from None
    if cfg.get("architecture") != ARCHITECTURE:
        raise ValueError(f"weights: {d / CONFIG_FILE} describes a {cfg.get('architecture')!r} model, not an MB-DT "
                         f"translator ({ARCHITECTURE!r})")
    psf = cfg.get("psf")
    ok = (cfg.get("normalization") == NORMALIZATION and cfg.get("edge_rule") == EDGE_RULE
          and isinstance(cfg.get("model"), dict) and isinstance(psf, dict)
          and all(isinstance(psf.get(k), list) and len(psf[k]) == 2 for k in ("data_fwhm", "domain_b_fwhm")))
    if not ok:
        raise ValueError(f"weights: {d / CONFIG_FILE}: expected normalization {NORMALIZATION!r}, edge_rule "
                         f"{EDGE_RULE!r}, a \"model\" table and \"psf\" with data_fwhm and domain_b_fwhm")
    return cfg


def load_translator(directory, device=None):
    """(eval-mode G_AB on ``device``, config) from a model directory."""
    import torch

    from .mbdt_model import MBDTConfig, build_generator

    cfg = read_model_config(directory)
    d = Path(directory).expanduser()
    try:
        net = build_generator(MBDTConfig(**cfg["model"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weights: {d / CONFIG_FILE}: invalid model sizes: {exc}") from None
    load_strict(net, load_state(d / WEIGHTS_FILE, WHAT),
                f"weights: {d / WEIGHTS_FILE} does not fit the MB-DT network of {d / CONFIG_FILE}")
    dev = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return net.eval().to(dev), cfg


def translator_info(weights) -> dict:
    """What a pipeline needs to know about an MB-DT model directory, without building the network.

    Checksums are verified and config.json checked first (one ``ValueError`` naming the file
    for a missing, corrupt or foreign directory).

    Returns
    -------
    dict
        ``directory`` (Path), ``sha256`` (of its SHA256SUMS: identifies every file),
        ``fwhm_mbonly`` (z, x) pixels (the MB-only PSF the translator outputs: localize with it),
        ``fwhm_data`` (z, x) pixels (the data PSF it was trained on), ``n_context`` (frames read).
    """
    from ..weights_io import SUMS_FILE, sha256

    cfg = read_model_config(weights)
    d = Path(weights).expanduser()
    return {"directory": d, "sha256": sha256(d / SUMS_FILE),
            "fwhm_mbonly": tuple(float(f) for f in cfg["psf"]["domain_b_fwhm"]),
            "fwhm_data": tuple(float(f) for f in cfg["psf"]["data_fwhm"]),
            "n_context": int(cfg["model"].get("context", 3))}
