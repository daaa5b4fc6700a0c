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


def write_tracks(out_dir: Path, mat_per_block, all_tracks, params: BlockParams, specs, threshold: int) -> Path:
    """``ulm_tracks.mat``: ``Track_tot`` and ``MatTracking`` (cells), ``ULM``, block files and frames."""
    lam = params.wavelength_mm
    mat_cell = np.empty((len(mat_per_block), 1), dtype=object)
    for k, m in enumerate(mat_per_block):
        mat_cell[k, 0] = m
    track_cell = np.empty((len(all_tracks), 1), dtype=object)
    for k, t in enumerate(all_tracks):
        track_cell[k, 0] = t
    path = Path(out_dir) / "ulm_tracks.mat"
    ver = save_mat(path, {
        "Track_tot": track_cell, "MatTracking": mat_cell, "ULM": pala_ulm(params),
        "lambda": float(lam) if lam else np.zeros((0, 0)),
        "block_files": [display(s.path) for s in specs],
        "block_frames": np.array([[s.start + 1, s.stop] for s in specs], float),
    }, v73_threshold=threshold)
    log.info("wrote %s (MAT v%s)", display(path), ver)
    return path


def write_tables(out_dir: Path, loc_parts, track_parts, params: BlockParams, info, specs) -> dict:
    """``localizations.h5`` and ``tracks.h5`` (pixel units, with the block of each row).

    ``loc_parts``: ``(MatTracking, frame_offset, block)`` per block; ``track_parts``:
    ``(points, offsets, block)`` per block (the block files' padded float32 tracks), stacked
    straight into the table (one copy of the tracks, not one per track).
    """
    from ..tables import Localizations, Metadata, Tracks

    dz, dx = params.pixel_size
    meta = Metadata(pixel_size=(dz, dx), origin=tuple(info.origin), frame_rate=params.frame_rate,
                    unit="wavelength", params={"ULM": pala_ulm(params), "sources": [display(s.path) for s in specs]})
    z, x, fr, inten, blk = [], [], [], [], []
    for m, off, k in loc_parts:
        z.append(m[:, 1] / dz)
        x.append(m[:, 2] / dx)
        fr.append(m[:, 3].astype(np.int64) - 1 + off)
        inten.append(m[:, 0])
        blk.append(np.full(m.shape[0], k, np.int64))
    locs = Localizations(np.concatenate(z), np.concatenate(x), np.concatenate(fr), np.concatenate(inten),
                         extra={"block": np.concatenate(blk)}, meta=meta)
    out = {"localizations": locs.save(Path(out_dir) / "localizations.h5")}
    del locs, z, x, fr, inten, blk
    scale = np.array([dz, dx, dz, dx, 1.0], np.float32)
    points = np.empty((sum(len(p) for p, _, _ in track_parts), 6), np.float32)
    offsets, row = [np.zeros(1, np.int64)], 0
    for pts, offs, k in track_parts:
        np.divide(pts, scale, out=points[row:row + len(pts), :5])
        points[row:row + len(pts), 5] = k
        offsets.append(np.asarray(offs[1:], np.int64) + row)
        row += len(pts)
    trk = Tracks(points, np.concatenate(offsets), ("z", "x", "vz", "vx", "t", "block"), meta)
    out["tracks"] = trk.save(Path(out_dir) / "tracks.h5")
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
