"""What ``pyulm process`` writes at the end: PALA's ``.mat`` results, HDF5 tables, images.

PALA's ``ULM`` struct is made here (:func:`pala_ulm`), for the ``.mat`` files a MATLAB
user loads next to PALA's own.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..io import save_mat
from .params import BlockParams
from .store import display

log = logging.getLogger("pyulm.pipeline")


def pala_ulm(params: BlockParams) -> dict:
    """PALA's ``ULM`` struct for ``params`` (field names and order of PALA's example)."""
    ulm = {
        "numberOfParticles": params.number_of_particles,
        "fwhm": [params.fwhm[1], params.fwhm[0]],  # PALA's [fwhm_x fwhm_z]
        "LocMethod": params.method,
        "parameters": {"NLocalMax": params.n_local_max},
        "max_linking_distance": params.max_linking_distance,
        "max_gap_closing": params.max_gap_closing,
        "min_length": params.min_length,
        "res": params.res,
        "SRscale": 1.0 / params.res,
        "size": [params.shape[0], params.shape[1], params.n_frames],
        "scale": [1.0, 1.0, 1.0 / params.frame_rate],
        "SVD_cutoff": list(params.svd_cutoff),
        "ButterCuttofFreq": list(params.band),
    }
    if params.method == "interp":  # PALA's struct takes InterpMethod only for this method
        ulm["parameters"]["InterpMethod"] = dict(params.method_options)["interp_method"]
    if params.svd_precision != "double":
        ulm["pyulm_svd"] = params.svd_precision
    if params.tracking != "hungarian":  # MatOut from Deep-stULM's track maps; no velocity maps
        ulm["pyulm_tracking"] = params.tracking
    if params.translator:  # CycleULM's MB-DT translated the frames before localization
        ulm["pyulm_translate"] = params.translator[0]
    if params.pipeline:
        ulm["pyulm_pipeline"] = params.pipeline
    if params.wavelength_mm is not None:
        ulm["lambda"] = params.wavelength_mm
    return ulm


def write_results(out_dir: Path, maps: dict, powdop, params: BlockParams, specs, threshold: int) -> Path:
    """``ulm_results.mat``: the maps, the power Doppler image, ``ULM``, axes and wavelength."""
    lam = params.wavelength_mm
    results = {
        "MatOut": maps["MatOut"], "MatOut_zdir": maps["MatOut_zdir"], "MatOut_vel": maps["MatOut_vel"],
        "PowDop": powdop, "ULM": pala_ulm(params), "llx": maps["llx"], "llz": maps["llz"],
        "lambda": float(lam) if lam else np.zeros((0, 0)),
        "MatOut_vel_unit": "mm/s" if lam else "wavelengths/s",
    }
    path = Path(out_dir) / "ulm_results.mat"
    ver = save_mat(path, results, v73_threshold=threshold)
    log.info("wrote %s (MAT v%s)", display(path), ver)
    return path


def write_tracks(out_dir: Path, blocks, params: BlockParams, specs, threshold: int) -> Path:
    """``ulm_tracks.mat``: ``Track_tot`` and ``MatTracking`` (cells), ``ULM``, block files and frames.

    ``blocks`` (:class:`pyulm.pipeline.finish.BlockFiles`) gives the cells' sizes and reads
    the block files again one at a time while the cells are written, so memory holds one
    block's tracks, not the acquisition's; the bytes are those of the cells held whole.
    """
    from ..io._write import StreamedCell

    lam = params.wavelength_mm
    t, m = blocks.totals()
    track_cell = StreamedCell(t["tracks"], t["track_size"], t["track_nbytes"],
                              lambda: (res.tracks for _, res, _ in blocks.read()))
    mat_cell = StreamedCell(len(blocks), m["size"], m["nbytes"], lambda: ([res.MatTracking] for _, res, _ in blocks.read()))
    path = Path(out_dir) / "ulm_tracks.mat"
    ver = save_mat(path, {
        "Track_tot": track_cell, "MatTracking": mat_cell, "ULM": pala_ulm(params),
        "lambda": float(lam) if lam else np.zeros((0, 0)),
        "block_files": [display(s.path) for s in specs],
        "block_frames": np.array([[s.start + 1, s.stop] for s in specs], float),
    }, v73_threshold=threshold)
    log.info("wrote %s (MAT v%s)", display(path), ver)
    return path


def write_tables(out_dir: Path, blocks, params: BlockParams, info, specs) -> dict:
    """``localizations.h5`` and ``tracks.h5`` (pixel units, with the block of each row).

    Written block by block (:class:`pyulm.tables.TableWriter`) from ``blocks``
    (:class:`pyulm.pipeline.finish.BlockFiles`, each block file read once more):
    localizations from each block's ``MatTracking`` (frames shifted by the block's frame
    offset), tracks from the block files' padded float32 tracks.
    """
    from ..tables import Localizations, Metadata, Tracks

    dz, dx = params.pixel_size
    meta = Metadata(pixel_size=(dz, dx), origin=tuple(info.origin), frame_rate=params.frame_rate,
                    unit="wavelength", params={"ULM": pala_ulm(params), "sources": [display(s.path) for s in specs]})
    t, _ = blocks.totals()
    scale = np.array([dz, dx, dz, dx, 1.0], np.float32)
    out = {"localizations": Path(out_dir) / "localizations.h5", "tracks": Path(out_dir) / "tracks.h5"}
    cols = {"z": float, "x": float, "frame": np.int64, "intensity": float, "block": np.int64}
    with Localizations.writer(out["localizations"], cols, meta, rows=t["localizations"]) as wl, \
            Tracks.writer(out["tracks"], ("z", "x", "vz", "vx", "t", "block"), meta, np.float32,
                          points=t["points"], tracks=t["tracks"]) as wt:
        for k, res, attrs in blocks.read():
            m, off = res.MatTracking, specs[k].frame_offset
            wl.append(z=m[:, 1] / dz, x=m[:, 2] / dx, frame=m[:, 3].astype(np.int64) - 1 + off, intensity=m[:, 0],
                      block=np.full(m.shape[0], k, np.int64))
            pts = attrs["points"]
            points = np.empty((len(pts), 6), np.float32)
            np.divide(pts, scale, out=points[:, :5])
            points[:, 5] = k
            wt.append(points=points, offsets=attrs["offsets"])
    return out


def write_images(out_dir: Path, maps: dict, powdop, params: BlockParams, formats, figures=(), origin=(0.0, 0.0)) -> dict:
    """PALA-style density, direction, velocity and power Doppler images (PNG and/or TIFF), and
    readable figures (``figures`` formats: axes in mm, colour bars with units, a labelled scale bar).

    The scale bar and the stored resolution use the pixel size in mm (``pixel_size`` in
    wavelengths times the wavelength); without a wavelength there is no scale bar and no figure.
    """
    if not formats and not figures:
        return {}
    from .. import figures as F

    res = params.res
    lam = params.wavelength_mm
    pixel_mm = None if not lam else (params.pixel_size[0] * lam, params.pixel_size[1] * lam)
    mat = maps["MatOut"]
    out = {}
    if formats:
        images = {
            "MatOut": F.density_rgb(mat, res=res, pixel_size_mm=pixel_mm),
            "MatOut_zdir": F.direction_rgb(mat, maps["MatOut_zdir"], res=res, pixel_size_mm=pixel_mm),
            "MatOut_vel": F.velocity_rgb(maps["MatOut_vel"], mat, res=res, pixel_size_mm=pixel_mm),
        }
        pd = np.asarray(powdop, float) ** (1 / 3)
        images["PowDop"] = F.apply_colormap(pd, F.hot(128), (float(pd.min()), 0.9 * float(pd.max()) or 1.0))
        ext = {"png": ".png", "tiff": ".tif"}
        for name, rgb in images.items():
            for fmt in formats:
                p = Path(out_dir) / f"{name}{ext[fmt]}"
                F.save_figure(rgb, p, pixel_size_mm=pixel_mm, res=res if name != "PowDop" else 1.0)
                out[f"{name}_{fmt}"] = p
    if figures and pixel_mm is None:
        log.info("no wavelength in the input: readable figures (in mm) not written")
    elif figures:
        out.update(F.write_figures(out_dir, density=mat, direction=maps["MatOut_zdir"], velocity=maps["MatOut_vel"],
                                   res=res, pixel_size_mm=pixel_mm, velocity_unit="mm/s",
                                   origin_mm=(origin[0] * lam, origin[1] * lam), formats=tuple(figures)))
    return out
