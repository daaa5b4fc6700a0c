"""MB-DT training with ``[train] ema``: the translator is the moving average of G_AB's weights.

Tiny networks and a few steps (a few seconds on one core). The default (ema = 0, the raw G_AB)
keeps its determinism and resume tests in tests/test_mbdt.py.
"""
import json
import math

import pytest

torch = pytest.importorskip("torch")

from pyulm.nn.cycleulm import MBDTConfig, ceus_acquisition, train_mbdt  # noqa: E402
from pyulm.nn.cycleulm.mbdt_config import parse_config  # noqa: E402
from pyulm.nn.cycleulm.mbdt_model import build_cycle  # noqa: E402
from pyulm.nn.weights_io import verify_checksums  # noqa: E402

from mbdt_tiny import checkpoint, quiet, same, weights, with_train  # noqa: E402

SEED, DECAY = 3, 0.2
TINY = {"seed": SEED, "model": {"width": 4, "disc_width": 4},
        "data": {"patch": 16, "validation_fraction": 0.2, "psf_fwhm": [3.5, 4.0]},
        "train": {"epochs": 2, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0,
                  "device": "cpu", "ema": DECAY}}


def cfg(**train):
    return with_train(TINY, **train)


def raw_g_ab(model_dir):
    nets = checkpoint(model_dir)["nets"]
    return {k[len("G_AB."):]: v for k, v in nets.items() if k.startswith("G_AB.")}


@pytest.fixture(scope="module")
def acq():
    return ceus_acquisition("medium", shape=(48, 40), n_frames=24, seed=1001)


def test_the_translator_is_the_average_of_the_generators_weights(acq, tmp_path):
    """Raw G_AB after steps 1, 2, 3 (an ema = 0 run, resumed step by step) averaged by hand."""
    one = dict(steps_per_epoch=1)
    raw_dir = tmp_path / "raw"
    w = []
    for epochs in (1, 2, 3):
        train_mbdt(acq.iq, raw_dir, config=cfg(**one, epochs=epochs, ema=0), resume=epochs > 1, log=quiet)
        w.append(weights(raw_dir))
        assert same(w[-1], raw_g_ab(raw_dir))  # ema = 0: the translator is the raw G_AB
    torch.manual_seed(SEED)
    avg = build_cycle(MBDTConfig(width=4, disc_width=4))["G_AB"].state_dict()  # the initial weights
    for k, wk in enumerate(w):
        d = min(DECAY, (1 + k) / (10 + k))  # warm-up 0.1, 2/11, then the decay 0.2
        avg = {n: d * avg[n] + (1 - d) * wk[n] for n in avg}
    ema_dir = train_mbdt(acq.iq, tmp_path / "ema", config=cfg(**one, epochs=3), log=quiet)
    got = weights(ema_dir)
    assert got.keys() == avg.keys()
    assert all(torch.allclose(got[n], avg[n], rtol=1e-5, atol=1e-7) for n in avg)
    assert not same(got, w[-1])
    assert same(raw_g_ab(ema_dir), w[-1])  # the average does not change the training
    assert all(v.dtype == torch.float32 for v in got.values())
    cfg_json = json.loads((raw_dir / "config.json").read_text())
    assert cfg_json["training"]["ema"] == 0.0 and cfg_json["training"]["config"]["train"]["ema"] == 0.0


def test_ema_is_deterministic_recorded_and_resumes(acq, tmp_path):
    ema_dir = train_mbdt(acq.iq, tmp_path / "m", config=TINY, log=quiet)
    w1 = weights(ema_dir)
    assert same(w1, weights(train_mbdt(acq.iq, tmp_path / "again", config=TINY, log=quiet)))
    ck = checkpoint(ema_dir)
    assert ck["ema"] == DECAY and same(w1, ck["ema_G_AB"])
    cfg_json = json.loads((ema_dir / "config.json").read_text())
    assert cfg_json["training"]["ema"] == DECAY and cfg_json["training"]["config"]["train"]["ema"] == DECAY
    assert json.loads((ema_dir / "metrics.json").read_text())["ema"] == DECAY
    records = [json.loads(line) for line in (ema_dir / "log.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["val_G_AB"] == "ema" for r in records)
    verify_checksums(ema_dir, "mbdt")
    part = train_mbdt(acq.iq, tmp_path / "part", config=cfg(epochs=1), log=quiet)
    lines = []
    train_mbdt(acq.iq, part, config=TINY, resume=True, log=lines.append)
    assert any(m.startswith("resumed at step 2/4") for m in lines)
    assert any("val (EMA G_AB) G" in m for m in lines)
    assert same(w1, weights(part))  # resumed == uninterrupted
    verify_checksums(part, "mbdt")


def test_resume_with_another_ema_is_refused(acq, tmp_path):
    part = train_mbdt(acq.iq, tmp_path / "part", config=cfg(epochs=1, ema=0), log=quiet)
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    with pytest.raises(ValueError, match=r"resume: .*checkpoint.pt was trained with \[train\].ema = 0.0, "
                                         r"the config asks for 0.2; resume with 0.0 or start a new run"):
        train_mbdt(acq.iq, part, config=TINY, resume=True, log=quiet)
    assert {p.name: p.read_bytes() for p in part.iterdir()} == before  # nothing written


def test_ema_with_bf16_keeps_a_float32_average(acq, tmp_path):
    d = train_mbdt(acq.iq, tmp_path / "bf16", config=cfg(epochs=1, precision="bf16"), log=quiet)
    w, ck = weights(d), checkpoint(d)
    assert all(v.dtype == torch.float32 and v.is_contiguous() for v in w.values())
    assert same(w, ck["ema_G_AB"]) and not same(w, raw_g_ab(d))
    training = json.loads((d / "config.json").read_text())["training"]
    assert (training["precision"], training["ema"]) == ("bf16", DECAY)


@pytest.mark.parametrize("value", [1, 1.0, 1.5, -0.1, math.nan, math.inf, "0.999", True, [0.9]])
def test_bad_ema_is_one_clear_error(value):
    with pytest.raises(ValueError, match=r"^mbdt config \[train\]\.ema: expected 0 \(off\) or a decay in \[0, 1\), "
                                         r"e\.g\. 0\.999, got "):
        parse_config({"train": {"ema": value}})


def test_ema_values_accepted_and_default_off(acq, tmp_path):
    assert parse_config(None)["train"].ema == 0.0
    assert parse_config({"train": {"ema": 0}})["train"].ema == 0.0
    assert parse_config({"train": {"ema": 0.999}})["train"].ema == 0.999
    toml = tmp_path / "ema.toml"
    toml.write_text("[train]\nema = 1.0\n")
    with pytest.raises(ValueError, match=r"ema.toml \[train\]\.ema: expected 0 \(off\)"):
        train_mbdt(acq.iq, tmp_path / "x", config=toml, log=quiet)
    assert not (tmp_path / "x").exists()
