"""MB-DT (CycleULM's domain translator): networks, domains, training, model directories, translate, CLI.

Tiny networks and a few steps: the whole file runs in well under a minute on one core.
"""
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pyulm  # noqa: E402
from pyulm.nn import translate  # noqa: E402
from pyulm.nn.cycleulm import MBDTConfig, ceus_acquisition, train_mbdt  # noqa: E402
from pyulm.nn.cycleulm.mbdt_domain import (context_stack, domain_b_fwhm, estimate_data_psf,  # noqa: E402
                                           mb_only_patches, normalize_frames)
from pyulm.nn.cycleulm.mbdt_model import build_cycle  # noqa: E402
from pyulm.nn.weights_io import verify_checksums  # noqa: E402

TINY = {"seed": 3, "model": {"width": 4, "disc_width": 4},
        "data": {"patch": 16, "validation_fraction": 0.2},
        "train": {"epochs": 2, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0,
                  "device": "cpu"}}
TINY_TOML = """seed = 3
[model]
width = 4
disc_width = 4
[data]
patch = 16
validation_fraction = 0.2
svd_cutoff = 4
psf_fwhm = [3.5, 4.5]
[train]
epochs = 1
steps_per_epoch = 2
batch = 2
val_patches = 2
max_minutes = 0
restarts = 0
device = "cpu"
"""


def quiet(_msg):
    pass


@pytest.fixture(scope="module")
def acq():
    return ceus_acquisition("medium", shape=(48, 40), n_frames=24, seed=1001)


@pytest.fixture(scope="module")
def model_dir(acq, tmp_path_factory):
    return train_mbdt(acq.iq, tmp_path_factory.mktemp("mbdt") / "m", config=TINY, log=quiet)


def test_generator_and_discriminator_shapes():
    nets = build_cycle(MBDTConfig(width=4, disc_width=4))
    a, b = torch.rand(2, 3, 40, 40), torch.rand(2, 1, 40, 40)
    assert nets["G_AB"](a).shape == (2, 1, 40, 40)
    assert nets["G_BA"](b).shape == (2, 3, 40, 40)
    assert nets["D_A"](a).shape[:2] == (2, 1) and nets["D_A"](a).shape[2] > 1  # a grid of scores (PatchGAN)
    assert nets["D_B"](b).shape == nets["D_A"](a).shape
    y = nets["G_AB"].eval()(a)
    assert float(y.detach().min()) >= 0 and float(y.detach().max()) <= 1  # clipped to [0, 1] for use
    nets["G_AB"].train()
    x = torch.linspace(-3, 3, 7).reshape(1, 1, 1, 7).requires_grad_(True)
    from pyulm.nn.cycleulm.mbdt_model import _soft_clamp
    _soft_clamp(x, True).sum().backward()
    assert torch.all(x.grad > 0)  # leaky while training: the gradient never vanishes


def test_generator_architecture_matches_the_paper():
    g = build_cycle(MBDTConfig())["G_AB"]
    assert g.enc1[0][0].in_channels == 3 and g.head.out_channels == 1
    assert (g.pool.kernel_size, g.pool.stride) == (4, 2)
    calls = []
    g.pool.register_forward_hook(lambda m, i, o: calls.append((i[0].shape[-1], o.shape[-1])))
    g(torch.rand(1, 3, 40, 40))
    assert calls == [(40, 20), (20, 10)]  # two down-sampling layers, each halving
    convs = [m for m in g.res.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 2 and all(c.kernel_size == (3, 3) for c in convs)  # residual block of two convs
    for up in (g.up2, g.up1):
        assert up.up[0].kernel_size == (3, 3)  # bilinear x2, then a 3 x 3 convolution
    g_ba = build_cycle(MBDTConfig())["G_BA"]
    assert g_ba.enc1[0][0].in_channels == 1 and g_ba.head.out_channels == 3
    weights_mb = sum(p.numel() for p in build_cycle(MBDTConfig()).parameters()) * 4 / 2 ** 20
    assert weights_mb < 10


def test_domain_a_normalisation_and_edge_rule():
    rng = np.random.default_rng(0)
    iq = (rng.standard_normal((6, 5, 4)) + 1j * rng.standard_normal((6, 5, 4))).astype(np.complex64)
    before = iq.copy()
    amp = normalize_frames(iq)
    np.testing.assert_array_equal(iq, before)
    np.testing.assert_allclose(amp.max(axis=(0, 1)), 1.0, rtol=1e-6)
    st = context_stack(amp, [0, 3], 3)
    assert st.shape == (2, 3, 6, 5)
    np.testing.assert_array_equal(st[0, 0], amp[:, :, 0])  # first frame repeats itself
    np.testing.assert_array_equal(st[1, 2], amp[:, :, 3])  # last frame repeats itself


def test_mb_only_patches_have_the_requested_psf():
    from pyulm.psf import fit_gaussian_2d

    p = mb_only_patches(np.random.default_rng(1), 1, 33, (2.0, 3.0), n_bubbles=(1, 1), intensity=(1, 1))[0]
    iz, ix = np.unravel_index(np.argmax(p), p.shape)
    fit = fit_gaussian_2d(p[max(iz - 6, 0):iz + 7, max(ix - 6, 0):ix + 7])
    assert np.allclose(fit["fwhm"], (2.0, 3.0), rtol=0.05)
    assert domain_b_fwhm([3.0, 5.0]) == [1.5, 2.5]


def test_model_dir_is_verifiable_and_domain_b_is_half_the_data_psf(model_dir, acq):
    verify_checksums(model_dir, "mbdt")
    cfg = json.loads((model_dir / "config.json").read_text())
    data_fwhm, b_fwhm = cfg["psf"]["data_fwhm"], cfg["psf"]["domain_b_fwhm"]
    assert b_fwhm == pytest.approx([0.5 * f for f in data_fwhm])
    assert np.allclose(data_fwhm, acq.psf_fwhm, rtol=0.3)  # fitted to the data's own bubbles
    assert cfg["architecture"] == "mbdt" and cfg["patch"] == 16 and cfg["seed"] == 3
    assert cfg["loss_weights"] == {"adversarial": 1.0, "cycle": 10.0, "similarity": 5.0, "cycle_noise": 0.05,
                                   "similarity_reblur": True, "bubble_weight": 0.0}
    state = torch.load(model_dir / "weights.pt", weights_only=True)
    assert all(torch.is_tensor(v) for v in state.values())
    for name in ("log.jsonl", "metrics.json", "README.md", "command.txt", "checkpoint.pt"):
        assert (model_dir / name).is_file()
    log = [json.loads(line) for line in (model_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and all(np.isfinite(r["val"]["g"]) for r in log)


def test_same_seed_same_weights_and_resume_continues(acq, model_dir, tmp_path):
    again = train_mbdt(acq.iq, tmp_path / "again", config=TINY, log=quiet)
    w1 = torch.load(model_dir / "weights.pt", weights_only=True)
    w2 = torch.load(again / "weights.pt", weights_only=True)
    assert all(torch.equal(w1[k], w2[k]) for k in w1)
    one = {**TINY, "train": {**TINY["train"], "epochs": 1}}
    part = train_mbdt(acq.iq, tmp_path / "part", config=one, log=quiet)
    assert json.loads((part / "config.json").read_text())["training"]["steps"] == 2
    lines = []
    train_mbdt(acq.iq, part, config=TINY, resume=True, log=lines.append)
    assert any(m.startswith("resumed at step 2") for m in lines)
    w3 = torch.load(part / "weights.pt", weights_only=True)
    assert all(torch.equal(w1[k], w3[k]) for k in w1)  # resumed == uninterrupted
    verify_checksums(part, "mbdt")


def test_translate_odd_sizes_deterministic_input_untouched(model_dir):
    rng = np.random.default_rng(2)
    iq = (rng.standard_normal((37, 29, 5)) + 1j * rng.standard_normal((37, 29, 5))).astype(np.complex64)
    before = iq.copy()
    y = translate(iq, model_dir, batch_size=2, check_psf=False)
    assert y.shape == (37, 29, 5) and y.dtype == np.float32 and np.all((y >= 0) & (y <= 1))
    np.testing.assert_array_equal(iq, before)
    np.testing.assert_array_equal(y, translate(iq, model_dir, batch_size=2, check_psf=False))
    # amplitude == IQ; another batch size may pick another convolution kernel (float32 rounding only)
    np.testing.assert_allclose(y, translate(np.abs(iq), model_dir, check_psf=False), atol=1e-6)


def _corrupt(src, dst, edit):
    import shutil

    shutil.copytree(src, dst)
    edit(dst)
    return dst


@pytest.mark.parametrize("case, pattern", [
    ("missing", "no such directory"),
    ("no_weights", "has no weights.pt"),
    ("corrupt", "does not match its checksum"),
    ("no_sums", "SHA256SUMS is missing"),
    ("foreign", "not an MB-DT translator"),
])
def test_translate_refuses_bad_weight_directories(model_dir, tmp_path, case, pattern):
    from pyulm.nn.weights_io import write_checksums

    frames = np.ones((16, 16, 3), np.float32)
    if case == "missing":
        d = tmp_path / "nope"
    elif case == "no_weights":
        d = _corrupt(model_dir, tmp_path / "d", lambda p: (p / "weights.pt").unlink())
    elif case == "corrupt":
        d = _corrupt(model_dir, tmp_path / "d", lambda p: (p / "weights.pt").write_bytes(b"garbage"))
    elif case == "no_sums":
        d = _corrupt(model_dir, tmp_path / "d", lambda p: (p / "SHA256SUMS").unlink())
    else:
        def foreign(p):
            cfg = json.loads((p / "config.json").read_text())
            cfg["architecture"] = "mblnet"
            (p / "config.json").write_text(json.dumps(cfg))
            write_checksums(p)
        d = _corrupt(model_dir, tmp_path / "d", foreign)
    with pytest.raises(ValueError, match=pattern):
        translate(frames, d)


@pytest.mark.parametrize("frames, pattern", [
    (np.ones((16, 16, 2)), "need t >= 3"),
    (np.ones((16, 16)), "3 axes"),
    (np.ones((4, 16, 16, 3)), "3 axes"),
    (np.full((16, 16, 4), np.nan), "NaN or Inf"),
    (np.array([["a"]], dtype=object), "numeric"),
])
def test_translate_refuses_bad_frames(model_dir, frames, pattern):
    with pytest.raises(ValueError, match=f"frames: .*{pattern}"):
        translate(frames, model_dir)


def test_translate_refuses_bad_batch_size(model_dir):
    with pytest.raises(ValueError, match="batch_size"):
        translate(np.ones((16, 16, 3)), model_dir, batch_size=0)


def test_translate_warns_when_the_psf_differs(model_dir):
    from pyulm.psf import gaussian_template

    frames = np.zeros((64, 64, 4), np.float32)
    for t in range(4):
        frames[10:41, 12:43, t] = gaussian_template((12, 12), (31, 31))
    with pytest.warns(UserWarning, match="PSF FWHM"):
        translate(frames, model_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        translate(frames, model_dir, check_psf=False)


def test_training_refuses_bad_input(acq, tmp_path):
    with pytest.raises(ValueError, match="unknown field"):
        train_mbdt(acq.iq, tmp_path / "x", config={"loss": {"cycles": 1}}, log=quiet)
    with pytest.raises(ValueError, match="patch"):
        train_mbdt(acq.iq[:10, :10], tmp_path / "x", config=TINY, log=quiet)
    with pytest.raises(ValueError, match="roi"):
        train_mbdt(acq.iq, tmp_path / "x", roi="0:100,0:10", config=TINY, log=quiet)
    with pytest.raises(ValueError, match="NaN"):
        bad = acq.iq.copy()
        bad[0, 0, 0] = np.nan
        train_mbdt(bad, tmp_path / "x", config=TINY, log=quiet)
    with pytest.raises(ValueError, match=r"no isolated bubble .* give \[data\].psf_fwhm"):
        train_mbdt(np.zeros((48, 40, 24)), tmp_path / "x", config=TINY, log=quiet)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        train_mbdt(acq.iq, tmp_path / "fresh", config=TINY, resume=True, log=quiet)


def test_cli_trains_on_a_pala_block(acq, tmp_path, capsys):
    from pyulm.cli import main

    block = acq.save_mat(tmp_path / "block.mat")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text(TINY_TOML)
    out = tmp_path / "model"
    assert main(["train", "mbdt", str(block), "--out", str(out), "--config", str(cfg), "--roi", "0:40,0:40"]) == 0
    verify_checksums(out, "mbdt")
    cmd = (out / "command.txt").read_text()
    assert (out / "train.toml").read_text() == TINY_TOML
    assert json.loads((out / "config.json").read_text())["psf"]["domain_b_fwhm"] == [1.75, 2.25]
    assert "done:" in capsys.readouterr().out and cmd.strip()
    assert main(["train", "mbdt", str(tmp_path / "missing.mat"), "--out", str(out)]) == 2
    assert "missing.mat does not exist" in capsys.readouterr().err
    cfg.write_text(TINY_TOML.replace("psf_fwhm = [3.5, 4.5]\n", ""))  # PSF fitted to the file's bubbles
    assert main(["train", "mbdt", str(block), "--out", str(tmp_path / "m2"), "--config", str(cfg)]) == 0
    fw = json.loads((tmp_path / "m2" / "config.json").read_text())["psf"]["data_fwhm"]
    assert np.allclose(fw, acq.psf_fwhm, rtol=0.3)


@pytest.mark.parametrize("method", ["radial", "wa", "ncc", "decon", "mblnet", "3dml"])
def test_every_localizer_runs_on_translated_frames(acq, model_dir, method):
    mb = translate(acq.iq[:, :, :8], model_dir, check_psf=False)
    cfg = json.loads((model_dir / "config.json").read_text())
    locs = pyulm.localize(mb, method=method, fwhm=tuple(max(2.0, f) for f in cfg["psf"]["domain_b_fwhm"]),
                          number_of_particles=10)
    assert isinstance(locs, pyulm.Localizations)
    assert np.all(np.isfinite(locs.z)) and np.all((locs.frame >= 0) & (locs.frame < 8))


def test_translator_info(model_dir, tmp_path):
    from pyulm.nn.cycleulm import translator_info

    info = translator_info(model_dir)
    cfg = json.loads((model_dir / "config.json").read_text())
    assert info["fwhm_mbonly"] == tuple(cfg["psf"]["domain_b_fwhm"]) and info["n_context"] == 3
    assert info["fwhm_data"] == tuple(cfg["psf"]["data_fwhm"]) and len(info["sha256"]) == 64
    with pytest.raises(ValueError, match="weights"):
        translator_info(tmp_path / "none")
