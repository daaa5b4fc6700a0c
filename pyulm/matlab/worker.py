"""The persistent Python worker of MATLAB/Octave's file transport.

``python -m pyulm.matlab_bridge --worker`` serves file-transport requests one
after the other, so a session pays Python's start (and scipy's import) once
instead of on every call. MATLAB/Octave starts it on the first call of a
session (``matlab_interop/+pyulm/+internal/worker.m``) with two pipes:

* it reads one request per line on stdin: ``call <n> <folder>``, where
  ``<folder>`` is the private temporary folder holding ``request.mat`` (and
  the side files), written exactly as for the per-call transport;
* it answers one line per request on the pipe that was its stdout:
  ``done <n>`` once ``<folder>/response.mat`` is in place, or
  ``refused <n> <reason>`` for a line it does not understand (nothing is run).

Only the whitelisted functions can run (:func:`pyulm.matlab.functions.resolve`),
as in the per-call transport. Its first line is ``pyulm-worker <protocol>
<pid> <version>``. It exits when its stdin closes (its MATLAB/Octave ended or
stopped it) or when its parent process is gone. Whatever the called code
prints goes to the response (``stdout``) or to the worker's log, never to
the answer pipe.
"""
from __future__ import annotations

import os
import sys
import threading

from .._version import __version__
from .functions import PROTOCOL
from .server import serve_file

#: Seconds between two checks that the parent (MATLAB/Octave) is still there.
PARENT_POLL = 1.0


def _watch_parent(parent: int) -> None:
    """Exit the whole process when MATLAB/Octave is gone (orphans are re-parented)."""
    while True:
        threading.Event().wait(PARENT_POLL)
        if os.getppid() != parent:
            _remove_own_folder()
            os._exit(3)


def parse_request(line: bytes) -> tuple[str, str]:
    """``(n, folder)`` of a ``call <n> <folder>`` line.

    Raises
    ------
    ValueError
        Naming what is wrong: not a call, a sequence number that is not a
        whole number, a folder that is not an absolute path to an existing
        folder of this user holding ``request.mat``.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("request line: not UTF-8 text") from None
    verb, _, rest = text.partition(" ")
    n, _, folder = rest.partition(" ")
    if verb != "call":
        raise ValueError(f"request line: expected 'call <n> <folder>', got {text[:80]!r}")
    if not n.isdigit():
        raise ValueError(f"request line: the sequence number must be a whole number, got {n[:20]!r}")
    if not os.path.isabs(folder) or not os.path.isdir(folder):
        raise ValueError(f"request line: {folder[:200]!r} is not an absolute path to a folder")
    if os.stat(folder).st_uid != os.getuid():
        raise ValueError(f"request line: {folder[:200]!r} belongs to another user")
    if not os.path.isfile(os.path.join(folder, "request.mat")):
        raise ValueError(f"request line: no request.mat in {folder[:200]!r}")
    return n, folder


def serve_forever(stdin=None) -> int:
    """Serve requests until stdin closes; returns the exit status (0)."""
    stdin = sys.stdin.buffer if stdin is None else stdin
    answer = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # stray prints (C code included) go to the log, not into the answers
    sys.stdout = sys.stderr
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    answer.write(f"pyulm-worker {PROTOCOL} {os.getpid()} {__version__}\n".encode())
    for raw in stdin:
        line = raw.rstrip(b"\r\n")
        n = line.split(b" ", 2)[1].decode("ascii", "replace") if line.count(b" ") >= 2 else "0"
        try:
            n, folder = parse_request(line)
        except ValueError as exc:
            answer.write(f"refused {n if n.isdigit() else 0} {exc}\n".encode("utf-8", "replace"))
            continue
        try:
            serve_file(os.path.join(folder, "request.mat"), os.path.join(folder, "response.mat"))
        except Exception as exc:  # e.g. the folder was removed (Ctrl+C in MATLAB): the next request goes on
            print(f"pyulm worker: request {n} in {folder}: {exc!r}", file=sys.stderr)
        answer.write(f"done {n}\n".encode())
    _remove_own_folder()
    return 0


def _remove_own_folder() -> None:
    """Remove the private folder MATLAB/Octave started the worker in (its log and itself)."""
    here = os.getcwd()
    if not os.path.basename(here).endswith("_pyulm"):
        return
    try:
        log = os.path.join(here, "worker.log")
        if os.path.isfile(log):
            os.unlink(log)
        os.rmdir(here)
    except OSError:
        pass
