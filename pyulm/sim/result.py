"""The output of every simulator: IQ frames plus their ground truth."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _validate as V
from .._fileutil import atomic_path
from ..tables import Localizations, Metadata, Tracks
from .psf import PSF


def density_map(locs, shape, res: float = 1, *, weights=None) -> np.ndarray:
    """Count positions on a super-resolved grid.

    Super-resolved pixel ``k`` covers ``[k / res - 0.5, (k + 1) / res - 0.5)``
    in pixel units, so pixel ``k // res`` of the original grid holds SR
    pixels ``k``; the map has shape ``(round(nz * res), round(nx * res))``.

    Parameters
    ----------
    locs : Localizations or (z, x) tuple of arrays
        Positions in pixels, 0-based.
    shape : (int, int)
        Original field size (nz, nx), pixels.
    res : float
        Super-resolution factor (SR pixels per pixel), > 0.
    weights : array_like, optional
        Per-position weight (default 1).

    Returns
    -------
    ndarray, float64

    Examples
    --------
    >>> density_map(([0.0, 0.1, 1.2], [0.0, 0.0, 1.0]), (2, 2), res=2).tolist()
    [[0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    """
    res = V.positive(res, "res")
    nz, nx = (V.positive(s, "shape", integer=True) for s in shape)
    if isinstance(locs, Localizations):
        z, x = locs.z, locs.x
    else:
        z, x = (np.asarray(v, dtype=float).ravel() for v in locs)
    mz, mx = int(round(nz * res)), int(round(nx * res))
    iz = np.floor((z + 0.5) * res).astype(np.int64)
    ix = np.floor((x + 0.5) * res).astype(np.int64)
    ok = (iz >= 0) & (iz < mz) & (ix >= 0) & (ix < mx)
    w = None if weights is None else np.asarray(weights, dtype=float).ravel()[ok]
    return np.bincount(iz[ok] * mx + ix[ok], weights=w, minlength=mz * mx).reshape(mz, mx).astype(float)


@dataclass
class SimResult:
    """A simulated acquisition and its ground truth.

    Attributes
    ----------
    iq : ndarray, (z, x, t)
        Beamformed IQ, complex64 (or float32 envelope when the simulator was
        asked for ``complex_iq=False``). A view of a frame-major buffer.
    gt : Localizations
        One row per bubble per frame inside the field: ``z``, ``x`` (pixels,
        0-based), ``frame`` (0-based), ``intensity`` (peak amplitude), and
        columns ``bubble_id``, ``vz``, ``vx`` (pixels/frame).
    psf : PSF
        The PSF used.
    frame_rate : float
        Hz.
    network : VesselNetwork or None
        The vessels the bubbles flowed in (None for free motion).
    params : dict
        Every parameter of the simulation, including the seed.
    """

    iq: np.ndarray
    gt: Localizations
    psf: PSF
    frame_rate: float = 1000.0
    network: object | None = None
    params: dict = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """Field size (nz, nx), pixels."""
        return self.iq.shape[0], self.iq.shape[1]

    @property
    def n_frames(self) -> int:
        return self.iq.shape[2]

    def __repr__(self) -> str:
        nb = len(np.unique(self.gt["bubble_id"])) if len(self.gt) else 0
        return f"SimResult(iq {self.iq.shape} {self.iq.dtype}, {len(self.gt)} GT rows, {nb} bubbles)"

    def tracks(self) -> Tracks:
        """Ground-truth tracks, one per bubble, columns z, x, frame, vz, vx.

        A bubble that leaves and re-enters the field gives one track with a
        gap in ``frame``.
        """
        gt = self.gt
        order = np.lexsort((gt.frame, gt["bubble_id"]))
        ids = gt["bubble_id"][order]
        pts = np.column_stack([gt.z, gt.x, gt.frame, gt["vz"], gt["vx"]])[order]
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else np.zeros(0, np.int64)
        offsets = np.r_[starts, ids.size].astype(np.int64)
        return Tracks(pts, offsets, columns=("z", "x", "frame", "vz", "vx"), meta=gt.meta)

    def gt_density(self, res: float = 10) -> np.ndarray:
        """Ground-truth density: GT positions counted on a grid ``res`` times finer
        (see :func:`density_map`)."""
        return density_map(self.gt, self.shape, res)

    def vessel_map(self, res: float = 10) -> np.ndarray:
        """Boolean lumen mask of the vessel network on the ``res`` grid.

        Raises ValueError for a free-motion simulation (no vessels).
        """
        if self.network is None:
            raise ValueError("vessel_map: this simulation has no vessel network (free motion)")
        return self.network.mask(self.shape, res)

    # -- files -----------------------------------------------------------
    def to_mat_dict(self) -> dict:
        """The PALA-style variables: IQ, UF, PData, GT (1-based [z x frame id])."""
        nz, nx = self.shape
        f0 = float(self.psf.params.get("center_frequency_mhz", 15.625))
        dz, dx = self.psf.require_pixel_size_mm()
        wl_mm = float(self.psf.params.get("speed_of_sound", 1540.0)) / (f0 * 1e3)
        gt = self.gt
        GT = np.column_stack([gt.z + 1, gt.x + 1, gt.frame + 1, gt["bubble_id"] + 1]).astype(float) if len(gt) else np.zeros((0, 4))
        iq = self.iq if np.iscomplexobj(self.iq) else self.iq.astype(np.float32)
        return {
            "IQ": np.asfortranarray(iq),  # already Fortran-ordered: no copy
            "UF": {"FrameRateUF": float(self.frame_rate), "TwFreq": f0},
            "PData": {
                "PDelta": np.array([[dx / wl_mm, 0.0, dz / wl_mm]]),
                "Size": np.array([[nz, nx, 1]], dtype=float),
                "Origin": np.array([[-nx / 2 * dx / wl_mm, 0.0, 0.0]]),
            },
            "GT": GT,
            "GT_intensity": gt.intensity.reshape(-1, 1).astype(float),
            "GT_velocity": np.column_stack([gt["vz"], gt["vx"]]).astype(float) if len(gt) else np.zeros((0, 2)),
        }

    def save_mat(self, path, *, compress: bool = True) -> Path:
        """Write a PALA-style MAT v5 block (``IQ``, ``UF``, ``PData``, ``GT``,
        ``GT_intensity``, ``GT_velocity``) atomically.

        ``GT`` is ``[z x frame bubble_id]``, 1-based, one row per bubble per frame.
        """
        from scipy.io import savemat

        path = Path(path)
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                savemat(fh, self.to_mat_dict(), do_compression=compress, oned_as="column")
        return path

    def save_h5(self, path) -> Path:
        """Write IQ (dataset ``iq``, (z, x, t)), the GT table (group
        ``localizations``, readable by :meth:`Localizations.load`), the vessel
        map and the parameters to one HDF5 file, atomically."""
        import h5py
        import json

        path = Path(path)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as f:
                f.attrs["pyulm_table"] = "Localizations"
                g = f.create_group("localizations")
                for k in self.gt.columns:
                    g.create_dataset(k, data=self.gt[k])
                g.attrs.update(self.gt.meta.to_attrs())
                g.attrs["columns"] = json.dumps(list(self.gt.columns))
                f.create_dataset("iq", data=np.ascontiguousarray(self.iq), chunks=True, compression="gzip", compression_opts=1)
                f["iq"].attrs["axes"] = "z, x, t"
                f["iq"].attrs["frame_rate"] = float(self.frame_rate)
                if self.network is not None:
                    net = f.create_group("network")
                    for k, v in self.network.to_arrays().items():
                        net.create_dataset(k, data=v)
                f.attrs["sim_params"] = json.dumps(self.gt.meta.params)
        return path


def make_meta(psf: PSF, frame_rate: float, shape, params: dict) -> Metadata:
    """Metadata of a simulated table: mm, PALA's origin (x centred on the probe)."""
    dz, dx = psf.require_pixel_size_mm()
    return Metadata(pixel_size=(dz, dx), origin=(0.0, -shape[1] / 2 * dx), frame_rate=float(frame_rate), unit="mm", params=params)
