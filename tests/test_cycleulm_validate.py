"""benchmarks/cycleulm_validate.py: the adoption rule of 2026-12-05 (MB-DT's domain-B intensities).

(a) strictly more of issue 14's target checks passed than today's translators, and (b) the mean over
densities of the F1 of CycleULM-NCC, -Decon and -Loc down by at most 0.005.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
V = pytest.importorskip("cycleulm_validate")


def _result(passes: dict, f1: dict) -> dict:
    """Per density: targets {name: [value, ok]} and the three variants' F1."""
    return {d: {"targets": {f"check{i}": [0.0, ok] for i, ok in enumerate(p)},
                "methods": {v: {"f1": f1[d]} for v in V.VARIANTS}} for d, p in passes.items()}


def test_adoption_needs_strictly_more_checks_and_f1_within_0_005():
    today = _result({"low": [True, False], "high": [True, True]}, {"low": 0.70, "high": 0.60})
    same = _result({"low": [False, True], "high": [True, True]}, {"low": 0.75, "high": 0.65})
    more = _result({"low": [True, True], "high": [True, True]}, {"low": 0.70, "high": 0.591})
    worse_f1 = _result({"low": [True, True], "high": [True, True]}, {"low": 0.69, "high": 0.59})
    assert V.variants_mean_f1(today) == pytest.approx(0.65)
    r = V.adoption(today, same)
    assert r["checks_passed"] == {"today": 3, "candidate": 3} and r["checks_total"] == 4
    assert not r["a_more_checks"] and r["b_f1_within_0.005"] and not r["adopt"]  # better F1 alone is not enough
    r = V.adoption(today, more)  # one more check, F1 down 0.0045
    assert r["a_more_checks"] and r["b_f1_within_0.005"] and r["adopt"]
    r = V.adoption(today, worse_f1)  # one more check, F1 down 0.01
    assert r["a_more_checks"] and not r["b_f1_within_0.005"] and not r["adopt"]
