"""Model directories: a trained model is a directory holding

* ``weights.pt``: the state dict, loaded with ``torch.load(weights_only=True)``;
* ``config.json``: format version, architecture, network sizes, input normalisation,
  decode settings (``"decode"``: see :mod:`pyulm.nn.options`);
* ``SHA256SUMS``: the SHA-256 of **every other file** of the directory
  (``sha256sum`` format), verified before anything else is read;
* provenance: ``train.toml`` (the training config), ``metrics.json`` (held-out
  metrics, training command, wall time, versions), ``README.md``.

Loading refuses, before allocating anything: a missing ``SHA256SUMS`` (unless
``verify=False``, which warns), a file that does not match its checksum, a file
the checksums do not cover, and model sizes outside their bounds
(:func:`pyulm.nn.models.check_model_config`); after reading the weights, it
refuses non-finite values. Every failure names the file and the problem.
"""
from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

from .options import check_decode_section

FORMAT = "pyulm-nn"
FORMAT_VERSION = 1
NORMALIZATION = "abs_iq_over_frame_max"
WEIGHTS_FILE, CONFIG_FILE, SUMS_FILE = "weights.pt", "config.json", "SHA256SUMS"
SHIPPED = Path(__file__).resolve().parent / "weights"

_cache: dict = {}

#: models a loader keeps per process: a few (reloading is cheap, memory is not unlimited)
CACHE_SIZE = 4


def file_stamps(*paths) -> tuple:
    """``(mtime_ns, size)`` of each path, None where it is not a file: the part of a model cache's key
    that changes when a weights, config or checksum file is rewritten, so the model is loaded and
    verified again."""
    out = []
    for p in paths:
        p = Path(p)
        st = p.stat() if p.is_file() else None
        out.append(st and (st.st_mtime_ns, st.st_size))
    return tuple(out)


def remember(cache: dict, key, value):
    """Store ``value`` under ``key`` in a model loader's ``cache`` (emptied first when it holds
    :data:`CACHE_SIZE` entries) and return it."""
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key] = value
    return value


def sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _covered_files(directory: Path) -> list[str]:
    """Every file of a model directory that its checksums must cover (relative POSIX paths, sorted).

    Hidden files (``.name``, e.g. editor or OS litter) and ``SHA256SUMS`` itself are not covered.
    """
    out = []
    for p in sorted(directory.rglob("*")):
        rel = p.relative_to(directory)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts) and rel.as_posix() != SUMS_FILE:
            out.append(rel.as_posix())
    return out


def write_checksums(directory) -> Path:
    """Write ``SHA256SUMS`` over every file of a model directory (call it after the last file is written)."""
    d = Path(directory)
    lines = [f"{sha256(d / name)}  {name}\n" for name in _covered_files(d)]
    (d / SUMS_FILE).write_text("".join(lines))
    return d / SUMS_FILE


def verify_checksums(directory, what: str, *, verify: bool = True) -> None:
    """Check every file of a model directory against its ``SHA256SUMS``.

    Parameters
    ----------
    directory : Path
        The model directory.
    what : str
        Prefix of messages (the method name).
    verify : bool
        False skips the check with a warning (a model of unknown origin).

    Raises
    ------
    ValueError
        ``SHA256SUMS`` missing or malformed, a listed file missing or
        different, or a file of the directory not listed.
    """
    d = Path(directory)
    sums = d / SUMS_FILE
    if not verify:
        warnings.warn(f"{what}: loading the model in {d} WITHOUT verifying its checksums (verify=False)",
                      stacklevel=3)
        return
    if not sums.is_file():
        raise ValueError(f"{what}: {sums} is missing: a model directory lists the SHA-256 of every file; "
                         f"refusing an unverifiable model (pass verify=False to load it anyway)")
    expected = {}
    for k, line in enumerate(sums.read_text(errors="replace").splitlines(), 1):
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        if len(parts) != 2 or len(parts[0]) != 64 or any(c not in "0123456789abcdef" for c in parts[0].lower()):
            raise ValueError(f"{what}: {sums} line {k} is not '<sha256>  <file>': {line[:80]!r}")
        expected[parts[1].strip().lstrip("*")] = parts[0].lower()
    for name, digest in expected.items():
        f = d / name
        if not f.is_file():
            raise ValueError(f"{what}: {f} is listed in {sums} but missing")
        if sha256(f) != digest:
            raise ValueError(f"{what}: {f} does not match its checksum in {sums} (corrupt or modified file)")
    unlisted = [n for n in _covered_files(d) if n not in expected]
    if unlisted:
        raise ValueError(f"{what}: {d / unlisted[0]} is not covered by {sums} (every file of a model directory "
                         f"must be; rewrite {SUMS_FILE} if you added it on purpose)")


def check_finite_weights(state: dict, path, what: str) -> None:
    """Refuse a state dict holding NaN or Inf, naming the file and the first bad tensor."""
    import torch

    for name, t in state.items():
        if torch.is_tensor(t) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{what}: weights {path} hold NaN or Inf in {name!r}; refusing a broken model")


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
    write_checksums(d)
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


def read_config_json(config_file: Path, what: str) -> dict:
    """The ``config.json`` of a pyulm model directory, parsed, with its format and version checked.

    Every learned model (localizers, Deep-stULM, fUS → ULM) reads its config through this;
    the architecture-specific sections are each model's own checks.
    """
    if not config_file.is_file():
        raise FileNotFoundError(f"{what}: model config {config_file} is missing (a model directory needs "
                                f"{WEIGHTS_FILE} and {CONFIG_FILE})")
    try:
        cfg = json.loads(config_file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what}: model config {config_file} is not valid JSON: {exc}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ValueError(f"{what}: {config_file} is not a pyulm model config (no \"format\": \"{FORMAT}\")")
    if cfg.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{what}: {config_file} has format_version {cfg.get('format_version')!r}; this "
                         f"pyulm reads version {FORMAT_VERSION} (retrain or use a matching pyulm)")
    return cfg


def load_state(weights_file: Path, what: str) -> dict:
    """The state dict of ``weights_file`` (``torch.load(weights_only=True)``), refused when it is not
    a readable state dict or holds NaN/Inf; every message names the file."""
    import torch

    try:
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt/unsafe file
        raise ValueError(f"{what}: weights {weights_file} cannot be read as torch weights (corrupt, truncated or "
                         f"not a weights file): {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                         ) from None
    if not isinstance(state, dict):
        raise ValueError(f"{what}: weights {weights_file} hold a {type(state).__name__}, expected a state dict")
    check_finite_weights(state, weights_file, what)
    return state


def load_strict(model, state: dict, mismatch: str, limit: int = 300):
    """``model.load_state_dict(state, strict=True)``; a state that does not fit the network is a
    ``ValueError`` reading ``"{mismatch}: {torch's reason, on one line, at most limit characters}"``
    (``mismatch`` names the weights file and the network). Returns ``model``."""
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ValueError(f"{mismatch}: {' '.join(str(exc).split())[:limit]}") from None
    return model


def load_checkpoint(path: Path, device="cpu") -> dict:
    """The training state saved in ``path`` (``torch.load(weights_only=True)`` onto ``device``),
    for ``--resume``; a missing file is a ``FileNotFoundError`` naming it."""
    import torch

    if not path.is_file():
        raise FileNotFoundError(f"--resume: {path} does not exist")
    return torch.load(path, map_location=device, weights_only=True)


def read_config(config_file: Path, architecture: str) -> dict:
    cfg = read_config_json(config_file, architecture)
    if cfg.get("architecture") != architecture:
        raise ValueError(f"{architecture}: {config_file} describes a {cfg.get('architecture')!r} model, not "
                         f"{architecture!r}; pass weights of the right architecture or use method "
                         f"{cfg.get('architecture')!r}")
    if cfg.get("normalization") != NORMALIZATION:
        raise ValueError(f"{architecture}: {config_file} expects input normalisation {cfg.get('normalization')!r}; "
                         f"pyulm provides {NORMALIZATION!r}")
    cfg["decode"] = check_decode_section(architecture, cfg.get("decode"), f"{architecture}: {config_file}: ")
    from .models import check_model_config

    try:
        check_model_config(architecture, cfg.get("model"))  # bounds before any allocation
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{architecture}: {config_file}: invalid model sizes: {exc}") from None
    return cfg


def load_model(architecture: str, weights=None, device=None, *, verify: bool = True):
    """Load (and cache) an eval-mode model: the shipped one or a user's directory.

    ``verify=False`` skips the checksum verification (with a warning); every
    other check stays.
    """
    import torch

    from .models import build_model, fuse_batchnorm

    wf, cf = resolve(architecture, weights)
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    key = (architecture, str(wf.resolve()), file_stamps(wf, cf, wf.parent / SUMS_FILE), bool(verify), str(dev))
    if key in _cache:
        return _cache[key]
    verify_checksums(wf.parent, architecture, verify=verify)  # first: nothing unverified is parsed
    cfg = read_config(cf, architecture)
    try:
        model = build_model(architecture, cfg.get("model"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{architecture}: {cf}: invalid model sizes: {exc}") from None
    load_strict(model, load_state(wf, architecture), f"{architecture}: weights {wf} do not fit the {architecture} "
                f"network described by {cf} (another architecture or version?)", limit=400)
    model.eval()
    fuse_batchnorm(model)
    model.to(dev)
    model.source = str(wf)
    model.decode = cfg["decode"]  # every decode option, defaults filled in (see options.DECODE_DEFAULTS)
    return remember(_cache, key, model)
