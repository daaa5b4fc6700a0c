"""The pyulm command: info, config, process (errors, kill and resume), demo."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib

import numpy as np
import pytest
import scipy.io

from pyulm.cli import main
from pyulm.config import EXAMPLE_TOML, Config

from test_io_files import EXAMPLE, write_blocks, write_matlab_h5


def _run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_info_pala_verasonics_and_rcvdata(tmp_path, capsys):
    code, out, err = _run_cli(capsys, "info", str(EXAMPLE))
    assert code == 0 and "layout:      pala" in out and "(z, x, t) = 64 x 80 x 200" in out and "1000 Hz" in out
    # the example's IQ is complex single: listed and read as complex
    assert "64x80x200  single complex" in out and "stored 64x80x200 complex64" in out
    ws = tmp_path / "ws.mat"
    write_matlab_h5(ws, [np.ones((6, 5, 1, 4), complex)])
    code, out, err = _run_cli(capsys, "info", str(ws), "--variable", "IQData{1}")
    assert code == 0 and "MAT v7.3" in out and "verasonics" in out and "skipped comment" in out
    rcv = tmp_path / "rcv.mat"
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = np.zeros((64, 16, 2), np.int16)
    scipy.io.savemat(rcv, {"RcvData": cell})
    code, out, err = _run_cli(capsys, "info", str(rcv))
    assert code == 1 and "RcvData" in out and "beamform" in out and "Traceback" not in out + err


def test_config_example_and_check(tmp_path, capsys):
    code, out, _ = _run_cli(capsys, "config", "--example")
    assert code == 0 and out == EXAMPLE_TOML
    assert Config.from_dict(tomllib.loads(out)) == Config()
    bad = tmp_path / "bad.toml"
    bad.write_text("[ulm]\nnumberOfParticles = 0\nFWHM = 3\n")
    code, out, err = _run_cli(capsys, "config", str(bad))
    assert code == 2 and err.count("\n") == 1
    assert "bad.toml" in err and "numberOfParticles" in err and "greater than 0" in err and "FWHM" in err
    good = tmp_path / "good.toml"
    good.write_text('[ulm]\nnumberOfParticles = 40\nSVD_cutoff = [5, "end"]\n')
    code, out, _ = _run_cli(capsys, "config", str(good))
    assert code == 0 and "numberOfParticles = 40" in out


def test_process_bad_input_one_line_nothing_written(tmp_path, capsys):
    data = EXAMPLE.read_bytes()
    bad = tmp_path / "cut.mat"
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    code, _, err = _run_cli(capsys, "process", str(bad), "--out", str(out), "--workers", "0")
    assert code == 2 and err.count("\n") == 1 and "cut.mat" in err and "Traceback" not in err
    assert not out.exists()
    flat = tmp_path / "flat.mat"
    scipy.io.savemat(flat, {"IQ": np.zeros((8, 9), complex)})
    code, _, err = _run_cli(capsys, "process", str(flat), "--out", str(out))
    assert code == 2 and "2 axes" in err and not out.exists()
    (tmp_path / "afile").write_text("x")
    code, _, err = _run_cli(capsys, "process", str(EXAMPLE), "--out", str(tmp_path / "afile" / "o"), "--workers", "0")
    assert code == 2 and "output directory" in err
    with pytest.raises(ValueError):  # --debug shows the real exception
        main(["process", str(flat), "--out", str(out), "--debug"])


def _block_files(d):
    return sorted(p.name for p in (d / "blocks").glob("*.h5")) if (d / "blocks").exists() else []


def test_kill_and_resume(tmp_path):
    blocks = write_blocks(tmp_path, n=4, frames=70, step=40)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[ulm]\nnumberOfParticles = 40\n[output]\nimages = []\ntables = false\n")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "pyulm", "process", *map(str, blocks), "--config", str(cfg), "--out", str(out),
           "--workers", "0", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline and not _block_files(out) and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = _block_files(out)
    assert 1 <= len(done) <= 4
    if len(done) < 4:
        assert not (out / "ulm_results.mat").exists()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"({4 - len(done)} computed, {len(done)} already done)" in res.stdout
    assert not [p for p in (out / "blocks").iterdir() if p.suffix != ".h5"]  # no temp file left
    ref = tmp_path / "ref"
    from pyulm.pipeline import run

    run(blocks, Config.load(cfg), ref, progress=False)
    for k in ("MatOut", "MatOut_vel"):
        np.testing.assert_array_equal(scipy.io.loadmat(out / "ulm_results.mat")[k],
                                      scipy.io.loadmat(ref / "ulm_results.mat")[k])


def test_demo(tmp_path):
    t0 = time.time()
    res = subprocess.run([sys.executable, "-m", "pyulm", "demo", "--out", str(tmp_path / "d"), "--no-progress"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert time.time() - t0 < 60
    for name in ("MatOut.png", "MatOut.tif", "MatOut_vel.png", "MatOut_vel.tif", "MatOut_zdir.png", "MatOut_zdir.tif",
                 "ulm_results.mat"):
        assert (tmp_path / "d" / name).stat().st_size > 0
        assert str(tmp_path / "d" / name) in res.stdout
    from PIL import Image

    assert Image.open(tmp_path / "d" / "MatOut.png").size == (801, 641)
