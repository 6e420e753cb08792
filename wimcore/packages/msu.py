"""Read an MSU's metadata: ``*-pkgProperties.txt`` (UTF-16LE Key="Value") and its ``*.xml``."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from typing import Any

_LINE = re.compile(r'^\s*([^=]+?)\s*=\s*"(.*)"\s*$')


def decode_text(data: bytes) -> str:
    """Decode a small text file: UTF-16 by BOM (or NUL pattern), else UTF-8 (BOM tolerated)."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    if len(data) >= 2 and data[1:2] == b"\x00" and data[0:1] != b"\x00":
        return data.decode("utf-16-le", errors="replace")
    return data.decode("utf-8-sig", errors="replace")


def parse_pkg_properties(data: bytes) -> dict[str, str]:
    """Parse ``Key="Value"`` lines (ApplicabilityInfo, KB Article Number, ...) into a dict."""
    props: dict[str, str] = {}
    for line in decode_text(data).splitlines():
        m = _LINE.match(line)
        if m:
            props[m.group(1)] = m.group(2)
    return props


@dataclass(frozen=True)
class MsuPackageRef:
    """One package the MSU's XML names: its identity attributes and source location."""

    identity: dict[str, str]
    action: str | None = None
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"identity": dict(self.identity), "action": self.action, "source": self.source}


@dataclass
class MsuMetadata:
    """What an MSU says about itself beside its package CABs."""

    properties: dict[str, str] = field(default_factory=dict)
    packages: list[MsuPackageRef] = field(default_factory=list)

    @property
    def kb(self) -> str | None:
        """The KB number from ``KB Article Number`` ("KB" + digits), when present."""
        number = self.properties.get("KB Article Number", "").strip()
        if not number:
            return None
        return number if number.upper().startswith("KB") else f"KB{number}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kb": self.kb, "properties": dict(self.properties),
                "packages": [p.to_dict() for p in self.packages]}


def parse_msu_xml(data: bytes, *, source: str = "MSU XML") -> list[MsuPackageRef]:
    """The ``<package>`` entries of an MSU's unattend-style XML (identity, action, source)."""
    from wimcore.xmlsafe import local, parse_xml  # lxml only when an XML is read

    root = parse_xml(data, source=source, max_bytes=16 * 1024 * 1024)
    refs: list[MsuPackageRef] = []
    for pkg in root.iter():
        if local(pkg.tag) != "package":
            continue
        ident: dict[str, str] = {}
        where: str | None = None
        for child in pkg:
            name = local(child.tag)
            if name == "assemblyIdentity":
                ident = {str(k): str(v) for k, v in child.attrib.items()}
            elif name == "source":
                where = child.get("location")
        refs.append(MsuPackageRef(ident, pkg.get("action"), where))
    return refs
