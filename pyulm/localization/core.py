"""The one door to every localization method: :func:`localize`."""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from .._parallel import chunk_bounds, default_workers, map_chunks
from ..tables import Localizations, Metadata
from .detect import candidates, count_regional_maxima, extract_rois, half_widths, window_centres
from .registry import get_method


def default_n_local_max(fwhm) -> int:
    """PALA's default NLocalMax: 2 when fwhm_z == 3, else 3."""
    return 2 if float(fwhm[0]) == 3 else 3


def localize(
    frames,
    method: str = "radial",
    *,
    fwhm=(3, 3),
    number_of_particles: int | None = None,
    n_local_max: int | None = None,
    meta: Metadata | None = None,
    pala_compat: bool = False,
    **options,
) -> Localizations:
    """Detect and localize microbubbles in every frame.

    Parameters
    ----------
    frames : array_like, (z, x, t)
        Filtered IQ (complex) or its amplitude; any memory order; never modified.
        A single 2-D frame is accepted as one frame.
    method : str
        A registered method name (see :func:`pyulm.available_methods`):
        ``radial``, ``wa``, ``interp``, ``curvefitting``, ``nolocalization``, ...
    fwhm : float or (fwhm_z, fwhm_x)
        Full width at half maximum of the PSF, in pixels, **z first**. Sets
        the ROI size ``2*round(fwhm/2)+1`` and the divergence guard
        ``|offset| <= fwhm/2``. (PALA's ``ULM.fwhm`` is ``[fwhm_x fwhm_z]``:
        :mod:`pyulm.pala` swaps it.)
    number_of_particles : int
        Required. At most this many detections per frame (PALA's strict
        threshold rule: candidates must exceed the frame's (N+1)-th largest
        regional maximum).
    n_local_max : int, optional
        Reject a candidate whose ROI holds more regional-maximum pixels than
        this. Default: 2 if fwhm_z == 3, else 3 (PALA's default).
    meta : Metadata, optional
        Pixel size, origin, frame rate to attach to the result.
    pala_compat : bool, optional
        Reproduce PALA's ``ULM_localization2D`` where it differs (ROI-kernel
        methods; see ``docs/pala_differences.md``). PALA zeroes
        ``round(fwhm/2) + 1`` rows and columns on every side before detection,
        so no bubble near the edge is found (3 pixels for fwhm 3: a third of
        a 32 x 32 field). Without ``pala_compat`` candidates reach
        the edge and their windows slide inward to stay in the frame (the
        bubble sits off-centre in its window; the divergence guard still
        measures from the candidate pixel). With it, NaN pixels are accepted
        and ranked as PALA's sort ranks them (first: each one in the
        detection band takes one of the ``number_of_particles`` places, and
        no candidate is a NaN pixel or next to one); ROIs holding NaN fail to
        localize. Without it, NaN is an error.
    **options
        Method options, e.g. ``interp_method='spline'|'cubic'|'lanczos3'``;
        ``pyulm.get_method(method).options`` lists them. An option the method
        does not have raises :class:`pyulm.localization.UnknownOptionError` (a
        ``ValueError`` and a ``TypeError``) before any work.

    Returns
    -------
    Localizations
        0-based pixel coordinates, rows in PALA's order (frame, then x, then z
        of the detection pixel) for the detection-based methods.

    Examples
    --------
    >>> import numpy as np, pyulm
    >>> zz, xx = np.mgrid[0:30, 0:40]
    >>> frame = np.exp(-((zz - 10.3) ** 2 + (xx - 12.6) ** 2) / 2)
    >>> locs = pyulm.localize(frame, "radial", fwhm=3, number_of_particles=5)
    >>> np.round([locs.z[0], locs.x[0]], 2).tolist()
    [10.33, 12.56]
    """
    return run_localization(frames, method, fwhm, number_of_particles, n_local_max, meta, pala_compat, options)


def run_localization(frames, method, fwhm, number_of_particles, n_local_max, meta, pala_compat, options,
                     finite: bool = False) -> Localizations:
    """:func:`localize` with its arguments positional and the method options as one dict, for pyulm's
    own pipelines (:mod:`pyulm.pipeline.block`).

    ``finite=True``: ``frames`` is a (z, x, t) floating array the caller made and knows to be finite
    (the filter's own output), so no pass over it checks that; every other check still runs."""
    m = get_method(method)
    if number_of_particles is None:
        if "numberOfParticles" in options:  # PALA's name: say which Python argument it is
            raise V.unknown_option(f"localization method {m.name!r}", "numberOfParticles", m.options,
                                   ("number_of_particles",))
        raise ValueError("number_of_particles: missing; localize needs the most detections per frame (a whole number > 0)")
    m.check_options(options)
    if not isinstance(pala_compat, (bool, np.bool_)):
        raise ValueError(f"pala_compat: expected True or False, got {pala_compat!r}")
    fz, fx = V.pair(fwhm, "fwhm")
    n_part = V.positive(number_of_particles, "number_of_particles", integer=True)
    if n_local_max is None:
        n_local_max = default_n_local_max((fz, fx))
    n_local_max = V.positive(n_local_max, "n_local_max", integer=True)
    if finite:
        arr, has_nan = frames, False
    else:
        arr, has_nan = V.as_frames_nan(frames, allow_nan=bool(pala_compat) and m.kind == "kernel")
    meta = meta if meta is not None else Metadata()
    if m.kind == "frames":
        out = m.func(arr, fwhm=(fz, fx), number_of_particles=n_part, n_local_max=n_local_max, **options)
        out.meta = meta
        return out
    return _localize_kernel(arr, m, (fz, fx), n_part, n_local_max, meta, options, has_nan, bool(pala_compat))


def _localize_kernel(arr, m, fwhm, n_part, n_local_max, meta, options, has_nan, pala_compat) -> Localizations:
    # Frames are independent: localize contiguous chunks of them on threads and join the
    # results in frame order, which is PALA's row order, so the output does not depend on
    # the number of threads.
    # Chunks of ~2 MB of frames: each chunk is ~100 numpy calls whatever its size, and two
    # threads hand the GIL over at each, so fewer, larger chunks run better in parallel
    # (78 x 118 x 800, 2 cores: 0.139 s with ~1 MB chunks, 0.105 s with ~2 MB, 0.102 s with
    # ~4 MB; one thread is fastest at ~2 MB, 0.154 vs 0.165 s at 1 MB and 0.168 s at 4 MB,
    # where the detection's temporaries still fit a core's cache).
    nz, nx, nt = arr.shape
    # (the detection runs in the magnitude's class: single data fits twice the frames)
    item = 4 if np.abs(np.empty(0, arr.dtype)).dtype == np.float32 else 8
    per_chunk = max(8, (1 << 21) // max(1, nz * nx * item))
    bounds = chunk_bounds(nt, max(default_workers(), -(-nt // per_chunk)), min_chunk=min(per_chunk, nt))
    parts = map_chunks(lambda lo, hi: _localize_frames(arr[:, :, lo:hi], m, fwhm, n_part, n_local_max, options, has_nan,
                                                        pala_compat),
                       bounds, default_workers())
    z, x, t, intensity = (np.concatenate([p[i] + (lo if i == 2 else 0) for p, (lo, _) in zip(parts, bounds)])
                          for i in range(4))
    return Localizations(z=z, x=x, frame=t, intensity=intensity, meta=meta)


def _localize_frames(arr, m, fwhm, n_part, n_local_max, options, has_nan=False, pala_compat=True):
    """Detection and kernel on one chunk of frames: (z, x, frame, intensity) arrays."""
    # Detection runs over the whole block in the input's class (float32 for single IQ,
    # as MATLAB would); the sub-pixel kernels work on the small ROI stack in double.
    # |arr| is taken where it is read: over the detection band, then on the ROIs and the
    # candidates' pixels (the same values as a whole |arr| gives, without that copy).
    half = half_widths(fwhm)
    z, x, t = candidates(arr, fwhm, n_part, nan_first=has_nan, crop_border=pala_compat, magnitude=True)
    wz, wx = window_centres(z, x, arr.shape, half)
    rois = np.abs(extract_rois(arr, wz, wx, t, half)).astype(np.float64, copy=False)
    ok = count_regional_maxima(rois) <= n_local_max
    if has_nan:  # PALA's kernels return NaN on such ROIs, and the row is dropped
        ok &= ~np.isnan(rois).any(axis=(1, 2))
    dz = np.full(z.size, np.nan)
    dx = np.full(z.size, np.nan)
    if ok.any():
        dz_ok, dx_ok = m.func(rois[ok], **({"fwhm": fwhm, **options} if m.takes_fwhm else options))
        dz[ok], dx[ok] = dz_ok, dx_ok
    dz += wz - z  # offsets from the candidate pixel (windows moved inward at the edge)
    dx += wx - x
    # Divergence guard on the unrounded fwhm/2; PALA then tests only x for NaN.
    with np.errstate(invalid="ignore"):
        diverged = (np.abs(dz) > fwhm[0] / 2) | (np.abs(dx) > fwhm[1] / 2)
    dz[diverged] = np.nan
    dx[diverged] = np.nan
    keep = ~np.isnan(dx)
    return (z[keep] + dz[keep], x[keep] + dx[keep], t[keep],
            np.abs(arr[z[keep], x[keep], t[keep]]).astype(np.float64))
