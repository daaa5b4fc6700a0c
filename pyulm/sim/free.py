"""Free-motion microbubble sequences (the CycleULM "MB-only" domain)."""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..tables import Localizations
from . import _checks as C
from .noise import add_thermal_noise, add_tissue_clutter
from .psf import PSF, gaussian_psf
from .render import render_points
from .result import SimResult, make_meta


def _fold(p, lo, hi):
    """Reflect positions into [lo, hi] (a bouncing wall); also the sign of dfold/dp."""
    L = hi - lo
    m = np.mod(p - lo, 2 * L)
    return lo + L - np.abs(m - L), np.where(m < L, 1.0, -1.0)


def free_motion(
    shape=(64, 64),
    n_frames: int = 16,
    n_bubbles=(5, 30),
    intensity=(0.2, 1.0),
    speed=(0.0, 2.0),
    *,
    acceleration: float = 0.1,
    psf_fwhm=(3.0, 3.0),
    psf: PSF | None = None,
    shrink: float | None = None,
    wavelength: float = 1.0,
    snr_db: float | None = 20.0,
    clutter_db: float | None = None,
    intensity_jitter: float = 0.0,
    boundary: str = "reflect",
    frame_rate: float = 1000.0,
    complex_iq: bool = True,
    seed=None,
) -> SimResult:
    """Microbubbles moving freely in a patch, with ground truth.

    The bubble count, initial positions, intensities, speeds and directions are
    drawn from uniform ranges; each frame the position advances by the velocity,
    and the velocity receives a Gaussian perturbation (a random-acceleration
    walk). This is the "MB-only" domain used to train learned localizers
    (CycleULM): no vessels, any patch size and length.

    Parameters
    ----------
    shape : (int, int)
        Patch size (nz, nx), pixels.
    n_frames : int
        Number of frames.
    n_bubbles : int or (int, int)
        Number of bubbles, or an inclusive range it is drawn from.
    intensity : float or (float, float)
        Range of the bubbles' peak amplitudes.
    speed : float or (float, float)
        Range of the initial speed, pixels/frame; the direction is uniform.
    acceleration : float
        Standard deviation of the per-frame velocity change (each axis),
        pixels/frame^2; 0 gives straight lines.
    psf_fwhm : float or (float, float)
        FWHM (z, x) of the Gaussian PSF, pixels (ignored when ``psf`` is given).
    psf : PSF, optional
        Any PSF (e.g. :func:`psf_from_transducer`, :func:`psf_from_array`).
    shrink : float, optional
        Scale the PSF widths by this factor (CycleULM trains with 0.5).
    wavelength : float
        Wavelength in pixels along z for the IQ depth phase (Gaussian PSF only).
    snr_db : float or None
        ``20 log10(mean bubble intensity / noise std)``, where the complex white
        noise has ``E|n|^2 = std^2``; None or inf: no noise.
    clutter_db : float or None
        Tissue clutter RMS over the mean bubble intensity, dB; None: no clutter.
    intensity_jitter : float
        Relative (log-normal) frame-to-frame fluctuation of each bubble's intensity.
    boundary : {"reflect", "leave"}
        Bubbles bounce off the patch edges (constant count), or leave it.
    frame_rate : float
        Hz (metadata and clutter breathing).
    complex_iq : bool
        Return complex IQ (True) or its envelope ``|IQ|`` as float32.
    seed : int, numpy.random.Generator or None
        Same seed, same output.

    Returns
    -------
    SimResult
        ``iq`` (z, x, t) and ``gt`` (one row per bubble per frame inside the
        patch, with ``bubble_id``, ``vz``, ``vx``).

    Examples
    --------
    >>> from pyulm.sim import free_motion
    >>> sim = free_motion((32, 48), n_frames=8, n_bubbles=5, seed=0)
    >>> sim.iq.shape, sim.iq.dtype, len(sim.gt)
    ((32, 48, 8), dtype('complex64'), 40)
    """
    nz, nx = C.shape2(shape)
    nt = V.positive(n_frames, "n_frames", integer=True)
    nb_lo, nb_hi = C.value_range(n_bubbles, "n_bubbles", integer=True)
    i_lo, i_hi = C.value_range(intensity, "intensity", allow_zero=False)
    s_lo, s_hi = C.value_range(speed, "speed")
    acc = V.positive(acceleration, "acceleration", allow_zero=True)
    jit = V.positive(intensity_jitter, "intensity_jitter", allow_zero=True)
    fr = V.positive(frame_rate, "frame_rate")
    V.choice(boundary, "boundary", ("reflect", "leave"))
    snr = C.db(snr_db, "snr_db")
    clut = C.db(clutter_db, "clutter_db")
    if psf is None:
        psf = gaussian_psf(psf_fwhm, wavelength=wavelength)
    elif not isinstance(psf, PSF):
        raise ValueError(f"psf: expected a pyulm.sim.PSF, got {type(psf).__name__}")
    if shrink is not None:
        psf = psf.shrink(shrink)
    psf.check_fits((nz, nx))
    rng = C.rng_of(seed)

    nb = int(rng.integers(nb_lo, nb_hi + 1))
    z0 = rng.uniform(0, nz - 1, nb)
    x0 = rng.uniform(0, nx - 1, nb)
    amp = rng.uniform(i_lo, i_hi, nb)
    sp = rng.uniform(s_lo, s_hi, nb)
    ang = rng.uniform(0, 2 * np.pi, nb)
    dv = rng.normal(0.0, acc, (2, nt, nb)) if acc > 0 else np.zeros((2, nt, nb))
    dv[:, 0] = 0
    vz = sp * np.cos(ang) + np.cumsum(dv[0], axis=0)  # (t, bubble)
    vx = sp * np.sin(ang) + np.cumsum(dv[1], axis=0)
    pz = z0 + np.vstack([np.zeros((1, nb)), np.cumsum(vz[:-1], axis=0)])
    px = x0 + np.vstack([np.zeros((1, nb)), np.cumsum(vx[:-1], axis=0)])
    if boundary == "reflect":
        pz, sz = _fold(pz, -0.5, nz - 0.5)
        px, sx = _fold(px, -0.5, nx - 0.5)
        vz, vx = vz * sz, vx * sx
    inten = np.broadcast_to(amp, (nt, nb))
    if jit > 0:
        inten = inten * np.exp(jit * rng.standard_normal((nt, nb)) - jit ** 2 / 2)
    frame = np.broadcast_to(np.arange(nt)[:, None], (nt, nb))
    bid = np.broadcast_to(np.arange(nb)[None, :], (nt, nb))

    buf = np.zeros((nt, nx, nz), np.complex64)
    render_points(pz, px, frame, inten, (nz, nx), nt, psf, out=buf)
    mean_i = (i_lo + i_hi) / 2
    if clut is not None and np.isfinite(clut):
        add_tissue_clutter(buf, mean_i * 10 ** (clut / 20), psf, rng, frame_rate=fr)
    if snr is not None and np.isfinite(snr):
        add_thermal_noise(buf, mean_i / 10 ** (snr / 20), rng)

    inside = (pz >= -0.5) & (pz < nz - 0.5) & (px >= -0.5) & (px < nx - 0.5)
    params = {
        "simulator": "free_motion", "shape": [nz, nx], "n_frames": nt, "n_bubbles": [nb_lo, nb_hi],
        "intensity": [i_lo, i_hi], "speed": [s_lo, s_hi], "acceleration": acc, "psf": psf.params,
        "psf_fwhm": list(psf.fwhm), "snr_db": snr, "clutter_db": clut, "intensity_jitter": jit,
        "boundary": boundary, "frame_rate": fr, "seed": seed if not isinstance(seed, np.random.Generator) else "generator",
    }
    gt = Localizations(
        pz[inside], px[inside], frame[inside], inten[inside],
        extra={"bubble_id": bid[inside].astype(np.int64), "vz": vz[inside], "vx": vx[inside]},
        meta=make_meta(psf, fr, (nz, nx), params),
    )
    # rows sorted by frame, then bubble: the order of a localizer's output
    iq = buf.transpose(2, 1, 0)
    if not complex_iq:
        iq = np.abs(buf).transpose(2, 1, 0)
    return SimResult(iq=iq, gt=gt, psf=psf, frame_rate=fr, params=params)
