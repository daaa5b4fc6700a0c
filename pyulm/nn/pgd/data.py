"""PgD training examples: random bubble tables, their rasterised bubble maps (the network's
spatial condition) and the physics images they make (numpy only; no torch).

Layouts (the network's, batch first): images ``(n, 2, nz, nx)`` float32, channels
(real, imaginary) of IQ; bubble maps ``(n, 3, nz, nx)`` float32, channels (real,
imaginary) of ``amplitude * exp(-4i pi z / wavelength)`` and the amplitude, each bubble
split over its four nearest pixels with bilinear weights (so its sub-pixel position
survives rasterisation). pyulm's frames are ``(nz, nx, n)`` complex: :func:`to_channels`
and :func:`from_channels` convert.
"""
from __future__ import annotations

import numpy as np

from .physics import PhysicsParams, check_bubbles, normalise, physics_psf, simulate_images

__all__ = ["random_bubbles", "draw_bubbles", "bubble_map", "to_channels", "from_channels", "make_examples"]

#: Bubble amplitudes drawn by :func:`random_bubbles` (peak |IQ| of one bubble).
AMPLITUDE_RANGE = (0.3, 1.0)


def random_bubbles(rng, n_frames: int, shape, density: float, *, amplitude=AMPLITUDE_RANGE) -> np.ndarray:
    """A bubble table [z, x, frame, amplitude] of ``n_frames`` frames.

    Each frame holds a Poisson number of bubbles (mean ``density``) at uniform
    positions over the image (pixel centres 0 .. n - 1) with uniform amplitudes in
    ``amplitude``.

    Examples
    --------
    >>> b = random_bubbles(0, 10, (32, 32), 3.0)
    >>> b.shape[1], bool(b[:, :2].max() <= 31), bool(set(b[:, 2].astype(int)) <= set(range(10)))
    (4, True, True)
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    nz, nx = (int(s) for s in shape[:2])
    if not np.isfinite(density) or density < 0:
        raise ValueError(f"density: expected a mean number of bubbles per frame >= 0, got {density!r}")
    counts = rng.poisson(float(density), int(n_frames))
    k = int(counts.sum())
    return np.column_stack([rng.uniform(0, nz - 1, k), rng.uniform(0, nx - 1, k),
                            np.repeat(np.arange(int(n_frames)), counts), rng.uniform(*amplitude, k)])


def draw_bubbles(rng, n_frames: int, shape, density) -> np.ndarray:
    """:func:`random_bubbles` with ``density`` a mean per frame, or a (low, high) range from which
    each frame draws its own mean (uniformly)."""
    if np.ndim(density):
        lo, hi = density
        return np.concatenate([np.zeros((0, 4))] + [random_bubbles(rng, 1, shape, rng.uniform(lo, hi)) + [0, 0, f, 0]
                                                    for f in range(int(n_frames))])
    return random_bubbles(rng, n_frames, shape, density)


def bubble_map(params: PhysicsParams, bubbles, shape, n_frames: int | None = None) -> np.ndarray:
    """The bubble map (n, 3, nz, nx) float32 of a bubble table (see the module docstring).

    The phase is the depth phase of each bubble under ``params`` (the wavelength in
    pixels of :func:`~pyulm.nn.pgd.physics.physics_psf`), so the map fixes the image
    the network must produce. Bubbles outside the image are left out.
    """
    b = check_bubbles(bubbles)
    nz, nx = (int(s) for s in shape[:2])
    nt = int(n_frames) if n_frames is not None else (int(b[:, 2].max()) + 1 if len(b) else 1)
    wl = physics_psf(params).wavelength
    out = np.zeros((nt, 3, nz, nx), np.float64)
    if len(b):
        z, x, t, a = b[:, 0], b[:, 1], b[:, 2].astype(np.int64), b[:, 3]
        ph = np.exp(-4j * np.pi * z / wl) * a
        z0, x0 = np.floor(z).astype(np.int64), np.floor(x).astype(np.int64)
        fz, fx = z - z0, x - x0
        for dz, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            w = (fz if dz else 1 - fz) * (fx if dx else 1 - fx)
            zi, xi = z0 + dz, x0 + dx
            ok = (zi >= 0) & (zi < nz) & (xi >= 0) & (xi < nx) & (t >= 0) & (t < nt) & (w > 0)
            for c, v in enumerate((ph.real, ph.imag, a)):
                np.add.at(out, (t[ok], c, zi[ok], xi[ok]), w[ok] * v[ok])
    return out.astype(np.float32)


def to_channels(iq) -> np.ndarray:
    """Complex frames (nz, nx, n) -> network images (n, 2, nz, nx) float32."""
    iq = np.asarray(iq)
    if iq.ndim == 2:
        iq = iq[:, :, None]
    return np.ascontiguousarray(np.stack([iq.real, iq.imag]).transpose(3, 0, 1, 2), dtype=np.float32)


def from_channels(x) -> np.ndarray:
    """Network images (n, 2, nz, nx) -> complex64 frames (nz, nx, n) (pyulm's layout)."""
    x = np.asarray(x)
    return np.ascontiguousarray((x[:, 0] + 1j * x[:, 1]).transpose(1, 2, 0)).astype(np.complex64)


def make_examples(params_list, n_per_params: int, shape, density, rng) -> dict:
    """Training examples: for every condition of ``params_list``, ``n_per_params`` frames of
    random bubbles (mean ``density`` per frame, or a (low, high) range drawn per frame).

    Returns
    -------
    dict
        ``images`` (N, 2, nz, nx), ``maps`` (N, 3, nz, nx), ``cond`` (N, len(FIELDS)) float32,
        ``params_index`` (N,) int: the condition of each example.
    """
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    imgs, maps, cond, idx = [], [], [], []
    for i, p in enumerate(params_list):
        b = draw_bubbles(rng, n_per_params, shape, density)
        iq, _ = simulate_images(p, b, tuple(shape[:2]) + (n_per_params,))
        imgs.append(to_channels(iq))
        maps.append(bubble_map(p, b, shape, n_per_params))
        cond.append(np.repeat(normalise(p)[None], n_per_params, 0))
        idx.append(np.full(n_per_params, i))
    return {"images": np.concatenate(imgs), "maps": np.concatenate(maps), "cond": np.concatenate(cond),
            "params_index": np.concatenate(idx)}
