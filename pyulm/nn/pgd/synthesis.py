"""Labelled training frames for one probe: ``pyulm.nn.pgd.synth`` (and ``pyulm synth``).

Bubbles are drawn first (a Poisson number per frame, uniform positions and amplitudes:
:func:`pyulm.nn.pgd.data.random_bubbles`), so the ground truth is exact whatever renders
them: the PgD diffusion model (``source="pgd"``) or the physics simulator PgD learns
(``source="physics"``, :func:`pyulm.nn.pgd.physics.simulate_images`). With the same seed both
sources image the same bubbles, and the same noise is added to both.

Parameter sets come from a :class:`PhysicsParams`, a dict, a TOML file or a Verasonics
workspace (:func:`load_params`).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ... import _validate as V
from ..._version import __version__
from ...tables import Localizations, Metadata
from .block import SynthBlock
from .physics import PhysicsParams

__all__ = ["synth", "load_params", "add_noise", "SOURCES", "VERASONICS_STRUCTS"]

SOURCES = ("pgd", "physics")
#: Workspace variables :func:`load_params` reads from a Verasonics .mat.
VERASONICS_STRUCTS = ("Trans", "TW", "PData", "TX", "Resource")
#: Largest frame side synth renders (pixels) and most frames per call, against typos that would fill memory.
MAX_SIDE, MAX_FRAMES = 2048, 1_000_000


def load_params(source, overrides: dict | None = None) -> PhysicsParams:
    """A :class:`PhysicsParams` from a parameter set, a dict, a TOML file or a Verasonics workspace.

    Parameters
    ----------
    source : PhysicsParams, dict, str or Path
        A ``.toml`` file holds the fields (top level or a ``[physics]`` table); a ``.mat``
        file is a Verasonics workspace whose ``Trans``, ``TW``, ``TX``, ``PData`` and
        ``Resource`` structs give the fields (:meth:`PhysicsParams.from_verasonics`).
    overrides : dict, optional
        Fields that replace what the source says (a Verasonics workspace stores no receive
        F-number: give ``f_number`` here).

    Raises
    ------
    ValueError
        Unknown fields, impossible values, a file that is neither TOML nor a workspace.

    Examples
    --------
    >>> load_params({"center_frequency_mhz": 7.6}, {"n_angles": 1, "angle_span_deg": 0}).n_angles
    1
    """
    over = dict(overrides or {})
    if isinstance(source, PhysicsParams):
        return PhysicsParams.from_dict({**source.to_dict(), **over}, "params") if over else source
    if isinstance(source, dict):
        return PhysicsParams.from_dict({**source, **over}, "params")
    if not isinstance(source, (str, Path)):
        raise ValueError(f"params: expected PhysicsParams, a dict or a .toml / Verasonics .mat file, got "
                         f"{type(source).__name__}")
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"params: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        p = PhysicsParams.from_toml(path)
        return PhysicsParams.from_dict({**p.to_dict(), **over}, f"physics parameters {path}") if over else p
    if suffix == ".mat":
        from ...io import read_mat
        from ...io._matfile import list_variables

        names = {v.name for v in list_variables(path)}
        if "Trans" not in names:
            raise ValueError(f"params: {path} is not a Verasonics workspace (no Trans struct); expected the "
                             f"variables {list(VERASONICS_STRUCTS)}")
        ws = read_mat(path, [n for n in VERASONICS_STRUCTS if n in names])
        try:
            return PhysicsParams.from_verasonics(*(ws.get(n) for n in VERASONICS_STRUCTS), **over)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{path}: {exc}") from None
    raise ValueError(f"params: expected a .toml parameter file or a Verasonics workspace .mat, got {str(path)!r}")


def _shape(shape) -> tuple[int, int]:
    s = tuple(np.atleast_1d(np.asarray(shape)).ravel().tolist()) if not isinstance(shape, tuple) else shape
    if len(s) != 2 or any(not isinstance(v, (int, np.integer)) or isinstance(v, bool) or not 8 <= v <= MAX_SIDE
                          for v in s):
        raise ValueError(f"shape: expected (nz, nx), whole numbers in [8, {MAX_SIDE}], got {shape!r}")
    return int(s[0]), int(s[1])


def synth(params, n_frames: int, *, shape=(64, 64), density: float = 4.0, seed: int = 0, weights=None,
          source: str = "pgd", snr_db: float | None = None, steps: int | None = None) -> SynthBlock:
    """Generate ``n_frames`` labelled microbubble frames for one imaging condition.

    Parameters
    ----------
    params : PhysicsParams, dict or path
        The imaging condition (see :func:`load_params`).
    n_frames : int
        Number of frames (independent snapshots).
    shape : (int, int)
        Frame size (nz, nx), pixels of ``params.pixel_size_wavelengths``.
    density : float
        Mean number of bubbles per frame (Poisson), >= 0.
    seed : int
        Seeds the bubbles, the PgD sampler and the noise: same seed, same block.
    weights : str or Path, optional
        PgD model directory (default: the shipped model); ``source="pgd"`` only.
    source : {"pgd", "physics"}
        Who renders the bubbles: the diffusion model or the physics simulator.
    snr_db : float, optional
        Add complex white noise, a unit-amplitude bubble ``snr_db`` above the noise of one
        transmit (compounding lowers it, as in :func:`~pyulm.nn.pgd.physics.simulate_images`).
        Default: clean images.
    steps : int, optional
        DDIM steps of the PgD sampler (default: the model's).

    Returns
    -------
    SynthBlock
        ``iq`` (nz, nx, n_frames) complex64 (IQ in units of a unit bubble's peak), ``gt``
        (z, x 0-based pixels, frame, intensity = amplitude), ``params``, ``info`` and
        ``geometry``; write it with :func:`pyulm.nn.pgd.block.write_block`.

    Warns
    -----
    PgDRangeWarning
        ``source="pgd"`` with a parameter outside the trained range (named with the range).

    Examples
    --------
    >>> b = synth({"center_frequency_mhz": 7.6}, 4, shape=(32, 32), density=3, source="physics", seed=1)
    >>> b.iq.shape, b.iq.dtype.name, int(b.gt.frame.max()) <= 3
    ((32, 32, 4), 'complex64', True)
    """
    from .data import random_bubbles

    V.choice(source, "source", SOURCES)
    n = V.positive(n_frames, "n_frames", integer=True)
    if n > MAX_FRAMES:
        raise ValueError(f"n_frames: expected at most {MAX_FRAMES}, got {n}")
    nz, nx = _shape(shape)
    density = float(V.positive(density, "density", allow_zero=True))
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a whole number >= 0, got {seed!r}")
    if snr_db is not None and not (isinstance(snr_db, (int, float)) and math.isfinite(snr_db)):
        raise ValueError(f"snr_db: expected a finite number of dB, got {snr_db!r}")
    if source == "physics" and (weights is not None or steps is not None):
        raise ValueError("weights, steps: apply to source='pgd' only, not to the physics simulator")
    p = load_params(params)
    bubble_rng, sample_seed, noise_rng = np.random.default_rng(np.random.SeedSequence([int(seed), 18])).spawn(3)
    bubbles = random_bubbles(bubble_rng, n, (nz, nx), density)
    info = {"source": source, "seed": int(seed), "density": density, "snr_db": snr_db, "weights": "",
            "weights_sha256": "", "pyulm_version": __version__}
    if source == "physics":
        from .physics import simulate_images

        iq, _ = simulate_images(p, bubbles, (nz, nx, n))
    else:
        iq, info["weights"], info["weights_sha256"] = _pgd_images(p, bubbles, (nz, nx, n), weights, steps,
                                                                  int(sample_seed.integers(2**31 - 1)))
    iq = np.asarray(iq, dtype=np.complex64)
    if snr_db is not None:
        iq = add_noise(iq, p, snr_db, noise_rng)
    ps = p.pixel_size_mm
    gt = Localizations(bubbles[:, 0], bubbles[:, 1], bubbles[:, 2].astype(np.int64), bubbles[:, 3],
                       meta=Metadata(pixel_size=(ps, ps), origin=(p.depth_mm, -(nx - 1) / 2 * ps), unit="mm",
                                     params={**p.to_dict(), **info}))
    geometry = {"center_frequency_mhz": p.center_frequency_mhz, "wavelength_mm": p.wavelength_mm,
                "pixel_size_mm": (ps, ps), "depth_mm": p.depth_mm,
                "speed_of_sound": p.speed_of_sound}
    return SynthBlock(iq=iq, gt=gt, params=p.to_dict(), info=info, geometry=geometry)


def add_noise(iq, params: PhysicsParams, snr_db: float, rng) -> np.ndarray:
    """``iq`` plus complex white noise: a unit-amplitude bubble ``snr_db`` above the noise of one
    transmit, lowered by ``sqrt(n_angles)`` by compounding (the model of
    :func:`~pyulm.nn.pgd.physics.simulate_images`). Returns a new complex64 array."""
    sigma = 10 ** (-float(snr_db) / 20) / math.sqrt(params.n_angles) / math.sqrt(2)
    noise = rng.standard_normal((2,) + np.shape(iq)).astype(np.float32) * np.float32(sigma)
    return (np.asarray(iq, np.complex64) + (noise[0] + 1j * noise[1])).astype(np.complex64)


def _pgd_images(p: PhysicsParams, bubbles, shape, weights, steps, seed):
    """Frames rendered by the PgD model -> (iq, weights directory, sha256 of its weights).

    A parameter outside the trained range warns (PgDRangeWarning, from :func:`~pyulm.nn.pgd.sample.sample`)."""
    from ..weights_io import sha256
    from .model_dir import SHIPPED
    from .sample import sample

    kw = {} if steps is None else {"steps": V.positive(steps, "steps", integer=True)}
    iq = sample(p, bubbles, shape=shape[:2], seed=seed, weights=weights, n_frames=shape[2], **kw)
    d = Path(weights).expanduser() if weights is not None else SHIPPED
    return iq, str(d), sha256(d / "weights.pt")
