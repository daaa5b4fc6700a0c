"""Deep-stULM: inputs, targets, network, training, model directories, tracker (tiny configs, CPU)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pyulm.nn.deepstulm.config import DataConfig, ModelConfig, load_config, parse_config, to_toml
from pyulm.nn.deepstulm.data import correlation_maps, dilate, normalize_window, trajectory_map

torch = pytest.importorskip("torch")

from pyulm.nn.deepstulm.model import DeepSTULM, dice_loss  # noqa: E402

TINY = {"seed": 3, "model": {"n_frames": 16, "size": 16, "r": 2, "base": 2, "convs": 1, "time_pool": 2},
        "data": {"field": 24}, "train": {"phase1_epochs": 1, "phase2_epochs": 1, "steps_per_epoch": 2,
                                         "batch_size": 2, "val_windows": 4, "test_windows": 4}}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from pyulm.nn.deepstulm.train import train

    out = tmp_path_factory.mktemp("deepstulm") / "model"
    train(parse_config(TINY), out, command="test", log=lambda m: None)
    return out


# -- config --------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, match", [
    ({"model": {"r": 3}}, r"\[model\]\.r: expected a power of 2"),
    ({"model": {"n_frames": 30}}, r"\[model\]\.n_frames: expected a multiple of time_pool\*\*2 = 16"),
    ({"model": {"size": 30}}, r"\[model\]\.size: expected a multiple"),
    ({"model": {"width": 3}}, r"\[model\]: unknown field\(s\) \['width'\]"),
    ({"data": {"concentration": [5, 1]}}, r"\[data\]\.concentration: expected a range"),
    ({"data": {"field": 20}}, r"\[data\]\.field: expected at least \[model\]\.size = 32"),
    ({"train": {"threshold": 1.5}}, r"\[train\]\.threshold"),
    ({"train": {"phase2_milestones": [0]}}, r"\[train\]\.phase2_milestones"),
    ({"architecture": "mblnet"}, "deepstulm trainer"),
    ({"other": 1}, r"unknown key\(s\) \['other'\]"),
])
def test_config_errors_name_the_field(raw, match):
    with pytest.raises(ValueError, match=match):
        parse_config(raw)


def test_config_toml_round_trip(tmp_path):
    cfg = parse_config({**TINY, "train": {**TINY["train"], "phase1_milestones": [1]}})
    (tmp_path / "c.toml").write_text(to_toml(cfg))
    assert load_config(tmp_path / "c.toml") == cfg


# -- inputs and targets ------------------------------------------------------------------------
def test_correlation_maps_is_the_cross_correlation():
    rng = np.random.default_rng(0)
    iq = (rng.standard_normal((12, 10, 3)) + 1j * rng.standard_normal((12, 10, 3))).astype(np.complex64)
    psf = rng.standard_normal((3, 5)) + 1j * rng.standard_normal((3, 5))
    before = iq.copy()
    chi = correlation_maps(iq, psf)
    pad = np.pad(iq, ((1, 1), (2, 2), (0, 0)))
    direct = sum(pad[a:a + 12, b:b + 10] * np.conj(psf[a, b]) for a in range(3) for b in range(5))
    np.testing.assert_allclose(chi, direct, atol=1e-4)
    np.testing.assert_array_equal(iq, before)


def test_normalize_window_channels_and_bound():
    chi = (np.arange(24).reshape(2, 3, 4) * (1 + 1j)).astype(np.complex64)
    x = normalize_window(chi)
    assert x.shape == (2, 4, 2, 3) and x.dtype == np.float32
    assert np.abs(x[0] + 1j * x[1]).max() < 1
    np.testing.assert_allclose(x[0, 3, 1, 2] / x[1, 3, 1, 2], 1.0)  # t moved first, (z, x) kept
    assert not normalize_window(np.zeros((2, 2, 2), complex)).any()


def test_trajectory_map_joins_consecutive_frames_only():
    # bubble 0 moves 2 px along x in frames 0-1; bubble 1 is seen in frames 0 and 5 (not joined)
    m = trajectory_map([2.0, 2.0, 5.0, 5.0], [1.0, 3.0, 1.0, 6.0], [0, 1, 0, 5], [0, 0, 1, 1], (8, 8), 2)
    assert m.shape == (16, 16)
    assert m[5, 3:8].all() and m[5].sum() == 5
    assert m[11].sum() == 2 and m[11, 3] and m[11, 13]
    assert trajectory_map([], [], [], [], (4, 4), 4).shape == (16, 16)


def test_dilate_disk_radius_2():
    t = np.zeros((9, 9), bool)
    t[4, 4] = True
    assert dilate(t, 2).sum() == 13 and dilate(t, 0).sum() == 1


def test_training_window_is_deterministic():
    from pyulm.nn.deepstulm.data import training_window

    d, m = DataConfig(field=24), ModelConfig(n_frames=16, size=16, r=2, time_pool=2)
    a = training_window(d, m, np.random.default_rng(5), concentration=20.0)
    b = training_window(d, m, np.random.default_rng(5), concentration=20.0)
    assert a[0].shape == (2, 16, 16, 16) and a[1].shape == (32, 32)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[1].any() and np.abs(a[0][0] + 1j * a[0][1]).max() < 1


# -- network -----------------------------------------------------------------------------------
@pytest.mark.parametrize("r", [1, 2, 4])
def test_network_shapes_and_upsampling(r):
    cfg = ModelConfig(n_frames=32, size=16, r=r, base=2, convs=2)
    model = DeepSTULM(cfg)
    out = model(torch.zeros(3, 2, 32, 16, 16))
    assert out.shape == (3, 16 * r, 16 * r)
    mods = list(model.modules())
    assert not any(isinstance(m, (torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)) for m in mods)
    ups = [m for m in mods if isinstance(m, torch.nn.Upsample)]
    assert len(ups) == int(np.log2(r)) and all(u.mode == "nearest" for u in ups)
    pools = [m for m in mods if isinstance(m, torch.nn.MaxPool3d)]
    assert pools[0].kernel_size == (4, 2, 2)
    # the decoder collapses time progressively: 2 frames after the first up block, then 1
    assert model.up1.t_out == 1 and DeepSTULM(ModelConfig(n_frames=64, size=16, r=1, base=2)).up1.t_out == 2


def test_dice_loss():
    t = torch.zeros(2, 8, 8, dtype=torch.bool)
    t[:, 2, 3:6] = True
    perfect = torch.where(t, 20.0, -20.0)
    assert float(dice_loss(perfect, t)) < 1e-3
    assert float(dice_loss(-perfect, t)) > 0.9
    assert float(dice_loss(perfect, t, bce_weight=1.0)) < 1e-3
    assert float(dice_loss(torch.zeros(2, 8, 8), t, bce_weight=1.0)) > float(dice_loss(torch.zeros(2, 8, 8), t))


# -- training and model directories ---------------------------------------------------------------
def test_training_writes_a_model_directory(tiny_model):
    from pyulm.nn.weights_io import sha256

    files = {p.name for p in tiny_model.iterdir()}
    assert {"weights.pt", "config.json", "SHA256SUMS", "train.toml", "metrics.json", "log.jsonl",
            "README.md"} <= files
    sums = dict(line.split()[::-1] for line in (tiny_model / "SHA256SUMS").read_text().splitlines())
    assert sums["weights.pt"] == sha256(tiny_model / "weights.pt")
    assert set(sums) == {p.name for p in tiny_model.iterdir()} - {"SHA256SUMS"}  # every file is covered
    cfg = json.loads((tiny_model / "config.json").read_text())
    assert cfg["architecture"] == "deepstulm" and cfg["model"]["r"] == 2
    log = [json.loads(x) for x in (tiny_model / "log.jsonl").read_text().splitlines()]
    assert [e["phase"] for e in log] == [1, 2] and all(0 <= e["val"]["dice"] <= 1 for e in log)
    m = json.loads((tiny_model / "metrics.json").read_text())
    assert set(m["held_out_test"]["by_concentration_per_mm2"]) == {"1.0", "5.0", "10.0", "20.0"}
    assert load_config(tiny_model / "train.toml") == parse_config(TINY)


def test_resume_continues_exactly(tmp_path):
    from pyulm.nn.deepstulm.train import train

    raw = {**TINY, "train": {**TINY["train"], "test_windows": 4}}
    train(parse_config(raw), tmp_path / "a", log=lambda m: None)
    one = {**raw, "train": {**raw["train"], "phase2_epochs": 0}}
    train(parse_config(one), tmp_path / "b", log=lambda m: None)
    msgs = []
    train(parse_config(raw), tmp_path / "b", resume=True, log=msgs.append)
    assert msgs[0].startswith("resumed from")
    wa = torch.load(tmp_path / "a" / "weights.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / "weights.pt", weights_only=True)
    assert all(torch.allclose(wa[k], wb[k], atol=1e-6) for k in wa)
    with pytest.raises(ValueError, match="other sizes"):
        train(parse_config({**raw, "model": {**raw["model"], "base": 3}}), tmp_path / "b", resume=True)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(parse_config(raw), tmp_path / "c", resume=True)


# -- the tracker -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def acquisition():
    from pyulm.sim import simulate

    return simulate((24, 30), 40, concentration=20.0, psf=DataConfig().psf(), seed=1)


def test_track_maps_shapes_blocks_and_inputs_untouched(tiny_model, acquisition):
    import pyulm

    iq = acquisition.iq
    before = iq.copy()
    angio, blocks, starts = pyulm.nn.track_maps(iq, weights=tiny_model, time_stride=12, return_blocks=True)
    np.testing.assert_array_equal(iq, before)
    assert angio.shape == (48, 60) and blocks.shape == (3, 48, 60)
    assert starts.tolist() == [0, 12, 24]
    np.testing.assert_array_equal(angio, blocks.sum(0))
    again = pyulm.nn.track_maps(np.ascontiguousarray(iq), weights=tiny_model, time_stride=12)
    np.testing.assert_array_equal(angio, again)


def test_track_maps_through_the_matlab_bridge(tiny_model, acquisition, monkeypatch):
    """Reachable from MATLAB once whitelisted: doubles for the whole-number options."""
    from pyulm.matlab import functions

    monkeypatch.setitem(functions.FUNCTIONS, "track_maps", ("pyulm.nn", "track_maps"))
    out = functions.call_python("track_maps", [acquisition.iq],
                                {"weights": str(tiny_model), "time_stride": np.array([[12.0]]), "r": 2.0})
    import pyulm

    np.testing.assert_array_equal(out[0], pyulm.nn.track_maps(acquisition.iq, weights=tiny_model, time_stride=12))


def test_track_maps_combines_overlaps(tiny_model, acquisition):
    import pyulm

    a = pyulm.nn.track_maps(acquisition.iq, weights=tiny_model, stride=4, crop=4)
    b = pyulm.nn.track_maps(acquisition.iq, weights=tiny_model, stride=4, crop=4, combine="max")
    assert a.shape == b.shape and np.all(b >= a)  # max of probabilities >= their mean


@pytest.mark.parametrize("frames_of, kw, match", [
    (lambda iq: iq[:, :, :10], {}, r"frames: the block has 10 frames, fewer than the network's temporal window of 16"),
    (lambda iq: iq[:12], {}, r"frames: the frames are 12 x 30 pixels, smaller than one 16 x 16 window"),
    (lambda iq: np.where(np.arange(40) == 3, np.nan, 1.0) * iq, {}, "frames: contains NaN or Inf"),
    (lambda iq: iq[:, :, 0], {}, r"frames: expected a \(z, x, t\) block"),
    (lambda iq: np.abs(iq), {}, r"frames: expected complex IQ .* got float32"),
    (lambda iq: iq, {"r": 4}, r"r: the weights .*weights.pt produce maps 2 times finer"),
    (lambda iq: iq, {"stride": 9}, r"stride: expected a whole number in \[1, 8\]"),
    (lambda iq: iq, {"time_stride": 17}, "time_stride"),
    (lambda iq: iq, {"time_stride": 2.5}, r"time_stride: expected a whole number"),
    (lambda iq: iq, {"threshold": 0.0}, "threshold"),
    (lambda iq: iq, {"combine": "or"}, "combine"),
])
def test_track_maps_bad_input(tiny_model, acquisition, frames_of, kw, match):
    import pyulm

    with pytest.raises(ValueError, match=match):
        pyulm.nn.track_maps(frames_of(acquisition.iq), weights=tiny_model, **kw)


def test_weights_of_another_model_are_refused(tiny_model, acquisition, tmp_path):
    import pyulm
    from pyulm.nn.weights_io import SHIPPED, write_checksums

    iq = acquisition.iq
    with pytest.raises(ValueError, match=r"3dml.*config.json describes a '3dml' model, not 'deepstulm'"):
        pyulm.nn.track_maps(iq, weights=SHIPPED / "3dml")
    other = tmp_path / "other_r"
    shutil.copytree(tiny_model, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["model"]["r"] = 4  # weights of r = 2 under a config of r = 4
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"other_r/config.json does not match its checksum"):
        pyulm.nn.track_maps(iq, weights=other)  # an edited config is refused first
    write_checksums(other)
    with pytest.raises(ValueError, match=r"weights .*other_r/weights.pt do not fit the network described by"):
        pyulm.nn.track_maps(iq, weights=other)
    bad = tmp_path / "corrupt"
    shutil.copytree(tiny_model, bad)
    with open(bad / "weights.pt", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ValueError, match="corrupt/weights.pt does not match its checksum"):
        pyulm.nn.track_maps(iq, weights=bad)
    (bad / "SHA256SUMS").unlink()
    with pytest.raises(ValueError, match="SHA256SUMS is missing"):
        pyulm.nn.track_maps(iq, weights=bad)


def test_to_pala_grid():
    from pyulm.nn.deepstulm.inference import to_pala_grid
    from pyulm.render import SuperResolutionGrid

    angio = np.zeros((16, 20))
    angio[5, 7] = 3  # covers input positions z in [0.75, 1), x in [1.25, 1.5)
    out = to_pala_grid(angio, 4, 8)
    assert out.shape == SuperResolutionGrid((4, 5), 8).sr_shape
    iz, ix = np.nonzero(out)
    # PALA pixel i (1-based) sits at position i / res - 1
    assert np.all((iz + 1) / 8 - 1 >= 0.75) and np.all((iz + 1) / 8 - 1 < 1.0) and out.max() == 3
    assert np.all((ix + 1) / 8 - 1 >= 1.25) and np.all((ix + 1) / 8 - 1 < 1.5)


def test_cli_train_and_track_maps(tmp_path, acquisition):
    from pyulm.cli import main

    (tmp_path / "t.toml").write_text(to_toml(parse_config(TINY)))
    assert main(["train", "deepstulm", "--config", str(tmp_path / "t.toml"), "--out", str(tmp_path / "m"),
                 "--quiet"]) == 0
    assert json.loads((tmp_path / "m" / "config.json").read_text())["architecture"] == "deepstulm"
    acquisition.save_mat(tmp_path / "block.mat")
    assert main(["track-maps", str(tmp_path / "block.mat"), "--out", str(tmp_path / "a.npy"),
                 "--weights", str(tmp_path / "m")]) == 0
    assert np.load(tmp_path / "a.npy").shape == (48, 60)
    assert main(["track-maps", str(tmp_path / "block.mat"), "--out", str(tmp_path / "a.txt"),
                 "--weights", str(tmp_path / "m")]) == 2


def test_importing_pyulm_nn_does_not_import_torch():
    code = "import sys, pyulm.nn; pyulm.nn.track_maps; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_shipped_model_finds_tracks():
    """The shipped model on an unseen acquisition: Dice of one 64-frame window against its
    trajectories well above chance (the benchmark measures the rest)."""
    import pyulm
    from pyulm.nn.deepstulm.modeldir import load_model_dir
    from pyulm.nn.weights_io import SHIPPED

    if not (SHIPPED / "deepstulm" / "weights.pt").is_file():
        pytest.skip("no shipped deepstulm weights")
    cfg = load_model_dir(None, "cpu")[1]
    sim = pyulm.sim.simulate((40, 40), 64, concentration=10.0, psf=cfg["data"].psf(), max_velocity=10.0,
                             snr_db=25.0, seed=12345)
    pred = pyulm.nn.track_maps(sim.iq, device="cpu") > 0
    gt = trajectory_map(sim.gt.z, sim.gt.x, sim.gt.frame, sim.gt["bubble_id"], (40, 40), cfg["model"].r)
    tp = np.sum(pred & gt)
    assert 2 * tp / (pred.sum() + gt.sum()) > 0.4  # 0.58 when shipped; a random map of that density: 0.02
