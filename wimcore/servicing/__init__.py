"""Servicing layer: inventory an image, plan packages for it, and apply the plan.

``inventory(image)``, ``plan(inventory, packages)``, ``stage(wim, image, plan)`` and a
whole run, ``service_wim(wim_path, packages, ...)``, plus the run's report, log, history
and typed errors. Names load on first use, so ``import wimcore.servicing`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from wimcore import lazy

_MODULES = {
    "image_inventory": ("inventory", "Inventory", "ImageType", "InstalledPackage", "Session",
                        "StagedByWimcore"),
    "planner": ("plan", "Plan", "PlanEntry", "PlanState"),
    "staging": ("stage", "StageResult", "StagedPackage"),
    "run": ("service_wim",),
    "report": ("ServicingReport", "ImageReport", "PackageReport", "ServicingLog", "StepTiming"),
    "errors": ("ServicingError", "NotWindowsImageError", "ImageTypeError",
               "NeedsServicingStackError", "PlanMismatchError", "PackageNotExpandedError",
               "AnswerFileError", "HistoryError", "ServicingRunError"),
}
_LAZY = lazy.exports(_MODULES)

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    return lazy.load(__name__, _LAZY, globals(), name)
