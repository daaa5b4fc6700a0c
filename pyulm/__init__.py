"""pyulm: ultrasound localization microscopy in Python, PALA-exact, MATLAB-friendly.

The pipeline is four verbs over two tables::

    frames --filter--> frames --localize--> Localizations --track--> Tracks --render--> maps
"""
from ._version import __version__
from .tables import Localizations, Metadata, Tracks
from .filtering import butter_bandpass, svd_filter, filter_block
from .localization import available_methods, localize, register_kernel, register_method

__all__ = [
    "__version__", "Localizations", "Tracks", "Metadata",
    "svd_filter", "butter_bandpass", "filter_block",
    "localize", "available_methods", "register_kernel", "register_method",
]

from .tracking import track

__all__.append("track")
from . import render  # the module: render.render(tracks, ...), render.SuperResolutionGrid, ...

__all__.append("render")
