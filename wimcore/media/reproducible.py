"""Make generated files byte-reproducible: pin the clock-derived timestamps libraries write.

libwimlib stamps ``LASTMODIFICATIONTIME`` into a WIM's XML at write time and libhivex
stamps every key it creates with the current time. The sample media pins both to a
fixed FILETIME so that the same seed gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import struct
from pathlib import Path

_EPOCH_DELTA = 116444736000000000  # FILETIME of 1970-01-01
_LASTMOD = re.compile(r"<LASTMODIFICATIONTIME><HIGHPART>0x[0-9A-Fa-f]{8}</HIGHPART>"
                      r"<LOWPART>0x[0-9A-Fa-f]{8}</LOWPART></LASTMODIFICATIONTIME>")


def filetime(when: dt.datetime) -> int:
    """A timezone-aware datetime as a Windows FILETIME (100 ns ticks since 1601)."""
    return int(when.timestamp() * 10_000_000) + _EPOCH_DELTA


def unix_seconds(when: dt.datetime) -> float:
    """A timezone-aware datetime as POSIX seconds (for os.utime)."""
    return when.timestamp()


def pin_wim_xml_times(path: str | os.PathLike[str], when: dt.datetime) -> None:
    """Rewrite every LASTMODIFICATIONTIME in a WIM's XML documents in place (same length).

    An in-place (append) commit leaves the previous XML document in the file as dead
    data, so every copy in the file is pinned, not only the live one.
    """
    ft = filetime(when)
    fixed = (f"<LASTMODIFICATIONTIME><HIGHPART>0x{ft >> 32:08X}</HIGHPART>"
             f"<LOWPART>0x{ft & 0xFFFFFFFF:08X}</LOWPART></LASTMODIFICATIONTIME>")
    data = Path(path).read_bytes()
    wide = re.compile(b"".join(re.escape(bytes([c, 0])) for c in b"<LASTMODIFICATIONTIME>"))
    replacement = fixed.encode("utf-16-le")
    out = bytearray(data)
    for match in wide.finditer(data):
        start = match.start()
        chunk = data[start:start + len(replacement)]
        if _LASTMOD.fullmatch(chunk.decode("utf-16-le", "replace")):
            out[start:start + len(replacement)] = replacement
    if out != data:
        with open(path, "r+b") as fh:
            fh.write(out)


def pin_hive_times(data: bytes, when: dt.datetime) -> bytes:
    """Set the base block, hbin and key-node timestamps of a regf hive; fix the checksum."""
    ft = struct.pack("<Q", filetime(when))
    buf = bytearray(data)
    buf[12:20] = ft
    pos = 4096
    while pos + 32 <= len(buf) and buf[pos:pos + 4] == b"hbin":
        bin_size = struct.unpack_from("<I", buf, pos + 8)[0]
        buf[pos + 20:pos + 28] = ft
        cell = pos + 32
        end = pos + bin_size
        while cell + 4 <= end:
            size = struct.unpack_from("<i", buf, cell)[0]
            if size == 0:
                break
            if size < 0 and buf[cell + 4:cell + 6] == b"nk":
                buf[cell + 8:cell + 16] = ft
            cell += abs(size)
        if bin_size == 0:
            break
        pos = end
    checksum = 0
    for (word,) in struct.iter_unpack("<I", bytes(buf[:508])):
        checksum ^= word
    struct.pack_into("<I", buf, 508, checksum)
    return bytes(buf)


def pin_tree_times(root: Path, when: dt.datetime) -> None:
    """Give every file and directory under ``root`` (and root) the same mtime/atime."""
    stamp = unix_seconds(when)
    for dirpath, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.utime(os.path.join(dirpath, name), (stamp, stamp))
        os.utime(dirpath, (stamp, stamp))
