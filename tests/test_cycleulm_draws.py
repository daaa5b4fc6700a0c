"""benchmarks/cycleulm_draws.py: the label-free scores it ranks MB-DT draws with."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("cycleulm_draws", ROOT / "benchmarks" / "cycleulm_draws.py")
D = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(D)


def _frames(tracks, shape=(48, 48), n=10, noise_peaks=0, seed=0):
    """Gaussian bubbles moving 0.4 px a frame along x (never half a pixel: no plateau) from each (z, x) start; plus isolated one-frame peaks."""
    rng = np.random.default_rng(seed)
    zz, xx = np.mgrid[:shape[0], :shape[1]]
    out = np.zeros(shape + (n,), np.float32)
    for t in range(n):
        for z0, x0 in tracks:
            out[:, :, t] += np.exp(-((zz - z0) ** 2 + (xx - x0 - 0.4 * t) ** 2) / 2.0)
        for z, x in rng.integers(4, shape[0] - 4, (noise_peaks, 2)):  # a new place every frame
            out[z, x, t] += 0.5
    return out


def test_moving_bubbles_persist_and_noise_peaks_do_not():
    tracks = [(10, 8), (30, 12), (20, 25)]
    clean = D.label_free_scores(_frames(tracks), domain_per_frame=3.0)
    assert clean["peak_ratio"] == pytest.approx(1.0) and clean["ratio"] == pytest.approx(0.0)
    assert clean["persistence"] == pytest.approx(1.0)
    noisy = D.label_free_scores(_frames(tracks, noise_peaks=6), domain_per_frame=3.0)
    assert noisy["peak_ratio"] > 2.5 and noisy["ratio"] < -0.9
    assert noisy["persistence"] < 0.7  # the one-frame peaks lower the precision proxy
    sparse = D.label_free_scores(_frames(tracks[:1]), domain_per_frame=3.0)  # erases two bubbles of three
    assert sparse["persistence"] == pytest.approx(0.5)  # recall proxy 1/3, precision proxy 1


def test_refuses_test_seeds_and_too_few_draws():
    with pytest.raises(SystemExit):
        D.main(["--translators", "a=x", "--translators", "b=y", "--translators", "c=z", "--seeds", "0"])
    with pytest.raises(SystemExit):
        D.main(["--translators", "a=x", "--translators", "b=y"])


def test_check_score_is_the_whole_label_free_check():
    from pyulm.nn.cycleulm.mbdt_check import check_translation

    tracks = [(10, 8), (30, 12), (20, 25)]
    bright = _frames(tracks)
    dim = 0.05 * bright  # same peaks, a twentieth of the height: the count half alone cannot tell them apart
    kw = dict(n_bubbles=(1, 1), patch=28, fwhm=(2.35, 2.35), intensity=(0.9, 1.0))
    good = D.whole_check(check_translation(bright, **kw))
    bad = D.whole_check(check_translation(dim, **kw))
    assert 0.5 < good["height_ratio"] < 2.0 and bad["height_ratio"] < 0.1
    assert bad["check"] < good["check"] <= 0.0
    assert bad["check"] == pytest.approx(np.log(bad["height_ratio"]), abs=1e-3)  # the heights decide it
    empty = D.whole_check(check_translation(bright, (0, 0), 28, fwhm=(2.35, 2.35), intensity=(0.9, 1.0)))
    assert np.isnan(empty["height_ratio"])  # an empty domain is judged by the count alone
