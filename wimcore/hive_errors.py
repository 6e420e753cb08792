"""Exceptions of the registry-hive layer (libhivex), all under ``WimcoreError``."""

from __future__ import annotations

import errno as _errno
import os

from wimcore.errors import WimcoreError

MAX_VALUE_SIZE = 16344
"""Largest value data hivex can write: it writes no big-data (db) records for larger ones."""


class HiveError(WimcoreError):
    """libhivex failed on a hive; carries the operation, errno and the path it concerned."""

    def __init__(self, message: str, *, path: str | None = None, errno: int | None = None,
                 operation: str | None = None) -> None:
        where = f"{path}: " if path else ""
        code = ""
        if errno:
            code = f" [{_errno.errorcode.get(errno, str(errno))}: {os.strerror(errno)}]"
        super().__init__(f"{where}{message}{code}")
        # Set after the base initialiser: OSError's resets its own errno slot.
        self.path = path
        self.errno = errno
        self.operation = operation


class CorruptHiveError(HiveError):
    """The file is not a regf hive, or it is truncated or corrupt."""


class HiveKeyNotFoundError(HiveError, LookupError):
    """A key path does not exist in the hive."""


class HiveValueNotFoundError(HiveError, LookupError):
    """A key has no value of that name."""


class HiveKeyExistsError(HiveError):
    """A key of that name (compared case-insensitively, like Windows) already exists."""


class HiveValueTooLargeError(HiveError, ValueError):
    """A value's data is larger than hivex can write (it writes no big-data records)."""

    def __init__(self, size: int, *, name: str = "", path: str | None = None) -> None:
        self.size = size
        super().__init__(
            f"value {name!r} is {size:,} bytes: hivex writes no big-data records, so values "
            f"larger than {MAX_VALUE_SIZE:,} bytes cannot be written",
            path=path,
        )


class HiveReadOnlyError(HiveError):
    """A write was attempted on a hive opened read-only."""


class HiveClosedError(HiveError):
    """The hive was closed; keys and values borrowed from it no longer work."""


class HiveInvalidArgumentError(HiveError, ValueError):
    """A name, path or value cannot be stored (embedded NUL, wrong Python type, out of range)."""


class HiveOSError(HiveError, OSError):
    """Opening, reading or writing the hive file on the host failed."""


class HiveMemoryError(HiveError, MemoryError):
    """libhivex ran out of memory."""
