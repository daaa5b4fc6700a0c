import numpy as np
import pytest

from pyulm import Localizations
from pyulm.metrics import (average_precision, detection_scores, error_recall_curve, match, precision_recall_curve,
                           score_sweep)


def test_hungarian_beats_greedy_and_gates_by_distance():
    # Greedy nearest-first would pair L0-G1 (0.4) and leave G0 unmatched; the optimum pairs both.
    gt = [[0, 0, 0], [0, 0.8, 0]]
    locs = [[0, 0.4, 0], [0, 1.3, 0]]
    m = match(gt, locs, max_distance=0.6)
    assert m.gt_index.tolist() == [0, 1] and m.loc_index.tolist() == [0, 1]
    np.testing.assert_allclose(m.distance, [0.4, 0.5])
    m2 = match(gt, locs, max_distance=0.45)
    assert m2.gt_index.size == 1


def test_frames_are_matched_separately_and_pixel_size_scales():
    gt = [[5, 5, 0], [5, 5, 1]]
    locs = [[5, 5.5, 1]]
    s = detection_scores(match(gt, locs, 1.0))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1) and s["f1"] == pytest.approx(2 / 3)
    s2 = detection_scores(match(gt, locs, 1.0, pixel_size=(1, 4)))  # 0.5 px in x = 2 units
    assert s2["tp"] == 0


def test_scores_with_localizations_tables():
    gt = Localizations(z=[1, 10], x=[1, 10], frame=[0, 0])
    loc = Localizations(z=[1.1, 10, 20], x=[1, 10.2, 20], frame=[0, 0, 0], intensity=[3, 2, 1])
    s = detection_scores(match(gt, loc, 0.5))
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == 1.0
    assert s["mean_error"] == pytest.approx(0.15) and s["rmse"] == pytest.approx(np.sqrt((0.01 + 0.04) / 2))
    assert s["bias_z"] == pytest.approx(0.05) and s["bias_x"] == pytest.approx(0.1)
    p, r, t = precision_recall_curve(gt, loc, 0.5)  # intensity as score by default
    np.testing.assert_allclose(p, [1, 1, 2 / 3])
    np.testing.assert_allclose(r, [0.5, 1, 1])
    np.testing.assert_allclose(t, [3, 2, 1])
    e, r2, _ = error_recall_curve(gt, loc, 0.5)
    np.testing.assert_allclose(e, [0.1, 0.15, 0.15])
    assert average_precision(p, r) == pytest.approx(1.0)


def test_sweep_ties_give_one_point():
    sw = score_sweep([[0, 0, 0]], [[0, 0, 0], [5, 5, 0]], 0.5, score=np.array([1.0, 1.0]))
    assert sw["threshold"].tolist() == [1.0] and sw["precision"].tolist() == [0.5]


@pytest.mark.parametrize("gt, locs, kw, msg", [
    (np.zeros((0, 3)), [[0, 0, 0]], {}, "empty"),
    ([[0, 0, 0]], [[0, 0, 0]], {"max_distance": 0}, "max_distance"),
    ([[np.nan, 0, 0]], [[0, 0, 0]], {}, "NaN"),
    ([[0, 0]], [[0, 0, 0]], {}, "gt"),
])
def test_bad_input(gt, locs, kw, msg):
    kw = {"max_distance": 1.0, **kw}
    with pytest.raises(ValueError, match=msg):
        match(gt, locs, **kw)


def test_score_column_errors():
    with pytest.raises(ValueError, match="score"):
        score_sweep([[0, 0, 0]], Localizations(z=[0], x=[0], frame=[0]), 1.0, score="nope")
    with pytest.raises(ValueError, match="one per localization"):
        score_sweep([[0, 0, 0]], [[0, 0, 0]], 1.0, score=np.ones(3))


def test_pooled_scores_sum_counts_and_pool_errors():
    from pyulm.metrics import pooled_scores

    a = ([[0, 0, 0], [5, 5, 0]], [[0, 0.2, 0]])              # 1 tp, 1 fn
    b = ([[1, 1, 0]], [[1.4, 1, 0], [9, 9, 0]])              # 1 tp, 1 fp
    c = (np.zeros((0, 3)), [[3, 3, 0]])                      # no bubble: 1 fp
    s = pooled_scores([a, b, c], 0.5)
    assert (s["tp"], s["fp"], s["fn"], s["n_gt"], s["n_loc"]) == (2, 2, 1, 3, 4)
    assert s["mean_error"] == pytest.approx(0.3)
    one = detection_scores(match(*a, 0.5))
    assert {k: one[k] for k in ("tp", "fp", "fn", "mean_error")} == \
        {k: pooled_scores([a], 0.5)[k] for k in ("tp", "fp", "fn", "mean_error")}
    with pytest.raises(ValueError, match="max_distance"):
        pooled_scores([c], 0)
