"""The libwim binding: the ffi object with every declaration and a lazily opened library."""

from __future__ import annotations

from typing import Any

from .libwim_cdef import CDEF
from .loader import LazyLibrary, NativeLibraryError, load_ffi

MIN_VERSION = (1, 13, 0)

INSTALL_HINT = {
    "linux": "apt-get install libwim15 (Debian/Ubuntu), dnf install wimlib (Fedora)",
    "macos": "brew install wimlib",
    "windows": "put libwim-15.dll from the wimlib Windows release on PATH",
}

ffi: Any = load_ffi("_libwim_abi", CDEF)


def version_tuple(encoded: int) -> tuple[int, int, int]:
    """Split libwimlib's packed version number (major << 20 | minor << 10 | patch)."""
    return (encoded >> 20, (encoded >> 10) & 0x3FF, encoded & 0x3FF)


_case_insensitive = True


def set_case_insensitive(insensitive: bool) -> None:
    """Choose how paths inside images are matched, before libwim is first opened.

    wimcore's default ignores case, as Windows does; wimlib-imagex's
    ``WIMLIB_IMAGEX_IGNORE_CASE=0`` asks for exact case.
    """
    global _case_insensitive
    if _library.loaded:
        raise RuntimeError("libwim is already initialised; set the case rule before first use")
    _case_insensitive = insensitive


def _check_and_init(handle: Any) -> None:
    found = version_tuple(handle.wimlib_get_version())
    if found < MIN_VERSION:
        raise NativeLibraryError(
            f"libwimlib {'.'.join(map(str, found))} is too old: wimcore needs 1.13 or "
            f"newer. Install a newer one: {INSTALL_HINT['linux']}; brew install wimlib."
        )
    # UTF-8 strings everywhere; path lookups inside images ignore case, as on Windows
    # (an exact-case match still wins when names differ only by case).
    case = (handle.WIMLIB_INIT_FLAG_DEFAULT_CASE_INSENSITIVE if _case_insensitive
            else handle.WIMLIB_INIT_FLAG_DEFAULT_CASE_SENSITIVE)
    code = handle.wimlib_global_init(handle.WIMLIB_INIT_FLAG_ASSUME_UTF8 | case)
    if code != 0:
        raise NativeLibraryError(f"wimlib_global_init failed with code {code}")


_library = LazyLibrary(
    ffi,
    env_var="WIMCORE_LIBWIM",
    names={
        "linux": ["libwim.so.15"],
        "macos": ["libwim.15.dylib", "/opt/homebrew/lib/libwim.15.dylib",
                  "/usr/local/lib/libwim.15.dylib"],
        "windows": ["libwim-15.dll"],
    },
    find_name="wim",
    install_hint=INSTALL_HINT,
    check=_check_and_init,
)


def lib() -> Any:
    """Return the opened libwim, opening and initialising it on first use."""
    return _library.get()
