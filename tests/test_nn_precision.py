"""pyulm.nn: the ``precision`` option of MBL-Net / 3DML inference (fp32, bf16 autocast)."""
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pyulm  # noqa: E402
from pyulm.metrics import detection_scores, match  # noqa: E402
from pyulm.nn.options import PRECISIONS, check_precision  # noqa: E402
from pyulm.sim.free import free_motion  # noqa: E402


@pytest.fixture(scope="module")
def sim():
    return free_motion((48, 48), n_frames=6, n_bubbles=8, psf_fwhm=(3, 3.5), snr_db=20, seed=123)


@pytest.mark.parametrize("name", ["mblnet", "3dml"])
def test_bf16_is_deterministic_and_matches_fp32(sim, name):
    fp32 = pyulm.localize(sim.iq, name, number_of_particles=30)
    same32 = pyulm.localize(sim.iq, name, number_of_particles=30, precision="fp32")
    bf = pyulm.localize(sim.iq, name, number_of_particles=30, precision="bf16")
    again = pyulm.localize(sim.iq, name, number_of_particles=30, precision="bf16")
    assert np.array_equal(fp32.z, same32.z) and np.array_equal(fp32.x, same32.x)  # fp32 is the default
    assert np.array_equal(bf.z, again.z) and np.array_equal(bf.x, again.x) and np.array_equal(bf.frame, again.frame)
    s32, s16 = detection_scores(match(sim.gt, fp32, 1.0)), detection_scores(match(sim.gt, bf, 1.0))
    assert s16["f1"] >= s32["f1"] - 0.05, (s32, s16)
    assert s16["mean_error"] <= s32["mean_error"] + 0.05, (s32, s16)
    # the same bubbles, found at nearly the same places: pair the two outputs with the one matcher
    pairs = match(fp32, bf, 0.2)
    assert pairs.gt_index.size >= 0.9 * len(fp32)
    assert float(np.mean(pairs.distance)) < 0.05


@pytest.mark.parametrize("name", ["mblnet", "3dml"])
@pytest.mark.parametrize("bad", ["fp16", "BF16", 16, None])
def test_unknown_precision_is_an_error(sim, name, bad):
    if bad is None:  # None means the default, fp32; it is no error
        pyulm.localize(sim.iq[:, :, :2], name, number_of_particles=3, precision=bad)
        return
    with pytest.raises(ValueError, match=rf"{name}: precision: expected one of 'fp32', 'bf16', got {bad!r}"):
        pyulm.localize(sim.iq, name, number_of_particles=3, precision=bad)


def test_precision_reaches_pala_parameters(sim):
    from pyulm.pala import ULM_localization2D

    ULM = {"numberOfParticles": 10, "fwhm": [3, 3], "LocMethod": "mblnet", "parameters": {"precision": "bf16"}}
    a, b = ULM_localization2D(sim.iq, ULM), ULM_localization2D(sim.iq, ULM)
    assert a.shape[0] > 0 and np.array_equal(a, b)
    ULM["parameters"]["precision"] = "int8"
    with pytest.raises(ValueError, match="precision"):
        ULM_localization2D(sim.iq, ULM)


def test_check_precision():
    assert PRECISIONS == ("fp32", "bf16")
    assert check_precision(None) == "fp32" and check_precision("bf16") == "bf16"
    with pytest.raises(ValueError, match=r"^x: precision"):
        check_precision("double", "x: ")


def test_training_in_bf16_writes_a_model_and_refuses_unknown_precisions(tmp_path):
    from pyulm.nn.train import load_config, parse_config, train

    toml = ("seed = 3\n[model]\nwidth = 4\nhead_width = 4\nn_res = 1\n[data]\npatch = 24\n[train]\nepochs = 1\n"
            "steps_per_epoch = 2\nsims_per_step = 1\nframes_per_sim = 2\nval_sims = 1\nval_frames = 2\nthreads = 1\n"
            "precision = \"bf16\"\n")
    (tmp_path / "t.toml").write_text(toml)
    cfg = load_config(tmp_path / "t.toml")
    assert cfg["train"].precision == "bf16"
    out = train("mblnet", cfg, tmp_path / "m", log=lambda m: None)
    locs = pyulm.localize(free_motion((32, 32), n_frames=2, n_bubbles=3, seed=1).iq, "mblnet", weights=out,
                          number_of_particles=5)
    assert len(locs) <= 10
    assert 'precision = "bf16"' in (out / "train.toml").read_text()
    with pytest.raises(ValueError, match=r"\[train\]\.precision: expected one of 'fp32', 'bf16', got 'half'"):
        parse_config({"train": {"precision": "half"}}, "x")


def test_config_precision_reaches_the_learned_localizers_and_is_refused_without_a_network():
    from pyulm.config import Config, ConfigError
    from pyulm.io import inspect
    from pyulm.pipeline import block_params

    info = inspect(Path(pyulm.__file__).parent / "data" / "example_block.mat")
    for name in ("mblnet", "3dml"):
        p = block_params(Config.from_dict({"ulm": {"LocMethod": name, "precision": "bf16"}}), info)
        assert dict(p.method_options)["precision"] == "bf16"
        p32 = block_params(Config.from_dict({"ulm": {"LocMethod": name}}), info)
        assert "precision" not in dict(p32.method_options)  # the default leaves the block key as it was
    with pytest.raises(ConfigError, match=r"precision = 'bf16' sets the arithmetic of the learned networks.*"
                                          r"LocMethod = 'radial' without a translator runs none"):
        Config.from_dict({"ulm": {"LocMethod": "radial", "precision": "bf16"}})
    Config.from_dict({"ulm": {"LocMethod": "radial", "precision": "fp32"}})  # the default is no error
