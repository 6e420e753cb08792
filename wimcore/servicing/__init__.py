"""Servicing layer: inventory an image, plan packages for it, and apply the plan.

``inventory(image)``, ``plan(inventory, packages)``, ``stage(wim, image, plan)`` and a
whole run, ``service_wim(wim_path, packages, ...)``, plus the run's report, log, history
and typed errors. Names load on first use, so ``import wimcore.servicing`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "image_inventory": ("inventory", "Inventory", "ImageType", "InstalledPackage", "Session",
                        "StagedByWimcore"),
    "planner": ("plan", "Plan", "PlanEntry", "PlanState"),
    "staging": ("stage", "StageResult", "StagedPackage"),
    "run": ("service_wim",),
    "report": ("ServicingReport", "ImageReport", "PackageReport", "ServicingLog"),
    "errors": ("ServicingError", "NotWindowsImageError", "ImageTypeError",
               "NeedsServicingStackError", "PlanMismatchError", "PackageNotExpandedError",
               "AnswerFileError", "HistoryError", "ServicingRunError"),
}
_LAZY = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wimcore.servicing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"wimcore.servicing.{module}"), name)
    globals()[name] = value
    return value
