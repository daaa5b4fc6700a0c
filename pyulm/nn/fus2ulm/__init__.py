"""fUS → ULM: generative models that raise the resolution of functional ultrasound
(power Doppler) images towards ULM (after Sebia et al. 2026). See docs/fus2ulm.md.

Three models, trained on registered fUS / ULM pairs (``pyulm simulate --pairs``
or the user's own): Pix2Pix, a multimodal hierarchical VAE (MHVAE), and a
conditional diffusion model on patches with positional embedding and an edge loss,
reconstructed by overlapping sliding windows. Importing this package does not
import torch; :func:`enhance` and training do.

Rooms: :mod:`.models` (networks), :mod:`.diffusion` (schedule, loss, sampler),
:mod:`.sliding` (windows and blending), :mod:`.data` (pairs, files, split),
:mod:`.train`, :mod:`.inference`, :mod:`.evaluation` (MSE / SSIM / PSNR, vessel
widths), :mod:`.model_dir` (model directories).

>>> from pyulm.nn.fus2ulm import enhance
>>> out = enhance(fus_image, weights="pyulm/nn/weights/fus2ulm_diffusion")  # doctest: +SKIP
"""
from __future__ import annotations

__all__ = ["enhance"]


def enhance(image, weights=None, **options):
    """Raise the resolution of a fUS image towards ULM; see :func:`pyulm.nn.fus2ulm.inference.enhance`."""
    try:
        import torch  # noqa: F401
    except ModuleNotFoundError as exc:
        if exc.name != "torch":
            raise
        raise ImportError("fus2ulm needs PyTorch, which is not installed; install it with `pip install torch` "
                          "(or `pip install pyulm[nn]`)") from None
    from .inference import enhance as _enhance

    return _enhance(image, weights, **options)
