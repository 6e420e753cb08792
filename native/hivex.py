"""The libhivex binding: the ffi object with hivex.h's declarations and a lazily opened library."""

from __future__ import annotations

import sys
import threading
from typing import Any

from .hivex_cdef import CDEF
from .loader import LazyLibrary, NativeLibraryError, load_ffi

__all__ = ["INSTALL_HINT", "NativeLibraryError", "ffi", "lib", "libc"]

INSTALL_HINT = {
    "linux": "apt-get install libhivex0 (Debian/Ubuntu), dnf install hivex-libs (Fedora)",
    "macos": "brew install hivex",
    "windows": "libhivex is not packaged for Windows; use WSL or set WIMCORE_LIBHIVEX",
}

ffi: Any = load_ffi("_hivex_abi", CDEF)

_library = LazyLibrary(
    ffi,
    env_var="WIMCORE_LIBHIVEX",
    names={
        "linux": ["libhivex.so.0"],
        "macos": ["libhivex.0.dylib", "/opt/homebrew/lib/libhivex.0.dylib",
                  "/usr/local/lib/libhivex.0.dylib"],
        "windows": ["libhivex-0.dll"],
    },
    find_name="hivex",
    install_hint=INSTALL_HINT,
)
_libc_lock = threading.Lock()
_libc: Any = None


def lib() -> Any:
    """Return the opened libhivex, opening it on first use (NativeLibraryError with the fix)."""
    return _library.get()


def libc() -> Any:
    """Return the C library whose ``free`` releases what libhivex hands out."""
    global _libc
    if _libc is not None:
        return _libc
    with _libc_lock:
        if _libc is None:
            # Same process-wide malloc as libhivex on POSIX; msvcrt on Windows builds.
            _libc = ffi.dlopen("msvcrt" if sys.platform.startswith("win") else None)
    return _libc
