"""Detection metrics against ground truth: optimal matching, scores and score curves.

pyulm's one matcher: benchmarks, tests, network training and calibration all
call :func:`match` (or :func:`pooled_scores` over many simulations).

One matching rule for every method: in each frame, localizations and
ground-truth bubbles are paired one-to-one by the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``), which maximises the number of
pairs closer than ``max_distance`` and, among those, minimises the summed
distance. Pairs farther than ``max_distance`` do not count.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from .. import _validate as V
from ..tables import Localizations

__all__ = ["Matching", "match", "detection_scores", "pooled_scores", "score_sweep", "precision_recall_curve",
           "error_recall_curve", "average_precision"]


@dataclass
class Matching:
    """Result of :func:`match`.

    gt_index, loc_index : (M,) int
        Row indices of the matched pairs in the ground-truth and localization tables.
    distance : (M,) float
        Euclidean distance of each pair (``pixel_size`` units).
    dz, dx : (M,) float
        Signed errors ``loc − gt`` (``pixel_size`` units).
    n_gt, n_loc : int
        Rows in each table.
    """

    gt_index: np.ndarray
    loc_index: np.ndarray
    distance: np.ndarray
    dz: np.ndarray
    dx: np.ndarray
    n_gt: int
    n_loc: int


def _as_table(obj, name):
    """(z, x, frame) arrays from a Localizations table or an (N, 3) array [z, x, frame]."""
    if isinstance(obj, Localizations):
        return obj.z, obj.x, obj.frame
    a = np.asarray(obj, dtype=np.float64)
    if a.size == 0:
        a = a.reshape(0, 3)
    if a.ndim != 2 or a.shape[1] < 3:
        raise ValueError(f"{name}: expected a Localizations table or an (N, 3) array [z, x, frame], got shape {a.shape}")
    return a[:, 0], a[:, 1], a[:, 2]


def match(gt, locs, max_distance: float, *, pixel_size=(1.0, 1.0)) -> Matching:
    """Pair localizations with ground truth, frame by frame (Hungarian, distance-gated).

    Parameters
    ----------
    gt : Localizations or array_like (N, 3) [z, x, frame]
        Ground truth; must not be empty.
    locs : Localizations or array_like (K, 3) [z, x, frame]
        Localizations, same units and frame numbering as ``gt``.
    max_distance : float
        Largest distance of a valid pair, in the units of ``pixel_size``
        (pixels by default).
    pixel_size : (dz, dx)
        Scale of one unit of z and of x (e.g. in λ) so that distances are
        isotropic physical ones.

    Returns
    -------
    Matching

    Examples
    --------
    >>> from pyulm.metrics import match
    >>> gt = [[10, 10, 0], [20, 20, 0], [5, 5, 1]]
    >>> locs = [[10.3, 10, 0], [30, 30, 0], [5, 5.2, 1]]
    >>> m = match(gt, locs, max_distance=1.0)
    >>> m.gt_index.tolist(), m.loc_index.tolist(), m.distance.round(2).tolist()
    ([0, 2], [0, 2], [0.3, 0.2])
    """
    gz, gx, gf = _as_table(gt, "gt")
    lz, lx, lf = _as_table(locs, "locs")
    if gz.size == 0:
        raise ValueError("gt: the ground truth is empty; detection metrics need at least one true bubble")
    dmax = V.positive(max_distance, "max_distance")
    pz, px = V.pair(pixel_size, "pixel_size")
    if not (np.all(np.isfinite(gz)) and np.all(np.isfinite(gx))):
        raise ValueError("gt: positions contain NaN or Inf; remove absent bubbles first")
    if not (np.all(np.isfinite(lz)) and np.all(np.isfinite(lx))):
        raise ValueError("locs: positions contain NaN or Inf")
    go = np.argsort(gf, kind="stable")
    lo = np.argsort(lf, kind="stable")
    frames = np.intersect1d(gf, lf)
    gb = np.searchsorted(gf[go], frames, side="left"), np.searchsorted(gf[go], frames, side="right")
    lb = np.searchsorted(lf[lo], frames, side="left"), np.searchsorted(lf[lo], frames, side="right")
    gi_all, li_all = [], []
    big = 1e6 * dmax + 1.0  # any gated-out pair costs more than every valid set of pairs
    for k in range(frames.size):
        gi = go[gb[0][k]:gb[1][k]]
        li = lo[lb[0][k]:lb[1][k]]
        D = np.hypot((gz[gi, None] - lz[None, li]) * pz, (gx[gi, None] - lx[None, li]) * px)
        C = np.where(D <= dmax, D, big)
        r, c = linear_sum_assignment(C)
        ok = D[r, c] <= dmax
        gi_all.append(gi[r[ok]])
        li_all.append(li[c[ok]])
    gi = np.concatenate(gi_all) if gi_all else np.zeros(0, np.int64)
    li = np.concatenate(li_all) if li_all else np.zeros(0, np.int64)
    o = np.argsort(gi, kind="stable")
    gi, li = gi[o].astype(np.int64), li[o].astype(np.int64)
    dz = (lz[li] - gz[gi]) * pz
    dx = (lx[li] - gx[gi]) * px
    return Matching(gi, li, np.hypot(dz, dx), dz, dx, int(gz.size), int(lz.size))


def detection_scores(matching: Matching) -> dict:
    """Counts and scores of a matching.

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn``; ``precision = tp/(tp+fp)``,
        ``recall = tp/(tp+fn)``, ``f1``, ``jaccard = tp/(tp+fp+fn)``;
        ``mean_error`` (mean Euclidean distance of the pairs), ``rmse`` (root
        mean square distance), ``bias_z``, ``bias_x`` (mean signed errors), in
        the matching's units; NaN when undefined.

    Examples
    --------
    >>> from pyulm.metrics import match, detection_scores
    >>> s = detection_scores(match([[0, 0, 0], [5, 5, 0]], [[0, 0.1, 0]], max_distance=0.5))
    >>> s["tp"], s["fp"], s["fn"], s["precision"], s["recall"], round(s["mean_error"], 3)
    (1, 0, 1, 1.0, 0.5, 0.1)
    """
    tp = int(matching.gt_index.size)
    fp = matching.n_loc - tp
    fn = matching.n_gt - tp

    def ratio(a, b):
        return float(a / b) if b > 0 else float("nan")

    d = matching.distance
    return {"tp": tp, "fp": fp, "fn": fn, "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
            "f1": ratio(2 * tp, 2 * tp + fp + fn), "jaccard": ratio(tp, tp + fp + fn),
            "mean_error": float(d.mean()) if tp else float("nan"),
            "rmse": float(np.sqrt(np.mean(d ** 2))) if tp else float("nan"),
            "bias_z": float(matching.dz.mean()) if tp else float("nan"),
            "bias_x": float(matching.dx.mean()) if tp else float("nan")}



def pooled_scores(sets, max_distance: float, *, pixel_size=(1.0, 1.0)) -> dict:
    """:func:`detection_scores` pooled over several (ground truth, localizations) sets.

    Counts are summed and the errors are over every matched pair of every set
    (so a set's weight is its number of bubbles), which is how accuracy over
    many simulations is reported (training, calibration, benchmarks). Each set
    is matched by :func:`match`; a set without any true bubble adds its
    localizations as false positives.

    Parameters
    ----------
    sets : iterable of (gt, locs)
        As :func:`match` takes them.
    max_distance : float
        Largest distance of a valid pair, in the units of ``pixel_size``.
    pixel_size : (dz, dx)
        As :func:`match`.

    Returns
    -------
    dict
        The keys of :func:`detection_scores`, plus ``n_gt`` and ``n_loc``.

    Examples
    --------
    >>> from pyulm.metrics import pooled_scores
    >>> s = pooled_scores([([[0, 0, 0]], [[0, 0.2, 0]]), (np.zeros((0, 3)), [[1, 1, 0]])], 0.5)
    >>> s["tp"], s["fp"], s["fn"], s["precision"], round(s["mean_error"], 3)
    (1, 1, 0, 0.5, 0.2)
    """
    parts = []
    n_gt = n_loc = 0
    for gt, locs in sets:
        g, lz = _as_table(gt, "gt")[0], _as_table(locs, "locs")[0]
        n_gt, n_loc = n_gt + g.size, n_loc + lz.size
        if g.size:
            parts.append(match(gt, locs, max_distance, pixel_size=pixel_size))
        else:
            V.positive(max_distance, "max_distance")
    cat = [np.concatenate([getattr(m, k) for m in parts]) if parts else np.zeros(0)
           for k in ("gt_index", "loc_index", "distance", "dz", "dx")]
    scores = detection_scores(Matching(*cat, n_gt=int(n_gt), n_loc=int(n_loc)))
    return {**scores, "n_gt": int(n_gt), "n_loc": int(n_loc)}

def _scores_of(locs, score):
    if isinstance(score, str):
        if not isinstance(locs, Localizations):
            raise ValueError("score: a column name needs a Localizations table; pass the scores as an array")
        if score not in locs:
            raise ValueError(f"score: column {score!r} not in the table (columns: {list(locs.columns)})")
        return np.asarray(locs[score], dtype=np.float64)
    s = np.asarray(score, dtype=np.float64).ravel()
    return s


def score_sweep(gt, locs, max_distance: float, *, score="intensity", pixel_size=(1.0, 1.0)) -> dict:
    """Precision, recall and mean error as the detection score threshold rises.

    Localizations are matched once (:func:`match`); keeping only those with
    ``score >= s`` keeps their pairs, so TP(s) is the number of matched
    localizations with score ≥ s (the usual single-matching sweep, as in
    object-detection benchmarks).

    Parameters
    ----------
    gt, locs, max_distance, pixel_size
        As in :func:`match`.
    score : str or array_like (K,)
        Column of ``locs`` (e.g. ``"intensity"``, ``"score"``) or one value
        per localization; larger means more confident.

    Returns
    -------
    dict
        ``threshold`` (decreasing distinct scores), ``precision``,
        ``recall``, ``mean_error`` (NaN before the first pair), ``n_kept``.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import score_sweep
    >>> gt = [[0, 0, 0], [5, 5, 0]]
    >>> locs = [[0, 0.1, 0], [9, 9, 0], [5, 5.3, 0]]
    >>> sw = score_sweep(gt, locs, 0.5, score=np.array([3.0, 2.0, 1.0]))
    >>> sw["precision"].round(3).tolist(), sw["recall"].tolist()
    ([1.0, 0.5, 0.667], [0.5, 0.5, 1.0])
    """
    m = match(gt, locs, max_distance, pixel_size=pixel_size)
    s = _scores_of(locs, score)
    if s.size != m.n_loc:
        raise ValueError(f"score: expected {m.n_loc} values (one per localization), got {s.size}")
    if not np.all(np.isfinite(s)):
        raise ValueError("score: contains NaN or Inf")
    err = np.full(m.n_loc, np.nan)
    err[m.loc_index] = m.distance
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    is_tp = np.isfinite(err[order])
    cum_tp = np.cumsum(is_tp)
    cum_err = np.cumsum(np.where(is_tp, err[order], 0.0))
    # One point per distinct threshold: the last index of each run of equal scores.
    last = np.nonzero(np.r_[s_sorted[1:] != s_sorted[:-1], True])[0] if s.size else np.zeros(0, int)
    n_kept = last + 1
    tp = cum_tp[last]
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"threshold": s_sorted[last], "precision": tp / n_kept, "recall": tp / m.n_gt,
                "mean_error": np.where(tp > 0, cum_err[last] / np.maximum(tp, 1), np.nan), "n_kept": n_kept}


def precision_recall_curve(gt, locs, max_distance: float, *, score="intensity", pixel_size=(1.0, 1.0)):
    """``(precision, recall, thresholds)`` over a score threshold; see :func:`score_sweep`.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import precision_recall_curve
    >>> p, r, t = precision_recall_curve([[0, 0, 0]], [[0, 0, 0], [3, 3, 0]], 0.5, score=np.array([1.0, 2.0]))
    >>> p.tolist(), r.tolist(), t.tolist()
    ([0.0, 0.5], [0.0, 1.0], [2.0, 1.0])
    """
    sw = score_sweep(gt, locs, max_distance, score=score, pixel_size=pixel_size)
    return sw["precision"], sw["recall"], sw["threshold"]


def error_recall_curve(gt, locs, max_distance: float, *, score="intensity", pixel_size=(1.0, 1.0)):
    """``(mean_error, recall, thresholds)`` over a score threshold; see :func:`score_sweep`.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import error_recall_curve
    >>> e, r, t = error_recall_curve([[0, 0, 0], [5, 5, 0]], [[0, 0.1, 0], [5, 5.3, 0]], 0.5,
    ...                              score=np.array([2.0, 1.0]))
    >>> e.round(2).tolist(), r.tolist()
    ([0.1, 0.2], [0.5, 1.0])
    """
    sw = score_sweep(gt, locs, max_distance, score=score, pixel_size=pixel_size)
    return sw["mean_error"], sw["recall"], sw["threshold"]


def average_precision(precision, recall) -> float:
    """Area under a precision–recall curve: ``Σ (R_k − R_{k−1}) P_k`` with recall from 0.

    Examples
    --------
    >>> from pyulm.metrics import average_precision
    >>> average_precision([1.0, 0.5], [0.5, 1.0])
    0.75
    """
    p = np.asarray(precision, dtype=np.float64).ravel()
    r = np.asarray(recall, dtype=np.float64).ravel()
    if p.size != r.size:
        raise ValueError(f"precision, recall: expected the same length, got {p.size} and {r.size}")
    return float(np.sum(np.diff(np.r_[0.0, r]) * p))
