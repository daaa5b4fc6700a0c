"""Checks made before a run touches its output folder: metadata ranges and memory.

Everything here works on what :func:`pyulm.io.inspect` read (headers and small metadata
variables); no frame is read. Each message names the file.
"""
from __future__ import annotations

import math

import numpy as np

from ..config import Config, ConfigError
from ..io._limits import FRAME_RATE_HZ, FREQUENCY_MHZ, PIXEL_SIZE_WAVELENGTHS, available_memory
from .store import display

WAVELENGTH_MM = (1e-3, 100.0)


def check_metadata(info, frame_rate) -> None:
    """Refuse non-finite or implausible frame rate, pixel size and wavelength (ValueError naming the
    file; a frame rate the file does not give comes from the config's ``[ulm] scale``)."""
    where = display(info.path)
    shape = tuple(info.shape)
    if len(shape) != 3 or any(int(s) < 1 for s in shape):
        raise ValueError(f"{where}: frames of shape {shape}; expected (Nz, Nx, Nt) with every size >= 1")
    _in_range(where, "frame rate (Hz)" if info.frame_rate is not None else "frame rate (Hz, from [ulm] scale)",
              frame_rate, FRAME_RATE_HZ)
    for name, v in zip(("dz", "dx"), info.pixel_size):
        _in_range(where, f"pixel size {name} (wavelengths)", v, PIXEL_SIZE_WAVELENGTHS)
    if info.center_frequency_mhz is not None:
        _in_range(where, "transmit frequency (MHz)", info.center_frequency_mhz, FREQUENCY_MHZ)
        _in_range(where, "wavelength (mm)", info.wavelength_mm, WAVELENGTH_MM)


def _in_range(where, what, value, bounds):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {what} is {value!r}; expected a number") from None
    if not math.isfinite(v) or not bounds[0] <= v <= bounds[1]:
        raise ValueError(f"{where}: {what} is {v:g}; expected a finite value in [{bounds[0]:g}, {bounds[1]:g}]")


def memory_limit(cfg: Config) -> int:
    """The most bytes one block may take: ``[run] memory_limit_mb``, or half the available memory."""
    if cfg.run.memory_limit_mb:
        return int(cfg.run.memory_limit_mb * 2**20)
    return available_memory() // 2


def bytes_per_frame(info) -> int:
    """Peak bytes a block costs per frame: the frames as read (at least complex64) and their
    float64 amplitude, plus the localization's per-frame temporaries (~2 more doubles)."""
    try:
        item = max(8, np.dtype(info.dtype).itemsize)
    except TypeError:
        item = 16
    nz, nx = int(info.shape[0]), int(info.shape[1])
    return nz * nx * (item + 8 + 16)


def split_frames(info, cfg: Config, limit: int) -> tuple[int, str | None]:
    """Frames per block for ``info``'s file: the config's ``frames_per_block`` (or the whole
    file), split in equal blocks when a block would exceed ``limit`` bytes; and a note for the log."""
    nt = int(info.shape[2])
    step = cfg.input.frames_per_block or nt
    per = bytes_per_frame(info)
    most = limit // per
    if step <= most:
        return step, None
    if most < 1:
        raise ConfigError(f"{display(info.path)}: one frame needs about {per / 2**20:.1f} MB, more than the memory "
                          f"limit of {limit / 2**20:.0f} MB ([run] memory_limit_mb)")
    n_blocks = math.ceil(step / most)
    new = math.ceil(step / n_blocks)
    return new, (f"{display(info.path)}: blocks of {step} frames would take about {step * per / 2**20:.0f} MB, over "
                 f"the memory limit of {limit / 2**20:.0f} MB: split into blocks of {new} frames")
