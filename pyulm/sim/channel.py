"""Channel-level simulation: RF of every element for plane-wave transmits (PyMUST ``simus``).

Bubbles flowing in vessels (the trajectories of :func:`pyulm.sim.simulate`)
and tissue speckle moving with breathing are point scatterers; for each
compound frame and each steered plane wave, PyMUST's ``simus`` (optional,
LGPL-3.0: ``pip install pymust``) gives the RF received by every element of a
linear array. The RF is stored as the Vantage stores it (int16, NS200BW RF or
BS100BW/BS50BW quadrature pairs) and can be written as a Verasonics workspace
(:meth:`ChannelSim.save`), which :func:`pyulm.beamform.open_rcvdata` and
``pyulm process`` read back. Beamformed, it gives IQ with the physics a
Gaussian PSF leaves out (side lobes, speckle, grating lobes, depth-dependent
resolution). ``simus`` is slow: about 1 s per transmit for 1,000 scatterers.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as V
from ..beamform.acquisition import PlaneWaveAcquisition
from ..beamform.write import save_workspace, workspace_variables

_ROWS_PER_PAIR = {"BS100BW": 4, "BS67BW": 6, "BS50BW": 8}  # RF samples at 4 f0 between two (I, Q) pairs


def plane_wave_acquisition(*, n_elements: int = 128, pitch: float = 1.0, center_frequency: float = 15.625,
                           angles=(-5.0, 0.0, 5.0), depth=(0.0, 100.0), sample_mode: str = "NS200BW",
                           speed_of_sound: float = 1540.0, lens_correction: float = 0.0) -> PlaneWaveAcquisition:
    """A Vantage-like plane-wave sequence (one receive per angle, stacked in the frame's rows).

    Parameters
    ----------
    n_elements : int
    pitch : float
        Element pitch, wavelengths.
    center_frequency : float
        MHz (``Trans.frequency``, also the demodulation frequency).
    angles : sequence of float
        Steering angles, degrees.
    depth : (float, float)
        ``Receive.startDepth`` and the deepest point to image, wavelengths; the
        receive window is long enough for echoes from there at the array edges.
    sample_mode : str
        ``"NS200BW"`` (RF at 4 samples per wavelength), ``"BS100BW"``, ``"BS67BW"`` or ``"BS50BW"``.
    lens_correction : float
        ``Trans.lensCorrection`` (wavelengths, one way), rounded to a whole sample.

    Examples
    --------
    >>> acq = plane_wave_acquisition(n_elements=64, angles=(-5, 0, 5), sample_mode="BS100BW")
    >>> acq.n_tx, acq.n_elements, round(acq.wavelength * 1e3, 4), acq.sample_kind
    (3, 64, 0.0986, 'quadrature')
    """
    n_el = V.positive(n_elements, "n_elements", integer=True)
    f0 = V.positive(center_frequency, "center_frequency") * 1e6
    c = V.positive(speed_of_sound, "speed_of_sound")
    lam = c / f0
    x = (np.arange(n_el) - (n_el - 1) / 2) * V.positive(pitch, "pitch") * lam
    ang = np.deg2rad(np.atleast_1d(np.asarray(angles, float)))
    d0, d1 = (float(v) for v in depth)
    if not 0 <= d0 < d1:
        raise ValueError(f"depth: expected 0 <= start < end (wavelengths), got {depth!r}")
    if sample_mode != "NS200BW" and sample_mode not in _ROWS_PER_PAIR:
        raise ValueError(f"sample_mode: expected NS200BW or one of {', '.join(_ROWS_PER_PAIR)}, got {sample_mode!r}")
    fs_rf = 4 * f0
    step = 1 if sample_mode == "NS200BW" else _ROWS_PER_PAIR[sample_mode]
    d0 = np.floor(d0 * 8 / step) * step / 8  # the first sample on the RF grid: 2 d0 / f0 * fs_rf whole
    lens = round(2 * V.positive(lens_correction, "lens_correction", allow_zero=True) * 4) / 8
    span = np.ptp(x)
    t_max = 2 * (d1 - d0) / f0 + (np.hypot(span, d1 * lam) - d1 * lam) / c + np.sin(np.abs(ang).max()) * span / c
    n = int(np.ceil((t_max + 4 / f0) * fs_rf / step / 2)) * 2  # whole (I, Q) pairs
    rows_pr = n if sample_mode == "NS200BW" else 2 * n
    delays = x[None, :] * np.sin(ang)[:, None] / c
    delays -= delays.min(axis=1, keepdims=True)
    return PlaneWaveAcquisition(
        element_x=x, angles=ang, tx_delays=delays, sampling_frequency=fs_rf / step,
        sample_kind="rf" if sample_mode == "NS200BW" else "quadrature", demod_frequency=f0, speed_of_sound=c,
        t_start=np.full(ang.size, 2 * d0 / f0), rows=[[a * rows_pr, (a + 1) * rows_pr] for a in range(ang.size)],
        channels=np.arange(n_el), rows_per_frame=ang.size * rows_pr, n_channels=n_el, time_offset=2 * lens / f0,
        center_frequency=f0)


def channel_rf(acq: PlaneWaveAcquisition, scatterers, *, fractional_bandwidth: float = 0.7,
               element_width: float = 0.9, noise: float = 0.0, seed=None) -> np.ndarray:
    """Stored samples of one compound frame per scatterer set, float (rows, channels, frames).

    Parameters
    ----------
    acq : PlaneWaveAcquisition
        From :func:`plane_wave_acquisition` (RF simulated at 4 samples per period).
    scatterers : sequence of (x, z, amplitude) arrays
        One set per frame; x, z in m.
    fractional_bandwidth : float
        Pulse-echo -6 dB bandwidth over centre frequency.
    element_width : float
        Fraction of the pitch.
    noise : float
        Std of white noise added to the RF, relative to the largest echo.
    """
    from .._optional import require

    pymust = require("pymust", "channel-level simulation (pyulm.sim.channel)")
    f0 = acq.center_frequency
    param = pymust.utils.Param()
    param.fc, param.c, param.fs = f0, acq.speed_of_sound, 4 * f0
    param.pitch = acq.pitch
    param.width = V.positive(element_width, "element_width") * acq.pitch
    param.kerf = param.pitch - param.width
    param.Nelements = acq.n_elements
    param.bandwidth = 100 * V.positive(fractional_bandwidth, "fractional_bandwidth")
    param.radius, param.height = np.inf, 5e-3
    opt = pymust.utils.Options()
    opt.dBThresh, opt.ElementSplitting, opt.ParPool = -40, 1, False
    step = int(round(4 * f0 / acq.sampling_frequency))  # RF samples at 4 f0 per stored sample or (I, Q) pair
    if not np.isclose(step * acq.sampling_frequency, 4 * f0) or (acq.sample_kind == "rf" and step != 1):
        raise ValueError("acq: expected RF at 4 samples per period or (I, Q) pairs every 1, 1.5 or 2 periods "
                         "(see plane_wave_acquisition)")
    out = np.zeros((acq.rows_per_frame, acq.n_channels, len(scatterers)))
    shift = int(round(acq.time_offset * 4 * f0))
    for k, (x, z, amp) in enumerate(scatterers):
        x, z, amp = (np.atleast_1d(np.asarray(v, float)) for v in (x, z, amp))
        for a in range(acq.n_tx):
            r0, r1 = acq.rows[a]
            first = int(round(acq.t_start[a] * 4 * f0)) - shift
            need = max(first, 0) + ((r1 - r0) // 2 * step if acq.sample_kind == "quadrature" else r1 - r0) + 2
            rf = np.zeros((need, acq.n_elements))
            if x.size:
                got = pymust.simus(x, z, amp, acq.tx_delays[a][None, :], param, opt)
                got = got[0] if isinstance(got, tuple) else got
                m = min(need, got.shape[0])
                rf[:m] = got[:m]
            seg = rf[first:] if first >= 0 else np.concatenate([np.zeros((-first, acq.n_elements)), rf])
            if acq.sample_kind == "quadrature":
                n_pairs = (r1 - r0) // 2
                idx = np.arange(n_pairs) * step
                stored = np.empty((r1 - r0, acq.n_elements))
                stored[0::2], stored[1::2] = seg[idx], seg[idx + 1]
            else:
                stored = seg[:r1 - r0]
            out[r0:r1, acq.channels, k] = stored
    if noise:
        rng = np.random.default_rng(seed)
        out += V.positive(noise, "noise") * np.abs(out).max() * rng.standard_normal(out.shape)
    return out


def to_int16(rf: np.ndarray, full_scale: float = 2 ** 13) -> np.ndarray:
    """RF scaled so its largest sample is ``full_scale`` and rounded to int16, as the Vantage's ADC stores it."""
    peak = np.abs(rf).max()
    return np.round(rf * (full_scale / peak if peak > 0 else 1.0)).astype(np.int16)


@dataclass
class ChannelSim:
    """Simulated channel data with its acquisition and the bubbles' ground truth.

    Attributes
    ----------
    rcvdata : ndarray (rows, channels, frames) int16
    acq : PlaneWaveAcquisition
    gt : Localizations
        Bubble positions in pixels of ``pdata``'s grid (0-based), frames 0-based.
    pdata : ((nz, nx), (dz, dx), (z0, x0))
        The image grid in wavelengths (written as PData).
    frame_rate : float
        Compound frames per second.
    """

    rcvdata: np.ndarray
    acq: PlaneWaveAcquisition
    gt: object
    pdata: tuple
    frame_rate: float

    def beamform(self, **options) -> np.ndarray:
        """IQ (z, x, t) complex64 on ``pdata``'s grid, with ``gt`` in its pixels (options: see ``Beamformer``)."""
        from ..beamform import Beamformer, make_grid

        shape, pixel_size, origin = self.pdata
        grid = make_grid(shape, pixel_size, origin, self.acq.wavelength)
        return Beamformer(self.acq, grid, **options)(self.rcvdata)

    def save(self, path, *, version: str = "5", units: str = "mm") -> str:
        """Write a Verasonics workspace (MAT ``"5"`` or ``"7.3"``); returns the version written."""
        lens = self.acq.time_offset * self.acq.center_frequency / 2
        return save_workspace(path, workspace_variables(self.acq, self.rcvdata, pdata=self.pdata, units=units,
                                                        lens_correction=lens, frame_rate=self.frame_rate),
                              version=version)


def simulate_channels(acq: PlaneWaveAcquisition, pdata, n_frames: int, *, frame_rate: float = 1000.0,
                      concentration: float = 0.3, max_velocity: float = 20.0, network=None,
                      bubble_amplitude: float = 1.0, tissue_scatterers: int = 0, tissue_amplitude: float = 3.0,
                      breathing=(0.2, 1.5), noise: float = 0.0, fractional_bandwidth: float = 0.7,
                      seed=None) -> ChannelSim:
    """Bubbles flowing in vessels and moving tissue speckle, as channel data.

    Parameters
    ----------
    acq : PlaneWaveAcquisition
        From :func:`plane_wave_acquisition`.
    pdata : ((nz, nx), (dz, dx), (z0, x0))
        Field of view in wavelengths; vessels are drawn inside it.
    n_frames : int
        Compound frames.
    frame_rate : float
        Hz.
    concentration, max_velocity, network
        As :func:`pyulm.sim.simulate` (bubbles per mm^2, peak speed mm/s, vessel graph).
    bubble_amplitude : float
        Reflectivity scale of the bubbles (each drawn in [0.5, 1.5] of it).
    tissue_scatterers : int
        Speckle scatterers spread uniformly over the field (Gaussian reflectivities);
        they move together with breathing.
    tissue_amplitude : float
        Std of the tissue reflectivities.
    breathing : (float, float)
        Peak axial displacement (wavelengths) and frequency (Hz) of the tissue motion.
    noise : float
        White noise std relative to the largest echo.
    seed : int or None

    Returns
    -------
    ChannelSim
    """
    from .._optional import require
    from . import simulate
    from .psf import gaussian_psf

    require("pymust", "channel-level simulation (pyulm.sim.channel)")
    (nz, nx), (dz, dx), (z0, x0) = pdata
    lam = acq.wavelength
    rng = np.random.default_rng(seed)
    # only the trajectories are used; the PSF sets the pixel size that converts max_velocity (mm/s) to pixels
    psf = gaussian_psf(1.0, pixel_size_mm=(dz * lam * 1e3, dx * lam * 1e3))
    bub = simulate((nz, nx), n_frames, network=network, concentration=concentration, max_velocity=max_velocity,
                   psf=psf, snr_db=None, frame_rate=frame_rate, intensity=(0.5, 1.5), intensity_jitter=0.0,
                   seed=int(rng.integers(2 ** 31)))
    gt = bub.gt
    amp_t = V.positive(tissue_amplitude, "tissue_amplitude", allow_zero=True) * rng.standard_normal(tissue_scatterers)
    tz = rng.uniform(z0 - 0.5, z0 + (nz - 0.5) * dz, tissue_scatterers)
    tx = rng.uniform(x0 - 0.5, x0 + (nx - 0.5) * dx, tissue_scatterers)
    b_amp, b_hz = breathing
    sets = []
    for k in range(n_frames):
        sel = gt.frame == k
        shift = b_amp * np.sin(2 * np.pi * b_hz * k / frame_rate)
        xs = np.r_[(x0 + gt.x[sel] * dx), tx] * lam
        zs = np.r_[(z0 + gt.z[sel] * dz), tz + shift] * lam
        sets.append((xs, zs, np.r_[bubble_amplitude * gt.intensity[sel], amp_t]))
    rf = channel_rf(acq, sets, fractional_bandwidth=fractional_bandwidth, noise=noise,
                    seed=int(rng.integers(2 ** 31)))
    return ChannelSim(to_int16(rf), acq, gt, ((nz, nx), (dz, dx), (z0, x0)), float(frame_rate))
