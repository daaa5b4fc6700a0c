"""Localization: detection plus sub-pixel kernels, behind one registry."""
from . import kernels as _kernels  # noqa: F401  (registers radial, wa, nolocalization)
from .core import default_n_local_max, localize
from .detect import count_regional_maxima, extract_rois, half_widths, regional_maxima, select_candidates
from .registry import Method, available_methods, get_method, register_kernel, register_method

import importlib as _il

for _mod in ("interp", "gaussfit"):  # interp and curvefitting kernels live in their own modules
    try:
        _il.import_module(f"{__name__}.{_mod}")
    except ModuleNotFoundError as exc:  # pragma: no cover - while they are built
        if exc.name != f"{__name__}.{_mod}":
            raise

__all__ = [
    "localize", "available_methods", "get_method", "register_kernel", "register_method", "Method",
    "select_candidates", "extract_rois", "regional_maxima", "count_regional_maxima", "half_widths",
    "default_n_local_max",
]
