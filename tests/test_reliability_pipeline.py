"""pyulm process under hostile conditions: concurrent runs, kills, damaged block files,
non-UTF-8 names, memory limits, thread counts (issue 13)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

import pyulm.pipeline.orchestrate as orchestrate
from pyulm.config import Config
from pyulm.io import FormatError
from pyulm.pipeline import OutputInUseError, run

from test_io_files import example_parts, write_blocks

ROOT = Path(__file__).resolve().parents[1]
CFG = {"ulm": {"numberOfParticles": 40, "min_length": 10}, "output": {"images": [], "figures": [], "tables": False}}
MAPS = ("MatOut", "MatOut_zdir", "MatOut_vel", "PowDop")


def _cfg(**ulm):
    return Config.from_dict({**CFG, "ulm": {**CFG["ulm"], **ulm}})


def _toml(path, **ulm):
    lines = ["[ulm]"] + [f"{k} = {json.dumps(v)}" for k, v in {**CFG["ulm"], **ulm}.items()]
    lines += ["[output]", "images = []", "figures = []", "tables = false"]
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def _cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "pyulm", "process", "--no-progress", "--workers", "0",
                             "--threads", "1", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, **kw)


def _results(out):
    d = scipy.io.loadmat(os.path.join(out, "ulm_results.mat"), struct_as_record=False)
    t = scipy.io.loadmat(os.path.join(out, "ulm_tracks.mat"))["Track_tot"]
    return d, [x[0] for x in t]


def _assert_same_results(a, b):
    (da, ta), (db, tb) = _results(a), _results(b)
    for k in MAPS:
        np.testing.assert_array_equal(da[k], db[k], err_msg=k)
    assert len(ta) == len(tb) and all(np.array_equal(x, y) for x, y in zip(ta, tb))


def _leftovers(out):
    out = Path(out)
    return sorted(p.name for p in [*out.glob(".*"), *(out / "blocks").glob(".*")])


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    return write_blocks(tmp_path_factory.mktemp("in"), n=3, frames=50, step=40)


@pytest.fixture(scope="module")
def reference(blocks, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "out"
    run(blocks, _cfg(), out, progress=False)
    return out


def test_a_live_run_holds_the_folder_and_a_dead_ones_lock_is_taken_over(blocks, tmp_path, reference):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pyulm.pipeline.lock import OutputLock; l = OutputLock(sys.argv[1]).__enter__(); "
        "print('held', flush=True); time.sleep(60)"), str(out)], stdout=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        assert holder.stdout.readline().strip() == b"held"
        with pytest.raises(OutputInUseError, match=rf"in use by another pyulm process run \(pid {holder.pid} on"):
            run(blocks, _cfg(), out, progress=False)
        assert not (out / "blocks").exists()  # refused before anything was written
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / ".pyulm-process.lock").exists()  # a killed process cannot remove its lock file...
    run(blocks, _cfg(), out, progress=False)  # ...but its lock died with it
    log = (out / "pyulm-process.log").read_text()
    assert f"took over the output lock left by a run that ended without releasing it (pid {holder.pid}" in log
    assert _leftovers(out) == []
    _assert_same_results(out, reference)


@pytest.mark.slow
@pytest.mark.parametrize("trial", range(3))
def test_concurrent_runs_never_mix_results(blocks, tmp_path, trial):
    """Two processes with different configs into one folder: one is refused (or they run one
    after the other); the results are always exactly those of one config."""
    refs = {}
    for n in (40, 20):
        refs[n] = tmp_path / f"ref{n}"
        run(blocks, _cfg(numberOfParticles=n), refs[n], progress=False)
    out = tmp_path / "out"
    cfgs = [_toml(tmp_path / f"c{n}.toml", numberOfParticles=n) for n in (40, 20)]
    procs = [_cli([*map(str, blocks), "--config", str(c), "--out", str(out)]) for c in cfgs]
    codes = []
    for p in procs:
        _, err = p.communicate(timeout=300)
        codes.append(p.returncode)
        assert p.returncode == 0 or b"in use by another pyulm process run" in err, err
    assert 0 in codes
    d, _ = _results(out)
    n = int(d["ULM"][0, 0].numberOfParticles[0, 0])
    _assert_same_results(out, refs[n])
    assert _leftovers(out) == []


@pytest.mark.slow
def test_kill_at_random_points_then_rerun_gives_identical_outputs(blocks, tmp_path, reference):
    rng = np.random.default_rng(13)
    t0 = time.perf_counter()
    p = _cli([*map(str, blocks), "--config", str(_toml(tmp_path / "c.toml")), "--out", str(tmp_path / "timing")])
    p.communicate(timeout=300)
    whole = time.perf_counter() - t0
    for i, delay in enumerate(rng.uniform(0.1, whole, 4)):
        out = tmp_path / f"out{i}"
        p = _cli([*map(str, blocks), "--config", str(tmp_path / "c.toml"), "--out", str(out)])
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.communicate()
        s = run(blocks, _cfg(), out, progress=False)
        assert s.computed + s.skipped == 3
        _assert_same_results(out, reference)
        assert _leftovers(out) == [], f"killed after {delay:.2f} s"


def _block_files(out):
    return sorted((Path(out) / "blocks").glob("*.h5"))


def _flip_data_byte(path, dataset):
    with h5py.File(path, "r") as f:
        offset = f[dataset].id.get_offset()
        assert offset is not None  # contiguous dataset: its bytes sit at one place in the file
    with open(path, "r+b") as f:
        f.seek(offset + 5)
        b = f.read(1)
        f.seek(offset + 5)
        f.write(bytes([b[0] ^ 0x10]))


@pytest.mark.parametrize("damage", ["bit_flip", "edited_value", "missing_dataset", "truncated", "other_key", "not_hdf5"])
def test_damaged_block_files_are_recomputed(blocks, tmp_path, reference, damage):
    out = tmp_path / "out"
    run(blocks, _cfg(), out, progress=False)
    target = _block_files(out)[1]
    if damage == "bit_flip":
        _flip_data_byte(target, "tracks_points")
        why = "checksum mismatch"
    elif damage == "edited_value":
        with h5py.File(target, "r+") as f:
            f["PowDop"][0, 0] = f["PowDop"][0, 0] + 1.0
        why = "checksum mismatch"
    elif damage == "missing_dataset":
        with h5py.File(target, "r+") as f:
            del f["tracks_offsets"]
        why = "dataset(s) tracks_offsets missing"
    elif damage == "truncated":
        data = target.read_bytes()
        target.write_bytes(data[: len(data) // 2])
        why = "unreadable block result"
    elif damage == "other_key":  # a block made with other parameters, under the expected name
        other = tmp_path / "other"
        run(blocks, _cfg(numberOfParticles=20), other, progress=False)
        target.write_bytes(_block_files(other)[1].read_bytes())
        why = "made with other parameters or input"
    else:
        target.write_bytes(b"not a block file")
        why = "unreadable block result"
    s = run(blocks, _cfg(), out, progress=False)
    assert (s.computed, s.skipped) == (1, 2)
    log = (out / "pyulm-process.log").read_text()
    assert f"block 2: {target}: {why}" in log and "recomputed" in log
    _assert_same_results(out, reference)


def test_non_utf8_file_and_folder_names(tmp_path, reference, blocks):
    base = os.fsencode(tmp_path)
    names = [base + b"/caf\xe9_%d.mat" % i for i in range(3)]  # Latin-1 bytes: not valid UTF-8
    for src, dst in zip(blocks, names):
        with open(dst, "wb") as f:
            f.write(Path(src).read_bytes())
    out = base + b"/r\xe9sultats"
    s = run(names, _cfg(), out, progress=False)  # bytes paths
    assert s.blocks == 3
    _assert_same_results(os.fsdecode(out), reference)
    log = open(out + b"/pyulm-process.log", "rb").read()
    assert b"caf\\xe9_0.mat" in log and b"summary:" in log
    assert sorted(os.listdir(out + b"/blocks")) == [b"0001_caf\xe9_0.h5", b"0002_caf\xe9_1.h5", b"0003_caf\xe9_2.h5"]
    # the command line takes and prints them too (str paths with surrogate escapes)
    p = _cli([*map(os.fsdecode, names), "--config", str(_toml(tmp_path / "c.toml")), "--out", os.fsdecode(out)])
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 0, stderr
    assert b"3 blocks (0 computed, 3 already done)" in stdout and b"r\\xe9sultats/ulm_results.mat" in stdout


def test_every_check_before_the_output_folder_is_touched(tmp_path):
    iq, uf, pdata = example_parts()
    bad = tmp_path / "bad_rate.mat"
    uf_bad = uf.copy()
    uf_bad["FrameRateUF"][0, 0] = np.array([[np.inf]])
    scipy.io.savemat(bad, {"IQ": iq[:, :, :30], "UF": uf_bad, "PData": pdata})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="bad_rate.mat: .*(frame rate|FrameRateUF)"):
        run([bad], _cfg(), out, progress=False)
    assert not out.exists()
    no_rate = tmp_path / "no_rate.mat"
    scipy.io.savemat(no_rate, {"IQ": iq[:, :, :30]})
    fast = Config.from_dict({"ulm": {"scale": [1, 1, 1e-12]}})  # the config's frame rate is checked too
    with pytest.raises(ValueError, match=r"no_rate.mat: frame rate \(Hz, from \[ulm\] scale\) is 1e\+12; expected a finite value"):
        run([no_rate], fast, out, progress=False)
    assert not out.exists()
    tiny = tmp_path / "tiny_pixel.mat"
    pd_bad = pdata.copy()
    pd_bad["PDelta"][0, 0] = np.array([[1e-9, 0, 1e-9]])
    scipy.io.savemat(tiny, {"IQ": iq[:, :, :30], "UF": uf, "PData": pd_bad})
    with pytest.raises((ValueError, FormatError), match="tiny_pixel.mat: .*(pixel size|PDelta)"):
        run([tiny], _cfg(), out, progress=False)
    assert not out.exists()
    good = tmp_path / "good.mat"
    scipy.io.savemat(good, {"IQ": iq[:, :, :30], "UF": uf, "PData": pdata})
    with pytest.raises(ValueError, match=r"good.mat: one frame needs .* memory limit of 0 MB \(\[run\] memory_limit_mb\)"):
        run([good], Config.from_dict({"run": {"memory_limit_mb": 0.01}}), out, progress=False)
    assert not out.exists()


def test_memory_limit_splits_blocks_by_frames(blocks, tmp_path):
    # 64 x 80 pixels: complex64 frames, their float64 amplitude and temporaries, 160 kB a frame: 4 MB hold 25
    cfg = Config.from_dict({**CFG, "run": {"memory_limit_mb": 4}})
    s = run(blocks, cfg, tmp_path / "out", progress=False)
    assert s.blocks == 6 and s.frames == 150  # each 50-frame file in two blocks of 25
    log = (tmp_path / "out" / "pyulm-process.log").read_text()
    assert "over the memory limit of 4 MB: split into blocks of 25 frames" in log
    explicit = Config.from_dict({**CFG, "input": {"frames_per_block": 25}})
    run(blocks, explicit, tmp_path / "explicit", progress=False)
    _assert_same_results(tmp_path / "out", tmp_path / "explicit")


def test_metadata_is_read_once_per_file(blocks, tmp_path, monkeypatch):
    calls = []
    real = orchestrate.inspect
    monkeypatch.setattr(orchestrate, "inspect", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    run(blocks, Config.from_dict({**CFG, "input": {"frames_per_block": 20}}), tmp_path / "out", progress=False)
    assert sorted(map(str, calls)) == sorted(map(str, blocks))  # 9 blocks, 3 reads


def test_results_do_not_depend_on_thread_counts(blocks, tmp_path, reference, monkeypatch):
    """[run] threads sizes pyulm's and BLAS's threads; the results are bitwise the same with
    1 and 3 threads (and equal to the reference run with the machine's default, and to Dask
    workers: tests/test_dask_cluster.py)."""
    pytest.importorskip("threadpoolctl")
    import pyulm._parallel as P

    monkeypatch.setattr(P, "_LOADAVG", "/nonexistent/loadavg")  # threads used even on a busy machine
    for n in (1, 3):
        cfg = Config.from_dict({**CFG, "run": {"threads": n}})
        run(blocks, cfg, tmp_path / f"t{n}", progress=False)
        assert f"threads in this process: {n} (pyulm and BLAS)" in (tmp_path / f"t{n}" / "pyulm-process.log").read_text()
        _assert_same_results(tmp_path / f"t{n}", reference)


def test_a_full_disk_names_the_file(blocks, tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(h5py, "File", full)
    out = tmp_path / "out"
    with pytest.raises(OSError, match=r"No space left on device.*blocks/0001_blk00.h5|blocks/0001_blk00.h5: .*No space left"):
        run(blocks, _cfg(), out, progress=False)
    monkeypatch.undo()
    assert _leftovers(out) == []  # no temporary file, no lock
    assert "failed: " in (out / "pyulm-process.log").read_text()


def _end_of_run_peak(block, n, folder):
    """Peak of Python/numpy allocations (tracemalloc) of a run of ``n`` blocks that are all done
    (copies of ``block``'s computed block file): the end of the run alone, tables included."""
    import gc
    import shutil
    import tracemalloc

    from pyulm.pipeline import plan

    cfg = Config.from_dict({**CFG, "output": {"images": [], "figures": [], "tables": True}})
    one = folder / "one"
    if not one.exists():
        run([block], cfg, one, progress=False)
    done = next((one / "blocks").glob("*.h5"))
    out = folder / f"out{n}"
    (out / "blocks").mkdir(parents=True)
    for spec in plan([block] * n, cfg).specs:
        shutil.copyfile(done, out / "blocks" / f"{spec.name}.h5")
    gc.collect()
    tracemalloc.start()
    try:
        s = run([block] * n, cfg, out, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (s.computed, s.skipped) == (0, n)
    with h5py.File(done) as f:
        block_bytes = sum(f[k].nbytes for k in ("MatTracking", "tracks_points", "tracks_offsets"))
    return peak, block_bytes, s


def test_end_of_run_memory_does_not_grow_with_the_number_of_blocks(blocks, tmp_path):
    """The maps, ulm_tracks.mat and the tables are made block by block: 24 blocks peak where 4 do
    (gathering every block's tracks and localizations, as before, grew by one block's data per block)."""
    p4, block_bytes, s4 = _end_of_run_peak(blocks[0], 4, tmp_path)
    p24, _, s24 = _end_of_run_peak(blocks[0], 24, tmp_path)
    assert s24.localizations == 6 * s4.localizations > 0 and s24.tracks == 6 * s4.tracks > 0
    growth = (p24 - p4) / (20 * block_bytes)
    assert growth < 0.25, f"the end of the run grew by {growth:.2f} blocks' data per block ({p4} -> {p24} bytes)"


@pytest.mark.parametrize("fail_at,absent", [(5, ("ulm_tracks.mat", "localizations.h5", "tracks.h5")),
                                            (11, ("localizations.h5", "tracks.h5"))])
def test_a_failure_while_the_track_files_are_written_leaves_no_part_of_them(blocks, tmp_path, reference,
                                                                             monkeypatch, fail_at, absent):
    """The track files are written while the block files are read again (3 blocks: reads 1-3
    for the maps, 4-6 Track_tot, 7-9 MatTracking, 10-12 the tables); a failure in the middle
    (here the 5th or 11th read) leaves neither the file being written nor its temporary, and a
    rerun writes them whole."""
    import pyulm.pipeline.finish as finish

    calls = []

    def failing(path, key=None):
        calls.append(path)
        if len(calls) == fail_at:
            raise OSError(5, "Input/output error (injected)")
        return read_block(path, key)
    read_block = finish.read_block
    monkeypatch.setattr(finish, "read_block", failing)
    out = tmp_path / "out"
    cfg = Config.from_dict({**CFG, "output": {"images": [], "figures": [], "tables": True}})
    with pytest.raises(OSError, match="injected"):
        run(blocks, cfg, out, progress=False)
    assert (out / "ulm_results.mat").exists() and not [n for n in absent if (out / n).exists()]
    assert _leftovers(out) == []
    monkeypatch.setattr(finish, "read_block", read_block)
    s = run(blocks, cfg, out, progress=False)
    assert s.computed == 0 and all((out / n).exists() for n in absent)
    _assert_same_results(out, reference)
