"""Applying a fUS → ULM model to images (imports torch)."""
from __future__ import annotations

import numpy as np
import torch

from ...sim.doppler import fus_display, resize
from . import model_dir
from .data import check_image


#: Diffusion inference options (``config.json`` ``inference`` section, :func:`enhance`) and
#: their defaults when a model directory does not state them.
INFERENCE_DEFAULTS = {"steps": 25, "stride": None, "seed": 0, "samples": 1, "eta": 0.0}


def inference_options(cfg: dict, **overrides) -> dict:
    """Diffusion inference options: ``overrides`` that are not None, else the model's
    ``config.json`` ``inference`` section, else :data:`INFERENCE_DEFAULTS`.
    Unknown keys (in the config or the overrides) are errors."""
    section = cfg.get("inference", {}) or {}
    if not isinstance(section, dict):
        raise ValueError(f"fus2ulm: config.json \"inference\" must be a table, got {type(section).__name__}")
    for where, keys in (("config.json \"inference\"", section), ("options", overrides)):
        bad = sorted(set(keys) - set(INFERENCE_DEFAULTS))
        if bad:
            raise ValueError(f"fus2ulm: unknown {where} key(s) {bad}; expected some of {sorted(INFERENCE_DEFAULTS)}")
    out = {k: overrides[k] if overrides.get(k) is not None else section.get(k, v) for k, v in INFERENCE_DEFAULTS.items()}
    return {"steps": int(out["steps"]), "stride": None if out["stride"] is None else int(out["stride"]),
            "seed": int(out["seed"]), "samples": int(out["samples"]), "eta": float(out["eta"])}


@torch.no_grad()
def predict(model, kind: str, fus: np.ndarray, *, steps: int = 25, stride: int | None = None, seed: int = 0,
            samples: int = 1, eta: float = 0.0, device=None) -> np.ndarray:
    """ULM-like image in [0, 1] from a preprocessed fUS image in [0, 1] (H, W), H and W multiples of 16.
    ``steps``, ``stride``, ``seed``, ``samples``, ``eta``: diffusion only (:func:`.diffusion.sample`)."""
    dev = next(model.parameters()).device if device is None else torch.device(device)
    x = torch.as_tensor(np.asarray(fus, dtype=np.float32) * 2 - 1)[None, None].to(dev)
    if kind == "pix2pix":
        y = model(x)
    elif kind == "mhvae":
        y = model(x, None, sample=False)[1]
    else:
        from .diffusion import sample

        y = torch.as_tensor(sample(model, x[0, 0].cpu().numpy(), steps=steps, stride=stride, seed=seed,
                                   samples=samples, eta=eta, device=dev))
    return ((y.squeeze().double().cpu().numpy() + 1) / 2).clip(0, 1)


def enhance(image, weights=None, *, power_doppler: bool = False, steps: int | None = None,
            stride: int | None = None, seed: int | None = None, samples: int | None = None,
            eta: float | None = None, device=None) -> np.ndarray:
    """Raise the resolution of a fUS (power Doppler) image towards ULM.

    Parameters
    ----------
    image : array_like (H, W)
        A grayscale fUS image in [0, 1] (``pyulm.sim.doppler.fus_display`` of the power
        Doppler), or raw power Doppler with ``power_doppler=True``. Never modified.
    weights : path, optional
        A fUS → ULM model directory; default the shipped diffusion model
        (``pyulm/nn/weights/fus2ulm_diffusion``).
    power_doppler : bool
        Convert raw power Doppler to the display image first (dB over the model's dynamic range).
    steps, stride, seed, samples, eta
        Diffusion only (ignored by Pix2Pix and the MHVAE): DDIM steps, sliding-window spacing
        (pixels), noise seed, number of sampled trajectories averaged (an estimate of the
        posterior mean; more samples, fewer misplaced faint vessels, proportionally slower)
        and DDIM stochasticity η in [0, 1]. Default (None): the model's ``config.json``
        ``inference`` section; the shipped diffusion model's values were chosen on a
        validation set (docs/fus2ulm.md, "Inference options").
    device : str, optional
        Default CUDA when available.

    Returns
    -------
    ndarray (size, size) float32 in [0, 1]
        The predicted log-ULM image at the model's input size (``config.json`` ``input.size``:
        the image is resized to it, as the training pairs were).

    Examples
    --------
    >>> from pyulm.sim.doppler import simulate_pair
    >>> from pyulm.nn.fus2ulm import enhance
    >>> pair = simulate_pair(seed=1)                          # doctest: +SKIP
    >>> out = enhance(pair.fus)                               # doctest: +SKIP
    """
    kind, model, cfg = model_dir.load(model_dir.shipped("diffusion") if weights is None else weights, device)
    img = check_image(image, "image")
    size = int(cfg["input"]["size"])
    if power_doppler:
        if img.min() < 0:
            raise ValueError("image: power Doppler must be >= 0 (or pass power_doppler=False for a display image)")
        img = fus_display(img, cfg["input"].get("dynamic_range_db", 40.0))
    elif img.min() < 0 or img.max() > 1:
        raise ValueError(f"image: expected a grayscale fUS image in [0, 1], got values in [{img.min():.3g}, "
                         f"{img.max():.3g}]; pass power_doppler=True for raw power Doppler")
    opts = inference_options(cfg, steps=steps, stride=stride, seed=seed, samples=samples, eta=eta)
    out = predict(model, kind, resize(img, size), **opts, device=device)
    return out.astype(np.float32)
