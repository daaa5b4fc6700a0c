"""Paired fUS / ULM images of one simulated vessel network (for fUS → ULM models).

For one :func:`~pyulm.sim.random_network` two acquisitions are simulated:

* **fUS** (no contrast agent): blood speckle — a dense population of weak,
  moving scatterers in the same vessels (:func:`pyulm.sim.simulate` at a high
  concentration) — imaged with a coarser PSF than the ULM acquisition, under
  moving tissue clutter and thermal noise; SVD clutter filter
  (:func:`pyulm.filtering.svd_filter`), then power Doppler ``mean_t |IQ_f|^2``.
  Displayed as a grayscale image: decibels over a fixed dynamic range, mapped
  to [0, 1].
* **ULM**: sparse microbubbles flowing through the same network for many
  frames; their tracks are rendered on a grid ``res`` times finer
  (:func:`pyulm.render`) and re-sampled to the output size (anti-aliased), either from the simulated trajectories
  (``ulm="tracks"``, the default: fast) or through the full pyulm pipeline
  (``ulm="pipeline"``: radial-symmetry localisation of the IQ, tracking,
  rendering). Preprocessed as in Sebia et al. (2026): grayscale, log transform
  ``log(1 + density)``, divided by its maximum (after the resize).

Both images are resized (bilinear) to ``size × size`` (the poster: 512; default
128 for CPU training). Same seed, same pair.

Examples
--------
>>> from pyulm.sim.doppler import simulate_pair
>>> pair = simulate_pair(seed=0, field=32, size=64, fus_frames=20, ulm_frames=100)  # doctest: +SKIP
>>> pair.fus.shape, pair.ulm.shape  # doctest: +SKIP
((64, 64), (64, 64))
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field

import numpy as np

from .. import _validate as V
from . import _checks as C
from .flow import simulate
from .psf import gaussian_psf
from .vessels import random_network

__all__ = ["FusUlmPair", "simulate_pair", "simulate_pairs", "fus_display", "ulm_log", "resize", "save_pairs", "load_pairs"]


@dataclass
class FusUlmPair:
    """A registered fUS / ULM image pair, both ``(size, size)`` float32 in [0, 1].

    Attributes
    ----------
    fus : ndarray
        Power Doppler in dB over ``dynamic_range_db``, mapped to [0, 1].
    ulm : ndarray
        ``log(1 + density) / max``.
    power_doppler : ndarray
        The raw power Doppler on the simulation grid (field × field).
    density : ndarray
        The raw ULM density (tracks per SR pixel) on the ``res`` grid.
    params : dict
        Every parameter, including the seed.
    """

    fus: np.ndarray
    ulm: np.ndarray
    power_doppler: np.ndarray
    density: np.ndarray
    params: dict = dc_field(default_factory=dict)


def resize(image, size: int) -> np.ndarray:
    """Bilinear resize of a 2-D image to ``(size, size)`` (corner pixels aligned), anti-aliased when shrinking."""
    from scipy import ndimage

    a = np.asarray(image, dtype=np.float64)
    n = V.positive(size, "size", integer=True)
    if a.shape == (n, n):
        return a.copy()
    # shrinking: low-pass first (skimage's anti-aliasing sigma), or thin vessels alias away
    sig = [max((s / n - 1) / 2, 0.0) for s in a.shape]
    if max(sig) > 0:
        a = ndimage.gaussian_filter(a, sig, mode="nearest")
    zz = np.linspace(0, a.shape[0] - 1, n)
    xx = np.linspace(0, a.shape[1] - 1, n)
    g = np.meshgrid(zz, xx, indexing="ij")
    return ndimage.map_coordinates(a, g, order=1, mode="nearest")


def fus_display(power_doppler, dynamic_range_db: float = 40.0) -> np.ndarray:
    """Power Doppler → grayscale: ``10 log10(PD / max)`` clipped at ``-dynamic_range_db``, mapped to [0, 1]."""
    pd = np.asarray(power_doppler, dtype=np.float64)
    dr = V.positive(dynamic_range_db, "dynamic_range_db")
    top = pd.max()
    if not np.isfinite(top) or top <= 0:
        raise ValueError("power_doppler: expected a finite image with a positive maximum")
    db = 10 * np.log10(np.maximum(pd / top, 10 ** (-dr / 10)))
    return (db + dr) / dr


def ulm_log(density) -> np.ndarray:
    """The poster's ULM preprocessing: ``log(1 + density)`` divided by its maximum (zeros stay zeros)."""
    d = np.asarray(density, dtype=np.float64)
    if np.any(d < 0) or not np.all(np.isfinite(d)):
        raise ValueError("density: expected finite, non-negative counts")
    out = np.log1p(d)
    m = out.max()
    return out / m if m > 0 else out


def _ulm_density(net, field: int, res: int, n_frames: int, concentration: float, psf, mode: str, rng):
    import pyulm
    from ..render import render

    snr = None if mode == "tracks" else 25.0
    sim = simulate((field, field), n_frames, network=net, concentration=concentration, psf=psf, snr_db=snr,
                   complex_iq=mode == "pipeline", seed=rng)
    if mode == "tracks":
        tracks = sim.tracks()
    else:
        dz, dx = psf.require_pixel_size_mm()
        expected = concentration * field * dz * field * dx  # bubbles per frame in the field
        locs = pyulm.localize(sim.iq, "radial", fwhm=psf.fwhm, number_of_particles=max(4, int(3 * expected)))
        tracks = pyulm.track(locs, max_linking_distance=2.0, max_gap_closing=0, min_length=5,
                             frame_rate=sim.frame_rate, res=res, n_frames=n_frames)
    dens = render(tracks, res=res, shape=(field, field), kinds=("density",))["density"]
    return np.asarray(dens, dtype=np.float64)[: field * res, : field * res]


def simulate_pair(seed=None, *, field: int = 64, size: int = 128, res: int = 4, fus_frames: int = 60,
                  ulm_frames: int = 1500, blood_concentration: float = 60.0, bubble_concentration: float = 0.4,
                  fus_fwhm=(4.0, 4.0), ulm_fwhm=(3.0, 3.0), fus_snr_db: float = 15.0, clutter_db: float = 20.0,
                  svd_cutoff: int = 4, dynamic_range_db: float = 40.0, ulm: str = "tracks",
                  n_roots=(2, 4), root_radius=(1.0, 2.0)) -> FusUlmPair:
    """Simulate one registered fUS / ULM pair (see the module docstring).

    Parameters
    ----------
    seed : int, sequence of int or None
        Seeds the network, both acquisitions and the network draw.
    field : int
        Simulated field, ``field × field`` pixels (pixel = 0.0986 mm, one wavelength at 15.6 MHz).
    size : int
        Output images are ``size × size`` (the poster: 512).
    res : int
        ULM super-resolution factor (SR pixels per pixel).
    fus_frames, ulm_frames : int
        Frames of the fUS (power Doppler) and of the ULM acquisition (1 kHz).
    blood_concentration, bubble_concentration : float
        Scatterers per mm^2 of field: red-blood-cell speckle (dense) and microbubbles (sparse).
    fus_fwhm, ulm_fwhm : (float, float)
        PSF FWHM (pixels) of the fUS and ULM acquisitions.
    fus_snr_db, clutter_db : float
        fUS thermal-noise SNR and tissue clutter (dB re the mean blood-scatterer amplitude).
    svd_cutoff : int
        Singular vectors removed by the fUS clutter filter.
    dynamic_range_db : float
        fUS display dynamic range.
    ulm : {"tracks", "pipeline"}
        Render the simulated trajectories, or localise + track the simulated IQ.
    n_roots, root_radius : (lo, hi)
        Ranges of the network's inlet count and inlet radius (pixels), drawn per pair.

    Returns
    -------
    FusUlmPair
    """
    fld = V.positive(field, "field", integer=True)
    if fld < 16:
        raise ValueError(f"field: expected at least 16 pixels, got {field!r}")
    sz = V.positive(size, "size", integer=True)
    r = V.positive(res, "res", integer=True)
    if ulm not in ("tracks", "pipeline"):
        raise ValueError(f"ulm: expected 'tracks' or 'pipeline', got {ulm!r}")
    cut = V.positive(svd_cutoff, "svd_cutoff", integer=True)
    nf = V.positive(fus_frames, "fus_frames", integer=True)
    if cut >= nf:
        raise ValueError(f"svd_cutoff: expected fewer than fus_frames ({nf}), got {svd_cutoff!r}")
    lo_r, hi_r = (int(v) for v in C.value_range(n_roots, "n_roots", allow_zero=False))
    lo_rad, hi_rad = C.value_range(root_radius, "root_radius", allow_zero=False)
    rng = np.random.default_rng(np.random.SeedSequence(seed if seed is not None else None))
    g_net, g_fus, g_ulm, g_draw = rng.spawn(4)
    roots = int(g_draw.integers(lo_r, hi_r + 1))
    radius = float(g_draw.uniform(lo_rad, hi_rad))
    net = random_network((fld, fld), n_roots=roots, root_radius=radius, min_radius=0.2, seed=g_net)

    from ..filtering import svd_filter

    fus_psf = gaussian_psf(fus_fwhm)
    blood = simulate((fld, fld), nf, network=net, concentration=float(blood_concentration), psf=fus_psf,
                     intensity=(0.5, 1.5), snr_db=fus_snr_db, clutter_db=clutter_db, seed=g_fus)
    filt = svd_filter(blood.iq, [cut + 1, nf])
    pd = np.mean(np.abs(filt) ** 2, axis=2)
    dens = _ulm_density(net, fld, r, int(ulm_frames), float(bubble_concentration), gaussian_psf(ulm_fwhm), ulm, g_ulm)
    params = {"seed": seed if not isinstance(seed, np.ndarray) else seed.tolist(), "field": fld, "size": sz,
              "res": r, "fus_frames": nf, "ulm_frames": int(ulm_frames), "blood_concentration": float(blood_concentration),
              "bubble_concentration": float(bubble_concentration), "fus_fwhm": list(map(float, np.broadcast_to(fus_fwhm, 2))),
              "ulm_fwhm": list(map(float, np.broadcast_to(ulm_fwhm, 2))), "fus_snr_db": float(fus_snr_db),
              "clutter_db": float(clutter_db), "svd_cutoff": cut, "dynamic_range_db": float(dynamic_range_db),
              "ulm": ulm, "n_roots": roots, "root_radius": radius}
    return FusUlmPair(fus=resize(fus_display(pd, dynamic_range_db), sz).astype(np.float32),
                      ulm=ulm_log(np.maximum(resize(dens, sz), 0)).astype(np.float32), power_doppler=pd.astype(np.float32),
                      density=dens.astype(np.float32), params=params)


def simulate_pairs(n: int, seed: int = 0, *, first: int = 0, **kwargs) -> list[FusUlmPair]:
    """``n`` pairs; pair ``k`` is seeded with ``(seed, first + k)``, so sets drawn with different
    ``seed`` (or disjoint ``first`` ranges) never share a network."""
    count = V.positive(n, "n", integer=True)
    return [simulate_pair((int(seed), int(first) + k), **kwargs) for k in range(count)]


def save_pairs(path, pairs) -> "Path":
    """Write pairs to one ``.npz`` (``fus``, ``ulm``: (n, size, size) float32; ``params``: JSON list), atomically."""
    import json
    from pathlib import Path

    from .._fileutil import atomic_path

    pairs = list(pairs)
    if not pairs or not all(isinstance(p, FusUlmPair) for p in pairs):
        raise ValueError("pairs: expected a non-empty sequence of FusUlmPair")
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, fus=np.stack([p.fus for p in pairs]), ulm=np.stack([p.ulm for p in pairs]),
                                params=np.array(json.dumps([p.params for p in pairs], default=list)))
    return path


def load_pairs(path) -> tuple[np.ndarray, np.ndarray, list]:
    """Read a pair file written by :func:`save_pairs`: ``(fus, ulm, params)``."""
    import json

    with np.load(path, allow_pickle=False) as z:
        missing = {"fus", "ulm"} - set(z.files)
        if missing:
            raise ValueError(f"{path}: not a fUS/ULM pair file (missing {sorted(missing)}); write one with "
                             "`pyulm simulate --pairs N OUT`")
        fus, ulm = z["fus"].astype(np.float32), z["ulm"].astype(np.float32)
        params = json.loads(str(z["params"])) if "params" in z.files else [{}] * len(fus)
    if fus.ndim != 3 or fus.shape != ulm.shape:
        raise ValueError(f"{path}: fus {fus.shape} and ulm {ulm.shape} must both be (n, size, size)")
    return fus, ulm, params
