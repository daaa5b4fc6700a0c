"""Realistic training scenes: bubbles confined to curved vessels, physics PSFs, residual clutter.

The free-motion patches of :func:`pyulm.sim.free_motion` (uniform bubbles, Gaussian
PSFs, white noise) are not what users meet: in vivo the bubbles crowd inside the
vessels (3-7 per 100 px² of lumen while the frame average stays near 1), the PSF of a
real probe is anisotropic with side lobes and is not quite symmetric, the SVD filter
leaves some tissue behind, and the noise of a beamformed image is correlated over a
few pixels. :func:`vessel_scene` draws one such acquisition; every property is drawn
from the ranges of a :class:`pyulm.nn.data.DataConfig` (domain randomisation).

PSF families (``DataConfig.psf_families``):

``gaussian``
    separable Gaussian envelope, FWHM drawn from ``fwhm`` (z and x independently);
``transducer``
    :func:`pyulm.psf.psf_from_transducer` with a drawn F-number (``f_number``), pulse
    bandwidth (``bandwidth``) and compounding span; the pixel size is set so that the
    lateral FWHM falls in ``fwhm`` (sinc side lobes, axial/lateral anisotropy);
``distorted``
    either of the above, tilted (up to ±20°), axially skewed, with a weak envelope
    ripple and a faint secondary lobe: "slightly irregular" shapes.

Any other envelope can be rendered with :func:`render` (the held-out benchmark uses
PyMUST-simulated and hand-written families that training never sees).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

#: PSF families the training simulator draws from.
TRAIN_FAMILIES = ("gaussian", "transducer", "distorted")


@dataclass(frozen=True)
class Envelope:
    """A PSF for rendering: ``fn(dz, dx)`` -> real or complex amplitude (peak ~1 at 0),
    the half window (pixels) that holds it, the IQ wavelength along z (pixels) and the
    nominal FWHM (z, x) in pixels (for the conventional methods)."""

    fn: Callable
    half: tuple
    wavelength: float
    fwhm: tuple
    family: str


def gaussian_envelope(fwhm, wavelength=2.0, family="gaussian") -> Envelope:
    sz, sx = (f / (2 * math.sqrt(2 * math.log(2))) for f in fwhm)
    half = (int(math.ceil(3 * sz)) + 1, int(math.ceil(3 * sx)) + 1)
    return Envelope(lambda dz, dx: np.exp(-0.5 * ((dz / sz) ** 2 + (dx / sx) ** 2)), half, wavelength,
                    tuple(float(f) for f in fwhm), family)


def transducer_envelope(lateral_fwhm_px, *, f_number, bandwidth, span_deg, pixel_aspect=1.0) -> Envelope:
    """The transducer model of :func:`pyulm.psf.psf_from_transducer`, pixel size chosen
    so that the lateral FWHM is ``lateral_fwhm_px`` pixels (``pixel_aspect`` = dz/dx)."""
    from ..psf.transducer import psf_from_transducer

    ref = psf_from_transducer(15.625, fractional_bandwidth=bandwidth, f_number=f_number,
                              angles=(-span_deg / 2, span_deg / 2))
    wl_mm = ref.params["wavelength_mm"]
    dx = wl_mm * ref.fwhm_wavelengths[1] / lateral_fwhm_px
    psf = psf_from_transducer(15.625, fractional_bandwidth=bandwidth, f_number=f_number,
                              angles=(-span_deg / 2, span_deg / 2), pixel_size_mm=(dx * pixel_aspect, dx))
    fz, fx = psf.fwhm
    half = (int(math.ceil(1.6 * fz)) + 2, int(math.ceil(2.2 * fx)) + 2)  # first side lobes included
    return Envelope(lambda dz, dx_: psf.axial(dz) * psf.lateral_profile(dx_), half, float(psf.wavelength),
                    (float(fz), float(fx)), "transducer")


def distort(env: Envelope, rng) -> Envelope:
    """Tilt, axial skew, ripple and a faint secondary lobe on top of ``env`` (training family ``distorted``)."""
    th = math.radians(rng.uniform(-20, 20))
    skew = rng.uniform(0.75, 1.33)  # ratio of the axial extent below / above the centre
    ripple, period, phase = rng.uniform(0, 0.25), rng.uniform(1.5, 4.0), rng.uniform(0, 2 * np.pi)
    lobe_amp = rng.uniform(0, 0.25)
    lobe_ang = rng.uniform(0, 2 * np.pi)
    lobe_r = rng.uniform(1.2, 2.0) * max(env.fwhm)
    lz, lx = lobe_r * math.sin(lobe_ang), lobe_r * math.cos(lobe_ang)
    c, s = math.cos(th), math.sin(th)
    base = env.fn

    def fn(dz, dx):
        rz, rx = c * dz - s * dx, s * dz + c * dx
        rz = np.where(rz > 0, rz / skew, rz * skew)
        v = base(rz, rx) * (1 + ripple * np.cos(2 * np.pi * rz / period + phase))
        return v + lobe_amp * base(dz - lz, dx - lx)

    reach = int(math.ceil(lobe_r + max(env.fwhm)))
    half = (max(env.half[0], reach) + 1, max(env.half[1], reach) + 1)
    return Envelope(fn, half, env.wavelength, env.fwhm, "distorted")


def draw_envelope(cfg, rng, family=None) -> Envelope:
    """One PSF envelope of a training family (drawn from ``cfg.psf_families`` unless given)."""
    family = family or cfg.psf_families[int(rng.integers(len(cfg.psf_families)))]
    wl = float(rng.uniform(*cfg.wavelength))
    if family in ("transducer", "distorted") and (family == "transducer" or rng.uniform() < 0.6):
        env = transducer_envelope(rng.uniform(*cfg.fwhm), f_number=rng.uniform(*cfg.f_number),
                                  bandwidth=rng.uniform(*cfg.bandwidth), span_deg=rng.uniform(0, 30),
                                  pixel_aspect=rng.uniform(0.6, 1.2))
    elif family in ("gaussian", "distorted"):
        env = gaussian_envelope(tuple(rng.uniform(*cfg.fwhm, 2)), wl)
    else:
        raise ValueError(f"psf_families: unknown family {family!r}; expected some of {TRAIN_FAMILIES}")
    return distort(env, rng) if family == "distorted" else env


def render(z, x, frame, amp, phase, shape, n_frames, env: Envelope) -> np.ndarray:
    """Complex IQ frames (t, z, x) of point scatterers: each point adds
    ``amp * env(z' - z, x' - x) * exp(i (phase - 4 pi z / wavelength))`` on its window."""
    nz, nx = shape
    hz, hx = env.half
    out = np.zeros((n_frames, nz + 2 * hz, nx + 2 * hx), np.complex128)
    if len(z) == 0:
        return out[:, hz:hz + nz, hx:hx + nx].astype(np.complex64)
    iz, ix = np.rint(z).astype(np.int64), np.rint(x).astype(np.int64)
    oz, ox = np.arange(-hz, hz + 1), np.arange(-hx, hx + 1)
    dz = oz[None, :, None] - (z - iz)[:, None, None]
    dx = ox[None, None, :] - (x - ix)[:, None, None]
    carrier = amp * np.exp(1j * (phase - 4 * np.pi * z / env.wavelength))
    vals = env.fn(dz, dx) * carrier[:, None, None]
    rows = (iz + hz)[:, None, None] + oz[None, :, None]
    cols = (ix + hx)[:, None, None] + ox[None, None, :]
    keep = (iz >= -hz) & (iz < nz + hz) & (ix >= -hx) & (ix < nx + hx)
    W = (nz + 2 * hz) * (nx + 2 * hx)
    idx = (frame[:, None, None] * W + np.clip(rows, 0, nz + 2 * hz - 1) * (nx + 2 * hx)
           + np.clip(cols, 0, nx + 2 * hx - 1))
    ok = keep[:, None, None] & (rows >= 0) & (rows < nz + 2 * hz) & (cols >= 0) & (cols < nx + 2 * hx)
    flat = out.reshape(-1)
    n = flat.size
    flat += (np.bincount(idx[ok], weights=vals.real[ok], minlength=n)
             + 1j * np.bincount(idx[ok], weights=vals.imag[ok], minlength=n))
    return out[:, hz:hz + nz, hx:hx + nx].astype(np.complex64)
