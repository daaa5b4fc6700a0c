"""Plane-wave delay-and-sum as one precomputed sparse matrix.

For every pixel ``p``, transmit ``a`` and receiving element ``e`` inside the
F-number aperture, the time of flight ``tau`` (see :mod:`.acquisition`) falls
between two baseband samples; linear interpolation of the baseband signal
there, rotated back to the carrier phase by ``exp(2j pi f_d tau)``, is summed
over elements and transmits (coherent compounding). All of it is linear in the
complex samples, so it is written once as a complex sparse matrix whose rows
are the pixels and whose columns are the complex input values; a frame, or a
block of frames, is then one sparse product.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .. import _validate as V
from .acquisition import PlaneWaveAcquisition

APODIZATIONS = ("uniform", "boxcar", "hann")


@dataclass(frozen=True)
class Grid:
    """Pixel centres of the image, m; row ``i`` is depth ``z[i]``, column ``j`` is ``x[j]``."""

    z: np.ndarray
    x: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.z.size), int(self.x.size)


def make_grid(shape, pixel_size, origin, wavelength: float) -> Grid:
    """A regular grid given in wavelengths, as PData describes it.

    Parameters
    ----------
    shape : (int, int)
        (nz, nx) pixels.
    pixel_size : (float, float)
        (dz, dx), wavelengths.
    origin : (float, float)
        (z0, x0) of the centre of pixel (0, 0), wavelengths.
    wavelength : float
        m.

    Examples
    --------
    >>> g = make_grid((3, 2), (0.5, 1.0), (10.0, -0.5), 1e-4)   # wavelength 0.1 mm
    >>> (g.z * 1e3).round(4).tolist(), (g.x * 1e3).round(4).tolist()   # mm
    ([1.0, 1.05, 1.1], [-0.05, 0.05])
    """
    nz, nx = (V.positive(v, "shape", integer=True) for v in shape)
    dz, dx = V.pair(pixel_size, "pixel_size")
    o = np.asarray(origin, float).ravel()
    if o.size != 2 or not np.all(np.isfinite(o)):
        raise ValueError(f"origin: expected (z0, x0) in wavelengths, got {origin!r}")
    lam = V.positive(wavelength, "wavelength")
    return Grid(z=(o[0] + dz * np.arange(nz)) * lam, x=(o[1] + dx * np.arange(nx)) * lam)


@dataclass(frozen=True)
class BasebandInput:
    """How the complex input vector holds the baseband samples of each transmit.

    For transmit ``a`` and element ``e``, baseband sample ``k`` (taken at
    ``times[a][k]``) is ``coef[a][k] * u[cols[a][k] + offset[a][e]]``.
    """

    times: list
    cols: list
    coef: list
    offset: np.ndarray  # (n_tx, n_el)
    n_in: int


def das_matrix(acq: PlaneWaveAcquisition, grid: Grid, bb: BasebandInput, *, f_number: float = 1.0,
               apodization: str = "uniform", dtype=np.complex64) -> sp.csr_matrix:
    """The (n_pix, n_in) complex matrix of delay-and-sum and compounding; row ``p = iz * nx + ix``.

    Parameters
    ----------
    acq : PlaneWaveAcquisition
    grid : Grid
    bb : BasebandInput
    f_number : float
        Receive F-number: element ``e`` contributes to a pixel at depth ``z``
        when ``|x - x_e| <= z / (2 f_number)``; 0 uses the whole aperture.
    apodization : str
        ``"uniform"`` (default): weight 1 inside the aperture, and the two edge
        elements weighted by the part of their pitch inside it, so the aperture
        stays centred on every pixel (a hard edge shifts the focus laterally by
        up to ~lambda/8 where it cuts asymmetrically); ``"boxcar"``: elements
        whose centre is inside, weight 1 (as PyMUST's ``dasmtx``); ``"hann"``:
        cos^2 taper across the aperture.
    """
    fnum = V.positive(f_number, "f_number", allow_zero=True)
    if apodization not in APODIZATIONS:
        raise ValueError(f"apodization: expected one of {APODIZATIONS}, got {apodization!r}")
    if apodization == "hann" and fnum == 0:
        raise ValueError("apodization: a tapered aperture needs f_number > 0")
    Z, X = np.meshgrid(grid.z, grid.x, indexing="ij")
    Z, X = Z.ravel(), X.ravel()
    # pixels in chunks: the per (pixel, element) arrays stay near 2**20 values whatever the grid
    step = max(1, 2 ** 20 // acq.n_elements)
    parts = [_weights(acq, Z[i:i + step], X[i:i + step], bb, fnum, apodization, dtype, i)
             for i in range(0, Z.size, step)]
    rows, cols, vals = (np.concatenate([p[j] for p in parts]) for j in range(3))
    M = sp.csr_matrix((vals, (rows, cols)), shape=(Z.size, bb.n_in))
    M.sum_duplicates()
    M.eliminate_zeros()
    return M


def _weights(acq, Z, X, bb, fnum, apodization, dtype, first):
    """(rows, cols, values) of the delay-and-sum weights of pixels ``first + arange(Z.size)``."""
    c, wd = acq.speed_of_sound, 2 * np.pi * acq.demod_frequency
    dx = X[:, None] - acq.element_x[None, :]
    rx = np.sqrt(dx ** 2 + Z[:, None] ** 2) / c
    aperture = np.broadcast_to(acq.rx_apod[None, :], dx.shape)
    weight = None
    if fnum > 0:
        half = Z[:, None] / (2 * fnum)
        if apodization == "uniform":
            weight = np.clip((half - np.abs(dx)) / acq.pitch + 0.5, 0.0, 1.0)
            aperture = aperture & (weight > 0)
        else:
            aperture = aperture & (np.abs(dx) <= half)
        if apodization == "hann":
            weight = np.cos(np.pi / 2 * dx / np.maximum(half, 1e-30)) ** 2
    rows, cols, vals = [], [], []
    delta = acq.tx_offsets()
    for a in range(acq.n_tx):
        times = bb.times[a]
        n_bb = times.size
        fs_bb = 1.0 / (times[1] - times[0]) if n_bb > 1 else 1.0
        tx = (X * np.sin(acq.angles[a]) + Z * np.cos(acq.angles[a])) / c + delta[a]
        tau = tx[:, None] + rx + acq.time_offset
        s = (tau - times[0]) * fs_bb
        ok = aperture & (s >= 0) & (s <= n_bb - 1)
        p, e = np.nonzero(ok)
        s, tau = s[p, e], tau[p, e]
        k = np.minimum(np.floor(s).astype(np.int64), max(n_bb - 2, 0))
        frac = s - k
        base = np.exp(1j * wd * tau)
        if weight is not None:
            base = base * weight[p, e]
        off = bb.offset[a, e]
        for kk, lin in ((k, 1.0 - frac), (k + 1, frac)):
            if n_bb == 1:
                kk = np.zeros_like(kk)
            rows.append(p + first)
            cols.append(bb.cols[a][kk] + off)
            vals.append((base * lin * bb.coef[a][kk]).astype(dtype))
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, dtype)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
