"""pyulm process with ``[ulm] tracking = "deepstulm"``: MatOut from Deep-stULM's track maps."""
from __future__ import annotations

import sys

import h5py
import numpy as np
import pytest
import scipy.io

pytest.importorskip("torch")

from pyulm.cli import main  # noqa: E402
from pyulm.config import Config, ConfigError  # noqa: E402
from pyulm.io import inspect, read_frames  # noqa: E402
from pyulm.nn import track_maps  # noqa: E402
from pyulm.nn.deepstulm.inference import to_pala_grid  # noqa: E402
from pyulm.pipeline import block_params, process_frames, run  # noqa: E402
from pyulm.pipeline.deepstulm import filter_complex  # noqa: E402

from test_io_files import EXAMPLE  # noqa: E402

QUIET = {"images": [], "figures": []}
DEEP = {"ulm": {"tracking": "deepstulm", "numberOfParticles": 40}, "output": QUIET}


def test_process_writes_matout_from_track_maps(tmp_path):
    out = tmp_path / "out"
    cfg = Config.from_dict(DEEP)
    s = run([EXAMPLE], cfg, out, progress=False)
    assert (s.computed, s.tracks) == (1, 0) and s.localizations > 0
    d = scipy.io.loadmat(out / "ulm_results.mat", struct_as_record=False)
    assert d["MatOut"].shape == (641, 801)  # PALA's grid of the 64 x 80 block at res = 10
    assert d["ULM"][0, 0].pyulm_tracking[0] == "deepstulm"
    # MatOut is the block's angiogram (temporal windows per pixel) on PALA's grid, as from Python
    info = inspect(EXAMPLE)
    params = block_params(cfg, info)
    iq, powdop = filter_complex(read_frames(info), params)
    angio = track_maps(iq)
    np.testing.assert_array_equal(d["MatOut"], to_pala_grid(angio, 4, 10.0))
    assert 0 < d["MatOut"].max() <= 4 and (d["MatOut"] > 0).mean() > 0.01  # 200 frames: 4 windows of 64
    # no velocity maps from this method: zeros of the same grid
    for name in ("MatOut_zdir", "MatOut_vel"):
        assert d[name].shape == (641, 801) and not d[name].any()
    # the power Doppler image and the localizations are those of the conventional route (to the
    # rounding of the SVD projection, done whole here and by row blocks there)
    conv_cfg = Config.from_dict({"ulm": DEEP["ulm"] | {"tracking": "hungarian"}})
    conv = process_frames(read_frames(info), block_params(conv_cfg, info))
    np.testing.assert_allclose(d["PowDop"], conv.powdop, rtol=1e-9)
    t = scipy.io.loadmat(out / "ulm_tracks.mat")
    np.testing.assert_allclose(t["MatTracking"][0, 0], conv.MatTracking, rtol=1e-7, atol=1e-9)
    # the block file stores the map (checksummed); a rerun reuses it; the default tracking recomputes
    (blk,) = (out / "blocks").iterdir()
    with h5py.File(blk, "r") as f:
        np.testing.assert_array_equal(f["MatOut"][()], d["MatOut"])
    assert run([EXAMPLE], cfg, out, progress=False).computed == 0
    assert run([EXAMPLE], Config.from_dict({"ulm": {"numberOfParticles": 40}, "output": QUIET}), out,
               progress=False).computed == 1
    d2 = scipy.io.loadmat(out / "ulm_results.mat")
    assert d2["MatOut_vel"].any() and not np.array_equal(d2["MatOut"], d["MatOut"])


def test_bad_tracking_refused_before_the_output_is_touched(tmp_path, capsys):
    out = tmp_path / "out"
    bad = tmp_path / "bad.toml"
    bad.write_text('[ulm]\ntracking = "deepstlum"\n')
    code = main(["process", str(EXAMPLE), "--config", str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "[ulm] tracking" in err and "'hungarian' or 'deepstulm'" in err and not out.exists()
    with pytest.raises(ConfigError, match=r"deepstulm_weights is used only with tracking = \"deepstulm\""):
        Config.from_dict({"ulm": {"deepstulm_weights": "x"}})
    # blocks shorter than the network's 64-frame window, or weights that are not a model: before any output
    short = Config.from_dict({**DEEP, "input": {"frames_per_block": 50}})
    with pytest.raises(ConfigError, match=r"a block of 50 frames is shorter than the network's temporal window of 64"):
        run([EXAMPLE], short, out, progress=False)
    nowhere = Config.from_dict({"ulm": {"tracking": "deepstulm", "deepstulm_weights": str(tmp_path / "none")}})
    with pytest.raises(ConfigError, match=r"\[ulm\] deepstulm_weights: .*none do not exist"):
        run([EXAMPLE], nowhere, out, progress=False)
    assert not out.exists()


def test_missing_torch_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r"pyulm\[nn\]"):
        run([EXAMPLE], Config.from_dict(DEEP), tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()
