"""Training data: pyulm.sim free-motion patches generated on the fly.

Every batch is drawn from fresh simulations whose PSF width, SNR, bubble
density, intensity range and clutter residue are themselves drawn from the
ranges of a :class:`DataConfig`. The simulation seed of a batch is derived
from (config seed, step), so the same step always sees the same data (exact
resume) and validation/test seeds live in separate namespaces.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .configcheck import reject_unknown

#: Seed namespaces: training batches, per-epoch validation, held-out test (bench, shipped metrics).
TRAIN, VALIDATION, TEST = 0, 1, 2


@dataclass(frozen=True)
class DataConfig:
    """Ranges the simulations are drawn from (all uniform).

    patch : frame size (pixels, square).
    fwhm : PSF FWHM range (pixels), z and x drawn independently.
    snr_db : SNR range (dB), see :func:`pyulm.sim.free_motion`.
    density : bubbles per 100 pixels per frame.
    intensity : bubble peak-amplitude range.
    speed : pixels/frame.
    clutter_probability : share of simulations with tissue-clutter residue.
    clutter_db : clutter residue level range (dB re mean bubble intensity).
    wavelength : IQ depth-phase wavelength range (pixels), sets interference of overlapping bubbles.

    Realistic scenes (:mod:`pyulm.nn.scenes_vessel`; the defaults keep the free-motion data):

    vessel_probability : share of simulations that are vessel scenes instead of free motion.
    psf_families : PSF families of the vessel scenes (``gaussian``, ``transducer``, ``distorted``).
    f_number, bandwidth : transducer family: receive F-number, pulse-echo fractional bandwidth.
    in_vessel_density : bubbles per 100 px² of lumen.
    n_vessels, vessel_radius, curvature : vessels per patch (whole numbers), lumen radius (px),
        heading-oscillation amplitude (rad).
    background_density : free bubbles outside the vessels, per 100 px².
    intensity_spread : standard deviation of the log-normal bubble intensity.
    tissue_db : tissue level before the SVD filter, dB re mean bubble intensity.
    noise_corr : noise correlation length (Gaussian sigma, px).
    rf_probability : share of vessel scenes given as the real (RF-like) part of the IQ.

    Other sources of labelled frames (:mod:`pyulm.nn.pgd.source`; the default keeps pyulm.sim):

    source : ``"sim"`` (the simulations above), ``"block"`` (frames and ground truth of
        ``pyulm synth`` blocks), ``"pgd"`` or ``"physics"`` (frames synthesised on the fly by
        :func:`pyulm.nn.pgd.synth` for the probe of ``params``).
    blocks, validation_blocks : ``source = "block"``: block files for training and for
        validation/test (default: the last tenth of every training block's frames).
    params : ``source = "pgd" | "physics"``: physics parameter file (TOML or Verasonics .mat).
    weights : ``source = "pgd"``: PgD model directory (default: the shipped model).
    """

    patch: int = 64
    fwhm: tuple = (2.0, 6.0)
    snr_db: tuple = (5.0, 30.0)
    density: tuple = (0.0, 1.5)
    intensity: tuple = (0.2, 1.0)
    speed: tuple = (0.0, 2.0)
    clutter_probability: float = 0.5
    clutter_db: tuple = (-25.0, -5.0)
    wavelength: tuple = (1.0, 3.0)
    vessel_probability: float = 0.0
    psf_families: tuple = ("gaussian",)
    f_number: tuple = (0.8, 2.5)
    bandwidth: tuple = (0.4, 1.0)
    in_vessel_density: tuple = (0.5, 8.0)
    n_vessels: tuple = (1, 4)
    vessel_radius: tuple = (1.5, 5.0)
    curvature: tuple = (0.0, 0.5)
    background_density: tuple = (0.0, 0.3)
    intensity_spread: tuple = (0.1, 0.8)
    tissue_db: tuple = (0.0, 30.0)
    noise_corr: tuple = (0.0, 1.2)
    rf_probability: float = 0.0
    source: str = "sim"
    blocks: tuple = ()
    validation_blocks: tuple = ()
    params: str = ""
    weights: str = ""

    @classmethod
    def from_dict(cls, d: dict, where: str = "[data]") -> "DataConfig":
        reject_unknown(cls, d, where)
        kw = {}
        for k, v in d.items():
            if k in SOURCE_FIELDS:  # checked with the source (pyulm.nn.pgd.source)
                v = tuple(v) if isinstance(v, list) else v
            elif k == "psf_families":
                from .scenes import TRAIN_FAMILIES

                if (not isinstance(v, (list, tuple)) or not v
                        or any(not isinstance(a, str) or a not in TRAIN_FAMILIES for a in v)):
                    raise ValueError(f"{where}.{k}: expected a non-empty list of {list(TRAIN_FAMILIES)}, got {v!r}")
                v = tuple(v)
            elif isinstance(getattr(cls, k), tuple):
                if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(a, (int, float)) for a in v)
                        and v[0] <= v[1]):
                    raise ValueError(f"{where}.{k}: expected a range [lo, hi] with lo <= hi, got {v!r}")
                v = (float(v[0]), float(v[1]))
            kw[k] = v
        cfg = cls(**kw)
        if not isinstance(cfg.patch, int) or cfg.patch < 16:
            raise ValueError(f"{where}.patch: expected a whole number >= 16, got {cfg.patch!r}")
        if cfg.fwhm[0] <= 0 or cfg.density[0] < 0 or cfg.intensity[0] <= 0:
            raise ValueError(f"{where}: fwhm and intensity must be > 0 and density >= 0")
        for k in ("clutter_probability", "vessel_probability", "rf_probability"):
            if not isinstance(getattr(cfg, k), (int, float)) or not 0 <= getattr(cfg, k) <= 1:
                raise ValueError(f"{where}.{k}: expected a value in [0, 1], got {getattr(cfg, k)!r}")
        if cfg.n_vessels[0] < 0 or cfg.n_vessels != tuple(float(int(v)) for v in cfg.n_vessels):
            raise ValueError(f"{where}.n_vessels: expected whole numbers >= 0, got {cfg.n_vessels!r}")
        if cfg.vessel_radius[0] <= 0 or cfg.in_vessel_density[0] < 0 or cfg.f_number[0] <= 0 or cfg.bandwidth[0] <= 0:
            raise ValueError(f"{where}: vessel_radius, f_number and bandwidth must be > 0, in_vessel_density >= 0")
        if any(k in d for k in SOURCE_FIELDS):
            from .pgd.source import check_source

            check_source(cfg, where)
        return cfg


#: DataConfig fields of the other training-data sources (pyulm.nn.pgd.source).
SOURCE_FIELDS = ("source", "blocks", "validation_blocks", "params", "weights")


def seed_for(seed: int, namespace: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(namespace), int(index)]))


def simulate(cfg: DataConfig, n_frames: int, rng: np.random.Generator, *, density=None, fwhm=None, snr_db=None,
             clutter_db="draw", shape=None):
    """One free-motion simulation with parameters drawn from ``cfg`` (or fixed
    by the keyword arguments). Returns the :class:`pyulm.sim.SimResult`."""
    from ..sim.free import free_motion

    nz, nx = shape or (cfg.patch, cfg.patch)
    if fwhm is None:
        fwhm = tuple(rng.uniform(*cfg.fwhm, 2))
    if snr_db is None:
        snr_db = float(rng.uniform(*cfg.snr_db))
    if density is None:
        density = float(rng.uniform(*cfg.density))
    if isinstance(clutter_db, str):
        clutter_db = float(rng.uniform(*cfg.clutter_db)) if rng.uniform() < cfg.clutter_probability else None
    mean_n = density * nz * nx / 100
    n_bub = (int(np.floor(0.7 * mean_n)), int(np.ceil(1.3 * mean_n)))
    return free_motion(
        (nz, nx), n_frames=n_frames, n_bubbles=n_bub, intensity=cfg.intensity, speed=cfg.speed,
        psf_fwhm=fwhm, wavelength=float(rng.uniform(*cfg.wavelength)), snr_db=snr_db, clutter_db=clutter_db,
        seed=rng, complex_iq=True,
    )


def draw(cfg: DataConfig, n_frames: int, rng: np.random.Generator, namespace: int = TRAIN):
    """One training/validation simulation -> (iq (z, x, t) complex, ground-truth table): a
    vessel scene with probability ``cfg.vessel_probability``, else free motion (the rng is
    not consumed by the choice when the probability is 0, so older configs draw the same data).
    With another ``cfg.source`` the frames come from :func:`pyulm.nn.pgd.source.draw_source`
    (``namespace`` chooses training or held-out frames of blocks)."""
    if cfg.source != "sim":
        from .pgd.source import draw_source

        return draw_source(cfg, n_frames, rng, namespace)
    if cfg.vessel_probability > 0 and rng.uniform() < cfg.vessel_probability:
        from .scenes_vessel import vessel_scene

        iq, gt, _ = vessel_scene(cfg, n_frames, rng)
        return iq, gt
    sim = simulate(cfg, n_frames, rng)
    return sim.iq, sim.gt


def normalize_np(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """|IQ| divided by its per-frame maximum: (z, x, t) -> ((t, z, x) float32, scale (t,))."""
    amp = np.abs(frames).astype(np.float32).transpose(2, 0, 1)
    scale = amp.reshape(amp.shape[0], -1).max(1)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    return amp / scale[:, None, None], scale


def make_targets(gt, n_frames: int, shape, scale: np.ndarray, frame_offset: int = 0):
    """Build :class:`pyulm.nn.losses.Targets` for frames ``frame_offset ..
    frame_offset + n_frames - 1`` of a ground-truth table (intensity divided by
    each frame's normalisation ``scale``)."""
    import torch

    from .losses import Targets

    H, W = shape
    f = gt.frame - frame_offset
    sel = (f >= 0) & (f < n_frames)
    f = f[sel]
    z, x, inten = gt.z[sel], gt.x[sel], gt.intensity[sel] / scale[f]
    iz = np.clip(np.rint(z).astype(np.int64), 0, H - 1)
    ix = np.clip(np.rint(x).astype(np.int64), 0, W - 1)
    presence = np.zeros((n_frames, H, W), np.float32)
    offsets = np.zeros((n_frames, 2, H, W), np.float32)
    presence[f, iz, ix] = 1.0
    offsets[f, 0, iz, ix] = z - iz
    offsets[f, 1, iz, ix] = x - ix
    counts = np.bincount(f, minlength=n_frames).astype(np.float32)
    M = int(counts.max()) if n_frames else 0
    points = np.zeros((n_frames, M, 3), np.float32)
    mask = np.zeros((n_frames, M), bool)
    order = np.argsort(f, kind="stable")
    start = np.concatenate([[0], np.cumsum(counts.astype(np.int64))[:-1]])
    for j in range(n_frames):
        rows = order[start[j]:start[j] + int(counts[j])]
        points[j, :rows.size] = np.column_stack([z[rows], x[rows], inten[rows]])
        mask[j, :rows.size] = True
    return Targets(torch.from_numpy(presence), torch.from_numpy(offsets), torch.from_numpy(points),
                   torch.from_numpy(mask), torch.from_numpy(counts))


def cat_targets(ts):
    """Concatenate Targets along frames (padding ``points``)."""
    import torch

    from .losses import Targets

    M = max(t.points.shape[1] for t in ts)
    pts = [torch.nn.functional.pad(t.points, (0, 0, 0, M - t.points.shape[1])) for t in ts]
    msk = [torch.nn.functional.pad(t.mask, (0, M - t.mask.shape[1])) for t in ts]
    return Targets(torch.cat([t.presence for t in ts]), torch.cat([t.offsets for t in ts]), torch.cat(pts),
                   torch.cat(msk), torch.cat([t.counts for t in ts]))


def frame_batch(cfg: DataConfig, n_frames: int, n_sims: int, rng):
    """``n_sims`` simulations of ``n_frames`` frames each, flattened: inputs
    (n_sims*n_frames, 1, P, P) and their Targets. Each simulation is a clip
    of consecutive frames, so the same batch serves 3DML (reshape to clips)."""
    import torch

    xs, ts = [], []
    for _ in range(n_sims):
        iq, gt = draw(cfg, n_frames, rng)
        x, scale = normalize_np(iq)
        xs.append(torch.from_numpy(x))
        ts.append(make_targets(gt, n_frames, x.shape[1:], scale))
    return torch.cat(xs).unsqueeze(1), cat_targets(ts)
