"""Munkres (Hungarian) assignment with partial assignment, as Yi Cao's ``munkres.m`` v2.3.

Reimplemented from the published algorithm of Yi Cao's ``munkres.m`` (version 2.3,
Cranfield University, BSD licence), which PALA vendors through Tinevez's
simpletracker. Every detail that decides *which* optimum is returned is kept:

* invalid entries (NaN, Inf) are replaced by ``bigM = 10**(ceil(log10(sum of valid
  costs)) + 1)``; when every valid cost is 0 that is ``10**-inf = 0``, so invalid
  pairs become indistinguishable from valid ones and may be chosen, then dropped;
* rows and columns with no valid entry are pruned; the rest is padded to a square
  with ``10 * max(valid costs)``;
* the initial starring takes the first zero in column-major order, repeatedly;
* uncovered zeros are primed in the order of a column-major scan of the uncovered
  sub-matrix, newly uncovered zeros being appended to the end of the queue;
* an assigned pair that is invalid is removed from the result.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["munkres"]


def _colmajor_nonzero(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of True entries in column-major order, like MATLAB ``find``."""
    c, r = np.nonzero(mask.T)
    return r, c


def munkres(cost) -> tuple[np.ndarray, float]:
    """Optimal partial assignment of rows to columns, Yi Cao's munkres v2.3 exactly.

    Parameters
    ----------
    cost : array_like, shape (n_rows, n_cols)
        Non-negative assignment costs; ``inf`` or ``nan`` marks a forbidden pair.
        Not modified.

    Returns
    -------
    assignment : ndarray of int, shape (n_rows,)
        0-based column assigned to each row, ``-1`` for an unassigned row
        (MATLAB's version is 1-based with 0 for unassigned).
    total : float
        Sum of the costs of the assigned (valid) pairs.

    Notes
    -----
    Among equal-cost optima the one found by Yi Cao's scan order is returned,
    and the degenerate ``bigM = 0`` case (all valid costs exactly 0) loses links
    exactly as the MATLAB code does: ``munkres([[inf, 0], [0, inf]])`` assigns
    nothing although a perfect assignment exists.

    Examples
    --------
    >>> munkres([[2, 1, 1], [1, 1, 2], [1, 2, 1]])[0].tolist()
    [1, 0, 2]
    >>> munkres([[np.inf, 0], [0, np.inf]])[0].tolist()
    [-1, -1]
    """
    C = np.array(cost, dtype=float, order="C", copy=True)
    if C.ndim != 2:
        raise ValueError(f"cost: expected a 2-D (n_rows, n_cols) array, got {C.ndim} axes with shape {C.shape}")
    n_rows0 = C.shape[0]
    assignment = np.full(n_rows0, -1, dtype=np.int64)
    valid = (C == C) & (C < np.inf)
    if np.any(C[valid] < 0):
        raise ValueError(f"cost: expected non-negative costs (inf/nan for forbidden pairs), got minimum {C[valid].min()!r}")
    # MATLAB sums the valid entries in column-major order
    s = float(np.sum(C.T[valid.T]))
    big_m = 10.0 ** (math.ceil(math.log10(s)) + 1) if s > 0 else 0.0
    C[~valid] = big_m
    valid_row = valid.any(axis=1)
    valid_col = valid.any(axis=0)
    n_r, n_c = int(valid_row.sum()), int(valid_col.sum())
    n = max(n_r, n_c)
    if n == 0:
        return assignment, 0.0
    maxv = 10.0 * C[valid].max()
    d = np.full((n, n), maxv)
    d[:n_r, :n_c] = C[np.ix_(valid_row, valid_col)]

    star = _solve(d)

    row_idx = np.flatnonzero(valid_row)
    col_idx = np.flatnonzero(valid_col)
    s_real = star[:n_r]
    keep = s_real < n_c
    assignment[row_idx[keep]] = col_idx[s_real[keep]]
    rows = np.flatnonzero(assignment >= 0)
    bad = ~valid[rows, assignment[rows]]
    assignment[rows[bad]] = -1
    total = 0.0
    for r in np.flatnonzero(assignment >= 0):  # sequential sum, as MATLAB's trace
        total += C[r, assignment[r]]
    return assignment, total


def _solve(d: np.ndarray) -> np.ndarray:
    """Munkres on a square matrix; returns the starred column of every row."""
    n = d.shape[0]
    min_r = d.min(axis=1)
    min_c = (d - min_r[:, None]).min(axis=0)
    zero = d == (min_c[None, :] + min_r[:, None])

    star = np.full(n, -1, dtype=np.int64)
    row_free = [True] * n
    star_col_free = [True] * n
    # repeated "first zero in column-major order, then clear its row and column"
    # is the same as a greedy pass over columns taking the first free row
    zc, zr = np.nonzero(zero.T)
    for c, r in zip(zc.tolist(), zr.tolist()):
        if row_free[r] and star_col_free[c]:
            star[r] = c
            row_free[r] = False
            star_col_free[c] = False

    while not np.all(star >= 0):
        cover_col = np.zeros(n, dtype=bool)
        cover_col[star[star >= 0]] = True
        cover_row = np.zeros(n, dtype=bool)
        prime = np.full(n, -1, dtype=np.int64)
        ur, uc = ~cover_row, ~cover_col
        r_q, c_q = _colmajor_nonzero(d[np.ix_(ur, uc)] == (min_r[ur][:, None] + min_c[uc][None, :]))
        while True:
            # the queue holds positions relative to the uncovered sub-matrix
            r_q = np.flatnonzero(~cover_row)[r_q].tolist()
            c_q = np.flatnonzero(~cover_col)[c_q].tolist()
            found = False
            while c_q:
                uzr, uzc = r_q[0], c_q[0]
                prime[uzr] = uzc
                stz = star[uzr]
                if stz < 0:
                    found = True
                    break
                cover_row[uzr] = True
                cover_col[stz] = False
                kept = [i for i, r in enumerate(r_q) if r != uzr]
                r_q = [r_q[i] for i in kept]
                c_q = [c_q[i] for i in kept]
                c_r = np.flatnonzero(~cover_row)
                new = c_r[d[c_r, stz] == min_r[c_r] + min_c[stz]]
                r_q.extend(new.tolist())
                c_q.extend([int(stz)] * new.size)
            if found:
                break
            ur, uc = ~cover_row, ~cover_col
            m = d[np.ix_(ur, uc)] - (min_r[ur][:, None] + min_c[uc][None, :])
            minval = m.min()
            r_q, c_q = _colmajor_nonzero(m == minval)
            min_c[uc] = min_c[uc] + minval
            min_r[cover_row] = min_r[cover_row] - minval

        # augment along the alternating primed/starred path
        row_z1 = np.flatnonzero(star == uzc)
        star[uzr] = uzc
        while row_z1.size:
            r1 = int(row_z1[0])
            star[r1] = -1
            uzc = prime[r1]
            uzr = r1
            row_z1 = np.flatnonzero(star == uzc)
            star[uzr] = uzc
    return star
