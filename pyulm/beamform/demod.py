"""From stored channel samples to baseband IQ, as linear operators.

Two kinds of stored samples (see :class:`.acquisition.PlaneWaveAcquisition`):

* ``"rf"`` (Verasonics NS200BW and custom modes): real samples, demodulated
  here: mixed to baseband with ``exp(-2j pi f_d t)``, low-pass filtered (a
  windowed-sinc FIR by default, or the zero-phase Butterworth of MUST's
  ``rf2iq``), times 2 to keep the envelope amplitude, and decimated. The
  operator is the same for every element of a transmit, so it is built once
  and placed per element in a sparse matrix (the first stage of the
  beamformer).
* ``"quadrature"`` (BS100BW, BS50BW, ...): the Vantage already took (I, Q)
  pairs a quarter period apart; ``I - j Q`` (formed while the frames are
  read) is the analytic signal at the I sample, and ``exp(-2j pi f_d t)``,
  folded into the delay-and-sum matrix, brings it to baseband: no separate stage.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import _validate as V
from .acquisition import PlaneWaveAcquisition
from .das import BasebandInput

LOWPASS = ("fir", "butter")


@dataclass(frozen=True)
class InputLayout:
    """Which part of a channel-data frame the beamformer reads.

    The input of a block is ``frame[row0:row1, channels, frames]`` as a
    C-ordered (rows, channels, frames) array, ``channels`` sorted: the samples
    of all elements at one time are neighbours, which keeps the delay-and-sum
    product's reads local and lets the demodulation filter run over rows as
    wide as channels x frames. For quadrature samples each (I, Q) row pair
    becomes one complex value ``Q + j I`` (``= j (I - j Q)``: two plain copies,
    the factor goes into the weights).
    """

    channels: np.ndarray
    row0: int
    row1: int

    @classmethod
    def of(cls, acq: PlaneWaveAcquisition) -> "InputLayout":
        used = np.unique(acq.channels[acq.rx_apod])
        return cls(used, int(acq.rows[:, 0].min()), int(acq.rows[:, 1].max()))

    @property
    def n_rows(self) -> int:
        return self.row1 - self.row0

    @property
    def n_channels(self) -> int:
        return int(self.channels.size)

    def channel_positions(self, acq: PlaneWaveAcquisition) -> np.ndarray:
        """(n_el,) column of each element among the channels read (-1 for elements not read)."""
        pos = np.searchsorted(self.channels, acq.channels)
        found = (pos < self.channels.size) & (self.channels[np.minimum(pos, self.channels.size - 1)] == acq.channels)
        return np.where(found & acq.rx_apod, pos, -1)


def quadrature_input(acq: PlaneWaveAcquisition, layout: InputLayout) -> BasebandInput:
    """Baseband samples from the complex values ``Q + j I`` of (I, Q) row pairs (no separate stage)."""
    if np.any((acq.rows[:, 0] - layout.row0) % 2) or layout.n_rows % 2:
        raise ValueError("rows: the receives do not start on the same (I, Q) pair boundaries")
    times, cols, coef = [], [], []
    wd = 2 * np.pi * acq.demod_frequency
    for a in range(acq.n_tx):
        t = acq.sample_times(a)
        times.append(t)
        cols.append(((acq.rows[a, 0] - layout.row0) // 2 + np.arange(t.size)) * layout.n_channels)
        coef.append(-1j * np.exp(-1j * wd * t))  # the input holds Q + j I; I - j Q = -j (Q + j I)
    offset = np.tile(layout.channel_positions(acq), (acq.n_tx, 1))
    return BasebandInput(times, cols, coef, offset, layout.n_rows // 2 * layout.n_channels)


def lowpass_matrix(n: int, sampling_frequency: float, cutoff: float, *, method: str = "fir",
                   numtaps: int | None = None, order: int = 5) -> np.ndarray:
    """(n, n) real matrix of a zero-phase low-pass filter over ``n`` samples.

    Parameters
    ----------
    n : int
    sampling_frequency, cutoff : float
        Hz; ``cutoff`` is the -6 dB (FIR) or -3 dB (Butterworth) frequency.
    method : str
        ``"fir"``: Hamming-windowed sinc of ``numtaps`` taps (odd; default
        spanning two periods of ``2 * cutoff``), centred, zeros beyond the ends.
        ``"butter"``: Butterworth of ``order`` run forwards and backwards
        (``scipy.signal.filtfilt`` with its default odd padding), as MUST's ``rf2iq``.
    """
    import scipy.signal as ss

    wn = cutoff / (sampling_frequency / 2)
    if not 0 < wn < 1:
        raise ValueError(f"demodulation cutoff {cutoff:g} Hz: expected between 0 and half the sampling "
                         f"frequency ({sampling_frequency / 2:g} Hz)")
    if method == "butter":
        b, a = ss.butter(order, wn)
        return ss.filtfilt(b, a, np.eye(n), axis=0)
    if method != "fir":
        raise ValueError(f"lowpass: expected one of {LOWPASS}, got {method!r}")
    if numtaps is None:
        numtaps = 2 * int(round(sampling_frequency / (2 * cutoff))) + 1
    numtaps = V.positive(numtaps, "numtaps", integer=True)
    if numtaps % 2 == 0:
        raise ValueError(f"numtaps: expected an odd number of taps (a centred filter), got {numtaps}")
    h = ss.firwin(numtaps, wn)
    half = numtaps // 2
    F = np.zeros((n, n))
    for m, hm in enumerate(h):
        d = m - half
        idx = np.arange(max(0, -d), min(n, n - d))
        F[idx, idx + d] = hm
    return F


@dataclass(frozen=True)
class RFStage:
    """Demodulation of RF rows, one small real matrix per transmit.

    ``mats[a]`` (2 n_bb, rows of receive ``a``) maps the receive's rows (each a
    row of channels x frames) to the real parts, then the imaginary parts, of
    its ``n_bb`` baseband samples; they are stored from row ``base[a]`` of the
    (samples, channels, frames) baseband block.
    """

    mats: list
    row_slices: list
    base: list
    n_bb: int

    @property
    def nnz(self) -> int:
        return int(sum(m.nnz for m in self.mats))


def rf_stage(acq: PlaneWaveAcquisition, layout: InputLayout, *, bandwidth: float = 1.0, lowpass: str = "fir",
             numtaps: int | None = None, decimation: int | None = None, dtype=np.float32):
    """The demodulation stage for RF samples and how the delay-and-sum stage reads its output.

    Parameters
    ----------
    bandwidth : float
        Fractional bandwidth kept around ``demod_frequency`` (1.0: +-f_d/2).
    lowpass, numtaps : see :func:`lowpass_matrix`.
    decimation : int, optional
        Keep one baseband sample in ``decimation``; default the largest that
        leaves at least two per period of ``demod_frequency`` (1 for ``"butter"``).

    Returns
    -------
    stage : RFStage
    bb : BasebandInput
        How the delay-and-sum stage reads the (samples, channels) baseband block.
    """
    bw = V.positive(bandwidth, "bandwidth")
    fs, fd = acq.sampling_frequency, acq.demod_frequency
    if decimation is None:
        decimation = 1 if lowpass == "butter" else max(1, int(fs // (2 * fd)))
    dec = V.positive(decimation, "decimation", integer=True)
    wd = 2 * np.pi * fd
    nch = layout.n_channels
    mats, slices, bases, times, cols, coef = [], [], [], [], [], []
    base = 0
    for a in range(acq.n_tx):
        t = acq.sample_times(a)
        F = lowpass_matrix(t.size, fs, bw * fd / 2, method=lowpass, numtaps=numtaps)[::dec]
        # mixing relative to the first sample; its phase exp(-j wd t0) goes to the next stage's coefficients,
        # so at 4 samples per period the carrier is 1, -j, -1, j and half the real/imaginary weights vanish
        Da = 2 * F * np.exp(-1j * wd * (t - t[0]))[None, :]
        big = np.abs(Da).max()
        # the Butterworth response never ends: drop what is below 1e-5 of its peak (well under 1e-3 of an image)
        floor = (1e-5 if lowpass == "butter" else 1e-9) * big
        stacked = np.concatenate([Da.real, Da.imag])
        stacked[np.abs(stacked) < floor] = 0
        mats.append(sp.csr_matrix(stacked.astype(dtype)))
        slices.append(slice(int(acq.rows[a, 0] - layout.row0), int(acq.rows[a, 1] - layout.row0)))
        n_bb = Da.shape[0]
        bases.append(base)
        times.append(t[::dec])
        cols.append((base + np.arange(n_bb)) * nch)
        coef.append(np.full(n_bb, np.exp(-1j * wd * t[0])))
        base += n_bb
    offset = np.tile(layout.channel_positions(acq), (acq.n_tx, 1))
    return RFStage(mats, slices, bases, base), BasebandInput(times, cols, coef, offset, base * nch)
