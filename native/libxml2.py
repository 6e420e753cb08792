"""libxml2's parser errors, caught instead of printed (libwimlib 1.13 parses WIM XML with it).

:func:`catch_errors` installs a structured error handler in the calling thread (libxml2
keeps handlers per thread) that appends each message to a list the caller drains with
:func:`take`. When libxml2 cannot be opened (libwimlib 1.14 has its own XML parser and no
libxml2), nothing is installed and nothing is lost: there is then nothing to catch.
"""

from __future__ import annotations

import threading
from typing import Any

from .libxml2_cdef import CDEF
from .loader import load_ffi

ffi: Any = load_ffi("_libxml2_abi", CDEF)

_NAMES = ("libxml2.so.2", "libxml2.2.dylib", "libxml2.dylib")
_state_lock = threading.Lock()
_handle: Any = None
_opened = False
_messages: list[str] = []
_installed = threading.local()


def _open() -> Any:
    global _handle, _opened
    with _state_lock:
        if not _opened:
            _opened = True
            for name in _NAMES:
                try:
                    _handle = ffi.dlopen(name)
                    break
                except OSError:
                    continue
    return _handle


def _record(_user: Any, error: Any) -> None:
    if error == ffi.NULL or error.message == ffi.NULL:
        return
    text = ffi.string(error.message).decode("utf-8", "replace").strip()
    if error.line > 0:
        text += f" (XML line {error.line})"
    with _state_lock:
        if len(_messages) < 20 and text not in _messages:  # a hostile document can
            _messages.append(text)                           # raise thousands


#: kept alive for the life of the process: libxml2 holds a pointer to it
_on_error: Any = ffi.callback("void(void *, xmlError *)", _record)


def catch_errors() -> None:
    """Route libxml2's errors in this thread to :func:`take` (once per thread)."""
    if getattr(_installed, "done", False):
        return
    _installed.done = True
    handle = _open()
    if handle is not None:
        handle.xmlSetStructuredErrorFunc(ffi.NULL, _on_error)


def take() -> list[str]:
    """The libxml2 messages caught since the last call."""
    with _state_lock:
        found = list(_messages)
        _messages.clear()
    return found
