"""Media layer: the monthly servicing routine on an installation media folder.

``service(media, updates, ServiceOptions(...)) -> MediaReport`` and ``create_sample(dest)``
(the ISO writer is ``wimcore.iso.write_iso``); loaded on first use to keep ``import
wimcore`` fast.
"""

from __future__ import annotations

from typing import Any

from wimcore import lazy

_LAZY = {
    "service": "pipeline", "ServiceOptions": "pipeline", "MediaReport": "report",
    "MediaImageReport": "report",
    "create_sample": "sample",
    "MediaError": "errors", "MediaLayoutError": "errors", "NotEnoughSpaceError": "errors",
    "FolderNotWritableError": "errors",
    "MediaStepError": "errors", "IsoError": "errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    return lazy.load(__name__, _LAZY, globals(), name)
