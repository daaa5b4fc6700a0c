"""Deep-stULM inputs and targets (numpy only).

* :func:`correlation_maps`: χ = IQ ⋆ PSF, the complex correlation of every frame
  with the PSF template (the paper's input);
* :func:`normalize_window`: one window of χ as the network's two channels
  (real, imaginary), divided so that ``|χ| < 1``;
* :func:`trajectory_map`: the 2-D projection of simulated trajectories on the
  ``r``-times finer grid (the training target and the ground-truth angiogram);
* :func:`training_window`: one (input, target) pair from a fresh vessel-flow
  simulation, fully determined by its seed.

Output grid: SR pixel ``k`` covers ``[k / r - 0.5, (k + 1) / r - 0.5)`` in input
pixels, the grid of :func:`pyulm.sim.density_map`.
"""
from __future__ import annotations

import numpy as np

from .config import DataConfig, ModelConfig

#: The largest step between two samples of a trajectory segment, in output pixels:
#: below one pixel, so a segment paints every pixel it crosses (up to corner cuts).
_STEP = 0.5


def psf_template(psf) -> np.ndarray:
    """The 2-D template of ``psf``: an array, or a :class:`pyulm.psf.PSF` (its ``image``)."""
    img = getattr(psf, "image", psf)
    img = img() if callable(img) else img
    arr = np.asarray(img)
    if arr.ndim != 2 or arr.dtype == object or not np.issubdtype(arr.dtype, np.number) or arr.size == 0:
        raise ValueError(f"psf: expected a 2-D numeric template or a pyulm.psf.PSF, got {type(psf).__name__} "
                         f"of shape {np.shape(arr)}")
    if not np.all(np.isfinite(arr)) or not np.any(arr != 0):
        raise ValueError("psf: expected finite values, not all zero")
    return arr


def correlation_maps(frames, psf) -> np.ndarray:
    """χ = frames ⋆ psf: the complex cross-correlation of every frame with the PSF.

    Parameters
    ----------
    frames : ndarray (z, x, t)
        Beamformed (clutter-filtered) IQ, complex; never modified.
    psf : ndarray (kz, kx) or pyulm.psf.PSF
        Template centred on its middle pixel (real or complex).

    Returns
    -------
    ndarray, complex64, (z, x, t)
        ``χ[z, x, t] = Σ_q frames[z + qz, x + qx, t] · conj(psf[q])`` ("same" size, zero outside).

    Examples
    --------
    >>> iq = np.zeros((9, 9, 1), complex); iq[4, 4, 0] = 1j
    >>> chi = correlation_maps(iq, np.ones((3, 3)))
    >>> chi.shape, complex(chi[3, 5, 0])
    ((9, 9, 1), 1j)
    """
    from scipy.signal import fftconvolve

    t = np.conj(psf_template(psf))[::-1, ::-1]
    out = fftconvolve(np.asarray(frames), t[:, :, None], mode="same", axes=(0, 1))
    return out.astype(np.complex64, copy=False)


def normalize_window(chi) -> np.ndarray:
    """One (z, x, t) window of χ as float32 channels (2, t, z, x), ``|χ| < 1``.

    Divided by ``1.001 ×`` the window's largest modulus (all zeros stay zeros),
    the normalisation of training and inference alike.
    """
    chi = np.asarray(chi)
    peak = float(np.abs(chi).max()) if chi.size else 0.0
    scale = 1.0 / (1.001 * peak) if peak > 0 else 0.0
    w = np.moveaxis(chi, 2, 0) * scale
    return np.stack([w.real, w.imag]).astype(np.float32)


def trajectory_map(z, x, frame, bubble_id, shape, r: int) -> np.ndarray:
    """Binary 2-D projection of trajectories on the ``r``-times finer grid.

    Positions of the same bubble in consecutive frames are joined by a straight
    segment, sampled every half output pixel; a bubble seen in one frame only
    paints its pixel.

    Parameters
    ----------
    z, x : array_like of float
        Positions, input pixels, 0-based.
    frame, bubble_id : array_like of int
        Frame and bubble of each position.
    shape : (int, int)
        Field (nz, nx), input pixels.
    r : int
        Refinement factor.

    Returns
    -------
    ndarray of bool, (r * nz, r * nx)

    Examples
    --------
    >>> m = trajectory_map([0.0, 0.0], [0.0, 1.0], [0, 1], [7, 7], (2, 2), 2)
    >>> m.astype(int).tolist()
    [[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    """
    z, x = np.asarray(z, float).ravel(), np.asarray(x, float).ravel()
    frame, bid = np.asarray(frame).ravel().astype(np.int64), np.asarray(bubble_id).ravel().astype(np.int64)
    mz, mx = int(shape[0]) * r, int(shape[1]) * r
    out = np.zeros((mz, mx), bool)
    if z.size == 0:
        return out
    order = np.lexsort((frame, bid))
    z, x, frame, bid = z[order], x[order], frame[order], bid[order]
    joined = (bid[1:] == bid[:-1]) & (frame[1:] == frame[:-1] + 1)
    a, b = np.flatnonzero(joined), np.flatnonzero(joined) + 1
    n = np.ceil(np.hypot(z[b] - z[a], x[b] - x[a]) * r / _STEP).astype(np.int64) + 1
    seg = np.repeat(np.arange(a.size), n)
    frac = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(np.maximum(n - 1, 1), n)
    pz = np.r_[z, z[a][seg] + frac * (z[b] - z[a])[seg]]
    px = np.r_[x, x[a][seg] + frac * (x[b] - x[a])[seg]]
    iz = np.floor((pz + 0.5) * r).astype(np.int64)
    ix = np.floor((px + 0.5) * r).astype(np.int64)
    ok = (iz >= 0) & (iz < mz) & (ix >= 0) & (ix < mx)
    out[iz[ok], ix[ok]] = True
    return out


def dilate(target, radius: int) -> np.ndarray:
    """``target`` dilated by a disk of ``radius`` pixels (phase-1 targets)."""
    from scipy.ndimage import binary_dilation

    if radius <= 0:
        return np.asarray(target, bool)
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return binary_dilation(target, structure=yy ** 2 + xx ** 2 <= radius ** 2)


def simulate_field(dcfg: DataConfig, shape, n_frames: int, concentration: float, rng, *, network=None, psf=None,
                   max_velocity=None, snr_db=None):
    """A vessel-flow simulation drawn from ``dcfg``'s ranges (``pyulm.sim.simulate``)."""
    from ...sim import random_network, simulate

    psf = dcfg.psf() if psf is None else psf
    if network is None:
        network = random_network(
            shape, n_roots=int(rng.integers(dcfg.n_roots[0], dcfg.n_roots[1] + 1)),
            root_radius=float(rng.uniform(*dcfg.root_radius)), min_radius=dcfg.min_radius,
            max_depth=dcfg.max_depth, segment_length=dcfg.segment_length, seed=rng)
    v = float(rng.uniform(*dcfg.max_velocity)) if max_velocity is None else max_velocity
    snr = float(rng.uniform(*dcfg.snr_db)) if snr_db is None else snr_db
    return simulate(shape, n_frames, network=network, concentration=concentration, max_velocity=v, psf=psf,
                    intensity=dcfg.intensity, intensity_jitter=dcfg.intensity_jitter, snr_db=snr,
                    frame_rate=dcfg.frame_rate, seed=rng)


def training_window(dcfg: DataConfig, mcfg: ModelConfig, rng, *, concentration=None, psf=None):
    """One training pair from a fresh simulation.

    A ``field``-pixel square vessel tree is simulated over ``n_frames`` frames
    at a concentration drawn log-uniformly from ``dcfg.concentration`` (bubbles
    per mm²), χ is computed on the whole field, and a ``size``-pixel window is
    cut at random (so windows see the PSF tails of bubbles outside them, as in
    sliding-window inference).

    Returns
    -------
    x : float32 (2, n_frames, size, size)
    target : bool (r * size, r * size)
        Trajectories inside the window over its frames.
    """
    psf = dcfg.psf() if psf is None else psf
    if concentration is None:
        lo, hi = np.log(dcfg.concentration)
        concentration = float(np.exp(rng.uniform(lo, hi)))
    F, S = dcfg.field, mcfg.size
    sim = simulate_field(dcfg, (F, F), mcfg.n_frames, concentration, rng, psf=psf)
    oz, ox = (int(v) for v in rng.integers(0, F - S + 1, 2))
    chi = correlation_maps(sim.iq, psf)[oz:oz + S, ox:ox + S]
    gt = sim.gt
    target = trajectory_map(gt.z - oz, gt.x - ox, gt.frame, gt["bubble_id"], (S, S), mcfg.r)
    return normalize_window(chi), target
