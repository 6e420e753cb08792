"""Write an empty regf registry hive in code, so hives can be grown without a template file.

The layout (one 4 KiB base block, one 4 KiB hive bin holding the root key, one security
record and a free cell) follows the publicly documented regf format; hivex and regipy both
open the result, which the tests check.
"""

from __future__ import annotations

import struct
import time

__all__ = ["BIN_SIZE", "minimal_hive"]

BASE_BLOCK_SIZE = 4096
BIN_SIZE = 4096
_BIN_HEADER_SIZE = 32

_KEY_HIVE_ENTRY = 0x0004  # the root key
_KEY_NO_DELETE = 0x0008
_KEY_COMP_NAME = 0x0020  # name stored as Latin-1, not UTF-16
_KEY_ALL_ACCESS = 0x000F003F
_KEY_READ = 0x00020019
_CONTAINER_INHERIT = 0x02
_NO_OFFSET = 0xFFFFFFFF

_UNIX_TO_FILETIME = 116444736000000000  # 100 ns ticks between 1601-01-01 and 1970-01-01


def _sid(authority: int, *subauthorities: int) -> bytes:
    """A binary SID: revision 1, sub-authority count, 48-bit big-endian authority, RIDs."""
    return (struct.pack("<BB", 1, len(subauthorities)) + authority.to_bytes(6, "big")
            + b"".join(struct.pack("<I", rid) for rid in subauthorities))


def _ace(mask: int, sid: bytes) -> bytes:
    """An ACCESS_ALLOWED ACE inherited by subkeys."""
    return struct.pack("<BBHI", 0, _CONTAINER_INHERIT, 8 + len(sid), mask) + sid


def _security_descriptor() -> bytes:
    """Self-relative SD: owner Admins, group SYSTEM; SYSTEM/Admins full, Everyone read."""
    system = _sid(5, 18)
    admins = _sid(5, 32, 544)
    everyone = _sid(1, 0)
    aces = _ace(_KEY_ALL_ACCESS, system) + _ace(_KEY_ALL_ACCESS, admins) + _ace(_KEY_READ, everyone)
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(aces), 3, 0) + aces
    control = 0x8000 | 0x0004  # self-relative, DACL present
    header_size = 20
    owner_at = header_size + len(acl)
    group_at = owner_at + len(admins)
    header = struct.pack("<BBHIIII", 1, 0, control, owner_at, group_at, 0, header_size)
    return header + acl + admins + system


def _cell(payload: bytes) -> bytes:
    """An allocated cell: negative size (including the size field), padded to 8 bytes."""
    size = (4 + len(payload) + 7) & ~7
    return struct.pack("<i", -size) + payload + b"\0" * (size - 4 - len(payload))


def _checksum(block: bytes) -> int:
    """XOR of the base block's first 127 little-endian dwords (0 and ~0 are avoided)."""
    value = 0
    for (word,) in struct.iter_unpack("<I", block[:508]):
        value ^= word
    if value == 0:
        return 1
    if value == 0xFFFFFFFF:
        return 0xFFFFFFFE
    return value


def minimal_hive(root_name: str = "ROOT", *, filetime: int | None = None,
                 file_name: str = "") -> bytes:
    """Return the bytes of an empty, valid regf hive whose root key is ``root_name``."""
    if filetime is None:
        filetime = time.time_ns() // 100 + _UNIX_TO_FILETIME
    name = root_name.encode("latin-1")
    if not name or len(name) > 255:
        raise ValueError("the root name must be 1-255 Latin-1 characters")

    root_at = _BIN_HEADER_SIZE  # offsets are relative to the first hive bin
    nk_size = (4 + 76 + len(name) + 7) & ~7
    sk_at = root_at + nk_size
    descriptor = _security_descriptor()

    nk = struct.pack(
        "<2sHQIIIIIIIIIIIIIIIHH",
        b"nk",
        _KEY_HIVE_ENTRY | _KEY_NO_DELETE | _KEY_COMP_NAME,
        filetime,
        0,  # access bits
        0,  # parent (unused for the root)
        0, 0,  # subkeys, volatile subkeys
        _NO_OFFSET, _NO_OFFSET,  # subkey lists
        0, _NO_OFFSET,  # values and their list
        sk_at,  # security record
        _NO_OFFSET,  # class name
        0, 0, 0, 0,  # largest subkey name / class name / value name / value data
        0,  # work variable
        len(name), 0,  # name length, class name length
    ) + name
    sk = struct.pack("<2sHIIII", b"sk", 0, sk_at, sk_at, 1, len(descriptor)) + descriptor

    cells = _cell(nk) + _cell(sk)
    assert len(_cell(nk)) == nk_size
    free = BIN_SIZE - _BIN_HEADER_SIZE - len(cells)
    cells += struct.pack("<i", free) + b"\0" * (free - 4)
    hbin = struct.pack("<4sIIIIQI", b"hbin", 0, BIN_SIZE, 0, 0, filetime, 0) + cells

    header = bytearray(BASE_BLOCK_SIZE)
    struct.pack_into(
        "<4sIIQIIIIIII", header, 0,
        b"regf",
        1, 1,  # primary and secondary sequence numbers: equal means cleanly written
        filetime,
        1, 5,  # format version 1.5
        0,  # primary file
        1,  # direct memory load
        root_at,
        BIN_SIZE,  # size of the hive bins data
        1,  # clustering factor
    )
    encoded_name = file_name.encode("utf-16-le")[:64]
    header[0x30:0x30 + len(encoded_name)] = encoded_name
    struct.pack_into("<I", header, 0x1FC, _checksum(bytes(header)))
    out = bytes(header) + hbin
    assert len(out) == BASE_BLOCK_SIZE + BIN_SIZE
    return out
