"""CycleULM's named pipelines, the translate step of ``pyulm process`` and its config keys.

A tiny MB-DT translator is trained here once (a few steps on 16 x 16 patches, about 3 s):
enough to run every wiring for real, not to translate well (its frames may hold no bubble at
all, so these tests do not count localizations after it; docs/cycleulm.md has the benchmark
of the real models).
"""
from __future__ import annotations

import dataclasses
import shutil
from importlib.resources import files

import numpy as np
import pytest
import scipy.io

import pyulm
from pyulm.config import Config, ConfigError
from pyulm.nn.cycleulm import PIPELINES, run_pipeline
from pyulm.sim import free_motion

torch = pytest.importorskip("torch")

EXAMPLE = files("pyulm") / "data" / "example_block.mat"
TINY = {"model": {"width": 4, "disc_width": 4}, "data": {"patch": 16, "psf_fwhm": [3, 3], "n_bubbles": [1, 3]},
        "train": {"epochs": 1, "steps_per_epoch": 2, "batch": 2, "val_patches": 2, "max_minutes": 0, "restarts": 0}}


@pytest.fixture(scope="module")
def sim():
    return free_motion((40, 40), n_frames=12, n_bubbles=(4, 8), seed=3)


@pytest.fixture(scope="module")
def translator(tmp_path_factory, sim):
    from pyulm.nn.cycleulm.mbdt_train import train_mbdt

    torch.set_num_threads(1)
    return train_mbdt(sim.iq, tmp_path_factory.mktemp("mbdt") / "tiny", config=TINY, log=lambda s: None)


@pytest.fixture(scope="module")
def mbtnet(tmp_path_factory):
    """An untrained MBT-Net of 2 channels a level in a valid model directory (wiring, not accuracy)."""
    from pyulm.nn.cycleulm.mbtnet_data import MotionConfig
    from pyulm.nn.cycleulm.mbtnet_infer import write_model_dir
    from pyulm.nn.cycleulm.mbtnet_model import build

    torch.manual_seed(0)
    return write_model_dir(tmp_path_factory.mktemp("mbtnet") / "tiny", build({"c1": 2, "c2": 2, "c3": 2, "cu": 2}),
                           MotionConfig())


def test_e2e_runs_end_to_end(sim, translator, mbtnet):
    out = run_pipeline(sim.iq, "cycleulm-e2e", translator=translator, mbtnet_weights=mbtnet, res=4, frame_rate=500)
    assert out.localizations is None and out.tracks is None  # maps only unless tracks=True
    assert set(out.maps) == {"MatOut", "MatOut_zdir", "MatOut_vel"}
    assert all(m.shape == (161, 161) and np.all(np.isfinite(m)) for m in out.maps.values())
    assert set(out.timings) == {"translate", "e2e"}
    linked = run_pipeline(sim.iq, "cycleulm-e2e", translator=translator, mbtnet_weights=mbtnet, tracks=True,
                          min_length=2)
    assert isinstance(linked.tracks, pyulm.Tracks) and isinstance(linked.localizations, pyulm.Localizations)
    assert {"localize", "track"} <= set(linked.timings)
    np.testing.assert_array_equal(linked.maps["MatOut"], out.maps["MatOut"])
    with pytest.raises(ValueError, match="at least 8 frames"):
        run_pipeline(sim.iq[:, :, :7], "cycleulm-e2e", translator=translator, mbtnet_weights=mbtnet)
    with pytest.raises(ValueError, match="res"):
        run_pipeline(sim.iq, "cycleulm-e2e", translator=translator, mbtnet_weights=mbtnet, res=10)


def test_process_runs_e2e_and_keys_on_mbtnet(tmp_path, translator, mbtnet):
    from pyulm.io import inspect
    from pyulm.pipeline import block_params, read_block, run

    ulm = {"pipeline": "cycleulm-e2e", "translate": str(translator), "mbtnet_weights": str(mbtnet), "res": 4,
           "numberOfParticles": 10}
    cfg = Config.from_dict({"ulm": ulm, "input": {"frames_per_block": 100}, "output": {"images": [], "figures": []}})
    p = block_params(cfg, inspect(EXAMPLE))
    assert p.method == "mblnet" and p.e2e_model[0] == str(mbtnet.resolve()) and len(p.e2e_model[1]) == 64
    run([str(EXAMPLE)], cfg, tmp_path / "out", progress=False)
    res = scipy.io.loadmat(tmp_path / "out" / "ulm_results.mat", simplify_cells=True)
    assert res["MatOut"].shape == (257, 321) and res["ULM"]["pyulm_pipeline"] == "cycleulm-e2e"
    block = read_block(sorted((tmp_path / "out" / "blocks").glob("*.h5"))[0])[0]
    assert block.matout.shape == (257, 321, 3) and {"translate", "e2e"} <= set(block.timings)
    with pytest.raises(ConfigError, match="mbtnet_weights"):
        Config.from_dict({"ulm": {"mbtnet_weights": str(mbtnet)}})
    with pytest.raises(ConfigError, match=r"\[ulm\] mbtnet_weights: .*"):
        block_params(Config.from_dict({"ulm": {**ulm, "mbtnet_weights": str(translator)}}), inspect(EXAMPLE))


@pytest.mark.parametrize("name", ["baseline1", "baseline2"])
def test_baselines_run_end_to_end(sim, name):
    before = sim.iq.copy()
    out = run_pipeline(sim.iq, name, fwhm=3, number_of_particles=10, min_length=2, frame_rate=500, res=4)
    assert np.array_equal(sim.iq, before)  # input never modified
    assert set(out.maps) == {"MatOut", "MatOut_zdir", "MatOut_vel"}
    assert all(m.shape == (161, 161) for m in out.maps.values())
    assert len(out.tracks) > 0 and out.maps["MatOut"].sum() > 0
    assert set(out.timings) == {"denoise", "localize", "track", "render"}
    # thresholding zeroes the background: the localizer saw fewer non-zero pixels than the input has
    assert np.count_nonzero(out.frames) < out.frames.size / 2
    # the bubbles were found: most ground-truth positions have a localization within 1 pixel
    from pyulm.metrics import match, detection_scores

    assert detection_scores(match(sim.gt, out.localizations, 1.0))["recall"] > 0.5


@pytest.mark.parametrize("name", ["cycleulm-ncc", "cycleulm-decon", "cycleulm-loc"])
def test_cycleulm_pipelines_run_end_to_end(sim, translator, name):
    from pyulm.nn import translate

    out = run_pipeline(sim.iq, name, translator=translator, number_of_particles=10, min_length=2, res=4)
    assert out.name == name and set(out.timings) == {"translate", "localize", "track", "render"}
    np.testing.assert_array_equal(out.frames, translate(sim.iq, translator))  # the localizer saw MB-DT's output
    assert out.maps["MatOut"].shape == (161, 161)
    assert PIPELINES[name].localizer in ("ncc", "decon", "mblnet")


@pytest.mark.parametrize("name", ["baseline2", "cycleulm-ncc", "cycleulm-loc"])
def test_pipeline_localizer_is_the_pipelines_localization_step(sim, translator, name):
    """pipeline_localizer's (method, fwhm, options) on PipelineResult.frames reproduce the pipeline's
    localizations (the benchmark reruns that step permissively without translating again)."""
    from pyulm.nn.cycleulm.pipelines import pipeline_localizer

    tr = translator if name.startswith("cycleulm") else None
    before = sim.iq.copy()
    out = run_pipeline(sim.iq, name, translator=tr, fwhm=3, number_of_particles=10, min_length=2)
    method, fwhm, opts = pipeline_localizer(name, sim.iq, translator=tr, fwhm=3)
    assert np.array_equal(sim.iq, before)
    assert method == PIPELINES[name].localizer
    again = pyulm.localize(out.frames, method, fwhm=fwhm, number_of_particles=10, **opts)
    for c in ("frame", "z", "x"):
        np.testing.assert_array_equal(getattr(again, c), getattr(out.localizations, c))
    if name == "baseline2":  # the sparsity weight from the frames before thresholding, per frame
        assert opts["lam"].shape == (sim.iq.shape[2],)
        looser = pipeline_localizer(name, sim.iq, fwhm=3, localizer_options={"lam_factor": 0.5})[2]
        np.testing.assert_allclose(looser["lam"], 0.5 * opts["lam"])


def test_mblnet_on_mb_only_frames_is_the_mb_only_model(translator):
    """CycleULM-Loc (and mblnet after [ulm] translate) use MBL-Net's MB-only model at its validated
    threshold; weights given by the user win, with their own model's threshold."""
    from pyulm.io import inspect
    from pyulm.nn.cycleulm.pipelines import MBONLY_MBLNET, MBONLY_THRESHOLD, mbonly_options
    from pyulm.nn.weights_io import SHIPPED
    from pyulm.pipeline import block_params

    sim = free_motion((48, 48), n_frames=6, n_bubbles=(6, 8), seed=5, psf_fwhm=1.8)
    frames = np.abs(sim.iq)
    out = run_pipeline(frames, "cycleulm-loc", translator=translator, number_of_particles=10, min_length=0)
    want = pyulm.localize(out.frames, "mblnet", weights=str(SHIPPED / MBONLY_MBLNET), threshold=MBONLY_THRESHOLD,
                          number_of_particles=10)
    np.testing.assert_array_equal(out.localizations.z, want.z)
    assert mbonly_options("mblnet", (("weights", "mine"),)) == () and mbonly_options("ncc") == ()
    assert dict(mbonly_options("mblnet", (("threshold", 0.3),))) == {"weights": str(SHIPPED / MBONLY_MBLNET)}
    info = inspect(EXAMPLE)
    for ulm in ({"pipeline": "cycleulm-loc"}, {"LocMethod": "mblnet"}):
        p = block_params(Config.from_dict({"ulm": {"translate": str(translator), **ulm}}), info)
        assert dict(p.method_options) == {"weights": str(SHIPPED / MBONLY_MBLNET), "threshold": MBONLY_THRESHOLD}
    assert block_params(Config.from_dict({"ulm": {"LocMethod": "mblnet"}}), info).method_options == ()


def test_mb_only_mblnet_directory_is_complete_and_finds_mb_only_bubbles():
    """The shipped MB-only MBL-Net: every file under its checksums, its training config readable, and on
    clean MB-only frames (Gaussian PSF of FWHM 2 px, the translators' domain) it finds the bubbles."""
    from pyulm.metrics import pooled_scores
    from pyulm.nn.cycleulm.pipelines import MBONLY_MBLNET, MBONLY_THRESHOLD
    from pyulm.nn.train import load_config
    from pyulm.nn.weights_io import SHIPPED, sha256, verify_checksums

    d = SHIPPED / MBONLY_MBLNET
    verify_checksums(d, "mblnet_mbonly")
    listed = dict(reversed(line.split()) for line in (d / "SHA256SUMS").read_text().splitlines())
    assert listed == {f.name: sha256(f) for f in d.iterdir() if f.name != "SHA256SUMS"}
    assert load_config(d / "train.toml")["data"].psf_families == ("gaussian",)
    mb = free_motion((48, 48), n_frames=4, n_bubbles=(4, 6), seed=7, psf_fwhm=2.0, snr_db=40.0, complex_iq=False)
    locs = pyulm.localize(np.abs(mb.iq), "mblnet", weights=str(d), threshold=MBONLY_THRESHOLD, number_of_particles=10)
    s = pooled_scores([(mb.gt, locs)], 1.0)
    assert s["recall"] > 0.7 and s["precision"] > 0.8


@pytest.mark.filterwarnings("ignore:ncc. PSF estimation failed")  # two bubbles, none isolated: the Gaussian is used
def test_translated_frames_are_localized_with_the_mb_only_psf(translator):
    """After the translate step a PSF-modelling localizer gets the translator's MB-only PSF, not ULM.fwhm."""
    from pyulm.io import inspect
    from pyulm.pipeline import block_params
    from pyulm.pipeline.block import mat_tracking
    from pyulm.psf import gaussian_template

    frames = np.zeros((64, 80, 3))
    for x0 in (28, 32):  # two bubbles of the MB-only PSF, 4 px apart: resolved only with a narrow template
        frames[20:31, x0:x0 + 11, :] += gaussian_template(1.5, (11, 11))[:, :, None]
    cfg = Config.from_dict({"ulm": {"translate": str(translator), "LocMethod": "ncc", "fwhm": [9, 9],
                                    "numberOfParticles": 2, "SVD_cutoff": [1, 3]}, "input": {"frames_per_block": 3}})
    p = block_params(cfg, inspect(EXAMPLE))
    def found(mat):  # both bubbles in every frame (PALA's wavelengths: 1 px = 1 λ here)
        return mat.shape[0] == 6 and np.allclose(np.sort(mat[:, 2]), [33] * 3 + [37] * 3, atol=0.1)

    assert found(mat_tracking(frames, p))
    assert not found(mat_tracking(frames, dataclasses.replace(p, translator=())))  # ULM.fwhm 9 px: merged
    # an ROI kernel keeps ULM.fwhm (its ROI size): radial with ROIs of 3 px finds both MB-only bubbles
    radial = dataclasses.replace(p, method="radial", fwhm=(3.0, 3.0))
    assert found(mat_tracking(frames, radial))


@pytest.mark.parametrize("name, kwargs, fragment", [
    ("cycleulm-nope", {}, "unknown pipeline"),
    ("cycleulm-ncc", {}, "needs an MB-DT translator"),
    ("baseline1", {"translator": "somewhere"}, "does not translate"),
    ("cycleulm-ncc", {"translator": "/no/such/mbdt"}, "/no/such/mbdt"),
    ("baseline2", {"mbtnet_weights": "x"}, "cycleulm-e2e only"),
    ("baseline2", {"tracks": False}, "tracks=False"),
    ("cycleulm-loc", {"translator": "somewhere", "threshold_options": {"t": 0.1}}, "baselines only"),
])
def test_pipeline_refusals(sim, name, kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        run_pipeline(sim.iq, name, **kwargs)


def test_pipeline_refuses_non_finite_and_short_input(sim, translator):
    bad = sim.iq.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="frames"):
        run_pipeline(bad, "baseline1")
    with pytest.raises(ValueError, match="at least 3 frames"):
        run_pipeline(sim.iq[:, :, :2], "cycleulm-ncc", translator=translator)
    with pytest.raises(TypeError, match="no_such"):
        run_pipeline(sim.iq, "baseline1", no_such=1)


def test_config_keys_accepted_and_rejected(tmp_path, translator):
    cfg = Config.from_dict({"ulm": {"pipeline": "CycleULM-NCC", "translate": str(translator)}})
    assert cfg.ulm.pipeline == "cycleulm-ncc" and cfg.ulm.LocMethod == "ncc"
    (tmp_path / "effective.toml").write_text(cfg.to_toml())
    assert Config.load(tmp_path / "effective.toml") == cfg  # the effective config (run log) loads again
    assert Config.from_dict({"ulm": {"translate": str(translator), "LocMethod": "wa"}}).ulm.LocMethod == "wa"
    bad = [({"pipeline": "nope"}, "unknown pipeline 'nope'"),
           ({"pipeline": "cycleulm-loc"}, "needs an MB-DT translator"),
           ({"pipeline": "baseline2", "translate": str(translator)}, "does not translate"),
           ({"pipeline": "baseline1", "LocMethod": "radial"}, "drop LocMethod"),
           ({"pipeline": "baseline1", "tracking": "deepstulm"}, "drop tracking"),
           ({"pipeline": "cycleulm-e2e", "translate": str(translator)}, "res = 4"),
           ({"translate": "/no/such/dir"}, "does not exist")]
    for ulm, fragment in bad:
        with pytest.raises(ConfigError, match=fragment):
            Config.from_dict({"ulm": ulm})


def test_block_key_changes_with_the_translator_weights(tmp_path, translator):
    from pyulm.io import inspect
    from pyulm.nn.weights_io import write_checksums
    from pyulm.pipeline import block_params
    from pyulm.pipeline.store import BlockSpec, block_key

    info = inspect(EXAMPLE)
    spec = BlockSpec(0, str(EXAMPLE), None, info.buffer, 0, info.n_frames, 0)
    other = tmp_path / "other"
    shutil.copytree(translator, other)
    keys = []
    for d in (translator, other):
        p = block_params(Config.from_dict({"ulm": {"translate": str(d)}}), info)
        assert p.translator[2:] == (1.5, 1.5)  # the localizer's PSF: the translator's MB-only PSF
        keys.append((p.translator[1], block_key(spec, dataclasses.replace(p, translator=(
            "same",) + p.translator[1:]))))
    assert keys[0] == keys[1]  # same weights, same key (the directory name aside)
    state = torch.load(other / "weights.pt", weights_only=True)
    torch.save({k: v + 0.01 for k, v in state.items()}, other / "weights.pt")
    write_checksums(other)  # retrained in place: a valid directory with other weights
    p2 = block_params(Config.from_dict({"ulm": {"translate": str(other)}}), info)
    assert p2.translator[1] != keys[0][0]
    assert block_key(spec, dataclasses.replace(p2, translator=("same",) + p2.translator[1:])) != keys[0][1]
    (other / "weights.pt").write_bytes(b"damaged")
    with pytest.raises(ConfigError, match=r"\[ulm\] translate: .*weights.pt"):
        block_params(Config.from_dict({"ulm": {"translate": str(other)}}), info)


def test_block_needs_the_translators_context(translator):
    from pyulm.io import inspect
    from pyulm.pipeline import block_params

    cfg = Config.from_dict({"ulm": {"translate": str(translator), "SVD_cutoff": [1, 2]},
                            "input": {"frames_per_block": 2}})
    with pytest.raises(ConfigError, match="context of 3 frames"):
        block_params(cfg, inspect(EXAMPLE))


# "wa": the tiny translator's frames are not bubble-like enough for radial symmetry's ROI checks
@pytest.mark.parametrize("ulm", [{"translate": "T", "LocMethod": "wa"}, {"pipeline": "cycleulm-decon", "translate": "T"},
                                 {"pipeline": "baseline1"}])
def test_process_writes_pala_outputs_with_the_translate_step(tmp_path, translator, ulm):
    from pyulm.pipeline import run

    ulm = {k: (str(translator) if v == "T" else v) for k, v in ulm.items()}
    cfg = Config.from_dict({"ulm": {**ulm, "numberOfParticles": 20, "min_length": 5},
                            "input": {"frames_per_block": 100}, "output": {"images": [], "figures": []}})
    summary = run([str(EXAMPLE)], cfg, tmp_path / "out", progress=False)
    assert summary.frames == 200 and (summary.localizations > 0 or "translate" in ulm)
    res = scipy.io.loadmat(tmp_path / "out" / "ulm_results.mat", simplify_cells=True)
    assert {"MatOut", "MatOut_zdir", "MatOut_vel", "PowDop", "ULM", "llx", "llz"} <= set(res)
    assert res["MatOut"].shape == (641, 801)
    if "translate" in ulm:
        assert res["ULM"]["pyulm_translate"] == str(translator.resolve())
    if "pipeline" in ulm:
        assert res["ULM"]["pyulm_pipeline"] == ulm["pipeline"]
    tracks = scipy.io.loadmat(tmp_path / "out" / "ulm_tracks.mat", simplify_cells=True)
    assert "Track_tot" in tracks and "MatTracking" in tracks
    from pyulm.pipeline import read_block

    blocks = sorted((tmp_path / "out" / "blocks").glob("*.h5"))
    assert len(blocks) == 2
    stage = "translate" if "translate" in ulm else "denoise"
    assert stage in read_block(blocks[0])[0].timings
