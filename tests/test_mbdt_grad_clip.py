"""MB-DT training with ``[train] grad_clip``: each step's gradients (the generators', the discriminators') are
clipped to an L2 norm. Tiny networks and a few steps (seconds on one core)."""
import json

import pytest

torch = pytest.importorskip("torch")

from pyulm.nn.cycleulm import ceus_acquisition, train_mbdt  # noqa: E402
from pyulm.nn.cycleulm.mbdt_config import parse_config  # noqa: E402

from mbdt_tiny import quiet, same, weights, with_train  # noqa: E402

TINY = {"seed": 3, "model": {"width": 4, "disc_width": 4},
        "data": {"patch": 16, "validation_fraction": 0.2, "psf_fwhm": [3.5, 4.0]},
        "train": {"epochs": 2, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0,
                  "device": "cpu"}}


def cfg(**train):
    return with_train(TINY, **train)


@pytest.fixture(scope="module")
def acq():
    return ceus_acquisition("medium", shape=(48, 40), n_frames=24, seed=1002)


def test_off_by_default_and_zero_is_off(acq, tmp_path):
    assert parse_config(None)["train"].grad_clip == 0.0
    plain = train_mbdt(acq.iq, tmp_path / "plain", config=TINY, log=quiet)
    zero = train_mbdt(acq.iq, tmp_path / "zero", config=cfg(grad_clip=0), log=quiet)
    assert same(weights(plain), weights(zero))  # the option absent or 0: the same run, bit for bit
    assert json.loads((zero / "config.json").read_text())["training"]["grad_clip"] == 0.0


def test_clipping_changes_the_run_and_is_recorded_and_deterministic(acq, tmp_path, monkeypatch):
    import pyulm.nn.cycleulm.mbdt_train as mt

    norms = []
    real = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *a, **k):
        params = list(params)
        total = real(params, max_norm, *a, **k)  # the norm before clipping
        after = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
        norms.append((float(total), float(after)))
        return total

    monkeypatch.setattr(mt.torch.nn.utils, "clip_grad_norm_", spy)
    plain = train_mbdt(acq.iq, tmp_path / "plain", config=TINY, log=quiet)
    assert norms == []  # off: never called
    clipped = train_mbdt(acq.iq, tmp_path / "clip", config=cfg(grad_clip=1e-3), log=quiet)
    assert len(norms) == 2 * 4  # the generators' and the discriminators' gradients, every step
    assert all(before > 1e-3 and after <= 1e-3 * (1 + 1e-4) for before, after in norms)
    assert not same(weights(plain), weights(clipped))
    assert json.loads((clipped / "config.json").read_text())["training"]["grad_clip"] == 1e-3
    again = train_mbdt(acq.iq, tmp_path / "again", config=cfg(grad_clip=1e-3), log=quiet)
    assert same(weights(clipped), weights(again))


def test_resume_with_another_grad_clip_is_refused(acq, tmp_path):
    part = train_mbdt(acq.iq, tmp_path / "part", config=cfg(epochs=1), log=quiet)
    before = {p.name: p.read_bytes() for p in part.iterdir()}
    with pytest.raises(ValueError, match=r"resume: .*checkpoint.pt was trained with \[train\].grad_clip = 0.0, "
                                         r"the config asks for 1.0; resume with 0.0 or start a new run"):
        train_mbdt(acq.iq, part, config=cfg(grad_clip=1.0), resume=True, log=quiet)
    assert {p.name: p.read_bytes() for p in part.iterdir()} == before  # nothing written


def test_resumed_clipped_run_equals_the_uninterrupted_one(acq, tmp_path):
    whole = train_mbdt(acq.iq, tmp_path / "whole", config=cfg(grad_clip=0.05), log=quiet)
    part = train_mbdt(acq.iq, tmp_path / "part", config=cfg(grad_clip=0.05, epochs=1), log=quiet)
    train_mbdt(acq.iq, part, config=cfg(grad_clip=0.05), resume=True, log=quiet)
    assert same(weights(whole), weights(part))


def test_grad_clip_bounds():
    with pytest.raises(ValueError, match="grad_clip"):
        parse_config({"train": {"grad_clip": -1}})
    with pytest.raises(ValueError, match="grad_clip"):
        parse_config({"train": {"grad_clip": "big"}})
