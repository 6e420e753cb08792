"""Describe a package without expanding its payload: MSU, CAB, expanded folder or update.mum.

Only metadata members (``*.mum``, ``*.manifest``, the MSU's XML and pkgProperties)
are extracted, to a private temporary directory that is removed afterwards.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.packages.cab import Cabinet
from wimcore.packages.errors import PackageError
from wimcore.packages.expand import SCAN_CAB, sniff
from wimcore.packages.model import Package, load_package, parse_mum
from wimcore.packages.msu import MsuMetadata, parse_msu_xml, parse_pkg_properties


@dataclass
class Inspection:
    """What a package is: its format, MSU metadata and the packages it holds."""

    source: Path
    format: str
    packages: list[Package] = field(default_factory=list)
    msu: MsuMetadata | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"source": str(self.source), "format": self.format,
                "msu": self.msu.to_dict() if self.msu else None,
                "packages": [p.to_dict() for p in self.packages], "notes": list(self.notes)}

    def summary(self) -> list[str]:
        """Readable lines: one block per package."""
        lines = [f"{self.source} ({self.format})"]
        if self.msu and self.msu.kb:
            lines.append(f"  KB: {self.msu.kb}")
        for p in self.packages:
            lines.append(f"  {p.key}")
            lines.append(f"    kind: {p.kind.value}  KB: {p.kb or '-'}  "
                         f"release type: {p.release_type or '-'}  restart: {p.restart or '-'}")
            for parent in p.parents:
                cmp = "/".join(x for x in (parent.build_compare, parent.service_compare,
                                            parent.revision_compare) if x) or "-"
                for ident in parent.identities:
                    lines.append(f"    applies to: {ident.key} ({cmp})")
            lines.append(f"    updates: {len(p.updated_components)} component(s), "
                         f"{len(p.updated_packages)} package(s)"
                         + ("  [PSFX]" if p.is_psfx else ""))
        lines.extend(f"  note: {n}" for n in self.notes)
        return lines


_META_SUFFIXES = (".mum", ".manifest")


def _metadata_of_cab(cab: Path, scratch: Path, properties: dict[str, str]) -> Package:
    """Extract only top-level metadata members of a package CAB and load them."""
    with Cabinet(cab) as c:
        wanted = [m for m in c.members if "/" not in m.name
                  and m.name.lower().endswith(_META_SUFFIXES)]
        if not any(m.name.lower().endswith(".mum") for m in wanted):
            raise PackageError(f"{cab.name}: no update.mum in this cabinet")
        out = Path(tempfile.mkdtemp(dir=scratch))
        c.extract(out, wanted)
    return load_package(out, properties=properties)


def inspect_package(path: str | Path) -> Inspection:
    """Describe an MSU, a package CAB, an expanded package folder or a ``.mum`` file."""
    source = Path(path)
    if source.is_dir():
        return _inspect_folder(source)
    if not source.is_file():
        raise PackageError(f"{source}: no such file or folder")
    if source.suffix.lower() == ".mum":
        return Inspection(source, "mum", [parse_mum(source.read_bytes(), source=str(source))])
    fmt = sniff(source)
    if fmt == "wim":
        return Inspection(source, "wim", [wim_container_package(source)])
    with tempfile.TemporaryDirectory(prefix="wimcore-inspect-") as tmp:
        scratch = Path(tmp)
        with Cabinet(source) as c:
            names = [m.name for m in c.members]
            if any(n.lower() == "update.mum" for n in names):
                return Inspection(source, "cab", [_metadata_of_cab(source, scratch, {})])
            top = [m for m in c.members if "/" not in m.name]
            c.extract(scratch / "msu", [m for m in top if m.name.lower().endswith(
                ("-pkgproperties.txt", ".xml", ".cab", ".wim"))])
        result = Inspection(source, "msu", msu=MsuMetadata())
        assert result.msu is not None
        outer = scratch / "msu"
        for f in sorted(outer.iterdir()) if outer.is_dir() else []:
            low = f.name.lower()
            if low.endswith("-pkgproperties.txt"):
                result.msu.properties.update(parse_pkg_properties(f.read_bytes()))
            elif low.endswith(".xml"):
                result.msu.packages.extend(parse_msu_xml(f.read_bytes(), source=f.name))
        for f in sorted(outer.iterdir()) if outer.is_dir() else []:
            low = f.name.lower()
            if low == SCAN_CAB:
                continue
            if low.endswith(".cab"):
                props = result.msu.properties if not low.startswith("ssu-") else {}
                result.packages.append(_metadata_of_cab(f, scratch, props))
            elif low.endswith(".wim"):
                props = result.msu.properties if not low.startswith("ssu-") else {}
                result.packages.append(wim_container_package(f, properties=props))
        return result


def wim_container_package(path: Path, *, properties: dict[str, str] | None = None) -> Package:
    """The package of a WIM container (24H2-style LCU): its root ``update.mum``, read in place."""
    import wimcore

    with wimcore.open(path) as wim:
        try:
            data = wim.images[1].read_bytes("/update.mum")
        except LookupError:
            raise PackageError(f"{path.name}: a WIM without update.mum at its root is not "
                               "a WIM-container package") from None
    return parse_mum(data, source=f"{path}:update.mum", properties=properties)


def _inspect_folder(folder: Path) -> Inspection:
    """An expanded package folder, or an expanded MSU folder holding package subfolders."""
    if (folder / "update.mum").is_file():
        return Inspection(folder, "folder", [load_package(folder)])
    msu = MsuMetadata()
    for f in sorted(folder.iterdir()):
        if f.is_file() and f.name.lower().endswith("-pkgproperties.txt"):
            msu.properties.update(parse_pkg_properties(f.read_bytes()))
        elif f.is_file() and f.name.lower().endswith(".xml"):
            msu.packages.extend(parse_msu_xml(f.read_bytes(), source=f.name))
    packages = [load_package(d, properties=msu.properties if not d.name.lower().startswith("ssu-")
                             else {})
                for d in sorted(folder.iterdir()) if d.is_dir() and (d / "update.mum").is_file()]
    if not packages:
        raise PackageError(f"{folder}: no update.mum here or in its subfolders")
    return Inspection(folder, "folder", packages, msu if msu.properties or msu.packages else None)
