"""MB-DT training at ``[train] precision = "bf16"``: deterministic, resumable, recorded, float32 weights.

Tiny networks and a few steps (a few seconds on one core). The float32 default's determinism and
resume are tested in tests/test_mbdt.py.
"""
import json

import pytest

torch = pytest.importorskip("torch")

from pyulm.nn.cycleulm import ceus_acquisition, train_mbdt  # noqa: E402
from pyulm.nn.weights_io import verify_checksums  # noqa: E402

TINY = {"seed": 3, "model": {"width": 4, "disc_width": 4},
        "data": {"patch": 16, "validation_fraction": 0.2, "psf_fwhm": [3.5, 4.0]},
        "train": {"epochs": 2, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0,
                  "device": "cpu", "precision": "bf16"}}


def quiet(_msg):
    pass


def at(precision, epochs=2):
    return {**TINY, "train": {**TINY["train"], "precision": precision, "epochs": epochs}}


def weights(model_dir):
    return torch.load(model_dir / "weights.pt", weights_only=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small acquisition and a bf16 translator trained on it."""
    acq = ceus_acquisition("medium", shape=(48, 40), n_frames=24, seed=1001)
    return acq, train_mbdt(acq.iq, tmp_path_factory.mktemp("bf16") / "m", config=TINY, log=quiet)


def test_bf16_is_deterministic_recorded_and_float32(trained, tmp_path):
    acq, bf16_dir = trained
    w1, w2 = weights(bf16_dir), weights(train_mbdt(acq.iq, tmp_path / "again", config=TINY, log=quiet))
    assert all(torch.equal(w1[k], w2[k]) for k in w1)  # same seed, same weights
    assert all(v.dtype == torch.float32 and v.is_contiguous() for v in w1.values())  # float32, usual order
    ck = torch.load(bf16_dir / "checkpoint.pt", weights_only=True)
    assert ck["precision"] == "bf16"
    assert all(v.dtype == torch.float32 for v in ck["nets"].values())
    adam = [t for s in ck["opt_g"]["state"].values() for t in s.values() if t.dim()]
    assert adam and all(t.dtype == torch.float32 for t in adam)  # optimiser state float32
    cfg = json.loads((bf16_dir / "config.json").read_text())
    assert cfg["training"]["precision"] == "bf16" and cfg["training"]["config"]["train"]["precision"] == "bf16"
    assert json.loads((bf16_dir / "metrics.json").read_text())["precision"] == "bf16"
    verify_checksums(bf16_dir, "mbdt")
    # the setting takes effect: float32 training from the same seed ends elsewhere, but nearby
    w32 = weights(train_mbdt(acq.iq, tmp_path / "fp32", config=at("fp32"), log=quiet))
    assert not all(torch.equal(w1[k], w32[k]) for k in w1)
    assert all(torch.allclose(w1[k], w32[k], atol=0.05) for k in w1)
    assert json.loads((tmp_path / "fp32" / "config.json").read_text())["training"]["precision"] == "fp32"


def test_bf16_resume_equals_uninterrupted(trained, tmp_path):
    acq, bf16_dir = trained
    part = train_mbdt(acq.iq, tmp_path / "part", config=at("bf16", epochs=1), log=quiet)
    lines = []
    train_mbdt(acq.iq, part, config=TINY, resume=True, log=lines.append)
    assert any(m.startswith("resumed at step 2/4 (bf16)") for m in lines)
    w1, w3 = weights(bf16_dir), weights(part)
    assert all(torch.equal(w1[k], w3[k]) for k in w1)
    verify_checksums(part, "mbdt")


def test_resume_with_another_precision_is_refused(trained, tmp_path):
    acq = trained[0]
    part = train_mbdt(acq.iq, tmp_path / "part", config=at("fp32", epochs=1), log=quiet)
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    with pytest.raises(ValueError, match=r"resume: .*checkpoint.pt was trained with \[train\].precision = 'fp32', "
                                         r"the config asks for 'bf16'"):
        train_mbdt(acq.iq, part, config=TINY, resume=True, log=quiet)
    assert {p.name: p.read_bytes() for p in part.iterdir()} == before  # nothing written


@pytest.mark.parametrize("value", ["fp16", "BF16", 16, True])
def test_unknown_precision_is_one_clear_error(trained, tmp_path, value):
    with pytest.raises(ValueError, match=r"^mbdt config \[train\]\.precision: expected one of 'fp32', 'bf16', got "):
        train_mbdt(trained[0].iq, tmp_path / "x", config=at(value), log=quiet)
    assert not (tmp_path / "x").exists()


def test_precision_from_a_toml_file(trained, tmp_path):
    cfg = tmp_path / "bf16.toml"
    cfg.write_text('[train]\nprecision = "fp64"\n')
    with pytest.raises(ValueError, match=r"bf16.toml \[train\]\.precision: expected one of"):
        train_mbdt(trained[0].iq, tmp_path / "x", config=cfg, log=quiet)
