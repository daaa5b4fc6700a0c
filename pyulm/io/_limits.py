"""How much memory a read may take, and what metadata values are plausible.

:func:`max_bytes` is the most bytes one read of frames may allocate (and the
ceiling of one frame and of one chunk): the ``max_bytes=`` argument of
:func:`pyulm.io.inspect`, else the ``PYULM_MAX_BYTES`` environment variable
(bytes, or with a ``K``/``M``/``G``/``T`` suffix), else the memory available
now. Metadata variables (``UF``, ``PData``, ``Trans``, ...) are read only
below :data:`METADATA_MAX_BYTES` (``PYULM_MAX_METADATA_BYTES``): a header
declaring a 4 GiB ``Trans.frequency`` is refused before anything is read.
"""
from __future__ import annotations

import os

from ._mat5stream import DEFLATE_MAX_RATIO  # noqa: F401 - one value for the codec and the checks

#: Default ceiling of one metadata variable, as declared by its headers.
METADATA_MAX_BYTES = 64 * 2**20

#: Plausible ranges (inclusive) of the metadata pyulm uses; wide on purpose:
#: ultrasound from 0.1 to 100 MHz, any frame rate a scanner gives, pixels from a
#: thousandth to a thousand wavelengths, any medium from air to bone.
FRAME_RATE_HZ = (1e-3, 1e7)
FREQUENCY_MHZ = (0.1, 100.0)
PIXEL_SIZE_WAVELENGTHS = (1e-3, 1e3)
SPEED_OF_SOUND_M_S = (100.0, 1e4)

_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_bytes(text, what: str) -> int:
    """``"4G"``, ``"512M"``, ``"1000"`` (or an int) -> bytes; ``what`` names the setting in errors."""
    raw = str(text).strip().upper().removesuffix("B").removesuffix("I")
    unit = raw[-1:] if raw[-1:] in _UNITS and raw[-1:] else ""
    try:
        value = float(raw[:-1] if unit else raw) * _UNITS[unit]
    except ValueError:
        raise ValueError(f"{what}: expected a number of bytes such as 4000000000 or 4G, got {text!r}") from None
    if not value >= 1 or value != value or value == float("inf"):
        raise ValueError(f"{what}: expected a positive number of bytes, got {text!r}")
    return int(value)


def available_memory() -> int:
    """Bytes this process may still allocate: MemAvailable, capped by a cgroup memory limit."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - no sysconf
            avail = 4 << 30
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit) as f:
                text = f.read().strip()
            if text != "max" and int(text) < 1 << 60:
                with open(usage) as f:
                    avail = min(avail, max(0, int(text) - int(f.read().strip())))
        except (OSError, ValueError):
            continue
    return int(avail)


def max_bytes(value=None) -> int:
    """The read ceiling: ``value``, else ``$PYULM_MAX_BYTES``, else :func:`available_memory`."""
    if value is not None:
        if isinstance(value, bool):
            raise ValueError(f"max_bytes: expected a number of bytes, got {value!r}")
        return parse_bytes(value, "max_bytes")
    env = os.environ.get("PYULM_MAX_BYTES")
    if env:
        return parse_bytes(env, "PYULM_MAX_BYTES")
    return max(available_memory(), 64 * 2**20)


def metadata_max_bytes(ceiling: int) -> int:
    """The ceiling of one metadata variable: ``$PYULM_MAX_METADATA_BYTES`` or 64 MiB, at most ``ceiling``."""
    env = os.environ.get("PYULM_MAX_METADATA_BYTES")
    cap = parse_bytes(env, "PYULM_MAX_METADATA_BYTES") if env else METADATA_MAX_BYTES
    return min(cap, ceiling)


def gib(n: int) -> str:
    """A byte count for messages: ``'24 GiB'``, ``'3.5 MiB'``, ``'812 bytes'``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n} bytes"
