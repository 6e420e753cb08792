"""Synthetic, schema-faithful Windows update packages (update.mum, .cat, CAB, MSU) for the sample.

Everything here is made by wimcore from scratch, deterministically, so that the sample
media and its ``updates/`` folder can be rebuilt anywhere without Microsoft files.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

TOKEN = "31bf3856ad364e35"
ASM_NS = "urn:schemas-microsoft-com:asm.v3"
BOM = b"\xef\xbb\xbf"
CAB_TIME = dt.datetime(2024, 10, 1, 10, 0, 0)


def identity_xml(name: str, version: str, *, language: str = "neutral", arch: str = "amd64",
                 extra: str = "") -> str:
    """One ``assemblyIdentity`` element."""
    return (f'<assemblyIdentity name="{name}" version="{version}" '
            f'processorArchitecture="{arch}" language="{language}" '
            f'publicKeyToken="{TOKEN}"{extra}/>')


def package_key(name: str, version: str, arch: str = "amd64") -> str:
    """The CBS identity string ``Name~Token~Arch~~Version`` (neutral language)."""
    return f"{name}~{TOKEN}~{arch}~~{version}"


@dataclass(frozen=True)
class ParentRef:
    """An applicability parent: package names at a version, with a revision comparison."""

    names: tuple[str, ...]
    version: str
    revision_compare: str = "GE"


@dataclass
class MumSpec:
    """What an update.mum says: identity, KB, release type, parent, components, sub-packages."""

    name: str
    version: str
    kb: str
    release_type: str = "Update"
    restart: str = "possible"
    parent: ParentRef | None = None
    components: Sequence[tuple[str, str]] = ()
    packages: Sequence[tuple[str, str]] = ()
    psfx_version: str | None = None
    contained_packages: Sequence[tuple[str, str]] = ()


def mum_bytes(spec: MumSpec) -> bytes:
    """An ``update.mum`` (or any package ``.mum``) with a UTF-8 BOM and ``standalone="yes"``."""
    parts: list[str] = []
    if spec.psfx_version:
        parts.append(f'<customInformation PackageFormat="PSFX" PSFXVersion="2" '
                     f'PSFXDeltaFormat="ForwardOnly" Version="{spec.psfx_version}"/>')
    if spec.parent is not None:
        ids = "".join(identity_xml(n, spec.parent.version) for n in spec.parent.names)
        parts.append(f'<parent revisionCompare="{spec.parent.revision_compare}" '
                     f'integrate="separate" disposition="detect">{ids}</parent>')
    for cname, cver in spec.components:
        ident = identity_xml(cname, cver, extra=' buildType="release" versionScope="nonSxS"')
        parts.append(f'<update name="{cname}"><component>{ident}</component></update>')
    for pname, pver in spec.packages:
        ident = identity_xml(pname, pver, language="")
        parts.append(f'<update name="{pname}"><package integrate="hidden">{ident}'
                     f'</package></update>')
    for pname, pver in spec.contained_packages:
        ident = identity_xml(pname, pver)
        parts.append(f'<update name="{pname}"><package contained="false">{ident}'
                     f'</package></update>')
    number = spec.kb[2:] if spec.kb.upper().startswith("KB") else spec.kb
    text = ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\r\n'
            f'<assembly xmlns="{ASM_NS}" manifestVersion="1.0" '
            f'description="Fix for {spec.kb}" displayName="{spec.kb}" '
            'company="Microsoft Corporation" copyright="Microsoft Corporation" '
            f'supportInformation="https://support.microsoft.com/help/{number}" '
            'creationTimeStamp="2024-09-28T02:11:47Z" '
            'lastUpdateTimeStamp="2024-09-28T02:11:47Z">\r\n  '
            f'{identity_xml(spec.name, spec.version)}\r\n  '
            f'<package identifier="{spec.kb}" releaseType="{spec.release_type}" '
            f'restart="{spec.restart}">' + "".join(parts) + '</package>\r\n</assembly>')
    return BOM + text.encode("utf-8")


def file_hash_xml(data: bytes) -> str:
    """The ``<asmv2:hash>`` of a manifest ``<file>``: SHA-256 of the bytes, identity transform."""
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return ('<asmv2:hash xmlns:asmv2="urn:schemas-microsoft-com:asm.v2" '
            'xmlns:dsig="http://www.w3.org/2000/09/xmldsig#"><dsig:Transforms>'
            '<dsig:Transform Algorithm="urn:schemas-microsoft-com:HashTransforms.Identity"/>'
            '</dsig:Transforms><dsig:DigestMethod '
            'Algorithm="http://www.w3.org/2000/09/xmldsig#sha256"/>'
            f'<dsig:DigestValue>{digest}</dsig:DigestValue></asmv2:hash>')


def component_manifest(name: str, version: str, files: dict[str, bytes],
                       destination: str = "$(runtime.system32)\\") -> bytes:
    """A component manifest that projects ``files`` into ``destination``, each with its hash."""
    body = "".join(f'<file name="{f}" destinationPath="{destination}" sourceName="{f}" '
                   f'importPath="$(build.nttree)\\">{file_hash_xml(data)}</file>'
                   for f, data in files.items())
    ident = identity_xml(name, version, extra=' versionScope="nonSxS"')
    text = ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>\r\n'
            f'<assembly xmlns="{ASM_NS}" manifestVersion="1.0">{ident}{body}</assembly>')
    return BOM + text.encode("utf-8")


# -- catalogs (.cat): PKCS#7 SignedData around a certificate trust list -------------------

def _der(tag: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 0x80:
        head = bytes([size])
    else:
        raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + head + payload


def _oid(dotted: str) -> bytes:
    nums = [int(x) for x in dotted.split(".")]
    out = bytearray([40 * nums[0] + nums[1]])
    for n in nums[2:]:
        chunk = [n & 0x7F]
        n >>= 7
        while n:
            chunk.append(0x80 | (n & 0x7F))
            n >>= 7
        out.extend(reversed(chunk))
    return _der(0x06, bytes(out))


def _int(n: int) -> bytes:
    return _der(0x02, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big"))


_SHA256 = _der(0x30, _oid("2.16.840.1.101.3.4.2.1") + b"\x05\x00")


def catalog_bytes(members: dict[str, bytes]) -> bytes:
    """An unsigned catalog listing the SHA-256 of each member (name stored as an attribute)."""
    subjects = []
    for name, data in sorted(members.items()):
        digest = hashlib.sha256(data).digest()
        indirect = _der(0x30, _der(0x30, _oid("1.3.6.1.4.1.311.2.1.25") + _der(0x30, b""))
                        + _der(0x30, _SHA256 + _der(0x04, digest)))
        label = _der(0x30, _der(0x1E, "File".encode("utf-16-be")) + _int(0x10010001)
                     + _der(0x04, (name + "\x00").encode("utf-16-le")))
        attrs = (_der(0x30, _oid("1.3.6.1.4.1.311.2.1.4") + _der(0x31, indirect))
                 + _der(0x30, _oid("1.3.6.1.4.1.311.12.2.1") + _der(0x31, label)))
        tag = _der(0x04, digest.hex().upper().encode("utf-16-le"))
        subjects.append(_der(0x30, tag + _der(0x31, attrs)))
    ctl = _der(0x30, _der(0x30, _oid("1.3.6.1.4.1.311.12.1.1"))
               + _der(0x04, hashlib.md5(b"".join(subjects)).digest())
               + _der(0x17, b"240928021147Z") + _SHA256 + _der(0x30, b"".join(subjects)))
    content = _der(0x30, _oid("1.3.6.1.4.1.311.10.1") + _der(0xA0, ctl))
    signed = _der(0x30, _int(1) + _der(0x31, _SHA256) + content + _der(0x31, b""))
    return _der(0x30, _oid("1.2.840.113549.1.7.2") + _der(0xA0, signed))


# -- containers -------------------------------------------------------------------------

def cab_bytes(members: dict[str, bytes]) -> bytes:
    """An MSZIP cabinet of ``members`` (names with ``\\``), with fixed timestamps."""
    from cabarchive import CabArchive, CabFile

    arc = CabArchive()
    for name, data in members.items():
        arc[name] = CabFile(data, mtime=CAB_TIME)
    return bytes(arc.save(compress=True))


def pkg_properties(kb: str, *, package_type: str, applies_to: str) -> bytes:
    """A ``*-pkgProperties.txt``: UTF-16LE with a BOM, ``Key="Value"`` lines."""
    lines = [
        'ApplicabilityInfo="Windows 11.0;"',
        f'Applies to="{applies_to}"',
        'Build Date="2024/09/28"',
        'Company="Microsoft Corporation"',
        'File Version="10.0.1.0"',
        f'Installation Type="{package_type}"',
        f'KB Article Number="{kb[2:]}"',
        f'Package Type="{package_type}"',
        'Processor Architecture="amd64"',
        'Product Name="Windows 11.0"',
        f'Support Link="https://support.microsoft.com?kbid={kb[2:]}"',
    ]
    return "\ufeff".encode("utf-16-le") + "\r\n".join(lines).encode("utf-16-le")


def msu_bytes(kb: str, inner_name: str, inner_cab: bytes, spec: MumSpec, *,
              package_type: str, applies_to: str) -> bytes:
    """An MSU: the package CAB, ``WSUSSCAN.cab``, the unattend XML and pkgProperties."""
    stem = f"Windows11.0-{kb}-x64"
    unattend = ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
                '<unattend xmlns="urn:schemas-microsoft-com:unattend"><servicing>'
                f'<package action="install">{identity_xml(spec.name, spec.version)}'
                f'<source location="%configsetroot%\\{inner_name}"/></package>'
                '</servicing></unattend>')
    members = {
        inner_name: inner_cab,
        "WSUSSCAN.cab": cab_bytes({"package.xml": b'<OfflineSyncPackage/>'}),
        f"{stem}-pkgProperties.txt": pkg_properties(kb, package_type=package_type,
                                                    applies_to=applies_to),
        f"{stem}.xml": BOM + unattend.encode("utf-8"),
    }
    return cab_bytes(members)


@dataclass
class PackageCab:
    """A package CAB's pieces: its update.mum, sub-package .mum files, components, payload."""

    spec: MumSpec
    sub_mums: dict[str, bytes] = field(default_factory=dict)
    component_files: dict[str, dict[str, bytes]] = field(default_factory=dict)
    component_version: str = ""

    def keyform(self, comp: str) -> str:
        """The component folder name (``amd64_name_token_version_none_hash``)."""
        return (f"amd64_{comp.lower()}_{TOKEN}_{self.component_version}_none_"
                f"{hashlib.sha1(comp.encode()).hexdigest()[:16]}")

    def build(self) -> bytes:
        """The cabinet bytes: update.mum, .mum/.manifest files, payload folders, update.cat."""
        mum = mum_bytes(self.spec)
        members: dict[str, bytes] = {"update.mum": mum, **self.sub_mums}
        covered: dict[str, bytes] = {"update.mum": mum, **self.sub_mums}
        for comp, files in self.component_files.items():
            keyform = self.keyform(comp)
            manifest = component_manifest(comp, self.component_version, files)
            # As Microsoft's: the catalog covers the manifests, the manifests hash the payload.
            members[f"{keyform}.manifest"] = manifest
            covered[f"{keyform}.manifest"] = manifest
            for fname, data in files.items():
                members[f"{keyform}\\{fname}"] = data
        members["update.cat"] = catalog_bytes(covered)
        return cab_bytes(members)


# -- 24H2-style express packages (KB WIM + PSF) ------------------------------------------

#: How each payload file of an express package is stored in its PSF.
RAW, PA30, PA31_LZMS = "raw", "pa30", "pa31-lzms"


@dataclass
class ExpressPackage:
    """A 24H2-style KB package: metadata (update.mum, .mum, manifests, catalog, the PSF
    index) for the KB WIM, and the payload in a ``.psf`` made by wimcore's own encoder.

    ``storage`` says how each payload file (by file name) is stored (RAW when absent);
    ``deltas`` adds PSFX delta files (``component, "f" | "r" | "n", name`` -> bytes),
    stored as they are. The catalog covers the .mum files, the manifests and the index;
    the manifests hash the full files and the index hashes every span and file.
    """

    package: PackageCab
    psf_name: str
    storage: dict[str, str] = field(default_factory=dict)
    deltas: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    index_name: str = ""
    time: int = 0

    def build(self) -> tuple[dict[str, bytes], bytes]:
        """(members of the KB WIM, by relative path with ``/``; the PSF bytes)."""
        import io

        from wimcore.packages.psf_writer import PsfWriter, Storage

        pkg = self.package
        mum = mum_bytes(pkg.spec)
        members: dict[str, bytes] = {"update.mum": mum, **pkg.sub_mums}
        covered: dict[str, bytes] = dict(members)
        buf = io.BytesIO()
        writer = PsfWriter(buf)
        for comp, files in pkg.component_files.items():
            keyform = pkg.keyform(comp)
            manifest = component_manifest(comp, pkg.component_version, files)
            members[f"{keyform}.manifest"] = manifest
            covered[f"{keyform}.manifest"] = manifest
            for fname, data in files.items():
                writer.add(f"{keyform}\\{fname}", data,
                           Storage(self.storage.get(fname, RAW)), time=self.time)
            for (dcomp, kind, fname), blob in self.deltas.items():
                if dcomp == comp:
                    writer.add(f"{keyform}\\{kind}\\{fname}", blob, Storage.RAW,
                               time=self.time)
        index_name = self.index_name or f"{self.psf_name}.cix.xml"
        index = writer.cix(self.psf_name)
        members[index_name] = index
        covered[index_name] = index
        members["update.cat"] = catalog_bytes(covered)
        return members, buf.getvalue()


def msu_metadata_members(kb: str, spec: MumSpec, inner_name: str, *, package_type: str,
                         applies_to: str, stem: str | None = None) -> dict[str, bytes]:
    """The MSU's own metadata: WSUSSCAN.cab, the unattend XML and pkgProperties."""
    stem = stem or f"Windows11.0-{kb}-x64"
    unattend = ('<?xml version="1.0" encoding="utf-8" standalone="yes"?>'
                '<unattend xmlns="urn:schemas-microsoft-com:unattend"><servicing>'
                f'<package action="install">{identity_xml(spec.name, spec.version)}'
                f'<source location="%configsetroot%\\{inner_name}"/></package>'
                '</servicing></unattend>')
    return {
        "WSUSSCAN.cab": cab_bytes({"package.xml": b'<OfflineSyncPackage/>'}),
        f"{stem}-pkgProperties.txt": pkg_properties(kb, package_type=package_type,
                                                    applies_to=applies_to),
        f"{stem}.xml": BOM + unattend.encode("utf-8"),
    }
