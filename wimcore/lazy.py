"""Lazy package exports: names that load their module on first use (PEP 562).

Layer packages (``wimcore.servicing``, ``wimcore.media``, ``wimcore.fleet``) export their
public names without importing the modules behind them, so ``import wimcore`` and fast
commands stay cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def exports(modules: Mapping[str, tuple[str, ...]]) -> dict[str, str]:
    """Name -> module table from module -> names."""
    return {name: module for module, names in modules.items() for name in names}


def load(package: str, table: Mapping[str, str], namespace: dict[str, Any], name: str) -> Any:
    """Import the module that exports ``name``, cache the value in ``namespace``, return it."""
    module = table.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{package}.{module}"), name)
    namespace[name] = value
    return value
