"""Public names a package resolves on first use (PEP 562), so that importing the package stays cheap."""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_names(package: str, where: dict[str, str]) -> tuple[Callable, Callable]:
    """The `__getattr__` and `__dir__` of `package`, whose table `where` gives the module of each public name."""
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str):
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(where[name]), name)
        return value

    def __dir__() -> list[str]:  # what tab completion offers: the public names
        return sorted(set(namespace.get("__all__", ())) | set(where))

    return __getattr__, __dir__
