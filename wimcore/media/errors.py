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
    """A folder the run writes (the work folder, or the ISO's folder) has less free space
    than the run needs there; the message names which folder, and the option to move it."""

    def __init__(self, path: str, needed: int, available: int, *,
                 role: str = "the work folder", option: str = "--work-dir") -> None:
        super().__init__(f"{path}: not enough free space in {role}: needs about "
                         f"{_mib(needed)}, {_mib(available)} available (choose another "
                         f"{option})")
        self.path = path
        self.needed = needed
        self.available = available
        self.role = role
        self.option = option


class FolderNotWritableError(MediaError):
    """A folder the run must write (the work folder, the ISO's folder) cannot be written:
    a read-only file system or no permission. Checked before anything changes."""

    def __init__(self, path: str, why: str, *, role: str, option: str) -> None:
        super().__init__(f"{path}: {role} is not writable ({why}); choose another {option}")
        self.path = path
        self.why = why
        self.role = role
        self.option = option


def _mib(n: int) -> str:
    return f"{n / 2**20:,.1f} MiB ({n:,} bytes)"


class MediaStepError(MediaError):
    """A step of the routine failed; ``report`` holds the run so far, ``step`` its name.

    The media folder is unchanged when this is raised before the publish step.
    """

    def __init__(self, step: str, message: str, report: Any = None) -> None:
        super().__init__(f"step {step} failed: {message}")
        self.step = step
        self.report = report
