"""Express (PSF) payloads: read ``express.psf.cix.xml``, copy RAW spans out of the ``.psf``.

Delta spans (PA30/PA31/PA19, MSDelta patches) cannot be decoded by wimcore yet; they
are listed and reported with :class:`MSDeltaRequiredError`, never skipped silently.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wimcore.packages.errors import MSDeltaRequiredError, PackageError
from wimcore.packages.safenames import target_path
from wimcore.xmlsafe import local, parse_xml

CIX_NAME = "express.psf.cix.xml"
DELTA_TYPES = frozenset({"PA30", "PA31", "PA19"})
_COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class PsfSpan:
    """One file of an express payload: where its bytes sit in the .psf and how they are coded."""

    name: str
    type: str
    offset: int
    length: int
    time: str | None = None

    @property
    def is_delta(self) -> bool:
        """True for MSDelta patch spans (not plain bytes)."""
        return self.type.upper() != "RAW"


def parse_cix(data: bytes, *, source: str = CIX_NAME) -> list[PsfSpan]:
    """The file spans an ``express.psf.cix.xml`` lists (Container/Files/File → Delta/Source)."""
    root = parse_xml(data, source=source)
    spans: list[PsfSpan] = []
    for node in root.iter():
        if local(node.tag) != "File":
            continue
        name = node.get("name")
        src = next((s for s in node.iter() if local(s.tag) == "Source"), None)
        if not name or src is None:
            raise PackageError(f"{source}: a File entry lacks a name or a Delta/Source")
        try:
            spans.append(PsfSpan(name, (src.get("type") or "").upper(),
                                 int(src.get("offset") or ""), int(src.get("length") or ""),
                                 node.get("time")))
        except ValueError:
            raise PackageError(f"{source}: {name}: bad offset or length in Delta/Source") from None
    return spans


def apply_psf(spans: list[PsfSpan], psf: Path, dest: Path, *,
              allow_deltas: bool = False) -> list[Path]:
    """Copy the RAW spans of ``psf`` under ``dest``; delta spans raise unless ``allow_deltas``.

    Every name and span is checked before anything is written.
    """
    size = psf.stat().st_size
    deltas = [s for s in spans if s.is_delta]
    raws = [s for s in spans if not s.is_delta]
    unknown = sorted({s.type for s in deltas} - DELTA_TYPES)
    if unknown:
        raise PackageError(f"{psf}: unknown span type(s) {', '.join(unknown)}")
    if deltas and not allow_deltas:
        listing = ", ".join(f"{s.name} ({s.type})" for s in deltas[:5])
        more = f" and {len(deltas) - 5} more" if len(deltas) > 5 else ""
        raise MSDeltaRequiredError(
            f"{psf.name}: {len(deltas)} file(s) are MSDelta patches; this package needs an "
            f"MSDelta decoder, which wimcore does not have: {listing}{more}",
            [(s.name, s.type) for s in deltas])
    targets = []
    for span in raws:
        if span.offset < 0 or span.length < 0 or span.offset + span.length > size:
            raise PackageError(f"{psf.name}: span for {span.name!r} lies outside the file "
                               f"({span.offset}+{span.length} > {size})")
        targets.append((span, target_path(dest, span.name)))
    written: list[Path] = []
    with open(psf, "rb") as src:
        for span, target in targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name[:40]}.{os.getpid()}.wimcore-part")
            src.seek(span.offset)
            left = span.length
            with open(tmp, "wb") as out:
                while left:
                    chunk = src.read(min(left, _COPY_CHUNK))
                    if not chunk:
                        raise PackageError(f"{psf.name}: unexpected end of file")
                    out.write(chunk)
                    left -= len(chunk)
            os.replace(tmp, target)
            written.append(target)
    return written
