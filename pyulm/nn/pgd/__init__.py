"""PgD: physics-parameter-guided diffusion (after Qiang et al., 2026) that synthesises labelled
microbubble images for any imaging condition (probe, centre frequency, bandwidth, pulse,
compounding angles, pixel size, depth).

Importing this package does not import torch; sampling and training do, on first use.
See docs/pgd.md.
"""
from __future__ import annotations

import pkgutil

from ..._lazy import attach

#: public name -> submodule that defines it (filled in as the rooms land). A name that is also a
#: submodule's name (``sample``) is not listed: importing the submodule would rebind it.
_EXPORTS: dict = {
    "PhysicsParams": "physics", "normalise": "physics", "sample_params": "physics", "simulate_images": "physics",
    "PgDRangeWarning": "physics", "sample_frames": "sample",
    "synth": "synthesis", "load_params": "synthesis", "SynthBlock": "block", "read_block": "block", "write_block": "block",
}

__getattr__, __dir__ = attach(__name__, _EXPORTS, lambda: {m.name for m in pkgutil.iter_modules(__path__)})
__all__ = sorted(_EXPORTS)
