"""Registry of localization methods: one name reaches a method everywhere.

Two kinds of method plug in:

* a **kernel** works on the regions of interest (ROIs) around PALA's detected
  candidates: ``kernel(rois, *, fwhm, **options) -> (dz, dx)`` with ``rois``
  of shape (K, nz, nx) and offsets in pixels from the ROI centre (NaN = failed);
  detection, the NLocalMax safeguard and the divergence guard are shared;
* a **frames** method does its own detection:
  ``method(frames, *, fwhm, number_of_particles, n_local_max, **options) ->
  Localizations`` (0-based pixel coordinates), e.g. NCC, deconvolution, networks.

Once registered, a method is reachable from :func:`pyulm.localize`,
``pyulm.pala.ULM_localization2D`` (``ULM.LocMethod``), the CLI config and the
MATLAB wrappers without further code. Methods living in optional modules
(heavy imports, or torch) are listed by name in ``_PLUGIN_METHODS`` and their
module is imported on first use; third-party packages can register through the
``pyulm.localization`` entry-point group.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

KINDS = ("kernel", "frames")


@dataclass(frozen=True)
class Method:
    name: str
    kind: str
    func: Callable
    description: str = ""


_REGISTRY: dict[str, Method] = {}
# Methods of pyulm's own optional modules, by name: a lookup imports only the
# module it needs (ncc and decon pull in scipy.signal/ndimage, about 0.5-0.9 s
# each, a lot for MATLAB's per-call start-up), and listing the names imports
# none. tests/test_localization.py checks that each module registers exactly these.
_PLUGIN_METHODS = {"ncc": "pyulm.localization.ncc", "decon": "pyulm.localization.decon",
                   "mblnet": "pyulm.nn", "3dml": "pyulm.nn"}
_PLUGIN_MODULES = sorted(set(_PLUGIN_METHODS.values()))
_entry_points_loaded = False


def _register(name: str, kind: str, func, description: str):
    key = name.lower()
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if key in _REGISTRY and _REGISTRY[key].func is not func:
        raise ValueError(f"localization method {name!r} is already registered")
    _REGISTRY[key] = Method(key, kind, func, description or (func.__doc__ or "").strip().split("\n")[0])
    return func


def register_kernel(name: str, func: Callable | None = None, *, description: str = ""):
    """Register a ROI kernel under ``name`` (usable as a decorator)."""
    if func is None:
        return lambda f: _register(name, "kernel", f, description)
    return _register(name, "kernel", func, description)


def register_method(name: str, func: Callable | None = None, *, description: str = ""):
    """Register a whole-frame localization method under ``name`` (usable as a decorator)."""
    if func is None:
        return lambda f: _register(name, "frames", f, description)
    return _register(name, "frames", func, description)


def _load_entry_points():
    """Import third-party methods registered through the ``pyulm.localization`` entry-point group."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="pyulm.localization"):
            ep.load()
    except Exception as exc:  # pragma: no cover - third-party plugin broken
        raise RuntimeError(f"a pyulm.localization entry point failed to load: {exc}") from exc


def _load_plugins():
    """Import every optional module and entry point (all methods registered)."""
    for mod in _PLUGIN_MODULES:  # part of pyulm: a failure here is a real error
        importlib.import_module(mod)
    _load_entry_points()


def get_method(name: str) -> Method:
    """Look a method up by (case-insensitive) name; ValueError lists the known names."""
    if not isinstance(name, str):
        raise ValueError(f"LocMethod: expected a method name (str), got {name!r}")
    key = name.lower()
    if key not in _REGISTRY and key in _PLUGIN_METHODS:
        importlib.import_module(_PLUGIN_METHODS[key])
    if key not in _REGISTRY:
        _load_entry_points()
    if key not in _REGISTRY:
        raise ValueError(f"LocMethod: unknown localization method {name!r}; available: {', '.join(available_methods())}")
    return _REGISTRY[key]


def available_methods() -> list[str]:
    """Names of every method: registered, pyulm's optional ones (not imported for this) and entry points."""
    _load_entry_points()
    return sorted(set(_REGISTRY) | set(_PLUGIN_METHODS))
