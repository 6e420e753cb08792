"""Media layer: the monthly servicing routine on an installation media folder.

``service(media, updates, ServiceOptions(...)) -> MediaReport``, ``create_sample(dest)``
and ``write_iso(media, iso)``; loaded on first use to keep ``import wimcore`` fast.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "service": "pipeline", "ServiceOptions": "pipeline", "MediaReport": "report",
    "create_sample": "sample", "write_iso": "iso", "IsoResult": "iso",
    "MediaError": "errors", "MediaLayoutError": "errors", "NotEnoughSpaceError": "errors",
    "MediaStepError": "errors", "IsoError": "errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wimcore.media' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"wimcore.media.{module}"), name)
    globals()[name] = value
    return value
