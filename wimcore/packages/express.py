"""Express (PSF) payloads: the index (``*.psf.cix.xml``), the kind of each span, and a
streamed, fully checked expansion of the ``.psf`` beside it.

The index may be named ``express.psf.cix.xml`` or ``<KB>.psf.cix.xml``. A span's kind
comes from its bytes (``PA30``/``PA31``/``PA19`` at offset 0, or after a 4-byte CRC-32
prefix; anything else is RAW), never from the index's ``type`` attribute (24H2 labels
PA31 blobs ``PA30``). Every span is checked against the index's Source hash before it
is used, every produced file against the index's File hash and length; a mismatch is
:class:`PackageTamperedError` naming the file. RAW spans are copied in chunks while
hashed; one delta at a time is held in memory and decoded by
:func:`wimcore.packages.msdelta.apply` against an empty source.
"""

from __future__ import annotations

import hashlib
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.packages.errors import PackageShapeError, PackageTamperedError, PsfIndexError
from wimcore.packages.safenames import target_path
from wimcore.xmlsafe import local, parse_xml

CIX_NAME = "express.psf.cix.xml"
CIX_SUFFIX = ".psf.cix.xml"
PSF_MAGIC = b"PSTREAM\x00"
DELTA_MAGICS = (b"PA30", b"PA31", b"PA19")
#: The largest delta span (and its target) decoded in memory: a guard against absurd sizes.
MAX_DELTA_BYTES = 1 << 30
_COPY_CHUNK = 1024 * 1024
_MAX_INDEX_BYTES = 256 * 1024 * 1024
_CODEC_NAMES = {"pseudolzx": "PseudoLzx", "lzms": "LZMS"}


@dataclass(frozen=True)
class PsfSource:
    """Where a file's bytes sit in the .psf: the index's label, range and SHA-256."""

    label: str
    offset: int
    length: int
    sha256: bytes


@dataclass(frozen=True)
class PsfFile:
    """One file of an express payload: its name, output length and hash, and its span."""

    name: str
    length: int
    sha256: bytes
    source: PsfSource
    time: str | None = None

    @property
    def stored_as_is(self) -> bool:
        """True when the span is the file itself (same hash and length): copied, not decoded.

        PSFX delta files (``f\\``, ``r\\``, ``n\\``) are stored this way although their bytes
        start with a delta magic.
        """
        return self.sha256 == self.source.sha256 and self.length == self.source.length


@dataclass(frozen=True)
class PsfSpan:
    """An index entry as the index labels it (name, ``type``, span offset and length).

    A description for callers of the older API; :func:`parse_index` gives the checked
    model (:class:`PsfFile`), which ``file`` carries.
    """

    name: str
    type: str
    offset: int
    length: int
    time: str | None = None
    file: PsfFile | None = field(default=None, compare=False, repr=False)


def is_index_name(name: str) -> bool:
    """True for a PSF index file name: ``express.psf.cix.xml`` or ``<KB>.psf.cix.xml``."""
    return name.casefold().endswith(CIX_SUFFIX)


def find_index(folder: Path) -> Path | None:
    """The PSF index at the root of a package folder (either name); None when there is none.

    More than one index is a shape wimcore does not understand.
    """
    found = sorted(p for p in folder.iterdir() if p.is_file() and is_index_name(p.name))
    if len(found) > 1:
        raise PsfIndexError(f"{folder.name}: {len(found)} PSF indexes "
                            f"({', '.join(p.name for p in found)}); a package has one",
                            found=", ".join(p.name for p in found))
    return found[0] if found else None


def _hash_of(node: Any, where: str) -> bytes:
    """The SHA-256 of a ``Hash`` child of ``node`` (PsfIndexError when absent or not SHA-256)."""
    for child in node:
        if local(child.tag) != "Hash":
            continue
        alg = (child.get("alg") or "").upper().replace("-", "")
        value = child.get("value") or ""
        if alg != "SHA256":
            continue
        try:
            digest = bytes.fromhex(value)
        except ValueError:
            raise PsfIndexError(f"{where}: Hash value {value[:80]!r} is not hex") from None
        if len(digest) != 32:
            raise PsfIndexError(f"{where}: a SHA-256 of {len(digest)} bytes")
        return digest
    raise PsfIndexError(f"{where}: no SHA-256 Hash, so its bytes could not be checked",
                        found="an index entry without a SHA-256 hash")


def _int_attr(node: Any, attr: str, where: str) -> int:
    text = node.get(attr)
    try:
        value = int(text or "")
    except ValueError:
        raise PsfIndexError(f"{where}: {attr}={text!r} is not a number") from None
    if value < 0:
        raise PsfIndexError(f"{where}: negative {attr} {value}")
    return value


def parse_index(data: bytes, *, source: str = CIX_NAME) -> list[PsfFile]:
    """The files a PSF index lists: ``Container/Files/File`` with its Hash and one
    ``Delta/Source`` (range and Hash). Anything a check needs that is missing, or a
    shape not understood (several Deltas per File, a Basis), is :class:`PsfIndexError`.
    """
    root = parse_xml(data, source=source, max_bytes=_MAX_INDEX_BYTES)
    if local(root.tag) != "Container":
        raise PsfIndexError(f"{source}: root element <{local(root.tag)}>, not <Container>",
                            found=f"<{local(root.tag)}>")
    files: list[PsfFile] = []
    seen: set[str] = set()
    for node in root.iter():
        if local(node.tag) != "File":
            continue
        name = node.get("name") or ""
        where = f"{source}: File {name or node.get('id') or '?'}"
        if not name:
            raise PsfIndexError(f"{where}: no name")
        deltas = [c for c in node if local(c.tag) == "Delta"]
        if any(local(c.tag) == "Basis" for c in node.iter()):
            raise PsfIndexError(f"{where}: a Basis element (a delta against a base file), "
                                "which wimcore does not read", found="Basis")
        if len(deltas) != 1:
            raise PsfIndexError(f"{where}: {len(deltas)} Delta elements; wimcore reads "
                                "exactly one", found=f"{len(deltas)} Delta elements")
        sources = [c for c in deltas[0] if local(c.tag) == "Source"]
        if len(sources) != 1:
            raise PsfIndexError(f"{where}: {len(sources)} Source elements in its Delta",
                                found=f"{len(sources)} Source elements")
        src = sources[0]
        key = name.replace("\\", "/").strip("/").casefold()
        if key in seen:
            raise PsfIndexError(f"{where}: listed twice", found="a duplicate name")
        seen.add(key)
        files.append(PsfFile(
            name, _int_attr(node, "length", where), _hash_of(node, where),
            PsfSource((src.get("type") or "").upper(), _int_attr(src, "offset", where),
                      _int_attr(src, "length", where), _hash_of(src, f"{where} Source")),
            node.get("time")))
    return files


def parse_cix(data: bytes, *, source: str = CIX_NAME) -> list[PsfSpan]:
    """The index's entries as it labels them (see :class:`PsfSpan`); checked like
    :func:`parse_index`."""
    return [PsfSpan(f.name, f.source.label, f.source.offset, f.source.length, f.time, f)
            for f in parse_index(data, source=source)]


def sniff_span(head: bytes) -> tuple[str, int]:
    """(kind, prefix) of a span from its first 8 bytes: a delta magic at offset 0 or after a
    4-byte CRC-32 (prefix 4), else ``("RAW", 0)``."""
    if head[:4] in DELTA_MAGICS:
        return head[:4].decode(), 0
    if head[4:8] in DELTA_MAGICS:
        return head[4:8].decode(), 4
    return "RAW", 0


def delta_codec(blob: bytes) -> str:
    """The codec of a delta blob (``PseudoLzx``, ``LZMS``, ...) as the decoder reads it."""
    from wimcore.packages.msdelta import info

    try:
        codec = info(blob).codec
        return _CODEC_NAMES.get(codec or "", codec or "none")
    except Exception as exc:  # a description, never a failure of inspect
        return f"unreadable ({type(exc).__name__})"


@dataclass
class KindStats:
    """How many spans (and stored bytes) a PSF has of one kind."""

    count: int = 0
    bytes: int = 0
    files: int = 0  # output bytes of those spans

    def to_dict(self) -> dict[str, int]:
        """A JSON-ready dict."""
        return {"count": self.count, "bytes": self.bytes, "output_bytes": self.files}


@dataclass
class PsfReport:
    """What an expansion or an inspection of a PSF found: spans by kind, files written."""

    psf: str
    index: str
    header: str
    kinds: dict[str, KindStats] = field(default_factory=dict)
    written: list[str] = field(default_factory=list)

    def add(self, kind: str, span: PsfFile) -> None:
        """Count one span of ``kind``."""
        stats = self.kinds.setdefault(kind, KindStats())
        stats.count += 1
        stats.bytes += span.source.length
        stats.files += span.length

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"psf": self.psf, "index": self.index, "header": self.header,
                "spans": {k: v.to_dict() for k, v in sorted(self.kinds.items())},
                "files": len(self.written) or sum(v.count for v in self.kinds.values())}

    def lines(self) -> list[str]:
        """Readable lines: one per span kind."""
        out = [f"PSF {self.psf} (index {self.index}; header {self.header})"]
        for kind, st in sorted(self.kinds.items()):
            out.append(f"  {kind}: {st.count} span(s), {st.bytes} bytes stored, "
                       f"{st.files} bytes of files")
        return out


def psf_header(fh: Any) -> str:
    """``PSTREAM major.minor`` when the file starts with the PSF magic, else ``none``."""
    fh.seek(0)
    head = fh.read(12)
    if head[:8] == PSF_MAGIC and len(head) == 12:
        major, minor = struct.unpack("<HH", head[8:12])
        return f"PSTREAM {major}.{minor}"
    return "none"


def _check_ranges(files: list[PsfFile], psf: Path, size: int) -> None:
    for f in files:
        end = f.source.offset + f.source.length
        if end > size:
            raise PsfIndexError(f"{psf.name}: the span of {f.name!r} lies outside the file "
                                f"({f.source.offset}+{f.source.length} > {size})",
                                found="a span past the end of the PSF")


def _tampered(psf: Path, f: PsfFile, what: str) -> PackageTamperedError:
    return PackageTamperedError(
        f"{psf.name}: {f.name}: {what}; the package was changed after it was made "
        "(download it again)", file=f.name, package=str(psf))


def _read_exact(fh: Any, offset: int, length: int, psf: Path) -> bytes:
    fh.seek(offset)
    data: bytes = fh.read(length)
    if len(data) != length:
        raise PsfIndexError(f"{psf.name}: unexpected end of file at {offset + len(data)}")
    return data


def _copy_span(fh: Any, f: PsfFile, psf: Path, tmp: Path) -> None:
    """Copy a stored span to ``tmp`` in chunks, checking its hash as it goes."""
    h = hashlib.sha256()
    fh.seek(f.source.offset)
    left = f.source.length
    with open(tmp, "wb") as out:
        while left:
            chunk = fh.read(min(left, _COPY_CHUNK))
            if not chunk:
                raise PsfIndexError(f"{psf.name}: unexpected end of file in {f.name!r}")
            h.update(chunk)
            out.write(chunk)
            left -= len(chunk)
    if h.digest() != f.source.sha256:
        raise _tampered(psf, f, "its stored bytes do not match the SHA-256 the index gives")
    if f.source.length != f.length or h.digest() != f.sha256:
        raise _tampered(psf, f, "the file does not match the SHA-256 and length the index "
                                "gives for it")


def _decode_span(fh: Any, f: PsfFile, kind: str, prefix: int,
                 psf: Path) -> tuple[bytes, str]:
    """Read, check and decode one delta span (against an empty source); (file, codec)."""
    if f.source.length > MAX_DELTA_BYTES or f.length > MAX_DELTA_BYTES:
        raise PsfIndexError(f"{psf.name}: {f.name}: a {kind} delta of {f.source.length} bytes "
                            f"for a {f.length}-byte file is beyond wimcore's limit of "
                            f"{MAX_DELTA_BYTES} bytes per delta", found="an oversized delta")
    blob = _read_exact(fh, f.source.offset, f.source.length, psf)
    if hashlib.sha256(blob).digest() != f.source.sha256:
        raise _tampered(psf, f, f"its {kind} delta does not match the SHA-256 the index gives")
    if prefix:
        (crc,) = struct.unpack("<I", blob[:4])
        if zlib.crc32(blob[4:]) != crc:
            raise _tampered(psf, f, f"its {kind} delta fails its CRC-32 prefix")
        blob = blob[4:]
    from wimcore.packages.msdelta import apply

    codec = delta_codec(blob)
    try:
        out = apply(blob, b"", expected_size=f.length)
    except PackageTamperedError:
        raise
    except Exception as exc:
        if getattr(exc, "__module__", "").startswith("wimcore"):
            exc.args = (f"{psf.name}: {f.name} ({kind} delta): {exc}", *exc.args[1:])
        raise
    if len(out) != f.length or hashlib.sha256(out).digest() != f.sha256:
        raise _tampered(psf, f, f"its {kind} delta decodes to a file that does not match the "
                                "SHA-256 and length the index gives")
    return out, codec


def expand_psf(files: list[PsfFile], psf: Path, dest: Path, *, index_name: str = CIX_NAME,
               on_file: Callable[[str], None] | None = None) -> PsfReport:
    """Write every file the index lists from ``psf`` under ``dest``, each one checked.

    Names and ranges are checked before anything is written; a failure removes what this
    call wrote (the caller removes the rest of the expansion). ``on_file`` is called with
    each file name before it is written (progress, cancellation by raising).
    """
    size = psf.stat().st_size
    _check_ranges(files, psf, size)
    targets = [(f, target_path(dest, f.name)) for f in files]
    written: list[Path] = []
    tmp: Path | None = None
    with open(psf, "rb") as fh:
        report = PsfReport(psf.name, index_name, psf_header(fh))
        try:
            for f, target in sorted(targets, key=lambda t: t[0].source.offset):
                if on_file is not None:
                    on_file(f.name)
                head = _read_exact(fh, f.source.offset, min(8, f.source.length), psf)
                kind, prefix = sniff_span(head)
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.with_name(f".{target.name[:40]}.{os.getpid()}.wimcore-part")
                if kind == "RAW" or f.stored_as_is:
                    _copy_span(fh, f, psf, tmp)
                    report.add("RAW", f)
                else:
                    data, codec = _decode_span(fh, f, kind, prefix, psf)
                    with open(tmp, "wb") as out:
                        out.write(data)
                    report.add(f"{kind}/{codec}", f)
                os.replace(tmp, target)
                tmp = None
                written.append(target)
                report.written.append(f.name)
        except BaseException:
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            for p in written:
                p.unlink(missing_ok=True)
            raise
    return report


def apply_psf(spans: list[PsfSpan], psf: Path, dest: Path) -> list[Path]:
    """Write the files of ``spans`` (from :func:`parse_cix`) under ``dest``, every one
    checked as :func:`expand_psf` does; delta spans are decoded."""
    files = [s.file for s in spans if s.file is not None]
    if len(files) != len(spans):
        raise PsfIndexError(f"{psf.name}: spans without their index entries (hashes) cannot "
                            "be checked; read them with parse_cix or parse_index")
    report = expand_psf(files, psf, dest)
    return [target_path(dest, name) for name in report.written]


def scan_psf(files: list[PsfFile], psf: Path, *, index_name: str = CIX_NAME) -> PsfReport:
    """Count a PSF's spans by kind without writing anything (for ``package inspect``).

    A delta's codec comes from its header as the decoder reads it; RAW spans are only
    sniffed (their first 8 bytes), so a large PSF is scanned quickly.
    """
    size = psf.stat().st_size
    _check_ranges(files, psf, size)
    with open(psf, "rb") as fh:
        report = PsfReport(psf.name, index_name, psf_header(fh))
        for f in sorted(files, key=lambda x: x.source.offset):
            head = _read_exact(fh, f.source.offset, min(8, f.source.length), psf)
            kind, prefix = sniff_span(head)
            if kind == "RAW" or f.stored_as_is:
                report.add("RAW", f)
                continue
            if f.source.length > MAX_DELTA_BYTES:
                report.add(f"{kind}/oversized", f)
                continue
            blob = _read_exact(fh, f.source.offset, f.source.length, psf)[prefix:]
            report.add(f"{kind}/{delta_codec(blob)}", f)
    return report


def require_shape(folder: Path, index: Path | None, psf: Path | None) -> None:
    """Refuse the half shapes: an index without a PSF, a PSF without an index."""
    if index is not None and psf is None:
        raise PackageShapeError(f"{folder.name}: {index.name} present but no .psf payload "
                                "beside the package", found="a PSF index without a PSF")
    if psf is not None and index is None:
        raise PackageShapeError(f"{folder.name}: {psf.name} beside the package but no PSF "
                                f"index (express.psf.cix.xml or <KB>{CIX_SUFFIX}) in it",
                                found="a PSF without an index")
