"""Background of a synthetic acquisition: tissue clutter and thermal noise.

Both write in place into the simulator's own (t, x, z) complex64 buffer (the
memory of a Fortran-ordered (z, x, t) array), never into a user array.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_NOISE_CHUNK = 64  # frames per noise stream: output independent of the thread count


def _threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def add_thermal_noise(buf: np.ndarray, sigma: float, rng: np.random.Generator) -> None:
    """Add circular complex white Gaussian noise with ``E|n|^2 = sigma^2`` in place.

    Noise is drawn per block of 64 frames from child generators spawned from
    ``rng``, in two threads; the result depends on ``rng`` only.
    """
    if sigma <= 0:
        return
    nt = buf.shape[0]
    n_chunks = -(-nt // _NOISE_CHUNK)
    children = rng.spawn(n_chunks)
    flat = buf.view(np.float32)  # (t, x, 2z): real and imaginary parts interleaved
    s = np.float32(sigma / np.sqrt(2.0))

    def work(c):
        t0, t1 = c * _NOISE_CHUNK, min(nt, (c + 1) * _NOISE_CHUNK)
        n = children[c].standard_normal(flat[t0:t1].shape, dtype=np.float32)
        n *= s
        flat[t0:t1] += n

    if n_chunks == 1:
        work(0)
        return
    with ThreadPoolExecutor(_threads()) as ex:
        list(ex.map(work, range(n_chunks)))


def speckle(shape, psf, rng: np.random.Generator) -> np.ndarray:
    """A complex speckle image: dense random scatterers convolved with the PSF.

    Returns a (nz, nx) complex128 field with unit mean power.
    """
    from scipy.signal import fftconvolve

    nz, nx = shape
    hz, hx = psf.half_window
    white = rng.standard_normal((nz + 2 * hz, nx + 2 * hx)) + 1j * rng.standard_normal((nz + 2 * hz, nx + 2 * hx))
    # the depth phase of each scatterer is already random: convolve with the envelope only
    if psf.kernel is not None:
        k = psf.kernel
    else:
        k = np.outer(psf.axial(np.arange(-hz, hz + 1)), psf.lateral_profile(np.arange(-hx, hx + 1)))
    field = fftconvolve(white, k, mode="valid")
    return field / np.sqrt(np.mean(np.abs(field) ** 2))


def add_tissue_clutter(
    buf: np.ndarray,
    level: float,
    psf,
    rng: np.random.Generator,
    *,
    frame_rate: float,
    breathing_hz: float = 1.5,
    breathing_amplitude: float = 0.2,
    drift: tuple[float, float] = (0.1, 0.05),
    modulation: float = 0.1,
) -> None:
    """Add moving tissue speckle in place.

    The speckle ``S`` moves by ``d(t) = breathing * sin(2 pi f t) + drift * t/T``
    (pixels, axial and lateral); the image is ``S(r - d)`` to first order in
    the envelope, ``(S - d_z dS/dz - d_x dS/dx)``, times the exact depth phase
    ``exp(-4 i pi d_z / wavelength)`` and a breathing amplitude modulation. It
    is therefore low rank in space-time, as tissue is, and an SVD filter
    removes it. Displacements are kept below one pixel by the caller.

    Parameters
    ----------
    level : float
        RMS amplitude of the clutter.
    breathing_amplitude : float
        Peak axial breathing displacement, pixels.
    drift : (float, float)
        Total slow (z, x) displacement over the block, pixels.
    modulation : float
        Relative amplitude modulation at the breathing frequency.
    """
    nt, nx, nz = buf.shape
    S = speckle((nz, nx), psf, rng)
    dSz, dSx = np.gradient(S)
    t = np.arange(nt) / frame_rate
    phase0 = rng.uniform(0, 2 * np.pi)
    breath = np.sin(2 * np.pi * breathing_hz * t + phase0)
    dz = breathing_amplitude * breath + drift[0] * np.arange(nt) / max(nt - 1, 1)
    dx = drift[1] * np.arange(nt) / max(nt - 1, 1)
    wl = psf.wavelength
    carrier = level * (1 + modulation * breath) * (1.0 if np.isinf(wl) else np.exp(-4j * np.pi * dz / wl))
    # rank-3 outer products: buf[t] += a(t) S + b(t) dS/dz + c(t) dS/dx
    coef = np.stack([carrier, -carrier * dz, -carrier * dx], axis=1).astype(np.complex64)
    basis = np.stack([S.T, dSz.T, dSx.T]).reshape(3, -1).astype(np.complex64)
    flat = buf.reshape(nt, -1)
    step = max(1, 2_000_000 // (nz * nx))
    for t0 in range(0, nt, step):
        flat[t0:t0 + step] += coef[t0:t0 + step] @ basis
