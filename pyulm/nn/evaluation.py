"""Matching localizations to ground truth: one rule for validation, shipped
metrics and the benchmark. Per frame, predictions and ground-truth bubbles are
paired by the Hungarian algorithm on Euclidean distance (pixels); pairs farther
apart than ``threshold`` do not count. Pure numpy/scipy (no torch)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def match(pred_z, pred_x, pred_frame, gt_z, gt_x, gt_frame, threshold: float = 1.0, *, pairs: bool = False) -> dict:
    """Precision, recall, F1, mean and RMS localisation error of matched pairs.

    Returns a dict with ``tp``, ``fp``, ``fn``, ``precision``, ``recall``, ``f1``,
    ``mean_error`` and ``rmse`` (pixels; NaN when nothing matched); with
    ``pairs=True`` also ``gt_index``, ``pred_index`` and ``error`` of every matched pair.
    """
    pz, px, pf = (np.asarray(a).ravel() for a in (pred_z, pred_x, pred_frame))
    gz, gx, gf = (np.asarray(a).ravel() for a in (gt_z, gt_x, gt_frame))
    pf, gf = pf.astype(np.int64), gf.astype(np.int64)
    errs, gi, pi = [], [], []
    tp = 0
    p_order, g_order = np.argsort(pf, kind="stable"), np.argsort(gf, kind="stable")
    frames = np.union1d(pf, gf)
    p_lo, p_hi = np.searchsorted(pf[p_order], frames), np.searchsorted(pf[p_order], frames, side="right")
    g_lo, g_hi = np.searchsorted(gf[g_order], frames), np.searchsorted(gf[g_order], frames, side="right")
    big = threshold * 1e3 + 1e6
    for a, b, c, d in zip(p_lo, p_hi, g_lo, g_hi):
        if a == b or c == d:
            continue
        ip, ig = p_order[a:b], g_order[c:d]
        dist = np.hypot(pz[ip, None] - gz[None, ig], px[ip, None] - gx[None, ig])
        cost = np.where(dist <= threshold, dist, big)
        r, k = linear_sum_assignment(cost)
        ok = dist[r, k] <= threshold
        tp += int(ok.sum())
        errs.append(dist[r, k][ok])
        pi.append(ip[r[ok]])
        gi.append(ig[k[ok]])
    n_pred, n_gt = pz.size, gz.size
    e = np.concatenate(errs) if errs else np.zeros(0)
    precision = tp / n_pred if n_pred else float("nan")
    recall = tp / n_gt if n_gt else float("nan")
    f1 = 2 * tp / (n_pred + n_gt) if (n_pred + n_gt) else float("nan")
    out = {"tp": tp, "fp": n_pred - tp, "fn": n_gt - tp, "precision": precision, "recall": recall, "f1": f1,
           "mean_error": float(e.mean()) if e.size else float("nan"),
           "rmse": float(np.sqrt((e ** 2).mean())) if e.size else float("nan")}
    if pairs:
        out["gt_index"] = np.concatenate(gi) if gi else np.zeros(0, np.int64)
        out["pred_index"] = np.concatenate(pi) if pi else np.zeros(0, np.int64)
        out["error"] = e
    return out


def match_tables(pred, gt, threshold: float = 1.0) -> dict:
    """:func:`match` for two Localizations tables."""
    return match(pred.z, pred.x, pred.frame, gt.z, gt.x, gt.frame, threshold)
