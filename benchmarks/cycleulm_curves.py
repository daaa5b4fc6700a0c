"""Precision-recall curves of the CycleULM benchmark from permissive runs (issue 14, item 5).

A method's table row is its **default** operating point; its curve comes from a **permissive**
run of the same method on the same frames: its detection threshold lowered
(:data:`PERMISSIVE`) and at most ``CURVE_CAP x N`` detections per frame (``N``: the row's
cap, the most crowded ground-truth frame), swept by the method's own score
(:func:`curve`: each threshold's set matched anew by the one matcher, as a table row is; one
matching of the whole permissive set, :func:`pyulm.metrics.score_sweep`, would let a
low-score detection take a true bubble from a more confident neighbour and understate the
precision of the confident part of the curve: by up to 0.08 for deconvolution on the validation
acquisitions). Sweeping the default run's own localizations instead (what the benchmark did
before) ends every curve at the default point, so "recall at another method's precision" was
capped at the default recall of a method more precise by default.

Where the knob is a pure filter on a column (NCC's ``threshold`` on the peak correlation
``ncc``, MBL-Net's ``threshold`` on ``probability``) the default run is the uncapped permissive
run filtered at the default threshold and then capped at ``N`` per frame by the method's ranking
(:func:`default_from_permissive`): one run gives both. Deconvolution's ``lam_factor`` changes
the solution and radial symmetry has no threshold (PALA keeps the ``N`` largest regional
maxima: its cap *is* its threshold), so those run twice.
"""
from __future__ import annotations

import numpy as np

from pyulm.metrics import pooled_scores

#: Curves hold at most CURVE_CAP x N detections per frame (rows: N), so that every curve runs
#: below every method's default precision (the comparison points of the recall-at-precision target).
CURVE_CAP = 2
#: The detection knob of each localizer, lowered for the permissive run (radial: none, the cap).
PERMISSIVE = {"ncc": {"threshold": 0.0}, "decon": {"lam_factor": 0.5}, "mblnet": {"threshold": 0.05},
              "radial": {}}
#: Localizers whose knob is a pure threshold: (the option, its default, the column it filters, the
#: column that ranks the N kept per frame). MBL-Net's default is the model's (or the pipeline's).
PURE = {"ncc": ("threshold", 0.5, "ncc", "score"), "mblnet": ("threshold", None, "probability", "probability")}
#: The score each localizer's curve sweeps (larger: more confident).
SCORE = {"ncc": "score", "decon": "score", "mblnet": "probability", "radial": "intensity"}
#: "No cap" for a permissive run that is also filtered into the default run.
UNCAPPED = 10 ** 9


def top_per_frame(locs, n: int, score: str):
    """The ``n`` highest-``score`` localizations of each frame (ties: the first in table order)."""
    f = np.asarray(locs.frame)
    s = np.asarray(locs[score], float)
    order = np.lexsort((-s, f))  # by frame, then decreasing score, stable
    fs = f[order]
    rank = np.arange(fs.size) - np.searchsorted(fs, fs, side="left")
    return locs.select(np.sort(order[rank < int(n)]))


def default_from_permissive(method: str, perm, n: int, threshold=None):
    """The default run of ``method`` from its uncapped permissive run (pure thresholds only).

    Keeps the localizations whose filtered column is strictly above the default threshold (as
    the localizers do), then the ``n`` best per frame by the method's ranking column.
    """
    _, t0, column, rank = PURE[method]
    t = t0 if threshold is None else float(threshold)
    kept = perm.select(np.flatnonzero(np.asarray(perm[column], float) > t))
    return top_per_frame(kept, n, rank)


def same_localizations(a, b) -> bool:
    """Whether two tables hold the same (frame, z, x) positions (any order)."""
    if len(a) != len(b):
        return False
    key = [np.lexsort((np.asarray(t.x), np.asarray(t.z), np.asarray(t.frame))) for t in (a, b)]
    return all(np.array_equal(np.asarray(getattr(a, c))[key[0]], np.asarray(getattr(b, c))[key[1]])
               for c in ("frame", "z", "x"))


def curve(sets, score: str, max_distance: float, *, at=(), n_points: int = 64) -> dict:
    """Precision, recall and mean error of localizations as the ``score`` threshold falls.

    Each point keeps the localizations whose score is >= a threshold and scores them with the
    one matcher (:func:`pyulm.metrics.pooled_scores`, re-matched: a threshold's point is what
    the table would report for that set). The thresholds are the scores of ``n_points`` ranks
    evenly spaced from the most confident localization to the last (over all sets).

    Parameters
    ----------
    sets : list of (gt, Localizations)
        Pooled as :func:`pyulm.metrics.pooled_scores` pools them (one acquisition or several).
    score : str
        The column swept (larger: more confident).
    max_distance : float
        The matcher's gate (pixels).
    at : sequence of float
        Precisions at which to report the largest recall (``recall_at``; see
        :func:`recall_at_precision`).

    Returns
    -------
    dict
        ``precision``, ``recall``, ``mean_error``, ``n_kept`` (lists, one per point) and
        ``recall_at`` (``{p0: recall}``).
    """
    scores = [np.asarray(locs[score], float) if len(locs) else np.zeros(0) for _, locs in sets]
    ranked = np.sort(np.concatenate(scores))[::-1]
    n = ranked.size

    def point(k):  # the sets above the k-th score (ties kept together: a threshold, not a count)
        kept = [np.flatnonzero(s >= ranked[k - 1]) for s in scores]
        sc = pooled_scores([(gt, locs.select(i)) for (gt, locs), i in zip(sets, kept)], max_distance)
        return sum(i.size for i in kept), sc["precision"], sc["recall"], sc["mean_error"]

    ks = np.unique(np.linspace(1, n, min(n_points, n)).astype(int)) if n else np.zeros(0, int)
    pts = [point(int(k)) for k in ks]
    out = {name: [float(p[i]) for p in pts] for i, name in enumerate(("n_kept", "precision", "recall", "mean_error"))}
    out["recall_at"] = {float(p0): recall_at_precision(ks, pts, point, p0) for p0 in at}
    return out


def recall_at_precision(ks, pts, point, p0: float) -> float:
    """The recall at the last threshold whose precision is still >= ``p0``.

    ``pts`` are :func:`curve`'s points at ranks ``ks``; between the last point at or above ``p0``
    and the next one below it, the crossing is found by bisection on the rank (recall never
    falls as the threshold does, so this is the largest recall at precision >= p0 unless the
    precision rises back above ``p0`` further down). 0 if no point reaches ``p0``.
    """
    ok = [i for i, p in enumerate(pts) if p[1] >= p0]
    if not ok:
        return 0.0
    i = ok[-1]
    if i == len(pts) - 1:
        return float(pts[i][2])
    lo, hi, best = int(ks[i]), int(ks[i + 1]), pts[i]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        p = point(mid)
        if p[1] >= p0:
            lo, best = mid, p
        else:
            hi = mid
    return float(best[2])
