"""PALA's benchmark metrics (Heiles et al., Nat. Biomed. Eng. 2022), with PALA's behaviour.

Units and conventions are PALA's: positions in wavelengths (λ), frames
1-based, ``PData``-style ``Origin``/``PDelta`` as ``[x, y, z]``.

Naming quirks kept on purpose (PALA_SPEC §5.4 item 31):

* the "RMSE" of the PSF benchmark is the **bias-corrected mean Euclidean
  error** (:func:`psf_mean_error`), not a root mean square;
* the "RMSE" of the Flow benchmark is the **mean Euclidean error of the pairs
  closer than Th_pair** (:func:`pala_mean_error`), not bias-corrected;
* the Jaccard index is a fraction in ``Stat_class`` and a percentage in the
  figures and in the global score's input (:func:`classification_scores`
  returns fractions; multiply by 100 for PALA's figures);
* the Gap score is ``1 − gap_λ``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import _validate as V

__all__ = ["PairingResult", "pala_pairing", "stat_multi", "classification_scores", "pala_mean_error",
           "psf_mean_error", "gridding_index", "saturation", "global_score"]


def _pdata_field(pdata, name):
    if isinstance(pdata, dict):
        if name not in pdata:
            raise ValueError(f"PData: missing field {name!r}; expected Origin, Size and PDelta")
        return np.asarray(pdata[name], dtype=np.float64).ravel()
    if not hasattr(pdata, name):
        raise ValueError(f"PData: missing field {name!r}; expected Origin, Size and PDelta")
    return np.asarray(getattr(pdata, name), dtype=np.float64).ravel()


@dataclass
class PairingResult:
    """Output of :func:`pala_pairing` (PALA's names in brackets).

    stat : (Nframes, 5) int [Stat_classification]
        Columns ``[Npos_in, Npos_loc, T_pos, F_neg, F_pos]`` per frame.
    err_list : (M, 3) float [ErrList]
        ``[norm, z_ref − z_loc, x_ref − x_loc]`` (λ) of the good pairs.
    final_pairs : list of (k, 3) arrays [FinalPairs]
        Per frame ``[ref_idx, loc_idx, dist]``, indices 1-based into the
        frame's filtered reference list and the frame's localization list.
    missing : list of int arrays [MissingPoint]
        Per frame, sorted 1-based reference indices without a good pair.
    wrong : list of int arrays [WrongLoc]
        Per frame, sorted 1-based localization indices without a good pair.
    """

    stat: np.ndarray
    err_list: np.ndarray
    final_pairs: list
    missing: list
    wrong: list


def _greedy_pairs(D: np.ndarray):
    """PALA's "sorted diagonal" pairing of a (Nref, Nloc) distance matrix.

    Localizations are visited by increasing distance to their nearest
    reference; each takes the nearest reference among those left, and that
    reference and every reference ranked before it (by their own nearest
    distance) are used up. Pairs are recorded whatever the distance.
    """
    nref, nloc = D.shape
    if nref == 0 or nloc == 0:
        return []
    loc_order = np.argsort(D.min(axis=0), kind="stable")
    ref_order = np.argsort(D.min(axis=1), kind="stable")
    pairs = []
    start = 0
    for j in loc_order:
        if start >= nref:
            break
        rows = ref_order[start:]
        k = int(np.argmin(D[rows, j]))  # first on ties, in ranked order
        pairs.append((int(rows[k]), int(j), float(D[rows[k], j])))
        start += k + 1  # the chosen reference and every one ranked before it are consumed
    return pairs


def pala_pairing(list_pos_ref, mat_tracked_loc, pdata, th_pair: float, th_tp: float | None = None) -> PairingResult:
    """PALA's pairing of localizations with the simulation's ground truth (``PALA_PairingAlgorithm``).

    Parameters
    ----------
    list_pos_ref : array_like (Nmax, 4, Nframes)
        Ground truth ``[x, y, z, reflectivity]`` in λ per frame, NaN rows for
        absent bubbles (PALA's ``ListPos``).
    mat_tracked_loc : array_like (N, >=3)
        Localizations ``[z, x, frame]`` in λ, frames 1-based.
    pdata : dict or object
        ``Origin`` ([x, y, z], λ), ``Size`` ([Nz, Nx, ...]) and ``PDelta``
        ([x, y, z], λ). References outside ``[Origin, Origin + (Size+1)·PDelta]``
        (inclusive, two pixels past the last pixel centre) are ignored.
    th_pair : float
        Pairs closer than this (strictly) are "good": their error is listed (λ).
    th_tp : float, optional
        Pairs closer than this (strictly) are true positives; default ``th_pair``.
        Must not exceed ``th_pair``.

    Returns
    -------
    PairingResult

    Notes
    -----
    The greedy pairing is PALA's, quirks included: a localization can use up a
    far reference and every reference ranked before it, so a later, closer
    localization may stay unpaired. True positives count **all** recorded
    pairs closer than ``th_tp``; pairs with ``th_tp <= d < th_pair`` are in the
    error list yet count as a false negative and a false positive.

    Examples
    --------
    The specification's example: references at z = 0 and 5, localizations at
    z = 0.01, 0.05 and 5.3 (x = 0, one frame).

    >>> import numpy as np
    >>> from pyulm.metrics import pala_pairing
    >>> ref = np.array([[0, 0, 0, 1], [0, 0, 5, 1]], float)[:, :, None]
    >>> loc = np.array([[0.01, 0, 1], [0.05, 0, 1], [5.3, 0, 1]])
    >>> pd = {"Origin": [-1, 0, -1], "Size": [10, 10], "PDelta": [1, 1, 1]}
    >>> pairing = pala_pairing(ref, loc, pd, th_pair=0.5, th_tp=0.25)
    >>> pairing.stat.tolist()
    [[2, 3, 1, 1, 2]]
    """
    ref = np.asarray(list_pos_ref, dtype=np.float64)
    if ref.ndim == 2:
        ref = ref[:, :, None]
    if ref.ndim != 3 or ref.shape[1] < 3:
        raise ValueError(f"list_pos_ref: expected (Nmax, 4, Nframes) [x y z refl], got shape {ref.shape}")
    if ref.size == 0 or not np.any(np.isfinite(ref[:, 0, :])):
        raise ValueError("list_pos_ref: the ground truth is empty (no finite position)")
    loc = np.asarray(mat_tracked_loc, dtype=np.float64)
    if loc.size == 0:
        loc = np.zeros((0, 3))
    if loc.ndim != 2 or loc.shape[1] < 3:
        raise ValueError(f"mat_tracked_loc: expected (N, 3) [z x frame], got shape {loc.shape}")
    th_pair = V.positive(th_pair, "th_pair")
    th_tp = th_pair if th_tp is None else V.positive(th_tp, "th_tp")
    if th_tp > th_pair:
        raise ValueError(f"th_tp: expected a value <= th_pair ({th_pair}), got {th_tp}")
    origin, size, pdelta = _pdata_field(pdata, "Origin"), _pdata_field(pdata, "Size"), _pdata_field(pdata, "PDelta")
    if origin.size < 3 or pdelta.size < 3 or size.size < 2:
        raise ValueError("PData: expected Origin and PDelta as [x y z] and Size as [Nz Nx]")
    x_lo, x_hi = origin[0], origin[0] + (size[1] + 1) * pdelta[0]
    z_lo, z_hi = origin[2], origin[2] + (size[0] + 1) * pdelta[2]
    nfr = ref.shape[2]
    stat = np.zeros((nfr, 5), np.int64)
    errs, finals, missing, wrong = [], [], [], []
    frames = loc[:, 2]
    for ifr in range(nfr):
        r = ref[:, :, ifr]
        r = r[np.isfinite(r[:, 0])]
        inside = (r[:, 0] >= x_lo) & (r[:, 0] <= x_hi) & (r[:, 2] >= z_lo) & (r[:, 2] <= z_hi)
        r = r[inside]
        rz, rx = r[:, 2], r[:, 0]
        lf = loc[frames == ifr + 1]
        lz, lx = lf[:, 0], lf[:, 1]
        D = np.hypot(rz[:, None] - lz[None, :], rx[:, None] - lx[None, :])
        pairs = _greedy_pairs(D)
        P = np.array(pairs, dtype=np.float64).reshape(-1, 3)
        good = P[P[:, 2] < th_pair]
        gi, gj = good[:, 0].astype(int), good[:, 1].astype(int)
        finals.append(np.column_stack([gi + 1, gj + 1, good[:, 2]]))
        missing.append(np.setdiff1d(np.arange(1, rz.size + 1), gi + 1))
        wrong.append(np.setdiff1d(np.arange(1, lz.size + 1), gj + 1))
        errs.append(np.column_stack([good[:, 2], rz[gi] - lz[gj], rx[gi] - lx[gj]]))
        tp = int(np.count_nonzero(P[:, 2] < th_tp))
        stat[ifr] = (rz.size, lz.size, tp, rz.size - tp, lz.size - tp)
    return PairingResult(stat=stat, err_list=np.vstack(errs) if errs else np.zeros((0, 3)), final_pairs=finals,
                         missing=missing, wrong=wrong)


def stat_multi(list_pos_refs, tracks, pdata, th_pair: float, th_tp: float | None = None):
    """PALA's ``PALA_Stat_multi``: pairing counts per block and algorithm.

    Parameters
    ----------
    list_pos_refs : sequence of array_like (Nmax, 4, Nframes)
        Ground truth ``ListPos`` of each block.
    tracks : sequence (Nbloc) of sequences (Nalgo)
        ``tracks[b][a]`` is the raw track list of algorithm ``a`` on block
        ``b``: a list of ``(n, >=3)`` arrays ``[z x frame ...]`` (λ, frames
        1-based) or one such array already stacked. PALA passes the raw
        tracks, so only localizations kept by tracking are scored.
    pdata, th_pair, th_tp
        As in :func:`pala_pairing`.

    Returns
    -------
    stat_class : ndarray (6, Nalgo, Nbloc)
        Rows ``[Nin, Nloc, TP, FN, FP, Jaccard]`` summed over frames, the
        Jaccard ``TP/(TP+FN+FP)`` as a fraction, per block.
    err_lists : list (Nalgo) of (M, 3) arrays
        Error lists concatenated over blocks.

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import stat_multi
    >>> ref = np.array([[0, 0, 0, 1], [0, 0, 5, 1]], float)[:, :, None]
    >>> trk = [np.array([[0.01, 0, 1], [0.05, 0, 1]]), np.array([[5.3, 0, 1]])]
    >>> pd = {"Origin": [-1, 0, -1], "Size": [10, 10], "PDelta": [1, 1, 1]}
    >>> S, E = stat_multi([ref], [[trk]], pd, 0.5, 0.25)
    >>> S[:, 0, 0].round(3).tolist()
    [2.0, 3.0, 1.0, 1.0, 2.0, 0.25]
    """
    nbloc = len(list_pos_refs)
    if nbloc == 0 or len(tracks) != nbloc:
        raise ValueError(f"tracks: expected one entry per block ({nbloc}), got {len(tracks)}")
    nalgo = len(tracks[0])
    if nalgo == 0 or any(len(t) != nalgo for t in tracks):
        raise ValueError("tracks: expected the same non-zero number of algorithms for every block")
    out = np.zeros((6, nalgo, nbloc))
    errs = [[] for _ in range(nalgo)]
    for b in range(nbloc):
        for a in range(nalgo):
            tr = tracks[b][a]
            if isinstance(tr, np.ndarray):
                mat = tr
            else:
                tr = [np.asarray(t, dtype=np.float64).reshape(-1, np.shape(t)[-1]) for t in tr]
                mat = np.vstack([t[:, :3] for t in tr]) if tr else np.zeros((0, 3))
            pairing = pala_pairing(list_pos_refs[b], mat, pdata, th_pair, th_tp)
            s = pairing.stat.sum(axis=0).astype(np.float64)
            tp, fn, fp = s[2], s[3], s[4]
            den = tp + fn + fp
            out[:5, a, b] = s
            out[5, a, b] = tp / den if den > 0 else np.nan
            errs[a].append(pairing.err_list)
    return out, [np.vstack(e) for e in errs]


def classification_scores(tp, fn, fp) -> dict:
    """Jaccard, precision and recall as **fractions** (PALA's figures show percentages).

    ``jaccard = TP/(TP+FN+FP)``, ``precision = TP/(TP+FP)``,
    ``recall = TP/(TP+FN)``; element-wise, NaN where a denominator is 0.

    Examples
    --------
    >>> from pyulm.metrics import classification_scores
    >>> {k: round(float(v), 3) for k, v in classification_scores(8, 2, 2).items()}
    {'jaccard': 0.667, 'precision': 0.8, 'recall': 0.8}
    """
    tp, fn, fp = (np.asarray(v, dtype=np.float64) for v in (tp, fn, fp))
    if np.any(tp < 0) or np.any(fn < 0) or np.any(fp < 0):
        raise ValueError("tp, fn, fp: expected counts >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"jaccard": np.where(tp + fn + fp > 0, tp / (tp + fn + fp), np.nan),
                "precision": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
                "recall": np.where(tp + fn > 0, tp / (tp + fn), np.nan)}


def pala_mean_error(err_list) -> float:
    """The Flow benchmark's "RMSE": the mean Euclidean error of the good pairs (λ).

    ``mean(ErrList[:, 0])``: a mean of norms, not a root mean square, and not
    bias-corrected. NaN for an empty list (as MATLAB's ``mean([])``).

    Examples
    --------
    >>> from pyulm.metrics import pala_mean_error
    >>> pala_mean_error([[0.1, 0.1, 0.0], [0.3, 0.0, 0.3]])
    0.2
    """
    e = np.asarray(err_list, dtype=np.float64).reshape(-1, 3) if np.size(err_list) else np.zeros((0, 3))
    return float(np.mean(e[:, 0])) if e.shape[0] else float("nan")


def psf_mean_error(errors, static_error=None) -> float:
    """The PSF benchmark's "RMSE": mean Euclidean error after removing the static bias.

    Parameters
    ----------
    errors : array_like (N, 2)
        Signed errors ``[ez, ex]`` (localization − truth), λ.
    static_error : array_like (2,), optional
        Bias to remove (PALA takes it from the −60 dB level); default the mean
        of ``errors`` itself.

    Returns
    -------
    float
        ``mean(‖e − static‖)``, λ.

    Examples
    --------
    >>> from pyulm.metrics import psf_mean_error
    >>> psf_mean_error([[0.1, 0.0], [0.1, 0.2]], static_error=[0.1, 0.0])
    0.1
    """
    e = np.asarray(errors, dtype=np.float64)
    if e.ndim != 2 or e.shape[1] != 2 or e.shape[0] == 0:
        raise ValueError(f"errors: expected a non-empty (N, 2) array [ez ex], got shape {e.shape}")
    s = e.mean(axis=0) if static_error is None else np.asarray(static_error, dtype=np.float64).ravel()[:2]
    return float(np.mean(np.hypot(e[:, 0] - s[0], e[:, 1] - s[1])))


def gridding_index(maps, harmonics=(1, 2), res: int = 10):
    """PALA's gridding index (dB) of non-interpolated density maps (``PALA_ComputeGriddingIndex``).

    Localizations snapped to the pixel grid leave a periodic pattern at the
    pixel frequency in the super-resolved map. The index compares the power at
    the harmonics of that frequency (``F_0 = round(size / res)`` bins, from the
    **first** map) with the neighbouring bins:
    ``GI = 20 log10(½ Σ_h (peak_x/base_x + peak_z/base_z))``, where ``peak`` is
    the largest normalised marginal power in bins ``F_0·h + {−1, 0, 1}`` and
    ``base`` the mean in ``F_0·h ± {3, 4, 5}`` (1-based bins as in PALA).

    Parameters
    ----------
    maps : array_like (Nz, Nx) or sequence of them
    harmonics : sequence of int
        Harmonics summed (PALA: [1, 2] in the rat-brain figure, [1] for VivoMulti).
    res : int
        Super-resolution factor (PALA hard-codes 10).

    Returns
    -------
    gi : ndarray (K,)
        One value per map, dB.
    f0 : (int, int)
        The fundamental bins (z, x).

    Examples
    --------
    The specification's test vector:

    >>> import numpy as np
    >>> from pyulm.metrics import gridding_index
    >>> M = np.zeros((201, 301)); M[9:200:10, 9:300:10] = 1
    >>> gi, f0 = gridding_index(M)
    >>> round(float(gi[0]), 8), f0
    (60.86219116, (20, 30))
    """
    if isinstance(maps, np.ndarray) and maps.ndim == 2:
        maps = [maps]
    maps = [np.asarray(m, dtype=np.float64) for m in maps]
    if not maps or any(m.ndim != 2 for m in maps):
        raise ValueError("maps: expected a 2-D map or a sequence of 2-D maps")
    res = V.positive(res, "res", integer=True)
    harmonics = np.atleast_1d(np.asarray(harmonics)).astype(int)
    if harmonics.size == 0 or np.any(harmonics < 1):
        raise ValueError(f"harmonics: expected positive integers, got {harmonics.tolist()}")
    f0 = tuple(int(v) for v in V.round_half_away(np.asarray(maps[0].shape) / res))
    peak_off = np.array([-1, 0, 1])
    base_off = np.array([-5, -4, -3, 3, 4, 5])
    out = np.zeros(len(maps))
    for k, M in enumerate(maps):
        P = np.abs(np.fft.fft2(M)) ** 2
        tot = P.sum()
        if not tot > 0:
            raise ValueError(f"maps: map {k} has zero power; the gridding index is undefined")
        spectra = (P.sum(axis=1) / tot, P.sum(axis=0) / tot)  # Pz (length Nz), Px (length Nx)
        acc = 0.0
        for h in harmonics:
            for ax, spec in enumerate(spectra):
                pk = f0[ax] * h + peak_off - 1  # 1-based bins -> 0-based
                bs = f0[ax] * h + base_off - 1
                if bs.max() >= spec.size or bs.min() < 0:
                    raise ValueError(f"harmonics: harmonic {h} is outside the spectrum of a map of shape {M.shape}")
                acc += spec[pk].max() / spec[bs].mean()
        out[k] = 20.0 * np.log10(0.5 * acc)
    return out, f0


def saturation(density_map) -> float:
    """Fraction of super-resolved pixels visited at least once (PALA's "Saturation").

    Examples
    --------
    >>> import numpy as np
    >>> from pyulm.metrics import saturation
    >>> saturation(np.array([[0, 1], [2, 0]]))
    0.5
    """
    M = np.asarray(density_map)
    if M.ndim != 2 or M.size == 0:
        raise ValueError(f"density_map: expected a non-empty 2-D map, got shape {M.shape}")
    return float(np.count_nonzero(M > 0) / M.size)


_SCORE_NAMES = ("rmse", "jaccard", "precision", "gap", "time", "gridding", "saturation")
_WEIGHTS = np.array([2, 2, 1, 1, 2, 1, 1], dtype=np.float64)


def global_score(rmse, jaccard, precision, gap, time, gridding, saturation_fraction) -> dict:
    """PALA's global score (``PALA_GlobalScore.m``), one value per algorithm.

    Parameters (one value per algorithm each)
    ----------------------------------------
    rmse : PSF-benchmark "RMSE" at −30 dB (bias-corrected mean error), λ.
    jaccard, precision : Flow-benchmark means over blocks, **percent**.
    gap : canal separability Radar.Gap, λ.
    time : total processing time, s (only ratios matter).
    gridding : gridding index, dB.
    saturation_fraction : fraction of visited SR pixels.

    Returns
    -------
    dict
        ``scores`` (dict name → array): ``rmse = 1 − rmse/0.5``,
        ``jaccard/100``, ``precision/100``, ``gap = 1 − gap``,
        ``time = 1 − log10(time/min(time))/2``, ``gridding = 1 − GI/30``,
        ``saturation`` (not clipped: they can be < 0 or > 1);
        ``weights`` [2, 2, 1, 1, 2, 1, 1];
        ``global`` Σ score·weight·100/10 in %;
        ``table`` (13, Nalgo): PALA's ``GlobalScore_values`` rows.

    Examples
    --------
    >>> from pyulm.metrics import global_score
    >>> g = global_score([0.1], [50.0], [80.0], [0.3], [10.0], [3.0], [0.2])
    >>> round(float(g["global"][0]), 2)
    72.0
    """
    vals = [np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel() for v in
            (rmse, jaccard, precision, gap, time, gridding, saturation_fraction)]
    n = vals[0].size
    for name, v in zip(_SCORE_NAMES, vals):
        if v.size != n:
            raise ValueError(f"{name}: expected {n} values (one per algorithm), got {v.size}")
        if not np.all(np.isfinite(v)):
            raise ValueError(f"{name}: expected finite values")
    r, j, p, g, t, gi, s = vals
    if np.any(t <= 0):
        raise ValueError("time: expected positive processing times")
    scores = {"rmse": 1 - r / 0.5, "jaccard": j / 100, "precision": p / 100, "gap": 1 - (g / 10) / 0.1,
              "time": 1 - np.log10(t / t.min()) / 2, "gridding": 1 - gi / 30, "saturation": s}
    S = np.vstack([scores[k] for k in _SCORE_NAMES])
    glob = (S * _WEIGHTS[:, None]).sum(axis=0) * 100 / 10
    table = np.vstack([r, scores["rmse"] * 10, t, scores["time"] * 10, g / 10, scores["gap"] * 10, gi,
                       scores["gridding"] * 10, scores["jaccard"] * 10, scores["precision"] * 10, s,
                       scores["saturation"] * 10, glob / 10])
    return {"scores": scores, "weights": dict(zip(_SCORE_NAMES, _WEIGHTS.tolist())), "global": glob, "table": table}
