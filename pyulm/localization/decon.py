"""Localization by sparse non-negative deconvolution.

Each frame ``y`` (|IQ| minus its median background) is modelled as a sum of
PSFs, ``y ≈ Σ_i a_i h(· − p_i)`` with few bubbles ``a_i > 0``: the lasso

    min  ‖y − H x‖² + λ ‖x‖₁   subject to  x ≥ 0

with the universal-threshold λ of :func:`default_lambda` (:mod:`.decon_model`).
Two solvers (``solver=``):

* **greedy** (the default): bubbles at continuous positions, added where the
  residual's matched filter exceeds λ/2 (the lasso's entry condition),
  refitted jointly by damped Gauss-Newton and pruned by the lasso's condition
  (:mod:`.decon_greedy`); its cost follows the bubbles, not a fine grid;
* **fista**: the lasso on a grid ``upsample`` times finer than the pixels by
  greedy FISTA (Liang, Luo & Schönlieb 2022; :mod:`.decon_solve`) with FFT
  operators in polyphase form (:mod:`.decon_ops`); bubbles are the local
  maxima of the fine map's mass, refined by the centroid (:mod:`.decon_peaks`).
  It alone has the **multi-frame variant** (``temporal > 0``: adds
  ``γ Σ_t ‖x_t − x_{t−1}‖²``, favouring bubble maps that change little
  between consecutive frames).

Registered as the ``"decon"`` localization method.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..tables import Localizations
from .._parallel import chunk_bounds, default_workers
from .decon_greedy import greedy_deconvolve
from .decon_fork import map_chunks_forked
from .decon_model import (_amplitude, _check_lam, _column_norm, _options, _prepare, _universal_lambda, default_lambda,
                          fine_psf)
from .decon_ops import PolyphaseOperator, SeparableOperator, make_operator
from .decon_peaks import fista_peaks, top_per_frame
from .decon_psf import PatchPSF
from .decon_solve import greedy_fista
from .registry import register_method

CHUNK = 32  # frames per chunk of the greedy solver (its CPU time per frame: 5 % more at 16, 20 % more at 8)

__all__ = ["deconvolve", "default_lambda", "localize_decon", "greedy_localize", "fine_psf", "PolyphaseOperator",
           "SeparableOperator"]


def deconvolve(frames, *, fwhm=(3, 3), psf=None, upsample: int = 3, lam=None, lam_factor: float = 1.0,
               n_iter: int = 70, temporal: float = 0.0, background: str = "median", tol: float = 1e-4):
    """Non-negative sparse deconvolution of each frame on a finer grid (greedy FISTA).

    Solves ``min ‖y − Hx‖² + λ‖x‖₁ (+ γ Σ‖x_t − x_{t−1}‖²), x ≥ 0`` for all
    frames together; see the module docstring for the model and the λ rule.
    Fine point ``j`` sits at pixel coordinate ``(j − (u − 1)/2) / u``.

    Parameters
    ----------
    frames : array_like (z, x, t) or (z, x)
        IQ or amplitude; the amplitude is used; never modified.
    fwhm : (float, float)
        Gaussian PSF FWHM (z, x) in pixels when ``psf`` is None.
    psf : array_like (kz, kx), optional
        Pixel-grid PSF (odd sizes, centred), e.g. ``pyulm.psf.estimate_psf(...).image``.
    upsample : int
        Fine points per pixel (default 3).
    lam : float or array_like (t,), optional
        Sparsity weight (> 0); default the universal threshold × ``lam_factor``.
    lam_factor : float
        Multiplier of the default λ (> 0).
    n_iter : int
        Maximum iterations of greedy FISTA (default 70: it reaches a lower
        objective than the 100 plain-FISTA iterations that were the default
        before, at 70 % of their cost).
    temporal : float
        γ ≥ 0, weight of the temporal-consistency term (0: frames independent).
    background : {"median", "none"}
        Subtract each frame's median amplitude first (the speckle/noise floor,
        which a non-negative sparse map cannot explain).
    tol : float
        Stop when the relative change of x (all frames) falls below it.

    Returns
    -------
    x : ndarray (z*u, x*u, t)
        Fine bubble maps (amplitude units).
    info : dict
        ``lam`` (t,), ``n_iter`` done, ``upsample``, ``lipschitz``.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.psf import gaussian_template
    >>> from pyulm.localization.decon import deconvolve
    >>> frame = np.zeros((24, 24)); frame[7:18, 7:18] = gaussian_template(3, (11, 11))
    >>> x, info = deconvolve(frame, fwhm=3, lam=0.05, background="none")
    >>> np.unravel_index(np.argmax(x), x.shape)   # pixel 12 is fine point 12*3+1
    (np.int64(37), np.int64(37), np.int64(0))
    """
    n_iter = V.positive(n_iter, "n_iter", integer=True)
    gamma = V.positive(temporal, "temporal", allow_zero=True)
    y, u, lam_factor, fz, fx = _prepare(frames, upsample, lam_factor, background, fwhm, psf)
    h = fine_psf((fz, fx), u, psf)
    Nz, Nx, Nt = y.shape
    yb = np.ascontiguousarray(y.transpose(2, 0, 1))  # (T, Nz, Nx): FFT over the last two axes
    op = make_operator((Nz, Nx), h, u)
    lam_t = _universal_lambda(y, op.column_norm, op.Fz * op.Fx, lam_factor) if lam is None else _check_lam(lam, Nt)
    L = 2.0 * op.norm2 + (8.0 * gamma if Nt > 1 else 0.0)
    # float32 in the loop: the FFTs dominate and single precision halves their cost.
    Y = op.spectrum(yb.astype(np.float32))
    x, it = greedy_fista(op, Y, lam_t, L, 2.0 * gamma if Nt > 1 else 0.0, n_iter, tol, Nt)
    x = op.to_fine(x.astype(np.float64))
    return x.transpose(1, 2, 0), {"lam": np.asarray(lam_t, dtype=np.float64).copy(), "n_iter": it, "upsample": u,
                                  "lipschitz": L}


@register_method("decon", description="sparse non-negative deconvolution (greedy continuous solver, or FISTA on an "
                                       "upsampled grid)")
def localize_decon(frames, *, fwhm=(3, 3), number_of_particles: int = 40, n_local_max=None, psf=None,
                   upsample: int = 3, lam=None, lam_factor: float = 1.0, n_iter: int = 70, temporal: float = 0.0,
                   background: str = "median", min_mass: float = 0.0, solver: str = "auto") -> Localizations:
    """Localize bubbles by sparse non-negative deconvolution.

    Parameters
    ----------
    frames : array_like (z, x, t) or (z, x)
        Filtered IQ or amplitude; never modified.
    fwhm : (float, float)
        PSF FWHM (z, x), pixels (Gaussian PSF when ``psf`` is None).
    number_of_particles : int
        At most this many bubbles per frame (largest score first).
    n_local_max : ignored
        Accepted for the common signature.
    psf, lam, lam_factor, background
        See :func:`deconvolve`; both solvers use the same model and λ.
    upsample : int
        Fine points per pixel of the FISTA grid; for the greedy solver it only
        sets the number of unknowns ``p`` of the default λ, so both solvers
        use the same threshold.
    n_iter, temporal
        FISTA iterations and temporal weight γ (see :func:`deconvolve`).
    min_mass : float
        Keep bubbles whose score exceeds this (amplitude units; default 0).
    solver : {"auto", "greedy", "fista"}
        ``"greedy"``: bubbles at continuous positions, added where the
        residual's matched filter exceeds λ/2 and refitted jointly
        (:mod:`.decon_greedy`; fast, the default); ``"fista"``: the lasso on
        the upsampled grid (:func:`deconvolve`), needed for ``temporal > 0``;
        ``"auto"``: greedy unless ``temporal > 0``.

    Returns
    -------
    Localizations
        0-based pixel positions; ``intensity`` is |frames| at the nearest
        pixel; column ``score`` is the bubble's amplitude (greedy: the fitted
        PSF amplitude; FISTA: the peak mass, the sum of ``x`` over one pixel).

    Examples
    --------
    >>> import numpy as np, pyulm
    >>> from pyulm.psf import gaussian_template
    >>> frame = np.zeros((24, 24)); frame[7:18, 5:16] = gaussian_template(3, (11, 11), center=(0.33, -0.33))
    >>> locs = pyulm.localize(frame, "decon", fwhm=3, number_of_particles=3, lam=0.05, background="none")
    >>> len(locs), round(float(locs.z[0]), 2), round(float(locs.x[0]), 2)
    (1, 12.33, 9.67)
    """
    arr = V.as_frames(frames)
    n_part = V.positive(number_of_particles, "number_of_particles", integer=True)
    min_mass = V.positive(min_mass, "min_mass", allow_zero=True)
    V.choice(solver, "solver", {"auto", "greedy", "fista"})
    gamma = V.positive(temporal, "temporal", allow_zero=True)
    if solver == "greedy" and gamma > 0:
        raise ValueError(f"temporal: the greedy solver treats frames independently; temporal={temporal!r} "
                         "needs solver='fista' (or 'auto')")
    if solver == "fista" or (solver == "auto" and gamma > 0):
        x, info = deconvolve(arr, fwhm=fwhm, psf=psf, upsample=upsample, lam=lam, lam_factor=lam_factor,
                             n_iter=n_iter, temporal=temporal, background=background)
        u = info["upsample"]
        t, cz, cx, score = fista_peaks(x, u, n_part, min_mass)
        zpix, xpix = (cz - (u - 1) / 2.0) / u, (cx - (u - 1) / 2.0) / u
    else:
        V.positive(n_iter, "n_iter", integer=True)
        t, zpix, xpix, score = greedy_localize(arr, fwhm=fwhm, psf=psf, upsample=upsample, lam=lam,
                                               lam_factor=lam_factor, background=background)
        keep = np.nonzero(score > min_mass)[0]
        keep = np.sort(keep[top_per_frame(t[keep], score[keep], n_part)])
        t, zpix, xpix, score = t[keep], zpix[keep], xpix[keep], score[keep]
    Nz, Nx = arr.shape[:2]
    iz = np.clip(np.rint(zpix).astype(int), 0, Nz - 1)
    ix = np.clip(np.rint(xpix).astype(int), 0, Nx - 1)
    o = np.lexsort((iz, ix, t))  # frame, then x, then z, like the other methods
    return Localizations(z=zpix[o], x=xpix[o], frame=t[o], intensity=np.abs(arr[iz[o], ix[o], t[o]]),
                         extra={"score": score[o]})


def greedy_localize(frames, *, fwhm=(3, 3), psf=None, upsample: int = 3, lam=None, lam_factor: float = 1.0,
                    background: str = "median"):
    """Every bubble the greedy solver finds (no cap per frame), chunks of frames on forked processes or threads.

    Parameters
    ----------
    frames : array_like (z, x, t) or (z, x)
        IQ or amplitude; never modified.
    fwhm, psf, upsample, lam, lam_factor, background
        As for :func:`localize_decon`.

    Returns
    -------
    t, z, x, a : ndarray
        Frame, position (pixels, 0-based) and amplitude of each bubble, by frame.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.psf import gaussian_template
    >>> from pyulm.localization.decon import greedy_localize
    >>> frame = np.zeros((24, 24)); frame[7:18, 5:16] = 2 * gaussian_template(3, (11, 11), center=(0.2, 0.1))
    >>> t, z, x, a = greedy_localize(frame, fwhm=3, lam=0.05, background="none")
    >>> np.round([z[0], x[0], a[0]], 3).tolist()
    [12.2, 10.1, 2.0]
    """
    arr, u, lam_factor, fz, fx = _options(frames, upsample, lam_factor, background, fwhm, psf)
    model = PatchPSF((fz, fx), psf, fine=lambda s: fine_psf((fz, fx), s, psf))
    Nz, Nx, Nt = arr.shape
    lam_t = None if lam is None else _check_lam(lam, Nt)
    norm = _column_norm(fine_psf((fz, fx), u, psf), u) if lam is None else None

    def chunk(lo, hi):  # the amplitude and λ of each chunk on its thread too: no serial pass over the block
        y = _amplitude(arr[:, :, lo:hi], background)
        lam_c = _universal_lambda(y, norm, Nz * u * Nx * u, lam_factor) if lam is None else lam_t[lo:hi]
        return greedy_deconvolve(y.transpose(2, 0, 1), model, 0.5 * lam_c)  # contiguous (_amplitude)

    # Chunks of about CHUNK frames, at least one per worker: the workers pull them from a queue, so one
    # that another process slows down takes fewer (a frame's bubbles do not depend on its chunk). Forked
    # processes where safe (.decon_fork: threads would hand the GIL to each other thousands of times).
    workers = default_workers()
    bounds = chunk_bounds(Nt, max(workers, -(-Nt // CHUNK)), min_chunk=4)
    parts = map_chunks_forked(chunk, bounds, workers, Nt * Nz * Nx)
    t = np.concatenate([p[0] + lo for p, (lo, _) in zip(parts, bounds)])
    return t, *(np.concatenate([p[k] for p in parts]) for k in (1, 2, 3))
