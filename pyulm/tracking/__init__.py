"""Tracking: link localizations into tracks (simpletracker) and interpolate them as PALA does.

``track`` is the Pythonic entry point (a :class:`~pyulm.tables.Localizations`
table in, a :class:`~pyulm.tables.Tracks` table out); ``link`` gives the
linked point indices only. The building blocks are
public too: Yi Cao's ``munkres``, Tinevez's ``simpletracker`` and linkers, and
MATLAB's ``smooth`` and colon semantics.
"""
from .core import link, track
from .linkers import hungarian_linker, nearest_neighbor_linker
from .matlab import matlab_colon, matlab_smooth
from .munkres import munkres
from .simpletracker import simpletracker

__all__ = [
    "track", "link", "simpletracker", "hungarian_linker", "nearest_neighbor_linker", "munkres",
    "matlab_smooth", "matlab_colon",
]
