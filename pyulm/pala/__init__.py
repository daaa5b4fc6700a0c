"""PALA's function names and conventions (1-based pixels, (N, 4) tables, cell
lists of tracks), a thin layer over the pyulm core for drop-in use.

Where PALA has a quirk that changes results, these functions reproduce it (the
core has one switch for it); the Pythonic API does the right thing. See
``docs/pala_differences.md`` for the table of every difference.
"""
import importlib as _il

from ._core import SVDfilter, ULM_localization2D

__all__ = ["SVDfilter", "ULM_localization2D"]

for _mod, _names in (("_tracking", ["ULM_tracking2D"]), ("_render", ["ULM_Track2MatOut"])):
    try:
        _m = _il.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as exc:  # pragma: no cover - while those modules are built
        if exc.name != f"{__name__}.{_mod}":
            raise
        continue
    for _n in _names:
        globals()[_n] = getattr(_m, _n)
        __all__.append(_n)
