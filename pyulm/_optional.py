"""Optional dependencies: one place that knows which extra provides which package.

The core needs numpy, scipy and h5py only. Code that needs more imports it through
:func:`require`, so a missing package gives one message naming the extra to install.
"""
from __future__ import annotations

import importlib

# top-level package -> the extra of setup.cfg that installs it
EXTRA_OF = {
    "dask": "process", "distributed": "process", "tqdm": "process", "pydantic": "process",
    "tomli": "process", "matplotlib": "figures", "PIL": "figures", "hdf5storage": "mat73",
    "deflate": "mat73", "skimage": "sim", "torch": "nn", "pymust": "pymust",
}


def require(module: str, feature: str):
    """Import ``module`` or raise ``ImportError`` naming ``feature`` and the extra to install.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"matplotlib.pyplot"``.
    feature : str
        What needs it, in the user's words (``"pyulm process"``, ``"figures"``).

    Examples
    --------
    >>> require("numpy", "everything").__name__
    'numpy'
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        top = module.split(".")[0]
        if exc.name is None or exc.name.split(".")[0] != top:
            raise
        extra = EXTRA_OF.get(top)
        hint = f"pip install 'pyulm[{extra}]'" if extra else f"pip install {top}"
        raise ImportError(f"{feature} needs {top}, which is not installed: {hint}") from None


def toml():
    """The TOML reader: the standard library's ``tomllib`` (Python 3.11+) or ``tomli`` (3.10).

    Examples
    --------
    >>> toml().loads("a = 1")
    {'a': 1}
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        return require("tomli", "reading a TOML file on Python 3.10")
    return tomllib


def load_toml(path, what: str) -> dict:
    """Read the TOML file ``path``; a missing file or invalid TOML is one error naming ``what`` and the file.

    Examples
    --------
    >>> load_toml("no/such/file.toml", "training config")
    Traceback (most recent call last):
    ...
    FileNotFoundError: training config no/such/file.toml does not exist
    """
    from pathlib import Path

    tomllib = toml()
    p = Path(path)
    try:
        return tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{what} {p} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{what} {p}: invalid TOML: {exc}") from None
