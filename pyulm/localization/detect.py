"""PALA's candidate detection: regional maxima, border crop, top-N per frame."""
from __future__ import annotations

import numpy as np
from scipy import ndimage

from .._validate import round_half_away

_FOOT2D = np.ones((3, 3), bool)


def half_widths(fwhm) -> tuple[int, int]:
    """ROI half sizes ``round(fwhm/2)`` with MATLAB rounding (fwhm 3 -> 2, 5 -> 3)."""
    return int(round_half_away(fwhm[0] / 2)), int(round_half_away(fwhm[1] / 2))


def regional_maxima(image: np.ndarray) -> np.ndarray:
    """MATLAB ``imregionalmax`` (8-connectivity) on each 2-D slice ``image[..., t]``.

    Every pixel of a connected constant plateau whose outer neighbours are all
    strictly lower is marked; image borders are allowed. A constant slice is
    marked everywhere, as MATLAB/Octave do. Works on (z, x) or (z, x, t).
    """
    img = np.asarray(image)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    foot = np.ones((3, 3, 1), bool)
    # -inf padding lets border pixels be maxima without wrapping.
    mx = ndimage.maximum_filter(img, footprint=foot, mode="constant", cval=-np.inf)
    ge = img >= mx  # pixel at least as large as all its neighbours
    # A ">=" pixel with an equal neighbour sits on a plateau: resolve those exactly.
    mx_excl = ndimage.maximum_filter(img, footprint=np.array([[1, 1, 1], [1, 0, 1], [1, 1, 1]], bool)[:, :, None],
                                     mode="constant", cval=-np.inf)
    plateau = ge & (mx_excl == img)
    out = ge & ~plateau
    if plateau.any():
        for t in np.unique(np.nonzero(plateau)[2]):
            out[:, :, t] = _regional_max_exact(img[:, :, t])
    return out[:, :, 0] if squeeze else out


def _regional_max_exact(frame: np.ndarray) -> np.ndarray:
    """Plateau-aware regional maxima of one frame by labelling equal-valued components."""
    if np.all(frame == frame.flat[0]):
        return np.ones(frame.shape, bool)
    from skimage.morphology import local_maxima

    return local_maxima(frame, connectivity=2, allow_borders=True)


def count_regional_maxima(rois: np.ndarray) -> np.ndarray:
    """Number of ``imregionalmax`` pixels of each ROI in a (K, nz, nx) stack."""
    K = rois.shape[0]
    if K == 0:
        return np.zeros(0, np.int64)
    padded = np.pad(rois, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    nz, nx = rois.shape[1:]
    neigh_max = np.full(rois.shape, -np.inf)
    for dz in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dz == 0 and dx == 0:
                continue
            np.maximum(neigh_max, padded[:, 1 + dz:1 + dz + nz, 1 + dx:1 + dx + nx], out=neigh_max)
    strict = rois > neigh_max
    plateau = (rois == neigh_max)
    counts = strict.sum(axis=(1, 2))
    # ROIs with a pixel that equals its largest neighbour may hold a maximal plateau.
    for k in np.nonzero(plateau.any(axis=(1, 2)))[0]:
        counts[k] = _regional_max_exact(rois[k]).sum()
    return counts


def select_candidates(amplitude: np.ndarray, fwhm, number_of_particles: int):
    """PALA's detection on |IQ| frames (z, x, t).

    Returns the 0-based ``(z, x, t)`` integer coordinates of the candidates in
    column-major order (frame, then x, then z), as PALA's loop visits them.

    Rules: ``round(fwhm/2)+1`` rows/columns are zeroed on each side, regional
    maxima (8-connectivity, plateaus pixel by pixel) are kept when **strictly**
    larger than the frame's (numberOfParticles+1)-th largest masked value.
    """
    Nz, Nx, Nt = amplitude.shape
    hz, hx = half_widths(fwhm)
    if number_of_particles + 1 > Nz * Nx:
        raise ValueError(
            f"numberOfParticles: {number_of_particles} is too large for {Nz}x{Nx} frames; "
            f"expected at most {Nz * Nx - 1}"
        )
    cropped = np.zeros((Nz, Nx, Nt), dtype=np.float64)
    z0, z1, x0, x1 = hz + 1, Nz - hz - 1, hx + 1, Nx - hx - 1
    if z1 > z0 and x1 > x0:
        cropped[z0:z1, x0:x1, :] = amplitude[z0:z1, x0:x1, :]
    mask = regional_maxima(cropped)
    masked = np.where(mask, cropped, 0.0)
    flat = masked.reshape(Nz * Nx, Nt, order="F") if masked.flags.f_contiguous else masked.reshape(Nz * Nx, Nt)
    k = number_of_particles  # 0-based index of the (N+1)-th largest
    thr = -np.partition(-flat, k, axis=0)[k]  # per frame
    keep = mask & (masked > thr[None, None, :])
    # Column-major candidate order: frame, then x, then z.
    t, x, z = np.nonzero(keep.transpose(2, 1, 0))
    return z, x, t


def extract_rois(amplitude: np.ndarray, z, x, t, half) -> np.ndarray:
    """(K, 2hz+1, 2hx+1) stack of windows of ``amplitude`` centred on the candidates."""
    hz, hx = half
    vz = np.arange(-hz, hz + 1)
    vx = np.arange(-hx, hx + 1)
    zi = z[:, None, None] + vz[None, :, None]
    xi = x[:, None, None] + vx[None, None, :]
    return amplitude[zi, xi, t[:, None, None]]
