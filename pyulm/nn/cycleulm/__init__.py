"""CycleULM (after the 2026 CycleULM paper; ``../shared/papers/cycleulm.txt``): label-free learned ULM.

* **MB-DT** (``mbdt``): a CycleGAN trained without labels on the lab's own frames that
  translates CEUS frames (3 consecutive |IQ| frames) into a simple "MB-only" domain —
  bubbles convolved with a fixed Gaussian PSF, half as wide as the data's. Use it as a
  plug-in step before any localizer: :func:`translate`.
* **MBT-Net** (``mbtnet``): a ConvLSTM U-Net on 8 MB-only frames that outputs a trajectory
  probability map and v_z, v_x maps, trained on synthetic MB-only sequences.
* **Pipelines**: CycleULM-NCC, -Decon, -Loc, -E2E and the two Bradley-Roth baselines;
  the E2E track decoder turns MBT-Net's velocity maps into a motion prior for linking.

Importing this package does not import torch; the functions do, on first use.
Rooms: ``mbdt_*`` (translator), ``translate`` (inference on whole frames), ``mbtnet_*``
(trajectory network), ``e2e`` (sliding windows → SR maps), ``trackdecode`` (explicit
tracks from E2E), ``pipelines`` (the named pipelines). See docs/cycleulm.md.
"""
from __future__ import annotations

import pkgutil

from ..._lazy import attach

#: public name -> submodule that defines it (filled in as the rooms land).
_EXPORTS = {
    "run_pipeline": "pipelines",
    "PIPELINES": "pipelines",
    "PipelineResult": "pipelines",
    "translate": "translate",
    "ceus_acquisition": "ceus_sim", "CEUSAcquisition": "ceus_sim",
    "train_mbdt": "mbdt_train", "MBDTConfig": "mbdt_model", "translator_info": "mbdt_dir",
    "check_translator": "mbdt_check",
    "MBTNet": "mbtnet_model", "mbtnet_predict": "mbtnet_infer", "e2e_maps": "e2e",
    "decode_tracks": "trackdecode", "motion_prior": "trackdecode",
}

__getattr__, __dir__ = attach(__name__, _EXPORTS, lambda: {m.name for m in pkgutil.iter_modules(__path__)})
__all__ = sorted(_EXPORTS)
