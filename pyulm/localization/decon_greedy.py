"""The greedy solver of :mod:`pyulm.localization.decon`: continuous sparse deconvolution, all frames at once.

Solves the same problem as the FISTA solver, ``y ≈ Σ_i a_i h(· − p_i)`` with
few bubbles ``a_i > 0``, but with bubbles at continuous positions instead of
on a fine grid, so its cost follows the bubbles, not the grid (an
alternating "add atoms, then refit them jointly" scheme like ADCG, Boyd,
Schiebinger & Recht 2017, with CLEAN's selection of many peaks at once):

1. **Candidates**: the matched filter ``c = Hᵀ r`` of the residual (the PSF
   correlated with every frame, separable passes) and its 3 × 3 local maxima
   above the threshold ``λ / 2`` (``λ`` of :func:`decon.default_lambda`: no
   bubble enters the lasso solution unless ``2 (Hᵀ r)_j > λ``), placed at the
   vertex of a Gaussian through the peak and its neighbours (exact for a lone
   Gaussian bubble: its matched filter is a Gaussian) with amplitude
   ``c / ‖h‖²``.
2. **Joint refinement** (:func:`.decon_refine.refine`): damped Gauss-Newton
   on the amplitudes and positions of the new bubbles and of every bubble
   coupled to them (PSFs closer than ``coupling`` FWHM), jointly.
3. **Pruning**: a bubble that does not pay for itself leaves (see
   :func:`_prune`: the lasso's condition, its neighbours refitted), and of
   two bubbles closer than ``merge`` pixels the weaker leaves.

Rounds repeat on the residual until no candidate is above the threshold (at
most ``rounds``). Frames are independent: a frame's result does not depend
on the other frames of the batch, so batches can run on threads.
"""
from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from .decon_blocks import Coupling
from .decon_refine import Block, _image, gram_values, refine

__all__ = ["greedy_deconvolve"]
RESIDUAL_PEAK = 2.5  # residual maxima are candidates above this many times a threshold bubble's peak
SPARSE = 50  # local maxima among the pixels of a mask by their neighbours when it holds under 1/SPARSE of them


def _local_max(c):
    """Pixels (T, Z, X) not below any of their 8 neighbours (outside the frame counts as −∞)."""
    m = c.copy()  # the 3 x 3 maximum, in place along z, then along x (no padded copies: 6x faster)
    np.maximum(m[:, 1:], c[:, :-1], out=m[:, 1:])
    np.maximum(m[:, :-1], c[:, 1:], out=m[:, :-1])
    n = m.copy()
    np.maximum(n[:, :, 1:], m[:, :, :-1], out=n[:, :, 1:])
    np.maximum(n[:, :, :-1], m[:, :, 1:], out=n[:, :, :-1])
    return c >= n


def _peaks(v, mask):
    """``_nonzero(_local_max(v) & mask)``: where ``mask`` is sparse (later rounds: a few hundred pixels of a
    block), the 8 neighbours of its pixels only, instead of the 3 x 3 maxima of the whole block."""
    if np.count_nonzero(mask) * SPARSE > mask.size:
        return _nonzero(_local_max(v) & mask)
    T, Z, X = v.shape
    t, z, x = _nonzero(mask)
    flat = v.reshape(-1)
    val = flat[(t * Z + z) * X + x]
    ok = np.ones(t.size, bool)
    for dz in (-1, 0, 1):  # a neighbour index clipped to the frame is the pixel or another neighbour
        row = t * Z + np.clip(z + dz, 0, Z - 1)
        for dx in (-1, 0, 1):
            if dz or dx:
                ok &= val >= flat[row * X + np.clip(x + dx, 0, X - 1)]
    return t[ok], z[ok], x[ok]


def _nonzero(mask):
    """``np.nonzero`` of a 3-D mask, from the flat indices (3x faster)."""
    t, rest = np.divmod(np.flatnonzero(mask), mask.shape[1] * mask.shape[2])
    return (t, *np.divmod(rest, mask.shape[2]))


def _candidates(block, kern, thr, rmin, hn2, hpeak):
    """Candidates (frame, position, amplitude): local maxima of the residual's matched filter above ``thr``,
    and local maxima of the residual above ``RESIDUAL_PEAK · rmin`` where the matched filter is above ``thr``."""
    r = block.r[block.interior].astype(np.float32)  # single precision: detection only
    c = None
    for kz, kx in kern:
        ck = ndimage.correlate1d(ndimage.correlate1d(r, kz, axis=1, mode="constant"), kx, axis=2, mode="constant")
        c = ck if c is None else np.add(c, ck, out=c)
    above = c > thr[:, None, None]
    t, iz, ix = _peaks(c, above)
    c0 = c[t, iz, ix]
    logc0 = np.log(c0)

    def vertex(axis, i, n):
        """Offset and log-height gain of the Gaussian (parabola in log c) through the three samples."""
        lo, hi = np.maximum(i - 1, 0), np.minimum(i + 1, n - 1)
        cm = c[t, lo, ix] if axis == 0 else c[t, iz, lo]
        cp = c[t, hi, ix] if axis == 0 else c[t, iz, hi]
        ok = (lo < i) & (hi > i) & (cm > 0) & (cp > 0)
        lm, lp = np.log(np.where(ok, cm, 1.0)), np.log(np.where(ok, cp, 1.0))
        den = np.where(ok, lm - 2.0 * logc0 + lp, -1.0)
        ok &= den < 0
        off = np.where(ok, np.clip(0.5 * (lm - lp) / den, -0.5, 0.5), 0.0)
        return i + off, np.where(ok, -0.5 * off * off * den, 0.0)

    z, gz = vertex(0, iz, block.Z)
    x, gx = vertex(1, ix, block.X)
    # Maxima of the residual itself, where the matched filter passes the threshold and the residual is
    # well above noise: bubbles closer than the matched filter resolves (it shows one peak between them).
    tr, rz, rx = _peaks(r, above & (r > RESIDUAL_PEAK * rmin[:, None, None]))
    return (t, z, x, c0 * np.exp(gz + gx) / hn2), (tr, rz.astype(float), rx.astype(float), r[tr, rz, rx] / hpeak)


def greedy_deconvolve(y, psf, thr, *, coupling: float = 2.0, rounds: int = 3, n_newton: int = 8,
                      merge: float = 0.5):
    """Bubbles (t, z, x, a) of background-subtracted frames ``y`` (T, Z, X) by the greedy scheme above.

    Parameters
    ----------
    y : ndarray (T, Z, X)
        Frames (amplitude minus background).
    psf : PatchPSF
        The PSF (:mod:`.decon_psf`).
    thr : ndarray (T,)
        Matched-filter threshold of each frame (``λ / 2``).
    coupling : float
        Bubbles closer than this many FWHM (per axis) are refined jointly.
        At 2 FWHM the position derivatives of two Gaussian PSFs still
        correlate by 4 % (their amplitudes by 0.4 %); a coupling left out
        makes Gauss-Newton cycle (1.5 FWHM lost 1 % of precision at high
        density).
    rounds : int
        Most add-and-refit rounds.
    n_newton : int
        Most Gauss-Newton iterations of a coupled group per refinement.
    merge : float
        Two bubbles of a frame closer than this (pixels) are one.

    Returns
    -------
    t, z, x, a : ndarray
        Frame index, position (pixels) and amplitude of every bubble, by frame.
    """
    # couplings must include the pairs to merge
    coupling = max(float(coupling), merge / min(psf.fwhm))
    block = Block(np.asarray(y, dtype=np.float64), psf, coupling)
    kz, _ = psf.along(0, block.oz.astype(float))
    kx, _ = psf.along(1, block.ox.astype(float))
    kern = [(kz[:, r], kx[:, r]) for r in range(psf.rank)]
    hn2 = float(np.einsum("kr,ks,lr,ls->", kz, kz, kx, kx))  # ‖h‖² at integer offsets
    hpeak = float(np.einsum("kr,lr->kl", kz, kx).max())
    a_tol = thr / hn2  # amplitude of a lone bubble at the threshold
    t = np.zeros(0, np.intp)
    z, x, a = np.zeros(0), np.zeros(0), np.zeros(0)
    for _ in range(rounds):
        (tc, zc, xc, ac), rp = _candidates(block, kern, thr, a_tol * hpeak, hn2, hpeak)
        span = 4.0 * (block.Z + block.X)  # frames apart in the search trees
        if tc.size and t.size:  # not on top of a bubble already there
            d, _ = cKDTree(np.column_stack([t * span, z, x])).query(np.column_stack([tc * span, zc, xc]),
                                                                    distance_upper_bound=merge)
            keep = ~np.isfinite(d)
            tc, zc, xc, ac = tc[keep], zc[keep], xc[keep], ac[keep]
        if rp[0].size:  # nor on top of a bubble, nor on the pixel of a matched-filter candidate
            pix = (tc * block.Z + np.rint(zc).astype(np.intp)) * block.X + np.rint(xc).astype(np.intp)
            keep = ~np.isin((rp[0] * block.Z + rp[1].astype(np.intp)) * block.X + rp[2].astype(np.intp), pix)
            if t.size:
                keep &= ~np.isfinite(cKDTree(np.column_stack([t * span, z, x])).query(
                    np.column_stack([rp[0] * span, rp[1], rp[2]]), distance_upper_bound=merge)[0])
            tc, zc, xc, ac = (np.concatenate([u, v[keep]]) for u, v in zip((tc, zc, xc, ac), rp))
        if tc.size == 0:
            break
        Zs, Xs, idx, geom = block.basis(tc, zc, xc, ac)
        img = _image(Zs, Xs, ac)
        np.add.at(block.r.reshape(-1), idx.reshape(-1), -img.reshape(-1))
        new = np.zeros(t.size + tc.size, bool)
        new[t.size:] = True
        t, z, x, a = np.concatenate([t, tc]), np.concatenate([z, zc]), np.concatenate([x, xc]), np.concatenate([a, ac])
        pr = block.pairs(t, z, x)
        dirty = _grow(new, pr)
        refine(block, t, z, x, a, np.nonzero(dirty)[0], pr, a_tol, n_newton, merge, (Zs, Xs, idx, geom, img))
        t, z, x, a = _prune(block, t, z, x, a, thr, merge, a_tol, n_newton, dirty)
    o = np.argsort(t, kind="stable")
    return t[o], z[o], x[o], a[o]


def _prune(block, t, z, x, a, thr, merge, a_tol, n_newton, changed, passes: int = 3):
    """Drop bubbles that do not pay for themselves and the weaker of close pairs; refit their neighbours.

    A bubble is worth ``a_i / (M⁻¹)_ii``: the decrease of ``‖r‖²`` per unit of
    amplitude that keeping it brings, the other amplitudes refitted (``M``
    the Gram matrix of the coupled PSFs; ``a_i ‖h_i‖²`` for a lone bubble).
    It leaves when that falls to the threshold (the lasso's condition, λ/2),
    so a bubble that its neighbours explain as well leaves too. One bubble
    per coupled group leaves per pass (two bubbles explaining each other
    must not both go). Only the bubbles ``changed`` (a mask: refitted since
    the last pruning) and their neighbours are examined (the others' worth
    has not changed).
    """
    for _ in range(passes):
        pr = block.pairs(t, z, x)
        look = _grow(changed, pr)
        ring = _grow(look, pr)  # the neighbours of those examined, for their couplings
        e = np.nonzero(ring)[0]
        if e.size == 0:
            break
        pe = _within(pr, ring)
        geom = block.geometry(z[e], x[e])
        Zs, Xs = block.values(*geom, z[e], x[e])  # amplitudes only: no derivative factors
        A = gram_values(Zs, Xs, Zs, Xs) * (1.0 + 1e-9) + 1e-300  # a ridge: coincident bubbles
        C = None
        if pe.size:
            j = e[pe[:, 1]]
            Zj, Xj = block.values(*(g[pe[:, 0]] for g in geom), z[j], x[j])
            C = gram_values(Zs[pe[:, 0]], Xs[pe[:, 0]], Zj, Xj)
        cp = Coupling(e.size, pe)
        ae, te, ze, xe = a[e], t[e], z[e], x[e]
        worth = ae / cp.inverse_diagonal(A, C)[:, 0] / thr[te]
        worth[~look[e]] = np.inf
        close = pe[np.hypot(ze[pe[:, 0]] - ze[pe[:, 1]], xe[pe[:, 0]] - xe[pe[:, 1]]) < merge]
        worth[np.where(ae[close[:, 0]] < ae[close[:, 1]], close[:, 0], close[:, 1])] = -np.inf
        cand = np.nonzero(worth <= 1.0)[0]
        if cand.size == 0:
            break
        cand = cand[np.lexsort((worth[cand], cp.lab[cand]))]
        first = np.ones(cand.size, bool)
        first[1:] = cp.lab[cand[1:]] != cp.lab[cand[:-1]]
        cand = cand[first]
        block.add(Zs[cand], Xs[cand], block.index(te[cand], geom[0][cand], geom[1][cand]), ae[cand])
        drop = np.zeros(t.size, bool)
        drop[e[cand]] = True
        keep = ~drop
        near = _grow(drop, pr) & keep
        pr = _within(pr, keep)
        t, z, x, a, changed = t[keep], z[keep], x[keep], a[keep], near[keep]
        refine(block, t, z, x, a, np.nonzero(changed)[0], pr, a_tol, n_newton, merge)
    return t, z, x, a


def _grow(mask, pr):
    """``mask`` with the partners of its bubbles in the pairs ``pr`` added."""
    out = mask.copy()
    if pr.size:
        out[pr[mask[pr[:, 0]], 1]] = True
        out[pr[mask[pr[:, 1]], 0]] = True
    return out


def _within(pr, keep):
    """The pairs with both ends kept, renumbered among the kept."""
    if pr.size == 0:
        return pr
    ren = np.cumsum(keep) - 1
    return ren[pr[keep[pr[:, 0]] & keep[pr[:, 1]]]]
