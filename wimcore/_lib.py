"""The core's single gate to the raw libwim binding.

Every libwimlib call whose result is an error code goes through :func:`check`, which
turns a non-zero code into the matching :mod:`wimcore.errors` class with libwimlib's
message and the detailed line libwimlib printed (captured from its error stream).
Nothing outside the core imports the ffi objects.
"""

from __future__ import annotations

import atexit
import os
import threading
from typing import Any, NoReturn

from wimcore import errors
from wimcore._native.loader import NativeLibraryError

_state_lock = threading.Lock()
_lib: Any = None
_ffi: Any = None
_err_fd: int | None = None
_err_offset = 0


def _open() -> tuple[Any, Any]:
    global _lib, _ffi, _err_fd
    with _state_lock:
        if _lib is None:
            try:
                from wimcore._native import libwim
            except ImportError as exc:  # cffi itself missing: an install problem
                raise errors.LibraryNotFoundError(
                    f"cannot import the libwim binding: {exc}") from exc
            try:
                handle = libwim.lib()
            except NativeLibraryError as exc:
                raise errors.LibraryNotFoundError(str(exc)) from None
            _err_fd = _capture_error_stream(libwim.ffi, handle)
            _ffi = libwim.ffi
            _lib = handle
    return _lib, _ffi


def _capture_error_stream(ffi: Any, handle: Any) -> int | None:
    """Send libwimlib's printed errors to a private unlinked file we can read back."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix="wimcore-wimlib-", suffix=".log")
    try:
        if handle.wimlib_set_error_file_by_name(os.fsencode(name)) != 0:
            os.close(fd)
            return None
        handle.wimlib_set_print_errors(True)
        atexit.register(handle.wimlib_set_print_errors, False)
        return fd
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


def lib() -> Any:
    """The opened libwim (raises LibraryNotFoundError with the fix when it is missing)."""
    return _lib if _lib is not None else _open()[0]


def ffi() -> Any:
    """The cffi FFI object holding libwim's declarations."""
    return _ffi if _ffi is not None else _open()[1]


def _drain() -> str:
    global _err_offset
    if _err_fd is None:
        return ""
    with _state_lock:
        size = os.fstat(_err_fd).st_size
        if size <= _err_offset:
            return ""
        data = os.pread(_err_fd, min(size - _err_offset, 1 << 20), _err_offset)
        _err_offset = size
    return data.replace(b"\x00", b"").decode("utf-8", "replace")


def split_messages(text: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) from libwimlib's printed text (``[ERROR] ...``, ``[WARNING] ...``).

    A message may span lines; its continuation lines are joined with single spaces.
    """
    found_errors: list[str] = []
    found_warnings: list[str] = []
    for chunk in text.replace("\r", "\n").split("\n["):
        chunk = chunk.lstrip("\n[")
        kind, sep, body = chunk.partition("] ")
        words = " ".join(line.strip() for line in (body if sep else chunk).splitlines()
                         if line.strip())
        if not words:
            continue
        if sep and kind == "WARNING":
            found_warnings.append(words)
        else:
            found_errors.append(words)
    return found_errors, found_warnings


def emit_warnings(messages: list[str]) -> None:
    """Raise each libwimlib warning as a Python :class:`wimcore.WimlibWarning`."""
    if messages:
        import warnings

        for message in messages:
            warnings.warn(message, errors.WimlibWarning, stacklevel=4)


def catch_xml_errors() -> None:
    """Before a call that parses WIM XML: libxml2's parser errors are kept, not printed."""
    global _xml
    if _xml is None:
        from wimcore._native import libxml2

        _xml = libxml2
    _xml.catch_errors()


_xml: Any = None


def _xml_messages() -> list[str]:
    return [f"libxml2: {m}" for m in _xml.take()] if _xml is not None else []


def take_messages() -> str:
    """Return (and consume) the errors libwimlib printed since the last call.

    Warnings printed in the same span are raised as :class:`wimcore.WimlibWarning`.
    """
    found_errors, found_warnings = split_messages(_drain())
    emit_warnings(found_warnings)
    return " | ".join(found_errors + _xml_messages())


def flush_warnings() -> None:
    """After a successful call: everything libwimlib printed becomes a warning."""
    found_errors, found_warnings = split_messages(_drain())
    emit_warnings(found_warnings + found_errors + _xml_messages())


def raise_for(code: int, *, path: str | os.PathLike[str] | None = None,
              image: int | str | None = None) -> NoReturn:
    """Raise the wimcore exception for a libwimlib error code."""
    message = string(lib().wimlib_get_error_string(code)) or f"error {code}"
    cls = errors.error_class(code)
    raise cls(code, message, path=os.fspath(path) if path is not None else None, image=image,
              detail=take_messages() or None)


def check(code: int, *, path: str | os.PathLike[str] | None = None,
          image: int | str | None = None) -> None:
    """Raise for a non-zero libwimlib return code; drop stale messages on success."""
    if code != 0:
        raise_for(code, path=path, image=image)


def string(ptr: Any) -> str | None:
    """A libwimlib UTF-8 string (NULL becomes None)."""
    if ptr == _ffi.NULL:
        return None
    return bytes(_ffi.string(ptr)).decode("utf-8", "surrogateescape")


def cstr(value: str | os.PathLike[str] | None) -> Any:
    """A NUL-terminated char array for libwimlib (None becomes NULL); keep it referenced."""
    if value is None:
        return ffi().NULL
    data = os.fsencode(value)
    if b"\x00" in data:
        raise errors.InvalidParameterError(24, "a string contains a NUL character",
                                           path=repr(value))
    return ffi().new("char[]", data)


def version() -> tuple[int, int, int]:
    """libwimlib's version as (major, minor, patch)."""
    from wimcore._native.libwim import version_tuple

    return version_tuple(lib().wimlib_get_version())
