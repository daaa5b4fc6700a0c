"""pyulm: ultrasound localization microscopy in Python, PALA-exact, MATLAB-friendly.

The pipeline is four verbs over two tables::

    frames --filter--> frames --localize--> Localizations --track--> Tracks --render--> maps
"""
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


def _submodules() -> frozenset:
    """The public submodules and subpackages, found on disk (no hand-kept list)."""
    import pkgutil

    return frozenset(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name):
    import importlib

    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    if not name.startswith("_") and name in _submodules():
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'pyulm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _submodules() | set(_EXPORTS))
