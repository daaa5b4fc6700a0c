"""MB-DT's data-matched domain-B intensity range ([data].intensity = "auto"): the estimator on
synthetic frames with known faint and bright bubbles, config parsing and refusals, the estimate
recorded in the model directory, and the CLI path. Tiny frames and a few steps."""
import json

import numpy as np
import pytest

from pyulm.nn.cycleulm.mbdt_config import parse_config
from pyulm.nn.cycleulm.mbdt_domain import INTENSITY_BOUNDS, auto_intensity, normalize_frames


def _frames(amplitudes, *, n_frames=12, size=48, background=0.0, seed=0):
    """Gaussian bubbles (FWHM 3 px) at integer pixels 12 px apart, one amplitude list per frame
    (the same each frame), on an optional Rayleigh background of scale ``background``."""
    rng = np.random.default_rng(seed)
    g = np.arange(size)
    sites = [(z, x) for z in range(6, size - 5, 12) for x in range(6, size - 5, 12)]
    s = 3 / 2.3548
    frames = np.abs(rng.normal(0, background, (size, size, n_frames))
                    + 1j * rng.normal(0, background, (size, size, n_frames))) if background else \
        np.zeros((size, size, n_frames))
    for t in range(n_frames):
        for k, a in enumerate(amplitudes):
            z, x = sites[(k + 5 * t) % len(sites)]  # positions move between frames
            frames[:, :, t] += a * np.exp(-0.5 * ((g[:, None] - z) ** 2 + (g[None, :] - x) ** 2) / s ** 2)
    return frames


def test_noise_free_estimate_is_the_lower_quartile_of_relative_peaks():
    amps = [1.0, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05]
    est = auto_intensity(normalize_frames(_frames(amps)))
    # no background: median 0, so the noise level is 0 and each height is peak / frame max
    assert est["n_maxima"] == 12 * len(amps)
    assert est["estimate"] == pytest.approx(np.quantile(amps, 0.25), abs=1e-6)
    assert est["range"] == [pytest.approx(est["estimate"]), 1.0]


def test_faint_bubbles_lower_the_estimate_on_a_noisy_background():
    bright = auto_intensity(normalize_frames(_frames([1.0, 0.9, 0.8, 0.7] * 3, background=0.02)))
    mixed = auto_intensity(normalize_frames(_frames([1.0, 0.9, 0.8, 0.7] + [0.25] * 8, background=0.02)))
    assert mixed["estimate"] < 0.3 < 0.6 < bright["estimate"]
    assert bright["range"][0] == INTENSITY_BOUNDS[1]  # clipped to 0.5
    # heights are measured above the noise level (3 x the frame median), so a stronger background lowers them
    noisy = auto_intensity(normalize_frames(_frames([1.0, 0.9, 0.8, 0.7] + [0.25] * 8, background=0.05)))
    assert noisy["estimate"] < mixed["estimate"]


def test_estimate_is_clipped_and_refuses_frames_without_bubbles():
    amps = [1.0] + [0.01] * 8  # faint ones below the lower bound
    assert auto_intensity(normalize_frames(_frames(amps)))["range"][0] == INTENSITY_BOUNDS[0]
    with pytest.raises(ValueError, match=r"\[data\]\.intensity.*give a pair"):
        auto_intensity(np.zeros((32, 32, 10), np.float32))
    one = normalize_frames(_frames([1.0, 0.5]))
    pooled = auto_intensity([one, one])  # blocks are pooled
    assert pooled["n_maxima"] == 2 * auto_intensity(one)["n_maxima"]


def test_config_accepts_auto_or_a_pair_and_names_the_key_otherwise():
    assert parse_config({})["data"].intensity == (0.2, 1.0)  # the default is unchanged
    assert parse_config({"data": {"intensity": "auto"}})["data"].intensity == "auto"
    assert parse_config({"data": {"intensity": [0.05, 1]}})["data"].intensity == (0.05, 1.0)
    for bad in ("automatic", [0.5], [0.8, 0.2], [-0.1, 1.0], 0.3, [0, 0], ["a", 1]):
        with pytest.raises(ValueError, match=r"\[data\]\.intensity"):
            parse_config({"data": {"intensity": bad}})


torch = pytest.importorskip("torch")

TINY = {"seed": 1, "model": {"width": 4, "disc_width": 4},
        "data": {"patch": 16, "validation_fraction": 0.2, "psf_fwhm": [3.5, 4.5], "intensity": "auto"},
        "train": {"epochs": 1, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0, "device": "cpu"}}


@pytest.fixture(scope="module")
def acq():
    from pyulm.nn.cycleulm import ceus_acquisition

    return ceus_acquisition("medium", shape=(40, 40), n_frames=20, seed=1002)


def test_auto_is_recorded_and_trains_exactly_as_the_estimated_pair(acq, tmp_path):
    from pyulm.nn.cycleulm import train_mbdt

    lines = []
    auto = train_mbdt(acq.iq, tmp_path / "auto", config=TINY, log=lines.append)
    cfg = json.loads((auto / "config.json").read_text())
    rec = cfg["training"]["intensity"]
    assert cfg["training"]["config"]["data"]["intensity"] == "auto"
    assert rec["source"] == "estimated" and rec["range"][1] == 1.0 and rec["n_maxima"] > 0
    assert INTENSITY_BOUNDS[0] <= rec["range"][0] <= INTENSITY_BOUNDS[1]
    assert rec["range"][0] == pytest.approx(auto_intensity(normalize_frames(acq.iq))["range"][0])
    assert any(f"U({rec['range'][0]:.3f}, 1.000) (estimated)" in m for m in lines)
    pair = {**TINY, "data": {**TINY["data"], "intensity": rec["range"]}}
    fixed = train_mbdt(acq.iq, tmp_path / "fixed", config=pair, log=lambda m: None)
    assert json.loads((fixed / "config.json").read_text())["training"]["intensity"] == {
        "range": rec["range"], "source": "config"}
    a, b = (torch.load(d / "weights.pt", weights_only=True) for d in (auto, fixed))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_config_auto_and_bad_value(acq, tmp_path, capsys):
    from pyulm.cli import main

    block = acq.save_mat(tmp_path / "block.mat")
    toml = ("seed = 1\n[model]\nwidth = 4\ndisc_width = 4\n[data]\npatch = 16\nsvd_cutoff = 4\npsf_fwhm = [3.5, 4.5]\n"
            "intensity = \"auto\"\n[train]\nepochs = 1\nsteps_per_epoch = 1\nbatch = 2\nval_patches = 2\n"
            "max_minutes = 0\nrestarts = 0\ndevice = \"cpu\"\n")
    cfg = tmp_path / "auto.toml"
    cfg.write_text(toml)
    assert main(["train", "mbdt", str(block), "--out", str(tmp_path / "m"), "--config", str(cfg)]) == 0
    rec = json.loads((tmp_path / "m" / "config.json").read_text())["training"]["intensity"]
    assert rec["source"] == "estimated"
    cfg.write_text(toml.replace('intensity = "auto"', 'intensity = "faint"'))
    assert main(["train", "mbdt", str(block), "--out", str(tmp_path / "m2"), "--config", str(cfg)]) == 2
    assert "[data].intensity" in capsys.readouterr().err
    assert not (tmp_path / "m2").exists()
