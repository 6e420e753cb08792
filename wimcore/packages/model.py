"""The package model: ``update.mum`` and component manifests parsed into a ``Package``.

Parsing goes through :func:`wimcore.xmlsafe.parse_xml` (no entities, no DTD, bounded
size and depth). Namespaces are matched by local name, so both the asm.v3 namespace
and namespace-less files read the same; a UTF-8 BOM and ``standalone="yes"`` are fine.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from wimcore.packages.errors import ManifestError
from wimcore.xmlsafe import local, parse_xml

ASM_V3 = "urn:schemas-microsoft-com:asm.v3"
_KB = re.compile(r"KB(\d{6,8})", re.IGNORECASE)


class PackageKind(enum.Enum):
    """What role an update package plays when servicing an image."""

    SERVICING_STACK = "servicing-stack"
    CUMULATIVE_UPDATE = "cumulative-update"
    SAFE_OS = "safe-os"
    SETUP_DYNAMIC_UPDATE = "setup-dynamic-update"
    DOTNET = "dotnet"
    LANGUAGE_PACK = "language-pack"
    FEATURE_ON_DEMAND = "feature-on-demand"
    OTHER = "other"


@dataclass(frozen=True)
class Identity:
    """An assembly identity: name, public key token, architecture, language, version."""

    name: str
    version: str = ""
    arch: str = ""
    language: str = ""
    public_key_token: str = ""
    build_type: str | None = None
    version_scope: str | None = None

    @property
    def key(self) -> str:
        """The package identity string ``Name~Token~Arch~Lang~Version`` (neutral → empty)."""
        lang = "" if self.language.lower() == "neutral" else self.language
        return "~".join((self.name, self.public_key_token, self.arch, lang, self.version))

    @property
    def version_tuple(self) -> tuple[int, ...]:
        """The dotted version as integers (non-numeric parts count as 0)."""
        return tuple(int(p) if p.isdigit() else 0 for p in self.version.split(".") if p)

    @classmethod
    def from_element(cls, elem: etree._Element) -> Identity:
        """Read an ``assemblyIdentity`` element."""
        name = elem.get("name")
        if not name:
            raise ManifestError("assemblyIdentity without a name")
        return cls(name=name, version=elem.get("version", ""),
                   arch=elem.get("processorArchitecture", ""),
                   language=elem.get("language", ""),
                   public_key_token=elem.get("publicKeyToken", ""),
                   build_type=elem.get("buildType"), version_scope=elem.get("versionScope"))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"name": self.name, "version": self.version, "arch": self.arch,
                "language": self.language, "public_key_token": self.public_key_token,
                "key": self.key}


@dataclass(frozen=True)
class Parent:
    """An applicability condition: the parent package(s) and how versions must compare."""

    identities: tuple[Identity, ...]
    build_compare: str | None = None
    service_compare: str | None = None
    revision_compare: str | None = None
    disposition: str | None = None
    integrate: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"identities": [i.to_dict() for i in self.identities],
                "build_compare": self.build_compare, "service_compare": self.service_compare,
                "revision_compare": self.revision_compare, "disposition": self.disposition,
                "integrate": self.integrate}


@dataclass(frozen=True)
class UpdateEntry:
    """One ``package/update`` child: a component or a (sub-)package the package installs."""

    name: str
    kind: str  # "component" | "package" | "driver" | other element name
    identity: Identity
    integrate: str | None = None
    contained: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"name": self.name, "kind": self.kind, "identity": self.identity.to_dict(),
                "integrate": self.integrate, "contained": self.contained}


@dataclass(frozen=True)
class ManifestFile:
    """A file a component manifest brings: its name, where it goes, and its hash if given.

    ``digest`` is the raw hash from ``<asmv2:hash>`` (``DigestValue``), ``algorithm`` its
    hashlib name (``sha256``, ``sha1``) and ``transform`` the hash transform's URI; only
    the identity transform hashes the file's bytes as they are.
    """

    name: str
    destination: str | None = None
    source_name: str | None = None
    digest: bytes | None = None
    algorithm: str | None = None
    transform: str | None = None

    @property
    def flat_hash(self) -> bool:
        """True when ``digest`` is a plain hash of the file's bytes (identity transform)."""
        return (self.digest is not None and self.algorithm is not None
                and (self.transform is None or self.transform.endswith(".Identity")))


@dataclass(frozen=True)
class ComponentManifest:
    """A component manifest (``*.manifest``): identity and files."""

    identity: Identity
    files: tuple[ManifestFile, ...]
    path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"identity": self.identity.to_dict(), "path": self.path,
                "files": [{"name": f.name, "destination": f.destination} for f in self.files]}


@dataclass
class Package:
    """An update package as its ``update.mum`` describes it (plus pkgProperties and manifests)."""

    identity: Identity
    kb: str | None
    release_type: str | None
    kind: PackageKind
    restart: str | None = None
    description: str | None = None
    parents: list[Parent] = field(default_factory=list)
    updates: list[UpdateEntry] = field(default_factory=list)
    custom_information: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    components: list[ComponentManifest] = field(default_factory=list)
    sub_packages: list[Package] = field(default_factory=list)
    path: str | None = None

    @property
    def key(self) -> str:
        """The identity string ``Name~Token~Arch~Lang~Version``."""
        return self.identity.key

    @property
    def is_psfx(self) -> bool:
        """True for PSFX-format packages (24H2-style LCUs with ``customInformation``)."""
        return self.custom_information.get("PackageFormat", "").upper() == "PSFX"

    @property
    def restart_required(self) -> bool:
        """True when the manifest says a restart is required."""
        return (self.restart or "").lower() == "required"

    @property
    def updated_components(self) -> list[UpdateEntry]:
        """The component entries of ``package/update``."""
        return [u for u in self.updates if u.kind == "component"]

    @property
    def updated_packages(self) -> list[UpdateEntry]:
        """The (sub-)package entries of ``package/update``."""
        return [u for u in self.updates if u.kind == "package"]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "identity": self.identity.to_dict(), "key": self.key, "kb": self.kb,
            "release_type": self.release_type, "kind": self.kind.value,
            "restart": self.restart, "restart_required": self.restart_required,
            "description": self.description,
            "parents": [p.to_dict() for p in self.parents],
            "updates": [u.to_dict() for u in self.updates],
            "custom_information": dict(self.custom_information), "psfx": self.is_psfx,
            "properties": dict(self.properties),
            "components": [c.to_dict() for c in self.components],
            "sub_packages": [p.to_dict() for p in self.sub_packages],
            "path": self.path,
        }


def cu_target(identity: Identity, custom: dict[str, str] | None = None) -> tuple[int, int] | None:
    """(build, revision) a cumulative update brings an image to, from its version.

    ``customInformation@Version`` (``10.0.26100.3476``) wins over the identity's version
    (``26100.3476.1.10`` or ``10.0.19041.3930``).
    """
    version = (custom or {}).get("Version") or identity.version
    parts = tuple(int(p) if p.isdigit() else 0 for p in version.split(".") if p)
    if len(parts) >= 4 and parts[0] == 10 and parts[1] == 0:
        return parts[2], parts[3]
    if len(parts) >= 2 and parts[0] > 100:
        return parts[0], parts[1]
    return None


def _child(elem: etree._Element, name: str) -> etree._Element | None:
    return next((c for c in elem if local(c.tag) == name), None)


def _kb_of(*texts: str | None) -> str | None:
    for text in texts:
        if text:
            m = _KB.search(text)
            if m:
                return f"KB{m.group(1)}"
    return None


def classify(identity: Identity, release_type: str | None,
             properties: dict[str, str] | None = None) -> PackageKind:
    """Decide a package's kind from its identity name, release type and pkgProperties."""
    name = identity.name.lower()
    rtype = (release_type or "").lower()
    props = {k.lower(): v.lower() for k, v in (properties or {}).items()}
    ptype = " ".join(props.get(k, "") for k in ("package type", "installation type",
                                                  "applies to", "product name"))
    if "servicingstack" in name or "servicing stack" in ptype:
        return PackageKind.SERVICING_STACK
    if "safeos" in name or "winre" in name or "safe os" in ptype:
        return PackageKind.SAFE_OS
    if "setupdu" in name or "setup dynamic" in ptype or "setupupdate" in name:
        return PackageKind.SETUP_DYNAMIC_UPDATE
    if "netfx" in name or ".net" in ptype or "dotnet" in name:
        return PackageKind.DOTNET
    if rtype == "language pack" or "languagepack" in name or "client-languagepack" in name:
        return PackageKind.LANGUAGE_PACK
    if rtype in ("on demand pack", "feature pack") or "featureondemand" in name:
        return PackageKind.FEATURE_ON_DEMAND
    if "rollupfix" in name or "cumulative" in ptype:
        return PackageKind.CUMULATIVE_UPDATE
    return PackageKind.OTHER


def parse_mum(data: bytes, *, source: str = "update.mum",
              properties: dict[str, str] | None = None) -> Package:
    """Parse an ``update.mum`` (or any package ``.mum``) into a :class:`Package`."""
    root = parse_xml(data, source=source, max_bytes=32 * 1024 * 1024)
    if local(root.tag) != "assembly":
        raise ManifestError(f"{source}: root element is <{local(root.tag)}>, not <assembly>")
    ident_elem = _child(root, "assemblyIdentity")
    pkg = _child(root, "package")
    if ident_elem is None or pkg is None:
        raise ManifestError(f"{source}: not a package manifest (needs assemblyIdentity and "
                            "package)")
    try:
        identity = Identity.from_element(ident_elem)
    except ManifestError as exc:
        raise ManifestError(f"{source}: {exc}") from None
    parents: list[Parent] = []
    updates: list[UpdateEntry] = []
    custom: dict[str, str] = {}
    for child in pkg:
        tag = local(child.tag)
        if tag == "parent":
            ids = tuple(Identity.from_element(a) for a in child
                        if local(a.tag) == "assemblyIdentity")
            parents.append(Parent(ids, child.get("buildCompare"), child.get("serviceCompare"),
                                  child.get("revisionCompare"), child.get("disposition"),
                                  child.get("integrate")))
        elif tag == "update":
            for inner in child:
                kind = local(inner.tag)
                ident = _child(inner, "assemblyIdentity")
                if not kind or ident is None:
                    continue
                updates.append(UpdateEntry(child.get("name") or ident.get("name") or "", kind,
                                           Identity.from_element(ident), inner.get("integrate"),
                                           inner.get("contained") or child.get("contained")))
        elif tag == "customInformation":
            custom.update({str(k): str(v) for k, v in child.attrib.items()})
            for sub in child:
                if local(sub.tag) and (sub.text or "").strip():
                    custom[local(sub.tag)] = (sub.text or "").strip()
    identifier = pkg.get("identifier")
    release_type = pkg.get("releaseType")
    props = dict(properties or {})
    kb = (_kb_of(identifier, identity.name, root.get("displayName"))
          or _kb_of(f"KB{props.get('KB Article Number', '')}"))
    return Package(
        identity=identity, kb=kb, release_type=release_type,
        kind=classify(identity, release_type, props), restart=pkg.get("restart"),
        description=root.get("description"), parents=parents, updates=updates,
        custom_information=custom, properties=props, path=source)


def parse_component_manifest(data: bytes, *, source: str = "manifest") -> ComponentManifest:
    """Parse a component manifest: its identity and the files it brings."""
    root = parse_xml(data, source=source, max_bytes=32 * 1024 * 1024)
    ident = _child(root, "assemblyIdentity")
    if local(root.tag) != "assembly" or ident is None:
        raise ManifestError(f"{source}: not a component manifest")
    files = tuple(_manifest_file(f) for f in root if local(f.tag) == "file" and f.get("name"))
    return ComponentManifest(Identity.from_element(ident), files, source)


#: xmldsig DigestMethod URIs -> hashlib names.
_DIGEST_METHODS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "sha1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2000/09/xmldsig#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}


def _manifest_file(elem: etree._Element) -> ManifestFile:
    """One ``<file>`` of a component manifest, with its ``<asmv2:hash>`` when present."""
    digest: bytes | None = None
    algorithm: str | None = None
    transform: str | None = None
    hash_elem = _child(elem, "hash")
    if hash_elem is not None:
        for node in hash_elem.iter():
            tag = local(node.tag)
            if tag == "Transform" and transform is None:
                transform = node.get("Algorithm")
            elif tag == "DigestMethod":
                method = node.get("Algorithm") or ""
                algorithm = _DIGEST_METHODS.get(method) or method.rsplit("#", 1)[-1] or None
            elif tag == "DigestValue" and (node.text or "").strip():
                try:
                    digest = base64.b64decode((node.text or "").strip(), validate=True)
                except (ValueError, binascii.Error):
                    raise ManifestError(f"file {elem.get('name')}: DigestValue is not "
                                        "base64") from None
    return ManifestFile(elem.get("name", ""), elem.get("destinationPath"),
                        elem.get("sourceName"), digest, algorithm, transform)


def load_package(folder: str | Path, *, properties: dict[str, str] | None = None) -> Package:
    """Read an expanded package folder: update.mum, sibling ``*.mum`` and ``*.manifest`` files."""
    root = Path(folder)
    mum = root / "update.mum"
    if not mum.is_file():
        mums = sorted(root.glob("*.mum"))
        if not mums:
            raise ManifestError(f"{root}: no update.mum")
        mum = mums[0]
    package = parse_mum(mum.read_bytes(), source=str(mum), properties=properties)
    for other in sorted(root.glob("*.mum")):
        if other != mum:
            package.sub_packages.append(parse_mum(other.read_bytes(), source=str(other)))
    for manifest in sorted(root.glob("*.manifest")):
        data = manifest.read_bytes()
        if data[:4] == b"DCM\x01":  # MSDelta-compressed manifest: needs a delta decoder
            continue
        package.components.append(parse_component_manifest(data, source=str(manifest)))
    return package
