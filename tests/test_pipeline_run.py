"""pyulm.pipeline: PALA parity on the example block, whole runs, resume, bad input."""
from __future__ import annotations

import dataclasses
import gc
import os
import tracemalloc

import h5py
import numpy as np
import pytest
import scipy.io

from pyulm import pala
from pyulm.config import Config, ConfigError
from pyulm.io import FormatError, inspect, load_table, read_frames
from pyulm.pipeline import accumulate_maps, block_params, pala_ulm, process_frames, run

from conftest import RefBlock
from test_io_files import EXAMPLE, example_parts, write_blocks

BLOCK_A = {"ulm": {"numberOfParticles": 40, "NLocalMax": 3, "fwhm": 3, "max_linking_distance": 2,
                   "min_length": 15, "res": 10}}


@pytest.fixture(scope="module")
def example_result():
    info = inspect(EXAMPLE)
    params = block_params(Config.from_dict(BLOCK_A), info)
    res = process_frames(read_frames(info), params)
    return info, params, res


def test_example_block_maps_equal_pala(example_result):
    info, params, res = example_result
    ref = RefBlock("a")
    np.testing.assert_allclose(res.MatTracking, ref["radial/MatTracking"], rtol=0, atol=1e-7)
    maps = accumulate_maps(res.tracks, info.shape[:2], params)
    np.testing.assert_array_equal(maps["MatOut"], ref.map("radial", "MatOut"))
    # Velocity maps come from float32 tracks: equal to PALA's up to single precision.
    np.testing.assert_allclose(maps["MatOut_zdir"], ref.map("radial", "MatOut_zdir"), rtol=2e-6, atol=1e-3)
    np.testing.assert_allclose(maps["MatOut_vel"], ref.map("radial", "MatOut_vel") * params.wavelength_mm, rtol=2e-6, atol=1e-4)
    assert maps["llz"].shape == (641,) and maps["llz"][-1] == pytest.approx(64.0)


def test_default_config_is_pala_in_vivo_example(example_result):
    info = example_result[0]
    p = block_params(Config(), info)
    assert p.number_of_particles == 90 and p.fwhm == (3.0, 3.0) and p.method == "radial"
    assert p.svd_cutoff == (5, 200) and p.band == (50.0, 249.0) and p.svd_precision == "double"
    assert (p.max_linking_distance, p.max_gap_closing, p.min_length, p.res) == (2.0, 0, 15, 10.0)
    assert p.n_local_max == 3 and p.frame_rate == 1000.0 and p.n_frames == 200
    U = pala_ulm(p)  # PALA's struct, as written to the .mat results
    assert U["numberOfParticles"] == 90 and U["fwhm"] == [3.0, 3.0] and U["SVD_cutoff"] == [5, 200]
    assert U["parameters"]["NLocalMax"] == 3 and U["scale"] == [1.0, 1.0, 0.001]
    v = block_params(Config.from_dict({"ulm": {"max_velocity_mm_s": 197.12}}), info).max_linking_distance
    assert v == pytest.approx(197.12 / 1000 / (1540 / 15.625e3))
    # PALA's [fwhm_x fwhm_z] in the config is (fwhm_z, fwhm_x) in Python
    assert block_params(Config.from_dict({"ulm": {"fwhm": [3, 5]}}), info).fwhm == (5.0, 3.0)


def test_config_errors_name_the_config_fields(example_result):
    info = example_result[0]
    with pytest.raises(ConfigError, match=r"example_block.mat: \[ulm\] ButterCuttofFreq: the high cut-off 600"):
        block_params(Config.from_dict({"ulm": {"ButterCuttofFreq": [50, 600]}}), info)
    with pytest.raises(ConfigError, match=r"\[ulm\] SVD_cutoff: first component 300 exceeds the 200 frames"):
        block_params(Config.from_dict({"ulm": {"SVD_cutoff": [300]}}), info)
    with pytest.raises(ConfigError, match=r"\[ulm\] pyulm_svd"):
        Config.from_dict({"ulm": {"pyulm_svd": "single"}})


def test_run_writes_pala_outputs_and_resumes(tmp_path):
    blocks = write_blocks(tmp_path, n=2, frames=60)
    out = tmp_path / "out"
    cfg = Config.from_dict({**BLOCK_A, "output": {"images": [], "figures": []}})
    s1 = run(blocks, cfg, out, progress=False)
    assert (s1.blocks, s1.computed, s1.skipped, s1.frames) == (2, 2, 0, 120)
    d = scipy.io.loadmat(out / "ulm_results.mat", struct_as_record=False, squeeze_me=False)
    for name in ("MatOut", "MatOut_zdir", "MatOut_vel", "PowDop"):
        assert name in d
    assert d["MatOut"].shape == (641, 801) and d["PowDop"].shape == (64, 80)
    assert d["llx"].shape == (1, 801) and d["llz"].shape == (1, 641) and d["lambda"].shape == (1, 1)
    assert d["ULM"][0, 0].numberOfParticles[0, 0] == 40 and d["ULM"][0, 0].LocMethod[0] == "radial"
    t = scipy.io.loadmat(out / "ulm_tracks.mat")
    assert t["Track_tot"].shape == (s1.tracks, 1) and t["Track_tot"][0, 0].shape[1] == 5
    assert t["Track_tot"][0, 0].dtype == np.float32
    assert t["MatTracking"].shape == (2, 1) and t["MatTracking"][0, 0].shape[1] == 4
    # The density is the sum over blocks of each block's own map (tracks never span blocks).
    per_block = []
    for b in blocks:
        info = inspect(b)
        U = block_params(cfg, info)
        r = process_frames(read_frames(info), U)
        per_block.append(accumulate_maps(r.tracks, info.shape[:2], U)["MatOut"])
    np.testing.assert_array_equal(d["MatOut"], per_block[0] + per_block[1])
    # HDF5 tables round-trip with their metadata.
    locs, trk = load_table(out / "localizations.h5"), load_table(out / "tracks.h5")
    assert len(locs) == s1.localizations and len(trk) == s1.tracks
    assert locs.meta.frame_rate == 1000.0 and locs.meta.pixel_size == (1.0, 1.0) and locs.meta.unit == "wavelength"
    assert locs.frame.max() >= 60 and set(np.unique(locs["block"])) == {0, 1}
    assert trk.columns == ("z", "x", "vz", "vx", "t", "block") and trk.meta.params["ULM"]["numberOfParticles"] == 40
    # Rerun: nothing recomputed, same results; --force recomputes; a changed parameter recomputes.
    mtimes = {p.name: p.stat().st_mtime_ns for p in (out / "blocks").iterdir()}
    s2 = run(blocks, cfg, out, progress=False)
    assert (s2.computed, s2.skipped) == (0, 2)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "blocks").iterdir()} == mtimes
    np.testing.assert_array_equal(scipy.io.loadmat(out / "ulm_results.mat")["MatOut"], d["MatOut"])
    assert run(blocks, cfg, out, progress=False, force=True).computed == 2
    cfg2 = Config.from_dict({"ulm": dict(BLOCK_A["ulm"], min_length=10), "output": {"images": [], "figures": []}})
    assert run(blocks, cfg2, out, progress=False).computed == 2
    assert "summary:" in (out / "pyulm-process.log").read_text()


def test_bad_inputs_write_nothing(tmp_path):
    iq, uf, pdata = example_parts()
    a = tmp_path / "a.mat"
    b = tmp_path / "b.mat"
    scipy.io.savemat(a, {"IQ": iq[:, :, :30], "UF": uf, "PData": pdata})
    scipy.io.savemat(b, {"IQ": iq[:40, :, :30], "UF": uf, "PData": pdata})
    out = tmp_path / "out"
    with pytest.raises(FormatError, match="b.mat: frames are 40x80.*same image size"):
        run([a, b], Config(), out, progress=False)
    assert not out.exists()
    c = tmp_path / "c.mat"
    scipy.io.savemat(c, {"IQ": iq[:, :, :30]})  # no UF: no frame rate
    with pytest.raises(ConfigError, match="frame rate is unknown"):
        run([c], Config(), out, progress=False)
    assert not out.exists()
    notdir = tmp_path / "file"
    notdir.write_text("x")
    with pytest.raises(OSError, match="cannot create the output directory"):
        run([a], Config.from_dict({"ulm": {"SVD_cutoff": [2]}}), notdir / "out", progress=False)
    # scale gives the frame rate when the file does not
    cfg = Config.from_dict({"ulm": {"scale": [1, 1, 0.001], "numberOfParticles": 40}, "output": {"images": [], "figures": [], "tables": False}})
    s = run([c], cfg, out, progress=False)
    assert s.frames == 30 and (out / "ulm_results.mat").exists()


def test_v73_threshold_switch_in_results(tmp_path):
    blocks = write_blocks(tmp_path, n=1, frames=40, fmt="v73")
    out = tmp_path / "out"
    cfg = Config.from_dict({**BLOCK_A, "output": {"images": [], "figures": [], "mat_v73_threshold": 1000, "tables": False}})
    run(blocks, cfg, out, progress=False)
    with h5py.File(out / "ulm_results.mat") as f:
        assert f["MatOut"].shape == (801, 641) and f["MatOut"].attrs["MATLAB_class"] == b"double"
        assert f["ULM"].attrs["MATLAB_class"] == b"struct"
    assert not [p for p in os.listdir(out) if p.endswith(".part")]


def test_pala_block_params_from_ulm_struct(example_result):
    """PALA's ULM struct (as MATLAB hands it over, fields as numpy arrays) gives, through the PALA
    adapter, the parameters it stands for; the pipeline itself takes only BlockParams."""
    info, params, res = example_result
    p60 = params.for_frames(60)
    ULM = dict(pala_ulm(p60), frame_rate=1000.0)
    U = {k: (np.asarray(v, float) if isinstance(v, (list, tuple)) else v) for k, v in ULM.items()}
    assert isinstance(U["ButterCuttofFreq"], np.ndarray)
    frames = read_frames(info)[:, :, :60]
    from_struct = pala.block_params(U, frames.shape, info.pixel_size)
    a = process_frames(frames, from_struct)
    b = process_frames(frames, p60)
    np.testing.assert_array_equal(a.MatTracking, b.MatTracking)
    assert len(a.tracks) == len(b.tracks) and all(np.array_equal(x, y) for x, y in zip(a.tracks, b.tracks))
    with pytest.raises(ValueError, match="frames: shape"):
        process_frames(frames, params)  # 200-frame parameters
    with pytest.raises(ValueError, match="ULM.numberOfParticles"):
        pala.block_params(dict(U, numberOfParticles=0), frames.shape)
    with pytest.raises(TypeError, match=r"params: expected BlockParams .*pyulm\.pala\.block_params"):
        process_frames(frames, U)


def _traced_peak(fn):
    """``fn()`` and the peak of numpy/Python allocations it made (tracemalloc), in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return out, peak


@pytest.mark.slow
def test_process_frames_memory_is_bounded(example_result, monkeypatch):
    """A block costs one float64 amplitude array (a complex64 block's size) plus a few MB:
    the double-precision filtered block never exists whole. Handed over (as ``run_block``
    does), the block holds its own amplitude, so only the temporaries remain. Same results.

    The former layout (the SVD into a complex128 copy, band-pass in place, |IQ| over its
    real parts) allocated 2.46 blocks here beyond the caller's input; now 1.46 and 0.46.
    """
    monkeypatch.setenv("PYULM_NUM_THREADS", "1")  # chunk temporaries do not depend on the core count
    info, params, _ = example_result  # imports and lazy set-ups are done
    # PALA's in vivo block size, 78 x 118 x 800 (56 MB), Fortran-ordered as read from a MAT-file
    frames = np.asfortranarray(np.tile(read_frames(info), (2, 2, 4))[:78, :118, :800])
    U = dataclasses.replace(params, shape=(78, 118), n_frames=800, svd_cutoff=(5, 800))
    original = frames.copy()
    res, peak = _traced_peak(lambda: process_frames(frames, U))
    assert peak < 1.8 * frames.nbytes, f"process_frames allocated {peak / frames.nbytes:.2f} blocks"
    np.testing.assert_array_equal(frames, original)  # never modified
    own, peak = _traced_peak(lambda: process_frames(frames, U, overwrite_input=True))
    assert peak < 0.8 * original.nbytes, f"a handed-over block allocated {peak / original.nbytes:.2f} blocks"
    np.testing.assert_array_equal(own.MatTracking, res.MatTracking)
    np.testing.assert_array_equal(own.powdop, res.powdop)
    assert len(own.tracks) == len(res.tracks) and all(np.array_equal(a, b) for a, b in zip(own.tracks, res.tracks))


@pytest.mark.parametrize("variant", ["fortran", "c_order", "c_slice", "complex128", "float64", "keep_all", "no_band"])
def test_handed_over_block_gives_the_same_result(example_result, variant):
    """|IQ| written over the handed-over block, whatever its layout and class, gives what
    process_frames gives (which leaves its input alone)."""
    info, params, _ = example_result
    frames = read_frames(info)[:, :, :80]
    U = params.for_frames(80)
    if variant == "c_order":
        frames = np.ascontiguousarray(frames)
    elif variant == "c_slice":
        frames = np.ascontiguousarray(read_frames(info))[:, :, 10:90]
    elif variant == "complex128":
        frames = frames.astype(np.complex128, order="F")
    elif variant == "float64":
        frames = np.abs(frames).astype(np.float64, order="F")
    elif variant == "keep_all":
        U = dataclasses.replace(U, svd_cutoff=(1, 80))
    elif variant == "no_band":
        U = dataclasses.replace(U, band=())
    original = frames.copy()
    ref = process_frames(frames, U)
    np.testing.assert_array_equal(frames, original)
    own = process_frames(frames, U, overwrite_input=True)
    np.testing.assert_array_equal(own.MatTracking, ref.MatTracking)
    np.testing.assert_array_equal(own.powdop, ref.powdop)
    assert len(own.tracks) == len(ref.tracks) and all(np.array_equal(a, b) for a, b in zip(own.tracks, ref.tracks))
    assert ref.MatTracking.shape[0] > 100


@pytest.mark.parametrize("keep_all", [False, True])
def test_non_finite_block_is_refused_before_anything_is_written(example_result, keep_all):
    """process_frames makes no pass of its own for NaN/Inf: the filter finds them on its way
    (its Gram matrix), before the amplitude goes over a handed-over block."""
    info, params, _ = example_result
    U = params.for_frames(60)
    if keep_all:
        U = dataclasses.replace(U, svd_cutoff=(1, 60))
    frames = np.asfortranarray(read_frames(info)[:, :, :60])
    frames[10, 20, 30] = np.nan
    original = frames.copy()
    for overwrite in (False, True):
        with pytest.raises(ValueError, match=r"^frames: 1 value\(s\) are NaN or Inf; expected finite values$"):
            process_frames(frames, U, overwrite_input=overwrite)
        np.testing.assert_array_equal(frames, original)


def test_images_and_figures_use_the_pixel_size_in_mm(example_result, tmp_path):
    """The scale bar and the stored resolution come from the pixel size in mm (pixel size in
    wavelengths x wavelength), not from the wavelength alone (the bug when a pixel is not
    one wavelength)."""
    from PIL import Image

    from pyulm import figures as F
    from pyulm.pipeline import write_images

    params = dataclasses.replace(example_result[1], pixel_size=(0.5, 0.25), wavelength_mm=0.1)
    rng = np.random.default_rng(0)
    mat = np.zeros((201, 501))
    mat[50:150, 100:400] = rng.integers(0, 4, (100, 300))
    maps = {"MatOut": mat, "MatOut_zdir": mat * rng.choice([-1.0, 1.0], mat.shape), "MatOut_vel": mat * 7.0}
    out = write_images(tmp_path, maps, np.ones((20, 50)), params, ["png"], ["png"])
    assert {"MatOut_png", "MatOut_vel_png", "PowDop_png", "density_png", "velocity_png"} <= set(out)
    mm = (0.05, 0.025)  # (dz, dx) of one pixel in mm
    want = F.save_figure(F.density_rgb(mat, res=params.res, pixel_size_mm=mm), tmp_path / "want.png",
                         pixel_size_mm=mm, res=params.res)
    wrong = F.save_figure(F.density_rgb(mat, res=params.res, pixel_size_mm=0.1), tmp_path / "wrong.png")
    got = np.asarray(Image.open(out["MatOut_png"]))
    np.testing.assert_array_equal(got, np.asarray(Image.open(want)))
    assert not np.array_equal(got, np.asarray(Image.open(wrong)))
    dpi = Image.open(out["MatOut_png"]).info["dpi"]  # SR pixel = 0.0025 mm (x), 0.005 mm (z)
    assert dpi[0] == pytest.approx(25.4 / 0.0025, rel=1e-3) and dpi[1] == pytest.approx(25.4 / 0.005, rel=1e-3)


def test_maps_accumulated_block_by_block_equal_one_pass_of_pala():
    """MapAccumulator adds blocks of tracks in turn; the maps equal PALA's ULM_Track2MatOut over
    all tracks at once, bit for bit (non-unit pixels, float32 tracks, PALA's no-track sentinel)."""
    from pyulm.pala import ULM_Track2MatOut
    from pyulm.pipeline import MapAccumulator

    rng = np.random.default_rng(0)
    tracks = [np.column_stack([np.cumsum(rng.normal(0, 0.3, 60)) + rng.uniform(5, 25),
                               np.cumsum(rng.normal(0, 0.3, 60)) + rng.uniform(3, 15),
                               rng.normal(0, 50, (60, 2)), np.arange(60) / 1e3]).astype(np.float32) for _ in range(40)]
    tracks.insert(17, np.zeros((1, 4)))
    ps, res = (0.5, 0.7), 10
    acc = MapAccumulator((64, 30), res, ps, None, np.float64)
    for lo, hi in ((0, 10), (10, 11), (11, 30), (30, 41)):
        acc.add_tracks(tracks[lo:hi])
    maps = acc.maps()
    # PALA: (pos_wavelength / PDelta + 1) / SRscale, in the tracks' class
    conv = [np.column_stack([(t[:, 0] / t.dtype.type(ps[0]) + 1) / t.dtype.type(1 / res),
                             (t[:, 1] / t.dtype.type(ps[1]) + 1) / t.dtype.type(1 / res), t[:, 2:4]]) for t in tracks]
    size = [641, 301]
    np.testing.assert_array_equal(maps["MatOut"], ULM_Track2MatOut(conv, size))
    np.testing.assert_array_equal(maps["MatOut_zdir"], ULM_Track2MatOut(conv, size, "2D_vel_z"))
    np.testing.assert_array_equal(maps["MatOut_vel"], ULM_Track2MatOut(conv, size, "2D_velnorm"))
    assert maps["MatOut"].sum() > 100 and maps["llz"][-1] == pytest.approx(64 * 0.5)


def test_pala_single_svd_from_the_config(example_result):
    """[ulm] pyulm_svd = "pala_single" reaches the filter (PALA's single-precision route) and
    the ULM struct written to the results; the default stays the double route."""
    info, params, res = example_result
    cfg = Config.from_dict({"ulm": {**BLOCK_A["ulm"], "pyulm_svd": "pala_single"}})
    p = block_params(cfg, info)
    assert p.svd_precision == "pala_single" and pala_ulm(p)["pyulm_svd"] == "pala_single"
    assert "pyulm_svd" not in pala_ulm(params)
    single = process_frames(read_frames(info), p)
    rel = np.abs(single.powdop - res.powdop).max() / res.powdop.max()
    assert 1e-6 < rel < 1e-2  # single-precision Gram matrix: visibly, but only slightly, different


def _one_shot_outputs(out):
    """The result files as the end of a run wrote them before it went block by block: every
    block's tracks and localizations gathered in memory, then written whole (the reference)."""
    from pyulm import Localizations, Tracks
    from pyulm.pipeline.store import read_block

    blocks = sorted((out / "blocks").glob("*.h5"))
    tracks, mats, frames = [], [], 0
    locs, pts, offs = [], [], [np.zeros(1, np.int64)]
    trk0 = Tracks.load(out / "tracks.h5")
    dz, dx = trk0.meta.pixel_size
    for k, p in enumerate(blocks):
        res, attrs = read_block(p)
        tracks += res.tracks
        mats.append(res.MatTracking)
        m = res.MatTracking
        locs.append(Localizations(m[:, 1] / dz, m[:, 2] / dx, m[:, 3].astype(np.int64) - 1 + frames, m[:, 0],
                                  extra={"block": np.full(len(m), k, np.int64)}))
        pts.append(np.column_stack([attrs["points"] / np.array([dz, dx, dz, dx, 1], np.float32),
                                    np.full(len(attrs["points"]), k, np.float32)]))
        offs.append(attrs["offsets"][1:] + sum(len(q) for q in pts[:-1]))
        frames += res.n_frames

    def cell(items):
        c = np.empty((len(items), 1), dtype=object)
        for i, a in enumerate(items):
            c[i, 0] = a
        return c
    return tracks, mats, Localizations.concat(locs), Tracks(np.concatenate(pts), np.concatenate(offs), trk0.columns), cell


def test_result_files_written_block_by_block_equal_the_whole_ones(tmp_path):
    """The end of a run writes ulm_tracks.mat and the tables block by block (memory: one block):
    ulm_tracks.mat is byte for byte the file the whole cells give (MAT v5), the tables hold
    the arrays the gathered tables hold, and the v7.3 file holds the same values."""
    from pyulm.io import read_mat, save_mat

    blocks = write_blocks(tmp_path, n=3, frames=60)
    out = tmp_path / "out"
    cfg = Config.from_dict({**BLOCK_A, "output": {"images": [], "figures": []}})
    s = run(blocks, cfg, out, progress=False)
    tracks, mats, locs, trk, cell = _one_shot_outputs(out)
    assert s.tracks == len(tracks) > 20 and s.localizations == len(locs) and len(mats) == 3
    v5 = read_mat(out / "ulm_tracks.mat")
    save_mat(tmp_path / "whole.mat", {"Track_tot": cell(tracks), "MatTracking": cell(mats), "ULM": pala_ulm(
        block_params(cfg, inspect(blocks[0]))), "lambda": float(v5["lambda"].item()),
        "block_files": [str(b) for b in blocks], "block_frames": v5["block_frames"]})
    assert (out / "ulm_tracks.mat").read_bytes() == (tmp_path / "whole.mat").read_bytes()
    got_l, got_t = load_table(out / "localizations.h5"), load_table(out / "tracks.h5")
    for c in locs.columns:
        assert got_l[c].dtype == locs[c].dtype and np.array_equal(got_l[c], locs[c]), c
    assert got_t.points.dtype == np.float32 and np.array_equal(got_t.points, trk.points)
    assert np.array_equal(got_t.offsets, trk.offsets)
    # MAT v7.3 (a low threshold): the same values, written by h5py element by element
    cfg73 = Config.from_dict({**BLOCK_A, "output": {"images": [], "figures": [], "mat_v73_threshold": 1000}})
    assert run(blocks, cfg73, out, progress=False).computed == 0
    with h5py.File(out / "ulm_tracks.mat") as f:
        assert f["Track_tot"].attrs["MATLAB_class"] == b"cell" and f["Track_tot"].shape == (1, len(tracks))
    v73 = read_mat(out / "ulm_tracks.mat")
    for name, items in (("Track_tot", tracks), ("MatTracking", mats)):
        assert v73[name].shape == (len(items), 1)
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(v73[name].ravel(), items)), name
    assert not [p for p in os.listdir(out) if p.endswith(".part")]
