"""Model directories: a trained model is a directory holding

* ``weights.pt``: the state dict, loaded with ``torch.load(weights_only=True)``;
* ``config.json``: format version, architecture, network sizes, input normalisation,
  decode settings (``"decode"``: see :mod:`pyulm.nn.options`);
* ``SHA256SUMS``: checksum of ``weights.pt`` (verified on load);
* provenance: ``train.toml`` (the training config), ``metrics.json`` (held-out
  metrics, training command, wall time, versions), ``README.md``.

Every failure names the file and the problem.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from .options import check_decode_section

FORMAT = "pyulm-nn"
FORMAT_VERSION = 1
NORMALIZATION = "abs_iq_over_frame_max"
WEIGHTS_FILE, CONFIG_FILE, SUMS_FILE = "weights.pt", "config.json", "SHA256SUMS"
SHIPPED = Path(__file__).resolve().parent / "weights"

_cache: dict = {}


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_config_dict(model, decode: dict | None = None) -> dict:
    from .models import model_config

    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "architecture": model.architecture,
           "model": model_config(model), "normalization": NORMALIZATION}
    if decode:
        cfg["decode"] = dict(decode)
    return cfg


def save_model(model, directory, extra_files: dict | None = None, decode: dict | None = None) -> Path:
    """Write ``model`` into ``directory`` (weights, config, checksum, extra text files)."""
    import torch

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save(state, d / WEIGHTS_FILE)
    (d / CONFIG_FILE).write_text(json.dumps(model_config_dict(model, decode), indent=2) + "\n")
    for name, text in (extra_files or {}).items():
        (d / name).write_text(text)
    (d / SUMS_FILE).write_text(f"{sha256(d / WEIGHTS_FILE)}  {WEIGHTS_FILE}\n")
    return d


def resolve(architecture: str, weights=None) -> tuple[Path, Path]:
    """(weights file, config file) for a shipped model name or a user path
    (a model directory or its ``weights.pt``)."""
    if weights is None:
        d = SHIPPED / architecture
        if not (d / WEIGHTS_FILE).is_file():
            raise FileNotFoundError(
                f"{architecture}: the shipped weights {d / WEIGHTS_FILE} are missing (broken install?); "
                f"reinstall pyulm or pass weights=<model directory>")
        return d / WEIGHTS_FILE, d / CONFIG_FILE
    if not isinstance(weights, (str, Path)):
        raise ValueError(f"{architecture}: weights: expected a path to a model directory or weights file, got {weights!r}")
    p = Path(weights).expanduser()
    if p.is_dir():
        wf = p / WEIGHTS_FILE
        if not wf.is_file():
            raise FileNotFoundError(f"{architecture}: model directory {p} has no {WEIGHTS_FILE}")
        return wf, p / CONFIG_FILE
    if not p.exists():
        raise FileNotFoundError(f"{architecture}: weights {p} do not exist")
    return p, p.parent / CONFIG_FILE


def read_config(config_file: Path, architecture: str) -> dict:
    if not config_file.is_file():
        raise FileNotFoundError(f"{architecture}: model config {config_file} is missing (a model directory needs "
                                f"{WEIGHTS_FILE} and {CONFIG_FILE})")
    try:
        cfg = json.loads(config_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{architecture}: model config {config_file} is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ValueError(f"{architecture}: {config_file} is not a pyulm model config (no \"format\": \"{FORMAT}\")")
    if cfg.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{architecture}: {config_file} has format_version {cfg.get('format_version')!r}; this "
                         f"pyulm reads version {FORMAT_VERSION} (retrain or use a matching pyulm)")
    if cfg.get("architecture") != architecture:
        raise ValueError(f"{architecture}: {config_file} describes a {cfg.get('architecture')!r} model, not "
                         f"{architecture!r}; pass weights of the right architecture or use method "
                         f"{cfg.get('architecture')!r}")
    if cfg.get("normalization") != NORMALIZATION:
        raise ValueError(f"{architecture}: {config_file} expects input normalisation {cfg.get('normalization')!r}; "
                         f"pyulm provides {NORMALIZATION!r}")
    cfg["decode"] = check_decode_section(architecture, cfg.get("decode"), f"{architecture}: {config_file}: ")
    return cfg


def load_model(architecture: str, weights=None, device=None):
    """Load (and cache) an eval-mode model: the shipped one or a user's directory."""
    import torch

    from .models import build_model, fuse_batchnorm

    wf, cf = resolve(architecture, weights)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    st = wf.stat()
    cst = cf.stat() if cf.is_file() else None
    key = (architecture, str(wf.resolve()), st.st_mtime_ns, st.st_size,
           cst and (cst.st_mtime_ns, cst.st_size), str(dev))
    if key in _cache:
        return _cache[key]
    cfg = read_config(cf, architecture)
    sums = wf.parent / SUMS_FILE
    if sums.is_file():
        expected = {ln.split()[1].lstrip("*"): ln.split()[0] for ln in sums.read_text().splitlines() if len(ln.split()) == 2}
        if wf.name in expected and expected[wf.name] != sha256(wf):
            raise ValueError(f"{architecture}: weights {wf} do not match their checksum in {sums} (corrupt or "
                             f"modified file)")
    try:
        model = build_model(architecture, cfg.get("model"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{architecture}: {cf}: invalid model sizes: {exc}") from None
    try:
        state = torch.load(wf, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt/unsafe file
        raise ValueError(f"{architecture}: weights {wf} cannot be read as torch weights (corrupt, truncated or not a "
                         f"weights file): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(state, dict):
        raise ValueError(f"{architecture}: weights {wf} hold a {type(state).__name__}, expected a state dict")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        msg = " ".join(str(exc).split())[:400]
        raise ValueError(f"{architecture}: weights {wf} do not fit the {architecture} network described by {cf} "
                         f"(another architecture or version?): {msg}") from None
    model.eval()
    fuse_batchnorm(model)
    model.to(dev)
    model.source = str(wf)
    model.decode = cfg["decode"]  # every decode option, defaults filled in (see options.DECODE_DEFAULTS)
    if len(_cache) >= 4:  # a few models per process: reloading is cheap, memory is not unlimited
        _cache.clear()
    _cache[key] = model
    return model
