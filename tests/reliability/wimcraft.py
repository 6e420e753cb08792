"""Craft hostile WIMs from honest ones: patch names in the metadata, replace the XML, flip bytes.

Works on WIMs written with ``compression="none"``, whose resources are stored raw, so a
patch is a plain byte replacement followed by fixing the blob table's SHA-1 (and the
header's resource descriptors where sizes change).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path

HEADER_SIZE = 208
BLOB_TABLE_AT = 48
XML_AT = 72
BOOT_METADATA_AT = 96
ENTRY_SIZE = 50
FLAG_METADATA = 0x02


@dataclass
class ResHdr:
    """A WIM resource descriptor: stored size, flags, offset, original size."""

    size: int
    flags: int
    offset: int
    original_size: int

    @classmethod
    def parse(cls, raw: bytes) -> ResHdr:
        size_flags, offset, original = struct.unpack("<QQQ", raw)
        return cls(size_flags & 0x00FF_FFFF_FFFF_FFFF, size_flags >> 56, offset, original)

    def pack(self) -> bytes:
        return struct.pack("<QQQ", self.size | (self.flags << 56), self.offset,
                           self.original_size)


def _blob_table(data: bytes) -> tuple[ResHdr, list[tuple[int, ResHdr, bytes]]]:
    table = ResHdr.parse(data[BLOB_TABLE_AT:BLOB_TABLE_AT + 24])
    entries = []
    for pos in range(table.offset, table.offset + table.size, ENTRY_SIZE):
        hdr = ResHdr.parse(data[pos:pos + 24])
        entries.append((pos, hdr, data[pos + 30:pos + 50]))
    return table, entries


def patch_metadata(path: Path, old: str, new: str, *, occurrence: int = 0) -> None:
    """Replace a UTF-16LE name in the (raw) metadata resource and fix its SHA-1."""
    old_b, new_b = old.encode("utf-16-le"), new.encode("utf-16-le")
    assert len(old_b) == len(new_b), "a patched name must keep its length"
    data = bytearray(path.read_bytes())
    _table, entries = _blob_table(bytes(data))
    for pos, hdr, digest in entries:
        if not hdr.flags & FLAG_METADATA:
            continue
        start, end = hdr.offset, hdr.offset + hdr.size
        body = bytes(data[start:end])
        at = -1
        for _ in range(occurrence + 1):
            at = body.find(old_b, at + 1)
        if at < 0:
            continue
        patched = body[:at] + new_b + body[at + len(old_b):]
        assert hashlib.sha1(body).digest() == digest, "expected a raw (uncompressed) WIM"
        data[start:end] = patched
        data[pos + 30:pos + 50] = hashlib.sha1(patched).digest()
        path.write_bytes(bytes(data))
        return
    raise AssertionError(f"name {old!r} not found in any metadata resource")


def replace_xml(path: Path, xml_text: str) -> None:
    """Append a new XML document (UTF-16LE with BOM) and point the header at it."""
    data = bytearray(path.read_bytes())
    payload = b"\xff\xfe" + xml_text.encode("utf-16-le")
    hdr = ResHdr.parse(bytes(data[XML_AT:XML_AT + 24]))
    new = ResHdr(len(payload), hdr.flags & ~0x04, len(data), len(payload))
    data += payload
    data[XML_AT:XML_AT + 24] = new.pack()
    path.write_bytes(bytes(data))


def regions(path: Path) -> dict[str, tuple[int, int]]:
    """Byte ranges of the header, blob table, XML and metadata resources."""
    data = path.read_bytes()
    table, entries = _blob_table(data)
    xml = ResHdr.parse(data[XML_AT:XML_AT + 24])
    out = {"header": (0, HEADER_SIZE), "blob table": (table.offset, table.offset + table.size),
           "xml": (xml.offset, xml.offset + xml.size)}
    for n, (_pos, hdr, _digest) in enumerate(e for e in entries if e[1].flags & FLAG_METADATA):
        out[f"metadata {n + 1}"] = (hdr.offset, hdr.offset + hdr.size)
    data_blobs = [e for e in entries if not e[1].flags & FLAG_METADATA]
    if data_blobs:
        first = min(data_blobs, key=lambda e: e[1].offset)[1]
        out["file data"] = (first.offset, first.offset + first.size)
    return out
