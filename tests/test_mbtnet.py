"""MBT-Net (CycleULM's trajectory network): architecture, synthetic data, training, inference, E2E maps."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyulm.cli import main as cli_main  # noqa: E402
from pyulm.nn.cycleulm import e2e_maps, mbtnet_predict  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_data import (MotionConfig, normalise_frames, simulate_motion,  # noqa: E402
                                           simulate_sequence, trajectory_maps)
from pyulm.nn.cycleulm.mbtnet_infer import load_model, window_starts  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_model import ConvLSTM, MBTNet, MBTNetConfig, Up  # noqa: E402
from pyulm.nn.cycleulm.mbtnet_train import load_config, parse_config, train  # noqa: E402
from pyulm.nn.weights_io import SHIPPED, verify_checksums  # noqa: E402

TINY = """seed = 3
[data]
patch = [16, 32]
[network]
c1 = 2
c2 = 2
c3 = 2
cu = 2
[train]
steps = 4
batch = 2
eval_every = 2
val_sequences = 2
test_sequences = 2
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny trained model directory (4 steps) and its config file."""
    d = tmp_path_factory.mktemp("mbtnet")
    (d / "tiny.toml").write_text(TINY)
    out = train(load_config(d / "tiny.toml"), d / "run", command="test", config_text=TINY, log=lambda m: None)
    return out, d / "tiny.toml"


def _frames(seed=0, shape=(20, 24, 12)):
    return np.random.default_rng(seed).random(shape)


# -- architecture -----------------------------------------------------------------------------

def test_architecture_convlstm_positions_and_x4_output():
    net = MBTNet(MBTNetConfig(c1=3, c2=4, c3=5, cu=2))
    lstms = {n for n, m in net.named_modules() if isinstance(m, ConvLSTM)}
    assert lstms == {"skip1", "skip2", "bottleneck"}  # two replace the skips, one the bottleneck
    assert (net.skip1.hidden, net.skip2.hidden, net.bottleneck.hidden) == (3, 4, 5)
    assert sum(isinstance(m, Up) for m in net.modules()) == 4  # two decoder + two x4 up-sampling layers
    out = net(torch.zeros(2, 8, 12, 16))
    assert tuple(out.shape) == (2, 3, 48, 64)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 8, 10, 16))
    with pytest.raises(ValueError, match="unknown field"):
        MBTNetConfig.from_dict({"c9": 3})


def test_convlstm_uses_temporal_order():
    torch.manual_seed(0)
    cell = ConvLSTM(1, 2)
    x = torch.rand(1, 5, 1, 6, 6)
    assert not torch.allclose(cell(x), cell(x.flip(1)))


def test_shipped_model_small_and_verified():
    d = SHIPPED / "mbtnet"
    verify_checksums(d, "mbtnet")
    assert (d / "weights.pt").stat().st_size < 10e6
    state = torch.load(d / "weights.pt", weights_only=True)
    assert isinstance(state, dict)
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["test"]["dice"] > 0 and "pyulm train mbtnet" in metrics["command"]
    assert (d / "train.toml").is_file() and (d / "README.md").is_file()


# -- data ---------------------------------------------------------------------------------------

def test_motion_model_statistics():
    rng = np.random.default_rng(1)
    pos = simulate_motion(rng, 4000, 6, speed=(0.5, 1.5), sigma_speed=0.1, sigma_angle=0.2)
    d = np.diff(pos, axis=1)
    speed = np.hypot(d[..., 0], d[..., 1])
    assert abs(speed[:, 0].mean() - 1.0) < 0.02 and speed[:, 0].min() >= 0.5 and speed[:, 0].max() <= 1.5
    assert abs(np.diff(speed, axis=1).std() - 0.1) < 0.01  # Gaussian speed perturbation each frame
    ang = np.unwrap(np.arctan2(d[..., 0], d[..., 1]), axis=1)
    assert abs(np.diff(ang, axis=1).std() - 0.2) < 0.01  # Gaussian direction perturbation each frame
    direction = np.arctan2(d[:, 0, 0], d[:, 0, 1])
    assert np.histogram(direction, 4, (-np.pi, np.pi))[0].min() > 900  # uniform initial direction
    still = simulate_motion(rng, 5, 6, sigma_speed=0, sigma_angle=0)
    assert np.allclose(np.diff(still, 2, axis=1), 0)


def test_trajectory_maps_grid_and_velocity():
    pos = np.array([[[5.0, 2.0], [5.0, 3.5], [5.0, 5.0]]])  # along x at z = 5, 1.5 px/frame
    traj, vel, vw = trajectory_maps(pos, (10, 10))
    assert traj.shape == (40, 40) and vel.shape == (2, 40, 40)
    rows, cols = np.nonzero(traj)
    assert set(rows) == {21}  # x4 pixel j is centred on (j - 1) / 4
    assert cols.min() == 9 and cols.max() == 21
    assert np.allclose(vel[:, 21, 9:22], [[0.0], [1.5]])
    assert vw[20:23].sum() == vw.sum() and vw[21, 9:22].all()


def test_simulate_sequence_normalised_and_deterministic():
    cfg = MotionConfig()
    a = simulate_sequence(np.random.default_rng(4), cfg, 40)
    b = simulate_sequence(np.random.default_rng(4), cfg, 40)
    assert np.array_equal(a["frames"], b["frames"]) and np.array_equal(a["vel"], b["vel"])
    assert a["frames"].shape == (8, 40, 40) and a["traj"].shape == (160, 160)
    m = a["frames"].reshape(8, -1).max(axis=1)
    assert np.all((m == 1) | (m == 0)) and a["frames"].min() >= 0
    assert cfg.fwhm[0] <= min(a["fwhm"]) and max(a["fwhm"]) <= cfg.fwhm[1]
    assert np.array_equal(normalise_frames(np.zeros((2, 3, 3))), np.zeros((2, 3, 3)))
    with pytest.raises(ValueError, match="fwhm"):
        MotionConfig.from_dict({"fwhm": [2, 1]})
    with pytest.raises(ValueError, match="patch"):
        MotionConfig.from_dict({"patch": [30]})


# -- training -------------------------------------------------------------------------------------

def test_training_writes_verifiable_directory(tiny):
    out, _ = tiny
    verify_checksums(out, "mbtnet")
    for name in ("weights.pt", "config.json", "train.toml", "metrics.json", "README.md", "SHA256SUMS", "command.txt"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert {"dice", "bce", "vel_rmse_px_per_frame"} <= set(m["test"]) and m["command"] == "test"
    assert 0 < load_model(out, "cpu").threshold <= 1
    assert len((out / "log.jsonl").read_text().splitlines()) == 2


def test_resume_continues_to_the_same_weights(tiny, tmp_path):
    out, cfg_file = tiny
    raw = load_config(cfg_file)
    train(raw, tmp_path, log=lambda m: None, stop_at=2)
    assert not (tmp_path / "weights.pt").exists()
    part = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert part["step"] == 2
    train(raw, tmp_path, resume=True, log=lambda m: None)
    a = torch.load(out / "weights.pt", weights_only=True)
    b = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown key"):
        parse_config({"sed": 1})
    with pytest.raises(ValueError, match=r"\[train\].steps"):
        parse_config({"train": {"steps": 0}})
    with pytest.raises(ValueError, match="frames"):
        parse_config({"network": {"frames": 6}})


# -- inference ------------------------------------------------------------------------------------

def test_predict_shapes_windows_and_determinism(tiny):
    out, _ = tiny
    x = _frames(shape=(13, 11, 17))
    keep = x.copy()
    p = mbtnet_predict(x, out, device="cpu")
    assert np.array_equal(x, keep)
    assert p["start"].tolist() == [0, 7, 9]
    assert p["trajectory"].shape == p["vz"].shape == (3, 52, 44)
    assert p["trajectory"].min() >= 0 and p["trajectory"].max() <= 1
    q = mbtnet_predict(np.asfortranarray(x.astype(np.float32)), out, device="cpu", batch_size=1)
    assert np.allclose(p["vz"], q["vz"], atol=1e-5)
    assert window_starts(8, 8, 7).tolist() == [0] and window_starts(22, 8, 7).tolist() == [0, 7, 14]
    # float32 frames are normalised in float32: the very inputs of float64 frames holding the same values
    x32 = x.astype(np.float32)
    a, b = mbtnet_predict(x32, out, device="cpu"), mbtnet_predict(x32.astype(np.float64), out, device="cpu")
    assert all(np.array_equal(a[k], b[k]) for k in ("trajectory", "vz", "vx"))


def test_e2e_maps_names_grid_and_units(tiny):
    out, _ = tiny
    x = _frames(1, (10, 12, 15))
    keep = x.copy()
    m = e2e_maps(x, weights=out, threshold="soft", device="cpu")
    assert np.array_equal(x, keep)
    assert {"MatOut", "MatOut_vel", "MatOut_zdir", "llz", "llx", "sizeOut"} <= set(m)
    assert m["MatOut"].shape == (41, 49) and m["sizeOut"] == [41, 49] and m["n_windows"] == 2
    assert m["velocity_unit"] == "pixel/frame" and np.all(m["MatOut"][:2] == 0)
    assert np.all(np.abs(m["MatOut_zdir"]) <= m["MatOut_vel"] + 1e-12)
    mm = e2e_maps(x, weights=out, threshold="soft", device="cpu", frame_rate=100, pixel_size=0.1)
    assert mm["velocity_unit"] == "mm/s"
    assert np.allclose(mm["MatOut_vel"], m["MatOut_vel"] * 10) and np.allclose(mm["MatOut"], m["MatOut"])
    assert np.isclose(mm["llx"][4], 0.1)
    hard = e2e_maps(x, weights=out, threshold=0.5, device="cpu")
    assert set(np.unique(hard["MatOut"])) <= {0.0, 1.0, 2.0}


@pytest.mark.parametrize("bad, match", [
    (np.zeros((8, 8, 7)), "at least 8"),
    (np.zeros((8, 8)), "shape"),
    (np.full((8, 8, 8), np.nan), "NaN"),
    (np.zeros((8, 8, 8), complex), "real"),
])
def test_bad_frames(tiny, bad, match):
    with pytest.raises(ValueError, match=match):
        mbtnet_predict(bad, tiny[0], device="cpu")
    with pytest.raises(ValueError, match=match):
        e2e_maps(bad, weights=tiny[0], device="cpu")


def test_bad_options(tiny):
    x = np.zeros((8, 8, 8))
    for kw, match in [({"res": 10}, "res"), ({"stride": 0}, "stride"), ({"threshold": 2}, "threshold"),
                      ({"pixel_size": -1}, "pixel_size"), ({"frame_rate": 0}, "frame_rate")]:
        with pytest.raises(ValueError, match=match):
            e2e_maps(x, weights=tiny[0], device="cpu", **kw)


def test_bad_weights(tiny, tmp_path):
    x = np.zeros((8, 8, 8))
    with pytest.raises(FileNotFoundError, match="do not exist"):
        mbtnet_predict(x, tmp_path / "missing")
    bad = tmp_path / "corrupt"
    shutil.copytree(tiny[0], bad)
    with open(bad / "weights.pt", "r+b") as fh:
        fh.seek(100)
        fh.write(b"XXXX")
    with pytest.raises(ValueError, match="checksum"):
        mbtnet_predict(x, bad)
    with pytest.raises(ValueError, match="not an MBT-Net"):
        mbtnet_predict(x, SHIPPED / "mblnet")


# -- CLI ------------------------------------------------------------------------------------------

def test_cli_train_resume_and_errors(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY.replace("steps = 4", "steps = 2"))
    out = tmp_path / "run"
    assert cli_main(["train", "mbtnet", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    # the command line as pyulm.cli.train records it (sys.argv: pytest's own here)
    assert (out / "command.txt").read_text().strip() == json.loads((out / "metrics.json").read_text())["command"]
    assert cli_main(["train", "mbtnet", "--config", str(cfg), "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert cli_main(["train", "mbtnet", "--config", str(cfg), "--out", str(out), "--resume"]) == 0
    cfg.write_text("sed = 1\n")
    assert cli_main(["train", "mbtnet", "--config", str(cfg), "--out", str(tmp_path / "x")]) == 2
    assert "unknown key" in capsys.readouterr().err
