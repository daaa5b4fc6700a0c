"""Vectorised rendering of point scatterers into IQ frames.

Each (bubble, frame) point is drawn only in a small window around it: the
window is the outer product of the axial and lateral PSF factors (or a gather
from a user kernel), and all windows of a chunk of frames are scatter-added at
once with ``numpy.bincount``. Cost grows with the number of points, not with
the field size times the number of bubbles.
"""
from __future__ import annotations

import numpy as np

from .. import _validate as V
from ..psf.model import PSF
from ..psf.model import UPSAMPLE as _UPSAMPLE
from ..psf.model import upsampled_kernel as _upsampled

_CHUNK_PIXELS = 4_000_000  # canvas pixels per bincount: bounds memory (~64 MB of float64 pairs)


def _shape2(shape, name="shape") -> tuple[int, int]:
    s = tuple(np.atleast_1d(np.asarray(shape)).ravel().tolist())
    if len(s) != 2:
        raise ValueError(f"{name}: expected (nz, nx), got {shape!r}")
    return V.positive(s[0], f"{name}[0]", integer=True), V.positive(s[1], f"{name}[1]", integer=True)


def render_points(z, x, frame, amplitude, shape, n_frames, psf: PSF, *, out=None, method: str = "auto") -> np.ndarray:
    """Render point scatterers into complex IQ frames.

    Parameters
    ----------
    z, x : array_like of float
        Positions, pixels, 0-based (the centre of the first pixel is 0).
        Points whose PSF window misses the field are ignored.
    frame : array_like of int
        0-based frame of each point; points outside ``[0, n_frames)`` are ignored.
    amplitude : array_like of float
        Peak modulus of each point's PSF.
    shape : (int, int)
        Field size (nz, nx), pixels.
    n_frames : int
        Number of frames.
    psf : PSF
        The point-spread function (see :mod:`pyulm.sim.psf`).
    out : ndarray, optional
        A (n_frames, nx, nz) complex64 C-contiguous buffer to add into (the
        memory of a Fortran-ordered (z, x, t) array).
    method : {"auto", "matmul", "scatter"}
        ``matmul``: per frame, one real matrix product of the lateral factors
        by the complex axial factors of all bubbles (separable PSFs only;
        fastest for small fields); ``scatter``: windows scatter-added with
        ``bincount`` (any PSF; cost independent of the field size). ``auto``
        picks ``scatter``; ``matmul`` pays off with a single-threaded BLAS.

    Returns
    -------
    ndarray, complex64, (nz, nx, n_frames)
        Fortran-ordered (each frame contiguous).

    Examples
    --------
    >>> from pyulm.sim import gaussian_psf
    >>> iq = render_points([10.0], [12.5], [0], [2.0], (32, 32), 1, gaussian_psf(3))
    >>> iq.shape, round(float(abs(iq).max()), 2)
    ((32, 32, 1), 1.85)
    """
    nz, nx = _shape2(shape)
    nt = V.positive(n_frames, "n_frames", integer=True)
    V.choice(method, "method", ("auto", "matmul", "scatter"))
    z = np.asarray(z, dtype=float).ravel()
    x = np.asarray(x, dtype=float).ravel()
    frame = np.asarray(frame).ravel().astype(np.int64)
    amp = np.asarray(amplitude, dtype=float).ravel()
    if amp.size == 1:
        amp = np.repeat(amp, z.size)
    if not (z.size == x.size == frame.size == amp.size):
        raise ValueError(f"z, x, frame, amplitude: expected equal lengths, got {z.size}, {x.size}, {frame.size}, {amp.size}")
    if out is None:
        out = np.zeros((nt, nx, nz), np.complex64)
    elif out.shape != (nt, nx, nz) or out.dtype != np.complex64 or not out.flags.c_contiguous:
        raise ValueError(f"out: expected a C-contiguous complex64 array of shape {(nt, nx, nz)}, got {out.dtype} {out.shape}")
    hz, hx = psf.half_window
    with np.errstate(invalid="ignore"):
        keep = (np.rint(z) >= -hz) & (np.rint(z) <= nz + hz - 1) & (np.rint(x) >= -hx) & (np.rint(x) <= nx + hx - 1)
    keep &= (frame >= 0) & (frame < nt) & (amp != 0)
    if not keep.all():
        z, x, frame, amp = z[keep], x[keep], frame[keep], amp[keep]
    if z.size == 0:
        return out.transpose(2, 1, 0)
    order = np.argsort(frame, kind="stable")
    z, x, frame, amp = z[order], x[order], frame[order], amp[order]
    wl = psf.wavelength
    carrier = amp if np.isinf(wl) else amp * np.exp(-4j * np.pi * z / wl)
    if method == "auto" or psf.kernel is not None:
        # a multi-threaded BLAS on shared cores makes the small per-frame products
        # unpredictable (10x slower under load), so the scatter path is the default
        method = "scatter"
    if method == "matmul":
        _render_matmul(z, x, frame, carrier, out, psf)
    else:
        _render_scatter(z, x, frame, carrier, out, psf)
    return out.transpose(2, 1, 0)


def _render_matmul(z, x, frame, carrier, out, psf):
    """Per frame: out[t].T = sum_k axial_k(z) lateral_k(x), as
    (nx, K) real lateral factors @ (K, nz) complex axial factors, computed as
    one float32 product on the interleaved real/imaginary view."""
    nt, nx, nz = out.shape
    hz, hx = psf.half_window
    iz = np.rint(z).astype(np.int64)
    ix = np.rint(x).astype(np.int64)
    oz = np.arange(-hz, hz + 1)
    ox = np.arange(-hx, hx + 1)
    starts = np.searchsorted(frame, np.arange(nt + 1))
    rank = np.arange(frame.size) - starts[frame]
    frames_per_chunk = 256
    for t0 in range(0, nt, frames_per_chunk):
        t1 = min(nt, t0 + frames_per_chunk)
        a, b = starts[t0], starts[t1]
        if a == b:
            continue
        K = int(rank[a:b].max()) + 1
        ez = np.zeros((t1 - t0, K, nz + 4 * hz), np.complex64)
        ex = np.zeros((t1 - t0, nx + 4 * hx, K), np.float32)
        fl = (frame[a:b] - t0)[:, None]
        rk = rank[a:b, None]
        ez[fl, rk, iz[a:b, None] + oz + 2 * hz] = psf.axial(oz[None, :] - (z[a:b, None] - iz[a:b, None])) * carrier[a:b, None]
        ex[fl, ix[a:b, None] + ox + 2 * hx, rk] = psf.lateral_profile(ox[None, :] - (x[a:b, None] - ix[a:b, None]))
        ezf = ez[:, :, 2 * hz:2 * hz + nz].view(np.float32)  # (t, K, 2 nz): re/im interleaved like out
        exc = ex[:, 2 * hx:2 * hx + nx, :]
        of = out.view(np.float32)
        for t in range(t0, t1):
            if starts[t] == starts[t + 1]:
                continue
            k = int(starts[t + 1] - starts[t])
            of[t] += exc[t - t0, :, :k] @ ezf[t - t0, :k]


def _render_scatter(z, x, frame, carrier, out, psf):
    """Windows of every point scatter-added with bincount, a chunk of frames at a time."""
    nt, nx, nz = out.shape
    hz, hx = psf.half_window
    iz = np.rint(z).astype(np.int64)
    ix = np.rint(x).astype(np.int64)
    fz, fx = z - iz, x - ix
    oz = np.arange(-hz, hz + 1)
    ox = np.arange(-hx, hx + 1)
    # padded canvas (t, x, z): a window centred up to h pixels outside the field never needs clipping
    pz, px = nz + 4 * hz, nx + 4 * hx
    frames_per_chunk = max(1, _CHUNK_PIXELS // (pz * px))
    bounds = np.searchsorted(frame, np.arange(0, nt + frames_per_chunk, frames_per_chunk))
    win = (ox + hx)[None, :] * pz + (oz + hz)[:, None]  # (wz, wx)
    if psf.kernel is not None:
        up = _upsampled(psf.kernel)
    for c, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        if a == b:
            continue
        t0 = c * frames_per_chunk
        t1 = min(nt, t0 + frames_per_chunk)
        if psf.kernel is None:
            ez = (psf.axial(oz[None, :] - fz[a:b, None]) * carrier[a:b, None]).astype(np.complex64)
            ex = psf.lateral_profile(ox[None, :] - fx[a:b, None]).astype(np.float32)
            vals = ez[:, :, None] * ex[:, None, :]
        else:
            rz = (oz[None, :] + hz + 1) * _UPSAMPLE - np.rint(fz[a:b, None] * _UPSAMPLE).astype(np.int64)
            rx = (ox[None, :] + hx + 1) * _UPSAMPLE - np.rint(fx[a:b, None] * _UPSAMPLE).astype(np.int64)
            vals = up[rz[:, :, None], rx[:, None, :]] * carrier[a:b, None, None]
        base = (frame[a:b] - t0) * (pz * px) + (ix[a:b] + hx) * pz + iz[a:b] + hz
        idx = (base[:, None, None] + win[None]).ravel()
        size = (t1 - t0) * pz * px
        vals = vals.ravel()
        re = np.bincount(idx, weights=vals.real, minlength=size).reshape(t1 - t0, px, pz)
        im = np.bincount(idx, weights=vals.imag, minlength=size).reshape(t1 - t0, px, pz)
        blk = out[t0:t1]
        blk.real += re[:, 2 * hx:2 * hx + nx, 2 * hz:2 * hz + nz]
        blk.imag += im[:, 2 * hx:2 * hx + nx, 2 * hz:2 * hz + nz]


def psf_image(psf: PSF, shape=None, center=None) -> np.ndarray:
    """The complex IQ image of one scatterer of amplitude 1 at ``center``.

    Parameters
    ----------
    psf : PSF
    shape : (int, int), optional
        Grid size; default ``2 * psf.half_window + 1``.
    center : (float, float), optional
        Scatterer position (z, x), pixels, 0-based; default the grid centre.

    Returns
    -------
    (nz, nx) complex64 array

    Examples
    --------
    >>> from pyulm.sim import gaussian_psf, psf_image
    >>> img = psf_image(gaussian_psf(3))
    >>> img.shape, round(float(abs(img).max()), 3)
    ((11, 11), 1.0)
    """
    hz, hx = psf.half_window
    shape = (2 * hz + 1, 2 * hx + 1) if shape is None else tuple(int(s) for s in shape)
    center = ((shape[0] - 1) / 2, (shape[1] - 1) / 2) if center is None else center
    return render_points([center[0]], [center[1]], [0], [1.0], shape, 1, psf)[:, :, 0]
