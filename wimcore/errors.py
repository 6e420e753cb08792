"""The one exception hierarchy of wimcore.

Every libwimlib error code maps to a class here (several codes share a class), and
every :class:`WimlibError` carries the symbolic name, the number, libwimlib's own
message, and the path or image it concerned.
"""

from __future__ import annotations

from typing import ClassVar

from wimcore._native.loader import NativeLibraryError


class WimcoreError(Exception):
    """Base class of every error wimcore raises on purpose."""


class LibraryNotFoundError(WimcoreError, NativeLibraryError):
    """A system library (libwim, libmspack, libhivex) is missing or too old."""


class Cancelled(WimcoreError):
    """The operation was cancelled (by a progress callback or Ctrl-C); nothing was changed."""


class DestinationExistsError(WimcoreError):
    """The output path exists and overwriting it was not asked for."""

    def __init__(self, path: str) -> None:
        super().__init__(f"{path}: already exists (pass overwrite=True or --overwrite to "
                         "replace it)")
        self.path = path


class WimcoreWarning(UserWarning):
    """Base class of the warnings wimcore raises (what a C library printed while it worked).

    Filter or collect them all with this one class; the CLI prints each as
    ``wimcore: warning: ...`` and lists them under ``warnings`` in ``--json`` output.
    """


class WimlibWarning(WimcoreWarning):
    """A warning libwimlib printed during an operation (an ignored name, a lost attribute).

    wimcore raises each one through Python's :mod:`warnings` machinery; collect them
    with ``warnings.catch_warnings(record=True)``. The CLI prints them to stderr as
    ``wimcore: warning: ...`` and lists them under ``warnings`` in ``--json`` output.
    """


class StaleImageError(WimcoreError):
    """An Image object refers to a WIM that was closed or whose images were renumbered."""


class InvalidXMLError(WimcoreError):
    """An XML document (WIM XML, manifest, answer file) is malformed or hostile."""


class UnsafePathError(WimcoreError):
    """A name would write outside the destination (absolute, drive letter, ``..``)."""


ERROR_NAMES: dict[int, str] = {
    0: "SUCCESS",
    1: "ALREADY_LOCKED",
    2: "DECOMPRESSION",
    6: "FUSE",
    8: "GLOB_HAD_NO_MATCHES",
    10: "IMAGE_COUNT",
    11: "IMAGE_NAME_COLLISION",
    12: "INSUFFICIENT_PRIVILEGES",
    13: "INTEGRITY",
    14: "INVALID_CAPTURE_CONFIG",
    15: "INVALID_CHUNK_SIZE",
    16: "INVALID_COMPRESSION_TYPE",
    17: "INVALID_HEADER",
    18: "INVALID_IMAGE",
    19: "INVALID_INTEGRITY_TABLE",
    20: "INVALID_LOOKUP_TABLE_ENTRY",
    21: "INVALID_METADATA_RESOURCE",
    23: "INVALID_OVERLAY",
    24: "INVALID_PARAM",
    25: "INVALID_PART_NUMBER",
    26: "INVALID_PIPABLE_WIM",
    27: "INVALID_REPARSE_DATA",
    28: "INVALID_RESOURCE_HASH",
    30: "INVALID_UTF16_STRING",
    31: "INVALID_UTF8_STRING",
    32: "IS_DIRECTORY",
    33: "IS_SPLIT_WIM",
    35: "LINK",
    36: "METADATA_NOT_FOUND",
    37: "MKDIR",
    38: "MQUEUE",
    39: "NOMEM",
    40: "NOTDIR",
    41: "NOTEMPTY",
    42: "NOT_A_REGULAR_FILE",
    43: "NOT_A_WIM_FILE",
    44: "NOT_PIPABLE",
    45: "NO_FILENAME",
    46: "NTFS_3G",
    47: "OPEN",
    48: "OPENDIR",
    49: "PATH_DOES_NOT_EXIST",
    50: "READ",
    51: "READLINK",
    52: "RENAME",
    54: "REPARSE_POINT_FIXUP_FAILED",
    55: "RESOURCE_NOT_FOUND",
    56: "RESOURCE_ORDER",
    57: "SET_ATTRIBUTES",
    58: "SET_REPARSE_DATA",
    59: "SET_SECURITY",
    60: "SET_SHORT_NAME",
    61: "SET_TIMESTAMPS",
    62: "SPLIT_INVALID",
    63: "STAT",
    65: "UNEXPECTED_END_OF_FILE",
    66: "UNICODE_STRING_NOT_REPRESENTABLE",
    67: "UNKNOWN_VERSION",
    68: "UNSUPPORTED",
    69: "UNSUPPORTED_FILE",
    71: "WIM_IS_READONLY",
    72: "WRITE",
    73: "XML",
    74: "WIM_IS_ENCRYPTED",
    75: "WIMBOOT",
    76: "ABORTED_BY_PROGRESS",
    77: "UNKNOWN_PROGRESS_STATUS",
    78: "MKNOD",
    79: "MOUNTED_IMAGE_IS_BUSY",
    80: "NOT_A_MOUNTPOINT",
    81: "NOT_PERMITTED_TO_UNMOUNT",
    82: "FVE_LOCKED_VOLUME",
    83: "UNABLE_TO_READ_CAPTURE_CONFIG",
    84: "WIM_IS_INCOMPLETE",
    85: "COMPACTION_NOT_POSSIBLE",
    86: "IMAGE_HAS_MULTIPLE_REFERENCES",
    87: "DUPLICATE_EXPORTED_IMAGE",
    88: "CONCURRENT_MODIFICATION_DETECTED",
    89: "SNAPSHOT_FAILURE",
    90: "INVALID_XATTR",
    91: "SET_XATTR",
}


class WimlibError(WimcoreError):
    """An error reported by libwimlib, with its symbolic name, code and message."""

    codes: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        code: int,
        message: str,
        *,
        path: str | None = None,
        image: int | str | None = None,
        detail: str | None = None,
    ) -> None:
        self.code = code
        self.name = "WIMLIB_ERR_" + ERROR_NAMES.get(code, f"UNKNOWN_{code}")
        self.message = message
        self.path = path
        self.image = image
        self.detail = detail
        where = []
        if path:
            where.append(str(path))
        if image is not None:
            where.append(f"image {image}")
        text = f"{': '.join(where) + ': ' if where else ''}{message} [{self.name} ({code})]"
        if detail:
            text += f"\n  libwimlib: {detail}"
        super().__init__(text)


class InvalidWimError(WimlibError):
    """The file is not a WIM, or its header, tables, XML or metadata are invalid."""

    codes = frozenset({10, 17, 19, 20, 21, 25, 26, 36, 43, 56, 62, 65, 67, 73, 74, 84})


class CorruptDataError(InvalidWimError):
    """Stored data fails its checksum or does not decompress."""

    codes = frozenset({2, 13, 28, 55})


class ImageNotFoundError(WimlibError, LookupError):
    """The image index or name does not exist in the WIM."""

    codes = frozenset({18})


class PathNotFoundError(WimlibError, LookupError):
    """A path inside the image does not exist."""

    codes = frozenset({49, 42, 40, 32, 41})


class ImageNameCollisionError(WimlibError):
    """An image with that name is already in the WIM, or the image was exported before."""

    codes = frozenset({11, 87})


class LockedError(WimlibError):
    """Another writer holds the WIM."""

    codes = frozenset({1, 88})


class ReadOnlyError(WimlibError):
    """The WIM cannot be written (opened read-only, marked read-only, or split)."""

    codes = frozenset({71, 33, 86})


class InvalidParameterError(WimlibError, ValueError):
    """An option had a value libwimlib refuses (chunk size, compression type, ...)."""

    codes = frozenset({14, 15, 16, 24, 30, 31, 66, 8, 83})


class FileSystemError(WimlibError, OSError):
    """Reading or writing files on the host failed (open, read, write, mkdir, ...)."""

    codes = frozenset({12, 35, 37, 47, 48, 50, 51, 52, 54, 57, 58, 59, 60, 61, 63, 72, 78, 82,
                       89, 91, 90, 27, 23})


class NtfsError(WimlibError, OSError):
    """libntfs-3g failed on the NTFS volume."""

    codes = frozenset({46})


class UnsupportedError(WimlibError):
    """libwimlib does not support this operation, file type or build feature."""

    codes = frozenset({68, 69, 44, 45, 75, 85, 6, 38, 79, 80, 81})


class OutOfMemoryError(WimlibError, MemoryError):
    """libwimlib ran out of memory."""

    codes = frozenset({39})


class WimlibCancelled(Cancelled, WimlibError):
    """libwimlib stopped because the progress callback asked it to."""

    codes = frozenset({76, 77})


_CLASSES: dict[int, type[WimlibError]] = {}
for _cls in (InvalidWimError, CorruptDataError, ImageNotFoundError, PathNotFoundError,
             ImageNameCollisionError, LockedError, ReadOnlyError, InvalidParameterError,
             FileSystemError, NtfsError, UnsupportedError, OutOfMemoryError, WimlibCancelled):
    for _code in _cls.codes:
        _CLASSES[_code] = _cls


def error_class(code: int) -> type[WimlibError]:
    """The exception class for a libwimlib error code (WimlibError when unknown)."""
    return _CLASSES.get(code, WimlibError)


class MissingFileError(FileSystemError, FileNotFoundError):
    """The WIM (or another input file) does not exist."""

    codes = frozenset()


class IsoError(WimcoreError):
    """An ISO image could not be written (missing boot files, unsupported layout)."""
