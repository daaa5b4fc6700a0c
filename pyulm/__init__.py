"""pyulm: ultrasound localization microscopy in Python, PALA-exact, MATLAB-friendly.

The pipeline is four verbs over two tables::

    frames --filter--> frames --localize--> Localizations --track--> Tracks --render--> maps
"""
from ._version import __version__
from .tables import Localizations, Metadata, Tracks
from .filtering import butter_bandpass, filter_block, svd_filter
from .localization import available_methods, localize, register_kernel, register_method
from .tracking import track
from . import render  # the module: render.render(tracks, ...), render.SuperResolutionGrid, ...

__all__ = [
    "__version__", "Localizations", "Tracks", "Metadata",
    "svd_filter", "butter_bandpass", "filter_block",
    "localize", "available_methods", "register_kernel", "register_method",
    "track", "render",
]

# Submodules reachable as attributes (pyulm.sim, pyulm.metrics, ...) without importing them
# all up front: MATLAB's file transport starts Python on every call.
_LAZY = ("io", "sim", "metrics", "nn", "psf", "denoise", "pipeline", "config", "figures", "pala",
         "regression", "matlab_bridge", "tracking", "localization", "filtering")


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'pyulm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
