"""Generating labelled microbubble images with a trained PgD model (imports torch).

:func:`sample` renders given bubbles under an imaging condition; :func:`sample_frames`
draws random bubbles too and returns them as the ground truth. Both return pyulm's
frame layout, complex64 IQ ``(nz, nx, n)``, in units of a unit-amplitude bubble's peak
(as :func:`pyulm.nn.pgd.physics.simulate_images`, which they imitate).
"""
from __future__ import annotations

import warnings

import numpy as np

from .data import bubble_map, from_channels, random_bubbles
from .physics import PgDRangeWarning, PhysicsParams, check_bubbles, normalise

__all__ = ["sample", "sample_frames", "load"]


def load(weights=None, device=None):
    """(model, config) of a PgD model directory (default: the shipped model in ``pyulm/nn/weights/pgd``)."""
    from .model_dir import load as _load

    return _load(weights, device)


def _shape(shape):
    s = tuple(np.atleast_1d(np.asarray(shape)).ravel().tolist())
    if len(s) != 2 or any(not float(v).is_integer() or v < 4 or v % 4 for v in s):
        raise ValueError(f"shape: expected (nz, nx), each a multiple of 4 pixels >= 4 (32-64 px as trained), "
                         f"got {shape!r}")
    return int(s[0]), int(s[1])


def _check_params(params) -> PhysicsParams:
    if isinstance(params, dict):
        params = PhysicsParams.from_dict(params)
    if not isinstance(params, PhysicsParams):
        raise ValueError(f"params: expected PhysicsParams or a dict of its fields, got {type(params).__name__}")
    for msg in params.out_of_range():
        warnings.warn(f"pgd: {msg}; the model extrapolates there", PgDRangeWarning, stacklevel=3)
    return params


def sample(params, bubbles, *, shape, weights=None, steps: int | None = None, seed: int = 0, device=None,
           batch_size: int = 64, n_frames: int | None = None) -> np.ndarray:
    """Generate the images of a bubble table under an imaging condition.

    Parameters
    ----------
    params : PhysicsParams or dict
        The imaging condition; a field outside the trained range warns
        (:class:`~pyulm.nn.pgd.physics.PgDRangeWarning`, naming it and the range).
    bubbles : array_like (k, 4)
        [z, x, frame, amplitude]: pixels (0-based), frame (0-based), peak amplitude.
    shape : (nz, nx)
        Image size, pixels (multiples of 4; trained at 32 x 32, runs at 32-64 px).
    weights : path, optional
        A PgD model directory; default the shipped model.
    steps : int, optional
        DDIM steps; default the model's ``inference.steps``.
    seed : int
        Same seed, same images.
    device : str, optional
        torch device; default CUDA when available.
    batch_size : int
        Images per network call.
    n_frames : int, optional
        Number of frames; default the largest frame of ``bubbles`` + 1.

    Returns
    -------
    ndarray complex64 (nz, nx, n_frames)

    Examples
    --------
    >>> from pyulm.nn.pgd import PhysicsParams
    >>> iq = sample(PhysicsParams(), [[16.0, 16.0, 0, 1.0]], shape=(32, 32), steps=10)  # doctest: +SKIP
    """
    p = _check_params(params)
    nz, nx = _shape(shape)
    b = check_bubbles(bubbles)
    last = int(b[:, 2].max()) + 1 if len(b) else 1
    if n_frames is None:
        nt = last
    else:
        from ... import _validate as V

        nt = V.positive(n_frames, "n_frames", integer=True)
        if len(b) and last > nt:
            raise ValueError(f"n_frames: the bubbles reach frame {last - 1} (0-based); expected n_frames >= {last}, "
                             f"got {nt}")
    from .diffusion import ddim_sample

    model, cfg = load(weights, device)
    steps = int(cfg["inference"].get("steps", 20)) if steps is None else steps
    maps = bubble_map(p, b, (nz, nx), nt)
    cond = np.repeat(normalise(p)[None], nt, 0)
    x = ddim_sample(model, maps, cond, steps=steps, seed=seed, batch_size=batch_size)
    return from_channels(x)


def sample_frames(params, n: int, *, shape, density: float, seed: int = 0, weights=None, steps: int | None = None,
                  device=None, batch_size: int = 64):
    """``n`` generated frames of random bubbles and their ground truth.

    Parameters
    ----------
    params : PhysicsParams or dict
    n : int
        Number of frames.
    shape : (nz, nx)
        Frame size, pixels.
    density : float
        Mean number of bubbles per frame (Poisson), uniform positions, amplitudes 0.3-1.
    seed : int
        Seeds the bubbles and the sampler.
    weights, steps, device, batch_size
        As :func:`sample`.

    Returns
    -------
    images : ndarray complex64 (nz, nx, n)
    bubbles : ndarray (k, 4)
        The ground truth [z, x, frame, amplitude] (pixels 0-based, frame 0-based).
    """
    from ... import _validate as V

    n = V.positive(n, "n", integer=True)
    nz, nx = _shape(shape)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 1]))
    b = random_bubbles(rng, n, (nz, nx), density)
    return sample(params, b, shape=(nz, nx), weights=weights, steps=steps, seed=seed, device=device,
                  batch_size=batch_size, n_frames=n), b
