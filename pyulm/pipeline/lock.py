"""One run per output folder: a lock file that a crash cannot leave held.

The lock is an advisory ``flock`` on ``OUT/.pyulm-process.lock``: the kernel releases it
when its process dies, however it dies, so a lock left by a killed run is simply taken
over (with a log line naming the dead process); a live run's lock refuses a second run
with one line naming its process. Where ``flock`` is missing (not POSIX), an exclusive
create with the owner's pid, checked for liveness, stands in.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from .store import display

LOCK_NAME = ".pyulm-process.lock"


class OutputInUseError(RuntimeError):
    """Another live run holds the output folder."""


class OutputLock:
    """Hold ``out_dir`` for this process (a context manager). ``taken_over`` says whose stale lock was replaced."""

    def __init__(self, out_dir):
        self.path = Path(out_dir) / LOCK_NAME
        self.fd = None
        self.taken_over = None

    def __enter__(self):
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            fcntl = None
        for _ in range(20):
            if fcntl is None:  # pragma: no cover
                self._remove_if_stale()
                try:
                    fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    continue
            else:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    owner = _read_owner(fd)
                    os.close(fd)
                    raise OutputInUseError(f"{display(self.path.parent)}: in use by another pyulm process run"
                                           f"{_describe(owner)}; wait for it to end or choose another --out") from None
                except OSError as exc:  # a file system without locks: refuse rather than risk mixed results
                    os.close(fd)
                    raise OSError(exc.errno, f"{display(self.path)}: cannot lock the output folder "
                                             f"({exc.strerror or exc}); choose an --out on a local file system") from None
                try:  # its previous owner may have removed the file between our open and flock
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
                owner = _read_owner(fd)
                if owner:  # a lock file nobody holds: its run died without removing it
                    self.taken_over = owner
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode())
            os.fsync(fd)
            self.fd = fd
            return self
        raise OutputInUseError(f"{display(self.path.parent)}: could not take the output lock {LOCK_NAME}")

    def _remove_if_stale(self):  # pragma: no cover - only without fcntl
        """Without flock: remove a lock file whose process is gone, refuse a live one."""
        try:
            owner = json.loads(self.path.read_text() or "{}")
        except FileNotFoundError:
            return
        except (OSError, ValueError):
            owner = {}
        if owner.get("pid") and owner.get("host") == socket.gethostname() and _alive(owner["pid"]):
            raise OutputInUseError(f"{display(self.path.parent)}: in use by another pyulm process run"
                                   f"{_describe(owner)}; wait for it to end or choose another --out")
        self.taken_over = owner or {"pid": "?"}
        self.path.unlink(missing_ok=True)

    def __exit__(self, *exc):
        if self.fd is not None:
            try:
                self.path.unlink(missing_ok=True)  # while still held: nobody can take a removed file's lock
            finally:
                os.close(self.fd)
                self.fd = None
        return False


def _read_owner(fd) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        return json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}


def _alive(pid) -> bool:  # pragma: no cover - only without fcntl
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


def _describe(owner: dict) -> str:
    if not owner:
        return ""
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(owner["since"])) if owner.get("since") else "?"
    return f" (pid {owner.get('pid', '?')} on {owner.get('host', '?')}, since {since})"


def describe_owner(owner: dict) -> str:
    """``pid N on HOST, since T`` of a lock's former owner, for the log."""
    return _describe(owner).strip(" ()")
