"""Lazy public names for a package's ``__init__``: a name's module is imported when the name is first
used, so importing one light piece of a package does not load its heavy neighbours (MLflow, FastAPI,
torch)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib import import_module
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package`` whose public ``exports`` map a name to its module
    (relative to the package, e.g. ``"batch"``)."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(import_module(f"{package}.{exports[name]}"), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(exports), __getattr__
