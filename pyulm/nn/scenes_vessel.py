"""One realistic acquisition: bubbles flowing in curved vessels, correlated noise, residual clutter.

See :mod:`pyulm.nn.scenes` for the PSF families. Geometry: ``n`` vessels cross the
patch as smooth curves (heading ``theta(s) = theta0 + sum_k a_k sin(2 pi s / L_k +
phi_k)``, the curvature amplitude drawn from ``DataConfig.curvature``) with a lumen
radius drawn from ``vessel_radius``. Inside each vessel, bubbles sit at a uniform
position along the centreline and across the lumen, at the drawn *in-vessel* density
(bubbles per 100 px² of lumen), and move along it at the Poiseuille speed of their
radial position. Around them, free bubbles at a low density (``background_density``).
"""
from __future__ import annotations

import math

import numpy as np

from ..tables import Localizations
from .scenes import Envelope, draw_envelope, render


def centerline(shape, rng, curvature, step=0.5):
    """A smooth curve crossing the field: (z, x, heading) sampled every ``step`` pixels."""
    nz, nx = shape
    L = 2.5 * max(nz, nx)
    n = int(L / step)
    s = np.arange(n) * step
    th0 = rng.uniform(0, 2 * np.pi)
    th = np.full(n, th0)
    for _ in range(3):
        th = th + rng.uniform(*curvature) * np.sin(2 * np.pi * s / rng.uniform(15, 60) + rng.uniform(0, 2 * np.pi))
    # start outside the field so that the curve passes through a random interior point at its middle
    z = np.concatenate([[0.0], np.cumsum(step * np.sin(th[:-1]))])
    x = np.concatenate([[0.0], np.cumsum(step * np.cos(th[:-1]))])
    cz, cx = rng.uniform(0.15, 0.85) * (nz - 1), rng.uniform(0.15, 0.85) * (nx - 1)
    m = n // 2
    return z - z[m] + cz, x - x[m] + cx, th


def vessel_bubbles(shape, n_frames, rng, *, density, radius, speed, curvature):
    """Positions (t, bubble) of bubbles flowing in one vessel; NaN outside the field."""
    z_c, x_c, th = centerline(shape, rng, curvature)
    L = (z_c.size - 1) * 0.5
    vmax = rng.uniform(*speed)
    # bubbles over the whole centreline (it extends beyond the field on both sides)
    nb = rng.poisson(density / 100 * 2 * radius * L)
    s0 = rng.uniform(0, L, nb)
    u = rng.uniform(-1, 1, nb)
    v = vmax * (1 - u ** 2) * (1 if rng.uniform() < 0.5 else -1)
    s = s0[None, :] + v[None, :] * np.arange(n_frames)[:, None]
    sp = np.arange(z_c.size) * 0.5
    zc, xc = np.interp(s, sp, z_c), np.interp(s, sp, x_c)
    t = np.interp(s, sp, th)
    off = u * radius
    return zc + off * np.cos(t), xc - off * np.sin(t), radius


def correlated_noise(shape_t, sigma, corr, rng):
    """Complex Gaussian noise (t, z, x) of std ``sigma`` (E|n|² = sigma²), smoothed by a
    Gaussian of ``corr`` pixels (0: white), as the beamformer correlates it."""
    from scipy.ndimage import gaussian_filter

    n = rng.standard_normal(shape_t) + 1j * rng.standard_normal(shape_t)
    if corr > 0.05:
        n = gaussian_filter(n.real, (0, corr, corr)) + 1j * gaussian_filter(n.imag, (0, corr, corr))
    return n * (sigma / math.sqrt(np.mean(np.abs(n) ** 2)))


def residual_clutter(shape, n_frames, env: Envelope, level, rng, *, block=20):
    """Tissue speckle (``level`` RMS before filtering) moving with breathing and drift over
    ``block`` frames, SVD-filtered (the first 1-3 singular components removed) as in a ULM
    pipeline; returns the residue of the first ``n_frames`` frames (t, z, x)."""
    from scipy.signal import fftconvolve

    nz, nx = shape
    hz, hx = env.half
    k = env.fn(np.arange(-hz, hz + 1)[:, None] + 0.0, np.arange(-hx, hx + 1)[None, :] + 0.0)
    pad = 3
    white = rng.standard_normal((nz + 2 * hz + 2 * pad, nx + 2 * hx + 2 * pad)) * (1 + 0j)
    white = white + 1j * rng.standard_normal(white.shape)
    S = fftconvolve(white, k, mode="valid")
    S /= math.sqrt(np.mean(np.abs(S) ** 2))
    from scipy.ndimage import shift as nd_shift

    nt = max(block, n_frames)
    t = np.arange(nt)
    amp = rng.uniform(0.1, 1.0)
    breath = amp * np.sin(2 * np.pi * t / rng.uniform(10, 60) + rng.uniform(0, 2 * np.pi))
    drift = rng.uniform(-0.05, 0.05, 2)
    frames = np.empty((nt, nz, nx), np.complex128)
    for i in range(nt):
        dz, dx = breath[i] + drift[0] * i, drift[1] * i
        re = nd_shift(S.real, (dz, dx), order=1, mode="nearest")
        im = nd_shift(S.imag, (dz, dx), order=1, mode="nearest")
        frames[i] = ((re + 1j * im) * np.exp(-4j * np.pi * dz / env.wavelength))[pad:pad + nz, pad:pad + nx]
    X = frames.reshape(nt, -1)
    # the temporal singular vectors from the small (t, t) Gram matrix: same subspace as the SVD, far cheaper
    w, U = np.linalg.eigh(X @ X.conj().T)
    k_cut = int(rng.integers(1, 4))
    Uk = U[:, ::-1][:, :k_cut]
    resid = X - Uk @ (Uk.conj().T @ X)
    return level * resid[:n_frames].reshape(n_frames, nz, nx)


def vessel_scene(cfg, n_frames, rng, *, shape=None, in_vessel_density=None, env: Envelope | None = None,
                 snr_db=None):
    """One acquisition drawn from ``cfg`` -> (iq (z, x, t) complex64, gt Localizations, info dict)."""
    nz, nx = shape or (cfg.patch, cfg.patch)
    env = env or draw_envelope(cfg, rng)
    d_in = float(rng.uniform(*cfg.in_vessel_density)) if in_vessel_density is None else float(in_vessel_density)
    zs, xs = [], []
    for _ in range(int(rng.integers(int(cfg.n_vessels[0]), int(cfg.n_vessels[1]) + 1))):
        z, x, _r = vessel_bubbles((nz, nx), n_frames, rng, density=d_in, radius=rng.uniform(*cfg.vessel_radius),
                                  speed=cfg.speed, curvature=cfg.curvature)
        zs.append(z)
        xs.append(x)
    nb_bg = rng.poisson(rng.uniform(*cfg.background_density) / 100 * nz * nx)
    zb, xb = rng.uniform(-0.5, nz - 0.5, nb_bg), rng.uniform(-0.5, nx - 0.5, nb_bg)
    zs.append(np.broadcast_to(zb, (n_frames, nb_bg)) + np.cumsum(rng.normal(0, 0.3, (n_frames, nb_bg)), 0))
    xs.append(np.broadcast_to(xb, (n_frames, nb_bg)) + np.cumsum(rng.normal(0, 0.3, (n_frames, nb_bg)), 0))
    z, x = np.concatenate(zs, 1), np.concatenate(xs, 1)
    nb = z.shape[1]
    # intensity spread: log-normal over bubbles (a spread of ~10-30 dB), a little per-frame jitter
    spread = rng.uniform(*cfg.intensity_spread)
    amp = np.exp(spread * rng.standard_normal(nb))[None, :] * np.exp(0.1 * rng.standard_normal((n_frames, nb)))
    amp = amp / np.exp(spread ** 2 / 2)  # mean intensity ~1
    phase = np.broadcast_to(rng.uniform(0, 2 * np.pi, nb), (n_frames, nb))
    frame = np.broadcast_to(np.arange(n_frames)[:, None], (n_frames, nb))
    inside = (z >= -0.5) & (z < nz - 0.5) & (x >= -0.5) & (x < nx - 0.5)
    near = (z >= -env.half[0]) & (z < nz + env.half[0]) & (x >= -env.half[1]) & (x < nx + env.half[1])
    iq = render(z[near], x[near], frame[near], amp[near], phase[near], (nz, nx), n_frames, env)
    mean_i = float(np.mean(amp[inside])) if inside.any() else 1.0
    if rng.uniform() < cfg.clutter_probability:
        iq = iq + residual_clutter((nz, nx), n_frames, env, mean_i * 10 ** (rng.uniform(*cfg.tissue_db) / 20), rng)
    snr = float(rng.uniform(*cfg.snr_db)) if snr_db is None else float(snr_db)
    iq = iq + correlated_noise(iq.shape, mean_i / 10 ** (snr / 20), rng.uniform(*cfg.noise_corr), rng)
    if rng.uniform() < cfg.rf_probability:  # RF-like input: the real part, axially modulated
        iq = np.sqrt(2) * iq.real + 0j
    gt = Localizations(z[inside], x[inside], frame[inside], amp[inside])
    info = {"family": env.family, "fwhm": env.fwhm, "in_vessel_density": d_in, "snr_db": snr}
    return np.ascontiguousarray(iq.transpose(1, 2, 0)).astype(np.complex64), gt, info
