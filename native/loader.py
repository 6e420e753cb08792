"""Find and open a system shared library at run time, with a helpful error when it is missing."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import cffi


class NativeLibraryError(OSError):
    """A required shared library is missing or too old; the message says how to install it."""


def _platform_key() -> str:
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "macos"
    return "linux"


def open_library(
    ffi: cffi.FFI,
    *,
    env_var: str,
    names: dict[str, Sequence[str]],
    find_name: str,
    install_hint: dict[str, str],
) -> Any:
    """Open the library named by ``env_var`` or the platform's usual names, else raise.

    ``names`` maps a platform key (linux, macos, windows) to file names to try in order;
    ``find_name`` is the short name for :func:`ctypes.util.find_library` as a last resort.
    """
    key = _platform_key()
    tried: list[str] = []
    override = os.environ.get(env_var)
    candidates: list[str] = [override] if override else list(names.get(key, ()))
    errors: list[str] = []
    for candidate in candidates:
        tried.append(candidate)
        try:
            return ffi.dlopen(candidate)
        except OSError as exc:
            errors.append(f"{candidate}: {exc}")
    if not override:
        # Last resort, and slow (it may start ldconfig): only when the usual names failed.
        import ctypes.util

        found = ctypes.util.find_library(find_name)
        if found and found not in tried:
            tried.append(found)
            try:
                return ffi.dlopen(found)
            except OSError as exc:
                errors.append(f"{found}: {exc}")
    hint = install_hint.get(key, install_hint.get("linux", ""))
    where = f"{env_var}={override!r}" if override else ", ".join(tried) or find_name
    raise NativeLibraryError(
        f"cannot load the {find_name} shared library (tried {where}). "
        f"Install it: {hint}; or set {env_var} to its path."
        + (f" Details: {'; '.join(errors)}" if errors else "")
    )


class LazyLibrary:
    """A shared library opened (and checked) on first use, once per process, thread-safely.

    ``check`` runs on the freshly opened handle before anyone else sees it: a version
    test or a self-test that raises NativeLibraryError with the fix.
    """

    def __init__(
        self,
        ffi: cffi.FFI,
        *,
        env_var: str,
        names: dict[str, Sequence[str]],
        find_name: str,
        install_hint: dict[str, str],
        check: Callable[[Any], None] | None = None,
    ) -> None:
        self._ffi = ffi
        self._options = {"env_var": env_var, "names": names, "find_name": find_name,
                         "install_hint": install_hint}
        self._check = check
        self._lock = threading.Lock()
        self._handle: Any = None

    @property
    def loaded(self) -> bool:
        """True once the library was opened."""
        return self._handle is not None

    def get(self) -> Any:
        """The opened library (NativeLibraryError naming the fix when it cannot be had)."""
        if self._handle is not None:
            return self._handle
        with self._lock:
            if self._handle is None:
                handle = open_library(self._ffi, **self._options)  # type: ignore[arg-type]
                if self._check is not None:
                    self._check(handle)
                self._handle = handle
        return self._handle


def load_ffi(prebuilt: str, cdef: str) -> Any:
    """The pre-parsed ffi module ``wimcore._native.<prebuilt>`` when it imports, else parse now.

    Parsing is the fallback for a generated module made by an incompatible cffi.
    """
    import importlib

    try:
        return importlib.import_module(f"wimcore._native.{prebuilt}").ffi
    except Exception:
        import cffi

        fresh = cffi.FFI()
        fresh.cdef(cdef)
        return fresh
