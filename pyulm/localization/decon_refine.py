"""Joint refinement of bubbles for :mod:`pyulm.localization.decon_greedy`: the residual and Gauss-Newton.

:class:`Block` holds a batch of frames' residual ``r = y − Σ a_i h(· − p_i)``
(with a zero margin, so every bubble's patch lies inside the array) and
evaluates bubbles on their patches; :func:`refine` fits amplitudes and
positions of a set of bubbles jointly by damped Gauss-Newton, keeping ``r``
up to date. The PSF is separable per term (:class:`.decon_psf.PatchPSF`), so
a Jacobian column of bubble ``i`` is ``Z ⊗ X`` with 1-D factors and every
inner product of two columns is a product of 1-D inner products.
"""
from __future__ import annotations

import numpy as np

from .decon_blocks import Coupling

__all__ = ["Block", "refine", "gram", "gram_values"]

_P, _Q = np.array([0, 1, 0]), np.array([0, 0, 1])  # Jacobian column c = (a, z, x) is Z[_P[c]] ⊗ X[_Q[c]]
MAX_STEP = 0.5  # longest position step of one iteration, pixels (a group's step is shortened as a whole)
DAMPING = 1e-3  # smallest Levenberg-Marquardt weight of the diagonal
FADE = 0.5  # a bubble whose amplitude falls below this share of the threshold's leaves during the fit
TOL = 1e-2  # a coupled group has converged when no step exceeds this (pixels; relative, for amplitudes)


class Block:
    """A batch of frames (T, Z, X): the residual with a zero margin and the geometry of bubble patches.

    Parameters
    ----------
    y : ndarray (T, Z, X)
        Background-subtracted frames.
    psf : PatchPSF
        The PSF.
    coupling : float
        Bubbles closer than this many FWHM (distance scaled per axis) are coupled.
    """

    def __init__(self, y, psf, coupling: float):
        T, Z, X = y.shape
        hz, hx = psf.half
        self.psf, self.T, self.Z, self.X = psf, T, Z, X
        self.pz, self.px = hz + 2, hx + 2
        self.Zp, self.Xp = Z + 2 * self.pz, X + 2 * self.px
        self.r = np.zeros((T, self.Zp, self.Xp))
        self.interior = (slice(None), slice(self.pz, self.pz + Z), slice(self.px, self.px + X))
        self.r[self.interior] = y
        self.oz, self.ox = np.arange(-hz, hz + 1), np.arange(-hx, hx + 1)
        self.coupling = float(coupling)

    def pairs(self, t, z, x, pixels=None):
        """Index pairs (i < j) of bubbles of one frame that are coupled (or closer than ``pixels``)."""
        if t.size < 2:
            return np.zeros((0, 2), np.intp)
        if pixels is None:
            sz, sx, r = self.psf.fwhm[0], self.psf.fwhm[1], self.coupling
        else:
            sz, sx, r = 1.0, 1.0, float(pixels)
        return _close_pairs(t, z / sz, x / sx, r, self.Z / sz + 4.0 * r)

    def _rows(self, z, axis):
        n_ax, off = (self.Z, self.oz) if axis == 0 else (self.X, self.ox)
        px = np.clip(np.rint(z), 0, n_ax - 1).astype(np.intp)[:, None] + off
        return px, (px >= 0) & (px < n_ax)

    def factors(self, rz, rx, inz, inx, z, x, a):
        """Factors ``Zs``, ``Xs`` (see :meth:`basis`) of bubbles (z, x, a) on patches of the geometry given."""
        return (_stack(*self.psf.along(0, rz - z[:, None], inz), a),
                _stack(*self.psf.along(1, rx - x[:, None], inx), a))

    def values(self, rz, rx, inz, inx, z, x):
        """Value factors ``u`` (n, 1, Kz, R), ``v`` (n, 1, Kx, R) alone (pruning needs no derivatives)."""
        return (self.psf.along(0, rz - z[:, None], inz)[0][:, None], self.psf.along(1, rx - x[:, None], inx)[0][:, None])

    def geometry(self, z, x):
        """Patch rows and columns of bubbles at ``z, x`` and their masks inside the frame: [rz, rx, inz, inx]."""
        rz, inz = self._rows(z, 0)
        rx, inx = self._rows(x, 1)
        return [rz, rx, inz, inx]

    def index(self, t, rz, rx):
        """Flat residual indices (n, Kz, Kx) of the patches with rows ``rz`` and columns ``rx`` of frames ``t``."""
        base = (t * self.Zp + rz[:, 0] + self.pz) * self.Xp + rx[:, 0] + self.px
        return base[:, None, None] + (self.oz[:, None] - self.oz[0]) * self.Xp + (self.ox - self.ox[0])

    def basis(self, t, z, x, a):
        """Per bubble: 1-D factors ``Zs`` (n, 2, Kz, R) = [u, −a u'], ``Xs`` (n, 2, Kx, R) = [v, −a v'], flat
        residual indices of the patch (n, Kz, Kx) and its geometry. Pixels outside the frame are zero."""
        geom = self.geometry(z, x)
        Zs, Xs = self.factors(*geom, z, x, a)
        return Zs, Xs, self.index(t, geom[0], geom[1]), geom

    def on_patch(self, geom, i, z, x, a):
        """Factors of bubbles (z, x, a) evaluated on the patches of bubbles ``i`` (coupling blocks)."""
        rz, rx, inz, inx = geom
        return self.factors(rz[i], rx[i], inz[i], inx[i], z, x, a)

    def add(self, Zs, Xs, idx, w):
        """r += Σ w h(· − p) over the bubbles (their images from the value factors)."""
        np.add.at(self.r.reshape(-1), idx.reshape(-1), _image(Zs, Xs, w).reshape(-1))


def _stack(u, du, a):
    """[u, −a u'] (n, 2, K, R) of one axis."""
    out = np.empty((u.shape[0], 2) + u.shape[1:])
    out[:, 0] = u
    np.multiply(du, -a[:, None, None], out=out[:, 1])
    return out


def _close_pairs(t, z, x, r, frame_span):
    """Index pairs (i < j) of points of one frame ``t`` with ``(z_i − z_j)² + (x_i − x_j)² <= r²``.

    The points sorted along z (frames ``frame_span`` apart, more than z's
    range plus ``r``), each one's candidates are those that follow it within
    ``r`` in z; the test is the distance itself, the same as a k-d tree's
    (``scipy.spatial.cKDTree.query_pairs``), at half its cost.
    """
    key = t * frame_span + z
    o = np.argsort(key, kind="stable")
    ks = key[o]
    n = ks.size
    # the window's end with a margin for the rounding of the keys (the distance test decides)
    hi = np.searchsorted(ks, ks + r * (1.0 + 1e-9) + 1e-9 * np.abs(ks), side="right")
    cnt = np.maximum(hi - np.arange(1, n + 1), 0)
    first = np.repeat(np.arange(n), cnt)
    second = first + 1 + np.arange(first.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    i, j = o[first], o[second]
    dz, dx = z[i] - z[j], x[i] - x[j]
    ok = (t[i] == t[j]) & (dz * dz + dx * dx <= r * r)
    i, j = i[ok], j[ok]
    return np.column_stack([np.minimum(i, j), np.maximum(i, j)])


def _image(Zs, Xs, w):
    """Images ``w Σ_r u_r ⊗ v_r`` (n, Kz, Kx) of bubbles from their value factors."""
    if Zs.shape[3] == 1:  # einsum's outer product: 1.8x faster than broadcasting (inner loops of one row)
        return np.einsum("nk,nl->nkl", Zs[:, 0, :, 0] * w[:, None], Xs[:, 0, :, 0])
    return np.einsum("nkr,nlr->nkl", Zs[:, 0], Xs[:, 0]) * w[:, None, None]


def gram(Zi, Xi, Zj, Xj):
    """3 × 3 blocks ``Jᵢᵀ Jⱼ`` (n, 3, 3) from 1-D factors (products of 1-D inner products)."""
    n, _, K, R = Zi.shape
    if R == 1:  # the Gaussian: (n, 2, K) @ (n, K, 2) per axis, then the 9 products
        GZ = Zi[..., 0] @ Zj[..., 0].transpose(0, 2, 1)
        GX = Xi[..., 0] @ Xj[..., 0].transpose(0, 2, 1)
        return GZ[:, _P[:, None], _P] * GX[:, _Q[:, None], _Q]

    def g(U, V, sel):
        k = U.shape[2]
        G = U.transpose(0, 1, 3, 2).reshape(n, 2 * R, k) @ V.transpose(0, 1, 3, 2).reshape(n, 2 * R, k).transpose(0, 2, 1)
        G = G.reshape(n, 2, R, 2, R).transpose(0, 1, 3, 2, 4)  # (n, 2, 2, R, R)
        return G[:, sel[:, None], sel[None, :]]  # (n, 3, 3, R, R)

    return (g(Zi, Zj, _P) * g(Xi, Xj, _Q)).sum(axis=(3, 4))


def gram_values(Zi, Xi, Zj, Xj):
    """The amplitude blocks ``hᵢᵀ hⱼ`` (n, 1, 1) from value factors (n, 1, K, R): :func:`gram`'s first entry."""
    R = Zi.shape[3]
    GZ = Zi[:, 0].transpose(0, 2, 1) @ Zj[:, 0]  # (n, R, R) per axis
    GX = Xi[:, 0].transpose(0, 2, 1) @ Xj[:, 0]
    return (GZ * GX).sum(axis=(1, 2))[:, None, None] if R > 1 else GZ * GX


def _subset_pairs(pr, keep, n):
    """The pairs whose two ends are both kept, renumbered among the kept."""
    ren = np.full(n, -1)
    ren[keep] = np.arange(keep.size)
    q = pr[(ren[pr[:, 0]] >= 0) & (ren[pr[:, 1]] >= 0)] if pr.size else pr
    return ren[q]


def refine(block, t, z, x, a, sel, pr, a_tol, n_iter, merge=0.0, last=None):
    """Damped Gauss-Newton on (a, z, x) of the bubbles ``sel`` jointly; arrays and residual updated in place.

    ``pr`` are the coupled pairs among all bubbles (those with both ends in
    ``sel`` couple the system). Where the model misses the data (interfering
    echoes, a PSF unlike the model) Gauss-Newton can cycle, so each coupled
    group has its own damping, multiplied by 10 when its step turns back on
    the previous one and divided by 10 otherwise. A group iterates until its
    steps are below ``TOL`` (pixels; amplitudes relative to ``max(a, a_tol)``)
    or ``n_iter`` times, so its result does not depend on other groups. A
    bubble whose amplitude reaches 0 is pruned afterwards; the weaker of two
    bubbles closer than ``merge`` pixels leaves the fit at once (amplitude 0,
    out of the system: left in, it could grow back and the two trade places).
    ``last``: the factors, patch indices, geometry and images (:meth:`Block.basis`,
    :func:`_image`) of the last bubbles of ``sel``, already computed (the new ones).
    """
    if sel.size == 0:
        return
    n_all = sel.size
    ts, zs, xs, as_ = t[sel], z[sel], x[sel], a[sel]
    # The couplings are found once: positions move little during the refinement, and a coupling left out
    # only slows the convergence (the gradient always holds every bubble, through the residual).
    pr = _subset_pairs(pr, sel, t.size)
    cp = Coupling(n_all, pr, zs, xs)  # the components stay; the converged ones drop out of the solves
    nc = cp.size.size
    mu = np.full(nc, DAMPING)
    prev = np.zeros((n_all, 3))
    flat = block.r.reshape(-1)
    active = np.ones(nc, bool)
    A_all, b_all = np.empty((n_all, 3, 3)), np.empty((n_all, 3))
    C_all = np.empty((len(pr), 3, 3))
    # The moving bubbles' factors, patch indices, geometry and images (what they now subtract from r), in
    # the order of ``act``; the rows of converged groups are dropped (nothing reads them again).
    act = np.arange(n_all)
    loc = np.arange(n_all)  # row of each moving bubble in those arrays
    known = 0 if last is None else last[0].shape[0]
    Za, Xa, ia, geom = block.basis(ts[:n_all - known], zs[:n_all - known], xs[:n_all - known], as_[:n_all - known])
    img = _image(Za, Xa, as_[:n_all - known])
    if known:
        Za, Xa, ia, img = (np.concatenate([u, v]) for u, v in zip((Za, Xa, ia, img), (*last[:3], last[4])))
        geom = [np.concatenate([u, v]) for u, v in zip(geom, last[3])]
    merged = np.zeros(n_all, bool)  # left the fit (its rows: the identity, no couplings, so its step is 0)
    for it in range(n_iter):
        lab = cp.lab[act]
        n, _, Kz, R = Za.shape
        W = flat[ia] @ Xa.transpose(0, 2, 1, 3).reshape(n, -1, 2 * R)  # residual patch times X factors
        B = (Za.transpose(0, 1, 3, 2).reshape(n, 2 * R, Kz) @ W).reshape(n, 2, R, 2, R)  # Jᵀ r (n, 3) from it:
        b_all[act] = B.reshape(n, 4)[:, 2 * _P + _Q] if R == 1 else np.einsum("nirir->ni", B[:, _P][:, :, :, _Q])
        A = gram(Za, Xa, Za, Xa)
        diag = A.reshape(n, 9)[:, ::4]  # a view
        diag += mu[lab][:, None] * diag + 1e-12 * diag.max(axis=1, keepdims=True)
        A_all[act] = A
        if pr.size:
            q = np.nonzero(active[cp.lab[pr[:, 0]]])[0]
            gone = merged[pr[q, 0]] | merged[pr[q, 1]]
            C_all[q[gone]] = 0.0
            q = q[~gone]
            i, j = loc[pr[q, 0]], pr[q, 1]
            Zj, Xj = block.on_patch(geom, i, zs[j], xs[j], as_[j])
            C_all[q] = gram(Za[i], Xa[i], Zj, Xj)
        d = cp.solve(A_all, C_all, b_all, None if it == 0 else active)[act]
        longest = np.zeros(nc)
        np.maximum.at(longest, lab, np.abs(d[:, 1:]).max(axis=1))
        d *= np.minimum(1.0, MAX_STEP / np.maximum(longest, 1e-300))[lab][:, None]
        back = np.bincount(lab, np.einsum("ni,ni->n", d[:, 1:], prev[act, 1:]), minlength=nc) < 0.0
        mu = np.where(back, mu * 10.0, np.maximum(mu / 10.0, DAMPING))
        prev[act] = d
        as_[act] = np.maximum(as_[act] + d[:, 0], 0.0)
        zs[act] = np.clip(zs[act] + d[:, 1], -0.5, block.Z - 0.5)
        xs[act] = np.clip(xs[act] + d[:, 2], -0.5, block.X - 0.5)
        za, xa, aa = zs[act], xs[act], as_[act]
        gn = block.geometry(za, xa)
        Za, Xa = block.factors(*gn, za, xa, aa)
        new = _image(Za, Xa, aa)
        # r += old image − new image; a bubble that moved to another pixel: its old patch, then its new one
        hop = np.nonzero((gn[0][:, 0] != geom[0][:, 0]) | (gn[1][:, 0] != geom[1][:, 0]))[0]
        old = img[hop]
        np.subtract(img, new, out=img)
        img[hop] = old
        np.add.at(flat, ia.reshape(-1), img.reshape(-1))
        if hop.size:
            ia[hop] = block.index(ts[act[hop]], gn[0][hop], gn[1][hop])
            np.add.at(flat, ia[hop].reshape(-1), -new[hop].reshape(-1))
        img, geom = new, gn
        # A bubble far below the threshold (its position barely determined, so it wanders) and the weaker
        # of two bubbles on one (they trade places for long) leave now; pruning would drop them anyway.
        weak = act[(aa > 0) & (aa < FADE * a_tol[ts[act]])]
        lose = weak[:0]
        if merge > 0 and pr.size:
            q = pr[active[cp.lab[pr[:, 0]]]]
            q = q[(np.hypot(zs[q[:, 0]] - zs[q[:, 1]], xs[q[:, 0]] - xs[q[:, 1]]) < merge)
                  & (as_[q[:, 0]] > 0) & (as_[q[:, 1]] > 0)]
            lose = np.unique(np.where(as_[q[:, 0]] < as_[q[:, 1]], q[:, 0], q[:, 1]))
            weak = np.union1d(weak, lose)
        if weak.size:
            pos = loc[weak]
            np.add.at(flat, ia[pos].reshape(-1), img[pos].reshape(-1))
            img[pos] = 0.0
            as_[weak] = 0.0
        moved = np.maximum(np.abs(d[:, 1:]).max(axis=1), np.abs(d[:, 0]) / np.maximum(as_[act], a_tol[ts[act]]))
        moved[as_[act] == 0.0] = 0.0
        worst = np.zeros(nc)
        np.maximum.at(worst, lab, moved)
        active = worst >= TOL
        keep = active[lab]
        if lose.size:
            merged[lose] = True
            A_all[lose], b_all[lose] = np.eye(3), 0.0
            keep &= ~merged[act]
        if not keep.any():
            break
        if not keep.all():
            act = act[keep]
            loc[act] = np.arange(act.size)
            Za, Xa, ia, img = Za[keep], Xa[keep], ia[keep], img[keep]
            geom = [g[keep] for g in geom]
    t[sel], z[sel], x[sel], a[sel] = ts, zs, xs, as_
