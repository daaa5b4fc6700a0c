"""pyulm: ultrasound localization microscopy in Python, PALA-exact, MATLAB-friendly.

The pipeline is four verbs over two tables::

    frames --filter--> frames --localize--> Localizations --track--> Tracks --render--> maps
"""
from ._lazy import attach
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


__getattr__, __dir__ = attach(__name__, _EXPORTS, _submodules)
