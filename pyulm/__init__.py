"""pyulm: ultrasound localization microscopy in Python, PALA-exact, MATLAB-friendly.

The pipeline is four verbs over two tables::

    frames --filter--> frames --localize--> Localizations --track--> Tracks --render--> maps
"""
from typing import TYPE_CHECKING as _TYPE_CHECKING

from ._version import __version__

__all__ = [
    "__version__", "Localizations", "Tracks", "Metadata",
    "svd_filter", "butter_bandpass", "filter_block",
    "localize", "available_methods", "register_kernel", "register_method",
    "track", "render",
]

# Everything is imported on first use (PEP 562): ``import pyulm`` costs numpy
# nothing, and MATLAB's file transport, which starts Python on every call,
# only imports what the call needs.
_EXPORTS = {
    "Localizations": "tables", "Tracks": "tables", "Metadata": "tables",
    "svd_filter": "filtering", "butter_bandpass": "filtering", "filter_block": "filtering",
    "localize": "localization", "available_methods": "localization",
    "register_kernel": "localization", "register_method": "localization",
    "track": "tracking",
}
# Submodules reachable as attributes (pyulm.sim, pyulm.render, ...).
_LAZY = ("io", "sim", "metrics", "nn", "psf", "denoise", "pipeline", "config", "figures", "pala",
         "regression", "matlab_bridge", "tracking", "localization", "filtering", "render", "tables")

if _TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from . import render
    from .filtering import butter_bandpass, filter_block, svd_filter
    from .localization import available_methods, localize, register_kernel, register_method
    from .tables import Localizations, Metadata, Tracks
    from .tracking import track


def __getattr__(name):
    import importlib

    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'pyulm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | set(_EXPORTS))
