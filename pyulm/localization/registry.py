"""Registry of localization methods: one name reaches a method everywhere.

Two kinds of method plug in:

* a **kernel** works on the regions of interest (ROIs) around PALA's detected
  candidates: ``kernel(rois, *, <options>) -> (dz, dx)`` with ``rois`` of shape
  (K, nz, nx) and offsets in pixels from the ROI centre (NaN = failed); a
  kernel that declares a ``fwhm`` parameter also receives ``fwhm=(fz, fx)``;
  detection, the NLocalMax safeguard and the divergence guard are shared;
* a **frames** method does its own detection:
  ``method(frames, *, fwhm, number_of_particles, n_local_max, <options>) ->
  Localizations`` (0-based pixel coordinates), e.g. NCC, deconvolution, networks.

**One rule for options.** At registration the registry reads the method's
signature once and records the names of its options (its keyword parameters
other than the common ones above); :meth:`Method.check_options` then refuses
any other name with one :class:`pyulm.localization.UnknownOptionError` naming the
method, the option, a suggestion and the accepted names. :func:`pyulm.localize`
calls it before any work, so the rule holds for every caller: Python,
``ULM.parameters`` in :mod:`pyulm.pala`, the CLI config and MATLAB. A method
that also takes ``**kwargs`` gains nothing from it: only named options pass.

Once registered, a method is reachable from :func:`pyulm.localize`,
``pyulm.pala.ULM_localization2D`` (``ULM.LocMethod``), the CLI config and the
MATLAB wrappers without further code. Methods living in optional modules
(heavy imports, or torch) are listed by name in ``_PLUGIN_METHODS`` and their
module is imported on first use; third-party packages can register through the
``pyulm.localization`` entry-point group.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Callable

from .._validate import check_options

KINDS = ("kernel", "frames")
# pyulm.localize's own arguments: suggested for a misplaced or PALA-named option
_LOCALIZE_ARGS = ("method", "fwhm", "number_of_particles", "n_local_max", "meta", "pala_compat")
#: Arguments that :func:`pyulm.localize` itself passes to a method of each kind (not options).
COMMON = {"kernel": ("fwhm",), "frames": ("fwhm", "number_of_particles", "n_local_max")}


@dataclass(frozen=True)
class Method:
    """A registered localization method.

    ``options`` are the names of its options, read from its signature at
    registration; ``takes_fwhm`` says whether a kernel wants ``fwhm``.
    """

    name: str
    kind: str
    func: Callable
    description: str = ""
    options: tuple = ()
    takes_fwhm: bool = True

    def check_options(self, options) -> None:
        """Refuse any option this method does not declare (:class:`~pyulm.localization.UnknownOptionError`)."""
        check_options(f"localization method {self.name!r}", options, self.options, _LOCALIZE_ARGS)


def _signature_options(name: str, kind: str, func) -> tuple[tuple, bool]:
    """(option names, takes fwhm) from ``func``'s signature; refuse a signature the registry cannot call."""
    params = list(inspect.signature(func).parameters.values())
    if not params or params[0].kind not in (params[0].POSITIONAL_ONLY, params[0].POSITIONAL_OR_KEYWORD):
        raise ValueError(f"localization method {name!r}: its first parameter must take the "
                         f"{'ROI stack' if kind == 'kernel' else 'frames'} positionally")
    named = {p.name: p for p in params[1:] if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    var_kw = any(p.kind == p.VAR_KEYWORD for p in params)
    required = [n for n, p in named.items() if p.default is p.empty and n not in COMMON[kind]]
    if required:
        raise ValueError(f"localization method {name!r}: option(s) {required} need a default value")
    if kind == "frames":
        missing = [c for c in COMMON["frames"] if c not in named and not var_kw]
        if missing:
            raise ValueError(f"localization method {name!r}: a frames method must accept {missing}")
    options = tuple(sorted(n for n in named if n not in COMMON[kind]))
    return options, ("fwhm" in named or var_kw)


_REGISTRY: dict[str, Method] = {}
# Methods of pyulm's own optional modules, by name: a lookup imports only the
# module it needs (ncc and decon pull in scipy.signal/ndimage, about 0.5-0.9 s
# each, a lot for MATLAB's per-call start-up), and listing the names imports
# none. tests/test_localization.py checks that each module registers exactly these.
_PLUGIN_METHODS = {"ncc": "pyulm.localization.ncc", "decon": "pyulm.localization.decon",
                   "mblnet": "pyulm.nn", "3dml": "pyulm.nn"}
_entry_points_loaded = False


def _register(name: str, kind: str, func, description: str):
    key = name.lower()
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if key in _REGISTRY and _REGISTRY[key].func is not func:
        raise ValueError(f"localization method {name!r} is already registered")
    options, takes_fwhm = _signature_options(name, kind, func)
    _REGISTRY[key] = Method(key, kind, func, description or (func.__doc__ or "").strip().split("\n")[0],
                            options, takes_fwhm)
    return func


def unregister(name: str) -> None:
    """Remove the method registered under ``name`` (case-insensitive); ValueError if there is none."""
    if _REGISTRY.pop(name.lower() if isinstance(name, str) else name, None) is None:
        raise ValueError(f"name: no localization method {name!r} is registered")


def optional_methods() -> dict[str, str]:
    """pyulm's optional methods and the module that registers each (imported on first lookup)."""
    return dict(_PLUGIN_METHODS)


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
