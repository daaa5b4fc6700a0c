"""CycleULM's steps in a block: the translate step, the baselines' thresholding, and E2E.

* ``params.translator``: the filtered amplitude goes through MB-DT
  (:func:`pyulm.nn.cycleulm.translate.translate`) into the MB-only domain, and any
  localizer runs on that (:func:`pyulm.pipeline.block.mat_tracking` then uses the MB-only PSF);
* ``params.denoise == "bradley_roth"``: Bradley-Roth adaptive thresholding
  (:func:`pyulm.denoise.bradley_roth`, default window and sensitivity), the paper's baselines;
* ``params.pipeline == "cycleulm-e2e"``: filter, translate, MBL-Net localizations (what
  ``localizations.h5`` holds) and MBT-Net's density and velocity maps on ``MatOut``'s grid
  (:func:`pyulm.nn.cycleulm.e2e.e2e_maps`), stacked ``[MatOut, MatOut_zdir, MatOut_vel]``
  along a third axis for :meth:`pyulm.pipeline.MapAccumulator.add_map`. No tracks are linked.

torch is imported here only, on first use.
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from .._optional import require
from ..filtering import filter_amplitude
from .params import BlockParams

#: The maps of E2E in the order they are stacked in a block's ``matout``.
E2E_MAPS = ("MatOut", "MatOut_zdir", "MatOut_vel")


def before_localization(amplitude: np.ndarray, params: BlockParams, step, timings: dict) -> np.ndarray:
    """The frames the localizer sees: MB-DT's MB-only frames (``translate``) and/or the
    Bradley-Roth thresholded amplitude (``denoise``), each stage timed into ``timings``."""
    if params.translator:
        require("torch", "[ulm] translate")
        from ..nn.cycleulm.translate import translate

        t0 = time.perf_counter()
        step("translate")
        amplitude = translate(amplitude, params.translator[0], precision=params.precision)
        amplitude = amplitude.astype(np.float64, copy=False)
        timings["translate"] = time.perf_counter() - t0
    if params.denoise == "bradley_roth":
        from ..denoise import bradley_roth

        t0 = time.perf_counter()
        step("denoise")
        amplitude = bradley_roth(amplitude)
        timings["denoise"] = time.perf_counter() - t0
    elif params.denoise:
        raise ValueError(f"denoise: unknown step {params.denoise!r}; expected 'bradley_roth' or ''")
    return amplitude


def localization_params(amplitude: np.ndarray, params: BlockParams) -> BlockParams:
    """``params`` for localizing the thresholded frames of ``amplitude``: Baseline 2's deconvolution
    takes its sparsity weight from the frames before thresholding
    (:func:`pyulm.nn.cycleulm.pipelines.threshold_lam`); otherwise ``params`` itself."""
    if params.denoise != "bradley_roth" or params.method != "decon":
        return params
    from ..nn.cycleulm.pipelines import threshold_lam

    lam = threshold_lam(amplitude, params.fwhm)
    return dataclasses.replace(params, method_options=params.method_options + (("lam", lam),))


def e2e_stages(arr: np.ndarray, params: BlockParams, step, mat_tracking, timings: dict):
    """``(MatTracking, PowDop, stacked maps)`` of one block by CycleULM-E2E."""
    require("torch", '[ulm] pipeline = "cycleulm-e2e"')
    from ..nn.cycleulm.e2e import e2e_maps

    t0 = time.perf_counter()
    amplitude, powdop = filter_amplitude(arr, params.svd_cutoff, params.band or None, params.frame_rate,
                                         svd_precision=params.svd_precision)
    timings["filter"] = time.perf_counter() - t0
    mbonly = before_localization(amplitude, params, step, timings)

    t0 = time.perf_counter()
    step("localize")
    mat = mat_tracking(mbonly, params)
    timings["localize"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    step("track")
    maps = e2e_maps(mbonly, weights=params.e2e_model[0], res=params.res, frame_rate=params.frame_rate,
                    pixel_size=params.pixel_size, precision=params.precision)
    timings["e2e"] = time.perf_counter() - t0
    return mat, powdop, np.stack([np.asarray(maps[k], np.float64) for k in E2E_MAPS], axis=-1)
