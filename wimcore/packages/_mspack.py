"""The package layer's one gate to the raw libmspack binding: loading, messages, errors.

Every libmspack call whose outcome is an MSPACK_ERR_* code (returned, or read back
with ``last_error()``) goes through :func:`check`, which turns a non-OK code into the
matching :mod:`wimcore.packages.errors` class. Calls that may print (open, merge,
extract) run through :func:`call`, which keeps libmspack's messages off the terminal and
hands them back: attached to the error when the call failed, else raised as
:class:`~wimcore.packages.errors.CabinetWarning` by :func:`warn`.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NoReturn

from wimcore.errors import LibraryNotFoundError
from wimcore.packages import _stderr
from wimcore.packages.errors import CabinetWarning, cabinet_error_class

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


#: How libmspack's messages begin, after an optional "FILENAME: ": its warnings, its one
#: error line and the report of its MSZIP repair mode (libmspack 0.10/0.11 wording).
_MARKERS = (b"WARNING; ", b"ERROR; ", b"MSZIP error, ", b"invalid section number")


@dataclass(frozen=True)
class Message:
    """One line libmspack printed: the file it named (if it named one) and what it said."""

    file: str | None
    text: str

    def render(self, path: str | None) -> str:
        """The line for an error detail: the file is named when it is not ``path``."""
        return self.text if self.file in (None, path) else f"{self.file}: {self.text}"


def _parse(line: bytes, prefixes: tuple[tuple[bytes, str], ...]) -> Message:
    """Split a claimed line into the file it names and its text, without the marker."""
    file = None
    for prefix, name in prefixes:
        if line.startswith(prefix):
            file, line = name, line[len(prefix):]
            break
    for marker in (b"WARNING; ", b"ERROR; "):
        if line.startswith(marker):
            line = line[len(marker):]
            break
    return Message(file, line.decode("utf-8", "replace").strip())


def call(fn: Callable[..., Any], *args: Any,
         files: Iterable[str] = ()) -> tuple[Any, list[Message]]:
    """Run one libmspack call with its printed messages caught: (its result, the messages).

    ``files`` are the paths libmspack may name (it prefixes a message about a file with
    the name it was given). A line is libmspack's when it starts with one of them or with
    one of libmspack's markers; anything else written to stderr meanwhile (by another
    thread) goes back to the real stderr.
    """
    prefixes = tuple((os.fsencode(f) + b": ", f) for f in files)
    heads = tuple(p for p, _ in prefixes)

    def ours(line: bytes) -> bool:
        return line.startswith(heads) or line.startswith(_MARKERS)

    result, lines = _stderr.call_capturing(ours, fn, *args)
    return result, [_parse(line, prefixes) for line in lines]


def detail_of(messages: list[Message], path: str | None) -> str | None:
    """libmspack's messages as one error detail (None when it printed nothing)."""
    return " | ".join(m.render(path) for m in messages) or None


def warn(messages: list[Message], *, path: str | None = None,
         member: str | None = None) -> None:
    """Raise each message of a call that succeeded as a CabinetWarning."""
    for m in messages:
        warnings.warn(CabinetWarning(m.text, m.file or path, member), stacklevel=3)


def raise_error(code: int, *, path: str | None = None, member: str | None = None,
                what: str | None = None, messages: list[Message] | None = None) -> NoReturn:
    """Raise the typed exception for a non-OK libmspack code, with what libmspack printed."""
    message = _MESSAGES.get(code, "libmspack error")
    if what:
        message = f"{what}: {message}"
    raise cabinet_error_class(code)(message, code=code, path=path, member=member,
                                    detail=detail_of(messages or [], path))


def check(code: int, *, path: str | None = None, member: str | None = None,
          what: str | None = None, messages: list[Message] | None = None) -> int:
    """Pass MSPACK_ERR_OK through (raising ``messages`` as warnings); turn any other code
    into a typed CabinetError carrying them."""
    if code != 0:
        raise_error(code, path=path, member=member, what=what, messages=messages)
    if messages:
        warn(messages, path=path, member=member)
    return code
