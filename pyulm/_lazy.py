"""One mechanism for names a package imports on first use (PEP 562).

``import pyulm`` and MATLAB's per-call Python import only what a call needs; packages
declare ``{name: submodule}`` and get their module ``__getattr__``/``__dir__`` from here.
"""
from __future__ import annotations

import importlib


def attach(package: str, exports: dict, submodules=frozenset, *, base: str | None = None):
    """``(__getattr__, __dir__)`` for the module ``package`` whose ``exports`` map a name to the
    module (relative to ``base``, default ``package``) that defines it; ``submodules()`` lists the
    submodules reachable as attributes. A name is imported once, then kept in the module's namespace."""
    import sys

    def __getattr__(name):
        if name in exports:
            module = sys.modules[package]
            value = getattr(importlib.import_module(f"{base or package}.{exports[name]}"), name)
            setattr(module, name, value)
            return value
        if not name.startswith("_") and name in submodules():
            return importlib.import_module(f"{package}.{name}")
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[package])) | set(exports) | set(submodules()))

    return __getattr__, __dir__
