"""The identity of the models a CycleULM pipeline runs, checked without running them.

A translator (MB-DT model directory) or an MBT-Net model is named by its directory and
the SHA-256 of its ``SHA256SUMS`` (which lists the SHA-256 of every file of the
directory): retraining into the same directory changes the identity, so the block cache
of ``pyulm process`` recomputes (as ``tracking_model`` does for Deep-stULM). The MB-only
PSF recorded by the translator (half the data's, by CycleULM's design) is the PSF the
localizers use on translated frames.
"""
from __future__ import annotations

from pathlib import Path

from ..weights_io import CONFIG_FILE, SUMS_FILE, read_config_json, sha256, verify_checksums

MBDT, MBTNET = "mbdt", "mbtnet"


def model_identity(weights, architecture: str, what: str) -> tuple[Path, str, dict]:
    """``(directory, SHA-256 of its SHA256SUMS, config)`` of a model directory of ``architecture``.

    Raises
    ------
    ValueError
        Naming the directory or file: not a directory, checksums missing or not matching,
        config missing, unreadable or of another architecture.
    """
    if not isinstance(weights, (str, Path)):
        raise ValueError(f"{what}: expected a model directory, got {weights!r}")
    d = Path(weights).expanduser()
    if d.is_file():
        d = d.parent
    if not d.is_dir():
        raise ValueError(f"{what}: model directory {d} does not exist")
    verify_checksums(d, what)
    try:
        cfg = read_config_json(d / CONFIG_FILE, what)
    except FileNotFoundError as exc:
        raise ValueError(str(exc)) from None
    if cfg.get("architecture") != architecture:
        raise ValueError(f"{what}: {d / CONFIG_FILE} describes a {cfg.get('architecture')!r} model, "
                         f"not {architecture!r}")
    return d.resolve(), sha256(d / SUMS_FILE), cfg


def translator_identity(weights) -> tuple:
    """``(directory, SHA-256, fwhm_z, fwhm_x)`` of an MB-DT translator; the FWHM (pixels) is the
    MB-only domain's PSF, the one PSF-modelling localizers use on its output. ValueError naming
    the file otherwise (:func:`pyulm.nn.cycleulm.mbdt_dir.translator_info`, the one reader)."""
    from .mbdt_dir import translator_info

    if not isinstance(weights, (str, Path)):
        raise ValueError(f"MB-DT translator: expected a model directory, got {weights!r}")
    info = translator_info(weights)
    fz, fx = info["fwhm_mbonly"]
    return (str(Path(info["directory"]).resolve()), info["sha256"], float(fz), float(fx))


def translator_fwhm(weights) -> tuple[float, float]:
    """The MB-only PSF FWHM ``(z, x)`` (pixels) of a translator, see :func:`translator_identity`."""
    return translator_identity(weights)[2:]


def mbtnet_identity(weights=None) -> tuple:
    """``(directory, SHA-256)`` of an MBT-Net model (default the shipped one)."""
    from ..weights_io import SHIPPED

    d, digest, _ = model_identity(SHIPPED / MBTNET if weights is None else weights, MBTNET, "MBT-Net")
    return (str(d), digest)
