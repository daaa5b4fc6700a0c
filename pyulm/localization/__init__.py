"""Localization: detection plus sub-pixel kernels, behind one registry."""
# importing the kernel modules registers radial, wa, nolocalization, interp, curvefitting
from . import gaussfit as _gaussfit  # noqa: F401
from . import interp as _interp  # noqa: F401
from . import kernels as _kernels  # noqa: F401
from .._validate import UnknownOptionError
from .core import default_n_local_max, localize
from .detect import count_regional_maxima, extract_rois, half_widths, regional_maxima, select_candidates
from .registry import (Method, available_methods, get_method, optional_methods, register_kernel, register_method,
                       unregister)

__all__ = [
    "localize", "available_methods", "get_method", "register_kernel", "register_method", "unregister",
    "optional_methods", "Method", "UnknownOptionError",
    "select_candidates", "extract_rois", "regional_maxima", "count_regional_maxima", "half_widths",
    "default_n_local_max",
]
