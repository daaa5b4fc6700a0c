"""Run the MATLAB-language test suite of matlab_interop/ under GNU Octave.

The .m suites (matlab_interop/tests/suite_*.m, run by run_all.m) exercise every
wrapper through the file transport, run a PALA-style processing script on the
drop-in folder and compare everything with values computed here in Python and
written to a .mat file. One Octave session runs the selected tests; each Octave
test is one pytest item. All paths it touches (data, temporary directory, HOME
for the saved preferences) contain spaces and quotes. Skips only when
octave-cli is missing.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from scipy import signal

import pyulm
from pyulm import pala

ROOT = Path(__file__).resolve().parents[1]
INTEROP = ROOT / "matlab_interop"
OCTAVE = shutil.which("octave-cli")
N_FRAMES = 100

pytestmark = [pytest.mark.octave, pytest.mark.slow]


def pala_pipeline(IQ, ULM, band, frame_rate):
    """What the PALA-style script computes, in Python (the oracle)."""
    b, a = signal.butter(2, np.asarray(band) / (frame_rate / 2), "bandpass")
    IQf = pala.SVDfilter(IQ, ULM["SVD_cutoff"])
    IQf = signal.lfilter(b, a, IQf, axis=2)
    IQf[~np.isfinite(IQf)] = 0
    MatTracking = pala.ULM_localization2D(np.abs(IQf), ULM)
    MatTracking[:, 1:3] = MatTracking[:, 1:3] - 1
    tracks = pala.ULM_tracking2D(MatTracking, ULM)
    # the script computes in the tracks' class (single), as MATLAB does
    matout_tracks = [(t[:, :4] + np.array([1, 1, 0, 0], t.dtype)) / np.array([0.1, 0.1, 1, 1], t.dtype) for t in tracks]
    sr = (np.round(np.asarray(ULM["size"][:2]) / 0.1) + 1).astype(float)
    MatOut = pala.ULM_Track2MatOut(matout_tracks, sr)
    MatOut_zdir = pala.ULM_Track2MatOut(matout_tracks, sr, "2D_vel_z")
    MatOut2, MatOut_vel = pala.ULM_Track2MatOut(matout_tracks, sr, "2D_velnorm", nargout=2)
    return dict(b=b, a=a, IQf=IQf, MatTracking=MatTracking, tracks=tracks, MatOut=MatOut, MatOut_zdir=MatOut_zdir,
                MatOut2=MatOut2, MatOut_vel=MatOut_vel)


def cell(items):
    c = np.empty((len(items), 1), dtype=object)
    for i, v in enumerate(items):
        c[i, 0] = v
    return c


def make_expected(work: Path) -> None:
    src = scipy.io.loadmat(ROOT / "pyulm" / "data" / "example_block.mat", simplify_cells=True)
    P = src["P"]
    frame_rate = float(src["UF"]["FrameRateUF"])
    IQ = np.asfortranarray(src["IQ"][:, :, :N_FRAMES].astype(np.complex128))
    nz, nx, nt = IQ.shape
    ULM = {
        "numberOfParticles": float(P["numberOfParticles"]),
        "fwhm": np.array([3.0, 3.0]),
        "size": np.array([nz, nx, nt], float),
        "scale": np.array([1.0, 1.0, 1.0 / frame_rate]),
        "res": 10.0,
        "SRscale": 0.1,
        "max_linking_distance": float(P["max_linking_distance"]),
        "max_gap_closing": float(P["max_gap_closing"]),
        "min_length": float(P["min_length"]),
        "SVD_cutoff": np.array([5.0, nt]),
        "LocMethod": "radial",
        "parameters": {"NLocalMax": 3.0},
        "ButterCuttofFreq": np.array([50.0, 249.0]),
    }
    band = ULM["ButterCuttofFreq"]
    exp = pala_pipeline(IQ, ULM, band, frame_rate)
    # the block, as a PALA data file whose name has spaces and quotes
    scipy.io.savemat(work / "PALA block 'one' & co.mat", {"IQ": IQ, "UF": src["UF"], "PData": src["PData"]},
                     do_compression=False)
    absf = np.abs(exp["IQf"])
    locs = pyulm.localize(absf, "radial", fwhm=3, number_of_particles=int(ULM["numberOfParticles"]), n_local_max=3)
    wa = pala.ULM_localization2D(absf, {**ULM, "LocMethod": "wa"})
    ulm_px = dict(ULM)
    raw, interp = pala.ULM_tracking2D(pala.ULM_localization2D(absf, ULM), ulm_px, "pala")
    out = {
        "ULM": ULM, "frame_rate": frame_rate, "band": band,
        "b": exp["b"].reshape(1, -1), "a": exp["a"].reshape(1, -1),
        "IQf": exp["IQf"], "MatTracking": exp["MatTracking"], "tracks": cell(exp["tracks"]),
        "MatOut": exp["MatOut"], "MatOut_zdir": exp["MatOut_zdir"], "MatOut2": exp["MatOut2"],
        "MatOut_vel": exp["MatOut_vel"],
        "MatTracking_wa": wa, "raw": cell(raw), "interp": cell(interp),
        "locs_z": locs.z.reshape(-1, 1) + 1, "locs_x": locs.x.reshape(-1, 1) + 1,
        "locs_frame": locs.frame.reshape(-1, 1).astype(float) + 1,
        "methods": cell(list(pyulm.available_methods())),
        "version": pyulm.__version__,
        "python": sys.executable,
    }
    from pyulm.filtering import svd_filter

    iq_single = IQ.astype(np.complex64)
    out["IQf_pala_single"] = svd_filter(iq_single, [5, nt], precision="pala_single")
    out["IQf_single_double"] = pala.SVDfilter(iq_single, [5, nt])
    from pyulm.render import render
    from pyulm.tracking import track

    tr = track(locs, max_linking_distance=2, max_gap_closing=0, min_length=15, frame_rate=frame_rate)
    out["track_n"] = float(len(tr))
    out["track_first"] = np.asarray(tr[0], float) + [1.0 if c in ("z", "x", "frame") else 0.0 for c in tr.columns]
    out["render_density"] = render(tr, res=10, shape=(nz, nx), kinds="density")["density"]
    scipy.io.savemat(work / "expected.mat", out, do_compression=False, long_field_names=True)


def octave_test_names() -> list[str]:
    """The Octave tests: every ``function test_*`` of the suite files in matlab_interop/tests."""
    names = []
    for f in sorted((INTEROP / "tests").glob("suite_*.m")):
        names += re.findall(r"^function (test_\w+)\(", f.read_text(), re.M)
    return names


def _report_blocks(report: str) -> dict:
    """'PASS name' / 'FAIL name ...' lines (with their stack lines) of the runner, by test name."""
    blocks, name = {}, None
    for line in report.splitlines():
        m = re.match(r"(PASS|FAIL) (test_\w+)", line)
        if m:
            name = m.group(2)
            blocks[name] = [line]
        elif name and line.startswith("       at "):
            blocks[name].append(line)
        else:
            name = None
    return blocks


@pytest.fixture(scope="module")
def octave_run(request, tmp_path_factory):
    """Run the selected Octave tests once, in one Octave session, and return the runner's report.

    Only the tests pytest selected (``-k``, node ids) run, in the suites' order.
    Every path it touches (data, temporary folder, HOME) holds spaces and quotes,
    and the temporary folder also shell and glob characters.
    """
    if OCTAVE is None:
        if os.environ.get("PYULM_REQUIRE_OCTAVE"):
            pytest.fail("octave-cli is not on PATH but PYULM_REQUIRE_OCTAVE is set (CI must run this suite)")
        pytest.skip("octave-cli is not on PATH (Debian: apt-get install octave)")
    selected = [item.callspec.params["name"] for item in request.session.items
                if getattr(item, "module", None) is request.module and getattr(item, "callspec", None) is not None
                and "name" in item.callspec.params]
    base = tmp_path_factory.mktemp("octave")
    work = base / "work dir 'quoted' \"dq\" $HOME"
    home = base / "home dir 'h'"
    tmp = base / "tmp dir 'q' ;echo x [x]*?"
    for d in (work, home, tmp):
        d.mkdir()
    make_expected(work)
    fake = work / "python without pyulm"
    fake.write_text(f"#!/bin/sh\nexec '{sys.executable}' -S \"$@\"\n")
    fake.chmod(0o755)
    env = dict(os.environ, PYULM_PYTHON=sys.executable, PYULM_TEST_DIR=str(work), HOME=str(home), TMPDIR=str(tmp),
               PYULM_TEST_FAKE_PYTHON=str(fake), PYULM_TEST_NAMES=",".join(selected))
    env.pop("PYULM_TRANSPORT", None)
    runner = INTEROP / "tests" / "run_all.m"
    proc = subprocess.run([OCTAVE, "--no-gui", "--norc", "-q", "-H", "-W", str(runner)], env=env, cwd=str(work),
                          capture_output=True, text=True, timeout=1200)
    report = proc.stdout + proc.stderr
    print(report)  # shown with -s, and by pytest for a failing item
    return {"report": report, "blocks": _report_blocks(report), "tmp": tmp, "returncode": proc.returncode}


@pytest.mark.parametrize("name", octave_test_names())
def test_octave(octave_run, name):
    """One Octave test of matlab_interop/tests (run in the module's one Octave session)."""
    block = octave_run["blocks"].get(name)
    assert block is not None, f"{name}: no result from the Octave runner (crashed, or not listed in its suite):\n" \
                              f"{octave_run['report'][-6000:]}"
    assert block[0].startswith("PASS"), "\n".join(block)


def test_octave_runner_finished_and_left_no_temporary_files(octave_run):
    report = octave_run["report"]
    m = re.search(r"(\d+) passed, (\d+) failed", report)
    assert m, f"the Octave suite did not finish:\n{report[-6000:]}"
    assert (int(m.group(2)) == 0) == (octave_run["returncode"] == 0), report[-6000:]
    leftovers = sorted(p.name for p in octave_run["tmp"].iterdir())
    assert leftovers == [], f"temporary files left behind: {leftovers}"
