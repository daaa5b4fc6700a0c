"""Channel data to complex IQ (z, x, t): demodulation, delay-and-sum, compounding.

A :class:`Beamformer` precomputes its sparse matrices once (the demodulation
stage for RF samples, then delay-and-sum with compounding) and applies them to
blocks of frames: each block is one sparse product per stage, frames as the
dense columns, split by rows over threads (scipy releases the GIL) or handed
to torch on any device.
"""
from __future__ import annotations

import threading
import warnings

import numpy as np
from .. import _validate as V
from .._parallel import chunk_bounds, default_workers, map_chunks
from .acquisition import PlaneWaveAcquisition
from .das import Grid, das_matrix
from .demod import InputLayout, quadrature_input, rf_stage

BACKENDS = ("auto", "scipy", "torch")


class Beamformer:
    """Plane-wave delay-and-sum beamformer for one acquisition and one pixel grid.

    Parameters
    ----------
    acq : PlaneWaveAcquisition
    grid : Grid
        Pixel centres (see :func:`~pyulm.beamform.make_grid`).
    f_number : float
        Receive F-number (0: full aperture). Default 1.
    apodization : str
        ``"uniform"`` (default), ``"boxcar"`` (PyMUST's hard-edged aperture) or
        ``"hann"`` across the receive aperture; see :func:`~pyulm.beamform.das.das_matrix`.
    lowpass : str
        RF samples only: ``"fir"`` (default, fast) or ``"butter"`` (MUST's
        ``rf2iq`` filter: zero-phase Butterworth of order 5, no decimation).
    bandwidth : float
        RF samples only: fractional bandwidth kept by the low-pass, default 1.
    numtaps, decimation : int, optional
        RF samples only; see :func:`~pyulm.beamform.demod.rf_stage`.
    backend : str
        ``"auto"`` (default: torch when it is installed, else scipy),
        ``"scipy"`` (threads over row blocks) or ``"torch"`` (sparse CSR
        tensors on ``device``; about twice scipy's speed on CPU for 64 or more
        frames per product). Both give the same IQ to float32 rounding.
    device : str, optional
        torch device, e.g. ``"cuda"``; default ``"cpu"``.
    batch : int
        Frames per sparse product (default 64).

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.beamform import make_grid
    >>> from pyulm.sim.channel import plane_wave_acquisition
    >>> acq = plane_wave_acquisition(n_elements=16, angles=(0,), depth=(4, 20), sample_mode="NS200BW")
    >>> bf = Beamformer(acq, make_grid((8, 6), (1.0, 1.0), (5.0, -2.5), acq.wavelength), backend="scipy")
    >>> frames = np.zeros((acq.rows_per_frame, acq.n_channels, 3), np.int16)  # RcvData's (rows, channels, t)
    >>> bf(frames).shape, bf(frames).dtype
    ((8, 6, 3), dtype('complex64'))
    """

    def __init__(self, acq: PlaneWaveAcquisition, grid: Grid, *, f_number: float = 1.0, apodization: str = "uniform",
                 lowpass: str = "fir", bandwidth: float = 1.0, numtaps: int | None = None,
                 decimation: int | None = None, backend: str = "auto", device: str | None = None,
                 batch: int = 64):
        if not isinstance(acq, PlaneWaveAcquisition):
            raise ValueError(f"acq: expected a PlaneWaveAcquisition, got {type(acq).__name__}")
        if not isinstance(grid, Grid):
            raise ValueError(f"grid: expected a pyulm.beamform.Grid, got {type(grid).__name__}")
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        if backend == "auto":
            import importlib.util

            backend = "torch" if device is not None or importlib.util.find_spec("torch") else "scipy"
        if device is not None and backend != "torch":
            raise ValueError("device: only used with backend='torch'")
        self.acq, self.grid, self.backend = acq, grid, backend
        self.batch = V.positive(batch, "batch", integer=True)
        self.layout = InputLayout.of(acq)
        if acq.sample_kind == "rf":
            self.demod, bb = rf_stage(acq, self.layout, bandwidth=bandwidth, lowpass=lowpass, numtaps=numtaps,
                                      decimation=decimation)
        else:
            if (lowpass, bandwidth, numtaps, decimation) != ("fir", 1.0, None, None):
                raise ValueError("lowpass, bandwidth, numtaps, decimation: only for RF samples; this acquisition "
                                 "holds quadrature (I, Q) samples")
            self.demod, bb = None, quadrature_input(acq, self.layout)
        self.das = das_matrix(acq, grid, bb, f_number=f_number, apodization=apodization)
        self.params = {"f_number": float(f_number), "apodization": apodization, "lowpass": lowpass,
                       "bandwidth": float(bandwidth), "numtaps": numtaps, "decimation": decimation,
                       "backend": backend}
        self._split, self._local = {}, threading.local()
        self._torch = _TorchStages(self.demod, self.das, device or "cpu") if backend == "torch" else None

    @property
    def nnz(self) -> int:
        """Stored weights: complex delay-and-sum weights plus real demodulation weights."""
        return int(self.das.nnz + (self.demod.nnz if self.demod is not None else 0))

    def __call__(self, frames) -> np.ndarray:
        """Beamform channel-data frames.

        Parameters
        ----------
        frames : array (rows_per_frame, n_channels[, n_frames])
            Frames of channel data in MATLAB's order (RcvData's), any numeric
            dtype (int16 as stored), any memory order; not modified.

        Returns
        -------
        ndarray (nz, nx, n_frames) complex64
        """
        arr = np.asarray(frames)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        acq = self.acq
        if arr.ndim != 3 or arr.shape[:2] != (acq.rows_per_frame, acq.n_channels):
            raise ValueError(f"frames: expected channel data of shape (rows_per_frame, n_channels, n_frames) = "
                             f"({acq.rows_per_frame}, {acq.n_channels}, n), got {arr.shape}")
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise ValueError(f"frames: expected real samples (int16 as stored, or float), got {arr.dtype}")
        nz, nx = self.grid.shape
        nt = arr.shape[2]
        out = np.empty((nz * nx, nt), np.complex64)
        batches = [(f0, min(nt, f0 + self.batch)) for f0 in range(0, nt, self.batch)]

        def run(i0, i1):
            for f0, f1 in batches[i0:i1]:
                out[:, f0:f1] = self._apply(self._input(arr[:, :, f0:f1]))

        # Threads take whole batches (each thread its own buffers, products on one core): no
        # synchronisation inside a product, which costs dearly when another job holds a core.
        # One batch only: its steps are split over threads instead.
        workers = default_workers()
        map_chunks(run, chunk_bounds(len(batches), workers, 1), workers)
        return out.reshape(nz, nx, nt)

    def _input(self, block: np.ndarray) -> np.ndarray:
        """The used rows of the used channels as a C-ordered (rows, channels, frames) block.

        float32 for RF; complex64 ``Q + j I`` per (I, Q) row pair for quadrature samples.
        """
        L = self.layout
        sub = block[L.row0:L.row1]
        ch = L.channels
        sub = sub[:, ch[0]:ch[-1] + 1] if np.all(np.diff(ch) == 1) else sub[:, ch]
        nf = block.shape[2]
        quad = self.demod is None
        if quad:
            u = self._buffer("input", (L.n_rows // 2, ch.size, nf), np.complex64)
        else:
            u = self._buffer("input", (L.n_rows, ch.size, nf), np.float32)
        turn = nf > 1 and abs(sub.strides[2]) > abs(sub.strides[0])
        tmp = self._buffer("frames_first", (nf, L.n_rows, ch.size), sub.dtype) if turn else None

        def convert(r0, r1):  # rows r0:r1 (even bounds): numpy's copies release the GIL
            part = sub[r0:r1]
            if turn:
                # frames outermost in memory (as h5py and pyulm.io read RcvData): turn each frame's
                # (channels, rows) into (rows, channels) first, so the final frames-last copy reads
                # whole rows; one strided copy from frames-first to frames-last is ~3x slower
                tmp[:, r0:r1] = part.transpose(2, 0, 1)
                part = tmp[:, r0:r1].transpose(1, 2, 0)
            if quad:
                u[r0 // 2:r1 // 2].real = part[1::2]
                u[r0 // 2:r1 // 2].imag = part[0::2]
            else:
                u[r0:r1] = part

        workers = default_workers()
        edges = [2 * round(i * L.n_rows / (2 * workers)) for i in range(workers)] + [L.n_rows]
        map_chunks(convert, [(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a], workers)
        return u

    def _buffer(self, name, shape, dtype):
        """A working array kept between batches (per thread): fresh ones cost page faults on every batch."""
        bufs = self._local.__dict__.setdefault("bufs", {})
        buf = bufs.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = bufs[name] = np.empty(shape, dtype)
        return buf

    def _apply(self, u: np.ndarray) -> np.ndarray:
        nf = u.shape[-1]
        if self._torch is not None:
            return self._torch(u)
        if self.demod is not None:
            st, nch = self.demod, u.shape[1]
            x = self._buffer("baseband", (st.n_bb, nch, nf), np.complex64)

            def demodulate(a, _):
                # one transmit: a small banded matrix over rows of channels x frames
                y = st.mats[a] @ u[st.row_slices[a]].reshape(-1, nch * nf)
                n = y.shape[0] // 2
                xa = x[st.base[a]:st.base[a] + n].reshape(n, -1)
                xa.real, xa.imag = y[:n], y[n:]

            map_chunks(demodulate, [(a, a + 1) for a in range(len(st.mats))], default_workers())
            u = x
        return self._product(self.das, u.reshape(-1, nf))

    def _product(self, S, u):
        workers = default_workers()
        if workers <= 1 or S.shape[0] < 2048:
            return S @ u
        key = (id(S), workers)
        if key not in self._split:
            edges = np.linspace(0, S.shape[0], workers + 1).round().astype(int)
            self._split[key] = [S[edges[i]:edges[i + 1]] for i in range(workers)]
        parts = self._split[key]
        blocks = map_chunks(lambda i, _: parts[i] @ u, [(i, i + 1) for i in range(len(parts))], workers)
        return np.concatenate(blocks, axis=0)


class _TorchStages:
    """The same stages as torch sparse CSR tensors on one device (threads as pyulm's, see _parallel)."""

    def __init__(self, demod, das, device):
        from .._optional import require

        torch = require("torch", "the torch beamforming backend")
        self.torch, self.device = torch, torch.device(device)
        self.stage = demod
        with warnings.catch_warnings():  # "sparse CSR support is in beta": only plain CSR @ dense is used
            warnings.simplefilter("ignore", UserWarning)
            self.mats = [] if demod is None else [self._csr(m) for m in demod.mats]
            self.das = self._csr(das)

    def _csr(self, S):
        t = self.torch
        return t.sparse_csr_tensor(t.from_numpy(S.indptr.astype(np.int64)), t.from_numpy(S.indices.astype(np.int64)),
                                   t.from_numpy(S.data), size=S.shape, device=self.device)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        t = self.torch
        if self.device.type == "cpu":
            t.set_num_threads(default_workers())
        x = t.from_numpy(u).to(self.device)
        nrow, nch, nf = x.shape
        if self.stage is not None:
            st = self.stage
            bb = t.empty((st.n_bb, nch, nf), dtype=t.complex64, device=self.device)
            for a, M in enumerate(self.mats):
                y = M @ x[st.row_slices[a]].reshape(-1, nch * nf)
                n = y.shape[0] // 2
                bb[st.base[a]:st.base[a] + n] = t.complex(y[:n], y[n:]).reshape(n, nch, nf)
            x = bb
        return (self.das @ x.reshape(-1, nf)).cpu().numpy()
