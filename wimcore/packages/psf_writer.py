"""Write PSF express payloads (``PSTREAM``) and their CIX index, as 24H2 update packages do.

Streamed: spans go straight to a file object, so a multi-gigabyte PSF never sits in memory.
Layout per ``update-formats.md`` §2: ``PSTREAM\\0``, u16 major 2, u16 minor 2, the first
stream at offset 128, then the spans back to back; the index is ``urn:ContainerIndex`` XML.
Delta spans are made by :mod:`wimcore.packages.msdelta_encode`. Like real 24H2 packages,
PA31 blobs are labelled ``PA30`` in the index, so readers must sniff the magic.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import BinaryIO
from xml.sax.saxutils import quoteattr

PSF_MAGIC = b"PSTREAM\0"
PSF_VERSION = (2, 2)
FIRST_STREAM = 128
DEFAULT_ATTR = 128  # FILE_ATTRIBUTE_NORMAL, as real entries carry
CIX_NAMESPACE = "urn:ContainerIndex"


class Storage(enum.Enum):
    """How a file is stored in the PSF."""

    RAW = "raw"              # the span is the file
    PA30 = "pa30"            # PA30 delta, PseudoLzx, against an empty source
    PA31_LZMS = "pa31-lzms"  # PA31 delta with an LZMS payload (24H2 baseless deltas)


@dataclass(frozen=True)
class PsfEntry:
    """One file written to a PSF: its index record."""

    id: int
    name: str
    length: int
    file_sha256: str
    type: str
    offset: int
    span_length: int
    span_sha256: str
    time: int
    attr: int


class PsfWriter:
    """Append files to a PSF stream; :meth:`cix` gives the matching index.

    The file object must be positioned at the start of the PSF; spans are written in order.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pos = 0
        self.entries: list[PsfEntry] = []
        head = PSF_MAGIC + PSF_VERSION[0].to_bytes(2, "little") + \
            PSF_VERSION[1].to_bytes(2, "little")
        self._write(head.ljust(FIRST_STREAM, b"\0"))

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._pos

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._pos += len(data)

    def add(self, name: str, content: bytes, storage: Storage | str = Storage.RAW, *,
            crc_prefix: bool = False, time: int = 0, attr: int = DEFAULT_ATTR,
            flags: int = 0, tables: str = "composite") -> PsfEntry:
        """Store ``content`` as ``name`` (backslash path) in the given way."""
        storage = Storage(storage)
        if storage is Storage.RAW:
            if crc_prefix:
                raise ValueError("a RAW span carries no CRC prefix")
            return self.add_raw_chunks(name, [content], time=time, attr=attr)
        from wimcore.packages import msdelta_encode

        if storage is Storage.PA30:
            blob = msdelta_encode.encode(content, magic="PA30", codec="pseudolzx",
                                         tables=tables, flags=flags, crc_prefix=crc_prefix)
        else:
            blob = msdelta_encode.encode(content, magic="PA31", codec="lzms", flags=flags,
                                         crc_prefix=crc_prefix)
        return self._record(name, len(content), hashlib.sha256(content).hexdigest(),
                            "PA30", [blob], time, attr)

    def add_encoded(self, name: str, blob: bytes, length: int, sha256: str, *,
                    time: int = 0, attr: int = DEFAULT_ATTR) -> PsfEntry:
        """Store an already encoded delta blob for a file of ``length`` bytes and ``sha256``."""
        return self._record(name, length, sha256, "PA30", [blob], time, attr)

    def add_raw_chunks(self, name: str, chunks: Iterable[bytes], *, time: int = 0,
                       attr: int = DEFAULT_ATTR) -> PsfEntry:
        """Store a RAW file given as chunks (streamed: any size)."""
        offset = self._pos
        h = hashlib.sha256()
        for chunk in chunks:
            h.update(chunk)
            self._write(chunk)
        digest = h.hexdigest()
        return self._entry(name, self._pos - offset, digest, "RAW", offset, self._pos - offset,
                           digest, time, attr)

    def _record(self, name: str, length: int, file_sha: str, kind: str, blob: list[bytes],
                time: int, attr: int) -> PsfEntry:
        offset = self._pos
        h = hashlib.sha256()
        for part in blob:
            h.update(part)
            self._write(part)
        return self._entry(name, length, file_sha, kind, offset, self._pos - offset,
                           h.hexdigest(), time, attr)

    def _entry(self, name: str, length: int, file_sha: str, kind: str, offset: int,
               span_length: int, span_sha: str, time: int, attr: int) -> PsfEntry:
        if not name or "\0" in name:
            raise ValueError(f"bad PSF file name {name!r}")
        entry = PsfEntry(len(self.entries) + 1, name, length, file_sha, kind, offset,
                         span_length, span_sha, time, attr)
        self.entries.append(entry)
        return entry

    def cix(self, name: str = "express.psf") -> bytes:
        """The index XML (``express.psf.cix.xml`` or ``<KB>.psf.cix.xml``) for the spans so far."""
        lines = ['<?xml version="1.0" encoding="utf-8"?>',
                 f'<Container xmlns="{CIX_NAMESPACE}" name={quoteattr(name)} type="PSF" '
                 f'length="{self._pos}" version="2.0">', "  <Files>"]
        for e in self.entries:
            lines += [
                f'    <File id="{e.id}" name={quoteattr(e.name)} length="{e.length}" '
                f'time="{e.time}" attr="{e.attr}">',
                f'      <Hash alg="SHA256" value="{e.file_sha256.upper()}"/>',
                "      <Delta>",
                f'        <Source type="{e.type}" offset="{e.offset}" '
                f'length="{e.span_length}">',
                f'          <Hash alg="SHA256" value="{e.span_sha256.upper()}"/>',
                "        </Source>",
                "      </Delta>",
                "    </File>",
            ]
        lines += ["  </Files>", "</Container>", ""]
        return "\n".join(lines).encode("utf-8")
