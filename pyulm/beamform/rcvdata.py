"""Reading a Verasonics workspace's ``RcvData`` lazily and beamforming it to IQ.

:func:`open_rcvdata` reads the small structs (``Trans``, ``TX``, ``TW``,
``Receive``, ``PData``, ``Resource``, ``Event``) and the shape of ``RcvData``;
:meth:`RcvDataSource.read` then reads one range of compound frames at a time
and beamforms it. MAT v7.3 files are read slice by slice (h5py and pyulm.io's
parallel chunk reader), MAT v5 files with pyulm's MAT v5 codec: only the
buffer frames asked for are read (an uncompressed ``-v6`` file reads only their bytes; a compressed
``-v7`` one inflates its stream up to them, keeping nothing else).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .. import _validate as V
from .beamformer import Beamformer
from .das import make_grid
from .workspace import RcvLayout, WorkspaceError, parse_workspace

_META = ("Trans", "TX", "TW", "Receive", "PData", "Resource", "Event", "P", "UF")
#: channel data read and beamformed at a time by :meth:`RcvDataSource.read`
CHUNK_BYTES = 128 * 2**20


class RcvDataSource:
    """A Verasonics workspace holding ``RcvData``: compound frames beamformed on demand.

    Attributes
    ----------
    path : Path
    format : str
        ``"mat5"`` or ``"mat73"``.
    layout : RcvLayout
        The acquisition (``layout.acq``) and where its frames sit in ``RcvData``.
    shape : (nz, nx, n_frames)
        Shape of the IQ that :meth:`read` returns.
    pixel_size, origin : (float, float)
        (z, x) in wavelengths of ``Trans.frequency`` (origin: centre of pixel (0, 0)).
    wavelength : float
        m.
    stored_shape : (rows, channels, frames)
        MATLAB shape of ``RcvData{buffer}``.
    notes : list of str
        Every assumption made reading the workspace.
    """

    def __init__(self, path, meta: dict, rcv_shapes: list, fmt: str, *, buffer=None, grid=None,
                 **beamformer_options):
        self.path, self.format = Path(path), fmt
        self.layout: RcvLayout = parse_workspace(meta, rcv_shapes, buffer)
        acq = self.layout.acq
        self.wavelength = acq.wavelength
        self.notes = list(self.layout.notes)
        if grid is None:
            shape, self.pixel_size, self.origin = self._pdata_grid()
        else:
            try:
                shape, pixel_size, origin = grid
            except (TypeError, ValueError):
                raise ValueError("grid: expected (shape, pixel_size, origin) = ((nz, nx), (dz, dx), (z0, x0)) in "
                                 f"wavelengths, got {grid!r}") from None
            self.pixel_size = V.pair(pixel_size, "pixel_size")
            self.origin = tuple(float(v) for v in np.asarray(origin, float).ravel())
        self.grid = make_grid(shape, self.pixel_size, self.origin, self.wavelength)
        self.shape = (*self.grid.shape, self.layout.n_frames)
        self.options = _checked_options(beamformer_options)
        self._bf = None
        shape = tuple(rcv_shapes[self.layout.buffer - 1])
        self.stored_shape = shape + (1,) * (3 - len(shape))

    def _pdata_grid(self):
        pd = self.layout.pdata
        if pd is None:
            raise WorkspaceError("the workspace has no PData; expected PData (PDelta, Size, Origin) to say where "
                                 "to beamform, or give grid=(shape, pixel_size, origin) in wavelengths")
        try:
            delta = np.asarray(pd["PDelta"], float).ravel()
            size = np.asarray(pd["Size"], float).ravel()
            origin = np.asarray(pd["Origin"], float).ravel()
        except (KeyError, TypeError, ValueError):
            raise WorkspaceError("PData: expected numeric fields PDelta [dx dy dz], Size [rows cols sections] and "
                                 "Origin [x y z] (wavelengths)") from None
        if delta.size < 3 or size.size < 2 or origin.size < 3 or np.any(delta[[0, 2]] <= 0) or np.any(size[:2] < 1):
            raise WorkspaceError(f"PData: PDelta = {delta.tolist()}, Size = {size.tolist()}, Origin = "
                                 f"{origin.tolist()}; expected positive steps [dx dy dz], Size [rows cols ...] and "
                                 "Origin [x y z] in wavelengths")
        if size.size > 2 and size[2] > 1:
            raise WorkspaceError(f"PData.Size = {size.tolist()}: a 3-D region; expected one section")
        return (int(size[0]), int(size[1])), (float(delta[2]), float(delta[0])), (float(origin[2]), float(origin[0]))

    @property
    def n_frames(self) -> int:
        return int(self.shape[2])

    @property
    def beamformer(self) -> Beamformer:
        """Built on first use (its matrices take a second or two)."""
        if self._bf is None:
            self._bf = Beamformer(self.layout.acq, self.grid, **self.options)
        return self._bf

    def channel_frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Compound frames ``start:stop`` of channel data, (rows, channels, t) as stored (int16)."""
        stop = self.n_frames if stop is None else int(stop)
        if not 0 <= int(start) < stop <= self.n_frames:
            raise ValueError(f"{self.path}: frame range {start}:{stop} outside 0:{self.n_frames}")
        L, G = self.layout, self.layout.groups
        t = np.arange(int(start), stop)
        bufs = L.frame_order[t // G]
        need = np.unique(bufs)
        data = self._buffer_frames(need)  # (n_need, channels, rows) C-order, MATLAB's [rows ch frames] reversed
        pos = np.searchsorted(need, bufs)
        R = L.acq.rows_per_frame
        if G == 1 and np.all(np.diff(pos) == 1):
            out = data[pos[0]:pos[-1] + 1, :, L.row0:L.row0 + R]  # a view: the beamformer copies it once
        elif G == 1:
            out = data[pos, :, L.row0:L.row0 + R]
        else:
            rows = L.row0 + (t % G)[:, None] * L.group_rows + np.arange(R)[None, :]
            out = data[pos[:, None, None], np.arange(data.shape[1])[None, :, None], rows[:, None, :]]
        return out.transpose(2, 1, 0)

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Beamformed compound frames ``start:stop`` as (nz, nx, t) complex64.

        Channel data are read and beamformed a piece at a time (about
        :data:`CHUNK_BYTES` of them), so a block costs its IQ plus one piece.
        """
        stop = self.n_frames if stop is None else int(stop)
        start = int(start)
        if not 0 <= start < stop <= self.n_frames:
            raise ValueError(f"{self.path}: frame range {start}:{stop} outside 0:{self.n_frames}")
        bf = self.beamformer
        acq = self.layout.acq
        per = acq.rows_per_frame * acq.n_channels * 2
        step = max(bf.batch, CHUNK_BYTES // per // bf.batch * bf.batch)
        out = np.empty((*self.grid.shape, stop - start), np.complex64)
        for a in range(start, stop, step):
            b = min(stop, a + step)
            out[:, :, a - start:b - start] = bf(self.channel_frames(a, b))
        return out

    def __getstate__(self):
        # sent to pipeline workers with the file's SourceInfo: the matrices are rebuilt there (see read_beamformed)
        return {**self.__dict__, "_bf": None}

    def _buffer_frames(self, frames: np.ndarray) -> np.ndarray:
        """Buffer frames ``frames`` (sorted, 0-based) as (n, channels, rows): h5py's order, MATLAB's reversed."""
        b = self.layout.buffer - 1
        lo, hi = int(frames[0]), int(frames[-1]) + 1
        # pyulm.io's readers: v7.3 deflate chunks inflated on every core, v5 read as a run of elements
        if self.format == "mat73":
            from ..io._v73 import h5_read_slice

            data = h5_read_slice(self.path, "RcvData", b, 2, lo, hi)
        else:
            from ..io._v5 import read_frames

            data = read_frames(self.path, "RcvData", self.stored_shape, lo, hi, cell=b)
        data = (data if data.ndim == 3 else data[:, :, None]).transpose(2, 1, 0)
        return data if hi - lo == frames.size else data[frames - lo]

    def describe(self) -> str:
        """Lines for ``pyulm info``."""
        L, acq = self.layout, self.layout.acq
        lam = self.wavelength
        lines = [
            f"RcvData{{{L.buffer}}}: {acq.rows_per_frame * L.groups} rows x {acq.n_channels} channels x "
            f"{L.frame_order.size} frame(s), {L.sample_mode} ({acq.sample_kind}), "
            f"{acq.sampling_frequency / 1e6:g} MHz {'pairs' if acq.sample_kind == 'quadrature' else 'samples'}, "
            f"demodulation {acq.demod_frequency / 1e6:g} MHz",
            f"transducer: {acq.n_elements} elements, pitch {acq.pitch * 1e3:.4g} mm = {acq.pitch / lam:.3g} "
            f"wavelengths, {acq.center_frequency / 1e6:g} MHz, c = {acq.speed_of_sound:g} m/s",
            f"transmits: {acq.n_tx} plane waves at {', '.join(f'{np.rad2deg(a):.3g}' for a in acq.angles)} deg, "
            f"{L.groups} compound frame(s) per buffer frame -> {self.n_frames} frames",
            f"beamformed to (z, x) = {self.grid.shape[0]} x {self.grid.shape[1]} pixels of "
            f"{self.pixel_size[0]:g} x {self.pixel_size[1]:g} wavelengths",
        ]
        return "\n".join(lines)


def open_rcvdata(path, *, buffer: int | None = None, grid=None, **beamformer_options) -> RcvDataSource:
    """Open a Verasonics workspace with ``RcvData`` for beamforming.

    Parameters
    ----------
    path : str or Path
        MAT v5/v6/v7 or v7.3 file saved from the Vantage workspace.
    buffer : int, optional
        1-based ``RcvData`` cell; default the one the receives write to.
    grid : (shape, pixel_size, origin), optional
        ``((nz, nx), (dz, dx), (z0, x0))`` in wavelengths; default ``PData``.
    **beamformer_options
        Passed to :class:`~pyulm.beamform.Beamformer` (``f_number``,
        ``apodization``, ``lowpass``, ``backend``, ...).

    Returns
    -------
    RcvDataSource

    Raises
    ------
    WorkspaceError
        (a ``ValueError``) naming the field that is missing or not what pyulm
        expects (no ``Receive`` or ``Trans``, inconsistent sample indices,
        unsupported sample mode, curved or matrix probe, ...).
    """
    from ..io import list_variables, mat_version, read_mat

    path = Path(path)
    fmt = mat_version(path)
    if fmt not in ("mat5", "mat73"):
        raise WorkspaceError(f"{path}: a {fmt} file; expected a MAT v5/v7 or v7.3 Verasonics workspace")
    names = {v.name: v for v in list_variables(path, fmt)}
    if "RcvData" not in names:
        raise WorkspaceError(f"{path}: no RcvData; expected a Verasonics workspace saved with its RcvData")
    if names["RcvData"].mclass != "cell":
        raise WorkspaceError(f"{path}: RcvData is a {names['RcvData'].mclass}; expected a cell of int16 buffers")
    fast = {}
    if fmt == "mat73":
        from ._h5structs import EVENT_FIELDS, RECEIVE_FIELDS, read_struct_arrays

        fast = read_struct_arrays(path, {"Receive": RECEIVE_FIELDS, "Event": EVENT_FIELDS})
    meta = read_mat(path, [n for n in _META if n in names and n not in fast], version=fmt)
    meta.update(fast)
    if fmt == "mat73":
        shapes = _h5_shapes(path)
    else:
        from ..io._v5 import cell_shapes

        shapes = [dims for dims, _ in cell_shapes(path, "RcvData")]
    try:
        return RcvDataSource(path, meta, shapes, fmt, buffer=buffer, grid=grid, **beamformer_options)
    except WorkspaceError as exc:
        raise WorkspaceError(f"{path}: {exc}") from None


def _h5_shapes(path) -> list:
    import h5py

    with h5py.File(path, "r") as f:
        refs = f["RcvData"][()].T.ravel(order="F")
        return [tuple(reversed(f[r].shape)) if r else (0, 0) for r in refs]


def _checked_options(options: dict) -> dict:
    """Beamformer keyword options, refused here (not at the first read) when unknown."""
    import inspect

    known = [p for p in inspect.signature(Beamformer).parameters if p not in ("acq", "grid")]
    bad = sorted(set(options) - set(known))
    if bad:
        raise ValueError(f"{', '.join(bad)}: unknown beamforming option(s); expected some of {', '.join(known)}")
    return dict(options)


_BUILT: dict = {}  # per process: (file identity, buffer, options) -> source whose beamformer is built


def source_info(path, fmt: str, buffer, variables: list, notes: list, **options):
    """The :class:`pyulm.io.SourceInfo` of a workspace holding RcvData (``layout = "rcvdata"``).

    ``pyulm.io.inspect`` hands RcvData workspaces here; :func:`read_beamformed`
    then gives their frames as IQ. The source travels in ``info.rcvdata``.
    """
    from ..io import SourceInfo

    src = open_rcvdata(path, buffer=buffer, **options)
    acq, L = src.layout.acq, src.layout
    info = SourceInfo(Path(path), fmt, "rcvdata", "RcvData", L.buffer, src.shape, tuple(src.stored_shape), "int16",
                      pixel_size=src.pixel_size, origin=src.origin, frame_rate=L.frame_rate,
                      center_frequency_mhz=acq.center_frequency / 1e6, speed_of_sound=acq.speed_of_sound,
                      notes=list(notes) + _described(src) + src.notes, variables=variables, sample_nbytes=8)
    info.rcvdata = src
    return info


def _described(src) -> list:
    first, *rest = src.describe().split("\n")
    return [f"beamformed by pyulm.beamform from {first}"] + rest


def read_beamformed(info, start: int, stop: int) -> np.ndarray:
    """Frames ``start:stop`` of an RcvData source as IQ; the beamformer is built once per process."""
    src = info.rcvdata
    st = os.stat(src.path)
    key = (str(src.path), st.st_mtime_ns, st.st_size, src.layout.buffer, repr(sorted(src.options.items())),
           src.grid.shape, src.pixel_size, src.origin)
    built = _BUILT.get(key)
    if built is None:
        if len(_BUILT) >= 2:
            _BUILT.pop(next(iter(_BUILT)))
        built = _BUILT[key] = src
    return built.read(start, stop)
