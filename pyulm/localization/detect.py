"""PALA's candidate detection: regional maxima, border crop, top-N per frame."""
from __future__ import annotations

import numpy as np
from .._validate import round_half_away

def half_widths(fwhm) -> tuple[int, int]:
    """ROI half sizes ``round(fwhm/2)`` with MATLAB rounding (fwhm 3 -> 2, 5 -> 3)."""
    return int(round_half_away(fwhm[0] / 2)), int(round_half_away(fwhm[1] / 2))


def _neighbour_max(img: np.ndarray) -> np.ndarray:
    """Largest of the 8 neighbours of every pixel of each (z, x) slice; -inf outside.

    The ring is the 3-wide maxima of the rows above and below, then the left and
    right neighbours: 5 passes instead of 8 (max is exact, so the order is free).
    """
    nz, nx = img.shape[:2]
    dtype = img.dtype if img.dtype in (np.float32, np.float64) else np.float64
    p = np.full((nz + 2, nx + 2) + img.shape[2:], -np.inf, dtype=dtype)
    p[1:-1, 1:-1] = img
    row3 = np.maximum(p[:, :-2], p[:, 1:-1])  # (nz + 2, nx, ...)
    np.maximum(row3, p[:, 2:], out=row3)
    out = np.maximum(row3[:-2], row3[2:])
    np.maximum(out, p[1:-1, :-2], out=out)
    np.maximum(out, p[1:-1, 2:], out=out)
    return out


def regional_maxima(image: np.ndarray, *, positive_only: bool = False) -> np.ndarray:
    """MATLAB ``imregionalmax`` (8-connectivity) on each 2-D slice ``image[:, :, t]``.

    Every pixel of a connected constant plateau whose outer neighbours are all
    strictly lower is marked; image borders are allowed. A constant slice is
    marked everywhere, as MATLAB/Octave do. Works on (z, x) or (z, x, t).
    ``positive_only=True`` skips maxima of value <= 0, which PALA's selection
    never keeps, so large zero regions cost nothing.
    """
    img = np.asarray(image)
    squeeze = img.ndim == 2
    if squeeze:
        img = img[:, :, None]
    nmax = _neighbour_max(img)
    out = img > nmax
    # A pixel equal to its largest neighbour may belong to a maximal plateau: resolve exactly.
    plateau = img == nmax
    if positive_only:
        plateau &= img > 0
        out &= img > 0
    if plateau.any():
        for t in np.unique(np.nonzero(plateau)[2]):
            exact = _regional_max_exact(img[:, :, t])
            out[:, :, t] = exact & (img[:, :, t] > 0) if positive_only else exact
    return out[:, :, 0] if squeeze else out


def _regional_max_exact(frame: np.ndarray) -> np.ndarray:
    """Plateau-aware regional maxima of one frame (MATLAB ``imregionalmax``, 8-connectivity).

    A pixel equal to its largest neighbour ("level") lies on a plateau with no
    higher neighbour; two adjacent level pixels have the same value. A
    connected set of level pixels is a regional maximum unless it touches a
    pixel of its own value that is not level (that pixel has a higher
    neighbour, so the plateau does). Strict maxima are added. numpy and
    ``scipy.ndimage.label`` only (scikit-image is not a core requirement).
    """
    from scipy import ndimage  # lazy: `import pyulm` stays light

    img = np.asarray(frame)
    nmax = _neighbour_max(img[:, :, None])[:, :, 0]
    strict = img > nmax
    level = img == nmax
    if not level.any():
        return strict
    labels, _ = ndimage.label(level, structure=np.ones((3, 3), bool))
    nz, nx = img.shape
    pv = np.full((nz + 2, nx + 2), np.nan)
    pv[1:-1, 1:-1] = img
    pl = np.zeros((nz + 2, nx + 2), bool)
    pl[1:-1, 1:-1] = level
    spoiled = np.zeros_like(level)
    for dz in (-1, 0, 1):
        for dx in (-1, 0, 1):
            if dz or dx:
                nv = pv[1 + dz:nz + 1 + dz, 1 + dx:nx + 1 + dx]
                nl = pl[1 + dz:nz + 1 + dz, 1 + dx:nx + 1 + dx]
                spoiled |= level & (nv == img) & ~nl
    bad = np.unique(labels[spoiled])
    return strict | (level & ~np.isin(labels, bad[bad > 0]))


def count_regional_maxima(rois: np.ndarray) -> np.ndarray:
    """Number of ``imregionalmax`` pixels of each ROI in a (K, nz, nx) stack."""
    K = rois.shape[0]
    if K == 0:
        return np.zeros(0, np.int64)
    # (nz, nx, K) view: the same neighbour maxima as for frames, the ROI index last
    neigh_max = _neighbour_max(rois.transpose(1, 2, 0)).transpose(2, 0, 1)
    strict = rois > neigh_max
    plateau = (rois == neigh_max)
    counts = strict.sum(axis=(1, 2))
    # ROIs with a pixel that equals its largest neighbour may hold a maximal plateau.
    for k in np.nonzero(plateau.any(axis=(1, 2)))[0]:
        counts[k] = _regional_max_exact(rois[k]).sum()
    return counts


def select_candidates(amplitude: np.ndarray, fwhm, number_of_particles: int, *, nan_first: bool = False,
                      crop_border: bool = True):
    """PALA's detection on |IQ| frames (z, x, t).

    Returns the 0-based ``(z, x, t)`` integer coordinates of the candidates in
    column-major order (frame, then x, then z), as PALA's loop visits them.

    Rules: ``round(fwhm/2)+1`` rows/columns are zeroed on each side (PALA's
    border crop; ``crop_border=False`` keeps the whole frame, so candidates
    reach the edge), regional maxima (8-connectivity, plateaus pixel by pixel)
    are kept when **strictly** larger than the frame's
    (number_of_particles+1)-th largest masked value.

    ``nan_first=True`` ranks NaN pixels of the detection band as MATLAB's
    descending sort does, before every number: a frame with ``k`` of them keeps
    at most ``number_of_particles - k`` candidates (none when ``k`` exceeds
    it). A pixel next to a NaN is not a regional maximum (NaN is not lower
    than it) and NaN pixels are never candidates.
    """
    Nz, Nx, Nt = amplitude.shape
    hz, hx = half_widths(fwhm)
    if number_of_particles + 1 > Nz * Nx:
        raise ValueError(
            f"number_of_particles: {number_of_particles} is too large for {Nz}x{Nx} frames; "
            f"expected at most {Nz * Nx - 1}"
        )
    dtype = amplitude.dtype if amplitude.dtype == np.float32 else np.float64
    if crop_border:
        cropped = np.zeros((Nz, Nx, Nt), dtype=dtype)
        z0, z1, x0, x1 = hz + 1, Nz - hz - 1, hx + 1, Nx - hx - 1
        if z1 > z0 and x1 > x0:
            cropped[z0:z1, x0:x1, :] = amplitude[z0:z1, x0:x1, :]
    elif Nz < 2 * hz + 1 or Nx < 2 * hx + 1:  # no window fits: no candidate, as with the crop
        cropped = np.zeros((Nz, Nx, Nt), dtype=dtype)
    else:
        cropped = amplitude.astype(dtype, copy=False)
    mask = regional_maxima(cropped, positive_only=True)
    # Column-major candidate order: frame, then x, then z.
    # (flat indices of a C-ordered (t, x, z) copy are in that order; 3-output nonzero on the
    # transposed view is twice as slow)
    flat = np.flatnonzero(np.ascontiguousarray(mask.transpose(2, 1, 0)))
    t, rem = np.divmod(flat, Nx * Nz)
    x, z = np.divmod(rem, Nz)
    values = cropped[z, x, t]
    # Threshold per frame: the (N+1)-th largest masked value, 0 when fewer maxima
    # (every other pixel of the masked frame is 0). Keep values strictly above it.
    # t is non-decreasing here, so each frame is one contiguous segment of values.
    counts = np.bincount(t, minlength=Nt)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    thr = np.zeros(Nt, dtype=values.dtype)
    places = np.full(Nt, number_of_particles, dtype=np.int64)
    if nan_first:
        places -= np.isnan(cropped).sum(axis=(0, 1))
        thr[places < 0] = np.inf  # the (N+1)-th value is NaN: nothing is larger
    for f in np.flatnonzero((counts > places) & (places >= 0)):
        seg = values[bounds[f]:bounds[f + 1]]
        thr[f] = -np.partition(-seg, places[f])[places[f]]
    keep = values > thr[t]
    return z[keep], x[keep], t[keep]


def window_centres(z, x, shape, half):
    """Centres of the candidates' windows, moved inward where a window would cross the frame's edge.

    With PALA's border crop every window fits and the centres are the
    candidates; nearer the edge the (2hz+1, 2hx+1) window keeps its size and
    slides inward, so the candidate sits off-centre in it.
    """
    hz, hx = half
    return np.clip(z, hz, shape[0] - 1 - hz), np.clip(x, hx, shape[1] - 1 - hx)


def extract_rois(amplitude: np.ndarray, z, x, t, half) -> np.ndarray:
    """(K, 2hz+1, 2hx+1) stack of windows of ``amplitude`` centred on ``(z, x)`` (inside the frame)."""
    hz, hx = half
    vz = np.arange(-hz, hz + 1)
    vx = np.arange(-hx, hx + 1)
    zi = z[:, None, None] + vz[None, :, None]
    xi = x[:, None, None] + vx[None, None, :]
    return amplitude[zi, xi, t[:, None, None]]
