"""PALA's function names and conventions (1-based pixels, (N, 4) tables, cell
lists of tracks), a thin layer over the pyulm core for drop-in use.

Where PALA has a quirk that changes results, these functions reproduce it (the
core has one switch for it); the Pythonic API does the right thing. See
``docs/pala_differences.md`` for the table of every difference. PALA's console
lines are printed too; :func:`verbose` and :func:`quiet` switch them off.
"""
from ._console import quiet, verbose
from ._core import SVDfilter, ULM_localization2D
from ._params import block_params
from ._render import ULM_Track2MatOut
from ._tracking import ULM_tracking2D

__all__ = ["SVDfilter", "ULM_localization2D", "ULM_tracking2D", "ULM_Track2MatOut", "verbose", "quiet", "block_params"]
