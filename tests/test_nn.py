"""pyulm.nn: networks, losses, decoding, model directories, training, inference."""
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pyulm  # noqa: E402
from pyulm.nn import data as D  # noqa: E402
from pyulm.nn.decode import decode_3dml, decode_mblnet  # noqa: E402
from pyulm.metrics import detection_scores, match  # noqa: E402
from pyulm.nn.losses import Targets, blurred_presence_loss, gmm_nll, offset_loss  # noqa: E402
from pyulm.nn.models import DML3, MBLNet, MBLNetConfig, DML3Config, build_model, fuse_batchnorm  # noqa: E402
from pyulm.nn.train import load_config, parse_config, train  # noqa: E402
from pyulm.nn.weights_io import SHIPPED, load_model, sha256, write_checksums  # noqa: E402
from pyulm.sim.free import free_motion  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

TINY_MBL = """
seed = 3
[model]
width = 4
head_width = 4
n_res = 1
[data]
patch = 24
density = [0.5, 1.0]
[train]
epochs = 2
steps_per_epoch = 2
sims_per_step = 2
frames_per_sim = 2
val_sims = 1
val_frames = 2
threads = 1
"""
TINY_3D = """
seed = 3
[model]
width = 4
n_blocks = 1
clip = 3
count_width = 4
[data]
patch = 24
[train]
epochs = 1
steps_per_epoch = 2
sims_per_step = 1
frames_per_sim = 3
val_sims = 1
val_frames = 4
threads = 1
"""


def _quiet(msg):
    pass


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("nn")
    (root / "mbl.toml").write_text(TINY_MBL)
    (root / "3d.toml").write_text(TINY_3D)
    mbl = train("mblnet", load_config(root / "mbl.toml"), root / "mbl", log=_quiet)
    d3 = train("3dml", load_config(root / "3d.toml"), root / "d3", log=_quiet)
    return {"mblnet": mbl, "3dml": d3, "root": root}


def _sim(shape=(32, 40), nt=5, n=6, seed=0, fwhm=(3, 3)):
    return free_motion(shape, n_frames=nt, n_bubbles=n, psf_fwhm=fwhm, snr_db=25, seed=seed)


# -- import hygiene ---------------------------------------------------------

def test_import_pyulm_nn_does_not_import_torch():
    code = ("import sys, pyulm, pyulm.nn; m = pyulm.available_methods(); "
            "assert 'mblnet' in m and '3dml' in m, m; assert 'torch' not in sys.modules, 'torch imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_missing_torch_gives_install_hint():
    code = ("import sys\nclass Block:\n    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n"
            "sys.meta_path.insert(0, Block())\nimport numpy as np, pyulm\n"
            "try:\n    pyulm.localize(np.ones((16, 16, 2)), 'mblnet', number_of_particles=3)\n"
            "except ImportError as e:\n    print('MSG', e)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert "MSG" in r.stdout and "pip install torch" in r.stdout, r.stdout + r.stderr


# -- networks -----------------------------------------------------------------

@pytest.mark.parametrize("s2d", [1, 2])
def test_mblnet_shapes_and_ranges(s2d):
    torch.manual_seed(0)
    net = MBLNet(MBLNetConfig(width=4, head_width=4, n_res=1, space_to_depth=s2d))
    out = net(torch.rand(2, 1, 19, 27))
    assert out.shape == (2, 7, 19, 27)
    assert (out[:, 1] >= 0).all() and (out[:, 2:4].abs() <= 1).all() and (out[:, 4:] > 0).all()


def test_dml3_shapes():
    torch.manual_seed(0)
    net = DML3(DML3Config(width=4, n_blocks=1, clip=3, count_width=4))
    maps, counts = net(torch.rand(2, 1, 3, 20, 24))
    assert maps.shape == (2, 3, 3, 20, 24) and counts.shape == (2, 3)
    assert (counts >= 0).all() and (maps[:, 1:].abs() <= 1).all()


def test_fuse_batchnorm_keeps_outputs():
    torch.manual_seed(0)
    net = build_model("mblnet", {"width": 4, "head_width": 4, "n_res": 1})
    net.train()
    for _ in range(3):  # give BN non-trivial running statistics
        net(torch.rand(4, 1, 16, 16) * 3)
    net.eval()
    x = torch.rand(2, 1, 16, 16)
    with torch.no_grad():
        ref = net(x)
        fuse_batchnorm(net)
        assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
        assert torch.allclose(net(x), ref, atol=1e-5)


def test_build_model_rejects_unknown_field():
    with pytest.raises(ValueError, match="unknown field"):
        build_model("mblnet", {"widht": 8})
    with pytest.raises(ValueError, match="architecture"):
        build_model("unet", {})


# -- targets and losses -------------------------------------------------------

def test_make_targets():
    sim = _sim(nt=3, n=4)
    x, scale = D.normalize_np(sim.iq)
    assert x.shape == (3, 32, 40) and np.allclose(x.reshape(3, -1).max(1), 1)
    t = D.make_targets(sim.gt, 3, (32, 40), scale)
    assert t.counts.tolist() == [4, 4, 4] and int(t.presence.sum()) <= 12
    gt0 = sim.gt.select(sim.gt.frame == 0)
    iz, ix = np.rint(gt0.z).astype(int), np.rint(gt0.x).astype(int)
    assert (t.presence[0, iz, ix] == 1).all()
    assert np.allclose(t.offsets[0, 0, iz, ix].numpy(), gt0.z - iz, atol=1e-5)
    assert np.allclose(t.points[0, :, 2].numpy(), gt0.intensity / scale[0], atol=1e-5)


def _full_gmm(out, t):
    """Brute-force mixture NLL over every pixel (reference for the windowed loss)."""
    N, _, H, W = out.shape
    p = torch.sigmoid(out[:, 0]).reshape(N, -1)
    P = p.sum(1)
    var = (p * (1 - p)).sum(1)
    total = 0.0
    for n in range(N):
        cnt = 0.5 * (t.counts[n] - P[n]) ** 2 / var[n] + 0.5 * torch.log(var[n]) + 0.5 * math.log(2 * math.pi)
        iz, ix = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
        mu = torch.stack([iz + out[n, 2], ix + out[n, 3], out[n, 1]], -1).reshape(-1, 3)
        sig = out[n, 4:7].permute(1, 2, 0).reshape(-1, 3)
        nll = 0.0
        for m in range(t.points.shape[1]):
            if not t.mask[n, m]:
                continue
            logn = torch.distributions.Normal(mu, sig).log_prob(t.points[n, m]).sum(-1)
            nll = nll - torch.logsumexp(logn + torch.log(p[n] / P[n]), 0)
        total = total + nll + cnt
    return total / N


def test_gmm_window_equals_full_mixture_when_window_covers_frame():
    torch.manual_seed(1)
    sim = _sim((11, 12), nt=2, n=3, seed=4, fwhm=(2, 2))
    x, scale = D.normalize_np(sim.iq)
    t = D.make_targets(sim.gt, 2, (11, 12), scale)
    out = MBLNet(MBLNetConfig(width=4, head_width=4, n_res=1))(torch.from_numpy(x).unsqueeze(1))
    assert torch.allclose(gmm_nll(out, t, radius=12), _full_gmm(out, t), rtol=1e-4)
    assert not torch.allclose(gmm_nll(out, t, radius=0), _full_gmm(out, t), rtol=1e-4)


def _maps(H=12, W=12, at=((5, 6),), offsets=(0.2, -0.3), p_hi=8.0):
    out = torch.zeros(1, 7, H, W)
    out[:, 0] = -8.0
    out[:, 4:7] = 0.2
    out[:, 1] = 0.5
    for iz, ix in at:
        out[0, 0, iz, ix] = p_hi
        out[0, 2, iz, ix], out[0, 3, iz, ix] = offsets
    return out


def test_gmm_prefers_correct_offsets_and_counts():
    t = Targets(torch.zeros(1, 12, 12), torch.zeros(1, 2, 12, 12), torch.tensor([[[5.2, 5.7, 0.5]]]),
                torch.tensor([[True]]), torch.tensor([1.0]))
    good = gmm_nll(_maps(offsets=(0.2, -0.3)), t)
    bad = gmm_nll(_maps(offsets=(-0.4, 0.4)), t)
    two = gmm_nll(_maps(at=((5, 6), (9, 2)), offsets=(0.2, -0.3)), t)
    assert good < bad and good < two


def test_blurred_presence_and_offset_losses():
    pres = torch.zeros(1, 16, 16)
    pres[0, 8, 8] = 1
    hit = torch.full((1, 16, 16), -9.0)
    hit[0, 8, 8] = 9
    near = torch.full((1, 16, 16), -9.0)
    near[0, 8, 9] = 9
    far = torch.full((1, 16, 16), -9.0)
    far[0, 2, 2] = 9
    lh, ln, lf = (blurred_presence_loss(l, pres) for l in (hit, near, far))
    assert lh < 1e-3 < ln < lf  # one pixel off costs less than far off
    offs = torch.zeros(1, 2, 16, 16)
    offs_t = torch.zeros(1, 2, 16, 16)
    offs_t[0, :, 8, 8] = torch.tensor([0.3, -0.1])
    t = Targets(pres, offs_t, torch.zeros(1, 1, 3), torch.ones(1, 1, dtype=bool), torch.ones(1))
    assert offset_loss(offs, t).item() == pytest.approx(0.4)


# -- decoding -------------------------------------------------------------------

def test_decode_mblnet_positions_threshold_and_cap():
    out = _maps(at=((3, 4), (8, 9)), offsets=(0.2, -0.3))
    out[0, 0, 8, 9] = 0.0  # p = 0.5 alone -> below 0.6 threshold
    cols = decode_mblnet(out, torch.tensor([2.0]), threshold=0.6, subpixel="max")
    assert cols["z"].tolist() == pytest.approx([3.2]) and cols["x"].tolist() == pytest.approx([3.7])
    assert cols["intensity"].tolist() == pytest.approx([1.0]) and cols["sigma_intensity"][0] == pytest.approx(0.4)
    assert len(decode_mblnet(out, torch.tensor([2.0]), threshold=0.4)["z"]) == 2
    assert len(decode_mblnet(out, torch.tensor([2.0]), threshold=0.4, max_per_frame=1)["z"]) == 1


def test_decode_mblnet_aggregates_probability_split_over_two_pixels():
    out = _maps(at=())
    out[0, 0, 5, 5] = 0.1  # p ~ 0.52
    out[0, 0, 5, 6] = 0.0  # p = 0.5: one bubble on the pixel edge
    cols = decode_mblnet(out, torch.ones(1), threshold=0.9)
    assert len(cols["z"]) == 1 and cols["probability"][0] == pytest.approx(1.0, abs=1e-3)


def test_decode_3dml_keeps_top_count():
    maps = torch.full((2, 3, 10, 10), -6.0)
    maps[:, 1:] = 0.1
    for k, (z, x) in enumerate([(1, 1), (4, 7), (8, 2)]):
        maps[:, 0, z, x] = 3.0 - k
    cols = decode_3dml(maps, torch.tensor([2.2, 0.4]), frame_offset=10, subpixel="max")
    assert cols["frame"].tolist() == [10, 10]
    assert cols["z"].tolist() == pytest.approx([1.1, 4.1])
    cols = decode_3dml(maps, torch.tensor([3.0, 3.0]), max_per_frame=1)
    assert cols["frame"].tolist() == [0, 1]


def _sigma_maps(sigmas, H=16, W=40):
    """One frame, isolated maxima (p ~ 1) at x = 3, 8, 13, ... with predicted
    sigmas (sigma_z, sigma_x) as given."""
    out = _maps(H, W, at=())
    for k, (sz, sx) in enumerate(sigmas):
        out[0, 0, 5, 3 + 5 * k] = 8.0
        out[0, 4, 5, 3 + 5 * k], out[0, 5, 5, 3 + 5 * k] = sz, sx
    return out


def test_decode_mblnet_max_sigma_drops_exactly_the_detections_above_it():
    sig = [(0.1, 0.1), (0.3, 0.4), (0.2, 0.2), (0.6, 0.1), (0.35, 0.35), (1.0, 1.5)]
    out = _sigma_maps(sig)
    hyp = np.hypot(*np.array(sig).T)
    every = decode_mblnet(out, torch.ones(1), threshold=0.5)
    assert len(every["z"]) == len(sig)
    for cut in (0.15, 0.29, 0.5, 0.5 + 1e-6, 0.6, 2.0, math.inf):
        cols = decode_mblnet(out, torch.ones(1), threshold=0.5, max_sigma=cut)
        kept = np.sort(np.rint((cols["x"] - 3) / 5).astype(int))
        assert kept.tolist() == np.nonzero(hyp <= cut)[0].tolist(), cut
        assert np.all(np.hypot(cols["sigma_z"], cols["sigma_x"]) <= cut)
    # the cap applies after the cutoff: the most probable survivors are kept
    capped = decode_mblnet(out, torch.ones(1), threshold=0.5, max_sigma=0.5, max_per_frame=2)
    assert len(capped["z"]) == 2 and np.all(np.hypot(capped["sigma_z"], capped["sigma_x"]) <= 0.5)


def test_decode_mblnet_max_sigma_table_follows_each_frames_density():
    sig = [(0.2, 0.2), (0.3, 0.3), (0.4, 0.4)]  # hypot 0.28, 0.42, 0.57
    one = _sigma_maps(sig)
    crowded = one.clone()
    crowded[0, 0, 12, ::2] = 8.0  # 20 more maxima far from the first three: a denser frame
    crowded[0, 4:6, 12] = 0.1
    out = torch.cat([one, crowded])
    p = torch.sigmoid(out[:, 0]).sum((1, 2)).numpy() * 100 / (16 * 40)  # the frames' density estimates
    table = {"density": [float(p[0]), float(p[1])], "cutoff": [0.3, 0.5]}
    cols = decode_mblnet(out, torch.ones(2), threshold=0.5, max_sigma=table)
    s = np.hypot(cols["sigma_z"], cols["sigma_x"])
    row5 = np.isclose(cols["z"], 5.0, atol=1.0)
    assert sorted(np.round(s[(cols["frame"] == 0) & row5], 2)) == [0.28]          # cutoff 0.3
    assert sorted(np.round(s[(cols["frame"] == 1) & row5], 2)) == [0.28, 0.42]    # cutoff 0.5
    mid = {"density": [float(p[0]) - 1, float(p[0]) + 1], "cutoff": [0.2, 0.6]}   # frame 0 halfway: 0.4
    cols = decode_mblnet(out[:1], torch.ones(1), threshold=0.5, max_sigma=mid)
    assert sorted(np.round(np.hypot(cols["sigma_z"], cols["sigma_x"]), 2)) == [0.28]


def test_decode_3dml_min_probability_drops_exactly_the_detections_below_it():
    maps = torch.full((1, 3, 12, 30), -9.0)
    maps[:, 1:] = 0.0
    logits = [4.0, 1.0, 0.0, -1.0, 2.0]
    for k, lg in enumerate(logits):
        maps[0, 0, 6, 3 + 6 * k] = lg
    probs = torch.sigmoid(torch.tensor(logits)).numpy()
    every = decode_3dml(maps, torch.tensor([9.0]))
    assert sorted(every["probability"]) == pytest.approx(sorted(probs), abs=1e-3)  # isolated: support = peak
    for cut in (0.0, 0.3, 0.5, 0.74, 0.9):
        cols = decode_3dml(maps, torch.tensor([9.0]), min_probability=cut)
        assert len(cols["z"]) == int(np.sum(every["probability"] >= cut)), cut
        assert np.all(cols["probability"] >= cut)
    # the count network's top-N comes first, then the cutoff
    cols = decode_3dml(maps, torch.tensor([2.0]), min_probability=0.9)
    assert len(cols["z"]) == 1 and cols["probability"][0] == pytest.approx(probs[0], abs=1e-3)


def test_weighted_subpixel_averages_the_agreeing_neighbours():
    out = _maps(at=())
    out[0, 0, 5, 5], out[0, 2, 5, 5], out[0, 3, 5, 5] = 3.0, 0.4, 0.0     # estimate (5.4, 5.0)
    out[0, 0, 6, 5], out[0, 2, 6, 5], out[0, 3, 6, 5] = 1.0, -0.4, 0.2    # estimate (5.6, 5.2): agrees
    out[0, 0, 5, 4], out[0, 2, 5, 4], out[0, 3, 5, 4] = 0.5, 0.0, -0.9    # estimate (5.0, 3.1): another bubble
    p = torch.sigmoid(torch.tensor([3.0, 1.0]))
    cols = decode_mblnet(out, torch.ones(1), threshold=0.5)
    mx = decode_mblnet(out, torch.ones(1), threshold=0.5, subpixel="max")
    assert (mx["z"][0], mx["x"][0]) == pytest.approx((5.4, 5.0))
    # the background pixels (offset 0) all lie further than 0.75 px from (5.4, 5.0)
    wz = (p[0] * 5.4 + p[1] * 5.6) / (p[0] + p[1])
    wx = (p[0] * 5.0 + p[1] * 5.2) / (p[0] + p[1])
    assert cols["z"][0] == pytest.approx(float(wz), abs=1e-4) and cols["x"][0] == pytest.approx(float(wx), abs=1e-4)
    with pytest.raises(ValueError, match="subpixel"):
        decode_mblnet(out, torch.ones(1), subpixel="centroid")


def test_training_scores_use_the_metrics_matcher():
    """nn has no matcher of its own: training and calibration pool pyulm.metrics.match."""
    import pyulm.nn.calibrate
    import pyulm.nn.train
    from pyulm.metrics import pooled_scores

    assert pyulm.nn.train.pooled_scores is pooled_scores and pyulm.nn.calibrate.pooled_scores is pooled_scores
    gt = np.array([[1.3, 1.4, 0], [5.0, 6.5, 0], [2.0, 2.0, 1]])
    pred = np.array([[1.0, 1.0, 0], [5.0, 5.0, 0], [9.0, 9.0, 1]])
    s = detection_scores(match(gt, pred, 1.0))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 2, 2)
    assert s["mean_error"] == pytest.approx(0.5) and s["f1"] == pytest.approx(2 / 6)


# -- training, model directories, inference ------------------------------------

def test_training_writes_model_directory(tiny_models):
    d = tiny_models["mblnet"]
    for f in ("weights.pt", "config.json", "SHA256SUMS", "train.toml", "metrics.json", "README.md", "log.jsonl"):
        assert (d / f).is_file(), f
    listed = dict(reversed(line.split()) for line in (d / "SHA256SUMS").read_text().splitlines())
    assert listed == {f.name: sha256(f) for f in d.iterdir() if f.is_file() and f.name != "SHA256SUMS"}
    log = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2] and all("f1" in r["val"] for r in log)
    cfg = parse_config(__import__("tomllib").loads((d / "train.toml").read_text()))  # written config re-reads
    assert cfg["model"]["width"] == 4


def test_resume_reproduces_uninterrupted_run(tiny_models, tmp_path):
    class Stop(Exception):
        pass

    def stop_in_epoch_2(msg):
        if msg.startswith("epoch 2/2 step"):
            raise Stop

    cfg = load_config(tiny_models["root"] / "mbl.toml")
    with pytest.raises(Stop):
        train("mblnet", cfg, tmp_path, log=stop_in_epoch_2)
    train("mblnet", cfg, tmp_path, resume=True, log=_quiet)
    a = torch.load(tmp_path / "weights.pt", weights_only=True)
    b = torch.load(tiny_models["mblnet"] / "weights.pt", weights_only=True)
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_bad_training_configs(tmp_path):
    with pytest.raises(ValueError, match=r"\[train\].*unknown field.*'epoch'"):
        parse_config({"train": {"epoch": 3}})
    with pytest.raises(ValueError, match=r"fwhm: expected a range"):
        parse_config({"data": {"fwhm": [6, 2]}})
    with pytest.raises(ValueError, match="frames_per_sim"):
        train("3dml", parse_config({"model": {"clip": 3}, "train": {"frames_per_sim": 4}}), tmp_path)
    p = tmp_path / "bad.toml"
    p.write_text("seed = [")
    with pytest.raises(ValueError, match="invalid TOML"):
        load_config(p)


@pytest.mark.parametrize("method", ["mblnet", "3dml"])
def test_localize_with_user_weights(tiny_models, method):
    sim = _sim(nt=4)
    locs = pyulm.localize(sim.iq, method, number_of_particles=3, weights=str(tiny_models[method]))
    assert {"probability"} <= set(locs.columns)
    assert np.all(np.bincount(locs.frame, minlength=4) <= 3)
    assert set(np.unique(locs.frame)) <= set(range(4))
    same = pyulm.localize(sim.iq, method, number_of_particles=3, weights=tiny_models[method] / "weights.pt")
    assert np.array_equal(locs.z, same.z)


def test_3dml_frames_fewer_and_more_than_clip(tiny_models):
    sim = _sim(nt=11, n=8, seed=5)
    w = tiny_models["3dml"]
    full = pyulm.localize(sim.iq, "3dml", number_of_particles=50, weights=w)
    assert set(np.unique(full.frame)) <= set(range(11))
    short = pyulm.localize(sim.iq[:, :, :2], "3dml", number_of_particles=50, weights=w)
    assert set(np.unique(short.frame)) <= {0, 1}


def test_pala_ulm_localization2d_with_network(tiny_models):
    from pyulm.pala import ULM_localization2D

    sim = _sim(nt=3)
    ULM = {"numberOfParticles": 4, "fwhm": [3, 3], "LocMethod": "mblnet",
           "parameters": {"weights": str(tiny_models["mblnet"]), "threshold": 0.3}}
    out = ULM_localization2D(sim.iq, ULM)
    assert out.shape[1] == 4 and out.dtype == np.float32
    assert out[:, 3].min() >= 1 and out[:, 3].max() <= 3  # 1-based frames
    assert np.all(np.diff(out[:, 3]) >= 0)


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _write_config(d, cfg):
    """Edit a model's config.json as its author would: the checksums are rewritten."""
    (d / "config.json").write_text(json.dumps(cfg))
    write_checksums(d)


def test_errors_name_file_and_problem(tiny_models, tmp_path):
    frames = _sim(nt=2).iq
    mbl, d3 = tiny_models["mblnet"], tiny_models["3dml"]
    with pytest.raises(FileNotFoundError, match="nowhere.*do not exist"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=tmp_path / "nowhere")
    with pytest.raises(ValueError, match=r"describes a '3dml' model, not 'mblnet'"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=d3)
    corrupt = _copy(mbl, tmp_path / "corrupt")
    (corrupt / "weights.pt").write_bytes(b"not a torch file" * 10)
    with pytest.raises(ValueError, match=r"corrupt/weights\.pt does not match its checksum"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=corrupt)
    write_checksums(corrupt)
    with pytest.raises(ValueError, match=r"weights\.pt cannot be read as torch weights"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=corrupt)
    old = _copy(mbl, tmp_path / "old")
    cfg = json.loads((old / "config.json").read_text())
    cfg["format_version"] = 99
    _write_config(old, cfg)
    with pytest.raises(ValueError, match=r"config\.json has format_version 99"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=old)
    other = _copy(mbl, tmp_path / "other")
    cfg = json.loads((other / "config.json").read_text())
    cfg["model"]["width"] = 6
    _write_config(other, cfg)
    with pytest.raises(ValueError, match=r"other/weights\.pt do not fit the mblnet network"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=other)
    noconf = _copy(mbl, tmp_path / "noconf")
    (noconf / "config.json").unlink()
    write_checksums(noconf)
    with pytest.raises(FileNotFoundError, match=r"noconf/config\.json is missing"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=noconf)
    with pytest.raises(ValueError, match=r"frames too small: \(z, x\) = \(5, 40\).*weights\.pt"):
        pyulm.localize(frames[:5], "mblnet", number_of_particles=3, weights=mbl)
    bad = frames.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        pyulm.nn.mblnet(bad, weights=mbl)
    with pytest.raises(ValueError, match="NaN or Inf"):
        pyulm.localize(bad, "3dml", number_of_particles=3, weights=d3)
    with pytest.raises(ValueError, match=r"^treshold: localization method 'mblnet' has no option 'treshold' \(did you mean threshold\?\)"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=mbl, treshold=0.3)
    with pytest.raises(ValueError, match="threshold"):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=mbl, threshold=1.5)
    badthr = _copy(mbl, tmp_path / "badthr")
    cfg = json.loads((badthr / "config.json").read_text())
    cfg["decode"] = {"threshold": 2}
    _write_config(badthr, cfg)
    with pytest.raises(ValueError, match=r"badthr/config\.json: \"decode\""):
        pyulm.localize(frames, "mblnet", number_of_particles=3, weights=badthr)


def test_mblnet_default_threshold_comes_from_model_config(tiny_models, tmp_path, monkeypatch):
    import pyulm.nn.inference as inf

    mbl = tiny_models["mblnet"]
    cfg = json.loads((mbl / "config.json").read_text())
    metrics = json.loads((mbl / "metrics.json").read_text())
    assert cfg["decode"]["threshold"] == metrics["decode_threshold_calibration"]["threshold"]
    seen = []
    real = inf.decode_mblnet

    def spy(*a, **k):
        seen.append(k["threshold"])
        return real(*a, **k)

    monkeypatch.setattr(inf, "decode_mblnet", spy)
    sim = _sim(nt=2, n=10)
    d = _copy(mbl, tmp_path / "t")
    cfg["decode"] = {"threshold": 0.123}
    _write_config(d, cfg)
    pyulm.localize(sim.iq, "mblnet", number_of_particles=100, weights=d)
    pyulm.localize(sim.iq, "mblnet", number_of_particles=100, weights=d, threshold=0.7)
    del cfg["decode"]
    _write_config(d, cfg)
    pyulm.localize(sim.iq, "mblnet", number_of_particles=100, weights=d)
    assert seen == [0.123, 0.7, 0.5]


def _with_decode(src, dst, decode):
    d = _copy(src, dst)
    cfg = json.loads((d / "config.json").read_text())
    cfg["decode"] = decode
    _write_config(d, cfg)
    return d


def test_decode_options_default_to_model_config_and_keywords_override(tiny_models, tmp_path, monkeypatch):
    import pyulm.nn.inference as inf

    seen = []
    real_m, real_3 = inf.decode_mblnet, inf.decode_3dml

    def spy_m(*a, **k):
        seen.append(("mblnet", k["max_sigma"], k["subpixel"]))
        return real_m(*a, **k)

    def spy_3(*a, **k):
        seen.append(("3dml", k["min_probability"], k["subpixel"]))
        return real_3(*a, **k)

    monkeypatch.setattr(inf, "decode_mblnet", spy_m)
    monkeypatch.setattr(inf, "decode_3dml", spy_3)
    sim = _sim(nt=3, n=10)
    table = {"density": [0.2, 1.0], "cutoff": [0.3, 0.6]}
    m = _with_decode(tiny_models["mblnet"], tmp_path / "m", {"threshold": 0.3, "max_sigma": table, "subpixel": "max"})
    d = _with_decode(tiny_models["3dml"], tmp_path / "d", {"min_probability": 0.25})
    pyulm.localize(sim.iq, "mblnet", number_of_particles=50, weights=m)
    pyulm.localize(sim.iq, "mblnet", number_of_particles=50, weights=m, max_sigma=0.45, subpixel="weighted")
    pyulm.localize(sim.iq, "mblnet", number_of_particles=50, weights=tiny_models["mblnet"])  # no decode section
    pyulm.localize(sim.iq, "3dml", number_of_particles=50, weights=d)
    pyulm.localize(sim.iq, "3dml", number_of_particles=50, weights=d, min_probability=0.0)
    got = {(a, json.dumps(b), c) for a, b, c in seen}
    assert got == {("mblnet", json.dumps(table), "max"), ("mblnet", "0.45", "weighted"),
                   ("mblnet", "null", "weighted"), ("3dml", "0.25", "weighted"), ("3dml", "0.0", "weighted")}
    # and the cutoff is applied: a tight cutoff from config.json keeps a subset of the loose one's detections
    monkeypatch.undo()
    loose = pyulm.localize(sim.iq, "mblnet", number_of_particles=10 ** 6, weights=m, max_sigma=math.inf)
    s = np.hypot(loose["sigma_z"], loose["sigma_x"])
    cut = float(np.median(s))
    tight_dir = _with_decode(tiny_models["mblnet"], tmp_path / "t", {"threshold": 0.3, "max_sigma": cut,
                                                                     "subpixel": "max"})
    tight = pyulm.localize(sim.iq, "mblnet", number_of_particles=10 ** 6, weights=tight_dir)
    assert len(tight) == int(np.sum(s <= cut)) and 0 < len(tight) < len(loose)


@pytest.mark.parametrize("method, kw, msg", [
    ("mblnet", {"max_sigma": 0}, r"mblnet: max_sigma: .*number in \(0, inf\], got 0"),
    ("mblnet", {"max_sigma": -0.3}, r"max_sigma: .*\(0, inf\]"),
    ("mblnet", {"max_sigma": "0.3"}, r"max_sigma: .*got '0.3'"),
    ("mblnet", {"max_sigma": {"density": [1.0, 0.5], "cutoff": [0.3, 0.4]}}, r"max_sigma: table densities .*increasing"),
    ("mblnet", {"max_sigma": {"density": [0.5], "cutoff": [0.3, 0.4]}}, r"max_sigma: a density table must be"),
    ("mblnet", {"max_sigma": {"density": [0.5], "cutoff": [float("nan")]}}, r"max_sigma: every table cutoff"),
    ("mblnet", {"threshold": 0}, r"mblnet: threshold: expected a number in \(0, 1\), got 0"),
    ("mblnet", {"subpixel": "centroid"}, r"mblnet: subpixel: expected one of 'weighted', 'max', got 'centroid'"),
    ("3dml", {"min_probability": 1.0}, r"3dml: min_probability: .*number in \[0, 1\), got 1.0"),
    ("3dml", {"min_probability": -0.1}, r"min_probability: .*\[0, 1\)"),
    ("3dml", {"min_probability": True}, r"min_probability: .*got True"),
    ("3dml", {"max_sigma": 0.3}, r"^max_sigma: localization method '3dml' has no option 'max_sigma'.*accepts: batch_size, device, min_probability"),
    ("mblnet", {"min_probability": 0.3}, r"^min_probability: localization method 'mblnet' has no option 'min_probability'"),
])
def test_bad_decode_options_raise_clear_errors(tiny_models, method, kw, msg):
    with pytest.raises(ValueError, match=msg):
        pyulm.localize(_sim(nt=2).iq, method, number_of_particles=3, weights=tiny_models[method], **kw)


@pytest.mark.parametrize("method, decode, msg", [
    ("mblnet", {"max_sigma": 0.0}, r"m/config\.json: \"decode\"\.max_sigma: .*\(0, inf\]"),
    ("mblnet", {"max_sigma": None}, r"\"decode\"\.max_sigma: null"),
    ("mblnet", {"subpixel": 3}, r"\"decode\"\.subpixel: expected one of"),
    ("mblnet", {"treshold": 0.3}, r"\"decode\"\.treshold: the mblnet decode section has no option 'treshold' \(did you mean threshold\?\); it accepts: max_sigma, subpixel, threshold"),
    ("3dml", {"min_probability": {"density": [0, 1], "cutoff": [0.2, 1.2]}}, r"\"decode\"\.min_probability: every table"),
    ("3dml", {"threshold": 0.4}, r"\"decode\"\.threshold: the 3dml decode section has no option 'threshold'; it accepts: min_probability, subpixel"),
    ("3dml", [0.3], r"m/config\.json: \"decode\" must be an object"),
])
def test_bad_decode_settings_in_config_name_the_file(tiny_models, tmp_path, method, decode, msg):
    d = _with_decode(tiny_models[method], tmp_path / "m", decode)
    with pytest.raises(ValueError, match=msg):
        pyulm.localize(_sim(nt=2).iq, method, number_of_particles=3, weights=d)


def _tiny_calibration(arch, weights, **kw):
    from pyulm.nn.calibrate import calibrate

    args = dict(densities=(0.5, 2.0), conditions=((3.0, 20.0),), shape=(32, 32), n_frames=3, repeats=1,
                grid=[None, 0.9, 0.6, 0.4, 0.3, 0.2] if arch == "mblnet" else [None, 0.2, 0.4, 0.6, 0.8],
                objective="error", log=_quiet)
    args.update(kw)
    return calibrate(arch, weights, **args)


@pytest.mark.parametrize("arch", ["mblnet", "3dml"])
def test_calibrate_is_deterministic_and_uses_validation_data_only(monkeypatch, arch):
    import pyulm.nn.calibrate as cal

    seeds = []
    real_ss = np.random.SeedSequence

    def spy_ss(entropy=None, *a, **k):
        seeds.append(entropy)
        return real_ss(entropy, *a, **k)

    def no_test(seed, namespace, index):
        raise AssertionError(f"calibration drew from seed namespace {namespace}")

    monkeypatch.setattr(cal.np.random, "SeedSequence", spy_ss)
    monkeypatch.setattr(D, "seed_for", no_test)
    a = _tiny_calibration(arch, None)  # the shipped model, a tiny protocol
    monkeypatch.undo()
    b = _tiny_calibration(arch, None)
    assert json.dumps(a["decode"]) == json.dumps(b["decode"]) and json.dumps(a["levels"]) == json.dumps(b["levels"])
    assert seeds and all(isinstance(s, list) and s[1] == D.VALIDATION and s[2] == cal.CALIBRATION_KEY for s in seeds)
    assert len(seeds) == 2  # 2 densities x 1 condition x 1 repeat
    seed = load_config(SHIPPED / arch / "train.toml")["seed"]
    assert a["protocol"]["seed"] == seed and a["protocol"]["namespace"] == D.VALIDATION
    param = "max_sigma" if arch == "mblnet" else "min_probability"
    assert a["parameter"] == param and a["decode"]["subpixel"] in ("weighted", "max")
    # the rule: each level's cutoff is the loosest grid value within the budget, or tighter
    grid = [None, 0.9, 0.6, 0.4, 0.3, 0.2] if arch == "mblnet" else [None, 0.2, 0.4, 0.6, 0.8]
    for lv, rows in zip(a["levels"], a["curves"]["rows_per_density"]):
        assert lv["budget"] == pytest.approx(lv["reference"]["mean_error"] - 0.01, abs=1e-4)
        within = [i for i, r in enumerate(rows) if r[4] == r[4] and r[4] <= lv["budget"] + 1e-4]
        if within:
            assert grid.index(lv["cutoff"]) >= within[0]
        assert lv["met"] == (lv["calibrated"]["mean_error"] <= lv["budget"] + 1e-9)


def test_calibrate_rule_follows_the_budget():
    # an impossible budget (margin of 10 px) takes the tightest cutoff; a generous one (margin -10 px) none
    strict = _tiny_calibration("mblnet", None, margin=10.0, subpixel="max")
    assert all(lv["cutoff"] == 0.2 and not lv["met"] for lv in strict["levels"])
    lax = _tiny_calibration("mblnet", None, margin=-10.0, subpixel="max")
    assert all(lv["cutoff"] is None and lv["met"] for lv in lax["levels"])
    assert "max_sigma" not in lax["decode"] and lax["decode"]["subpixel"] == "max"
    # one density (the table is a constant, nothing to re-check): exactly the loosest grid value within the budget
    for density in (0.5, 2.0):
        one = _tiny_calibration("mblnet", None, densities=(density,))
        (lv,), (rows,) = one["levels"], one["curves"]["rows_per_density"]
        within = [r[0] for r in rows if r[4] <= lv["budget"] + 5e-5]  # none: the tightest value, not met
        assert lv["cutoff"] == (within[0] if within else rows[-1][0]) and lv["met"] == bool(within)
    with pytest.raises(ValueError, match="grid: max_sigma"):
        _tiny_calibration("mblnet", None, grid=[None, -1.0])
    with pytest.raises(ValueError, match="densities"):
        _tiny_calibration("mblnet", None, densities=(1.0, 0.5))


def test_calibrate_model_dir_writes_config_read_at_inference(tiny_models, tmp_path, monkeypatch):
    from pyulm.nn.calibrate import calibrate_model_dir

    d = _copy(tiny_models["mblnet"], tmp_path / "m")
    thr = json.loads((d / "config.json").read_text())["decode"]["threshold"]
    before = {f.name: f.read_bytes() for f in d.iterdir()}
    kw = dict(densities=(0.5, 2.0), conditions=((3.0, 20.0),), shape=(32, 32), n_frames=3, repeats=1,
              grid=[None, 0.5, 0.3, 0.1], margin=10.0, objective="error")
    # an impossible budget forces the tightest cutoff, which loses most detections: not written
    lines = []
    refused = calibrate_model_dir(str(d), write=True, log=lines.append, **kw)
    assert refused["written"] is False and "lose most detections" in refused["refused"]
    assert any(line.startswith("NOT written") for line in lines)
    assert {f.name: f.read_bytes() for f in d.iterdir()} == before  # the model directory is untouched
    result = calibrate_model_dir(str(d), write=True, log=_quiet, min_recall_kept=0.0, **kw)
    assert result["written"] is True
    load_model("mblnet", d, "cpu")  # the rewritten directory still verifies (SHA256SUMS refreshed)
    cfg = json.loads((d / "config.json").read_text())
    assert cfg["decode"]["threshold"] == thr  # kept
    assert cfg["decode"]["max_sigma"] == result["decode"]["max_sigma"] and cfg["decode"]["subpixel"] == result["decode"]["subpixel"]
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["decode_cutoff_calibration"]["decode"] == result["decode"]
    import pyulm.nn.inference as inf

    seen = []
    real = inf.decode_mblnet
    monkeypatch.setattr(inf, "decode_mblnet", lambda *a, **k: seen.append(k["max_sigma"]) or real(*a, **k))
    pyulm.localize(_sim(nt=2).iq, "mblnet", number_of_particles=5, weights=d)
    assert seen == [result["decode"]["max_sigma"]]


@pytest.mark.parametrize("name, param", [("mblnet", "max_sigma"), ("3dml", "min_probability")])
def test_shipped_decode_settings_come_from_a_calibration(name, param):
    d = SHIPPED / name
    cfg = json.loads((d / "config.json").read_text())["decode"]
    cal = json.loads((d / "metrics.json").read_text())["decode_cutoff_calibration"]
    assert cal["weights_sha256"] == sha256(d / "weights.pt")
    assert cal["decode"] == {k: v for k, v in cfg.items() if k != "threshold" or k in cal["decode"]}
    assert cal["protocol"]["namespace"] == D.VALIDATION
    if cal.get("objective", "error") == "error":
        assert all(lv["met"] for lv in cal["levels"])


def test_cli_train(tmp_path, capsys):
    from pyulm.cli import main

    cfg = tmp_path / "c.toml"
    cfg.write_text(TINY_3D)
    assert main(["train", "3dml", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert "held-out test F1" in capsys.readouterr().out
    assert (tmp_path / "o" / "weights.pt").is_file()
    # the command recorded is the one parsed, not the host's argv (pytest's here)
    recorded = json.loads((tmp_path / "o" / "metrics.json").read_text())["training_command"]
    assert recorded == f"pyulm train 3dml --config {cfg} --out {tmp_path / 'o'} --quiet"
    assert main(["train", "mblnet", "--config", str(tmp_path / "none.toml"), "--out", str(tmp_path / "p")]) == 2
    assert "none.toml does not exist" in capsys.readouterr().err


# -- shipped models -------------------------------------------------------------

@pytest.mark.parametrize("name", ["mblnet", "3dml"])
def test_shipped_model_directory(name):
    d = SHIPPED / name
    w = d / "weights.pt"
    assert w.stat().st_size < 10 * 2 ** 20
    listed = dict(reversed(line.split()) for line in (d / "SHA256SUMS").read_text().splitlines())
    assert listed == {f.name: sha256(f) for f in d.iterdir() if f.name != "SHA256SUMS"}  # every file, all current
    metrics = json.loads((d / "metrics.json").read_text())
    assert metrics["architecture"] == name and "training_command" in metrics
    assert {"precision", "recall", "f1", "mean_error"} <= set(metrics["held_out_test"])
    assert load_config(d / "train.toml")["seed"] >= 0


@pytest.mark.parametrize("name", ["mblnet", "3dml"])
def test_shipped_model_finds_isolated_bubbles(name):
    sim = free_motion((48, 48), n_frames=6, n_bubbles=8, psf_fwhm=(3, 3.5), snr_db=20, seed=123)
    locs = pyulm.localize(sim.iq, name, number_of_particles=30)
    m = detection_scores(match(sim.gt, locs, 1.0))
    assert m["f1"] > 0.8, m
    assert m["mean_error"] < 0.35, m


# -- model directories refuse what they cannot vouch for (issue 13) -------------------------

def test_checksums_cover_every_file_of_the_model(tiny_models, tmp_path):
    mbl = tiny_models["mblnet"]
    load_model("mblnet", mbl, "cpu")  # the trained directory verifies
    for name in ("config.json", "train.toml", "README.md"):
        d = _copy(mbl, tmp_path / name.replace(".", "_"))
        (d / name).write_text((d / name).read_text() + " ")
        with pytest.raises(ValueError, match=rf"{d.name}/{name.replace('.', '[.]')} does not match its checksum"):
            load_model("mblnet", d, "cpu")
    extra = _copy(mbl, tmp_path / "extra")
    (extra / "notes.txt").write_text("added later")
    with pytest.raises(ValueError, match=r"extra/notes\.txt is not covered by .*SHA256SUMS"):
        load_model("mblnet", extra, "cpu")
    (extra / "notes.txt").unlink()
    (extra / ".DS_Store").write_text("OS litter is not part of the model")
    load_model("mblnet", extra, "cpu")
    gone = _copy(mbl, tmp_path / "gone")
    (gone / "train.toml").unlink()
    with pytest.raises(ValueError, match=r"gone/train\.toml is listed in .* but missing"):
        load_model("mblnet", gone, "cpu")
    garbled = _copy(mbl, tmp_path / "garbled")
    (garbled / "SHA256SUMS").write_text("not a checksum line\n")
    with pytest.raises(ValueError, match=r"garbled/SHA256SUMS line 1"):
        load_model("mblnet", garbled, "cpu")


def test_missing_checksums_need_an_explicit_verify_false(tiny_models, tmp_path):
    d = _copy(tiny_models["mblnet"], tmp_path / "nosums")
    (d / "SHA256SUMS").unlink()
    with pytest.raises(ValueError, match=r"nosums/SHA256SUMS is missing.*verify=False"):
        load_model("mblnet", d, "cpu")
    with pytest.warns(UserWarning, match="WITHOUT verifying"):
        model = load_model("mblnet", d, "cpu", verify=False)
    assert model.architecture == "mblnet"


def test_non_finite_weights_are_refused(tiny_models, tmp_path):
    import torch

    d = _copy(tiny_models["3dml"], tmp_path / "nanw")
    state = torch.load(d / "weights.pt", weights_only=True)
    name = next(k for k, v in state.items() if v.is_floating_point())
    state[name] = torch.full_like(state[name], float("nan"))
    torch.save(state, d / "weights.pt")
    write_checksums(d)  # a consistent directory of a broken model
    with pytest.raises(ValueError, match=rf"nanw/weights\.pt hold NaN or Inf in '{name}'"):
        load_model("3dml", d, "cpu")


@pytest.mark.parametrize("field, value", [("width", 10 ** 6), ("head_width", 0), ("space_to_depth", 64),
                                          ("n_res", -1), ("width", 3.5), ("width", True)])
def test_config_sizes_are_bounded_before_any_allocation(tiny_models, tmp_path, monkeypatch, field, value):
    import pyulm.nn.models as M

    d = _copy(tiny_models["mblnet"], tmp_path / "huge")
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"][field] = value
    _write_config(d, cfg)
    built = []
    monkeypatch.setattr(M.MBLNet, "__init__", lambda self, *a: built.append(a) or None)
    with pytest.raises(ValueError, match=rf"huge/config\.json: invalid model sizes: MBLNetConfig\.{field}: "
                                         rf"expected a whole number in \["):
        load_model("mblnet", d, "cpu")
    assert built == []  # refused before any network was built


def test_recall_loss_guards_the_written_operating_point():
    from pyulm.nn.calibrate import MIN_RECALL_KEPT, recall_loss

    def levels(*pairs):
        return {"levels": [{"density": d, "cutoff": 0.3, "no_cutoff": {"recall": b}, "calibrated": {"recall": k}}
                           for d, (b, k) in zip((0.1, 0.5, 1.2), pairs)]}

    assert MIN_RECALL_KEPT == 0.5
    assert recall_loss(levels((0.9, 0.8), (0.8, 0.5))) is None
    assert "density 0.5" in recall_loss(levels((0.9, 0.8), (0.8, 0.3)))
    assert recall_loss(levels((0.0, 0.0), (float("nan"), float("nan")))) is None  # nothing to lose
    assert "density 0.1" in recall_loss(levels((0.9, float("nan"))))
    assert recall_loss(levels((0.9, 0.1)), min_kept=0.0) is None


# -- realistic scenes, F1 operating points, fine-tuning (issue 15) ---------------

def test_vessel_scenes_are_confined_deterministic_and_validated():
    from pyulm.nn.scenes import TRAIN_FAMILIES, draw_envelope
    from pyulm.nn.scenes_vessel import vessel_scene

    cfg = D.DataConfig.from_dict({"vessel_probability": 1.0, "psf_families": list(TRAIN_FAMILIES),
                                  "background_density": [0.0, 0.0], "n_vessels": [1, 1], "clutter_probability": 0.0})
    a = vessel_scene(cfg, 3, np.random.default_rng(4), in_vessel_density=6.0)
    b = vessel_scene(cfg, 3, np.random.default_rng(4), in_vessel_density=6.0)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1].z, b[1].z)
    iq, gt, info = a
    assert iq.shape == (64, 64, 3) and np.isfinite(iq).all() and len(gt) > 0
    assert gt.z.min() >= -0.5 and gt.z.max() < 63.5 and np.all(np.diff(gt.frame) >= 0)
    # confined: one vessel occupies a small part of the patch, so the bubbles cover few pixels
    occupied = np.unique(np.rint(gt.z).astype(int) * 64 + np.rint(gt.x).astype(int)).size
    assert occupied < 0.5 * 64 * 64
    for fam in TRAIN_FAMILIES:
        env = draw_envelope(cfg, np.random.default_rng(1), fam)
        assert env.family == fam and abs(env.fn(np.zeros(1), np.zeros(1))[0]) > 0.5
    with pytest.raises(ValueError, match="psf_families"):
        D.DataConfig.from_dict({"psf_families": ["pymust"]})  # a held-out family is never a training family
    with pytest.raises(ValueError, match="vessel_probability"):
        D.DataConfig.from_dict({"vessel_probability": 1.5})


def test_old_data_configs_draw_the_same_free_motion_data():
    cfg = D.DataConfig.from_dict({"patch": 24})  # no realistic-scene field: the format before issue 15
    iq, gt = D.draw(cfg, 3, D.seed_for(3, D.TRAIN, 0))
    sim = D.simulate(cfg, 3, D.seed_for(3, D.TRAIN, 0))
    assert np.array_equal(iq, sim.iq) and np.array_equal(gt.z, sim.gt.z)


def test_fine_tuning_starts_from_given_weights(tiny_models, tmp_path):
    raw = load_config(tiny_models["root"] / "mbl.toml")
    tc = raw["train"].__class__(**{**raw["train"].__dict__, "init": str(tiny_models["mblnet"]), "epochs": 1,
                                   "steps_per_epoch": 1})
    out = train("mblnet", {**raw, "train": tc}, tmp_path / "ft", log=_quiet)
    assert (out / "weights.pt").is_file()
    bad = raw["train"].__class__(**{**tc.__dict__, "init": str(tiny_models["3dml"])})
    with pytest.raises(ValueError, match=r"\[train\]\.init: .* does not fit"):
        train("mblnet", {**raw, "train": bad}, tmp_path / "ft2", log=_quiet)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        train("mblnet", {**raw, "train": raw["train"].__class__(**{**tc.__dict__, "init": str(tmp_path / "no")})},
              tmp_path / "ft3", log=_quiet)


@pytest.mark.parametrize("arch", ["mblnet", "3dml"])
def test_calibrate_f1_objective_picks_the_highest_f1(tiny_models, arch):
    from pyulm.nn.calibrate import calibrate
    from pyulm.nn.calibrate_f1 import THRESHOLDS

    grid = [None, 0.9, 0.6, 0.4, 0.3, 0.2] if arch == "mblnet" else [None, 0.2, 0.4, 0.6, 0.8]
    r = calibrate(arch, tiny_models[arch], densities=(1.0, 6.0), shape=(32, 32), n_frames=3, repeats=1,
                  conditions=((3.0, 20.0),), grid=grid, log=_quiet)
    assert r["objective"] == "f1" and "vessel_scene" in r["protocol"]["simulator"]
    assert (r["decode"].get("threshold") in THRESHOLDS) == (arch == "mblnet")
    for lv, rows in zip(r["levels"], r["curves"]["rows_per_density"]):
        f1 = [x[3] if x[3] == x[3] else 0.0 for x in rows]
        assert [x[3] for x in rows if x[0] == lv["cutoff"]][0] == pytest.approx(max(f1))
        assert "recall" in lv["calibrated"] and lv["met"] == (lv["calibrated"]["f1"] >= lv["reference"]["f1"])
    with pytest.raises(ValueError, match="objective"):
        calibrate(arch, tiny_models[arch], objective="precision", log=_quiet)


def test_3dml_count_network_runs_once_per_kept_frame(tiny_models):
    model = load_model("3dml", tiny_models["3dml"], "cpu")
    seen = []
    h = model.count.register_forward_hook(lambda m, i, o: seen.append(int(i[0].shape[0])))
    try:
        iq = _sim(nt=7).iq
        locs = pyulm.localize(iq, "3dml", number_of_particles=6, weights=tiny_models["3dml"])
    finally:
        h.remove()
    assert sum(seen) == 7 and len(locs) > 0
    # the counts equal those of the whole model's forward on each frame
    from pyulm.nn.inference import normalize_frames

    x, _ = normalize_frames(iq[:, :, :3])
    with torch.no_grad():
        _, counts = model(x.reshape(1, 3, 1, *x.shape[-2:]).permute(0, 2, 1, 3, 4))
        assert torch.allclose(counts[0], model.count(x))


def test_model_dirs_from_before_issue_15_still_load(tiny_models, tmp_path):
    # a user-trained directory of the earlier format: decode holds only the threshold and
    # train.toml has none of the realistic-scene fields -- it loads, decodes with the defaults
    d = _copy(tiny_models["mblnet"], tmp_path / "old")
    cfg = json.loads((d / "config.json").read_text())
    cfg["decode"] = {"threshold": 0.4}
    _write_config(d, cfg)
    toml = (d / "train.toml").read_text()
    assert "vessel_probability = 0.0" in toml  # written by this version: strip the new fields like an old file
    new = ("vessel_probability", "psf_families", "f_number", "bandwidth", "in_vessel_density", "n_vessels",
           "vessel_radius", "curvature", "background_density", "intensity_spread", "tissue_db", "noise_corr",
           "rf_probability", "init")
    old_toml = "\n".join(line for line in toml.splitlines() if line.split(" = ")[0] not in new)
    (d / "train.toml").write_text(old_toml)
    write_checksums(d)
    assert load_config(d / "train.toml")["data"].vessel_probability == 0.0
    locs = pyulm.localize(_sim(nt=2).iq, "mblnet", number_of_particles=5, weights=d)
    assert len(locs) > 0


@pytest.mark.parametrize("raw, match", [
    ({"seed": 1, "dta": {}}, r"unknown key\(s\) \['dta'\]; expected seed, architecture, \[model\], \[data\], \[train\]"),
    ({"seed": -1}, "seed: expected a whole number >= 0"),
    ({"seed": True}, "seed: expected a whole number >= 0"),
    ({"data": 3}, r"\[data\] must be a table"),
])
def test_every_trainer_checks_the_config_top_level_alike(raw, match):
    """One check of a training config's top level (pyulm.nn.configcheck) for every trainer."""
    from pyulm.nn.configcheck import top_level
    from pyulm.nn.train import parse_config

    with pytest.raises(ValueError, match=match):
        top_level(raw, "cfg.toml", ("seed", "architecture"), ("model", "data", "train"))
    with pytest.raises(ValueError, match=match):
        parse_config(raw, "cfg.toml")
    assert top_level({"seed": 7, "model": {}}, "cfg.toml", ("seed",), ("model",)) == 7


def test_select_mblnet_breaks_probability_ties_by_intensity():
    """The per-frame cap keeps the most probable candidates; probabilities are capped at 1, so equal ones go
    brightest first (as PALA keeps the brightest maxima), whatever their order in the table."""
    from pyulm.nn.decode import select_mblnet

    cols = {"frame": np.array([0, 0, 0, 1, 1]), "probability": np.array([1.0, 1.0, 0.9, 1.0, 1.0]),
            "intensity": np.array([2.0, 5.0, 9.0, 7.0, 3.0]), "sigma_z": np.zeros(5), "sigma_x": np.zeros(5),
            "z": np.arange(5.0)}
    kept = select_mblnet(cols, np.zeros(2), max_per_frame=1)
    assert kept["z"].tolist() == [1.0, 3.0]  # frame 0: the brighter of the two at 1, not the first; frame 1: first
    kept = select_mblnet(cols, np.zeros(2), max_per_frame=2)
    assert kept["z"].tolist() == [1.0, 0.0, 3.0, 4.0]  # the more probable before the brighter (0.9, 9.0 dropped)
