"""PgD (pyulm.nn.pgd): physics parameters, physics images, the conditional diffusion model,
its sampler, training, model directories and the shipped model. Tiny networks, few steps."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from pyulm.nn.pgd import physics as ph
from pyulm.nn.pgd.physics import PhysicsParams, normalise, sample_params, simulate_images

# --------------------------------------------------------------------------- parameters


def test_defaults_valid_and_in_range():
    p = PhysicsParams()
    assert p.out_of_range() == []
    assert p.effective_f_number == pytest.approx(max(1.0, 8.0 / 12.8))
    assert p.pixel_size_wavelengths == pytest.approx(0.05 / (1540 / 15625))


@pytest.mark.parametrize("bad", [
    {"center_frequency_mhz": -5.0}, {"center_frequency_mhz": 0}, {"n_elements": 0}, {"n_elements": 12.5},
    {"fractional_bandwidth": 2.5}, {"f_number": float("nan")}, {"pixel_size_mm": 0},
    {"n_angles": 1, "angle_span_deg": 10.0}, {"n_angles": 5, "angle_span_deg": 0.0}, {"angle_span_deg": 200.0},
    {"depth_mm": "deep"},
])
def test_impossible_parameters_raise_one_clear_error(bad):
    with pytest.raises(ValueError) as exc:
        PhysicsParams(**{"n_angles": 3, "angle_span_deg": 10.0, **bad})
    assert any(k in str(exc.value) for k in bad)


def test_out_of_range_names_parameter_and_range():
    msgs = PhysicsParams(center_frequency_mhz=30.0, n_elements=512).out_of_range()
    assert len(msgs) == 2 and "center_frequency_mhz = 30" in msgs[0] and "[5, 20]" in msgs[0]
    assert "n_elements" in msgs[1]


def test_from_dict_unknown_key_and_toml(tmp_path):
    with pytest.raises(ValueError, match="frequency.*did you mean center_frequency_mhz"):
        PhysicsParams.from_dict({"frequency": 7.6})
    f = tmp_path / "probe.toml"
    f.write_text("[physics]\ncenter_frequency_mhz = 7.6\nn_angles = 5\nangle_span_deg = 20.0\n")
    p = PhysicsParams.from_toml(f)
    assert p.center_frequency_mhz == 7.6 and p.angles_deg.tolist() == [-10, -5, 0, 5, 10]
    assert PhysicsParams.from_dict(p.to_dict()) == p
    f.write_text("[physics]\ncenter_frequency_mhz = 7.6\n[other]\nx = 1\n")
    with pytest.raises(ValueError, match="other"):
        PhysicsParams.from_toml(f)
    f.write_text("center_frequency_mhz = [")
    with pytest.raises(ValueError, match="invalid TOML"):
        PhysicsParams.from_toml(f)


def _workspace():
    trans = {"name": "L11-5v", "frequency": np.array([[7.8125]]), "Bandwidth": np.array([[4.5, 11.0]]),
             "spacingMm": np.array([[0.3]]), "numelements": np.array([[128.0]]), "units": "mm"}
    tw = [{"type": "parametric", "Parameters": np.array([[7.8125, 0.67, 4, 1]])}]
    tx = np.empty(5, dtype=object)
    for i, a in enumerate(np.deg2rad([-6, -3, 0, 3, 6])):
        tx[i] = {"waveform": np.array([[1.0]]), "Steer": np.array([[a, 0.0]]), "focus": 0.0}
    pdata = {"PDelta": np.array([[0.5, 0, 0.5]]), "Origin": np.array([[-64.0, 0, 20.0]]),
             "Size": np.array([[201.0, 256, 1]])}
    res = {"Parameters": {"speedOfSound": np.array([[1540.0]])}}
    return trans, tw, pdata, tx, res


def test_from_verasonics_reads_structs():
    trans, tw, pdata, tx, res = _workspace()
    p = PhysicsParams.from_verasonics(trans, tw, pdata, tx, res, f_number=1.5)
    wl = 1540 / 7812.5
    assert p.center_frequency_mhz == 7.8125 and p.pitch_mm == 0.3 and p.n_elements == 128
    assert p.fractional_bandwidth == pytest.approx(6.5 / 7.8125 / np.sqrt(2))
    assert p.n_cycles == 2.0 and p.n_angles == 5 and p.angle_span_deg == pytest.approx(12.0)
    assert p.pixel_size_mm == pytest.approx(0.5 * wl) and p.depth_mm == pytest.approx((20 + 200 * 0.5 / 2) * wl)
    assert p.f_number == 1.5
    # spacing in wavelengths instead of mm; an override replaces a struct value
    trans2 = {k: v for k, v in trans.items() if k != "spacingMm"} | {"spacing": np.array([[1.0]])}
    p2 = PhysicsParams.from_verasonics(trans2, tw, pdata, tx, res, f_number=1.5, depth_mm=10.0)
    assert p2.pitch_mm == pytest.approx(wl) and p2.depth_mm == 10.0


def test_from_verasonics_errors_name_the_field():
    trans, tw, pdata, tx, res = _workspace()
    with pytest.raises(ValueError, match="f_number"):
        PhysicsParams.from_verasonics(trans, tw, pdata, tx, res)
    with pytest.raises(ValueError, match="PData.PDelta"):
        PhysicsParams.from_verasonics(trans, tw, pdata | {"PDelta": np.array([1.0, 0, 0.5])}, tx, res, f_number=1)
    with pytest.raises(ValueError, match="Trans.frequency"):
        PhysicsParams.from_verasonics(trans | {"frequency": np.array([[-7.0]])}, tw, pdata, tx, res, f_number=1)
    with pytest.raises(ValueError, match="TW.Parameters"):
        PhysicsParams.from_verasonics(trans, [{"type": "parametric"}], pdata, tx, res, f_number=1)
    with pytest.raises(ValueError, match="bogus"):
        PhysicsParams.from_verasonics(trans, tw, pdata, tx, res, f_number=1, bogus=3)


def test_normalise_maps_ranges_to_unit_interval():
    lo = PhysicsParams(**{k: v[0] for k, v in ph.RANGES.items() if k not in ("n_angles", "angle_span_deg")},
                       n_angles=1, angle_span_deg=0.0)
    hi = PhysicsParams(**{k: v[1] for k, v in ph.RANGES.items()})
    assert np.allclose(normalise(lo), -1) and np.allclose(normalise(hi), 1)
    assert normalise(PhysicsParams()).dtype == np.float32 and len(ph.FIELDS) == normalise(hi).size
    with pytest.raises(ValueError, match="params"):
        normalise({"center_frequency_mhz": 7})


def test_sample_params_splits_disjoint_and_in_range():
    splits = {s: sample_params(np.random.default_rng(1), s, n=60) for s in ph.SPLITS}
    for s, ps in splits.items():
        assert all(p.split == s and p.out_of_range() == [] for p in ps)
    cells = {s: {ph.split_cell(p) for p in ps}
             for s, ps in splits.items()}
    assert not cells["test"] & cells["train"] and not cells["val"] & cells["train"]
    assert sample_params(3, "test", n=4) == sample_params(3, "test", n=4)  # seeded
    with pytest.raises(ValueError, match="split"):
        sample_params(0, "training")


# --------------------------------------------------------------------------- physics images


def test_simulate_images_shape_peak_phase_and_input_untouched():
    p = PhysicsParams(pixel_size_mm=0.03)
    b = np.array([[10.2, 12.0, 0, 1.0], [20.0, 20.0, 2, 0.5]])
    keep = b.copy()
    iq, psf = simulate_images(p, b, (32, 32))
    assert iq.shape == (32, 32, 3) and iq.dtype == np.complex64 and np.array_equal(b, keep)
    assert abs(iq[..., 1]).max() == 0
    assert abs(iq[10, 12, 0]) == pytest.approx(np.exp(-0.5 * (0.2 / (psf.fwhm[0] / 2.3548)) ** 2), rel=1e-4)
    assert np.angle(iq[10, 12, 0]) == pytest.approx(np.angle(np.exp(-4j * np.pi * 10.2 / psf.wavelength)), abs=1e-4)
    assert abs(iq[20, 20, 2]) == pytest.approx(0.5, rel=1e-5)
    assert simulate_images(p, b, (32, 32, 5))[0].shape == (32, 32, 5)
    with pytest.raises(ValueError, match="bubbles"):
        simulate_images(p, b[:, :3], (32, 32))
    with pytest.raises(ValueError, match="frame"):
        simulate_images(p, b - [0, 0, 1, 0], (32, 32))


def test_psf_width_follows_physics():
    w = lambda **kw: ph.physics_psf(PhysicsParams(**kw)).fwhm  # noqa: E731
    # a fixed grid (mm): a higher frequency makes a narrower PSF; in wavelengths, the same
    assert np.all(np.array(w(center_frequency_mhz=7.5)) > 1.9 * np.array(w(center_frequency_mhz=15.0)))
    assert w(center_frequency_mhz=7.5, pixel_size_mm=0.1) == pytest.approx(w(center_frequency_mhz=15.0))
    assert w(f_number=2.0)[1] > 1.5 * w(f_number=1.0)[1]
    assert w(n_cycles=3.0)[0] > w(n_cycles=1.0)[0] and w(fractional_bandwidth=0.4)[0] > w(fractional_bandwidth=0.9)[0]
    assert w(n_angles=9, angle_span_deg=30.0)[1] < w(n_angles=3, angle_span_deg=4.0)[1]
    # a short array at depth limits the aperture: the F-number grows
    assert w(n_elements=64, pitch_mm=0.05, depth_mm=30.0)[1] > 2 * w()[1]


def test_noise_seeded_and_lowered_by_compounding():
    b = np.zeros((0, 4))
    n1 = simulate_images(PhysicsParams(n_angles=1, angle_span_deg=0), b, (64, 64, 4), seed=1, snr_db=20)[0]
    n9 = simulate_images(PhysicsParams(n_angles=9, angle_span_deg=10), b, (64, 64, 4), seed=1, snr_db=20)[0]
    assert np.std(n1) == pytest.approx(0.1, rel=0.05) and np.std(n9) == pytest.approx(0.1 / 3, rel=0.05)
    again = simulate_images(PhysicsParams(n_angles=1, angle_span_deg=0), b, (64, 64, 4), seed=1, snr_db=20)[0]
    assert np.array_equal(n1, again)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        simulate_images(PhysicsParams(center_frequency_mhz=40.0), b, (8, 8))  # physics: no range warning


@pytest.mark.slow
def test_pymust_mode_agrees_with_the_model():
    pytest.importorskip("pymust")
    p = PhysicsParams(center_frequency_mhz=7.6, fractional_bandwidth=0.77, pitch_mm=0.2, n_elements=32, depth_mm=5.0,
                      f_number=1.5, n_angles=1, angle_span_deg=0.0, pixel_size_mm=0.1)
    iq, psf = simulate_images(p, [[8.0, 8.0, 0, 1.0]], (16, 16), mode="pymust")
    assert psf.kernel is not None and abs(iq).max() == pytest.approx(1.0, rel=1e-3)
    np.testing.assert_allclose(psf.fwhm, ph.physics_psf(p).fwhm, rtol=0.3)  # two models of one probe
    with pytest.raises(ValueError, match="mode"):
        simulate_images(p, [[8.0, 8.0, 0, 1.0]], (16, 16), mode="field2")


def test_fidelity_scores():
    from pyulm.nn.pgd.fidelity import fidelity, summarise

    ref = simulate_images(PhysicsParams(), [[10.0, 12.0, 0, 1.0], [20.0, 20.0, 1, 0.5]], (32, 32))[0]
    perfect = fidelity(ref, ref)
    assert perfect["ssim"] == pytest.approx(1.0) and perfect["ssim_iq"] == pytest.approx(1.0)
    assert perfect["psnr"] == np.inf
    off = fidelity(ref * 0.5, ref)
    psnr = [10 * np.log10(peak ** 2 / np.mean(np.abs(ref[..., k] * 0.5) ** 2 / 2)) for k, peak in ((0, 1.0), (1, 0.5))]
    assert off["ssim"] < 0.99 and off["psnr"] == pytest.approx(np.mean(psnr))
    with pytest.raises(ValueError, match="shape"):
        fidelity(ref[:, :, :1], ref)
    rows = [{**PhysicsParams(center_frequency_mhz=f).to_dict(), "ssim": s, "ssim_iq": s, "psnr": 30.0}
            for f, s in ((6.0, 0.8), (7.0, 0.9), (15.0, 1.0))]
    table = summarise(rows, "center_frequency_mhz", [5, 10, 20])
    assert [(r["bin"], r["n"]) for r in table] == [("[5, 10)", 2), ("[10, 20)", 1)]
    assert table[0]["ssim"] == pytest.approx(0.85)


# --------------------------------------------------------------------------- network, sampler, training

torch = pytest.importorskip("torch")

from pyulm.nn.pgd import data as pdata  # noqa: E402
from pyulm.nn.pgd.diffusion import ddim_sample  # noqa: E402
from pyulm.nn.pgd.model import PgDConfig, build  # noqa: E402
from pyulm.nn.pgd.sample import sample, sample_frames  # noqa: E402
from pyulm.nn.pgd.train import parse_config, train  # noqa: E402

TINY = {"width": 4, "emb": 8, "timesteps": 20}


def test_bubble_map_and_channels():
    p = PhysicsParams()
    m = pdata.bubble_map(p, [[3.25, 4.5, 1, 0.8], [40.0, 4.0, 0, 1.0]], (8, 8))
    assert m.shape == (2, 3, 8, 8) and m[0].sum() == 0  # the second bubble lies outside
    assert m[1, 2].sum() == pytest.approx(0.8) and m[1, 2, 3, 4] == pytest.approx(0.8 * 0.75 * 0.5)
    wl = ph.physics_psf(p).wavelength
    assert m[1, 0, 3, 4] + 1j * m[1, 1, 3, 4] == pytest.approx(0.3 * np.exp(-4j * np.pi * 3.25 / wl), abs=1e-6)
    iq = simulate_images(p, [[3.0, 3.0, 0, 1.0], [5.0, 2.0, 1, 0.5]], (8, 8))[0]
    np.testing.assert_array_equal(pdata.from_channels(pdata.to_channels(iq)), iq)


def test_model_shapes_and_config_checks():
    net = build(TINY)
    x = torch.zeros(3, 2, 32, 48)
    out = net(x, torch.zeros(3, 3, 32, 48), torch.tensor([0, 3, 19]), torch.zeros(3, len(ph.FIELDS)))
    assert out.shape == (3, 2, 32, 48)
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 2, 30, 32), torch.zeros(1, 3, 30, 32), torch.tensor([0]), torch.zeros(1, 10))
    with pytest.raises(ValueError, match="depth"):
        PgDConfig.from_dict({"depth": 3})
    with pytest.raises(ValueError, match="width"):
        PgDConfig.from_dict({"width": 0})


def test_ddim_sampler_deterministic_and_batch_independent():
    torch.manual_seed(0)
    net = build(TINY).eval()
    ex = pdata.make_examples(sample_params(0, "train", n=2), 3, (16, 16), 2.0, 0)
    a = ddim_sample(net, ex["maps"], ex["cond"], steps=4, seed=5, batch_size=6)
    b = ddim_sample(net, ex["maps"], ex["cond"], steps=4, seed=5, batch_size=2)
    c = ddim_sample(net, ex["maps"], ex["cond"], steps=4, seed=6, batch_size=6)
    assert a.shape == (6, 2, 16, 16) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, atol=1e-5)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match="steps"):
        ddim_sample(net, ex["maps"], ex["cond"], steps=0)


def _cfg(steps, **train_kw):
    return parse_config({
        "seed": 3, "network": TINY,
        "data": {"n_train_params": 4, "n_val_params": 1, "n_test_params": 2, "frames_per_params": 2, "pool_steps": 3,
                 "size": [16, 16], "val_frames": 2, "test_frames": 2},
        "train": {"steps": steps, "batch": 2, "eval_every": 2, "log_every": 1, "val_steps": 2, "sample_steps": 3,
                  "decay_steps": 4, **train_kw}})


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return train(_cfg(4), tmp_path_factory.mktemp("pgd") / "run", command="pyulm train pgd (test)",
                 config_text="seed = 3\n", log=lambda m: None)


def test_training_writes_verifiable_model_dir(tiny_dir):
    import json

    from pyulm.nn.weights_io import verify_checksums

    verify_checksums(tiny_dir, "pgd")
    for f in ("weights.pt", "config.json", "train.toml", "metrics.json", "README.md", "command.txt", "log.jsonl"):
        assert (tiny_dir / f).is_file()
    state = torch.load(tiny_dir / "weights.pt", weights_only=True)
    assert all(torch.is_tensor(v) for v in state.values())
    m = json.loads((tiny_dir / "metrics.json").read_text())
    assert set(m["test"]) == {"ssim", "ssim_iq", "psnr"} and len(m["test_conditions"]) == 2
    assert all(PhysicsParams.from_dict({k: r[k] for k in PhysicsParams().to_dict()}).split == "test"
               for r in m["test_conditions"])
    log = [json.loads(line) for line in (tiny_dir / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [2, 4] and all("val_loss" in r and "ssim" in r["val"] for r in log)
    assert (tiny_dir / "command.txt").read_text().strip() == "pyulm train pgd (test)"


def test_resume_is_exact(tiny_dir, tmp_path):
    train(_cfg(2), tmp_path / "part", log=lambda m: None)
    logs = []
    part = train(_cfg(4), tmp_path / "part", resume=True, log=logs.append)
    assert logs[0] == "resumed at step 2"
    a = torch.load(tiny_dir / "weights.pt", weights_only=True)
    b = torch.load(part / "weights.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    with pytest.raises(FileNotFoundError, match="checkpoint"):
        train(_cfg(2), tmp_path / "none", resume=True, log=lambda m: None)


def test_config_errors():
    with pytest.raises(ValueError, match="unknown key"):
        parse_config({"seed": 1, "model": "x"})
    with pytest.raises(ValueError, match="bogus"):
        parse_config({"train": {"bogus": 1}})
    with pytest.raises(ValueError, match="size"):
        parse_config({"data": {"size": [30, 32]}})


def test_sample_api_with_a_model_dir(tiny_dir):
    p = PhysicsParams()
    b = np.array([[8.0, 8.0, 0, 1.0], [4.0, 10.0, 2, 0.5]])
    iq = sample(p, b, shape=(16, 16), weights=tiny_dir, steps=3, seed=1)
    assert iq.shape == (16, 16, 3) and iq.dtype == np.complex64
    np.testing.assert_array_equal(iq, sample(p.to_dict(), b, shape=(16, 16), weights=tiny_dir, steps=3, seed=1))
    frames, gt = sample_frames(p, 4, shape=(16, 16), density=2.0, seed=2, weights=tiny_dir, steps=2)
    assert frames.shape == (16, 16, 4) and gt.shape[1] == 4 and np.all(gt[:, 2] < 4)
    with pytest.warns(ph.PgDRangeWarning, match=r"center_frequency_mhz = 30 .*\[5, 20\]"):
        sample(PhysicsParams(center_frequency_mhz=30.0), b, shape=(16, 16), weights=tiny_dir, steps=2)
    with pytest.raises(ValueError, match="shape"):
        sample(p, b, shape=(15, 16), weights=tiny_dir)
    with pytest.raises(ValueError, match="n_frames"):
        sample(p, b, shape=(16, 16), weights=tiny_dir, n_frames=2)
    assert sample(p, b, shape=(16, 16), weights=tiny_dir, steps=2, n_frames=5).shape == (16, 16, 5)


def test_bad_weights_dirs_give_clear_errors(tiny_dir, tmp_path):
    import shutil

    from pyulm.nn.weights_io import SHIPPED

    p, b = PhysicsParams(), [[8.0, 8.0, 0, 1.0]]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        sample(p, b, shape=(16, 16), weights=tmp_path / "nowhere")
    d = tmp_path / "m"
    shutil.copytree(tiny_dir, d)
    (d / "weights.pt").write_bytes((d / "weights.pt").read_bytes()[:-100])
    with pytest.raises(ValueError, match=r"weights\.pt does not match its checksum"):
        sample(p, b, shape=(16, 16), weights=d)
    (d / "SHA256SUMS").unlink()
    with pytest.raises(ValueError, match="SHA256SUMS is missing"):
        sample(p, b, shape=(16, 16), weights=d)
    from pyulm.nn.weights_io import write_checksums

    write_checksums(d)  # a corrupt file with matching checksums: refused when read
    with pytest.raises(ValueError, match=r"weights .*weights\.pt cannot be read"):
        sample(p, b, shape=(16, 16), weights=d)
    with pytest.raises(ValueError, match="'mblnet' model, not a PgD model"):
        sample(p, b, shape=(16, 16), weights=SHIPPED / "mblnet")
    with pytest.raises(ValueError, match="weights: expected a path"):
        sample(p, b, shape=(16, 16), weights=3)
    import json

    e = tmp_path / "ranges"
    shutil.copytree(tiny_dir, e)
    cfg = json.loads((e / "config.json").read_text())
    cfg["physics"]["ranges"]["center_frequency_mhz"] = [1.0, 10.0]
    (e / "config.json").write_text(json.dumps(cfg))
    write_checksums(e)
    with pytest.raises(ValueError, match="other ranges"):
        sample(p, b, shape=(16, 16), weights=e)
    (d / "weights.pt").unlink()
    with pytest.raises(FileNotFoundError, match="no weights.pt"):
        sample(p, b, shape=(16, 16), weights=d)


def test_cli_train_pgd(tmp_path, capsys):
    from pyulm.cli import main

    cfg = tmp_path / "pgd.toml"
    cfg.write_text('seed = 1\n[data]\nn_train_params = 2\nn_val_params = 1\nn_test_params = 1\nframes_per_params = 2\n'
                   'size = [16, 16]\nval_frames = 1\ntest_frames = 1\n[network]\nwidth = 4\nemb = 8\ntimesteps = 10\n'
                   '[train]\nsteps = 2\nbatch = 2\neval_every = 2\nval_steps = 2\nsample_steps = 2\n')
    out = tmp_path / "run"
    assert main(["train", "pgd", "--config", str(cfg), "--out", str(out), "--quiet"]) == 0
    assert "done:" in capsys.readouterr().out
    assert (out / "command.txt").is_file()  # the command line (here pytest's: pyulm.cli.train reads sys.argv)
    assert (out / "train.toml").read_text() == cfg.read_text()
    assert main(["train", "pgd", "--config", str(cfg), "--out", str(tmp_path / "new"), "--resume"]) == 2
    assert "checkpoint.pt does not exist" in capsys.readouterr().err
    cfg.write_text("[train]\nstpes = 3\n")
    assert main(["train", "pgd", "--config", str(cfg), "--out", str(out)]) == 2
    assert "stpes" in capsys.readouterr().err


# --------------------------------------------------------------------------- the shipped model


def _widths(img):
    from pyulm.psf.model import fwhm_of_profile

    a = np.abs(img)
    iz, ix = np.unravel_index(np.argmax(a), a.shape)
    return fwhm_of_profile(a[:, ix], np.arange(a.shape[0])), fwhm_of_profile(a[iz, :], np.arange(a.shape[1]))


def test_shipped_model_directory():
    import json

    from pyulm.nn.pgd.model_dir import SHIPPED, read_config
    from pyulm.nn.pgd.train import load_config
    from pyulm.nn.weights_io import verify_checksums

    verify_checksums(SHIPPED, "pgd")
    assert read_config(SHIPPED)["inference"]["steps"] >= 10
    assert (SHIPPED / "weights.pt").stat().st_size < 10 * 2 ** 20
    assert load_config(SHIPPED / "train.toml")["seed"] >= 0
    m = json.loads((SHIPPED / "metrics.json").read_text())
    assert m["command"] == (SHIPPED / "command.txt").read_text().strip()
    assert m["command"].startswith("pyulm train pgd --config pyulm/nn/weights/pgd/train.toml")
    assert m["test"]["ssim"] >= 0.9 and all(r["center_frequency_mhz"] > 0 for r in m["test_conditions"])
    assert all(PhysicsParams.from_dict({k: r[k] for k in PhysicsParams().to_dict()}).split == "test"
               for r in m["test_conditions"])


def test_shipped_model_follows_the_centre_frequency():
    b = [[15.3, 16.0, 0, 1.0]]
    gen, ref = {}, {}
    for f0 in (7.5, 15.0):  # one grid (0.05 mm pixels): the PSF in pixels halves when the frequency doubles
        p = PhysicsParams(center_frequency_mhz=f0, fractional_bandwidth=0.7, n_cycles=1.5, f_number=1.2, n_angles=5,
                          angle_span_deg=16.0, pixel_size_mm=0.05, depth_mm=10.0)
        gen[f0] = _widths(sample(p, b, shape=(32, 32), steps=10, seed=0, device="cpu")[:, :, 0])
        ref[f0] = _widths(simulate_images(p, b, (32, 32))[0][:, :, 0])
    for ax in (0, 1):
        assert gen[7.5][ax] > 1.5 * gen[15.0][ax]
        for f0 in gen:
            assert gen[f0][ax] == pytest.approx(ref[f0][ax], rel=0.15)
