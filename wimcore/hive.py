"""Windows registry hives (regf) read and written through libhivex, with a Pythonic API.

``Hive`` owns one hivex handle and frees it exactly once; ``Key`` and ``Value`` borrow
from it and refuse to work once it is closed. Lookups compare names case-insensitively,
as Windows does. Writes stay in memory until :meth:`Hive.commit`, which writes to a
temporary name beside the target and renames it into place when complete.
"""

from __future__ import annotations

import errno as _errno
import os
import stat
import struct
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timedelta, timezone
from enum import IntEnum
from pathlib import Path
from types import TracebackType
from typing import Any, Union

from wimcore.hive_errors import (
    MAX_VALUE_SIZE,
    CorruptHiveError,
    HiveClosedError,
    HiveError,
    HiveInvalidArgumentError,
    HiveKeyExistsError,
    HiveKeyNotFoundError,
    HiveMemoryError,
    HiveOSError,
    HiveReadOnlyError,
    HiveValueNotFoundError,
    HiveValueTooLargeError,
)

__all__ = [
    "MAX_VALUE_SIZE",
    "CorruptHiveError",
    "Hive",
    "HiveClosedError",
    "HiveError",
    "HiveInvalidArgumentError",
    "HiveKeyExistsError",
    "HiveKeyNotFoundError",
    "HiveOSError",
    "HiveReadOnlyError",
    "HiveValueNotFoundError",
    "HiveValueTooLargeError",
    "Key",
    "Value",
    "ValueType",
    "build_hive",
    "decode_value",
    "encode_value",
]

StrPath = Union[str, "os.PathLike[str]"]
PyValue = str | list[str] | int | bytes | None
Tree = Mapping[str, Any]

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)


class ValueType(IntEnum):
    """Registry value types (the REG_* numbers Windows and hivex use)."""

    REG_NONE = 0
    REG_SZ = 1
    REG_EXPAND_SZ = 2
    REG_BINARY = 3
    REG_DWORD = 4
    REG_DWORD_BIG_ENDIAN = 5
    REG_LINK = 6
    REG_MULTI_SZ = 7
    REG_RESOURCE_LIST = 8
    REG_FULL_RESOURCE_DESCRIPTOR = 9
    REG_RESOURCE_REQUIREMENTS_LIST = 10
    REG_QWORD = 11


_STRING_TYPES = frozenset({ValueType.REG_SZ, ValueType.REG_EXPAND_SZ, ValueType.REG_LINK})


# --------------------------------------------------------------------------- value codecs


def _utf16(raw: bytes) -> str:
    """Decode UTF-16LE registry text leniently (odd trailing byte dropped, bad pairs kept)."""
    if len(raw) % 2:
        raw = raw[:-1]
    return raw.decode("utf-16-le", errors="surrogatepass")


def decode_value(type_: int, raw: bytes) -> PyValue:
    """Turn stored value bytes into Python: str, list[str], int, or the bytes themselves."""
    if type_ in _STRING_TYPES:
        return _utf16(raw).rstrip("\0")
    if type_ == ValueType.REG_MULTI_SZ:
        items = _utf16(raw).split("\0")
        while items and items[-1] == "":
            items.pop()
        return items
    if type_ == ValueType.REG_DWORD and len(raw) >= 4:
        return int(struct.unpack_from("<I", raw)[0])
    if type_ == ValueType.REG_DWORD_BIG_ENDIAN and len(raw) >= 4:
        return int(struct.unpack_from(">I", raw)[0])
    if type_ == ValueType.REG_QWORD and len(raw) >= 8:
        return int(struct.unpack_from("<Q", raw)[0])
    return raw


def _infer_type(data: object) -> ValueType:
    """Pick the registry type Windows tools would use for a Python value."""
    if isinstance(data, bool):
        return ValueType.REG_DWORD
    if isinstance(data, str):
        return ValueType.REG_SZ
    if isinstance(data, (list, tuple)):
        return ValueType.REG_MULTI_SZ
    if isinstance(data, int):
        return ValueType.REG_DWORD if -(2**31) <= data < 2**32 else ValueType.REG_QWORD
    if isinstance(data, (bytes, bytearray, memoryview)):
        return ValueType.REG_BINARY
    if data is None:
        return ValueType.REG_NONE
    raise HiveInvalidArgumentError(f"cannot store a {type(data).__name__} in the registry")


def _int_bytes(data: object, fmt: str, bits: int) -> bytes:
    if not isinstance(data, int):
        raise HiveInvalidArgumentError(f"expected an int, got {type(data).__name__}")
    if not -(2 ** (bits - 1)) <= data < 2**bits:
        raise HiveInvalidArgumentError(f"{data} does not fit in {bits} bits")
    return struct.pack(fmt, data % 2**bits)


def encode_value(data: object, type_: int | None = None) -> tuple[int, bytes]:
    """Turn a Python value into (type, stored bytes); the type is inferred when None."""
    t = _infer_type(data) if type_ is None else int(type_)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return t, bytes(data)  # raw bytes are stored as given, whatever the type
    if t in _STRING_TYPES:
        if not isinstance(data, str):
            raise HiveInvalidArgumentError(f"type {t} needs a str, got {type(data).__name__}")
        text = data if t == ValueType.REG_LINK else data + "\0"
        return t, text.encode("utf-16-le", errors="surrogatepass")
    if t == ValueType.REG_MULTI_SZ:
        if isinstance(data, str) or not isinstance(data, (list, tuple)) or not all(
            isinstance(item, str) for item in data
        ):
            raise HiveInvalidArgumentError("REG_MULTI_SZ needs a list of str")
        if any("\0" in item for item in data):
            raise HiveInvalidArgumentError("REG_MULTI_SZ items cannot contain NUL")
        text = "".join(item + "\0" for item in data) + "\0"
        return t, text.encode("utf-16-le", errors="surrogatepass")
    if t == ValueType.REG_DWORD:
        return t, _int_bytes(data, "<I", 32)
    if t == ValueType.REG_DWORD_BIG_ENDIAN:
        return t, _int_bytes(data, ">I", 32)
    if t == ValueType.REG_QWORD:
        return t, _int_bytes(data, "<Q", 64)
    if data is None:
        return t, b""
    raise HiveInvalidArgumentError(
        f"cannot store a {type(data).__name__} as type {t}: pass bytes for that type"
    )


# --------------------------------------------------------------------------- names


def _fold(name: str) -> str:
    """Upper-case one character at a time, as Windows compares key and value names."""
    out = []
    for ch in name:
        up = ch.upper()
        out.append(up if len(up) == 1 else ch)
    return "".join(out)


def _split(path: str) -> list[str]:
    """Split a backslash key path into its parts (empty parts and outer slashes ignored)."""
    if not isinstance(path, str):
        raise HiveInvalidArgumentError(f"key paths are str, got {type(path).__name__}")
    return [part for part in path.split("\\") if part]


def _c_name(name: str) -> bytes:
    """Encode a key or value name for hivex (UTF-8; NUL cannot be passed through C)."""
    if "\0" in name:
        raise HiveInvalidArgumentError(f"name {name!r} contains NUL")
    return name.encode("utf-8", errors="surrogatepass")


def _py_name(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def filetime_to_datetime(filetime: int) -> datetime | None:
    """Convert a Windows FILETIME (100 ns ticks since 1601) to an aware UTC datetime."""
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=filetime // 10)
    except OverflowError:
        return None


# --------------------------------------------------------------------------- native gate

_CORRUPT_ERRNOS = frozenset({_errno.EINVAL, _errno.EFAULT, _errno.ENOTSUP, _errno.ERANGE,
                             _errno.EILSEQ, _errno.ELOOP, getattr(_errno, "EBADMSG", -1)})
_OS_ERRNOS = frozenset({_errno.ENOENT, _errno.EACCES, _errno.EPERM, _errno.EISDIR,
                        _errno.ENOTDIR, _errno.EIO, _errno.ENOSPC, _errno.EMFILE,
                        _errno.ENFILE, _errno.EEXIST, _errno.EBADF})


def _native() -> tuple[Any, Any, Any]:
    """The hivex ffi, library and libc (LibraryNotFoundError with the fix when missing)."""
    from wimcore.errors import LibraryNotFoundError

    try:
        from wimcore._native import hivex
    except ImportError as exc:  # cffi missing: an install problem
        raise LibraryNotFoundError(f"cannot import the libhivex binding: {exc}") from exc
    try:
        return hivex.ffi, hivex.lib(), hivex.libc()
    except hivex.NativeLibraryError as exc:
        raise LibraryNotFoundError(str(exc)) from None


def _error(op: str, code: int, path: str | None, *, reading: bool = True) -> HiveError:
    """The one error gate: map the errno hivex left behind to a typed exception."""
    message = f"hivex {op} failed"
    if code == _errno.EROFS:
        return HiveReadOnlyError(f"{message}: the hive is open read-only", path=path, errno=code,
                                 operation=op)
    if code == _errno.ENOMEM:
        return HiveMemoryError(message, path=path, errno=code, operation=op)
    if code in _OS_ERRNOS:
        return HiveOSError(message, path=path, errno=code, operation=op)
    if code == getattr(_errno, "ENOKEY", _errno.ENOENT):
        return HiveKeyNotFoundError(message, path=path, errno=code, operation=op)
    if reading and (code in _CORRUPT_ERRNOS or code == 0):
        return CorruptHiveError(f"{message}: the hive is corrupt or truncated", path=path,
                                errno=code, operation=op)
    return HiveError(message, path=path, errno=code, operation=op)


# --------------------------------------------------------------------------- hive


def _close_handle(lib: Any, handle: Any) -> None:
    """Release a hivex handle (used once, by close() or the finaliser)."""
    lib.hivex_close(handle)


class Hive:
    """An open registry hive; use as a context manager or call :meth:`close`."""

    def __init__(self, handle: Any, *, path: str | None, writable: bool, source: str) -> None:
        """Wrap an opened hivex handle (use :meth:`open` or :meth:`from_bytes`)."""
        self._ffi, self._lib, self._libc = _native()
        self._h: Any = handle
        self.path = path
        self.writable = writable
        self._source = source
        self._generation = 0  # bumped when key deletes may invalidate node handles
        self._value_generation = 0  # bumped when value writes invalidate value handles
        self._finalizer = weakref.finalize(self, _close_handle, self._lib, handle)

    # ---- opening and closing

    @classmethod
    def open(cls, path: StrPath, writable: bool = False) -> Hive:
        """Open a hive file (read-only unless ``writable``); changes need :meth:`commit`."""
        ffi, lib, _ = _native()
        name = os.fspath(path)
        try:
            st = os.stat(name)
        except OSError as exc:
            raise HiveOSError("cannot open hive", path=name, errno=exc.errno,
                              operation="open") from None
        if not stat.S_ISREG(st.st_mode):
            raise HiveOSError("not a regular file", path=name, errno=_errno.EISDIR
                              if stat.S_ISDIR(st.st_mode) else _errno.EINVAL, operation="open")
        flags = lib.HIVEX_OPEN_WRITE if writable else 0
        ffi.errno = 0
        handle = lib.hivex_open(os.fsencode(name), flags)
        if handle == ffi.NULL:
            raise _error("open", ffi.errno, name)
        return cls(handle, path=name, writable=writable, source=name)

    @classmethod
    def from_bytes(cls, data: bytes, writable: bool = False) -> Hive:
        """Open a hive held in memory (hivex needs a file: a private temporary one is used)."""
        ffi, lib, _ = _native()
        fd, name = tempfile.mkstemp(prefix="wimcore-hive-", suffix=".dat")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            flags = lib.HIVEX_OPEN_WRITE if writable else 0
            ffi.errno = 0
            handle = lib.hivex_open(os.fsencode(name), flags)
            if handle == ffi.NULL:
                raise _error("open", ffi.errno, "<bytes>")
        finally:
            # hivex keeps the contents (read into memory or mapped), so the name can go now.
            os.unlink(name)
        return cls(handle, path=None, writable=writable, source="<bytes>")

    @property
    def closed(self) -> bool:
        """True once the hive was closed."""
        return not self._finalizer.alive

    def close(self) -> None:
        """Free the hivex handle (once; later calls do nothing). Uncommitted writes are lost."""
        self._finalizer()
        self._h = None

    def __enter__(self) -> Hive:
        """Return the hive itself for ``with`` blocks."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close the hive when the ``with`` block ends."""
        self.close()

    def __repr__(self) -> str:
        """Show where the hive came from and its state."""
        state = "closed" if self.closed else ("writable" if self.writable else "read-only")
        return f"<Hive {self._source} {state}>"

    # ---- the native gate

    def _handle(self) -> Any:
        """The live hivex handle, or HiveClosedError."""
        if self._h is None:
            raise HiveClosedError("the hive is closed", path=self._source)
        return self._h

    def _call(self, op: str, fn: Callable[..., Any], *args: Any,
              failed: Callable[[Any], bool], where: str | None = None,
              reading: bool = True, errno_required: bool = False) -> Any:
        """Call one hivex function and send a failure through the error gate."""
        h = self._handle()
        self._ffi.errno = 0
        result = fn(h, *args)
        if failed(result):
            code = self._ffi.errno
            if errno_required and code == 0:
                return result
            raise _error(op, code, f"{self._source}:{where}" if where else self._source,
                         reading=reading)
        return result

    def _take(self, ptr: Any, length: int | None = None) -> bytes:
        """Copy a malloc'd string from hivex into Python and free it."""
        try:
            if length is None:
                return bytes(self._ffi.string(ptr))
            return bytes(self._ffi.unpack(ptr, length))
        finally:
            self._libc.free(ptr)

    def _require_writable(self, where: str) -> None:
        self._handle()
        if not self.writable:
            raise HiveReadOnlyError("the hive was opened read-only (pass writable=True)",
                                    path=f"{self._source}:{where}")

    # ---- reading

    @property
    def root(self) -> Key:
        """The root key (its name is whatever the creating tool wrote, e.g. $$$PROTO.HIV)."""
        node = self._call("root", self._lib.hivex_root, failed=lambda r: r == 0)
        return Key(self, node, "", self._generation)

    @property
    def last_modified(self) -> datetime | None:
        """The modification time stored in the hive header."""
        return filetime_to_datetime(int(self._lib.hivex_last_modified(self._handle())))

    def __getitem__(self, path: str) -> Key:
        """The key at a backslash path (case-insensitive); HiveKeyNotFoundError if absent."""
        return self.root[path]

    def get(self, path: str) -> Key | None:
        """The key at a backslash path, or None."""
        return self.root.get(path)

    def __contains__(self, path: object) -> bool:
        """Whether a key exists at that path."""
        return isinstance(path, str) and self.get(path) is not None

    def walk(self) -> Iterator[Key]:
        """Every key, parents before children (cycles in a corrupt hive are cut)."""
        return self.root.walk()

    # ---- writing

    def add_key(self, path: str) -> Key:
        """Create the key at ``path`` and any missing parents; return it (existing keys too)."""
        self._require_writable(path)
        key = self.root
        for part in _split(path):
            child = key._find_child(part)
            key = child if child is not None else key._add_child(part)
        return key

    def delete_key(self, path: str) -> None:
        """Delete a key with all its values and subkeys (the root cannot be deleted)."""
        self._require_writable(path)
        if not _split(path):
            raise HiveInvalidArgumentError("the root key cannot be deleted", path=self._source)
        key = self[path]
        self._call("node_delete_child", self._lib.hivex_node_delete_child, key._node_h(),
                   failed=lambda r: r == -1, where=path, reading=False)
        self._generation += 1

    def set_value(self, key_path: str, name: str, data: object,
                  type: int | None = None) -> None:
        """Set one value of an existing key; the type is inferred from ``data`` when None."""
        self._require_writable(key_path)
        self[key_path].set_value(name, data, type)

    def delete_value(self, key_path: str, name: str) -> None:
        """Remove one value from a key (HiveValueNotFoundError if it has none of that name)."""
        self._require_writable(key_path)
        self[key_path].delete_value(name)

    def commit(self, path: StrPath | None = None) -> None:
        """Write the hive to ``path`` (default: the file it came from) atomically."""
        self._require_writable("")
        if path is None:
            if self.path is None:
                raise HiveInvalidArgumentError("a hive opened from bytes needs a path to commit")
            path = self.path
        target = os.path.abspath(os.fspath(path))
        directory = os.path.dirname(target)
        try:
            fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".",
                                       suffix=".tmp", dir=directory)
        except OSError as exc:
            raise HiveOSError("cannot create the temporary file to commit to", path=target,
                              errno=exc.errno, operation="commit") from None
        os.close(fd)
        try:
            self._call("commit", self._lib.hivex_commit, os.fsencode(tmp), 0,
                       failed=lambda r: r == -1, where=target, reading=False)
            try:
                mode = stat.S_IMODE(os.stat(target).st_mode)
            except FileNotFoundError:
                umask = os.umask(0)
                os.umask(umask)
                mode = 0o666 & ~umask
            os.chmod(tmp, mode)
            with open(tmp, "rb") as written:
                os.fsync(written.fileno())
            os.replace(tmp, target)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        if self.path is None:
            self._source = target

    def to_bytes(self) -> bytes:
        """The hive as it would be committed now, as bytes."""
        self._require_writable("")
        fd, tmp = tempfile.mkstemp(prefix="wimcore-hive-", suffix=".dat")
        os.close(fd)
        try:
            self._call("commit", self._lib.hivex_commit, os.fsencode(tmp), 0,
                       failed=lambda r: r == -1, reading=False)
            return Path(tmp).read_bytes()
        finally:
            os.unlink(tmp)


# --------------------------------------------------------------------------- keys


class Key:
    """A key (hivex "node") borrowed from a Hive; lookups below it are case-insensitive."""

    __slots__ = ("_generation", "_hive", "_node", "path")

    def __init__(self, hive: Hive, node: int, path: str, generation: int) -> None:
        """Wrap a node handle (made by Hive and Key, not by users)."""
        self._hive = hive
        self._node = node
        self._generation = generation
        self.path = path

    def _node_h(self) -> int:
        """The node handle, re-found by path when a delete may have moved things."""
        hive = self._hive
        hive._handle()
        if self._generation != hive._generation:
            node = hive.root._node
            for part in _split(self.path):
                child = Key(hive, node, "", hive._generation)._find_child(part)
                if child is None:
                    raise HiveKeyNotFoundError("the key was deleted",
                                               path=f"{hive._source}:{self.path}")
                node = child._node
            self._node = node
            self._generation = hive._generation
        return self._node

    def _call(self, op: str, fn: Callable[..., Any], *args: Any,
              failed: Callable[[Any], bool], **kw: Any) -> Any:
        return self._hive._call(op, fn, self._node_h(), *args, failed=failed,
                                where=self.path or "\\", **kw)

    def _child_path(self, name: str) -> str:
        return f"{self.path}\\{name}" if self.path else name

    # ---- identity

    @property
    def name(self) -> str:
        """The key's own name (as stored; the root's is the creating tool's dummy name)."""
        lib = self._hive._lib
        length = self._call("node_name_len", lib.hivex_node_name_len,
                            failed=lambda r: r == 0, errno_required=True)
        null = self._hive._ffi.NULL
        ptr = self._call("node_name", lib.hivex_node_name, failed=lambda r: r == null)
        return _py_name(self._hive._take(ptr, int(length)))

    @property
    def filetime(self) -> int:
        """The last-write time as a raw Windows FILETIME."""
        lib = self._hive._lib
        return int(self._call("node_timestamp", lib.hivex_node_timestamp,
                              failed=lambda r: r == -1, errno_required=True))

    @property
    def timestamp(self) -> datetime | None:
        """The last-write time (UTC), None when the stored value is out of range."""
        return filetime_to_datetime(self.filetime)

    def __repr__(self) -> str:
        """Show the key's path."""
        return f"<Key {self.path or '(root)'}>"

    def __eq__(self, other: object) -> bool:
        """Keys are equal when they are the same node of the same open hive."""
        return (isinstance(other, Key) and other._hive is self._hive
                and other._node_h() == self._node_h())

    def __hash__(self) -> int:
        """Hash by hive and node."""
        return hash((id(self._hive), self._node_h()))

    # ---- subkeys

    def _handles(self, what: str, func: Any) -> list[int]:
        """Copy a 0-terminated handle array that hivex allocates, then free it."""
        ffi = self._hive._ffi
        arr = self._call(what, func, failed=lambda r: r == ffi.NULL)
        try:
            out: list[int] = []
            i = 0
            while arr[i] != 0:
                out.append(int(arr[i]))
                i += 1
            return out
        finally:
            self._hive._libc.free(arr)

    def _children(self) -> list[int]:
        return self._handles("node_children", self._hive._lib.hivex_node_children)

    def _key_for(self, node: int) -> Key:
        probe = Key(self._hive, node, "", self._hive._generation)
        return Key(self._hive, node, self._child_path(probe.name), self._hive._generation)

    def subkeys(self) -> Iterator[Key]:
        """The direct subkeys, in the order the hive stores them."""
        for node in self._children():
            yield self._key_for(node)

    def __iter__(self) -> Iterator[Key]:
        """Same as :meth:`subkeys`."""
        return self.subkeys()

    def __len__(self) -> int:
        """Number of direct subkeys."""
        return len(self._children())

    def __bool__(self) -> bool:
        """A key is always true, even without subkeys."""
        return True

    def _find_child(self, name: str) -> Key | None:
        """The direct subkey called ``name`` (Windows' case-insensitive rule), or None."""
        lib = self._hive._lib
        node = self._call("node_get_child", lib.hivex_node_get_child, _c_name(name),
                          failed=lambda r: r == 0, errno_required=True)
        if node:
            return self._key_for(int(node))
        # hivex folds ASCII only: compare the other names here, as Windows would.
        wanted = _fold(name)
        for child in self.subkeys():
            if _fold(child.name) == wanted:
                return child
        return None

    def get(self, path: str) -> Key | None:
        """The key at a relative backslash path, or None."""
        key: Key | None = self
        for part in _split(path):
            assert key is not None
            key = key._find_child(part)
            if key is None:
                return None
        return key

    def __getitem__(self, path: str) -> Key:
        """The key at a relative backslash path; HiveKeyNotFoundError if absent."""
        key = self.get(path)
        if key is None:
            raise HiveKeyNotFoundError("no such key",
                                       path=f"{self._hive._source}:{self._child_path(path)}")
        return key

    def __contains__(self, path: object) -> bool:
        """Whether a key exists at that relative path."""
        return isinstance(path, str) and self.get(path) is not None

    @property
    def parent(self) -> Key | None:
        """The parent key (None for the root)."""
        parts = _split(self.path)
        if not parts:
            return None
        return self._hive.root["\\".join(parts[:-1])] if len(parts) > 1 else self._hive.root

    def walk(self) -> Iterator[Key]:
        """This key and every key below it, parents first (cycles of a corrupt hive cut)."""
        seen: set[int] = set()
        stack = [self]
        while stack:
            key = stack.pop()
            node = key._node_h()
            if node in seen:
                continue
            seen.add(node)
            yield key
            stack.extend(reversed(list(key.subkeys())))

    def _add_child(self, name: str) -> Key:
        self._hive._require_writable(self._child_path(name))
        if not name or "\\" in name:
            raise HiveInvalidArgumentError(f"invalid key name {name!r}")
        node = self._call("node_add_child", self._hive._lib.hivex_node_add_child, _c_name(name),
                          failed=lambda r: r == 0, reading=False)
        return Key(self._hive, int(node), self._child_path(name), self._hive._generation)

    def add_key(self, name: str) -> Key:
        """Create a direct subkey; HiveKeyExistsError if one of that name exists."""
        if self._find_child(name) is not None:
            raise HiveKeyExistsError("key exists",
                                     path=f"{self._hive._source}:{self._child_path(name)}")
        return self._add_child(name)

    # ---- values

    def _value_handles(self) -> list[int]:
        return self._handles("node_values", self._hive._lib.hivex_node_values)

    def values(self) -> list[Value]:
        """All values of this key, in stored order."""
        gen = self._hive._value_generation
        return [Value(self, handle, gen) for handle in self._value_handles()]

    def _find_value(self, name: str) -> Value | None:
        lib = self._hive._lib
        handle = self._call("node_get_value", lib.hivex_node_get_value, _c_name(name),
                            failed=lambda r: r == 0, errno_required=True)
        if handle:
            return Value(self, int(handle), self._hive._value_generation)
        wanted = _fold(name)
        for value in self.values():
            if _fold(value.name) == wanted:
                return value
        return None

    def value(self, name: str) -> Value:
        """The value called ``name`` ("" is the default value); HiveValueNotFoundError if none."""
        found = self._find_value(name)
        if found is None:
            raise HiveValueNotFoundError(f"no value {name!r}",
                                         path=f"{self._hive._source}:{self.path or chr(92)}")
        return found

    def get_value(self, name: str, default: PyValue = None) -> PyValue:
        """The decoded data of value ``name``, or ``default`` when it is absent."""
        found = self._find_value(name)
        return default if found is None else found.data

    def has_value(self, name: str) -> bool:
        """Whether the key has a value of that name."""
        return self._find_value(name) is not None

    def set_value(self, name: str, data: object, type: int | None = None) -> None:
        """Create or replace one value; the type is inferred from ``data`` when None."""
        self._hive._require_writable(self.path)
        t, raw = encode_value(data, type)
        if len(raw) > MAX_VALUE_SIZE:
            raise HiveValueTooLargeError(len(raw), name=name,
                                         path=f"{self._hive._source}:{self.path or chr(92)}")
        existing = self._find_value(name)
        stored_name = existing.name if existing is not None else name
        ffi = self._hive._ffi
        key_c = ffi.new("char[]", _c_name(stored_name))
        data_c = ffi.new("char[]", raw or b"\0")
        item = ffi.new("hive_set_value *")
        item.key = key_c
        item.t = t
        item.len = len(raw)
        item.value = data_c
        self._call("node_set_value", self._hive._lib.hivex_node_set_value, item, 0,
                   failed=lambda r: r == -1, reading=False)
        self._hive._value_generation += 1  # value handles are now stale

    def delete_value(self, name: str) -> None:
        """Remove one value (hivex rewrites the key's value list without it)."""
        self._hive._require_writable(self.path)
        target = self.value(name)
        keep = [(v.name, v.raw_type, v.raw) for v in self.values() if v.handle != target.handle]
        for kept_name, _, kept_raw in keep:
            if len(kept_raw) > MAX_VALUE_SIZE:
                raise HiveValueTooLargeError(len(kept_raw), name=kept_name,
                                             path=f"{self._hive._source}:{self.path}")
        ffi = self._hive._ffi
        owners: list[Any] = []
        items = ffi.new("hive_set_value[]", max(len(keep), 1))
        for i, (kept_name, kept_type, kept_raw) in enumerate(keep):
            key_c = ffi.new("char[]", _c_name(kept_name))
            data_c = ffi.new("char[]", kept_raw or b"\0")
            owners += (key_c, data_c)
            items[i].key = key_c
            items[i].t = kept_type
            items[i].len = len(kept_raw)
            items[i].value = data_c
        self._call("node_set_values", self._hive._lib.hivex_node_set_values, len(keep), items, 0,
                   failed=lambda r: r == -1, reading=False)
        self._hive._value_generation += 1


# --------------------------------------------------------------------------- values


class Value:
    """A named, typed value of a key, borrowed from the Hive; data read on demand."""

    __slots__ = ("_generation", "_handle", "_key", "_name")

    def __init__(self, key: Key, handle: int, generation: int) -> None:
        """Wrap a value handle (made by Key, not by users)."""
        self._key = key
        self._handle = handle
        self._generation = generation
        self._name: str | None = None
        self._name = self.name  # known up front so the value can be re-found after writes

    @property
    def handle(self) -> int:
        """The live hivex value handle (re-found by name after the key's values changed)."""
        hive = self._key._hive
        hive._handle()
        if self._generation != hive._value_generation or self._key._generation != hive._generation:
            name = self._name
            if name is None:
                raise HiveClosedError("the value was replaced or removed", path=hive._source)
            found = self._key._find_value(name)
            if found is None:
                raise HiveValueNotFoundError(f"value {name!r} was removed",
                                             path=f"{hive._source}:{self._key.path}")
            self._handle, self._generation = found._handle, found._generation
        return self._handle

    def _call(self, op: str, fn: Callable[..., Any], *args: Any,
              failed: Callable[[Any], bool], **kw: Any) -> Any:
        hive = self._key._hive
        return hive._call(op, fn, self.handle, *args, failed=failed,
                          where=self._key.path or "\\", **kw)

    @property
    def key(self) -> Key:
        """The key holding this value."""
        return self._key

    @property
    def name(self) -> str:
        """The value's name ("" for the key's default value)."""
        if self._name is None:
            hive = self._key._hive
            length = self._call("value_key_len", hive._lib.hivex_value_key_len,
                                failed=lambda r: r == 0, errno_required=True)
            ptr = self._call("value_key", hive._lib.hivex_value_key,
                             failed=lambda r: r == hive._ffi.NULL)
            self._name = _py_name(hive._take(ptr, int(length)))
        return self._name

    def _read(self) -> tuple[int, bytes]:
        hive = self._key._hive
        t = hive._ffi.new("hive_type *")
        n = hive._ffi.new("size_t *")
        ptr = self._call("value_value", hive._lib.hivex_value_value, t, n,
                         failed=lambda r: r == hive._ffi.NULL)
        return int(t[0]), hive._take(ptr, int(n[0]))

    @property
    def raw_type(self) -> int:
        """The stored type number (may be outside ValueType: applications invent types)."""
        hive = self._key._hive
        t = hive._ffi.new("hive_type *")
        n = hive._ffi.new("size_t *")
        self._call("value_type", hive._lib.hivex_value_type, t, n, failed=lambda r: r == -1)
        return int(t[0])

    @property
    def type(self) -> ValueType | int:
        """The value type as ValueType, or the bare number when it is not a known one."""
        raw = self.raw_type
        try:
            return ValueType(raw)
        except ValueError:
            return raw

    @property
    def raw(self) -> bytes:
        """The stored bytes, undecoded."""
        return self._read()[1]

    @property
    def size(self) -> int:
        """Length of the stored data in bytes."""
        hive = self._key._hive
        t = hive._ffi.new("hive_type *")
        n = hive._ffi.new("size_t *")
        self._call("value_type", hive._lib.hivex_value_type, t, n, failed=lambda r: r == -1)
        return int(n[0])

    @property
    def data(self) -> PyValue:
        """Decoded data: str, list[str] (multi-sz), int (dword/qword), else bytes."""
        t, raw = self._read()
        return decode_value(t, raw)

    def __repr__(self) -> str:
        """Show name, type and decoded data."""
        try:
            t = self.type
            label = t.name if isinstance(t, ValueType) else str(t)
            return f"<Value {self.name!r} {label} {self.data!r}>"
        except HiveError as exc:
            return f"<Value (unavailable: {exc})>"


# --------------------------------------------------------------------------- building


def _grow(key: Key, tree: Tree) -> None:
    for name, item in tree.items():
        if isinstance(item, Mapping):
            found = key._find_child(name)
            child = found if found is not None else key._add_child(name)
            _grow(child, item)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], int):
            key.set_value(name, item[1], item[0])
        else:
            key.set_value(name, item)


def build_hive(tree: Tree, base: StrPath | bytes | None = None) -> bytes:
    """Grow a hive from nested dicts (dict = key, anything else = value) and return its bytes.

    ``base`` is the hive to start from (a path, or the bytes of one); None starts from the
    empty hive :func:`wimcore.hive_minimal.minimal_hive` writes in code. A value may
    be given as ``(ValueType.X, data)`` to choose its type; otherwise it is inferred.
    """
    if base is None:
        from wimcore.hive_minimal import minimal_hive

        data = minimal_hive()
    elif isinstance(base, (bytes, bytearray)):
        data = bytes(base)
    else:
        data = Path(base).read_bytes()
    with Hive.from_bytes(data, writable=True) as hive:
        _grow(hive.root, tree)
        return hive.to_bytes()
