"""Held-out CEUS acquisitions for CycleULM: data that are *not* in the MB-only domain.

MB-DT is trained on the user's own frames and evaluated against ground truth, so
the evaluation data must carry what real contrast-enhanced ultrasound carries and
the MB-only domain (bubbles ⊗ one Gaussian) does not:

* a **physics PSF** from the probe (:func:`pyulm.psf.psf_from_transducer`: sinc
  lateral profile with side lobes, Gaussian pulse envelope) and the IQ depth
  phase ``exp(-4 i pi z / wavelength)`` (RF-like: overlapping bubbles interfere);
* bubbles flowing in a random vessel tree (:func:`pyulm.sim.simulate`, Poiseuille
  flow, intensity jitter);
* **tissue clutter** (moving speckle with breathing) removed by an SVD filter
  (:func:`pyulm.filtering.svd_filter`), which leaves a residue;
* **band-limited noise**: white complex noise filtered through the PSF envelope
  (as ULTRA-SR filters channel noise through the transducer band), so noise is
  spatially correlated with the size of a bubble.

Three named densities (bubbles per mm² in the field) serve the benchmarks:
``"low"``, ``"medium"``, ``"high"``. Use seeds 0-99 for test data, >= 1000 for
validation (loss-weight selection), so the two never overlap.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CEUSAcquisition", "ceus_acquisition", "DENSITIES"]

#: bubbles per mm² present in the field (96 x 96 pixels of λ/4 are 5.6 mm²: ~11, ~34, ~84 bubbles per frame)
DENSITIES = {"low": 2.0, "medium": 6.0, "high": 15.0}

_F0_MHZ = 15.625
_C = 1540.0
_WL_MM = _C / (_F0_MHZ * 1e3)
_PIXEL_MM = _WL_MM / 4  # λ/4 pixels: the PSF spans several pixels, so a 0.5x shrink is resolvable


@dataclass(frozen=True)
class CEUSAcquisition:
    """A simulated CEUS block and its ground truth.

    Attributes
    ----------
    iq : ndarray (z, x, t) complex64
        SVD-filtered IQ (what MB-DT and the localizers receive).
    raw_iq : ndarray (z, x, t) complex64
        IQ before the SVD filter (bubbles + tissue + noise), as a scanner writes it.
    gt : Localizations
        One row per bubble per frame (pixels, 0-based; ``bubble_id``, ``vz``, ``vx``).
    psf : PSF
        The transducer PSF used (``psf.fwhm`` in pixels, (z, x)).
    pixel_size : (float, float)
        Pixel size (dz, dx), mm.
    frame_rate : float
        Hz.
    svd_cutoff : int
        First singular component kept by the filter (1-based, PALA's convention).
    density : str
    seed : int
    sim : SimResult
        The underlying simulation (raw IQ), with the vessel network.
    """

    iq: np.ndarray
    raw_iq: np.ndarray
    gt: object
    psf: object
    pixel_size: tuple
    frame_rate: float
    svd_cutoff: int
    density: str
    seed: int
    sim: object

    @property
    def psf_fwhm(self) -> tuple[float, float]:
        """FWHM (z, x) of the amplitude PSF, pixels."""
        return tuple(float(f) for f in self.psf.fwhm)

    @property
    def tracks(self):
        """Ground-truth :class:`pyulm.Tracks`, one per bubble."""
        return self.sim.tracks()

    def vessel_mask(self, res: float = 1) -> np.ndarray:
        """Boolean lumen mask on a grid ``res`` times finer than the frames."""
        return self.sim.vessel_map(res)

    def save_mat(self, path) -> Path:
        """Write the raw block as a PALA-style MAT file (``IQ``, ``UF``, ``PData``, ``GT``...).

        The raw (unfiltered) IQ is written, as an acquisition is stored; ``pyulm
        train mbdt FILE`` and ``pyulm process`` SVD-filter it (use ``svd_cutoff``).
        """
        return self.sim.save_mat(path)


def _band_limited_noise(shape, psf, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Complex noise of RMS ``sigma`` whose spatial spectrum is the PSF envelope's."""
    nz, nx, nt = shape
    kern = np.asarray(psf.image, dtype=np.float64)
    K = np.fft.fft2(kern, s=(nz, nx))
    white = (rng.standard_normal((nt, nz, nx), dtype=np.float32)
             + 1j * rng.standard_normal((nt, nz, nx), dtype=np.float32))
    noise = np.fft.ifft2(np.fft.fft2(white) * K).astype(np.complex64)  # circular: no edge taper
    noise *= np.float32(sigma / np.sqrt(np.mean(np.abs(noise) ** 2)))
    return noise.transpose(1, 2, 0)


def ceus_acquisition(density="medium", *, shape=(96, 96), n_frames: int = 400, seed: int = 0,
                     clutter_db: float = 25.0, snr_db: float = 12.0, svd_cutoff: int = 4,
                     max_velocity: float = 15.0, frame_rate: float = 1000.0) -> CEUSAcquisition:
    """Simulate a CEUS acquisition outside the MB-only domain, with ground truth.

    Parameters
    ----------
    density : {"low", "medium", "high"} or float
        Named density, or bubbles per mm² in the field.
    shape : (int, int)
        Frame size (nz, nx), pixels of λ/4 (λ = 0.0986 mm at 15.625 MHz).
    n_frames : int
        Frames in the block.
    seed : int
        Seed of everything (vessels, bubbles, clutter, noise). Test data: 0-99;
        validation: >= 1000.
    clutter_db : float
        Tissue RMS over the mean bubble amplitude before filtering, dB.
    snr_db : float
        ``20 log10(mean bubble amplitude / noise RMS)`` of the band-limited noise, dB.
    svd_cutoff : int
        First singular component kept (the ``cutoff - 1`` strongest are removed).
    max_velocity : float
        Peak flow speed, mm/s.
    frame_rate : float
        Hz.

    Returns
    -------
    CEUSAcquisition

    Examples
    --------
    >>> from pyulm.nn.cycleulm.ceus_sim import ceus_acquisition
    >>> acq = ceus_acquisition("low", shape=(48, 48), n_frames=20, seed=1000)
    >>> acq.iq.shape, acq.iq.dtype.name
    ((48, 48, 20), 'complex64')
    """
    from ...filtering import svd_filter
    from ...psf import psf_from_transducer
    from ...sim import simulate

    if isinstance(density, str):
        if density not in DENSITIES:
            raise ValueError(f"density: expected one of {sorted(DENSITIES)} or bubbles per mm², got {density!r}")
        conc, name = DENSITIES[density], density
    else:
        conc, name = float(density), f"{float(density):g}/mm2"
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an integer >= 0, got {seed!r}")
    n_frames = int(n_frames)
    if n_frames < max(3, svd_cutoff + 1):
        raise ValueError(f"n_frames: expected at least {max(3, svd_cutoff + 1)}, got {n_frames}")
    psf = psf_from_transducer(_F0_MHZ, fractional_bandwidth=0.5, f_number=1.0, angles=(-5.0, 0.0, 5.0),
                              pixel_size_mm=(_PIXEL_MM, _PIXEL_MM))
    sim_rng, noise_rng = np.random.default_rng(int(seed)).spawn(2)
    sim = simulate(shape, n_frames, psf=psf, concentration=conc, max_velocity=max_velocity,
                   intensity=(0.5, 1.5), intensity_jitter=0.15, snr_db=None, clutter_db=clutter_db,
                   breathing_hz=1.5, frame_rate=frame_rate, seed=sim_rng)
    raw = np.array(sim.iq, dtype=np.complex64, order="F")
    raw += _band_limited_noise(raw.shape, psf, 1.0 / 10 ** (snr_db / 20), noise_rng)
    params = dict(sim.params, density=name, seed=int(seed), snr_db=snr_db, noise="band-limited (PSF envelope)",
                  svd_cutoff=int(svd_cutoff))
    sim = dataclasses.replace(sim, iq=raw, params=params)
    filtered = svd_filter(raw, [int(svd_cutoff), n_frames]).astype(np.complex64, copy=False)
    return CEUSAcquisition(iq=filtered, raw_iq=raw, gt=sim.gt, psf=psf, pixel_size=(_PIXEL_MM, _PIXEL_MM),
                           frame_rate=float(frame_rate), svd_cutoff=int(svd_cutoff), density=name, seed=int(seed),
                           sim=sim)
