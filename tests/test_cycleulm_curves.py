"""benchmarks/cycleulm_curves.py: the CycleULM benchmark's precision-recall curves from permissive runs.

The benchmark's rows are each method's default operating point and its curves sweep a permissive
run (threshold lowered); these tests check that the default run is recovered exactly from the
permissive one where the knob is a pure threshold, that each curve point is re-matched (a point is
what the table would report for that set), and the recall-at-precision read-out.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import pyulm
from pyulm.metrics import pooled_scores, score_sweep
from pyulm.sim import free_motion
from pyulm.tables import Localizations

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("cycleulm_curves", ROOT / "benchmarks" / "cycleulm_curves.py")
C = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(C)


@pytest.fixture(scope="module")
def sim():
    return free_motion((40, 40), n_frames=10, n_bubbles=(6, 10), seed=5, snr_db=10.0)


def _locs(z, x, frame, score):
    return Localizations(np.asarray(z, float), np.asarray(x, float), np.asarray(frame), np.ones(len(z)),
                         extra={"score": np.asarray(score, float)})


def test_top_per_frame_keeps_the_best_of_each_frame():
    locs = _locs([1, 2, 3, 4, 5], [0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [0.1, 0.9, 0.5, 0.2, 0.3])
    kept = C.top_per_frame(locs, 2, "score")
    assert sorted(np.asarray(kept["score"]).tolist()) == [0.2, 0.3, 0.5, 0.9]
    assert len(C.top_per_frame(locs, 1, "score")) == 2


def test_ncc_default_run_is_the_permissive_run_filtered(sim):
    n = 8  # NCC's threshold (0.5) keeps 6-9 peaks a frame here: the cap binds in some frames, the threshold in others
    amp = np.abs(sim.iq)
    default = pyulm.localize(amp, "ncc", fwhm=3, number_of_particles=n, psf="gaussian")
    perm = pyulm.localize(amp, "ncc", fwhm=3, number_of_particles=C.UNCAPPED, psf="gaussian", **C.PERMISSIVE["ncc"])
    assert len(perm) > len(default)
    assert C.same_localizations(C.default_from_permissive("ncc", perm, n), default)
    assert len(C.default_from_permissive("ncc", perm, n, threshold=0.8)) < len(default)


def test_mblnet_default_run_is_the_permissive_run_filtered(sim):
    pytest.importorskip("torch")
    n = 8
    default = pyulm.localize(sim.iq, "mblnet", number_of_particles=n, threshold=0.4, device="cpu")
    perm = pyulm.localize(sim.iq, "mblnet", number_of_particles=C.UNCAPPED, device="cpu", **C.PERMISSIVE["mblnet"])
    assert len(perm) > len(default)
    assert C.same_localizations(C.default_from_permissive("mblnet", perm, n, threshold=0.4), default)


def test_each_point_is_matched_anew():
    # a confident detection 1.5 px from the bubble, a doubtful one 0.2 px from it: one matching of
    # both gives the bubble to the doubtful one, so the confident one alone would look false
    gt = [[5.0, 5.0, 0]]
    locs = _locs([5.0, 5.0], [6.5, 5.2], [0, 0], [2.0, 1.0])
    assert score_sweep(gt, locs, 2.0, score="score")["precision"][0] == 0.0
    c = C.curve([(gt, locs)], "score", 2.0)
    assert c["n_kept"] == [1, 2]
    assert c["precision"] == [1.0, 0.5] and c["recall"] == [1.0, 1.0]
    assert c["mean_error"][0] == pytest.approx(1.5)


def test_recall_at_precision_bisects_between_points():
    # 10 bubbles; by decreasing score 6 detections on bubbles, then 9 far from any
    gt = [[5.0, 10.0 * i, 0] for i in range(10)]
    locs = _locs([5.0] * 6 + [50.0] * 9, [10.0 * i for i in range(6)] + [10.0 * i for i in range(9)], [0] * 15,
                 np.arange(15, 0, -1))
    c = C.curve([(gt, locs)], "score", 2.0, at=(0.75, 0.3, 0.99), n_points=4)  # points at 1, 5, 10, 15 kept
    assert c["n_kept"] == [1, 5, 10, 15]
    # 6 / 8 = 0.75 is the last precision >= 0.75 (between the points at 5 and 10): recall 0.6, not 0.5
    assert c["recall_at"][0.75] == pytest.approx(0.6)
    assert c["recall_at"][0.3] == pytest.approx(0.6)  # every point reaches it: the last one's recall
    assert c["recall_at"][0.99] == pytest.approx(0.6)  # 6 / 6
    assert C.curve([(gt, locs)], "score", 2.0, at=(1.01,))["recall_at"][1.01] == 0.0
    end = pooled_scores([(gt, locs)], 2.0)
    assert (c["precision"][-1], c["recall"][-1]) == (end["precision"], end["recall"])
