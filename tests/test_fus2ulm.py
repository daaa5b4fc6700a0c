"""fUS → ULM models: networks, training (tiny configs), resume, model directories,
sliding-window diffusion sampling, the Python function and the CLI."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pyulm.cli import main  # noqa: E402
from pyulm.nn.fus2ulm import enhance  # noqa: E402
from pyulm.nn.fus2ulm.diffusion import sample  # noqa: E402
from pyulm.nn.fus2ulm.models import DiffusionConfig, build  # noqa: E402
from pyulm.nn.fus2ulm.train import parse_config, train  # noqa: E402
from pyulm.sim.doppler import save_pairs, simulate_pairs  # noqa: E402

TINY_NET = {"pix2pix": {"width": 4, "depth": 4, "disc_width": 4, "disc_layers": 2},
            "mhvae": {"width": 4, "latent_top": 2, "latent_mid": 2},
            "diffusion": {"width": 4, "emb": 8, "patch": 16, "timesteps": 20}}


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("pairs") / "pairs.npz"
    save_pairs(p, simulate_pairs(4, 3, field=32, size=32, res=2, fus_frames=16, ulm_frames=150))
    return p


def _cfg(kind, pairs_file, steps=4, **train):
    return parse_config({"seed": 1, "model": kind, "network": TINY_NET[kind],
                         "data": {"pairs": str(pairs_file), "split": [2, 1, 1]},
                         "train": {"steps": steps, "eval_every": 2, "batch": 2, "val_steps": 3, "sample_steps": 3,
                                   **train}})


@pytest.fixture(scope="module")
def trained(pairs_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {k: train(_cfg(k, pairs_file), root / k, log=lambda m: None) for k in TINY_NET}


@pytest.mark.parametrize("kind", sorted(TINY_NET))
def test_networks_map_images_to_images(kind):
    m = build(kind, TINY_NET[kind])
    x = torch.zeros(2, 1, 32, 32)
    if kind == "pix2pix":
        assert m(x).shape == x.shape and m.discriminator(x, x).shape[:2] == (2, 1)
    elif kind == "mhvae":
        f, u, kl_t, kl_m = m(x, x)
        assert f.shape == u.shape == x.shape and kl_t.shape == kl_m.shape == (2,)
        assert m(x, None, sample=False)[1].shape == x.shape
    else:
        p = torch.zeros(2, 1, 16, 16)
        out = m(p, p, torch.tensor([0, 5]), torch.tensor([[0.0, 0.5], [0.5, 0.0]]))
        assert out.shape == p.shape


def test_bad_network_sizes_and_configs(pairs_file):
    with pytest.raises(ValueError, match="unknown field"):
        build("diffusion", {"widht": 3})
    with pytest.raises(ValueError, match="positive integer"):
        build("mhvae", {"width": 0})
    with pytest.raises(ValueError, match="expected one of"):
        build("unet", {})
    with pytest.raises(ValueError, match="differs from --model"):
        parse_config({"model": "mhvae", "data": {"pairs": "x.npz"}}, model="diffusion")
    with pytest.raises(ValueError, match="exactly one of"):
        parse_config({"model": "mhvae", "data": {"pairs": "x.npz", "simulate": 3}})
    with pytest.raises(ValueError, match=r"\[train\]: unknown"):
        parse_config({"model": "mhvae", "data": {"pairs": "x.npz"}, "train": {"epochs": 3}})


@pytest.mark.parametrize("kind", sorted(TINY_NET))
def test_trained_model_directory_and_enhance(trained, pairs_file, kind):
    d = Path(trained[kind])
    for f in ("weights.pt", "config.json", "SHA256SUMS", "metrics.json", "README.md", "log.jsonl"):
        assert (d / f).is_file()
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["architecture"] == f"fus2ulm-{kind}" and cfg["input"]["size"] == 32
    metrics = json.loads((d / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"mse", "ssim", "psnr"}
    fus = np.load(pairs_file)["fus"][3]
    before = fus.copy()
    out = enhance(fus, weights=d)
    np.testing.assert_array_equal(fus, before)
    assert out.shape == (32, 32) and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    np.testing.assert_array_equal(out, enhance(fus, weights=d))  # deterministic (diffusion: seeded noise)


def test_resume_is_exact(pairs_file, tmp_path):
    full = train(_cfg("diffusion", pairs_file, steps=4), tmp_path / "full", log=lambda m: None)
    train(_cfg("diffusion", pairs_file, steps=2), tmp_path / "part", log=lambda m: None)
    part = train(_cfg("diffusion", pairs_file, steps=4), tmp_path / "part", resume=True, log=lambda m: None)
    a = torch.load(Path(full) / "weights.pt", weights_only=True)
    b = torch.load(Path(part) / "weights.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_cosine_schedule_extends_a_constant_run_exactly(pairs_file, tmp_path):
    """A constant-lr run resumed with a cosine decay after it (lr_hold = its steps) ends with the
    weights of an uninterrupted cosine run; EMA snapshots are written every snapshot_every steps."""
    from pyulm.nn.fus2ulm.train import learning_rate

    cos = {"lr_schedule": "cosine", "lr_hold": 2, "lr_final": 1e-5, "snapshot_every": 2, "lr": 1e-3}
    tc = _cfg("diffusion", pairs_file, steps=4, **cos)["train"]
    assert [learning_rate(tc, k) for k in (0, 1)] == [1e-3, 1e-3]
    assert learning_rate(tc, 3) == pytest.approx(1e-5 + 0.5 * (1e-3 - 1e-5))
    full = train(_cfg("diffusion", pairs_file, steps=4, **cos), tmp_path / "full", log=lambda m: None)
    assert sorted(p.name for p in (Path(full) / "snapshots").iterdir()) == ["step000002.pt", "step000004.pt"]
    train(_cfg("diffusion", pairs_file, steps=2, lr=1e-3), tmp_path / "part", log=lambda m: None)
    part = train(_cfg("diffusion", pairs_file, steps=4, **cos), tmp_path / "part", resume=True, log=lambda m: None)
    a = torch.load(Path(full) / "weights.pt", weights_only=True)
    b = torch.load(Path(part) / "weights.pt", weights_only=True)
    s2, s4 = (torch.load(Path(full) / "snapshots" / f"step00000{k}.pt", weights_only=True) for k in (2, 4))
    assert any(not torch.equal(s2[k], s4[k]) for k in s2)  # the EMA weights of each step, not one copy
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    for bad, match in (({"lr_schedule": "linear"}, "lr_schedule"), ({"lr_schedule": "cosine", "lr_hold": 4}, "lr_hold < steps"),
                       ({"lr_schedule": "cosine", "lr_final": 1.0}, "lr_final <= lr"), ({"lr_hold": -1}, "lr_hold")):
        with pytest.raises(ValueError, match=match):
            _cfg("diffusion", pairs_file, steps=4, **bad)


class _ConstantPerWindow(torch.nn.Module):
    """A stand-in denoiser whose clean estimate is one constant per window (its position)."""

    def __init__(self):
        super().__init__()
        self.cfg = DiffusionConfig(patch=16, timesteps=20)

    def forward(self, x_t, fus, t, pos):
        c = (torch.sin(37.0 * pos[:, 0] + 11.0 * pos[:, 1]) * 0.9)[:, None, None, None]
        return c.expand_as(x_t)


def test_sliding_window_sampling_removes_patch_seams():
    from pyulm.nn.fus2ulm import sliding

    stub = _ConstantPerWindow()
    out = sample(stub, np.zeros((48, 48)), steps=5, stride=8, seed=0)
    # hard tiling (each window's constant pasted over the previous ones) jumps at the seams;
    # the blended image moves between neighbouring windows' values over the overlap
    pos = sliding.positions((48, 48), 16, 8)
    hard = np.zeros((48, 48))
    for (z, x), c in zip(pos, (torch.sin(37.0 * torch.tensor([p[0] / 48 for p in pos])
                                         + 11.0 * torch.tensor([p[1] / 48 for p in pos])) * 0.9).numpy()):
        hard[z:z + 16, x:x + 16] = c

    def jump(a):
        return max(np.abs(np.diff(a, axis=0)).max(), np.abs(np.diff(a, axis=1)).max())

    assert out.max() - out.min() > 0.5 and jump(hard) > 1.0 and jump(out) < 0.3 * jump(hard)
    np.testing.assert_array_equal(out, sample(_ConstantPerWindow(), np.zeros((48, 48)), steps=5, stride=8, seed=0))


def test_bad_inputs_and_model_directories(trained, tmp_path):
    d = Path(trained["diffusion"])
    img = np.full((32, 32), 0.5)
    bad = img.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        enhance(bad, weights=d)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        enhance(img * 3, weights=d)
    with pytest.raises(ValueError, match="2-D"):
        enhance(np.zeros((32, 32, 3)), weights=d)
    other = tmp_path / "other"
    shutil.copytree(d, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["architecture"] = "mblnet"
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="not a fUS → ULM model"):
        enhance(img, weights=other)
    shipped_mbl = Path(__file__).resolve().parents[1] / "pyulm" / "nn" / "weights" / "mblnet"
    with pytest.raises(ValueError, match="not a fUS → ULM model"):
        enhance(img, weights=shipped_mbl)
    corrupt = tmp_path / "corrupt"
    shutil.copytree(d, corrupt)
    with open(corrupt / "weights.pt", "ab") as fh:
        fh.write(b"x")
    with pytest.raises(ValueError, match="checksum"):
        enhance(img, weights=corrupt)
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        enhance(img, weights=tmp_path / "missing")


def test_cli_apply_train_and_simulate(trained, pairs_file, tmp_path, capsys):
    d = trained["pix2pix"]
    np.save(tmp_path / "in.npy", np.load(pairs_file)["fus"][0])
    assert main(["fus2ulm", str(tmp_path / "in.npy"), "--weights", str(d), "--out", str(tmp_path / "o.tif")]) == 0
    import tifffile

    assert tifffile.imread(tmp_path / "o.tif").shape == (32, 32)
    assert main(["fus2ulm", str(tmp_path / "in.npy"), "--weights", str(d), "--out", str(tmp_path / "o.jpg")]) == 2
    assert "unsupported type" in capsys.readouterr().err
    assert not (tmp_path / "o.jpg").exists()
    assert main(["simulate", str(tmp_path / "p.npz"), "--pairs", "2", "--seed", "4", "--pair-size", "32"]) == 0
    assert np.load(tmp_path / "p.npz")["fus"].shape == (2, 32, 32)
    assert main(["simulate", str(tmp_path / "q.npz"), "--pairs", "2", "--frames", "9"]) == 2
    assert "do not apply" in capsys.readouterr().err
    cfg = tmp_path / "t.toml"
    cfg.write_text(f'seed = 2\nmodel = "mhvae"\n[data]\npairs = "{pairs_file}"\nsplit = [2, 1, 1]\n'
                   '[network]\nwidth = 4\nlatent_top = 2\nlatent_mid = 2\n[train]\nsteps = 2\neval_every = 2\n')
    assert main(["train", "fus2ulm", "--model", "mhvae", "--config", str(cfg), "--out", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "train.toml").read_text() == cfg.read_text()
    assert main(["train", "fus2ulm", "--model", "diffusion", "--config", str(cfg), "--out", str(tmp_path / "n")]) == 2
    assert "differs from --model" in capsys.readouterr().err
    assert main(["train", "mblnet", "--model", "mhvae", "--config", str(cfg), "--out", str(tmp_path / "k")]) == 2
    assert "fus2ulm only" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["pix2pix", "mhvae", "diffusion"])
def test_shipped_models_sharpen_a_held_out_pair(kind):
    from pyulm.nn.fus2ulm import model_dir
    from pyulm.nn.fus2ulm.evaluation import image_metrics
    from pyulm.sim.doppler import simulate_pair

    d = model_dir.shipped(kind)
    assert (d / "train.toml").is_file() and (d / "metrics.json").is_file()
    assert (d / "weights.pt").stat().st_size < 10 * 2 ** 20
    pair = simulate_pair((20261, 0))  # the benchmark's held-out namespace, never trained on
    out = enhance(pair.fus, weights=None if kind == "diffusion" else d)
    base = image_metrics(pair.fus, pair.ulm)
    got = image_metrics(out, pair.ulm)
    assert got["ssim"] > base["ssim"] + 0.3 and got["mse"] < base["mse"] / 5


def test_sampling_averages_trajectories_and_eta():
    from pyulm.nn.fus2ulm.diffusion import trajectories

    torch.manual_seed(0)
    net = build("diffusion", TINY_NET["diffusion"]).eval()
    cond = np.linspace(-1, 1, 32 * 32).reshape(32, 32)
    tr = trajectories(net, cond, steps=3, stride=8, seed=5, samples=3)
    assert tr.shape == (3, 32, 32) and np.abs(tr[0] - tr[1]).max() > 1e-4  # different noise, different samples
    np.testing.assert_allclose(sample(net, cond, steps=3, stride=8, seed=5, samples=3), tr.mean(0), atol=1e-12)
    # trajectory k starts from the k-th noise image of the seed: samples=1 is the first of any larger run
    # (up to float32 rounding: the windows are batched differently)
    np.testing.assert_allclose(sample(net, cond, steps=3, stride=8, seed=5), tr[0], atol=1e-4)
    stoch = sample(net, cond, steps=3, stride=8, seed=5, eta=1.0)
    assert np.abs(stoch - tr[0]).max() > 1e-4
    np.testing.assert_array_equal(stoch, sample(net, cond, steps=3, stride=8, seed=5, eta=1.0))
    for bad, match in (({"samples": 0}, "samples"), ({"eta": 1.5}, "eta"), ({"steps": 0}, "steps")):
        with pytest.raises(ValueError, match=match):
            sample(net, cond, **bad)


def test_inference_options_come_from_the_model_directory(trained, pairs_file, tmp_path, capsys):
    from pyulm.nn.fus2ulm import model_dir
    from pyulm.nn.fus2ulm.inference import inference_options
    from pyulm.nn.weights_io import write_checksums

    d = Path(trained["diffusion"])
    fus = np.load(pairs_file)["fus"][3]
    assert inference_options(json.loads((d / "config.json").read_text()))["samples"] == 1
    two = tmp_path / "two"
    shutil.copytree(d, two)
    cfg = json.loads((two / "config.json").read_text())
    cfg["inference"]["samples"] = 2
    (two / "config.json").write_text(json.dumps(cfg))
    write_checksums(two)
    np.testing.assert_array_equal(enhance(fus, weights=two), enhance(fus, weights=d, samples=2))
    np.testing.assert_array_equal(enhance(fus, weights=two, samples=1), enhance(fus, weights=d))
    np.save(tmp_path / "in.npy", fus)
    assert main(["fus2ulm", str(tmp_path / "in.npy"), "--weights", str(d), "--samples", "2", "--eta", "0.5",
                 "--stride", "8", "--out", str(tmp_path / "o.npy")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "o.npy"), enhance(fus, weights=d, samples=2, eta=0.5, stride=8))
    assert main(["fus2ulm", str(tmp_path / "in.npy"), "--weights", str(d), "--samples", "0",
                 "--out", str(tmp_path / "p.npy")]) == 2
    assert "samples" in capsys.readouterr().err and not (tmp_path / "p.npy").exists()
    with pytest.raises(TypeError):
        enhance(fus, weights=d, sampels=2)  # unknown options are errors
    cfg["inference"]["temperature"] = 0.5
    (two / "config.json").write_text(json.dumps(cfg))
    write_checksums(two)
    with pytest.raises(ValueError, match="unknown config.json \"inference\" key"):
        enhance(fus, weights=two)
    shipped = json.loads((model_dir.shipped("diffusion") / "config.json").read_text())
    assert set(shipped["inference"]) == {"steps", "stride", "seed", "samples", "eta"}


def test_more_pairs_diffusion_model_loads_runs_and_its_checksums_hold(tmp_path, capsys):
    """The second shipped diffusion model (trained on 299 pairs of seed 20263, docs/fus2ulm.md): same
    network sizes and inference default as the poster-regime model, every file checksummed, usable from
    Python and the CLI, and it sharpens a held-out pair."""
    import hashlib

    from pyulm.nn.fus2ulm import model_dir
    from pyulm.nn.fus2ulm.evaluation import image_metrics
    from pyulm.sim.doppler import simulate_pair

    d = model_dir.SHIPPED / "fus2ulm_diffusion_more"
    sums = dict(line.split()[::-1] for line in (d / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == {p.name for p in d.iterdir()} - {"SHA256SUMS"}  # every file is covered ...
    assert all(hashlib.sha256((d / f).read_bytes()).hexdigest() == h for f, h in sums.items())  # ... and holds
    assert {"weights.pt", "config.json", "train.toml", "metrics.json", "README.md", "log.jsonl"} <= set(sums)
    assert (d / "weights.pt").stat().st_size < 10 * 2 ** 20
    kind, model, cfg = model_dir.load(d, "cpu")
    _, _, poster = model_dir.load(model_dir.shipped("diffusion"), "cpu")
    assert kind == "diffusion" and cfg["model"] == poster["model"] and cfg["inference"] == poster["inference"]
    tiny = np.random.default_rng(0).random((24, 20))
    out = enhance(tiny, weights=d)
    assert out.shape == (128, 128) and np.all(np.isfinite(out)) and 0 <= out.min() and out.max() <= 1
    assert not np.allclose(out, enhance(tiny))  # other weights than the default model's
    np.save(tmp_path / "in.npy", tiny)
    assert main(["fus2ulm", str(tmp_path / "in.npy"), "--weights", str(d), "--out", str(tmp_path / "o.npy")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), out, atol=1e-6)
    capsys.readouterr()
    pair = simulate_pair((20261, 0))  # held-out namespace: never trained on
    base, got = image_metrics(pair.fus, pair.ulm), image_metrics(enhance(pair.fus, weights=d), pair.ulm)
    assert got["ssim"] > base["ssim"] + 0.3 and got["mse"] < base["mse"] / 5
