"""Typed image properties parsed from a WIM's XML document."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wimcore.xmlsafe import parse_xml

if TYPE_CHECKING:
    from lxml import etree

_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)


class Arch(enum.IntEnum):
    """Processor architecture codes of WINDOWS/ARCH."""

    X86 = 0
    ARM = 5
    IA64 = 6
    X64 = 9
    ARM64 = 12

    @property
    def label(self) -> str:
        """The name DISM prints (x86, x64, arm, arm64, ia64)."""
        return self.name.lower()


def filetime_to_datetime(value: int) -> dt.datetime | None:
    """Convert a Windows FILETIME (100 ns since 1601) to an aware UTC datetime."""
    if value <= 0:
        return None
    try:
        return _FILETIME_EPOCH + dt.timedelta(microseconds=value // 10)
    except OverflowError:
        return None


PropertyLookup = Callable[[str], "str | None"]


def _int(get: PropertyLookup, path: str) -> int | None:
    value = get(path)
    if value is None:
        return None
    try:
        return int(value, 16) if value.lower().startswith("0x") else int(value)
    except ValueError:
        return None


def _time(get: PropertyLookup, path: str) -> dt.datetime | None:
    high, low = get(f"{path}/HIGHPART"), get(f"{path}/LOWPART")
    if high is None and low is None:
        return None
    try:
        return filetime_to_datetime((int(high or "0", 16) << 32) | int(low or "0", 16))
    except ValueError:
        return None


@dataclass(frozen=True)
class ImageInfo:
    """What the WIM's XML says about one image (None where the XML is silent)."""

    index: int
    name: str | None = None
    description: str | None = None
    display_name: str | None = None
    display_description: str | None = None
    flags: str | None = None
    dir_count: int | None = None
    file_count: int | None = None
    total_bytes: int | None = None
    hard_link_bytes: int | None = None
    creation_time: dt.datetime | None = None
    modification_time: dt.datetime | None = None
    arch: Arch | int | None = None
    product_name: str | None = None
    edition_id: str | None = None
    installation_type: str | None = None
    product_type: str | None = None
    product_suite: str | None = None
    version_major: int | None = None
    version_minor: int | None = None
    build: int | None = None
    sp_build: int | None = None
    sp_level: int | None = None
    languages: tuple[str, ...] = ()
    default_language: str | None = None
    system_root: str | None = None
    properties: dict[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str | None:
        """MAJOR.MINOR.BUILD.SPBUILD (e.g. 10.0.19045.3803) when the XML has it."""
        if self.build is None:
            return None
        major, minor = self.version_major or 0, self.version_minor or 0
        return f"{major}.{minor}.{self.build}.{self.sp_build or 0}"

    @property
    def arch_label(self) -> str | None:
        """x86/x64/arm/arm64, or the raw number when unknown."""
        if isinstance(self.arch, Arch):
            return self.arch.label
        return None if self.arch is None else str(self.arch)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (times as ISO 8601 strings)."""
        out: dict[str, Any] = {}
        for key, value in self.__dict__.items():
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            elif isinstance(value, Arch):
                value = value.label
            elif isinstance(value, tuple):
                value = list(value)
            out[key] = value
        out["version"] = self.version
        return out


def _flatten(node: etree._Element, prefix: str, out: dict[str, str]) -> None:
    counts: dict[str, int] = {}
    for child in node:
        if not isinstance(child.tag, str):
            continue
        counts[child.tag] = counts.get(child.tag, 0) + 1
        key = child.tag if counts[child.tag] == 1 else f"{child.tag}[{counts[child.tag]}]"
        path = f"{prefix}/{key}" if prefix else key
        if len(child):
            _flatten(child, path, out)
        elif child.text is not None:
            out[path] = child.text.strip()


def image_info(index: int, get: PropertyLookup,
               properties: dict[str, str] | None = None) -> ImageInfo:
    """Build an ImageInfo from a property lookup (``WINDOWS/VERSION/BUILD`` style paths)."""
    arch_raw = _int(get, "WINDOWS/ARCH")
    arch: Arch | int | None
    try:
        arch = Arch(arch_raw) if arch_raw is not None else None
    except ValueError:
        arch = arch_raw
    langs: list[str] = []
    for n in range(1, 65):
        lang = get(f"WINDOWS/LANGUAGES/LANGUAGE[{n}]")
        if lang is None:
            break
        if lang.strip():
            langs.append(lang.strip())
    return ImageInfo(
        index=index,
        name=get("NAME"),
        description=get("DESCRIPTION"),
        display_name=get("DISPLAYNAME"),
        display_description=get("DISPLAYDESCRIPTION"),
        flags=get("FLAGS"),
        dir_count=_int(get, "DIRCOUNT"),
        file_count=_int(get, "FILECOUNT"),
        total_bytes=_int(get, "TOTALBYTES"),
        hard_link_bytes=_int(get, "HARDLINKBYTES"),
        creation_time=_time(get, "CREATIONTIME"),
        modification_time=_time(get, "LASTMODIFICATIONTIME"),
        arch=arch,
        product_name=get("WINDOWS/PRODUCTNAME"),
        edition_id=get("WINDOWS/EDITIONID"),
        installation_type=get("WINDOWS/INSTALLATIONTYPE"),
        product_type=get("WINDOWS/PRODUCTTYPE"),
        product_suite=get("WINDOWS/PRODUCTSUITE"),
        version_major=_int(get, "WINDOWS/VERSION/MAJOR"),
        version_minor=_int(get, "WINDOWS/VERSION/MINOR"),
        build=_int(get, "WINDOWS/VERSION/BUILD"),
        sp_build=_int(get, "WINDOWS/VERSION/SPBUILD"),
        sp_level=_int(get, "WINDOWS/VERSION/SPLEVEL"),
        languages=tuple(langs),
        default_language=get("WINDOWS/LANGUAGES/DEFAULT"),
        system_root=get("WINDOWS/SYSTEMROOT"),
        properties=dict(properties or {}),
    )


def parse_image(node: etree._Element, index: int) -> ImageInfo:
    """Build an ImageInfo from one <IMAGE> element."""

    def get(path: str) -> str | None:
        found = node.find(path)
        if found is None or found.text is None:
            return None
        return found.text.strip()

    props: dict[str, str] = {}
    _flatten(node, "", props)
    return image_info(index, get, props)


def parse_wim_xml(data: bytes) -> dict[int, ImageInfo]:
    """Parse a whole WIM XML document (UTF-16LE as stored, or UTF-8) into infos by index."""
    root = parse_xml(data, source="WIM XML")
    infos: dict[int, ImageInfo] = {}
    for position, node in enumerate(root.findall("IMAGE"), start=1):
        raw = node.get("INDEX")
        index = int(raw) if raw and raw.isdigit() else position
        infos[index] = parse_image(node, index)
    return infos
