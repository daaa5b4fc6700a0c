"""[loss].bubble_weight: MB-DT's similarity and A-cycle L1 weigh bubble-like target pixels more (mbdt_train._l1)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyulm.nn.cycleulm.mbdt_config import parse_config  # noqa: E402
from pyulm.nn.cycleulm.mbdt_train import BUBBLE_FACTOR, _l1  # noqa: E402


def _target(seed=0):
    g = torch.Generator().manual_seed(seed)
    t = 0.1 + 0.02 * torch.rand((2, 3, 16, 16), generator=g)  # background near 0.1
    t[:, :, 8, 8] = 1.0  # one bubble-like pixel per patch and channel
    return t


def test_off_is_the_plain_l1_bit_for_bit():
    t = _target()
    p = t + 0.05 * torch.randn(t.shape, generator=torch.Generator().manual_seed(1))
    assert torch.equal(_l1(p, t, 0.0), torch.nn.functional.l1_loss(p, t))
    assert parse_config(None)["loss"].bubble_weight == 0.0


def test_an_error_on_a_bubble_costs_more_than_the_same_error_on_background():
    t = _target()
    on_bubble, on_background = t.clone(), t.clone()
    on_bubble[:, :, 8, 8] -= 0.5  # a dimmed bubble
    on_background[:, :, 2, 2] -= 0.5
    assert _l1(on_bubble, t, 0.0) == pytest.approx(float(_l1(on_background, t, 0.0)))  # plain L1: the same
    ratio = float(_l1(on_bubble, t, 10.0) / _l1(on_background, t, 10.0))
    assert ratio == pytest.approx(11.0, rel=1e-5)  # the bubble pixel weighs 1 + 10 times a background one
    # the weights have mean 1 per patch: a uniform error costs what the plain L1 says
    assert float(_l1(t + 0.1, t, 10.0)) == pytest.approx(0.1, rel=1e-5)
    assert BUBBLE_FACTOR * 0.12 < 1.0  # the test's bubble is above the threshold, its background below


def test_bounds_and_type():
    assert parse_config({"loss": {"bubble_weight": 10}})["loss"].bubble_weight == 10.0
    for bad in (-1, "10", True):
        with pytest.raises(ValueError, match="bubble_weight"):
            parse_config({"loss": {"bubble_weight": bad}})


def test_training_with_it_runs_and_records_it(tmp_path):
    import json
    import warnings

    from pyulm.nn.cycleulm import ceus_acquisition, train_mbdt

    acq = ceus_acquisition("low", shape=(48, 40), n_frames=24, seed=1001)
    cfg = {"seed": 1, "model": {"width": 4, "disc_width": 4}, "loss": {"bubble_weight": 10.0},
           "data": {"patch": 16, "validation_fraction": 0.2, "psf_fwhm": [3.5, 4.0]},
           "train": {"epochs": 1, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0, "device": "cpu"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # two steps: the check fails, as expected
        train_mbdt(acq.iq, tmp_path / "t", config=cfg, log=lambda m: None)
    conf = json.loads((tmp_path / "t" / "config.json").read_text())
    assert conf["loss_weights"]["bubble_weight"] == 10.0
    val = json.loads((tmp_path / "t" / "log.jsonl").read_text().splitlines()[-1])["val"]
    assert np.isfinite(val["sim"]) and np.isfinite(val["cyc_a"])
