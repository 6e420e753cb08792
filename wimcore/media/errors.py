"""Typed errors of the media routine, all under ``WimcoreError``."""

from __future__ import annotations

from typing import Any

from wimcore.errors import IsoError as IsoError  # re-exported: raised by the ISO step
from wimcore.errors import WimcoreError


class MediaError(WimcoreError):
    """Base class of media-routine errors."""


class MediaLayoutError(MediaError):
    """The folder is not a Windows installation media (no sources/install.wim or boot.wim)."""


class NotEnoughSpaceError(MediaError):
    """The working folder (or the ISO's folder) has less free space than the run needs."""

    def __init__(self, path: str, needed: int, available: int) -> None:
        super().__init__(f"{path}: not enough free space for the media routine: needs about "
                         f"{needed:,} bytes, {available:,} available (choose another "
                         "--work-dir)")
        self.path = path
        self.needed = needed
        self.available = available


class MediaStepError(MediaError):
    """A step of the routine failed; ``report`` holds the run so far, ``step`` its name.

    The media folder is unchanged when this is raised before the publish step.
    """

    def __init__(self, step: str, message: str, report: Any = None) -> None:
        super().__init__(f"step {step} failed: {message}")
        self.step = step
        self.report = report
