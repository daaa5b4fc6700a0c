"""What a plane-wave acquisition with a linear array is, in SI units.

One :class:`PlaneWaveAcquisition` describes the transmits of one compound
frame: element positions, steering angles, transmit delays, and where each
transmit's echoes sit in a frame of channel data (rows, channels, sampling,
time of the first sample). The Verasonics reader builds it from
``Trans``/``TX``/``Receive``; the channel simulator writes one; the
beamformer only needs this.

Time model (Verasonics' convention, see ``docs/beamform.md``): the echo of a
point ``p`` received by element ``e`` after transmit ``a`` is sampled at

    tau = t_tx(p, a) + |p - e| / c + time_offset

with the plane-wave arrival ``t_tx = (x sin(theta) + z cos(theta)) / c +
delta_a``, where ``delta_a`` is fixed by the transmit delays actually used
(``delay_e - x_e sin(theta) / c``, the same on every firing element of a plane
wave) and ``time_offset`` holds the lens and waveform-peak delays. Sample
``k`` of a receive is taken at ``t_start + k / sampling_frequency``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as V

#: how stored rows hold the signal: real RF samples, or (I, -Q) pairs taken a quarter period apart
SAMPLE_KINDS = ("rf", "quadrature")


@dataclass(frozen=True, eq=False)
class PlaneWaveAcquisition:
    """Plane-wave transmits of one compound frame with a linear array (SI units).

    Attributes
    ----------
    element_x : ndarray (n_el,)
        Lateral element positions, m (the array lies on z = 0).
    angles : ndarray (n_tx,)
        Steering angles, rad (positive towards +x).
    tx_delays : ndarray (n_tx, n_el)
        Transmit delays, s; NaN for elements that did not fire.
    sampling_frequency : float
        Hz: rate of the stored RF samples, or of the (I, Q) pairs.
    sample_kind : str
        ``"rf"`` (real samples) or ``"quadrature"`` (row pairs I, -Q a
        quarter period of ``demod_frequency`` apart, as the Vantage's BS modes).
    demod_frequency : float
        Hz, the frequency the signals are brought to baseband from.
    speed_of_sound : float
        m/s.
    t_start : ndarray (n_tx,)
        Time of the first stored sample of each transmit's receive, s.
    rows : ndarray (n_tx, 2)
        0-based [first, stop) rows of each receive inside a frame of channel data.
    channels : ndarray (n_el,)
        0-based column of the channel data holding each element.
    rows_per_frame, n_channels : int
        Shape of one frame of channel data (rows x channels).
    time_offset : float
        s added to the geometric time of flight (lens, waveform peak).
    rx_apod : ndarray (n_el,) of bool
        Elements that received.
    center_frequency : float
        Hz, the transducer frequency that defines the wavelength.
    """

    element_x: np.ndarray
    angles: np.ndarray
    tx_delays: np.ndarray
    sampling_frequency: float
    sample_kind: str
    demod_frequency: float
    speed_of_sound: float
    t_start: np.ndarray
    rows: np.ndarray
    channels: np.ndarray
    rows_per_frame: int
    n_channels: int
    time_offset: float = 0.0
    rx_apod: np.ndarray | None = None
    center_frequency: float | None = None

    def __post_init__(self):
        set_ = object.__setattr__
        ex = np.asarray(self.element_x, float).ravel()
        if ex.size < 2 or not np.all(np.isfinite(ex)) or np.any(np.diff(ex) <= 0):
            raise ValueError("element_x: expected at least 2 finite, increasing element positions (m)")
        ang = np.asarray(self.angles, float).ravel()
        n_tx, n_el = ang.size, ex.size
        if n_tx == 0 or not np.all(np.abs(ang) < np.pi / 2):
            raise ValueError(f"angles: expected 1 or more steering angles within (-pi/2, pi/2) rad, got {ang.tolist()}")
        dl = np.asarray(self.tx_delays, float)
        if dl.shape != (n_tx, n_el):
            raise ValueError(f"tx_delays: expected shape (n_tx, n_el) = {(n_tx, n_el)}, got {dl.shape}")
        if np.any(np.isinf(dl)) or np.any(np.all(np.isnan(dl), axis=1)):
            raise ValueError("tx_delays: expected finite delays (NaN only for elements that did not fire)")
        if self.sample_kind not in SAMPLE_KINDS:
            raise ValueError(f"sample_kind: expected one of {SAMPLE_KINDS}, got {self.sample_kind!r}")
        for name in ("sampling_frequency", "demod_frequency", "speed_of_sound"):
            set_(self, name, V.positive(getattr(self, name), name))
        cf = self.center_frequency
        set_(self, "center_frequency", self.demod_frequency if cf is None else V.positive(cf, "center_frequency"))
        ts = np.broadcast_to(np.asarray(self.t_start, float), (n_tx,)).copy()
        if not np.all(np.isfinite(ts)):
            raise ValueError("t_start: expected finite times (s)")
        rpf = V.positive(self.rows_per_frame, "rows_per_frame", integer=True)
        nch = V.positive(self.n_channels, "n_channels", integer=True)
        rows = np.asarray(self.rows, np.int64).reshape(n_tx, 2)
        if np.any(rows[:, 0] < 0) or np.any(rows[:, 1] > rpf) or np.any(rows[:, 1] <= rows[:, 0]):
            raise ValueError(f"rows: expected 0 <= first < stop <= rows_per_frame ({rpf}) per transmit, "
                             f"got {rows.tolist()}")
        if self.sample_kind == "quadrature" and np.any((rows[:, 1] - rows[:, 0]) % 2):
            raise ValueError("rows: quadrature samples come in (I, Q) pairs; expected an even number of rows "
                             "per receive")
        ch = np.asarray(self.channels, np.int64).ravel()
        if ch.size != n_el or np.any(ch < 0) or np.any(ch >= nch):
            raise ValueError(f"channels: expected {n_el} columns within 0..{nch - 1}")
        apod = np.ones(n_el, bool) if self.rx_apod is None else np.asarray(self.rx_apod, bool).ravel()
        if apod.size != n_el or not apod.any():
            raise ValueError(f"rx_apod: expected {n_el} flags with at least one receiving element")
        for name, val in (("element_x", ex), ("angles", ang), ("tx_delays", dl), ("t_start", ts), ("rows", rows),
                          ("channels", ch), ("rx_apod", apod)):
            val.setflags(write=False)
            set_(self, name, val)
        set_(self, "rows_per_frame", rpf)
        set_(self, "n_channels", nch)
        set_(self, "time_offset", float(self.time_offset))

    @property
    def n_tx(self) -> int:
        return int(self.angles.size)

    @property
    def n_elements(self) -> int:
        return int(self.element_x.size)

    @property
    def wavelength(self) -> float:
        """m, speed of sound / centre frequency."""
        return self.speed_of_sound / self.center_frequency

    @property
    def pitch(self) -> float:
        return float(np.mean(np.diff(self.element_x)))

    def tx_offsets(self) -> np.ndarray:
        """``delta_a`` (s): the plane wave of transmit ``a`` reaches ``(x, z)`` at ``(x sin + z cos) / c + delta_a``."""
        s = np.sin(self.angles)[:, None]
        rel = self.tx_delays - self.element_x[None, :] * s / self.speed_of_sound
        return np.nanmean(rel, axis=1)

    def check_plane_waves(self, tol: float = 0.05) -> None:
        """Raise ``ValueError`` unless every transmit's delays form the plane wave of its angle.

        ``tol`` is in periods of the centre frequency.
        """
        rel = self.tx_delays - self.element_x[None, :] * np.sin(self.angles)[:, None] / self.speed_of_sound
        spread = (np.nanmax(rel, axis=1) - np.nanmin(rel, axis=1)) * self.center_frequency
        bad = np.flatnonzero(spread > tol)
        if bad.size:
            a = int(bad[0])
            raise ValueError(
                f"TX({a + 1}).Delay: the delays are not those of a plane wave steered at "
                f"{np.rad2deg(self.angles[a]):.3g} deg (they depart from it by {spread[a]:.3g} periods); "
                "expected plane-wave transmits (focused and diverging waves are not supported)")

    def sample_times(self, a: int) -> np.ndarray:
        """Times (s) of the samples of transmit ``a``: RF samples, or the I sample of each pair."""
        n = int(self.rows[a, 1] - self.rows[a, 0])
        if self.sample_kind == "quadrature":
            n //= 2
        return self.t_start[a] + np.arange(n) / self.sampling_frequency
