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
(those that need torch, say) are listed in ``_PLUGIN_MODULES`` and imported on
first use; third-party packages can register through the ``pyulm.localization``
entry-point group.
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
# Modules that register methods when imported; imported lazily on first lookup.
_PLUGIN_MODULES = ["pyulm.localization.ncc", "pyulm.localization.decon", "pyulm.nn"]
_plugins_loaded = False


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


def _load_plugins():
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for mod in _PLUGIN_MODULES:  # part of pyulm: a failure here is a real error
        importlib.import_module(mod)
    try:
        from importlib.metadata import entry_points

        for ep in entry_points(group="pyulm.localization"):
            ep.load()
    except Exception as exc:  # pragma: no cover - third-party plugin broken
        raise RuntimeError(f"a pyulm.localization entry point failed to load: {exc}") from exc


def get_method(name: str) -> Method:
    """Look a method up by (case-insensitive) name; ValueError lists the known names."""
    if not isinstance(name, str):
        raise ValueError(f"LocMethod: expected a method name (str), got {name!r}")
    key = name.lower()
    if key not in _REGISTRY:
        _load_plugins()
    if key not in _REGISTRY:
        raise ValueError(f"LocMethod: unknown localization method {name!r}; available: {', '.join(available_methods())}")
    return _REGISTRY[key]


def available_methods() -> list[str]:
    """Names of every registered method."""
    _load_plugins()
    return sorted(_REGISTRY)
