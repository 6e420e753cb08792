"""wimcore: service Windows images (WIM, update packages, installation media) from any host.

The core API lives here: open and create WIMs, their images, progress events and
errors. Importing this package does not load libwimlib; the first call does.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

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
    MissingFileError,
    NtfsError,
    PathNotFoundError,
    ReadOnlyError,
    StaleImageError,
    UnsafePathError,
    UnsupportedError,
    WimcoreError,
    WimcoreWarning,
    WimlibError,
    WimlibWarning,
)

if TYPE_CHECKING:
    from wimcore.compression import Compression, Compressor, Decompressor
    from wimcore.direntry import DirEntry, FileAttribute, ResourceEntry, StreamEntry
    from wimcore.image import Image
    from wimcore.imageinfo import Arch, ImageInfo
    from wimcore.progress import ProgressEvent, ProgressKind
    from wimcore.update import (
        AddCommand,
        DeleteCommand,
        ImageEdit,
        RenameCommand,
        parse_commands,
    )
    from wimcore.wim import (
        ALL,
        ImageCollection,
        Wim,
        WimInfo,
        capture,
        create,
        export,
        extract_from_pipe,
        join,
        open,
        optimize,
        verify,
    )

# Public names and the module that defines each: loaded on first use so that
# ``import wimcore`` stays fast (no cffi, lxml or libwim until they are needed).
_LAZY = {
    "Compression": "compression", "Compressor": "compression", "Decompressor": "compression",
    "DirEntry": "direntry", "FileAttribute": "direntry", "ResourceEntry": "direntry",
    "StreamEntry": "direntry", "Image": "image", "Arch": "imageinfo", "ImageInfo": "imageinfo",
    "ProgressEvent": "progress", "ProgressKind": "progress", "AddCommand": "update",
    "DeleteCommand": "update", "ImageEdit": "update", "RenameCommand": "update",
    "parse_commands": "update",
    "ALL": "wim", "ImageCollection": "wim", "Wim": "wim", "WimInfo": "wim", "capture": "wim",
    "create": "wim", "export": "wim", "join": "wim", "open": "wim", "optimize": "wim",
    "verify": "wim", "extract_from_pipe": "wim",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'wimcore' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"wimcore.{module}"), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"


def libwimlib_version() -> str:
    """The loaded libwimlib's version string (loads the library)."""
    from wimcore import _lib

    return _lib.string(_lib.lib().wimlib_get_version_string()) or "unknown"


__all__ = [
    "ALL",
    "AddCommand",
    "Arch",
    "Cancelled",
    "Compression",
    "Compressor",
    "CorruptDataError",
    "Decompressor",
    "DeleteCommand",
    "DestinationExistsError",
    "DirEntry",
    "FileAttribute",
    "FileSystemError",
    "Image",
    "ImageCollection",
    "ImageEdit",
    "ImageInfo",
    "ImageNameCollisionError",
    "ImageNotFoundError",
    "InvalidParameterError",
    "InvalidWimError",
    "InvalidXMLError",
    "LibraryNotFoundError",
    "LockedError",
    "MissingFileError",
    "NtfsError",
    "PathNotFoundError",
    "ProgressEvent",
    "ProgressKind",
    "ReadOnlyError",
    "RenameCommand",
    "ResourceEntry",
    "StaleImageError",
    "StreamEntry",
    "UnsafePathError",
    "UnsupportedError",
    "Wim",
    "WimInfo",
    "WimcoreError",
    "WimcoreWarning",
    "WimlibError",
    "WimlibWarning",
    "__version__",
    "capture",
    "create",
    "export",
    "extract_from_pipe",
    "join",
    "libwimlib_version",
    "open",
    "optimize",
    "parse_commands",
    "verify",
]
