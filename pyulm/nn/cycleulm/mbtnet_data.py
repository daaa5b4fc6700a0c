"""Synthetic MB-only sequences for MBT-Net (numpy only), after the CycleULM paper's Methods 3.3.

Motion model (paper, "MB motion generation"): every bubble gets an initial speed drawn
uniformly from ``speed`` (pixels/frame) and a direction uniform on [0, 2 pi); each frame
its position moves by its velocity (``p[t+1] = p[t] + v[t]``), then its speed and
direction are perturbed by Gaussian noise (``sigma_speed`` pixels/frame, ``sigma_angle``
radians; a speed that would go negative is reflected). Bubbles start uniformly in the
patch grown by the farthest a bubble can travel over the sequence, so bubbles enter and
leave the patch as in real data; their number is ``density`` (bubbles per pixel²,
uniform in the range) times that area.

Frames: each bubble, intensity uniform in ``intensity``, is a 2-D Gaussian of FWHM
``fwhm`` (pixels; z and x drawn independently in the range per sequence: MB-DT's
domain-B PSF is the data's PSF x 0.5, 1-2.5 px), plus optional white noise (standard
deviation uniform in ``noise``); each frame is then divided by its maximum and clipped
at 0, which is how :func:`pyulm.nn.cycleulm.mbtnet_infer.predict` normalises its input.

Ground truth on the x4 grid (output pixel ``j`` is centred on input position
``(j - 1) / 4``, see :mod:`.mbtnet_model`): the trajectory map is 1 on every x4 pixel
that a bubble's path between consecutive frames crosses (segments sampled every 1/8
pixel); the velocity maps hold the mean displacement per frame (v_z, v_x in **input
pixels per frame**) of the segments through each pixel, spread to its 3 x 3
neighbourhood, where the velocity weight is 1 (localisations land within a fraction of
a pixel of a path, where the track decoder reads the velocity).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..._validate import round_half_away

UPSAMPLE = 4  # must equal mbtnet_model.UPSAMPLE (this module stays torch-free)
FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))


@dataclass(frozen=True)
class MotionConfig:
    """Parameters of the synthetic sequences (ranges are drawn uniformly per sequence)."""

    frames: int = 8
    patch: tuple = (40, 80)          # square patch sizes, pixels (paper: 40 x 40 and 80 x 80)
    density: tuple = (0.001, 0.02)   # bubbles per pixel² (40 x 40: 1.6 to 32 bubbles in view)
    speed: tuple = (0.2, 2.5)        # initial speed, pixels/frame
    sigma_speed: float = 0.1         # per-frame speed perturbation, pixels/frame
    sigma_angle: float = 0.15        # per-frame direction perturbation, radians
    intensity: tuple = (0.2, 1.0)    # peak amplitude (frames are normalised to max 1)
    fwhm: tuple = (1.0, 2.5)         # Gaussian MB-only PSF FWHM, pixels (z, x drawn independently)
    noise: tuple = (0.0, 0.03)       # white-noise standard deviation before normalisation

    def __post_init__(self):
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "patch":
                ok = isinstance(v, tuple) and len(v) >= 1 and all(
                    isinstance(p, int) and not isinstance(p, bool) and 8 <= p <= 1024 and p % 4 == 0 for p in v)
                if not ok:
                    raise ValueError(f"mbtnet [data] patch: expected a list of sizes, multiples of 4 in [8, 1024], "
                                     f"got {v!r}")
            elif f.name == "frames":
                if not isinstance(v, int) or isinstance(v, bool) or v < 2:
                    raise ValueError(f"mbtnet [data] frames: expected a whole number >= 2, got {v!r}")
            elif isinstance(v, tuple):
                if (len(v) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool)
                                           and math.isfinite(a) and a >= 0 for a in v) or v[0] > v[1]):
                    raise ValueError(f"mbtnet [data] {f.name}: expected [low, high] with 0 <= low <= high, got {v!r}")
            elif not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                raise ValueError(f"mbtnet [data] {f.name}: expected a number >= 0, got {v!r}")
        if self.fwhm[0] <= 0:
            raise ValueError(f"mbtnet [data] fwhm: expected a positive range, got {self.fwhm!r}")

    @classmethod
    def from_dict(cls, d) -> "MotionConfig":
        known = {f.name for f in fields(cls)}
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"mbtnet [data]: unknown field(s) {bad}; expected some of {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def simulate_motion(rng: np.random.Generator, n: int, frames: int, *, speed=(0.2, 2.5), sigma_speed=0.1,
                    sigma_angle=0.15, start_low=(0.0, 0.0), start_high=(40.0, 40.0)) -> np.ndarray:
    """Positions of ``n`` bubbles over ``frames`` frames under the paper's motion model.

    Parameters
    ----------
    rng : numpy.random.Generator
    n, frames : int
    speed : (float, float)
        Range of the initial speed, pixels/frame.
    sigma_speed, sigma_angle : float
        Standard deviations of the per-frame perturbation of speed (pixels/frame) and
        direction (radians).
    start_low, start_high : (float, float)
        Box (z, x) of the uniform initial positions, pixels.

    Returns
    -------
    ndarray, shape (n, frames, 2)
        ``(z, x)`` of every bubble in every frame, pixels.

    Examples
    --------
    >>> p = simulate_motion(np.random.default_rng(0), 3, 5, sigma_speed=0, sigma_angle=0)
    >>> bool(np.allclose(np.diff(p, 2, axis=1), 0))   # no perturbation: straight lines at constant speed
    True
    """
    pos = np.empty((n, frames, 2))
    pos[:, 0, 0] = rng.uniform(start_low[0], start_high[0], n)
    pos[:, 0, 1] = rng.uniform(start_low[1], start_high[1], n)
    s = rng.uniform(speed[0], speed[1], n)
    a = rng.uniform(0.0, 2.0 * np.pi, n)
    for t in range(1, frames):
        pos[:, t, 0] = pos[:, t - 1, 0] + s * np.sin(a)
        pos[:, t, 1] = pos[:, t - 1, 1] + s * np.cos(a)
        s = np.abs(s + rng.normal(0.0, sigma_speed, n))
        a = a + rng.normal(0.0, sigma_angle, n)
    return pos


def render_frames(pos: np.ndarray, intensity: np.ndarray, fwhm, shape) -> np.ndarray:
    """MB-only frames (T, H, W): each bubble a Gaussian of peak ``intensity`` and FWHM ``fwhm`` (z, x) pixels."""
    n, frames, _ = pos.shape
    h, w = shape
    sz, sx = fwhm[0] * FWHM_TO_SIGMA, fwhm[1] * FWHM_TO_SIGMA
    zz, xx = np.arange(h), np.arange(w)
    out = np.empty((frames, h, w))
    for t in range(frames):
        gz = np.exp(-0.5 * ((zz[None, :] - pos[:, t, 0:1]) / sz) ** 2) * intensity[:, None]
        gx = np.exp(-0.5 * ((xx[None, :] - pos[:, t, 1:2]) / sx) ** 2)
        out[t] = gz.T @ gx
    return out


def normalise_frames(frames: np.ndarray) -> np.ndarray:
    """Each frame (axis 0) divided by its maximum (frames without signal left at 0), clipped at 0."""
    f = np.clip(frames, 0.0, None)
    m = f.reshape(f.shape[0], -1).max(axis=1)
    return f / np.where(m > 0, m, 1.0)[:, None, None]


def trajectory_maps(pos: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground truth on the x4 grid of an input of ``shape``: (trajectory, velocity (2, ...), velocity weight).

    ``pos`` (n, T, 2) in input pixels; see the module docstring for the conventions.
    """
    H, W = shape[0] * UPSAMPLE, shape[1] * UPSAMPLE
    traj = np.zeros((H, W), np.float32)
    vsum = np.zeros((2, H, W))
    cnt = np.zeros((H, W))
    if pos.shape[0] == 0 or pos.shape[1] < 2:
        return traj, vsum.astype(np.float32), cnt.astype(np.float32)
    a, d = pos[:, :-1].reshape(-1, 2), np.diff(pos, axis=1).reshape(-1, 2)
    ns = np.ceil(np.hypot(d[:, 0], d[:, 1]) * 2 * UPSAMPLE).astype(np.int64) + 1  # every 1/8 pixel
    seg = np.repeat(np.arange(a.shape[0]), ns)
    frac = (np.arange(seg.size) - np.repeat(np.cumsum(ns) - ns, ns)) / np.repeat(np.maximum(ns - 1, 1), ns)
    p = a[seg] + frac[:, None] * d[seg]
    jz = round_half_away(UPSAMPLE * p[:, 0] + 1).astype(np.int64)
    jx = round_half_away(UPSAMPLE * p[:, 1] + 1).astype(np.int64)
    key = np.unique(np.stack([jz, jx, seg]), axis=1)  # each segment counts once per pixel
    jz, jx, s = key
    inside = (jz >= 0) & (jz < H) & (jx >= 0) & (jx < W)
    traj[jz[inside], jx[inside]] = 1.0
    for dz in (-1, 0, 1):
        for dx in (-1, 0, 1):
            kz, kx = jz + dz, jx + dx
            ok = (kz >= 0) & (kz < H) & (kx >= 0) & (kx < W)
            np.add.at(cnt, (kz[ok], kx[ok]), 1.0)
            for c in (0, 1):
                np.add.at(vsum[c], (kz[ok], kx[ok]), d[s[ok], c])
    hit = cnt > 0
    vsum[:, hit] /= cnt[hit]
    return traj, vsum.astype(np.float32), hit.astype(np.float32)


def simulate_sequence(rng: np.random.Generator, cfg: MotionConfig, size: int, *, frames: int | None = None) -> dict:
    """One synthetic sequence of ``size`` x ``size`` pixels: frames, ground truth and the bubbles' paths.

    Returns
    -------
    dict
        ``frames`` (T, size, size) float32 normalised; ``traj`` (4 size, 4 size),
        ``vel`` (2, 4 size, 4 size) pixels/frame, ``vweight`` (4 size, 4 size);
        ``pos`` (n, T, 2) pixel positions and ``intensity`` (n,) of every simulated bubble
        (also those outside the patch); ``fwhm`` (z, x) pixels.
    """
    T = cfg.frames if frames is None else frames
    reach = cfg.speed[1] * (T - 1) + 3 * (cfg.sigma_speed * (T - 1))
    lo, hi = -reach, size - 1 + reach
    n = rng.poisson(rng.uniform(*cfg.density) * (hi - lo) ** 2)
    pos = simulate_motion(rng, n, T, speed=cfg.speed, sigma_speed=cfg.sigma_speed, sigma_angle=cfg.sigma_angle,
                          start_low=(lo, lo), start_high=(hi, hi))
    inten = rng.uniform(*cfg.intensity, n)
    fwhm = (rng.uniform(*cfg.fwhm), rng.uniform(*cfg.fwhm))
    img = render_frames(pos, inten, fwhm, (size, size))
    sd = rng.uniform(*cfg.noise)
    if sd > 0:
        img = img + rng.normal(0.0, sd, img.shape)
    traj, vel, vw = trajectory_maps(pos, (size, size))
    return {"frames": normalise_frames(img).astype(np.float32), "traj": traj, "vel": vel, "vweight": vw,
            "pos": pos, "intensity": inten, "fwhm": fwhm}


def simulate_batch(rng: np.random.Generator, cfg: MotionConfig, size: int, batch: int) -> tuple[np.ndarray, ...]:
    """``batch`` sequences stacked: frames (B, T, S, S), traj (B, 4S, 4S), vel (B, 2, 4S, 4S), vweight (B, 4S, 4S)."""
    seqs = [simulate_sequence(rng, cfg, size) for _ in range(batch)]
    return tuple(np.stack([s[k] for s in seqs]) for k in ("frames", "traj", "vel", "vweight"))
