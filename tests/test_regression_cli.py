"""`pyulm regress`: the user-facing comparison with PALA's outputs."""
import shutil

import numpy as np
import pytest
import scipy.io as sio

from pyulm.cli import main
from pyulm.regression import run_regression

from conftest import REF, RefBlock

EXAMPLE = REF.parent / "pyulm" / "data" / "example_block.mat"


def _cell(arrays):
    c = np.empty((len(arrays), 1), dtype=object)
    for i, a in enumerate(arrays):
        c[i, 0] = a
    return c


def _pala_folder(tmp_path, method="radial"):
    """A PALA-layout folder (block + one method's outputs) rebuilt from reference_data/."""
    ref = RefBlock("a")
    shutil.copy(EXAMPLE, tmp_path / "block_a.mat")
    ulm = ref.ulm(method)
    ulm["LocMethod"] = method
    ulm["fwhm"] = np.array(ulm["fwhm"], float)
    out = {"ULM": ulm, "MatTracking": ref[f"{method}/MatTracking"]}
    for name in ("Tracks_raw", "Tracks_interp", "Tracks_vel", "Tracks_nointerp", "Tracks_i"):
        out[name] = _cell(ref.tracks(method, name))
    for name in ("MatOut", "MatOut_zdir", "MatOut_vel", "MatOut_velmean", "MatOut_allin"):
        out[name] = ref.map(method, name)
    path = tmp_path / f"pala_block_a_{method}.mat"
    sio.savemat(path, out)
    return path, out


def test_regress_passes_on_pala_outputs(tmp_path, capsys):
    _pala_folder(tmp_path)
    rows = run_regression(tmp_path)
    stages = {r.stage for r in rows}
    assert stages == {"track", "render"}  # no filtered file: filter and localize are skipped
    assert len(rows) == 10 and all(r.passed for r in rows)
    assert main(["regress", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| a | radial | render | MatOut |" in out and "10 passed, 0 failed" in out


def test_regress_catches_a_difference(tmp_path, capsys):
    path, out = _pala_folder(tmp_path)
    out["MatOut"][100, 200] += 1  # one pixel off in PALA's density map
    tracks = [t.copy() for t in out["Tracks_nointerp"][:, 0]]
    tracks[3][5, 0] += 1e-3
    out["Tracks_nointerp"] = _cell(tracks)
    sio.savemat(path, out)
    rows = {(r.stage, r.output): r for r in run_regression(tmp_path)}
    assert not rows[("render", "MatOut")].passed and rows[("render", "MatOut")].value == 1
    bad = rows[("track", "Tracks_nointerp (nointerp)")]
    assert not bad.passed and bad.value == pytest.approx(1e-3)
    assert rows[("track", "Tracks_raw (pala)")].passed
    assert main(["regress", str(tmp_path)]) == 1
    assert "8 passed, 2 failed" in capsys.readouterr().out


def test_regress_bad_folders(tmp_path, capsys):
    assert main(["regress", str(tmp_path / "missing")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["regress", str(tmp_path)]) == 2
    assert "no PALA output files" in capsys.readouterr().err
    sio.savemat(tmp_path / "pala_block_z_radial.mat", {"x": 1})
    assert main(["regress", str(tmp_path)]) == 2
    assert "block_z.mat is missing" in capsys.readouterr().err
