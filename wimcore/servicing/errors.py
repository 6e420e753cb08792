"""Typed errors of servicing (inventory, plan, stage, run), all under ``WimcoreError``."""

from __future__ import annotations

from typing import Any

from wimcore.errors import WimcoreError


class ServicingError(WimcoreError):
    """Base class of servicing errors: something about an image or a run blocks the work."""


class NotWindowsImageError(ServicingError):
    """The image has no ``Windows/`` tree: there is nothing to service."""


class ImageTypeError(ServicingError):
    """The image's type does not allow the operation (e.g. staging into WinRE/WinPE/Setup)."""

    def __init__(self, message: str, *, image_type: str) -> None:
        super().__init__(message)
        self.image_type = image_type


class NeedsServicingStackError(ImageTypeError):
    """Only a running servicing stack (DISM on Windows) can install into this kind of image."""


class PlanMismatchError(ServicingError):
    """The plan was made for another image (or another WIM) than the one given to stage."""


class PackageNotExpandedError(ServicingError):
    """A planned package has no expanded folder on disk to stage from (expand it first)."""


class AnswerFileError(ServicingError):
    """The image's existing unattend.xml is not a valid answer file; nothing was changed."""


class HistoryError(ServicingError):
    """The WIM's history sidecar exists but cannot be read or written."""


class ServicingRunError(ServicingError):
    """A servicing run stopped at its first failure; the WIM was left unchanged.

    ``report`` is the :class:`~wimcore.servicing.report.ServicingReport` of the run so far
    and ``__cause__`` the original error.
    """

    def __init__(self, message: str, report: Any = None) -> None:
        super().__init__(message)
        self.report = report
