"""Writing channel data as a Verasonics workspace (the layout a Vantage saves).

Used by :mod:`pyulm.sim.channel` and the tests: ``Trans``, ``TX``, ``TW``,
``Receive`` (one per acquisition, struct array), ``Event``, ``PData``,
``Resource`` and ``RcvData`` (a cell holding one int16 buffer, rows x channels
x frames), plus ``P.FrameRate`` (user parameters, as lab scripts keep them).
"""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from .acquisition import PlaneWaveAcquisition


def _struct_array(items: list) -> np.ndarray:
    """A 1 x N MATLAB struct array (scipy and hdf5storage both write numpy records so)."""
    keys = list(items[0])
    arr = np.zeros((1, len(items)), dtype=[(k, object) for k in keys])
    for i, it in enumerate(items):
        for k in keys:
            arr[0, i][k] = it[k]
    return arr


def _row(v) -> np.ndarray:
    return np.atleast_2d(np.asarray(v, dtype=float))


def sample_mode_of(acq: PlaneWaveAcquisition) -> str:
    """The Vantage ``Receive.sampleMode`` name of an acquisition's sampling."""
    ratio = acq.sampling_frequency / acq.demod_frequency
    if acq.sample_kind == "rf":
        return "NS200BW" if np.isclose(ratio, 4.0) else "custom"
    for name, r in (("BS100BW", 1.0), ("BS67BW", 2 / 3), ("BS50BW", 0.5)):
        if np.isclose(ratio, r):
            return name
    raise ValueError(f"acq: quadrature pairs at {ratio:g} x the demodulation frequency; a Vantage stores them at "
                     "1 (BS100BW), 2/3 (BS67BW) or 1/2 (BS50BW)")


def workspace_variables(acq: PlaneWaveAcquisition, rcvdata: np.ndarray, *, pdata, units: str = "mm",
                        lens_correction: float = 0.0, frame_rate: float | None = None,
                        transducer: str = "custom") -> dict:
    """The MATLAB variables of a Vantage workspace holding ``rcvdata``.

    Parameters
    ----------
    acq : PlaneWaveAcquisition
        Rows are those of one compound frame; ``rcvdata`` may stack several
        compound frames per buffer frame (its rows a multiple of ``acq.rows_per_frame``).
    rcvdata : ndarray (rows, channels, frames) int16
    pdata : (shape, pixel_size, origin)
        ``((nz, nx), (dz, dx), (z0, x0))`` in wavelengths.
    units : str
        ``"mm"`` or ``"wavelengths"``: the unit ``Trans.ElementPos`` is written in.
    lens_correction : float
        ``Trans.lensCorrection``, wavelengths (one way); the rest of
        ``acq.time_offset`` goes to ``TW.peak``.
    frame_rate : float, optional
        Compound frames per second, stored as ``P.FrameRate``.
    """
    rcv = np.asarray(rcvdata)
    if rcv.dtype != np.int16 or rcv.ndim != 3:
        raise ValueError(f"rcvdata: expected int16 (rows, channels, frames), got {rcv.dtype} {rcv.shape}")
    if rcv.shape[1] != acq.n_channels or rcv.shape[0] % acq.rows_per_frame:
        raise ValueError(f"rcvdata: shape {rcv.shape}; expected {acq.n_channels} channels and a multiple of "
                         f"{acq.rows_per_frame} rows")
    if units not in ("mm", "wavelengths"):
        raise ValueError(f"units: expected 'mm' or 'wavelengths', got {units!r}")
    f0, lam = acq.center_frequency, acq.wavelength
    groups, n_frames, n_el = rcv.shape[0] // acq.rows_per_frame, rcv.shape[2], acq.n_elements
    mode = sample_mode_of(acq)
    scale = 1e3 if units == "mm" else 1 / lam
    pos = np.zeros((n_el, 5))
    pos[:, 0] = acq.element_x * scale
    trans = {"name": transducer, "units": units, "frequency": f0 / 1e6, "type": 0.0, "numelements": float(n_el),
             "ElementPos": pos, "Connector": (acq.channels + 1.0).reshape(-1, 1),
             "spacingMm": acq.pitch * 1e3, "spacing": acq.pitch / lam,
             "lensCorrection": float(lens_correction)}
    tx = []
    for a in range(acq.n_tx):
        d = acq.tx_delays[a] * f0
        tx.append({"waveform": 1.0, "Origin": _row([0, 0, 0]), "focus": 0.0, "Steer": _row([acq.angles[a], 0]),
                   "Apod": _row(np.isfinite(d)), "Delay": _row(np.nan_to_num(d))})
    tw = {"type": "parametric", "Parameters": _row([f0 / 1e6, 0.67, 2, 1]),
          "peak": acq.time_offset * f0 - 2 * lens_correction}
    rate = acq.sampling_frequency * (2 if acq.sample_kind == "quadrature" else 1) / 1e6
    receive, event = [], []
    for k in range(n_frames):
        for g in range(groups):
            for a in range(acq.n_tx):
                r0, r1 = acq.rows[a] + g * acq.rows_per_frame
                depth = acq.t_start[a] * f0 / 2
                receive.append({
                    "Apod": _row(acq.rx_apod), "startDepth": depth,
                    "endDepth": depth + (r1 - r0) * f0 / (2 * rate * 1e6), "TGC": 1.0, "bufnum": 1.0,
                    "framenum": float(k + 1), "acqNum": float(g * acq.n_tx + a + 1), "sampleMode": mode, "mode": 0.0,
                    "demodFrequency": acq.demod_frequency / 1e6, "decimSampleRate": rate,
                    "ADCRate": 4 * acq.demod_frequency / 1e6, "quadDecim": 1.0,
                    "startSample": float(r0 + 1), "endSample": float(r1)})
                event.append({"info": "acquisition", "tx": float(a + 1), "rcv": float(len(receive)), "recon": 0.0,
                              "process": 0.0})
        event.append({"info": "reconstruct", "tx": 0.0, "rcv": 0.0, "recon": 1.0, "process": 0.0})
    (nz, nx), (dz, dx), (z0, x0) = pdata
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = rcv
    out = {
        "Trans": trans, "TX": _struct_array(tx), "TW": tw, "Receive": _struct_array(receive),
        "Event": _struct_array(event),
        "PData": {"PDelta": _row([dx, 0, dz]), "Size": _row([nz, nx, 1]), "Origin": _row([x0, 0, z0])},
        "Resource": {"Parameters": {"speedOfSound": acq.speed_of_sound, "numTransmit": float(acq.n_channels),
                                    "numRcvChannels": float(acq.n_channels)},
                     "RcvBuffer": {"datatype": "int16", "rowsPerFrame": float(rcv.shape[0]),
                                   "colsPerFrame": float(rcv.shape[1]), "numFrames": float(n_frames),
                                   "lastFrame": float(n_frames)}},
        "RcvData": cell,
    }
    if frame_rate is not None:
        out["P"] = {"FrameRate": V.positive(frame_rate, "frame_rate")}
    return out


def save_workspace(path, variables: dict, *, version: str = "5") -> str:
    """Write workspace variables as MAT v5 (``scipy.io.savemat``, as ``save -v7``) or v7.3 (hdf5storage).

    Struct arrays (``TX``, ``Receive``, ``Event``) are numpy record arrays, which
    both writers store as MATLAB struct arrays. Returns the version written.
    """
    from .._fileutil import atomic_path

    if version == "5":
        import scipy.io

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                scipy.io.savemat(fh, variables, format="5", do_compression=True, oned_as="row")
        return version
    if version == "7.3":
        from .._optional import require

        hdf5storage = require("hdf5storage", "writing MAT v7.3 workspaces")
        with atomic_path(path, suffix=".part.mat") as tmp:
            hdf5storage.savemat(str(tmp), variables, format="7.3", matlab_compatible=True,
                                store_python_metadata=False, truncate_existing=True)
        return version
    raise ValueError(f"version: expected '5' or '7.3', got {version!r}")
