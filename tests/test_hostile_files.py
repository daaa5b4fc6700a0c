"""Every file of the hostile corpus (tests/hostile_corpus.py) is refused by pyulm.io.inspect and by
``pyulm info``: one line naming the file, nothing written, bounded memory."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pyulm.io as pio
from pyulm.cli import main

sys.path.insert(0, str(Path(__file__).parent))
import hostile_corpus  # noqa: E402

RSS_LIMIT_MB = 200


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    cases = hostile_corpus.build(folder)
    return folder, cases


def _listing(folder):
    return sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in Path(folder).iterdir())


def _names_the_file(msg: str, path) -> bool:
    return str(path) in msg or os.fsdecode(os.path.basename(os.fsencode(path))) in msg


def test_corpus_is_large_and_every_case_is_refused_by_inspect(corpus):
    folder, cases = corpus
    assert len(cases) >= 60 and len({c.name for c in cases}) == len(cases)
    before = _listing(folder)
    refused = []
    for c in cases:
        try:
            pio.inspect(c.path, verify=c.verify)
        except ValueError as exc:  # FormatError is a ValueError
            msg = str(exc)
            assert "\n" not in msg and _names_the_file(msg, c.path), (c.name, msg)
            refused.append(c.name)
    assert refused == [c.name for c in cases], sorted({c.name for c in cases} - set(refused))
    assert _listing(folder) == before  # nothing written, nothing left behind


def test_verify_cases_pass_a_plain_inspect_but_not_their_frames(corpus):
    """Corruption inside the stored frames is not visible in headers: read_frames refuses it."""
    _, cases = corpus
    for c in (c for c in cases if c.verify):
        info = pio.inspect(c.path)
        with pytest.raises(ValueError, match=os.path.basename(str(c.path)).replace(".", r"\.")):
            pio.read_frames(info)


def _run_main(argv):
    """main(argv) with stdout and stderr captured as bytes (file names may not be UTF-8)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2))
    try:
        code = main(argv)
        outs = []
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
            outs.append(stream.buffer.getvalue().decode("utf-8", "surrogateescape"))
    finally:
        sys.stdout, sys.stderr = saved
    return code, outs[0], outs[1]


def test_pyulm_info_refuses_every_case_with_one_line(corpus):
    folder, cases = corpus
    before = _listing(folder)
    for c in cases:
        argv = ["info", str(c.path)] + (["--verify"] if c.verify else [])
        code, out, err = _run_main(argv)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and out == "", (c.name, code, out)
        assert len(lines) == 1 and lines[0].startswith("pyulm info: error: "), (c.name, err)
        assert _names_the_file(lines[0], c.path), (c.name, err)
    assert _listing(folder) == before


def _write_big_valid_files(folder: Path) -> list[Path]:
    """A 1 GiB complex IQ of zeros as compressed MAT v5 (-v7) and as MAT v7.3: files of a few MB."""
    import h5py

    from pyulm.io import _mat5

    zeros = np.broadcast_to(np.complex64(0), (128, 128, 8192))
    v5 = folder / "big_v5z.mat"
    _mat5.write(v5, {"IQ": zeros, "UF": {"FrameRateUF": 1000.0, "TwFreq": 15.0}}, compress=True)
    v73 = folder / "big_v73.mat"
    with h5py.File(v73, "w", userblock_size=512) as f:
        ds = f.create_dataset("IQ", shape=(8192, 128, 128), dtype=[("real", "<f4"), ("imag", "<f4")],
                              chunks=(64, 128, 128), compression="gzip")
        ds.attrs["MATLAB_class"] = np.bytes_("single")
        import zlib

        packed = zlib.compress(bytes(64 * 128 * 128 * 8))
        for k in range(0, 8192, 64):
            ds.id.write_direct_chunk((k, 0, 0), packed)
    with open(v73, "r+b") as fh:
        fh.write(b"MATLAB 7.3 MAT-file".ljust(116, b" ") + bytes(8) + b"\x00\x02IM")
    return [v5, v73]


@pytest.mark.slow
def test_pyulm_info_peak_memory_on_every_file(corpus, tmp_path):
    """Peak RSS of `pyulm info` stays under 200 MB on every hostile file and on 1 GiB IQs (verified)."""
    folder, cases = corpus
    big = _write_big_valid_files(tmp_path)
    for p in big:
        assert pio.inspect(p).shape[2] == 8192
    files = [os.fsencode(c.path) for c in cases]
    script = textwrap.dedent(f"""
        import os, sys
        from pyulm.cli import main
        files = {files!r}
        big = {[str(p) for p in big]!r}
        devnull = open(os.devnull, "w")
        sys.stdout = sys.stderr = devnull
        for f in files:
            assert main(["info", "--verify", os.fsdecode(f)]) == 2
        for f in big:
            assert main(["info", "--verify", f]) == 0
        sys.stdout = sys.__stdout__
        # VmHWM: this process's own peak. ru_maxrss would carry the parent's RSS over the
        # fork/exec (Linux keeps the larger of the two), i.e. pytest's, not pyulm info's.
        with open("/proc/self/status") as fh:
            print(next(line.split()[1] for line in fh if line.startswith("VmHWM:")))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    peak_mb = int(out.stdout.split()[-1]) / 1024  # Linux: kilobytes
    assert peak_mb <= RSS_LIMIT_MB, peak_mb


def test_broken_pipe_is_quiet(tmp_path):
    """`pyulm info FILE | head -1`: no 'Broken pipe' message, the status of a tool stopped by SIGPIPE."""
    example = Path(pio.__file__).parents[1] / "data" / "example_block.mat"
    code = (f"import sys; from pyulm.cli import main; sys.exit(main(['info', {str(example)!r}] * 40))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Broken pipe" not in err and "Traceback" not in err, err


def test_latin1_file_names_in_inspect_read_frames_and_info(tmp_path, capfd):
    example = Path(pio.__file__).parents[1] / "data" / "example_block.mat"
    raw = os.fsencode(tmp_path) + b"/bloc_caf\xe9.mat"
    with open(raw, "wb") as f:
        f.write(example.read_bytes())
    for path in (raw, os.fsdecode(raw), Path(os.fsdecode(raw))):
        info = pio.inspect(path)
        assert pio.read_frames(info, 0, 3).shape == (64, 80, 3)
    code = subprocess.run([sys.executable, "-m", "pyulm", "info", raw], capture_output=True)
    assert code.returncode == 0 and b"bloc_caf\xe9.mat" in code.stdout  # the name's own bytes
