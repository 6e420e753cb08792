"""The libmspack binding: the ffi object with the CAB declarations and a lazily opened library."""

from __future__ import annotations

from typing import Any

from .loader import LazyLibrary, NativeLibraryError, load_ffi
from .mspack_cdef import CDEF

INSTALL_HINT = {
    "linux": "apt-get install libmspack0 (Debian/Ubuntu), dnf install libmspack (Fedora)",
    "macos": "brew install libmspack",
    "windows": "put a libmspack DLL (e.g. from MSYS2 mingw-w64-libmspack) on PATH",
}

#: Interface version of the CAB decompressor this binding was written against.
MIN_MSCABD_VERSION = 1


ffi: Any = load_ffi("_mspack_abi", CDEF)

def _self_test(handle: Any) -> None:
    """Refuse a libmspack built with another off_t, or with a too-old CAB interface."""
    # The MSPACK_SYS_SELFTEST macro: the library checks that our off_t matches its own.
    selftest = handle.mspack_sys_selftest_internal(ffi.sizeof("off_t"))
    if selftest != handle.MSPACK_ERR_OK:
        raise NativeLibraryError(
            f"libmspack self-test failed (code {selftest}): it was built with a "
            f"different off_t size than {ffi.sizeof('off_t')} bytes. Install a "
            f"64-bit-offset build: {INSTALL_HINT['linux']}; brew install libmspack."
        )
    found = handle.mspack_version(handle.MSPACK_VER_MSCABD)
    if found < MIN_MSCABD_VERSION:
        raise NativeLibraryError(
            f"libmspack's CAB decompressor interface {found} is too old. Install a "
            f"newer one: {INSTALL_HINT['linux']}; brew install libmspack."
        )


_library = LazyLibrary(
    ffi,
    env_var="WIMCORE_LIBMSPACK",
    names={
        "linux": ["libmspack.so.0"],
        "macos": ["libmspack.0.dylib", "/opt/homebrew/lib/libmspack.0.dylib",
                  "/usr/local/lib/libmspack.0.dylib"],
        "windows": ["libmspack-0.dll", "mspack.dll"],
    },
    find_name="mspack",
    install_hint=INSTALL_HINT,
    check=_self_test,
)


def lib() -> Any:
    """Return the opened libmspack, opening and self-testing it on first use."""
    return _library.get()
