"""wimcore: service Windows images (WIM, update packages, installation media) from any host.

The core API lives here: open and create WIMs, their images, progress events and
errors. Importing this package does not load libwimlib; the first call does.
"""

from __future__ import annotations

from wimcore.errors import (
    Cancelled,
    CorruptDataError,
    DestinationExistsError,
    FileSystemError,
    ImageNameCollisionError,
    ImageNotFoundError,
    InvalidParameterError,
    InvalidWimError,
    InvalidXMLError,
    LibraryNotFoundError,
    LockedError,
    NtfsError,
    PathNotFoundError,
    ReadOnlyError,
    StaleImageError,
    UnsafePathError,
    UnsupportedError,
    WimcoreError,
    WimlibError,
)
from wimcore.progress import ProgressEvent, ProgressKind

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "CorruptDataError",
    "DestinationExistsError",
    "FileSystemError",
    "ImageNameCollisionError",
    "ImageNotFoundError",
    "InvalidParameterError",
    "InvalidWimError",
    "InvalidXMLError",
    "LibraryNotFoundError",
    "LockedError",
    "NtfsError",
    "PathNotFoundError",
    "ProgressEvent",
    "ProgressKind",
    "ReadOnlyError",
    "StaleImageError",
    "UnsafePathError",
    "UnsupportedError",
    "WimcoreError",
    "WimlibError",
    "__version__",
]
