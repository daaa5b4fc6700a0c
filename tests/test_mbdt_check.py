"""The label-free check of a trained MB-DT translator (mbdt_check) and its record in the model directory."""
import json

import numpy as np
import pytest

from pyulm.nn.cycleulm.mbdt_check import (HEIGHT_BOUNDS, RATIO_BOUNDS, check_distance, check_translation, count_peaks,
                                          domain_intensity, domain_peak_height)
from pyulm.nn.cycleulm.mbdt_domain import mb_only_patches


def _frames(n_per_frame, frames=8, size=48, fwhm=(2.0, 2.4), seed=0):
    rng = np.random.default_rng(seed)
    p = mb_only_patches(rng, frames, size, fwhm, n_bubbles=(n_per_frame, n_per_frame), intensity=(0.5, 1.0))
    return np.moveaxis(p, 0, 2)


def test_count_peaks_counts_separated_bubbles():
    f = np.zeros((32, 32, 2), np.float32)
    for z, x in ((5, 5), (5, 20), (20, 12)):
        f[z, x, 0] = 1.0
    f[10, 10, 1] = 1.0
    f[11, 10, 1] = 0.01  # below the floor, and not a strict maximum
    np.testing.assert_array_equal(count_peaks(f), [3, 1])
    assert count_peaks(np.zeros((8, 8, 3))).tolist() == [0, 0, 0]  # an all-zero frame has no peak


def test_domain_like_frames_pass():
    # frames drawn like the MB-only domain itself (5 bubbles per 48 x 48 = the mean of U{0..10} per 48 x 48 patch)
    r = check_translation(_frames(5), (0, 10), 48)
    assert r["ok"] and r["message"] == ""
    assert 0.7 <= r["ratio"] <= 1.05  # a few overlapping bubbles merge
    assert r["domain_per_frame"] == 5.0 and r["bounds"] == list(RATIO_BOUNDS)


def test_noise_turned_into_bubbles_fails_with_a_message():
    noisy = np.abs(np.random.default_rng(1).standard_normal((48, 48, 6))).astype(np.float32)
    r = check_translation(noisy, (0, 4), 48)
    assert not r["ok"] and r["ratio"] > RATIO_BOUNDS[1]
    assert "makes bubbles out of noise" in r["message"] and "peaks per frame" in r["message"]


def test_erased_output_fails():
    dark = np.zeros((48, 48, 4), np.float32)
    dark[24, 24, :] = 1.0  # one bubble kept per frame, ten expected
    r = check_translation(dark, (0, 20), 48)
    assert not r["ok"] and r["ratio"] == pytest.approx(0.1)
    assert "erases most bubbles" in r["message"]


def test_heights_like_the_domain_pass_and_are_reproducible():
    r = check_translation(_frames(5), (0, 10), 48, fwhm=(2.0, 2.4), intensity=(0.5, 1.0))
    assert r["ok"] and r["height_bounds"] == list(HEIGHT_BOUNDS)
    assert 0.8 <= r["height_ratio"] <= 1.25  # frames drawn like the domain: the same median height
    ref = domain_peak_height((0, 10), 48, (2.0, 2.4), (0.5, 1.0))
    assert ref == domain_peak_height((0, 10), 48, (2.0, 2.4), (0.5, 1.0)) and r["domain_peak_height"] == round(ref, 4)
    # the domain's median rises with its intensity range
    assert domain_peak_height((0, 4), 40, (1.7, 2.1), (0.05, 1.0)) < domain_peak_height((0, 4), 40, (1.7, 2.1), (0.2, 1.0))


def test_dim_output_fails_on_height_though_its_count_is_right():
    dim = 0.05 * _frames(5)  # the right bubbles, 20 x fainter than the domain ever is (the bad translators' failure)
    count_only = check_translation(dim, (0, 10), 48)
    assert count_only["ok"] and "height_ratio" not in count_only
    r = check_translation(dim, (0, 10), 48, fwhm=(2.0, 2.4), intensity=(0.5, 1.0))
    assert not r["ok"] and r["height_ratio"] < HEIGHT_BOUNDS[0] and r["ratio"] == count_only["ratio"]
    assert "too dim" in r["message"] and "peaks per frame" not in r["message"]
    assert check_distance(r) == pytest.approx(abs(np.log(r["height_ratio"])), abs=1e-3)
    assert check_distance(r) > check_distance(count_only)
    both = check_translation(dim * np.abs(np.random.default_rng(2).standard_normal(dim.shape)) + 0.02 * np.abs(
        np.random.default_rng(3).standard_normal(dim.shape)), (0, 2), 48, fwhm=(2.0, 2.4), intensity=(0.5, 1.0))
    assert not both["ok"] and "peaks per frame" in both["message"] and "too dim" in both["message"]


def test_heights_need_both_psf_and_intensity():
    with pytest.raises(ValueError, match="both fwhm and intensity"):
        check_translation(_frames(5), (0, 10), 48, fwhm=(2.0, 2.4))
    with pytest.raises(ValueError, match="no bubble"):
        domain_peak_height((0, 0), 16, (2.0, 2.0), (0.2, 1.0))


def test_an_empty_domain_is_judged_by_its_count_alone():
    r = check_translation(_frames(5), (0, 0), 48, fwhm=(2.0, 2.4), intensity=(0.5, 1.0))
    assert not r["ok"] and "height_ratio" not in r and "peaks per frame" in r["message"]


def test_domain_intensity_of_new_and_old_directories():
    assert domain_intensity({"training": {"intensity": {"range": [0.05, 1.0], "source": "estimated"}}}) == (0.05, 1.0)
    # directories written before the range was recorded: the config's [data].intensity
    assert domain_intensity({"training": {"config": {"data": {"intensity": [0.2, 1.0]}}}}) == (0.2, 1.0)


def test_bad_shape_is_one_clear_error():
    with pytest.raises(ValueError, match=r"frames: expected \(z, x, t\)"):
        count_peaks(np.zeros((8, 8)))


def test_training_records_the_check_and_the_directory_still_verifies(tmp_path):
    torch = pytest.importorskip("torch")  # noqa: F841
    from pyulm.nn.cycleulm import ceus_acquisition, train_mbdt
    from pyulm.nn.cycleulm.mbdt_check import check_translator
    from pyulm.nn.weights_io import verify_checksums

    acq = ceus_acquisition("medium", shape=(48, 40), n_frames=24, seed=1001)
    cfg = {"seed": 1, "model": {"width": 4, "disc_width": 4},
           "data": {"patch": 16, "validation_fraction": 0.2, "psf_fwhm": [3.5, 4.0]},
           "train": {"epochs": 1, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0, "device": "cpu"}}
    out = tmp_path / "t"
    with pytest.warns(UserWarning, match="MB-DT check"):
        train_mbdt(acq.iq, out, config=cfg, log=lambda m: None)
    verify_checksums(out, "MB-DT")  # metrics.json was rewritten with the check: the checksums follow it
    rec = json.loads((out / "metrics.json").read_text())["label_free_check"]
    assert rec["n_frames"] == 5 and rec["ok"] is False  # two steps of training: not a translator yet
    again = check_translator(out, acq.iq[:, :, -5:])
    assert again["peaks_per_frame"] == pytest.approx(rec["peaks_per_frame"], abs=0.01)
    assert rec["worst_block"]["height_ratio"] == pytest.approx(again["height_ratio"], abs=1e-3)
    assert rec["worst_block"]["domain_peak_height"] > 0.2  # the domain's default intensities U(0.2, 1)


TINY = {"seed": 1, "model": {"width": 4, "disc_width": 4},
        "data": {"patch": 16, "validation_fraction": 0.2, "psf_fwhm": [3.5, 4.0]},
        "train": {"epochs": 1, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0, "device": "cpu"}}


@pytest.fixture(scope="module")
def small_acq():
    from pyulm.nn.cycleulm import ceus_acquisition
    return ceus_acquisition("medium", shape=(48, 40), n_frames=24, seed=1001)


def _run(acq, out, **train):
    """Train TINY with ``train`` merged into its [train] table: (the log lines, the MB-DT check warnings)."""
    import warnings

    from pyulm.nn.cycleulm import train_mbdt
    lines = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train_mbdt(acq.iq, out, config={**TINY, "train": {**TINY["train"], **train}}, log=lines.append)
    return lines, [str(w.message) for w in caught if str(w.message).startswith("MB-DT check:")]


def _train(acq, out, restarts, **train):
    return _run(acq, out, restarts=restarts, **train)[0]


def test_restarts_keep_the_attempt_nearest_the_domain_when_none_passes(small_acq, tmp_path):
    pytest.importorskip("torch")
    from pyulm.nn.weights_io import verify_checksums

    out = tmp_path / "t"
    lines = _train(small_acq, out, 2)
    m = json.loads((out / "metrics.json").read_text())
    assert [a["seed"] for a in m["attempts"]] == [1, 2, 3] and not any(a["ok"] for a in m["attempts"])
    best = min(m["attempts"], key=lambda a: max(abs(np.log(max(a["peaks_ratio"], 1e-9))),
                                                 abs(np.log(max(a["height_ratio"], 1e-9)))))
    assert m["kept_seed"] == best["seed"]
    assert json.loads((out / "config.json").read_text())["seed"] == best["seed"]  # the directory is that attempt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]  # no attempt directory left behind
    verify_checksums(out, "MB-DT")
    assert any("restart 2/2 with seed 3" in ln for ln in lines) and "no attempt passed" in lines[-1]
    # deterministic: the same command gives the same translator
    again = tmp_path / "u"
    _train(small_acq, again, 2)
    assert (again / "weights.pt").read_bytes() == (out / "weights.pt").read_bytes()


def test_restarts_stop_at_the_first_attempt_that_passes(small_acq, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import pyulm.nn.cycleulm.mbdt_train as mt

    real, calls = mt.check_translator, []

    def second_passes(*a, **k):  # the check's verdict forced (the networks here are two steps old)
        r = real(*a, **k)
        calls.append(r)
        return {**r, "ok": len(calls) == 2, "message": "" if len(calls) == 2 else r["message"]}

    monkeypatch.setattr(mt, "check_translator", second_passes)
    out = tmp_path / "t"
    lines = _train(small_acq, out, 3)
    m = json.loads((out / "metrics.json").read_text())
    assert [(a["seed"], a["ok"]) for a in m["attempts"]] == [(1, False), (2, True)]
    assert m["kept_seed"] == 2 and m["label_free_check"]["ok"] is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]
    assert "check passed" in lines[-1]


def test_restarts_default_two_within_twenty_minutes_and_bounded():
    from pyulm.nn.cycleulm.mbdt_config import parse_config
    tc = parse_config(None)["train"]
    assert tc.restarts == 2 and tc.max_total_minutes == 20.0  # the default budget: <= 20 min
    assert tc.max_minutes <= tc.max_total_minutes
    with pytest.raises(ValueError, match="restarts"):
        parse_config({"train": {"restarts": -1}})
    with pytest.raises(ValueError, match="restarts"):
        parse_config({"train": {"restarts": 1.5}})


def test_restarts_never_touch_an_existing_sibling_directory(small_acq, tmp_path):
    pytest.importorskip("torch")
    mine = tmp_path / "t.restart1"
    mine.mkdir()
    (mine / "keep.txt").write_text("user data")
    _train(small_acq, tmp_path / "t", 1)
    assert (mine / "keep.txt").read_text() == "user data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t", "t.restart1"]


def test_max_total_minutes_starts_a_restart_only_when_one_more_attempt_fits(small_acq, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import pyulm.nn.cycleulm.mbdt_train as mt

    monkeypatch.setattr(mt, "_wall_s", lambda d: 100.0)  # every attempt "took" 100 s: 5 min hold three
    out = tmp_path / "t"
    lines = _train(small_acq, out, 3, max_total_minutes=5)
    m = json.loads((out / "metrics.json").read_text())
    assert [a["seed"] for a in m["attempts"]] == [1, 2, 3]  # 100 + 100 <= 300, 200 + 100 <= 300, then 300 + 100 > 300
    assert m["restarts_stopped"].startswith("restart 3/3 not started") and "max_total_minutes = 5" in m["restarts_stopped"]
    assert any("restart 3/3 not started" in ln for ln in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t"]


def test_max_total_minutes_smaller_than_one_attempt_means_no_restart(small_acq, tmp_path):
    pytest.importorskip("torch")
    out = tmp_path / "t"
    _train(small_acq, out, 2, max_total_minutes=1e-6)
    m = json.loads((out / "metrics.json").read_text())
    assert [a["seed"] for a in m["attempts"]] == [1] and m["kept_seed"] == 1
    assert "restart 1/2 not started" in m["restarts_stopped"]


def test_max_total_minutes_bounded():
    from pyulm.nn.cycleulm.mbdt_config import parse_config
    assert parse_config({"train": {"max_total_minutes": 0}})["train"].max_total_minutes == 0.0  # 0: no cap
    with pytest.raises(ValueError, match="max_total_minutes"):
        parse_config({"train": {"max_total_minutes": -1}})


def _check_warnings(acq, out, **train):
    return _run(acq, out, **train)[1]


def test_with_restarts_the_check_warns_once_about_the_translator_kept(small_acq, tmp_path):
    pytest.importorskip("torch")
    none_passed = _check_warnings(small_acq, tmp_path / "t", restarts=2)
    assert len(none_passed) == 1 and "(none of 3 attempts passed; kept seed" in none_passed[0]
    kept = json.loads((tmp_path / "t" / "metrics.json").read_text())["kept_seed"]
    assert f"kept seed {kept}," in none_passed[0]
    assert len(_check_warnings(small_acq, tmp_path / "u", restarts=0)) == 1  # one attempt: its own warning


def test_no_warning_when_a_restart_passes(small_acq, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    import pyulm.nn.cycleulm.mbdt_train as mt

    real, calls = mt.check_translator, []

    def second_passes(*a, **k):
        r = real(*a, **k)
        calls.append(r)
        return {**r, "ok": len(calls) == 2, "message": "" if len(calls) == 2 else r["message"]}

    monkeypatch.setattr(mt, "check_translator", second_passes)
    assert _check_warnings(small_acq, tmp_path / "t", restarts=2) == []
