"""PgD's reference images: the physics images of a bubble table under an imaging condition
(numpy only; no torch). Also reachable from :mod:`pyulm.nn.pgd.physics`.

:func:`simulate_images` renders complex IQ with the transducer PSF model
(:func:`physics_psf`, built on :func:`pyulm.psf.psf_from_transducer`) — what PgD is
trained on and scored against — or, for held-out checks, with a PSF simulated by PyMUST.
"""
from __future__ import annotations

import math

import numpy as np

from ... import _validate as V

__all__ = ["physics_psf", "pymust_physics_psf", "simulate_images", "check_bubbles"]


def _params(params):
    from .physics import PhysicsParams  # physics re-exports this module's names: import it late

    if not isinstance(params, PhysicsParams):
        raise ValueError(f"params: expected PhysicsParams, got {type(params).__name__}")
    return params


def physics_psf(params):
    """The :class:`pyulm.psf.PSF` of ``params`` in pixels (the transducer model with a sinc lateral profile).

    The pulse-echo envelope is the burst of ``n_cycles`` (``n_cycles / 2`` wavelengths
    long in depth) through the transducer's Gaussian response (``0.441 / B``
    wavelengths): Gaussian widths add in quadrature. The receive F-number is
    :attr:`PhysicsParams.effective_f_number`, the transmit focus comes from the
    angle span (see :func:`pyulm.psf.psf_from_transducer`).
    """
    from ...psf import psf_from_transducer

    params = _params(params)
    axial_wl = math.hypot(2 * math.log(2) / math.pi / params.fractional_bandwidth, params.n_cycles / 2)
    return psf_from_transducer(
        params.center_frequency_mhz, fractional_bandwidth=2 * math.log(2) / math.pi / axial_wl,
        f_number=params.effective_f_number, angles=params.angles_deg, speed_of_sound=params.speed_of_sound,
        pixel_size_mm=params.pixel_size_mm, lateral="sinc")


def pymust_physics_psf(params):
    """The PSF of ``params`` simulated by PyMUST (:func:`pyulm.sim.physical.pymust_psf`), sampled on the
    pixel grid over twice the model PSF's window (the scatterer at ``depth_mm``)."""
    from ..._optional import require

    require("pymust", "PgD's PyMUST physics mode")
    from ...sim.physical import pymust_psf

    hz, hx = physics_psf(params).half_window
    return pymust_psf(params.center_frequency_mhz, fractional_bandwidth=params.fractional_bandwidth,
                      pitch_mm=params.pitch_mm, n_elements=params.n_elements, depth_mm=params.depth_mm,
                      f_number=params.f_number, angles=params.angles_deg, speed_of_sound=params.speed_of_sound,
                      pixel_size_mm=params.pixel_size_mm, half_size=(2 * hz, 2 * hx))


def simulate_images(params, bubbles, shape, *, seed=None, snr_db: float | None = None,
                    mode: str = "model"):
    """Physics images (complex IQ) of a bubble table under the condition ``params``.

    Parameters
    ----------
    params : PhysicsParams
    bubbles : array_like (k, 4)
        One row per bubble: z, x (pixels, 0-based: the centre of the first pixel is 0),
        frame (0-based), amplitude (peak modulus of its PSF).
    shape : (nz, nx) or (nz, nx, n_frames)
        Image size in pixels; the number of frames defaults to the largest frame + 1.
    seed : int, optional
        Seeds the noise (only used with ``snr_db``).
    snr_db : float, optional
        Add complex white noise: a unit bubble is ``snr_db`` above the noise of one
        transmit, and compounding ``n_angles`` transmits lowers it by ``sqrt(n_angles)``.
        Default: no noise (what PgD learns).
    mode : {"model", "pymust"}
        ``"model"``: the transducer PSF model (:func:`physics_psf`; what PgD learns);
        ``"pymust"``: a PSF simulated by PyMUST for the same probe, pulse and beamforming
        (:func:`pyulm.sim.physical.pymust_psf`; optional dependency, seconds per
        condition; its pulse is PyMUST's own, so ``n_cycles`` is not used): an
        independent reference for held-out checks.

    Returns
    -------
    images : ndarray complex64 (nz, nx, n_frames)
        Beamformed IQ: each bubble is ``envelope(z - z0, x - x0) * exp(-4i pi z0 / wavelength)``
        (:mod:`pyulm.psf.model`), so overlapping bubbles interfere.
    psf : pyulm.psf.PSF
        The PSF used (:func:`physics_psf`).

    Examples
    --------
    >>> from pyulm.nn.pgd.physics import PhysicsParams
    >>> iq, psf = simulate_images(PhysicsParams(), [[16.0, 16.0, 0, 1.0]], (32, 32))
    >>> iq.shape, round(float(abs(iq).max()), 2)
    ((32, 32, 1), 1.0)
    """
    from ...sim.render import render_points

    params = _params(params)
    b = check_bubbles(bubbles)
    s = tuple(int(v) for v in np.atleast_1d(np.asarray(shape)).ravel())
    if len(s) not in (2, 3) or min(s) < 1:
        raise ValueError(f"shape: expected (nz, nx) or (nz, nx, n_frames) of positive sizes, got {shape!r}")
    nt = s[2] if len(s) == 3 else (int(b[:, 2].max()) + 1 if len(b) else 1)
    V.choice(mode, "mode", ("model", "pymust"))
    psf = physics_psf(params) if mode == "model" else pymust_physics_psf(params)
    iq = render_points(b[:, 0], b[:, 1], b[:, 2].astype(np.int64), b[:, 3], s[:2], nt, psf)
    if snr_db is not None:
        sigma = 10 ** (-float(snr_db) / 20) / math.sqrt(params.n_angles)
        rng = np.random.default_rng(seed)
        noise = rng.standard_normal((2,) + iq.shape) * (sigma / math.sqrt(2))
        iq = (iq + (noise[0] + 1j * noise[1])).astype(np.complex64)
    return iq, psf


def check_bubbles(bubbles) -> np.ndarray:
    """A bubble table as a float (k, 4) array [z, x, frame, amplitude]; one clear error otherwise."""
    b = np.array(bubbles, dtype=float, copy=True)
    if b.size == 0:
        return np.zeros((0, 4))
    if b.ndim != 2 or b.shape[1] != 4:
        raise ValueError(f"bubbles: expected a (k, 4) table [z, x, frame, amplitude], got shape {b.shape}")
    if not np.all(np.isfinite(b)):
        raise ValueError("bubbles: expected finite values, got NaN or Inf")
    if np.any(b[:, 2] < 0) or np.any(b[:, 2] != np.round(b[:, 2])):
        raise ValueError("bubbles: the frame column (third) must hold whole numbers >= 0")
    return b
