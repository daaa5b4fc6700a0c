"""Training data for ``pyulm train mblnet`` / ``3dml`` from PgD: ``[data] source = ...``.

* ``source = "block"``: frames and ground truth of ``pyulm synth`` blocks (``blocks = [...]``);
  each draw takes a random ``patch`` x ``patch`` crop of random frames of a random block.
  Training uses the first nine tenths of every block's frames and validation/test the last
  tenth, unless ``validation_blocks`` names other blocks for them.
* ``source = "pgd"`` / ``"physics"``: frames synthesised on the fly by :func:`pyulm.nn.pgd.synth`
  for the probe of ``params`` (a TOML or Verasonics file), ``density`` drawn from ``[data].density``
  (bubbles per 100 px per frame) and white noise at an SNR drawn from ``[data].snr_db``, with the PgD
  model of ``weights`` (or the shipped one); ``patch`` a multiple of 4 for PgD.

The frames of one draw are independent snapshots (not a time series): fine for MBL-Net, which
sees single frames; 3DML then sees clips without temporal correlation.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...tables import Localizations

SOURCES = ("sim", "block", "pgd", "physics")
#: Share of each training block's frames kept for validation/test when no validation_blocks are given.
HELD_OUT_SHARE = 0.1


def check_source(cfg, where: str = "[data]") -> None:
    """Check the source fields of a :class:`pyulm.nn.data.DataConfig`: one clear ``ValueError``."""
    if cfg.source not in SOURCES:
        raise ValueError(f"{where}.source: expected one of {list(SOURCES)}, got {cfg.source!r}")
    for k in ("blocks", "validation_blocks"):
        v = getattr(cfg, k)
        if not isinstance(v, tuple) or any(not isinstance(p, str) or not p for p in v):
            raise ValueError(f"{where}.{k}: expected a list of block file names, got {v!r}")
    for k in ("params", "weights"):
        if not isinstance(getattr(cfg, k), str):
            raise ValueError(f"{where}.{k}: expected a file or directory name (string), got {getattr(cfg, k)!r}")
    used = {"sim": (), "block": ("blocks", "validation_blocks"), "pgd": ("params", "weights"),
            "physics": ("params",)}[cfg.source]
    stray = [k for k in ("blocks", "validation_blocks", "params", "weights") if getattr(cfg, k) and k not in used]
    if stray:
        raise ValueError(f"{where}: {stray} do not apply to source = {cfg.source!r}"
                         + (f" (it uses {list(used)})" if used else ""))
    if cfg.source == "block":
        if not cfg.blocks:
            raise ValueError(f"{where}.blocks: source = \"block\" needs at least one pyulm synth block file")
        for p in cfg.blocks + cfg.validation_blocks:
            if not Path(p).is_file():
                raise ValueError(f"{where}.blocks: no such file {p!r}")
    elif cfg.source in ("pgd", "physics"):
        if not cfg.params:
            raise ValueError(f"{where}.params: source = {cfg.source!r} needs a physics parameter file "
                             "(TOML or Verasonics .mat)")
        from .synthesis import load_params

        load_params(cfg.params)  # a bad file fails here, before any training


_BLOCKS: dict = {}


def _block(path: str):
    """A block read once per process (keyed by path, size and modification time)."""
    from .block import read_block

    st = Path(path).stat()
    key = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
    if key not in _BLOCKS:
        b = read_block(path)
        order = np.argsort(b.gt.frame, kind="stable")
        starts = np.searchsorted(b.gt.frame[order], np.arange(b.n_frames + 1))
        _BLOCKS[key] = (b, order, starts)
    return _BLOCKS[key]


def _frame_pool(cfg, namespace: int):
    """(block path, frame indices) pairs a namespace draws from."""
    from ..data import TRAIN

    if namespace != TRAIN and cfg.validation_blocks:
        return [(p, np.arange(_block(p)[0].n_frames)) for p in cfg.validation_blocks]
    pool = []
    for p in cfg.blocks:
        n = _block(p)[0].n_frames
        cut = n if cfg.validation_blocks else n - max(1, int(round(n * HELD_OUT_SHARE)))
        idx = np.arange(cut) if namespace == TRAIN else np.arange(cut, n)
        if idx.size:
            pool.append((p, idx))
    if not pool:
        raise ValueError("[data].blocks: no frames left for " + ("training" if namespace == TRAIN else "validation"))
    return pool


def draw_block(cfg, n_frames: int, rng: np.random.Generator, namespace: int):
    """``n_frames`` random frames of a random block, cropped to ``patch`` x ``patch`` at a random
    place -> (iq (P, P, n_frames), ground truth with frames 0..n_frames-1 and crop coordinates)."""
    pool = _frame_pool(cfg, namespace)
    path, idx = pool[int(rng.integers(len(pool)))]
    block, order, starts = _block(path)
    nz, nx, _ = block.iq.shape
    P = cfg.patch
    if nz < P or nx < P:
        raise ValueError(f"[data].patch = {P} is larger than the frames of {path} ({nz} x {nx})")
    frames = rng.choice(idx, size=n_frames, replace=idx.size < n_frames)
    z0, x0 = int(rng.integers(nz - P + 1)), int(rng.integers(nx - P + 1))
    iq = block.iq[z0:z0 + P, x0:x0 + P, frames]
    rows = [order[starts[f]:starts[f + 1]] for f in frames]
    new_frame = np.concatenate([np.full(r.size, j) for j, r in enumerate(rows)]) if rows else np.zeros(0, int)
    rows = np.concatenate(rows) if rows else np.zeros(0, int)
    z, x = block.gt.z[rows] - z0, block.gt.x[rows] - x0
    inside = (z >= -0.5) & (z < P - 0.5) & (x >= -0.5) & (x < P - 0.5)
    gt = Localizations(z[inside], x[inside], new_frame[inside], block.gt.intensity[rows][inside])
    return np.ascontiguousarray(iq), gt


def _params(path: str):
    """The parameter file of a source, read once per process (keyed by path and modification time)."""
    from .synthesis import load_params

    st = Path(path).stat()
    key = ("params", str(Path(path).resolve()), st.st_mtime_ns)
    if key not in _BLOCKS:
        _BLOCKS[key] = load_params(path)
    return _BLOCKS[key]


def draw_synth(cfg, n_frames: int, rng: np.random.Generator):
    """``n_frames`` frames of ``patch`` x ``patch`` synthesised for the probe of ``cfg.params``: density
    drawn from ``cfg.density`` (bubbles per 100 px), noise at an SNR drawn from ``cfg.snr_db``."""
    from .synthesis import synth

    density = float(rng.uniform(*cfg.density)) * cfg.patch ** 2 / 100
    snr_db = float(rng.uniform(*cfg.snr_db))
    seed = int(rng.integers(2**31 - 1))
    res = synth(_params(cfg.params), n_frames, shape=(cfg.patch, cfg.patch), density=density, seed=seed,
                weights=cfg.weights or None, source=cfg.source, snr_db=snr_db)
    return res.iq, res.gt


def draw_source(cfg, n_frames: int, rng: np.random.Generator, namespace: int):
    """The draw of :func:`pyulm.nn.data.draw` for ``cfg.source`` other than ``"sim"``."""
    if cfg.source == "block":
        return draw_block(cfg, n_frames, rng, namespace)
    return draw_synth(cfg, n_frames, rng)
