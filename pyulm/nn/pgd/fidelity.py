"""Fidelity of generated images to the physics images they imitate (numpy; torch only to sample).

Scores per frame, averaged per condition:

* ``ssim``: SSIM of the envelopes |IQ| (:func:`pyulm.metrics.map_ssim`, data range 1 = a
  unit bubble's peak, 7 x 7 window): what a user sees of a bubble;
* ``ssim_iq``: mean SSIM of the real and imaginary channels (data range 2): the phase too;
* ``psnr``: dB, ``10 log10(peak^2 / MSE)`` over both IQ channels, ``peak`` the frame's
  largest physics |IQ| (frames without bubbles are left out of the PSNR).
"""
from __future__ import annotations

import numpy as np

from ...metrics import map_ssim

__all__ = ["fidelity", "evaluate_conditions", "summarise"]


def fidelity(generated, reference) -> dict:
    """Mean ``ssim``, ``ssim_iq``, ``psnr`` of complex frames (nz, nx, n) against the physics frames."""
    g, r = np.asarray(generated), np.asarray(reference)
    if g.shape != r.shape or g.ndim != 3:
        raise ValueError(f"generated, reference: expected complex frames (nz, nx, n) of one shape, got {g.shape}, "
                         f"{r.shape}")
    ssim, ssim_iq, psnr = [], [], []
    for k in range(g.shape[2]):
        a, b = g[:, :, k], r[:, :, k]
        ssim.append(map_ssim(np.abs(a), np.abs(b), data_range=1.0))
        ssim_iq.append(0.5 * (map_ssim(a.real, b.real, data_range=2.0) + map_ssim(a.imag, b.imag, data_range=2.0)))
        peak = float(np.abs(b).max())
        mse = float(np.mean(np.abs(a - b) ** 2) / 2)  # per real channel
        if peak > 0:
            psnr.append(10 * np.log10(peak ** 2 / mse) if mse > 0 else np.inf)
    return {"ssim": float(np.mean(ssim)), "ssim_iq": float(np.mean(ssim_iq)),
            "psnr": float(np.mean(psnr)) if psnr else float("nan")}


def evaluate_conditions(model, params_list, *, n_frames: int, shape, density, seed: int, steps: int,
                        batch_size: int = 64) -> list[dict]:
    """Generate ``n_frames`` frames per condition with ``model`` and score them against the physics.

    Bubbles are drawn from ``SeedSequence([seed, i])`` for condition ``i`` (mean
    ``density`` per frame, or a (low, high) range per frame), so every model is scored
    on the same frames. Returns one row per condition: its fields and the scores.
    """
    from .data import bubble_map, draw_bubbles, from_channels
    from .diffusion import ddim_sample
    from .physics import normalise, simulate_images

    rows, maps, conds, refs = [], [], [], []
    for i, p in enumerate(params_list):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), i]))
        b = draw_bubbles(rng, n_frames, shape, density)
        refs.append(simulate_images(p, b, tuple(shape) + (n_frames,))[0])
        maps.append(bubble_map(p, b, shape, n_frames))
        conds.append(np.repeat(normalise(p)[None], n_frames, 0))
    gen = ddim_sample(model, np.concatenate(maps), np.concatenate(conds), steps=steps, seed=seed,
                      batch_size=batch_size)
    for i, p in enumerate(params_list):
        g = from_channels(gen[i * n_frames:(i + 1) * n_frames])
        rows.append({**p.to_dict(), **fidelity(g, refs[i])})
    return rows


def summarise(rows: list[dict], field: str, edges) -> list[dict]:
    """Mean scores of :func:`evaluate_conditions` rows binned by ``field`` (a parameter, or
    ``"pixel_size_wavelengths"``) at ``edges``: one dict per non-empty bin with ``bin``
    ("[lo, hi)"), ``n`` and the mean ``ssim``, ``ssim_iq``, ``psnr``."""
    from .physics import PhysicsParams

    def value(r):
        if field == "pixel_size_wavelengths":
            return PhysicsParams.from_dict({k: r[k] for k in PhysicsParams().to_dict()}).pixel_size_wavelengths
        return r[field]

    out = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = [r for r in rows if lo <= value(r) < hi]
        if sel:
            out.append({"bin": f"[{lo:g}, {hi:g})", "n": len(sel),
                        **{k: float(np.mean([r[k] for r in sel])) for k in ("ssim", "ssim_iq", "psnr")}})
    return out
