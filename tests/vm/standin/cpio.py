"""A writer for the "newc" cpio format, the format the Linux kernel unpacks as an initramfs."""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO

MAGIC = b"070701"
TRAILER = "TRAILER!!!"


@dataclass(frozen=True)
class CpioEntry:
    """One archive member: a path relative to the root (no leading slash), a mode and its data.

    ``data`` is a file's content or a symlink's target; ``rdev`` is (major, minor) of a
    device node. Ownership is always root: the kernel unpacks as root anyway.
    """

    path: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)

    @staticmethod
    def directory(path: str, perm: int = 0o755) -> CpioEntry:
        return CpioEntry(path, stat.S_IFDIR | perm)

    @staticmethod
    def file(path: str, data: bytes, perm: int = 0o644) -> CpioEntry:
        return CpioEntry(path, stat.S_IFREG | perm, data)

    @staticmethod
    def symlink(path: str, target: str) -> CpioEntry:
        return CpioEntry(path, stat.S_IFLNK | 0o777, target.encode())

    @staticmethod
    def char_device(path: str, major: int, minor: int, perm: int = 0o600) -> CpioEntry:
        return CpioEntry(path, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad4(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(ino: int, entry: CpioEntry, name: bytes) -> bytes:
    # 13 fields of 8 hex digits: ino, mode, uid, gid, nlink, mtime, filesize, dev major/minor,
    # rdev major/minor, namesize (with its NUL), check (0: no CRC in the "070701" variant).
    nlink = 2 if stat.S_ISDIR(entry.mode) else 1
    fields = (ino, entry.mode, 0, 0, nlink, 0, len(entry.data), 0, 0, entry.rdev[0],
              entry.rdev[1], len(name) + 1, 0)
    return MAGIC + b"".join(b"%08X" % value for value in fields)


def _member(ino: int, entry: CpioEntry, name: bytes) -> bytes:
    head = _header(ino, entry, name) + name + b"\0"
    return head + _pad4(len(head)) + entry.data + _pad4(len(entry.data))


def write_newc(out: BinaryIO, entries: Iterable[CpioEntry]) -> None:
    """Write ``entries`` in order (parents before children), then the trailer.

    Every timestamp is zero, so equal inputs give byte-identical archives.
    """
    ino = 0
    for ino, entry in enumerate(entries, start=1):
        name = entry.path.strip("/").encode()
        if not name or b"\0" in name or b".." in name.split(b"/"):
            raise ValueError(f"unsafe cpio member name {entry.path!r}")
        out.write(_member(ino, entry, name))
    out.write(_member(ino + 1, CpioEntry(TRAILER, 0), TRAILER.encode()))
