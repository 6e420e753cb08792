"""The package layer's one gate to the raw libmspack binding: loading and the error checker.

Every libmspack call whose outcome is an MSPACK_ERR_* code (returned, or read back
with ``last_error()``) goes through :func:`check`, which turns a non-OK code into the
matching :mod:`wimcore.packages.errors` class.
"""

from __future__ import annotations

import threading
from typing import Any, NoReturn

from wimcore.errors import LibraryNotFoundError
from wimcore.packages.errors import cabinet_error_class

_lock = threading.Lock()
_pair: tuple[Any, Any] | None = None

_MESSAGES = {
    1: "bad arguments or parameter",
    2: "cannot open file",
    3: "read failed (truncated or unreadable cabinet)",
    4: "write failed",
    5: "seek failed (truncated cabinet?)",
    6: "out of memory",
    7: "bad signature: not a cabinet",
    8: "bad data format in cabinet headers",
    9: "checksum mismatch",
    10: "compression failed",
    11: "decompression failed (corrupt or truncated data)",
}


def binding() -> tuple[Any, Any]:
    """(ffi, lib) of libmspack, loaded on first use; a LibraryNotFoundError names the fix."""
    global _pair
    if _pair is None:
        with _lock:
            if _pair is None:
                try:
                    from wimcore._native import mspack  # type: ignore[attr-defined,import-not-found,unused-ignore]
                except ImportError as exc:
                    raise LibraryNotFoundError(
                        f"cannot import the libmspack binding: {exc}") from exc
                try:
                    handle = mspack.lib()
                except OSError as exc:
                    raise LibraryNotFoundError(str(exc)) from None
                _pair = (mspack.ffi, handle)
    return _pair


def raise_error(code: int, *, path: str | None = None, member: str | None = None,
                what: str | None = None) -> NoReturn:
    """Raise the typed exception for a non-OK libmspack code."""
    message = _MESSAGES.get(code, "libmspack error")
    if what:
        message = f"{what}: {message}"
    raise cabinet_error_class(code)(message, code=code, path=path, member=member)


def check(code: int, *, path: str | None = None, member: str | None = None,
          what: str | None = None) -> int:
    """Pass MSPACK_ERR_OK through; turn any other code into a typed CabinetError."""
    if code != 0:
        raise_error(code, path=path, member=member, what=what)
    return code
