"""The PSF of :mod:`pyulm.localization.decon` at continuous positions, as a sum of separable terms.

The greedy solver (:mod:`.decon_greedy`) needs the PSF and its two partial
derivatives on a small pixel patch around each bubble, for thousands of
bubbles at once. Writing the PSF as ``h(dz, dx) = Σ_r u_r(dz) v_r(dx)``
(rank ``R``) makes every patch an outer product of 1-D vectors, and every
inner product between two bubbles' patches a product of 1-D inner products,
so the solver never forms a 2-D patch except to read or write the residual.

* The Gaussian of ``fwhm`` is exactly rank one; it is evaluated in closed
  form (``exp``), so positions are exact to round-off.
* A pixel-grid PSF (``psf=``) is sampled on a fine grid by
  :func:`pyulm.localization.decon.fine_psf` (cubic splines, the operator the
  FISTA solver uses) and factored by an SVD; the terms kept carry all but
  ``1e-6`` of its energy (an axis-aligned PSF is rank one, an oblique ellipse
  needs a few). Values and derivatives (central differences of the fine
  samples) are interpolated linearly between fine samples.
"""
from __future__ import annotations

import numpy as np

__all__ = ["PatchPSF"]

FWHM_TO_SIGMA = 1.0 / 2.3548200450309493
TABLE_STEP = 15  # fine samples per pixel of a tabulated PSF (odd: sample 0 sits on the centre)
HALF = 1.333  # patch half-size of the Gaussian, FWHM (its last pixels: below 0.75 % of the peak)
ENERGY_KEPT = 1e-6  # a tabulated PSF keeps SVD terms until the rest holds less than this share of its energy


class PatchPSF:
    """A PSF evaluated on pixel patches around continuous positions.

    Parameters
    ----------
    fwhm : (float, float)
        Gaussian FWHM (z, x) in pixels; also sets the patch half-size when
        ``psf`` is None (``ceil(1.333 · fwhm)``: the last pixels of a patch
        hold less than 0.75 % of the peak; 1.5 FWHM, 11 x 11 pixels at FWHM
        3 instead of 9 x 9, costs 15 % more time for the same F1 and
        localization error on the 128 x 128 benchmark scenes).
    psf : ndarray (kz, kx), optional
        Checked pixel-grid PSF (odd sizes); its half-size is the patch's.
    fine : callable, optional
        ``fine(upsample) -> ndarray``: the PSF on a grid ``upsample`` times
        finer (odd sizes, centred), required with ``psf``.

    Attributes
    ----------
    half : (int, int)
        Patch half-size (z, x), pixels; patches are ``2 half + 1`` wide.
    rank : int
        Number of separable terms ``R``.
    """

    def __init__(self, fwhm, psf=None, fine=None):
        fz, fx = float(fwhm[0]), float(fwhm[1])
        self.fwhm = (fz, fx)
        if psf is None:
            self.sigma = (fz * FWHM_TO_SIGMA, fx * FWHM_TO_SIGMA)
            self.half = (int(np.ceil(HALF * fz)), int(np.ceil(HALF * fx)))
            self.rank = 1
            self._tables = None
            return
        kz, kx = np.shape(psf)
        self.half = (kz // 2, kx // 2)
        h = np.asarray(fine(TABLE_STEP), dtype=np.float64)
        U, S, Vt = np.linalg.svd(h, full_matrices=False)
        energy = np.cumsum(S[::-1] ** 2)[::-1]  # energy[r]: what terms r, r+1, ... hold
        rank = int(np.sum(energy > ENERGY_KEPT * energy[0]))
        rank = max(rank, 1)
        sign = np.where(U[h.shape[0] // 2, :rank] >= 0, 1.0, -1.0)
        u = (U[:, :rank] * sign * np.sqrt(S[:rank])).T  # (R, mz)
        v = (Vt[:rank] * sign[:, None] * np.sqrt(S[:rank, None]))  # (R, mx)
        self.rank = rank
        self._tables = tuple((t, np.gradient(t, axis=1) * TABLE_STEP, t.shape[1] // 2) for t in (u, v))

    def along(self, axis: int, d, mask=None):
        """Values and derivatives of the terms along ``axis`` (0: z, 1: x) at offsets ``d``.

        Parameters
        ----------
        axis : int
            0 for the z factors ``u_r``, 1 for the x factors ``v_r``.
        d : ndarray
            Offsets from the bubble, pixels (any shape).
        mask : ndarray of bool, optional
            Where the values may be nonzero (e.g. pixels inside the frame), shaped like ``d``.

        Returns
        -------
        val, der : ndarray (d.shape + (R,))
            ``u_r(d)`` and ``u_r'(d)`` (per pixel of offset); zero outside the support.
        """
        d = np.asarray(d, dtype=np.float64)
        if self._tables is None:
            s = self.sigma[axis]
            inside = np.abs(d) <= self.half[axis] + 0.5
            if mask is not None:
                inside &= mask
            val = np.exp(-0.5 * (d / s) ** 2) * inside
            return val[..., None], (-d / (s * s) * val)[..., None]
        tab, der, c = self._tables[axis]
        f = d * TABLE_STEP + c
        ok = (f >= 0) & (f <= tab.shape[1] - 1)
        ok = (ok if mask is None else ok & mask)[..., None]
        i0 = np.clip(np.floor(f).astype(np.intp), 0, tab.shape[1] - 2)
        w = (f - i0)[..., None]
        tv, td = tab.T, der.T  # (m, R): gathers give d.shape + (R,)
        val = (tv[i0] * (1.0 - w) + tv[i0 + 1] * w) * ok
        dv = (td[i0] * (1.0 - w) + td[i0 + 1] * w) * ok
        return val, dv
