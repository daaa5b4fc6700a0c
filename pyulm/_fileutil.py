"""Atomic file writing: a result file is either complete or absent."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process umask, read without changing it where the OS tells it (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)  # elsewhere: set and restore (briefly 0 for the whole process)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path, suffix: str | None = None):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is left as it was,
    so a crash or a full disk never leaves a truncated result behind. The result
    gets the permissions of a newly created file (``0o666`` less the umask).
    An ``OSError`` raised without a file name (a full disk: ``ENOSPC``) is
    raised again naming ``path``.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        Any name the OS allows (bytes that are not UTF-8 included).
    suffix : str, optional
        Suffix of the temporary name (default: ``path``'s suffix + ``.part``).
    """
    path = Path(os.fsdecode(os.fspath(path)))  # surrogateescape: undecodable bytes round-trip
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise ValueError(f"{path}: the output directory {directory} does not exist")
    if not os.access(directory, os.W_OK):
        raise PermissionError(f"{path}: the output directory {directory} is not writable")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or (path.suffix + ".part"), dir=directory)
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes the file private (0600); give the result the usual permissions.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.filename is None and exc.errno is not None:
            raise OSError(exc.errno, f"{exc.strerror or exc} while writing", str(path)) from exc
        raise
