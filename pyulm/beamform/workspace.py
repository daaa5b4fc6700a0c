"""Verasonics workspace structs (Trans, TX, TW, Receive, PData, Resource, Event)
to a :class:`PlaneWaveAcquisition` and the frame layout of ``RcvData``.

Verasonics conventions used (Vantage "Sequence Programming" manual):
distances and delays in wavelengths of ``Trans.frequency`` (MHz) at
``Resource.Parameters.speedOfSound`` (m/s), except ``Trans.ElementPos`` in
``Trans.units`` (``'mm'`` or ``'wavelengths'``); ``Receive(i).startSample`` /
``endSample`` are 1-based inclusive rows of ``RcvData{bufnum}(:, :,
framenum)``; the first sample is taken at ``2 * startDepth`` wavelengths of
travel; ``Trans.lensCorrection`` (one way) and ``TW.peak`` delay every echo.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._fields import WorkspaceError, element_positions, number, receive_timing, structs
from .acquisition import PlaneWaveAcquisition

__all__ = ["RcvLayout", "WorkspaceError", "parse_workspace"]


@dataclass
class RcvLayout:
    """Where the compound frames sit in ``RcvData{buffer}``.

    Output frame ``t`` is group ``t % groups`` of buffer frame ``frame_order[t // groups]``:
    rows ``row0 + g * group_rows`` onwards, ``acq.rows_per_frame`` of them.
    """

    acq: PlaneWaveAcquisition
    buffer: int
    frame_order: np.ndarray
    groups: int
    row0: int
    group_rows: int
    sample_mode: str
    pdata: dict | None
    frame_rate: float | None
    notes: list = field(default_factory=list)

    @property
    def n_frames(self) -> int:
        return int(self.frame_order.size * self.groups)


def _tx_of_receives(meta, recv, n_tx_structs, notes) -> np.ndarray:
    """0-based TX index of every receive (-1 if no event uses it), from Event or by acqNum."""
    tx_of = np.full(len(recv), -1, np.int64)
    events = structs(meta, "Event") if "Event" in meta else None
    if events:
        for i, ev in enumerate(events):
            t = number(ev, "tx", f"Event({i + 1})", required=False)
            r = number(ev, "rcv", f"Event({i + 1})", required=False)
            if t is None or r is None or int(t[0]) <= 0 or int(r[0]) <= 0:
                continue
            t, r = int(t[0]) - 1, int(r[0]) - 1
            if r >= len(recv) or t >= n_tx_structs:
                raise WorkspaceError(f"Event({i + 1}): rcv = {r + 1}, tx = {t + 1} outside Receive(1:{len(recv)}) "
                                     f"/ TX(1:{n_tx_structs})")
            if tx_of[r] not in (-1, t):
                raise WorkspaceError(f"Event: Receive({r + 1}) follows both TX({tx_of[r] + 1}) and TX({t + 1}); "
                                     "expected one transmit per receive")
            tx_of[r] = t
        return tx_of
    notes.append("no Event struct: receive acqNum k taken to follow TX(mod(k-1, numel(TX)) + 1)")
    for i, r in enumerate(recv):
        k = int(number(r, "acqNum", f"Receive({i + 1})")[0])
        tx_of[i] = (k - 1) % n_tx_structs
    return tx_of


def parse_workspace(meta: dict, rcv_shape: tuple, buffer: int | None = None) -> RcvLayout:
    """The acquisition and frame layout of ``RcvData{buffer}`` from the workspace's structs.

    Parameters
    ----------
    meta : dict
        ``Trans``, ``TX``, ``TW``, ``Receive``, ``PData``, ``Resource``, ``Event``,
        ``P``, ``UF`` as :func:`pyulm.io.read_mat` returns them (missing ones absent).
    rcv_shape : list of tuple
        MATLAB shape (rows, channels[, frames]) of every ``RcvData`` cell.
    buffer : int, optional
        1-based ``RcvData`` cell (default: the one the receives write to).
    """
    notes: list[str] = []
    for name, what in (("Receive", "startSample, endSample, framenum, acqNum, sampleMode, decimSampleRate"),
                       ("Trans", "frequency, units, ElementPos"), ("TX", "Steer, Delay, Apod")):
        if name not in meta:
            raise WorkspaceError(f"the workspace holds RcvData but no {name}; expected the {name} struct "
                                 f"Verasonics saves with it ({what})")
    trans = structs(meta, "Trans")[0]
    recv_all = structs(meta, "Receive")
    txs = structs(meta, "TX")
    f0 = float(number(trans, "frequency", "Trans")[0]) * 1e6
    if f0 <= 0:
        raise WorkspaceError(f"Trans.frequency = {f0 / 1e6}: expected a positive frequency in MHz")
    res = meta.get("Resource") if isinstance(meta.get("Resource"), dict) else {}
    c = number(res.get("Parameters") if isinstance(res.get("Parameters"), dict) else {}, "speedOfSound",
             "Resource.Parameters", required=False)
    if c is None:
        c = np.array([1540.0])
        notes.append("Resource.Parameters.speedOfSound missing: 1540 m/s assumed")
    c = float(c[0])
    lam = c / f0
    xe = element_positions(trans, lam, notes)
    n_el = xe.size

    bufs = np.array([int(number(r, "bufnum", f"Receive({i + 1})", default=np.array([1.0]))[0])
                     for i, r in enumerate(recv_all)])
    if buffer is None:
        buffer = int(bufs[0])
    if not 1 <= buffer <= len(rcv_shape):
        raise WorkspaceError(f"Receive.bufnum = {buffer}: RcvData has {len(rcv_shape)} buffer(s)")
    keep = np.flatnonzero(bufs == buffer)
    if keep.size == 0:
        raise WorkspaceError(f"no Receive writes to RcvData{{{buffer}}} (Receive.bufnum)")
    shape = tuple(rcv_shape[buffer - 1]) + (1,) * (3 - len(rcv_shape[buffer - 1]))
    rows_pf, n_ch, n_buf_frames = (int(v) for v in shape[:3])
    recv = [recv_all[i] for i in keep]
    tx_of = _tx_of_receives(meta, recv_all, len(txs), notes)[keep]
    mode, kind, fs, fd = receive_timing(recv, f0, notes)
    for r in recv:
        if int(number(r, "mode", "Receive", default=np.array([0.0]))[0]) != 0:
            raise WorkspaceError("Receive.mode = 1 (accumulate): the transmits were summed on the scanner; "
                                 "expected mode 0 (each receive stored on its own)")

    def ints(key):
        return np.array([int(number(r, key, f"Receive({keep[i] + 1})")[0]) for i, r in enumerate(recv)])

    start, end, frame, acqn = ints("startSample"), ints("endSample"), ints("framenum"), ints("acqNum")
    bad = np.flatnonzero((start < 1) | (end < start) | (end > rows_pf))
    if bad.size:
        i = keep[bad[0]]
        raise WorkspaceError(f"Receive({i + 1}).startSample/endSample = {start[bad[0]]}/{end[bad[0]]}: expected "
                             f"1 <= startSample <= endSample <= {rows_pf} (rows of RcvData{{{buffer}}})")
    if np.any((frame < 1) | (frame > n_buf_frames)):
        i = keep[np.flatnonzero((frame < 1) | (frame > n_buf_frames))[0]]
        raise WorkspaceError(f"Receive({i + 1}).framenum = {recv_all[i].get('framenum')}: expected 1..{n_buf_frames}"
                             f" (frames of RcvData{{{buffer}}})")
    if np.any(tx_of < 0):
        raise WorkspaceError(f"Receive({keep[np.flatnonzero(tx_of < 0)[0]] + 1}) follows no transmit in Event")
    # the receives of frame 1 in acquisition order define the layout; every frame must repeat it
    first = np.flatnonzero(frame == frame.min())
    first = first[np.argsort(acqn[first])]
    layout = {int(acqn[i]): (int(start[i]), int(end[i]), int(tx_of[i])) for i in first}
    for i in range(len(recv)):
        if layout.get(int(acqn[i])) != (int(start[i]), int(end[i]), int(tx_of[i])):
            raise WorkspaceError(
                f"Receive({keep[i] + 1}): acqNum {acqn[i]} of frame {frame[i]} uses rows {start[i]}-{end[i]} "
                f"and TX({tx_of[i] + 1}); expected the same rows and transmit as in frame {frame.min()} "
                "(inconsistent sample indices)")
    seq = [layout[k] for k in sorted(layout)]
    tx_seq = [s[2] for s in seq]
    n_tx = len(dict.fromkeys(tx_seq))
    if len(seq) % n_tx or any(tx_seq[j] != tx_seq[j % n_tx] for j in range(len(seq))):
        raise WorkspaceError(f"Receive/Event: the {len(seq)} acquisitions of a frame use TX {[t + 1 for t in tx_seq]};"
                             f" expected the same {n_tx} transmits repeated in the same order")
    groups = len(seq) // n_tx
    starts = np.array([s[0] - 1 for s in seq]).reshape(groups, n_tx)
    stops = np.array([s[1] for s in seq]).reshape(groups, n_tx)
    row0 = int(starts[0].min())
    stride = int(starts[1, 0] - starts[0, 0]) if groups > 1 else int(stops[0].max() - row0)
    if groups > 1 and (np.any(starts - starts[:1] != stride * np.arange(groups)[:, None])
                       or np.any(stops - starts != (stops - starts)[:1])):
        raise WorkspaceError("Receive.startSample/endSample: the compound groups of a frame are not evenly spaced "
                             "rows of the same length (inconsistent sample indices)")
    if groups > 1 and stride < int(stops[0].max() - row0):
        raise WorkspaceError("Receive.startSample/endSample: the compound groups of a frame overlap")
    acq = _acquisition(txs, tx_seq[:n_tx], meta, recv, first[:n_tx], xe, lam, c, f0, fs, fd, kind, trans,
                       starts[0] - row0, stops[0] - row0, stride, n_ch, notes)
    n_frames_seen = np.unique(frame).size
    order = _frame_order(res, buffer, n_buf_frames, notes)
    if n_frames_seen != n_buf_frames:
        notes.append(f"Receive lists {n_frames_seen} frame(s) of RcvData{{{buffer}}}'s {n_buf_frames}")
    pdata = structs(meta, "PData")[0] if "PData" in meta else None
    return RcvLayout(acq, buffer, order, groups, row0, stride, mode, pdata, _frame_rate(meta), notes)


def _acquisition(txs, tx_seq, meta, recv, first, xe, lam, c, f0, fs, fd, kind, trans, r0, r1, rows_pf, n_ch, notes):
    n_el = xe.size
    angles, delays = [], []
    for t in tx_seq:
        tx, where = txs[t], f"TX({t + 1})"
        steer = number(tx, "Steer", where, default=np.zeros(2))
        if steer.size > 1 and abs(steer[1]) > 1e-9:
            raise WorkspaceError(f"{where}.Steer = {steer.tolist()}: elevation steering needs a 2-D array; "
                                 "expected [azimuth 0]")
        focus = number(tx, "focus", where, default=np.zeros(1))
        if abs(focus[0]) > 1e-9:
            raise WorkspaceError(f"{where}.focus = {focus[0]:g} wavelengths: a focused or diverging transmit; "
                                 "expected plane waves (focus = 0)")
        d = number(tx, "Delay", where)
        apod = number(tx, "Apod", where, default=np.ones(d.size))
        if d.size != n_el or apod.size != n_el:
            raise WorkspaceError(f"{where}.Delay/Apod have {d.size}/{apod.size} values; expected one per element "
                                 f"({n_el}, the rows of Trans.ElementPos)")
        angles.append(float(steer[0]))
        delays.append(np.where(apod != 0, d / f0, np.nan))
    t_start = []
    for i in first:
        sd = number(recv[i], "startDepth", "Receive", required=False)
        if sd is None:
            notes.append("Receive.startDepth missing: first sample at time 0")
            sd = np.zeros(1)
        t_start.append(2 * float(sd[0]) / f0)
    lens = number(trans, "lensCorrection", "Trans", required=False)
    if lens is None:
        notes.append("Trans.lensCorrection missing: no lens delay")
        lens = np.zeros(1)
    peak = 0.0
    tws = structs(meta, "TW") if "TW" in meta else None
    w = int(number(txs[tx_seq[0]], "waveform", "TX", default=np.ones(1))[0])
    if tws and 1 <= w <= len(tws) and number(tws[w - 1], "peak", f"TW({w})", required=False) is not None:
        peak = float(number(tws[w - 1], "peak", f"TW({w})")[0])
    else:
        notes.append("TW.peak missing: echoes taken to peak at the time of flight")
    conn = number(trans, "Connector", "Trans", required=False)
    if conn is None:
        if n_ch < n_el:
            raise WorkspaceError(f"Trans.Connector missing and RcvData has {n_ch} channels for {n_el} elements; "
                                 "expected Trans.Connector (element -> channel)")
        conn = np.arange(1, n_el + 1)
        notes.append("Trans.Connector missing: element k read from RcvData column k")
    if conn.size != n_el or np.any(conn < 1) or np.any(conn > n_ch):
        raise WorkspaceError(f"Trans.Connector: expected {n_el} channel numbers within 1..{n_ch} (columns of RcvData)")
    rx_apod = number(recv[first[0]], "Apod", "Receive", required=False)
    if rx_apod is not None and rx_apod.size != n_el:
        notes.append(f"Receive.Apod has {rx_apod.size} values for {n_el} elements: every element used")
        rx_apod = None
    acq = PlaneWaveAcquisition(
        element_x=xe, angles=np.array(angles), tx_delays=np.array(delays), sampling_frequency=fs, sample_kind=kind,
        demod_frequency=fd, speed_of_sound=c, t_start=np.array(t_start), rows=np.stack([r0, r1], axis=1),
        channels=conn.astype(np.int64) - 1, rows_per_frame=rows_pf, n_channels=n_ch,
        time_offset=(2 * float(lens[0]) + peak) / f0, rx_apod=None if rx_apod is None else rx_apod != 0,
        center_frequency=f0)
    try:
        acq.check_plane_waves()
    except ValueError as exc:
        raise WorkspaceError(str(exc).replace("TX(", "TX(", 1)) from None
    return acq


def _frame_order(res: dict, buffer: int, n: int, notes: list) -> np.ndarray:
    """Buffer frames oldest first: RcvData is a ring; ``Resource.RcvBuffer(b).lastFrame`` is the newest."""
    bufs = structs(res, "RcvBuffer") if isinstance(res, dict) and "RcvBuffer" in res else None
    last = None
    if bufs and len(bufs) >= buffer:
        last = number(bufs[buffer - 1], "lastFrame", f"Resource.RcvBuffer({buffer})", required=False)
    if last is None or n == 1:
        return np.arange(n)
    last = int(last[0])
    if not 1 <= last <= n:
        raise WorkspaceError(f"Resource.RcvBuffer({buffer}).lastFrame = {last}: expected 1..{n}")
    if last != n:
        notes.append(f"RcvData is a ring buffer: frames read from {last % n + 1} (after lastFrame = {last})")
    return (np.arange(n) + last) % n


def _frame_rate(meta: dict) -> float | None:
    for s, k in (("P", "FrameRate"), ("P", "frameRate"), ("UF", "FrameRateUF"), ("UF", "FrameRate")):
        v = meta.get(s)
        if isinstance(v, dict):
            val = number(v, k, s, required=False)
            if val is not None and val[0] > 0:
                return float(val[0])
    return None
