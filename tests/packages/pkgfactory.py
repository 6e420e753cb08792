"""Builders for small, schema-faithful Windows update packages used by the package tests."""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import subprocess
from pathlib import Path

from asn1crypto import algos, core
from cabarchive import CabArchive, CabFile

FIXED_TIME = dt.datetime(2024, 5, 14, 10, 20, 30)
ASM_NS = "urn:schemas-microsoft-com:asm.v3"
TOKEN = "31bf3856ad364e35"
BOM = b"\xef\xbb\xbf"
_NONSXS = ' versionScope="nonSxS"'
_RELEASE_NONSXS = ' buildType="release" versionScope="nonSxS"'


def make_cab(members: dict[str, bytes], *, compress: bool = True) -> bytes:
    """A single-folder MSZIP (or stored) cabinet of the given members."""
    arc = CabArchive()
    for name, data in members.items():
        arc[name] = CabFile(data, mtime=FIXED_TIME)
    return bytes(arc.save(compress=compress))


def write(path: Path, data: bytes) -> Path:
    """Write bytes, creating parents; return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def cabextract_tree(cab: Path, dest: Path) -> dict[str, bytes]:
    """Expand with cabextract (the oracle) and return {relative posix path: bytes}."""
    subprocess.run(["cabextract", "-q", "-d", str(dest), str(cab)], check=True,
                   capture_output=True)
    return tree(dest)


def tree(root: Path) -> dict[str, bytes]:
    """{relative posix path: bytes} of every regular file under root."""
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def have_cabextract() -> bool:
    """True when the cabextract oracle is on PATH."""
    return shutil.which("cabextract") is not None


def identity(name: str, version: str, arch: str = "amd64", language: str = "neutral",
             token: str = TOKEN, extra: str = "") -> str:
    """An assemblyIdentity element."""
    return (f'<assemblyIdentity name="{name}" version="{version}" processorArchitecture="{arch}" '
            f'language="{language}" publicKeyToken="{token}"{extra}/>')


def component_manifest(name: str, version: str, files: list[str]) -> bytes:
    """A component manifest bringing ``files``."""
    body = "".join(
        f'<file name="{f}" destinationPath="$(runtime.system32)\\" sourceName="{f}" '
        f'importPath="$(build.nttree)\\"><securityDescriptor name="WRP_FILE_DEFAULT_SDDL"/>'
        f'</file>' for f in files)
    text = (f'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\r\n'
            f'<assembly xmlns="{ASM_NS}" manifestVersion="1.0" '
            f'copyright="Copyright (c) Microsoft Corporation. All Rights Reserved.">'
            f'{identity(name, version, language="neutral", extra=_NONSXS)}'
            f'{body}</assembly>')
    return BOM + text.encode("utf-8")


def update_mum(*, name: str, version: str, kb: str, release_type: str = "Update",
               components: list[tuple[str, str]] = (), packages: list[tuple[str, str]] = (),
               parent: str = "", restart: str = "possible", custom: str = "",
               language: str = "neutral") -> bytes:
    """An update.mum: identity, package@identifier/releaseType, parent, update list."""
    updates = "".join(
        f'<update name="{cname}"><component>{identity(cname, cver, extra=_RELEASE_NONSXS)}'
        f'</component></update>' for cname, cver in components)
    updates += "".join(
        f'<update name="{pname}"><package integrate="hidden">{identity(pname, pver, language="")}'
        f'</package></update>' for pname, pver in packages)
    text = (f'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\r\n'
            f'<assembly xmlns="{ASM_NS}" manifestVersion="1.0" '
            f'description="Fix for {kb}" displayName="{kb}" company="Microsoft Corporation" '
            f'copyright="Microsoft Corporation" '
            f'supportInformation="https://support.microsoft.com/help/{kb[2:]}" '
            f'creationTimeStamp="2024-04-20T00:00:00Z" lastUpdateTimeStamp="2024-04-20T00:00:00Z">'
            f'{identity(name, version, language=language)}'
            f'<package identifier="{kb}" releaseType="{release_type}" restart="{restart}">'
            f'{custom}{parent}{updates}</package></assembly>')
    return BOM + text.encode("utf-8")


def rollup_parent(build_version: str = "10.0.26100.1742") -> str:
    """A 24H2-style parent with revisionCompare naming an edition package at a checkpoint."""
    return (f'<parent revisionCompare="GE" integrate="separate" disposition="detect">'
            f'<assemblyIdentity name="Microsoft-Windows-ProfessionalEdition" '
            f'version="{build_version}" '
            f'processorArchitecture="amd64" language="neutral" publicKeyToken="{TOKEN}"/>'
            f'</parent>')


def legacy_parent() -> str:
    """An older parent using buildCompare/serviceCompare."""
    return ('<parent buildCompare="EQ" serviceCompare="GE" revisionCompare="GE" '
            'disposition="detect">'
            f'<assemblyIdentity name="Microsoft-Windows-Foundation-Package" version="10.0.19041.1" '
            f'processorArchitecture="amd64" language="neutral" publicKeyToken="{TOKEN}"/></parent>')


PSFX = ('<customInformation PackageFormat="PSFX" PSFXVersion="2" PSFXDeltaFormat="ForwardOnly" '
        'Version="10.0.26100.3476"/>')

_OID_CTL = "1.3.6.1.4.1.311.10.1"


class _SubjectUsage(core.SequenceOf):  # type: ignore[misc]
    _child_spec = core.ObjectIdentifier


def _der_tlv(tag: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + payload


def make_catalog(files: dict[str, bytes]) -> bytes:
    """A minimal, unsigned-but-structurally-real catalog: PKCS#7 SignedData over a CTL."""
    subjects = []
    for name, data in files.items():
        digest = hashlib.sha256(data).digest()
        oid = core.ObjectIdentifier("1.3.6.1.4.1.311.2.1.25").dump()
        digest_info = _der_tlv(0x30, algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
                               + core.OctetString(digest).dump())
        indirect = _der_tlv(0x30, _der_tlv(0x30, oid + _der_tlv(0x30, b"")) + digest_info)
        name_value = _der_tlv(0x30, core.BMPString("File").dump()
                              + core.Integer(0x10010001).dump()
                              + core.OctetString((name + "\x00").encode("utf-16-le")).dump())
        attrs = (_der_tlv(0x30, core.ObjectIdentifier("1.3.6.1.4.1.311.2.1.4").dump()
                          + _der_tlv(0x31, indirect))
                 + _der_tlv(0x30, core.ObjectIdentifier("1.3.6.1.4.1.311.12.2.1").dump()
                            + _der_tlv(0x31, name_value)))
        subjects.append(_der_tlv(0x30, core.OctetString(
            digest.hex().upper().encode("utf-16-le")).dump() + _der_tlv(0x31, attrs)))
    ctl = _der_tlv(0x30,
                   _SubjectUsage(["1.3.6.1.4.1.311.12.1.1"]).dump()
                   + core.OctetString(b"\x01" * 16).dump()
                   + core.UTCTime(dt.datetime(2024, 4, 20, tzinfo=dt.timezone.utc)).dump()
                   + algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
                   + _der_tlv(0x30, b"".join(subjects)))
    encap = _der_tlv(0x30, core.ObjectIdentifier(_OID_CTL).dump() + _der_tlv(0xA0, ctl))
    signed = _der_tlv(0x30, core.Integer(1).dump() + _der_tlv(0x31, b"") + encap
                      + _der_tlv(0x31, b""))
    return _der_tlv(0x30, core.ObjectIdentifier("1.2.840.113549.1.7.2").dump()
                    + _der_tlv(0xA0, signed))


def package_cab(kb: str = "KB5036893", *, rollup: bool = False, with_nested: bool = False,
                release_type: str = "Security Update", name: str | None = None) -> bytes:
    """A package CAB: update.mum, a component manifest, payload, a .cat, optionally a nested CAB."""
    comp = "Microsoft-Windows-Notepad"
    version = "10.0.26100.3476"
    payload = {
        f"amd64_{comp.lower()}_{TOKEN}_{version}_none_0123456789abcdef\\notepad.txt":
            b"notepad payload\n" * 64,
        f"amd64_{comp.lower()}_{TOKEN}_{version}_none_0123456789abcdef\\readme.ini":
            b"[x]\r\nkey=value\r\n",
    }
    manifest = component_manifest(comp, version, ["notepad.txt", "readme.ini"])
    members: dict[str, bytes] = {}
    pkg_name = name or ("Package_for_RollupFix" if rollup else f"Package_for_{kb}")
    if rollup:
        mum = update_mum(name=pkg_name, version="26100.3476.1.10", kb=kb,
                         release_type=release_type,
                         packages=[(f"Package_1_for_{kb}", "10.0.26100.3476"),
                                   (f"Package_2_for_{kb}", "10.0.26100.3476")],
                         parent=rollup_parent(), restart="required", custom=PSFX)
        members[f"Package_1_for_{kb}~{TOKEN}~amd64~~10.0.26100.3476.mum"] = update_mum(
            name=f"Package_1_for_{kb}", version="10.0.26100.3476", kb=kb,
            components=[(comp, version)], parent=rollup_parent())
    else:
        mum = update_mum(name=pkg_name, version="10.0.1.2", kb=kb, release_type=release_type,
                         components=[(comp, version)], parent=legacy_parent())
    members["update.mum"] = mum
    members[f"amd64_{comp.lower()}_{TOKEN}_{version}_none_0123456789abcdef.manifest"] = manifest
    members.update(payload)
    covered = {"update.mum": mum, **{k.replace("\\", "/"): v for k, v in payload.items()}}
    members["update.cat"] = make_catalog(covered)
    if with_nested:
        members["Nested\\inner.cab"] = make_cab({"inner\\deep.txt": b"deep file\n" * 10})
    return make_cab(members)


def pkg_properties(kb: str) -> bytes:
    """A *-pkgProperties.txt: UTF-16LE (with BOM) Key="Value" lines."""
    lines = [
        'ApplicabilityInfo="Windows 11.0;"',
        'Applies to="Security Update"',
        'Build Date="2024/04/20"',
        'Company="Microsoft Corporation"',
        'File Version="10.0.1.0"',
        'Installation Type="Security Update"',
        f'KB Article Number="{kb[2:]}"',
        'Package Type="Update"',
        'Processor Architecture="amd64"',
        'Product Name="Windows 11.0"',
        'Support Link="https://support.microsoft.com?kbid=5036893"',
    ]
    return "\ufeff".encode("utf-16-le") + "\r\n".join(lines).encode("utf-16-le")


def msu_bytes(kb: str = "KB5036893", *, ssu: bool = False, extra: dict[str, bytes] | None = None,
              inner: bytes | None = None) -> bytes:
    """An MSU: outer CAB with the package CAB, WSUSSCAN.cab, the XML and pkgProperties."""
    stem = f"Windows11.0-{kb}-x64"
    members: dict[str, bytes] = {
        f"{stem}.cab": inner if inner is not None else package_cab(kb, rollup=True),
        "WSUSSCAN.cab": make_cab({"package.xml": b"<x/>"}),
        f"{stem}-pkgProperties.txt": pkg_properties(kb),
        f"{stem}.xml": (BOM + (
            '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
            '<unattend xmlns="urn:schemas-microsoft-com:unattend"><servicing>'
            f'<package action="install"><assemblyIdentity name="Package_for_RollupFix" '
            f'version="26100.3476.1.10" processorArchitecture="amd64" language="neutral" '
            f'publicKeyToken="{TOKEN}"/><source location="%configsetroot%\\{stem}.cab"/>'
            '</package></servicing></unattend>').encode()),
    }
    if ssu:
        members["SSU-26100.3470-x64.cab"] = package_cab(
            "KB5037000", name="Package_for_ServicingStack_3470", release_type="Update")
    members.update(extra or {})
    return make_cab(members)
