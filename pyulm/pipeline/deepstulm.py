"""One block by Deep-stULM: the network's track maps instead of linked tracks.

The block goes through PALA's clutter filter kept complex (SVD, power Doppler of the
SVD-filtered IQ, causal band-pass, non-finite values set to 0, as
:func:`pyulm.filtering.filter_amplitude` does for the amplitude), then

* the localizations of ``|IQ_filt|`` (``MatTracking``, as the conventional route:
  cheap next to the network, and what ``localizations.h5`` holds);
* :func:`pyulm.nn.track_maps` on the filtered IQ, the angiogram resampled on PALA's
  ``MatOut`` grid (:func:`pyulm.nn.deepstulm.inference.to_pala_grid`), stored in the
  block file and summed over blocks into ``MatOut``.

No tracks are linked, so the velocity maps stay zero. torch is imported here only.
"""
from __future__ import annotations

import time

import numpy as np

from .._optional import require
from ..filtering import butter_bandpass, svd_filter
from .params import BlockParams


def filter_complex(arr: np.ndarray, params: BlockParams) -> tuple[np.ndarray, np.ndarray]:
    """``(IQ_filt, PowDop)``: PALA's filter chain on complex IQ (a new array; ``arr`` is untouched),
    in double as :func:`~pyulm.filtering.filter_amplitude` (the class of ``arr`` with ``pala_single``)."""
    if params.svd_precision == "double":
        arr = arr.astype(np.complex128, copy=False)
    iq = svd_filter(arr, params.svd_cutoff, precision=params.svd_precision)
    powdop = np.sqrt(np.sum(iq.real.astype(np.float64) ** 2 + iq.imag.astype(np.float64) ** 2, axis=2))
    if params.band:
        butter_bandpass(iq, params.band, params.frame_rate, axis=2, out=iq)
    iq[~np.isfinite(iq)] = 0
    return iq, powdop


def deepstulm_stages(arr: np.ndarray, params: BlockParams, step, mat_tracking, timings: dict):
    """``(MatTracking, PowDop, MatOut of the block)`` of one block, timing each stage into ``timings``."""
    require("torch", '[ulm] tracking = "deepstulm"')
    from ..nn.deepstulm import track_maps
    from ..nn.deepstulm.inference import to_pala_grid

    t0 = time.perf_counter()
    iq, powdop = filter_complex(arr, params)
    timings["filter"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("localize")
    mat = mat_tracking(np.abs(iq).astype(np.float64, copy=False), params)
    timings["localize"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("track")
    angio = track_maps(iq, weights=params.tracking_model[0])
    r = angio.shape[0] // iq.shape[0]
    matout = to_pala_grid(angio, r, params.res)
    timings["track"] = time.perf_counter() - t0
    return mat, powdop, matout
