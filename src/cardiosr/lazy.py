"""Lazy package exports (PEP 562): a package names its public objects without importing their modules, so
that reading one light module (``cardiosr --help`` reads the settings) does not load torch."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports ``package.<where[name]>`` on first access of ``name``.

    Examples
    --------
    >>> getattr_ = lazy_exports("cardiosr.optimise", {"StoppingRule": "stopping"})
    >>> getattr_("StoppingRule").__name__
    'StoppingRule'
    """

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
