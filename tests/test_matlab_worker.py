"""The persistent Python worker of the MATLAB/Octave file transport (pyulm.matlab.worker).

The Octave side (matlab_interop/tests/suite_worker.m, run by test_octave.py)
covers reuse, crashes, timeouts and two sessions; here the worker process is
driven directly through its pipes, as Octave's popen2 does.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import pyulm
import pyulm.io as pio
from pyulm.matlab.worker import parse_request


def _request(folder, func, args, **extra):
    cell = np.empty((1, len(args)), dtype=object)
    for i, a in enumerate(args):
        cell[0, i] = a
    req = {"protocol": 1.0, "wrapper_version": pyulm.__version__, "func": func, "nargout": 1.0, "args": cell,
           "kwargs": {}}
    req.update(extra)
    pio.save_mat(os.path.join(folder, "request.mat"), req)


@pytest.fixture
def worker(tmp_path):
    home = tmp_path / "w_pyulm"
    home.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "pyulm.matlab_bridge", "--worker"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=home)
    hello = proc.stdout.readline().decode()
    assert hello.startswith(f"pyulm-worker 1 {proc.pid} {pyulm.__version__}"), hello
    yield proc, home
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _ask(proc, line: str) -> str:
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()
    return proc.stdout.readline().decode().rstrip("\n")


def test_worker_serves_requests_one_after_the_other(worker, tmp_path):
    proc, _ = worker
    for k in range(1, 4):
        folder = tmp_path / f"call {k} 'q'"
        folder.mkdir()
        _request(folder, "echo", [np.full((2, 3), float(k)), "text"], nargout=2.0)
        assert _ask(proc, f"call {k} {folder}") == f"done {k}"
        r = pio.read_mat(folder / "response.mat")
        assert r["ok"][0, 0] and np.array_equal(r["out"][0, 0], np.full((2, 3), float(k)))
        assert r["out"][0, 1] == "text"


def test_worker_keeps_stray_prints_out_of_its_answers(worker, tmp_path):
    proc, _ = worker
    tracks = np.empty((1, 1), dtype=object)
    tracks[0, 0] = np.array([[1.2, 1.6], [1.4, 1.4], [2.5, 2.5]])
    _request(tmp_path, "ULM_Track2MatOut", [tracks, np.array([[3.0, 3.0]])])
    assert _ask(proc, f"call 9 {tmp_path}") == "done 9"  # PALA's console line did not come first
    assert "Building 2D ULM image" in pio.read_mat(tmp_path / "response.mat")["stdout"]


@pytest.mark.parametrize("line, reason", [
    ("rm -rf /", "expected 'call <n> <folder>'"),
    ("call x /tmp", "whole number"),
    ("call 3 relative/folder", "absolute path"),
    ("call 4 /no/such/folder", "absolute path"),
])
def test_worker_refuses_lines_it_does_not_understand(worker, line, reason):
    proc, _ = worker
    reply = _ask(proc, line)
    assert reply.startswith("refused ") and reason in reply, reply
    assert proc.poll() is None  # and goes on serving


def test_worker_refuses_a_folder_without_request_and_runs_only_the_whitelist(worker, tmp_path):
    proc, _ = worker
    assert "no request.mat" in _ask(proc, f"call 5 {tmp_path}")
    _request(tmp_path, "os.system", ["echo hacked"])
    assert _ask(proc, f"call 6 {tmp_path}") == "done 6"
    r = pio.read_mat(tmp_path / "response.mat")
    assert not r["ok"][0, 0] and r["err_type"] == "BridgeError" and "unknown function" in r["err_msg"]


def test_worker_survives_a_removed_folder_and_exits_at_end_of_input(worker, tmp_path):
    proc, home = worker
    folder = tmp_path / "gone"
    folder.mkdir()
    _request(folder, "echo", [1.0])
    os.chmod(folder, 0o500)  # the response cannot be written (as when MATLAB removed the folder)
    try:
        assert _ask(proc, f"call 7 {folder}") == "done 7"
    finally:
        os.chmod(folder, 0o700)
    _request(folder, "echo", [2.0])
    assert _ask(proc, f"call 8 {folder}") == "done 8"
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    assert not home.exists()  # its private folder (named *_pyulm) is removed


def test_parse_request_names_the_problem(tmp_path):
    (tmp_path / "request.mat").write_bytes(b"")
    assert parse_request(f"call 12 {tmp_path}".encode()) == ("12", str(tmp_path))
    with pytest.raises(ValueError, match="UTF-8"):
        parse_request(b"call 1 \xff")


def test_worker_exits_when_its_parent_is_gone(tmp_path):
    # a shell starts the worker and exits at once; the worker's input stays open (this test holds
    # the pipe), so only the check on its parent can end it
    home = tmp_path / "p_pyulm"
    home.mkdir()
    r, w = os.pipe()
    try:
        script = f"cd '{home}' && '{sys.executable}' -m pyulm.matlab_bridge --worker <&0 >hello 2>&1 & echo $!"
        proc = subprocess.run(["/bin/sh", "-c", script], stdin=r, capture_output=True, text=True, check=True)
        pid = int(proc.stdout.split()[-1])
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.kill(pid, 9)
            pytest.fail("the worker outlived its parent")
        assert (home / "hello").read_text().startswith("pyulm-worker 1 "), "the worker did not start"
    finally:
        os.close(r)
        os.close(w)
