"""Security catalogs (``.cat``): PKCS#7 SignedData whose content is a certificate trust list.

:func:`parse_catalog` lists each member's hash (and file name when the catalog names
it); :func:`verify_tree` checks expanded files against those hashes. Members hashed as
PE images use the Authenticode image hash, which is not computed here: such files are
reported as ``unverifiable`` rather than passed or failed. The signature itself is not
checked (no trust store on Linux): this proves consistency with the catalog, not origin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import cms

from wimcore.packages.errors import CatalogError, HashMismatchError

OID_CTL = "1.3.6.1.4.1.311.10.1"
OID_INDIRECT_DATA = "1.3.6.1.4.1.311.2.1.4"
OID_NAME_VALUE = "1.3.6.1.4.1.311.12.2.1"
OID_PE_IMAGE_DATA = "1.3.6.1.4.1.311.2.1.15"
_DIGESTS = {
    "1.3.14.3.2.26": "sha1",
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_MAX_CATALOG = 256 * 1024 * 1024


@dataclass(frozen=True)
class CatalogMember:
    """One catalog entry: the digest, its algorithm, the file name if given, PE or flat hash."""

    digest: bytes
    algorithm: str
    name: str | None = None
    pe_image: bool = False


@dataclass
class Catalog:
    """A parsed catalog: its members, indexed by digest and by lower-cased file name."""

    members: list[CatalogMember]
    by_digest: dict[bytes, CatalogMember] = field(default_factory=dict)
    by_name: dict[str, CatalogMember] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for m in self.members:
            self.by_digest.setdefault(m.digest, m)
            if m.name:
                self.by_name.setdefault(m.name.replace("\\", "/").lower(), m)
                self.by_name.setdefault(m.name.replace("\\", "/").rsplit("/", 1)[-1].lower(), m)


# -- a minimal DER reader for the CTL body (bounds-checked, no recursion limits needed) --

def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of value, end of value) of the element at ``pos``; CatalogError if bad."""
    if pos + 2 > len(data):
        raise CatalogError("truncated DER element")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise CatalogError("multi-byte DER tags are not expected in a catalog")
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise CatalogError("bad DER length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise CatalogError("DER element runs past its container")
    return tag, pos, pos + length


def _children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    pos = start
    while pos < end:
        tag, vstart, vend = _tlv(data, pos)
        if vend > end:
            raise CatalogError("DER element runs past its container")
        yield tag, vstart, vend
        pos = vend


def _oid(raw: bytes) -> str:
    if not raw:
        raise CatalogError("empty OID")
    parts = [raw[0] // 40, raw[0] % 40] if raw[0] < 80 else [2, raw[0] - 80]
    value = 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(value)
            value = 0
    return ".".join(map(str, parts))


def _ctl_bytes(data: bytes) -> bytes:
    """The DER of the certificate trust list inside the PKCS#7 SignedData (via asn1crypto)."""
    try:
        info = cms.ContentInfo.load(data)
        if info["content_type"].native != "signed_data":
            raise CatalogError("not PKCS#7 SignedData")
        encap = info["content"]["encap_content_info"]
        if encap["content_type"].dotted != OID_CTL:
            raise CatalogError(f"content is {encap['content_type'].dotted}, not a trust list")
        raw: bytes = encap["content"].dump()
    except CatalogError:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise CatalogError(f"not a readable PKCS#7 catalog: {exc}") from None
    tag, start, end = _tlv(raw, 0)
    if tag == 0xA0:  # explicit [0] wrapper around the CTL sequence
        tag, start, end = _tlv(raw, start)
        return _reslice(raw, start, end)
    return raw


def _hdr_len(length: int) -> int:
    return 2 if length < 0x80 else 2 + (length.bit_length() + 7) // 8


def _reslice(raw: bytes, vstart: int, vend: int) -> bytes:
    """The full TLV whose value spans raw[vstart:vend]."""
    return raw[vstart - _hdr_len(vend - vstart):vend]


def _subject_identifier(raw: bytes) -> bytes:
    """A member tag: UTF-16LE hex text of the hash in Windows catalogs, else raw bytes."""
    try:
        text = raw.decode("utf-16-le").rstrip("\x00")
        return bytes.fromhex(text)
    except (UnicodeDecodeError, ValueError):
        return raw


def _parse_member(data: bytes, start: int, end: int) -> CatalogMember | None:
    items = list(_children(data, start, end))
    if not items or items[0][0] != 0x04:
        raise CatalogError("trusted subject without an identifier")
    tag_digest = _subject_identifier(data[items[0][1]:items[0][2]])
    digest, algorithm, name, pe = tag_digest, "", None, False
    attrs = items[1] if len(items) > 1 and items[1][0] == 0x31 else None
    for _, astart, aend in _children(data, attrs[1], attrs[2]) if attrs else ():
        parts = list(_children(data, astart, aend))
        if len(parts) < 2 or parts[0][0] != 0x06:
            continue
        oid = _oid(data[parts[0][1]:parts[0][2]])
        values = list(_children(data, parts[1][1], parts[1][2]))
        if not values:
            continue
        _, vstart, vend = values[0]
        if oid == OID_INDIRECT_DATA:
            seq = list(_children(data, vstart, vend))
            if len(seq) >= 2:
                type_and_value = list(_children(data, seq[0][1], seq[0][2]))
                if type_and_value and type_and_value[0][0] == 0x06:
                    kind = _oid(data[type_and_value[0][1]:type_and_value[0][2]])
                    pe = kind == OID_PE_IMAGE_DATA
                dinfo = list(_children(data, seq[1][1], seq[1][2]))
                if len(dinfo) >= 2 and dinfo[1][0] == 0x04:
                    alg = list(_children(data, dinfo[0][1], dinfo[0][2]))
                    if alg and alg[0][0] == 0x06:
                        algorithm = _DIGESTS.get(_oid(data[alg[0][1]:alg[0][2]]), "")
                    digest = data[dinfo[1][1]:dinfo[1][2]]
        elif oid == OID_NAME_VALUE:
            fields = list(_children(data, vstart, vend))
            if len(fields) >= 3 and fields[0][0] == 0x1E:
                label = data[fields[0][1]:fields[0][2]].decode("utf-16-be", errors="replace")
                if label.lower() == "file":
                    name = data[fields[2][1]:fields[2][2]].decode(
                        "utf-16-le", errors="replace").rstrip("\x00")
    if not algorithm:
        algorithm = {20: "sha1", 32: "sha256", 48: "sha384", 64: "sha512"}.get(len(digest), "")
    if not algorithm:
        return None
    return CatalogMember(digest, algorithm, name, pe)


def parse_catalog(data: bytes, *, source: str = "catalog") -> Catalog:
    """Parse a ``.cat`` file into its member hashes; CatalogError when it is not one."""
    if len(data) > _MAX_CATALOG:
        raise CatalogError(f"{source}: larger than {_MAX_CATALOG} bytes")
    try:
        ctl = _ctl_bytes(data)
        tag, start, end = _tlv(ctl, 0)
        if tag != 0x30:
            raise CatalogError("trust list is not a SEQUENCE")
        subjects: tuple[int, int, int] | None = None
        fields = list(_children(ctl, start, end))
        # trustedSubjects is the SEQUENCE following the subject algorithm (the 2nd-to-last
        # or last SEQUENCE whose children are SEQUENCEs starting with an OCTET STRING).
        for f in fields[1:]:
            if f[0] == 0x30:
                kids = list(_children(ctl, f[1], f[2]))
                if kids and all(k[0] == 0x30 for k in kids):
                    first = list(_children(ctl, kids[0][1], kids[0][2]))
                    if first and first[0][0] == 0x04:
                        subjects = f
        members: list[CatalogMember] = []
        if subjects is not None:
            for _, mstart, mend in _children(ctl, subjects[1], subjects[2]):
                member = _parse_member(ctl, mstart, mend)
                if member is not None:
                    members.append(member)
    except CatalogError as exc:
        raise CatalogError(f"{source}: {exc}") from None
    return Catalog(members)


@dataclass
class VerifyReport:
    """Outcome of checking a tree against a catalog, file by file (relative paths)."""

    verified: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unverifiable: list[str] = field(default_factory=list)
    not_covered: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no covered file failed its hash."""
        return not self.mismatched

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"ok": self.ok, "verified": self.verified, "mismatched": self.mismatched,
                "unverifiable": self.unverifiable, "not_covered": self.not_covered}


def _file_digest(path: Path, algorithm: str) -> bytes:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            h.update(chunk)
    return h.digest()


def verify_tree(root: str | Path, catalogs: list[Catalog], *,
                strict: bool = False) -> VerifyReport:
    """Check every file under ``root`` against the catalogs' hashes (flat file hashes).

    A file is *verified* when its hash is listed, *mismatched* when its name is listed
    with another flat hash, *unverifiable* when listed as a PE image (Authenticode hash),
    else *not covered*. ``strict`` raises HashMismatchError on any mismatch.
    """
    base = Path(root)
    algorithms = sorted({m.algorithm for c in catalogs for m in c.members})
    report = VerifyReport()
    for path in sorted(p for p in base.rglob("*") if p.is_file() and not p.is_symlink()):
        rel = path.relative_to(base).as_posix()
        if path.suffix.lower() == ".cat":
            continue
        digests = {alg: _file_digest(path, alg) for alg in algorithms}
        if any(d in c.by_digest for c in catalogs for d in digests.values()):
            report.verified.append(rel)
            continue
        named = next((c.by_name.get(rel.lower()) or c.by_name.get(path.name.lower())
                      for c in catalogs
                      if rel.lower() in c.by_name or path.name.lower() in c.by_name), None)
        if named is None:
            report.not_covered.append(rel)
        elif named.pe_image:
            report.unverifiable.append(rel)
        else:
            report.mismatched.append(rel)
    if strict and report.mismatched:
        raise HashMismatchError(f"{base}: hash mismatch for {', '.join(report.mismatched[:5])}")
    return report


def verify_package(folder: str | Path, *, strict: bool = False) -> VerifyReport:
    """Verify an expanded package folder against every ``*.cat`` directly in it."""
    base = Path(folder)
    catalogs = [parse_catalog(p.read_bytes(), source=str(p)) for p in sorted(base.glob("*.cat"))]
    return verify_tree(base, catalogs, strict=strict)
