"""Fleet layer: many images serviced in parallel on Dask distributed, with a SQLite catalog.

``Catalog`` (the servicing catalog), ``add_images`` / ``add_updates`` (the image and content
libraries), ``plan_images`` and ``run_fleet``. Names load on first use: importing this
package imports neither Dask nor the servicing layer; only a run starts Dask.
"""

from __future__ import annotations

from typing import Any

from wimcore import lazy

_MODULES = {
    "catalog": ("Catalog", "default_catalog_path"),
    "library": ("add_images",),
    "updates": ("add_updates", "UpdateImport"),
    "planning": ("plan_images", "select_updates", "ImagePlan"),
    "runner": ("run_fleet", "RunOptions", "FleetRunResult"),
    "task": ("ImageTask", "service_image"),
    "security": ("TlsFiles", "check_scheduler"),
    "errors": ("FleetError", "CatalogError", "CatalogVersionError", "NotRegisteredError",
               "LibraryError", "RemoveSupersededRefusedError", "WorkerAccessError",
               "ClusterError", "InsecureSchedulerError"),
}
_LAZY = lazy.exports(_MODULES)

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    return lazy.load(__name__, _LAZY, globals(), name)
