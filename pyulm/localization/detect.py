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


def strict_maxima(image: np.ndarray) -> np.ndarray:
    """Pixels strictly above all 8 neighbours, on each 2-D slice ``image[:, :, t]`` (outside counts as -inf).

    Unlike :func:`regional_maxima`, a plateau is never a maximum. Works on (z, x) or (z, x, t).
    """
    img = np.asarray(image)
    return img > _neighbour_max(img)


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
    return candidates(amplitude, fwhm, number_of_particles, nan_first=nan_first, crop_border=crop_border)


def candidates(frames: np.ndarray, fwhm, number_of_particles: int, *, nan_first: bool = False,
               crop_border: bool = True, magnitude: bool = False):
    """:func:`select_candidates` on ``|frames|`` when ``magnitude`` (IQ or an amplitude), on
    ``frames`` itself otherwise.

    With the border crop only the inner band can hold a candidate: it is copied (its
    magnitude taken on the way) into a block one pixel larger on each side, whose zero
    rim stands for the cropped pixels around it, and the regional maxima are looked for
    there alone. No cropped copy of the frames, no padded copy, no magnitude of the
    pixels the crop drops; the same candidates as the whole cropped frame gives.
    """
    Nz, Nx, Nt = frames.shape
    hz, hx = half_widths(fwhm)
    if number_of_particles + 1 > Nz * Nx:
        raise ValueError(
            f"number_of_particles: {number_of_particles} is too large for {Nz}x{Nx} frames; "
            f"expected at most {Nz * Nx - 1}"
        )
    amp_dtype = np.abs(np.empty(0, frames.dtype)).dtype if magnitude else frames.dtype
    dtype = np.dtype(np.float32) if amp_dtype == np.float32 else np.dtype(np.float64)
    if crop_border:
        z0, z1, x0, x1 = hz + 1, Nz - hz - 1, hx + 1, Nx - hx - 1
        if z1 <= z0 or x1 <= x0:  # nothing left after the crop
            return (np.zeros(0, np.int64),) * 3
        band = np.zeros((z1 - z0 + 2, x1 - x0 + 2, Nt), dtype=dtype)
        inner = band[1:-1, 1:-1]
        src = frames[z0:z1, x0:x1, :]
        if magnitude and amp_dtype == dtype:
            np.abs(src, out=inner)
        else:
            inner[...] = np.abs(src) if magnitude else src
        mask, level = _inner_maxima(band, nonnegative=magnitude)
        if level is not None:
            _resolve_plateaus(mask, level, band, (Nz, Nx), (z0, x0))
        img = inner
    else:
        if Nz < 2 * hz + 1 or Nx < 2 * hx + 1:  # no window fits: no candidate, as with the crop
            return (np.zeros(0, np.int64),) * 3
        img = (np.abs(frames) if magnitude else frames).astype(dtype, copy=False)
        mask = regional_maxima(img, positive_only=True)
        z0 = x0 = 0
    nz, nx = mask.shape[:2]
    # Column-major candidate order: frame, then x, then z.
    # (flat indices of a C-ordered (t, x, z) copy are in that order; 3-output nonzero on the
    # transposed view is twice as slow)
    flat = np.flatnonzero(np.ascontiguousarray(mask.transpose(2, 1, 0)))
    t, rem = np.divmod(flat, nx * nz)
    x, z = np.divmod(rem, nz)
    values = img[z, x, t]
    # Threshold per frame: the (N+1)-th largest masked value, 0 when fewer maxima
    # (every other pixel of the masked frame is 0). Keep values strictly above it.
    # t is non-decreasing here, so each frame is one contiguous segment of values.
    counts = np.bincount(t, minlength=Nt)
    bounds = np.concatenate([[0], np.cumsum(counts)])
    thr = np.zeros(Nt, dtype=values.dtype)
    places = np.full(Nt, number_of_particles, dtype=np.int64)
    if nan_first:
        places -= np.isnan(img).sum(axis=(0, 1))
        thr[places < 0] = np.inf  # the (N+1)-th value is NaN: nothing is larger
    for f in np.flatnonzero((counts > places) & (places >= 0)):
        seg = values[bounds[f]:bounds[f + 1]]
        thr[f] = -np.partition(-seg, places[f])[places[f]]
    keep = values > thr[t]
    return z[keep] + z0, x[keep] + x0, t[keep]


def _inner_maxima(band: np.ndarray, *, nonnegative: bool):
    """Strict positive regional maxima of ``band[1:-1, 1:-1]`` against all 8 neighbours in
    ``band`` (its rim included), and the positive pixels equal to their largest neighbour
    (possible plateaus; None when there is none)."""
    img = band[1:-1, 1:-1]
    row3 = np.maximum(band[:, :-2], band[:, 1:-1])  # 3-wide maxima of every row
    np.maximum(row3, band[:, 2:], out=row3)
    nmax = np.maximum(row3[:-2], row3[2:])
    np.maximum(nmax, band[1:-1, :-2], out=nmax)
    np.maximum(nmax, band[1:-1, 2:], out=nmax)
    strict = img > nmax
    if not nonnegative:  # a magnitude's neighbours are >= 0 (or NaN), so img > nmax is > 0 already
        strict &= img > 0
    level = img == nmax
    if not level.any():
        return strict, None
    level &= img > 0
    return strict, (level if level.any() else None)


def _resolve_plateaus(mask: np.ndarray, level: np.ndarray, band: np.ndarray, shape, origin) -> None:
    """Frames with a possible plateau get the exact answer of their whole cropped frame."""
    img = band[1:-1, 1:-1]
    z0, x0 = origin
    nz, nx = img.shape[:2]
    for t in np.flatnonzero(level.any(axis=(0, 1))):
        full = np.zeros(shape, dtype=band.dtype)
        full[z0:z0 + nz, x0:x0 + nx] = img[:, :, t]
        exact = _regional_max_exact(full) & (full > 0)
        mask[:, :, t] = exact[z0:z0 + nz, x0:x0 + nx]


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
    z, x, t = np.asarray(z), np.asarray(x), np.asarray(t)
    if z.size == 0:
        return np.empty((0, 2 * hz + 1, 2 * hx + 1), dtype=amplitude.dtype)
    # One index per window into a view of every window (no copy): each window's 25 values are
    # copied as a block, where indexing pixel by pixel costs a lookup per value (2-3x slower).
    windows = np.lib.stride_tricks.sliding_window_view(amplitude, (2 * hz + 1, 2 * hx + 1), axis=(0, 1))
    return windows[z - hz, x - hx, t]
