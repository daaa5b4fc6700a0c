"""The ``curvefitting`` kernel: PALA's Gauss fit ("Gauss-Fit"), batched over all ROIs.

Each ROI, divided by its maximum, is fitted in the least-squares sense by a
unit-amplitude isotropic Gaussian of fixed width (sigma = 1 px),
``exp(-(X - p1)^2/2 - (Z - p2)^2/2)`` on the ROI's offset mesh
(``X = -hx..hx`` along columns, ``Z = -hz..hz`` along rows), starting from
``p = (0, 0)``. Only the centre ``(p1, p2) = (dx, dz)`` is free.

PALA solves this with MATLAB ``lsqcurvefit`` (trust-region-reflective,
``StepTolerance = 0.01``, ``MaxIterations = 5``, finite-difference Jacobian).
:func:`gauss_fit` is a trust-region Gauss-Newton solver that follows the
published description of that algorithm for an unconstrained problem with two
unknowns: the two-dimensional subspace of MATLAB's method is the whole
parameter space, so each step solves the trust-region subproblem exactly;
forward-difference Jacobian with step ``sqrt(eps) * max(|p|, 1)``; a trial
step counts as one iteration whether it is accepted or not; MathWorks'
documented relative stopping rules. MATLAB's internal choices that are not
documented (the initial trust-region radius in particular; here 1 px, as in
``scipy.optimize.least_squares``) may differ, so results are **not
bit-reproducible** against MATLAB; they agree with ``scipy.optimize.least_squares``
(``method='trf'``) run per ROI to well below 0.01 px on real data.
"""
from __future__ import annotations

import numbers

import numpy as np

from .registry import register_kernel

_EPS = np.finfo(np.float64).eps
_SQRT_EPS = np.sqrt(_EPS)


def _residuals(p: np.ndarray, data: np.ndarray, vz: np.ndarray, vx: np.ndarray) -> np.ndarray:
    """model(p) - data for each ROI; p is (K, 2) = (x, z), data (K, nz, nx)."""
    ax = (vx[None, :] - p[:, 0:1]) ** 2 / 2.0  # (K, nx)
    az = (vz[None, :] - p[:, 1:2]) ** 2 / 2.0  # (K, nz)
    return np.exp(-ax[:, None, :] - az[:, :, None]) - data


def _jacobian(p, f, data, vz, vx) -> np.ndarray:
    """Forward-difference Jacobian (K, m, 2) of the flattened residuals."""
    K = p.shape[0]
    J = np.empty((K, f[0].size, 2))
    for j in range(2):
        sign = np.where(p[:, j] >= 0, 1.0, -1.0)
        h = _SQRT_EPS * sign * np.maximum(np.abs(p[:, j]), 1.0)
        q = p.copy()
        q[:, j] += h
        h = q[:, j] - p[:, j]  # the step actually taken in floating point
        J[:, :, j] = ((_residuals(q, data, vz, vx) - f).reshape(K, -1)) / h[:, None]
    return J


def _trust_region_step(J: np.ndarray, f: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """argmin ||f + J s||^2 subject to ||s|| <= delta, exactly, for each of K 2-unknown problems."""
    H = np.einsum("kmi,kmj->kij", J, J)
    g = np.einsum("kmi,km->ki", J, f)
    lam, Q = np.linalg.eigh(H)  # ascending eigenvalues
    lam = np.maximum(lam, 0.0)
    c = np.einsum("kij,ki->kj", Q, g)  # gradient in the eigenbasis
    m = J.shape[1]
    # Rank test on the singular values of J, as a least-squares solver would do it.
    full = np.sqrt(lam[:, 0]) > _EPS * m * np.sqrt(lam[:, 1])
    keep = np.ones_like(lam, dtype=bool)
    keep[:, 0] = full
    keep &= lam > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        coef_gn = np.where(keep, -c / np.where(keep, lam, 1.0), 0.0)  # minimum-norm Gauss-Newton step
    gn_norm = np.linalg.norm(coef_gn, axis=1)
    coef = coef_gn.copy()
    # Outside the region the root of ||s(mu)|| = delta exists with mu > 0 (also when J is rank-deficient).
    todo = ~(gn_norm <= delta) & (np.abs(c).sum(axis=1) > 0)
    if todo.any():
        lt, ct, dt = lam[todo], c[todo], delta[todo]
        # Solve ||s(mu)|| = delta, s(mu) = -(H + mu I)^-1 g, by Newton's method on
        # 1/||s(mu)|| - 1/delta, started below the root (it then increases monotonically).
        gnorm = np.linalg.norm(ct, axis=1)
        mu = np.maximum(gnorm / dt - lt[:, 1], 0.0)
        mu = np.maximum(mu, _EPS * np.maximum(lt[:, 1], _EPS))
        c2 = ct * ct
        for _ in range(60):
            d = lt + mu[:, None]
            snorm2 = (c2 / d ** 2).sum(axis=1)
            snorm = np.sqrt(snorm2)
            q = (c2 / d ** 3).sum(axis=1)
            dmu = snorm2 * (snorm / dt - 1.0) / q
            mu = np.maximum(mu + dmu, 0.0)
            if np.all(np.abs(dmu) <= 1e-15 * np.maximum(mu, 1e-300)):
                break
        coef[todo] = -ct / (lt + mu[:, None])
    return np.einsum("kij,kj->ki", Q, coef)


def gauss_fit(
    rois,
    *,
    max_iterations: int = 5,
    step_tolerance: float = 0.01,
    function_tolerance: float = 1e-6,
    optimality_tolerance: float = 1e-6,
) -> tuple[np.ndarray, np.ndarray]:
    """Fit a unit Gaussian (sigma = 1 px) to each ROI / max(ROI); return the centre offsets.

    Parameters
    ----------
    rois : array_like, (K, nz, nx)
        ROIs centred on the candidates; never modified.
    max_iterations : int
        Trial steps allowed per ROI (MATLAB ``MaxIterations``; PALA uses 5).
    step_tolerance : float
        Stop when a step is shorter than ``step_tolerance * (1 + ||p||)``
        (MATLAB ``StepTolerance``; PALA uses 0.01).
    function_tolerance : float
        Stop when an accepted step lowers the sum of squares by less than
        ``function_tolerance * (1 + sum of squares)``.
    optimality_tolerance : float
        Stop when the largest gradient component falls below this.

    Returns
    -------
    dz, dx : ndarray, (K,)
        Fitted centre offsets in pixels from the ROI centre (+z down, +x right).
        NaN for a ROI whose maximum is not positive.

    Examples
    --------
    >>> zz, xx = np.mgrid[-2:3, -2:3]
    >>> roi = 3.0 * np.exp(-((zz - 0.3) ** 2 + (xx + 0.2) ** 2) / 2)
    >>> dz, dx = gauss_fit(roi[None])
    >>> round(float(dz[0]), 2), round(float(dx[0]), 2)
    (0.3, -0.2)
    """
    arr = np.asarray(rois, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise ValueError(f"rois: expected a (K, nz, nx) stack, got shape {arr.shape}")
    if isinstance(max_iterations, bool) or not isinstance(max_iterations, (int, np.integer)) or max_iterations < 0:
        raise ValueError(f"max_iterations: expected a whole number >= 0, got {max_iterations!r}")
    for name, v in (("step_tolerance", step_tolerance), ("function_tolerance", function_tolerance),
                    ("optimality_tolerance", optimality_tolerance)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}: expected a finite number >= 0, got {v!r}")
    K, nz, nx = arr.shape
    vz = np.arange(nz, dtype=np.float64) - (nz - 1) // 2
    vx = np.arange(nx, dtype=np.float64) - (nx - 1) // 2
    peak = arr.reshape(K, -1).max(axis=1) if K else np.zeros(0)
    valid = np.isfinite(peak) & (peak > 0) & np.isfinite(arr).reshape(K, -1).all(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        data = arr / peak[:, None, None]

    p = np.zeros((K, 2))
    f = _residuals(p, data, vz, vx)
    cost = 0.5 * (f.reshape(K, -1) ** 2).sum(axis=1)
    J = _jacobian(p, f, data, vz, vx)
    g = np.einsum("kmi,km->ki", J, f.reshape(K, -1))
    delta = np.ones(K)  # ||p0|| = 0, so the first trust region has radius 1 px
    active = valid.copy()
    for _ in range(max_iterations):
        active &= np.abs(g).max(axis=1, initial=0.0) >= optimality_tolerance
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        Ja, fa = J[idx], f[idx].reshape(idx.size, -1)
        step = _trust_region_step(Ja, fa, delta[idx])
        p_new = p[idx] + step
        f_new = _residuals(p_new, data[idx], vz, vx)
        cost_new = 0.5 * (f_new.reshape(idx.size, -1) ** 2).sum(axis=1)
        Js = np.einsum("kmi,ki->km", Ja, step)
        predicted = -(np.einsum("ki,ki->k", g[idx], step) + 0.5 * (Js * Js).sum(axis=1))
        actual = cost[idx] - cost_new
        finite = np.isfinite(cost_new)
        actual = np.where(finite, actual, -np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(predicted > 0, actual / predicted, np.where((predicted == 0) & (actual == 0), 1.0, 0.0))
        snorm = np.linalg.norm(step, axis=1)
        d = delta[idx]
        d = np.where(ratio < 0.25, 0.25 * snorm, np.where((ratio > 0.75) & (snorm > 0.95 * d), 2.0 * d, d))
        delta[idx] = d
        accept = actual > 0
        small_step = snorm < step_tolerance  # absolute for this algorithm (MathWorks, Tolerance Details)
        # Sum of squares = 2 * cost.
        small_gain = accept & (2.0 * actual < function_tolerance * (1.0 + 2.0 * cost[idx]))
        acc = idx[accept]
        if acc.size:
            p[acc] = p_new[accept]
            f[acc] = f_new[accept]
            cost[acc] = cost_new[accept]
            J[acc] = _jacobian(p[acc], f[acc], data[acc], vz, vx)
            g[acc] = np.einsum("kmi,km->ki", J[acc], f[acc].reshape(acc.size, -1))
        active[idx[small_step | small_gain]] = False
    p[~valid] = np.nan
    return p[:, 1].copy(), p[:, 0].copy()


@register_kernel("curvefitting", description="Gauss fit: unit Gaussian, sigma 1 px, trust-region least squares")
def curvefitting_kernel(rois: np.ndarray, *, max_iterations: int = 5, step_tolerance: float = 0.01):
    """PALA's ``curvefitting`` kernel (Gauss-Fit); see :func:`gauss_fit`."""
    return gauss_fit(rois, max_iterations=max_iterations, step_tolerance=step_tolerance)
