"""PALA-style blocks of synthetic labelled frames (what ``pyulm synth`` writes), and reading them back.

One MAT v5 file holds the frames, the metadata PALA scripts use and the ground truth:

* ``IQ`` [Nz Nx Nt]: the frames (complex single for IQ, single for envelope images);
* ``UF``: ``FrameRateUF`` (Hz; nominal: the frames are independent snapshots, not a time
  series), ``TwFreq`` (centre frequency, MHz), ``Lambda`` (wavelength, mm);
* ``PData``: ``PDelta`` [dx 0 dz] and ``Origin`` [x0 0 z0] in wavelengths, ``Size`` [Nz Nx 1];
  ``Resource.Parameters.speedOfSound`` (m/s), where Verasonics keeps it;
* ``GT`` [z x frame id], one row per bubble per frame: z and x in 1-based pixels (MATLAB's
  convention, as ``pyulm simulate`` writes it), frame 1-based, id the bubble's row number;
  ``GT_intensity`` its peak amplitude;
* ``Synth``: how the block was made: ``source``, ``seed``, ``density``, ``weights`` and
  ``weights_sha256`` (PgD), ``pyulm_version``, ``gt_convention`` and ``params`` (the physics
  parameters, one field each, units in the names).

``pyulm.io.inspect`` / ``pyulm.read`` read it as any PALA block (the extra variables are
ignored); :func:`read_block` returns the frames with their ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...tables import Localizations, Metadata
from .physics import PhysicsParams

#: Nominal frame rate written to ``UF.FrameRateUF`` (Hz): the frames are independent.
NOMINAL_FRAME_RATE = 1000.0
GT_CONVENTION = "GT = [z x frame id]: z, x in 1-based pixels, frame 1-based, one row per bubble per frame"


@dataclass
class SynthBlock:
    """Labelled synthetic frames.

    Attributes
    ----------
    iq : ndarray, (z, x, t)
        Frames: complex64 IQ or float32 envelope.
    gt : Localizations
        Ground truth: z, x in 0-based pixels, frame 0-based, intensity (peak amplitude);
        ``meta.pixel_size`` in mm.
    params : dict
        The physics parameters (field name -> value, units in the names).
    info : dict
        ``source``, ``seed``, ``density``, ``weights``, ``weights_sha256``, ``pyulm_version``.
    geometry : dict
        ``center_frequency_mhz``, ``wavelength_mm``, ``pixel_size_mm`` (dz, dx), ``depth_mm`` (of row 0),
        ``speed_of_sound`` (m/s).
    """

    iq: np.ndarray
    gt: Localizations
    params: dict
    info: dict = field(default_factory=dict)
    geometry: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.iq.shape[2])

    def to_mat_dict(self) -> dict:
        """The MAT-file variables (see the module docstring)."""
        g = self.geometry
        wl = float(g["wavelength_mm"])
        dz, dx = (float(v) for v in g["pixel_size_mm"])
        nz, nx, _ = self.iq.shape
        gt = self.gt
        rows = np.column_stack([gt.z + 1, gt.x + 1, gt.frame + 1, np.arange(1, len(gt) + 1)]) if len(gt) else np.zeros((0, 4))
        return {
            "IQ": np.asfortranarray(self.iq),
            "UF": {"FrameRateUF": NOMINAL_FRAME_RATE, "TwFreq": float(g["center_frequency_mhz"]), "Lambda": wl},
            "PData": {"PDelta": np.array([[dx / wl, 0.0, dz / wl]]), "Size": np.array([[nz, nx, 1.0]]),
                      "Origin": np.array([[-(nx - 1) / 2 * dx / wl, 0.0, float(g.get("depth_mm", 0.0)) / wl]])},
            "Resource": {"Parameters": {"speedOfSound": float(g.get("speed_of_sound", 1540.0))}},
            "GT": rows.astype(float),
            "GT_intensity": gt.intensity.reshape(-1, 1).astype(float),
            "Synth": {**{k: _matlab_value(v) for k, v in self.info.items()}, "gt_convention": GT_CONVENTION,
                      "params": {k: _matlab_value(v) for k, v in self.params.items()}},
        }


def _matlab_value(v):
    if v is None:
        return ""
    if isinstance(v, (list, tuple)) and not all(isinstance(e, str) for e in v):
        return np.asarray(v, dtype=float).reshape(1, -1)
    return list(v) if isinstance(v, tuple) else v  # text lists: a column cell of char


def write_block(path, block: SynthBlock) -> Path:
    """Write ``block`` to the MAT v5 file ``path`` atomically (complete or absent)."""
    from ...io import save_mat

    path = Path(path)
    if path.suffix.lower() != ".mat":
        raise ValueError(f"out: expected a .mat file name, got {str(path)!r}")
    save_mat(path, block.to_mat_dict(), compress=True)
    return path


def read_block(path) -> SynthBlock:
    """Read a block written by :func:`write_block` (or ``pyulm synth``): frames and ground truth.

    Raises
    ------
    ValueError
        When the file is not a synth block (no ``GT`` / ``Synth``) or its ground truth does
        not fit its frames.
    """
    from ...io import inspect, read_frames, read_mat

    path = Path(path)
    info = inspect(path, "IQ")
    meta = read_mat(path, ["GT", "GT_intensity", "Synth", "UF", "PData"])
    if "GT" not in meta or "Synth" not in meta or not isinstance(meta["Synth"], dict):
        raise ValueError(f"{path}: not a pyulm synth block (expected variables GT and Synth beside IQ)")
    iq = read_frames(info)
    gt_rows = np.asarray(meta["GT"], float).reshape(-1, 4) if np.size(meta["GT"]) else np.zeros((0, 4))
    inten = np.asarray(meta.get("GT_intensity", np.ones(len(gt_rows))), float).ravel()
    nz, nx, nt = iq.shape
    z, x, f = gt_rows[:, 0] - 1, gt_rows[:, 1] - 1, gt_rows[:, 2] - 1
    if inten.size != len(gt_rows) or np.any(f < 0) or np.any(f >= nt) or np.any(f != np.round(f)) \
            or not np.all(np.isfinite(gt_rows)):
        raise ValueError(f"{path}: GT does not fit IQ ({nt} frames): expected {GT_CONVENTION}, "
                         f"and one GT_intensity per row")
    synth = meta["Synth"]
    try:
        params = PhysicsParams.from_dict({k: _python_value(v) for k, v in (synth.get("params") or {}).items()},
                                         f"{path}: Synth.params").to_dict()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: Synth.params is not a valid parameter set: {exc}") from None
    extra = {k: _python_value(v) for k, v in synth.items() if k not in ("params", "gt_convention")}
    if isinstance(extra.get("seed"), float) and extra["seed"].is_integer():
        extra["seed"] = int(extra["seed"])
    uf, pdata = meta.get("UF", {}), meta.get("PData", {})
    wl = float(np.ravel(uf.get("Lambda", [np.nan]))[0])
    pdelta = np.ravel(pdata.get("PDelta", [1.0, 0.0, 1.0])).astype(float)
    geometry = {"center_frequency_mhz": float(np.ravel(uf.get("TwFreq", [np.nan]))[0]), "wavelength_mm": wl,
                "pixel_size_mm": (float(pdelta[2] * wl), float(pdelta[0] * wl)),
                "speed_of_sound": float(params["speed_of_sound"]),
                "depth_mm": float(np.ravel(pdata.get("Origin", [0, 0, 0]))[2]) * wl}
    gt = Localizations(z, x, f.astype(np.int64), inten,
                       meta=Metadata(pixel_size=geometry["pixel_size_mm"], unit="mm", params=params))
    return SynthBlock(iq=iq, gt=gt, params=params, info=extra, geometry=geometry)


def _python_value(v):
    if isinstance(v, np.ndarray) and v.dtype == object:  # a cell of text
        return [_python_value(e) for e in v.ravel(order="F")]
    if isinstance(v, np.ndarray):
        if v.size == 1:
            v = v.ravel()[0]
            return v.item() if hasattr(v, "item") else v
        return v.ravel().tolist()
    return v


def concatenate(blocks) -> SynthBlock:
    """One block of the frames of several blocks of one imaging condition, in order (ground-truth
    frames renumbered); ``info`` lists each part's (``parts``: source, seed, density, snr_db, frames).

    Raises
    ------
    ValueError
        No block, blocks of different parameters or frame sizes.
    """
    blocks = list(blocks)
    if not blocks:
        raise ValueError("blocks: expected at least one block")
    first = blocks[0]
    for b in blocks[1:]:
        if b.params != first.params or b.iq.shape[:2] != first.iq.shape[:2]:
            raise ValueError("blocks: expected blocks of one parameter set and one frame size")
    offsets = np.cumsum([0] + [b.n_frames for b in blocks[:-1]])
    gt = Localizations(np.concatenate([b.gt.z for b in blocks]), np.concatenate([b.gt.x for b in blocks]),
                       np.concatenate([b.gt.frame + o for b, o in zip(blocks, offsets)]),
                       np.concatenate([b.gt.intensity for b in blocks]), meta=first.gt.meta)
    parts = [f"{b.info.get('source')} seed {b.info.get('seed')} density {b.info.get('density')} "
             f"snr_db {b.info.get('snr_db')} frames {b.n_frames}" for b in blocks]
    info = {**first.info, "seed": "", "density": "", "snr_db": "", "parts": parts}
    return SynthBlock(iq=np.concatenate([b.iq for b in blocks], axis=2), gt=gt, params=first.params, info=info,
                      geometry=first.geometry)
