"""pyulm synth (PgD labelled frames as PALA-style blocks) and the training data source it feeds."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import pyulm.io as io
from pyulm.cli import main
from pyulm.nn.pgd.block import read_block, write_block
from pyulm.nn.pgd.physics import PgDRangeWarning, PhysicsParams, simulate_images
from pyulm.nn.pgd.synthesis import load_params, synth

PROBE = """center_frequency_mhz = 7.6
fractional_bandwidth = 0.77
n_cycles = 2.0
pitch_mm = 0.3
n_elements = 128
f_number = 1.5
n_angles = 5
angle_span_deg = 20.0
pixel_size_mm = 0.1
depth_mm = 15.0
"""


@pytest.fixture
def probe(tmp_path) -> Path:
    p = tmp_path / "probe.toml"
    p.write_text(PROBE)
    return p


@pytest.fixture(scope="module")
def tiny_pgd(tmp_path_factory) -> Path:
    """An untrained PgD model directory (the pipeline, not the quality, is under test)."""
    pytest.importorskip("torch")
    from pyulm.nn.pgd import model_dir
    from pyulm.nn.pgd.model import build

    return model_dir.write(tmp_path_factory.mktemp("pgd") / "model", build({"width": 8, "emb": 16}), size=(32, 32),
                           inference={"steps": 2, "seed": 0})


def _run(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# -- the block and its ground truth --------------------------------------------

def test_cli_writes_a_pala_block_that_reads_back_with_its_ground_truth(probe, tmp_path, capsys):
    out = tmp_path / "block.mat"
    code, text, err = _run(["synth", "--params", str(probe), "--frames", "6", "--out", str(out), "--shape", "40,48",
                            "--density", "5", "--seed", "3", "--source", "physics"], capsys)
    assert code == 0, err
    assert "6 frames of 40 x 48 px" in text
    info = io.inspect(out)  # what pyulm.read and pyulm process see: a PALA block
    assert info.layout == "pala" and info.shape == (40, 48, 6) and np.allclose(info.pixel_size, 0.1 / (1540 / 7.6e3))
    assert abs(info.wavelength_mm - 1540 / 7.6e3) < 1e-9 and info.notes == []
    block = read_block(out)
    ref = synth(probe, 6, shape=(40, 48), density=5, seed=3, source="physics")
    assert np.array_equal(block.iq, ref.iq)
    assert np.allclose(block.gt.z, ref.gt.z) and np.allclose(block.gt.x, ref.gt.x)
    assert np.array_equal(block.gt.frame, ref.gt.frame) and np.allclose(block.gt.intensity, ref.gt.intensity)
    assert block.params == PhysicsParams.from_toml(probe).to_dict() and block.info["source"] == "physics"
    # the ground truth is where the images are: each bubble sits on the peak of its own clean image
    b = np.column_stack([block.gt.z, block.gt.x, block.gt.frame, block.gt.intensity])
    for row in b[:5]:
        one, _ = simulate_images(load_params(probe), row[None], (40, 48, 6))
        peak = np.unravel_index(np.abs(one[:, :, int(row[2])]).argmax(), (40, 48))
        assert abs(peak[0] - row[0]) <= 1 and abs(peak[1] - row[1]) <= 1
    # MATLAB's view of the same file: GT is [z x frame id], 1-based
    m = scipy.io.loadmat(out)
    assert m["IQ"].shape == (40, 48, 6) and m["GT"].shape == (len(block.gt), 4)
    assert np.allclose(m["GT"][:, 0] - 1, block.gt.z) and np.array_equal(m["GT"][:, 2] - 1, block.gt.frame)
    assert float(m["UF"]["TwFreq"][0, 0].item()) == 7.6


def test_pgd_source_renders_the_same_bubbles_as_physics(probe, tiny_pgd, tmp_path, capsys):
    out = tmp_path / "pgd.mat"
    code, text, err = _run(["synth", "--params", str(probe), "--frames", "3", "--out", str(out), "--shape", "32,32",
                            "--weights", str(tiny_pgd), "--seed", "4", "--steps", "2"], capsys)
    assert code == 0, err
    block = read_block(out)
    phys = synth(probe, 3, shape=(32, 32), seed=4, source="physics")
    assert block.iq.shape == (32, 32, 3) and np.isfinite(block.iq).all()
    assert np.array_equal(block.gt.z, phys.gt.z) and block.info["source"] == "pgd"
    assert block.info["weights"] == str(tiny_pgd) and len(block.info["weights_sha256"]) == 64
    again = synth(probe, 3, shape=(32, 32), seed=4, weights=tiny_pgd, steps=2)
    assert np.array_equal(again.iq, block.iq)


def test_same_seed_same_block_and_noise_is_added(probe):
    a = synth(probe, 3, shape=(32, 32), density=4, seed=1, source="physics", snr_db=10)
    b = synth(probe, 3, shape=(32, 32), density=4, seed=1, source="physics", snr_db=10)
    clean = synth(probe, 3, shape=(32, 32), density=4, seed=1, source="physics")
    assert np.array_equal(a.iq, b.iq) and np.array_equal(a.gt.z, clean.gt.z)
    resid = a.iq - clean.iq
    sigma = 10 ** (-10 / 20) / np.sqrt(5)  # compounding 5 angles lowers the noise
    assert 0.8 < resid.std() / sigma < 1.2


def test_verasonics_workspace_gives_the_parameters(tmp_path, capsys):
    ws = tmp_path / "workspace.mat"
    scipy.io.savemat(ws, {
        "Trans": {"frequency": 15.625, "Bandwidth": np.array([[10.0, 22.0]]), "spacingMm": 0.1, "numelements": 128.0},
        "TW": {"type": "parametric", "Parameters": np.array([[15.625, 0.67, 2.0, 1.0]])},
        "TX": np.array([[{"Steer": np.array([[a, 0.0]]), "waveform": 1.0} for a in (-0.1, 0.0, 0.1)]], dtype=object),
        "PData": {"PDelta": np.array([[0.5, 0.0, 0.5]]), "Origin": np.array([[-32.0, 0.0, 40.0]]),
                  "Size": np.array([[80.0, 128.0, 1.0]])},
        "Resource": {"Parameters": {"speedOfSound": 1540.0}},
    })
    p = load_params(ws, {"f_number": 1.2})
    assert (p.center_frequency_mhz, p.n_elements, p.n_angles, p.n_cycles, p.f_number) == (15.625, 128, 3, 1.0, 1.2)
    assert abs(p.pixel_size_wavelengths - 0.5) < 1e-12 and round(p.angle_span_deg, 2) == 11.46
    over = tmp_path / "over.toml"
    over.write_text("f_number = 1.2\n")
    out = tmp_path / "v.mat"
    code, _, err = _run(["synth", "--verasonics", str(ws), "--params", str(over), "--frames", "2", "--out", str(out),
                         "--shape", "32,32", "--source", "physics"], capsys)
    assert code == 0, err
    assert read_block(out).params == p.to_dict()
    # without the F-number the workspace is incomplete: one error naming what is missing, no file
    code, _, err = _run(["synth", "--verasonics", str(ws), "--frames", "2", "--out", str(tmp_path / "w.mat"),
                         "--source", "physics"], capsys)
    assert code == 2 and "f_number" in err and err.count("\n") == 1
    assert not (tmp_path / "w.mat").exists()


# -- bad input: one clear error, nothing written ---------------------------------

@pytest.mark.parametrize("content, words", [
    ("center_frequency_mhz = 7.6\nfrequncy = 3\n", "frequncy"),              # unknown key
    ("center_frequency_mhz = -7.6\n", "center_frequency_mhz"),                # impossible value
    ("n_elements = 0\n", "n_elements"),
    ("center_frequency_mhz = 7.6\n[physics]\nn_angles = 3\n", "next to [physics]"),
])
def test_bad_parameter_files_are_one_error_and_leave_no_file(tmp_path, capsys, content, words):
    bad = tmp_path / "bad.toml"
    bad.write_text(content)
    out = tmp_path / "o.mat"
    code, _, err = _run(["synth", "--params", str(bad), "--frames", "2", "--out", str(out), "--source", "physics"],
                        capsys)
    assert code == 2 and words in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == [bad]


@pytest.mark.parametrize("extra, words", [
    (["--shape", "4,4"], "shape"),
    (["--shape", "a,b"], "--shape"),
    (["--frames", "0"], "n_frames"),
    (["--density", "-1"], "density"),
    (["--weights", "/nowhere", "--source", "physics"], "--weights"),
])
def test_bad_options_are_one_error_and_leave_no_file(probe, tmp_path, capsys, extra, words):
    out = tmp_path / "o.mat"
    argv = ["synth", "--params", str(probe), "--frames", "2", "--out", str(out), "--source", "physics"]
    if "--source" in extra:
        argv = argv[:-2]
    code, _, err = _run(argv + extra, capsys)
    assert code == 2 and words in err, err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["probe.toml"]


def test_unknown_option_and_missing_condition(probe, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["synth", "--params", str(probe), "--frames", "2", "--out", str(tmp_path / "o.mat"), "--colour", "red"])
    assert e.value.code == 2 and "--colour" in capsys.readouterr().err
    code, _, err = _run(["synth", "--frames", "2", "--out", str(tmp_path / "o.mat")], capsys)
    assert code == 2 and "--params" in err and "--verasonics" in err
    code, _, err = _run(["synth", "--params", str(probe), "--frames", "2", "--out", str(tmp_path / "o.h5")], capsys)
    assert code == 2 and ".mat" in err
    assert [p.name for p in tmp_path.iterdir()] == ["probe.toml"]


def test_missing_or_corrupt_weights_are_one_error_and_no_file(probe, tmp_path, capsys):
    out = tmp_path / "o.mat"
    code, _, err = _run(["synth", "--params", str(probe), "--frames", "2", "--out", str(out),
                         "--weights", str(tmp_path / "no_model")], capsys)
    assert code == 2 and "no_model" in err and err.count("\n") == 1, err
    bad = tmp_path / "bad_model"
    bad.mkdir()
    (bad / "weights.pt").write_bytes(b"not a model")
    code, _, err = _run(["synth", "--params", str(probe), "--frames", "2", "--out", str(out), "--weights", str(bad)],
                        capsys)
    assert code == 2 and "bad_model" in err, err
    assert not out.exists()


def test_python_api_checks_its_arguments(probe):
    with pytest.raises(ValueError, match="source"):
        synth(probe, 2, source="gan")
    with pytest.raises(ValueError, match="seed"):
        synth(probe, 2, seed=-1, source="physics")
    with pytest.raises(ValueError, match="weights, steps"):
        synth(probe, 2, source="physics", weights="x")
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_params(probe.parent / "none.toml")
    with pytest.raises(ValueError, match="is not a Verasonics workspace"):
        p = probe.parent / "plain.mat"
        scipy.io.savemat(p, {"IQ": np.zeros((2, 2, 2))})
        load_params(p)


def test_write_block_is_atomic(probe, tmp_path):
    block = synth(probe, 2, shape=(16, 16), source="physics")
    with pytest.raises(ValueError, match="does not exist"):
        write_block(tmp_path / "missing_dir" / "b.mat", block)
    with pytest.raises(ValueError, match=".mat"):
        write_block(tmp_path / "b.txt", block)
    assert list(tmp_path.iterdir()) == [probe]


# -- the training data source ------------------------------------------------------

TINY = """seed = 1
[model]
width = 4
head_width = 4
n_res = 1
[data]
patch = 24
{data}
[train]
epochs = 1
steps_per_epoch = 1
sims_per_step = 2
frames_per_sim = 2
val_sims = 1
val_frames = 2
threads = 1
"""


def test_block_source_feeds_mblnet_training(probe, tmp_path):
    pytest.importorskip("torch")
    from pyulm.nn import data as D
    from pyulm.nn.train import load_config, train

    write_block(tmp_path / "b.mat", synth(probe, 20, shape=(32, 40), density=4, seed=2, source="physics", snr_db=20))
    cfg_path = tmp_path / "t.toml"
    cfg_path.write_text(TINY.format(data=f'source = "block"\nblocks = ["{tmp_path / "b.mat"}"]'))
    cfg = load_config(cfg_path)
    # training frames and held-out frames of a block never mix; crops keep their ground truth
    iq, gt = D.draw(cfg["data"], 3, np.random.default_rng(0))
    assert iq.shape == (24, 24, 3) and set(gt.frame) <= {0, 1, 2}
    assert np.all((gt.z >= -0.5) & (gt.z < 23.5) & (gt.x >= -0.5) & (gt.x < 23.5))
    out = train("mblnet", cfg, tmp_path / "model", log=lambda m: None)
    assert (out / "weights.pt").is_file()
    assert load_config(out / "train.toml")["data"].source == "block"  # the written config re-reads


def test_block_source_keeps_the_last_tenth_for_validation(probe, tmp_path):
    from pyulm.nn import data as D

    block = synth(probe, 10, shape=(24, 24), density=3, seed=5, source="physics", snr_db=20)
    write_block(tmp_path / "b.mat", block)
    cfg = D.DataConfig.from_dict({"patch": 24, "source": "block", "blocks": [str(tmp_path / "b.mat")]})

    def frames_of(iq):
        return {next(k for k in range(10) if np.array_equal(iq[:, :, j], block.iq[:, :, k])) for j in range(iq.shape[2])}

    train_frames = frames_of(D.draw(cfg, 30, np.random.default_rng(1))[0])
    assert train_frames <= set(range(9)) and len(train_frames) > 5
    for ns in (D.VALIDATION, D.TEST):
        iq, gt = D.draw(cfg, 3, np.random.default_rng(2), ns)
        assert frames_of(iq) == {9}
        assert len(gt) == 3 * int((block.gt.frame == 9).sum())


def test_physics_source_feeds_mblnet_training_on_the_fly(probe, tmp_path):
    pytest.importorskip("torch")
    from pyulm.nn.train import load_config, train

    cfg_path = tmp_path / "t.toml"
    cfg_path.write_text(TINY.format(data=f'source = "physics"\nparams = "{probe}"'))
    out = train("mblnet", load_config(cfg_path), tmp_path / "model", log=lambda m: None)
    assert (out / "weights.pt").is_file()


def test_pgd_source_feeds_mblnet_training_on_the_fly(probe, tiny_pgd, tmp_path):
    from pyulm.nn.train import load_config, train

    cfg_path = tmp_path / "t.toml"
    cfg_path.write_text(TINY.format(data=f'source = "pgd"\nparams = "{probe}"\nweights = "{tiny_pgd}"'))
    out = train("mblnet", load_config(cfg_path), tmp_path / "model", log=lambda m: None)
    assert (out / "weights.pt").is_file()


@pytest.mark.parametrize("data, words", [
    ('source = "gan"', "source"),
    ('source = "block"', "blocks"),
    ('source = "block"\nblocks = ["/no/such.mat"]', "no such file"),
    ('source = "pgd"', "params"),
    ('source = "physics"\nparams = "/no/such.toml"', "no such file"),
    ('blocks = ["x.mat"]', "do not apply"),
])
def test_bad_data_sources_are_refused_before_training(tmp_path, data, words):
    from pyulm.nn.train import load_config

    cfg_path = tmp_path / "t.toml"
    cfg_path.write_text(TINY.format(data=data))
    with pytest.raises((ValueError, FileNotFoundError), match=words):
        load_config(cfg_path)


def test_out_of_range_parameters_warn_with_the_range(probe):
    p = PhysicsParams.from_dict({**load_params(probe).to_dict(), "center_frequency_mhz": 30.0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            synth(p, 1, shape=(16, 16), steps=1)
        except (FileNotFoundError, ValueError):
            pass  # no shipped model yet: the warning came first
    msgs = [str(w.message) for w in caught if issubclass(w.category, PgDRangeWarning)]
    assert any("center_frequency_mhz" in m and "[5, 20]" in m for m in msgs), msgs


def test_matlab_bridge_serves_synth(tmp_path):
    from pyulm.matlab.functions import call_python

    p = {"center_frequency_mhz": np.array([[7.6]]), "n_elements": np.array([[128.0]]), "pixel_size_mm": 0.1}
    out = tmp_path / "m.mat"
    (b,) = call_python("synth", [p, np.array([[3.0]])], {"shape": np.array([[24.0, 32.0]]), "seed": 1.0,
                                                         "source": "physics", "out": str(out)})
    assert b["IQ"].shape == (24, 32, 3) and b["GT"].shape[1] == 4 and b["file"] == str(out)
    assert np.array_equal(read_block(out).iq, b["IQ"])
    with pytest.raises(ValueError, match="shape"):
        call_python("synth", [p, 3.0], {"shape": np.array([[24.5, 32.0]]), "source": "physics"})


def test_block_concatenation_and_vessel_test_acquisitions(probe, tmp_path):
    from pyulm.nn.pgd.block import concatenate
    from pyulm.nn.pgd.evaluation import resolution_curve, vessel_acquisition

    parts = [synth(probe, 2, shape=(16, 16), seed=s, density=3, source="physics") for s in (1, 2)]
    both = concatenate(parts)
    write_block(tmp_path / "c.mat", both)
    back = read_block(tmp_path / "c.mat")
    assert back.n_frames == 4 and np.array_equal(back.gt.frame, np.r_[parts[0].gt.frame, parts[1].gt.frame + 2])
    assert len(back.info["parts"]) == 2
    with pytest.raises(ValueError, match="one parameter set"):
        concatenate([parts[0], synth({"center_frequency_mhz": 9.0}, 1, shape=(16, 16), source="physics")])
    p = load_params(probe)
    iq, gt, vessels = vessel_acquisition(p, 60, shape=(48, 48), density=8, width_px=0.3, seed=1)
    again = vessel_acquisition(p, 60, shape=(48, 48), density=8, width_px=0.3, seed=1)[0]
    assert iq.shape == (48, 48, 60) and np.array_equal(iq, again)
    # perfect localizations give the lumen width; blurred ones a wider vessel
    curve = resolution_curve({"z": gt.z, "x": gt.x, "frame": gt.frame}, vessels, [60])
    assert all(abs(v - 0.3) < 0.08 for v in curve[60].values()), curve
    rng = np.random.default_rng(0)
    blurred = {"z": gt.z + rng.normal(0, 0.2, len(gt)), "x": gt.x + rng.normal(0, 0.2, len(gt)), "frame": gt.frame}
    wide = resolution_curve(blurred, vessels, [60])[60]
    assert all(0.4 < v < 0.75 for v in wide.values()), wide  # sqrt(0.3^2 + (2.355 * 0.2)^2) = 0.56


def test_package_names_stay_functions_after_their_modules_are_imported(probe):
    import pyulm.nn.pgd as pgd
    import pyulm.nn.pgd.block  # noqa: F401  (importing a submodule rebinds a package attribute of its name)
    import pyulm.nn.pgd.synthesis  # noqa: F401

    assert callable(pgd.synth) and callable(pgd.read_block) and callable(pgd.load_params)
    assert pgd.synth(probe, 1, shape=(16, 16), source="physics").iq.shape == (16, 16, 1)
