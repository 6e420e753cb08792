"""Describe a package without expanding its payload: MSU (cabinet or WIM), KB package (CAB
or WIM), expanded folder or update.mum.

:func:`inspect_package` classifies the input exactly as ``plan`` does (one classifier,
:mod:`wimcore.packages.classify`) and, for express packages, counts the PSF's spans by
kind (RAW, PA30/PseudoLzx, PA31/LZMS, ...) from their bytes. Only metadata members (and,
for spans, the index and the ``.psf`` of an MSU) are extracted, to a private temporary
directory that is removed afterwards.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import ledger
from wimcore.packages.cab import Cabinet
from wimcore.packages.errors import PackageError, PackageShapeError
from wimcore.packages.expand import (
    cab_root_names,
    magic_of,
    metadata_role,
    sniff,
    wim_root_names,
)
from wimcore.packages.express import PsfReport, is_index_name, parse_index, scan_psf
from wimcore.packages.model import Package, load_package, parse_mum
from wimcore.packages.msu import MsuMetadata, parse_msu_xml, parse_pkg_properties

if TYPE_CHECKING:
    from wimcore.packages.classify import ClassifiedInput


@dataclass
class Inspection:
    """What an input is: its class (as plan sees it), format, MSU metadata, the packages
    it holds and, for express packages, the PSF's spans by kind."""

    source: Path
    format: str
    packages: list[Package] = field(default_factory=list)
    msu: MsuMetadata | None = None
    notes: list[str] = field(default_factory=list)
    inputs: list[ClassifiedInput] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    psf: list[PsfReport] = field(default_factory=list)

    @property
    def input_class(self) -> str | None:
        """The class plan gives this input (one value when every row agrees)."""
        classes = {r.input_class.value for r in self.inputs}
        return classes.pop() if len(classes) == 1 else None

    def _kind(self, p: Package) -> str:
        for row in self.inputs:
            for s in row.packages:
                if s.key == p.key:
                    return s.kind
        return p.kind.value

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"source": str(self.source), "format": self.format,
                "class": self.input_class,
                "inputs": [r.to_dict() for r in self.inputs],
                "msu": self.msu.to_dict() if self.msu else None,
                "metadata": dict(self.metadata),
                "packages": [{**p.to_dict(), "kind": self._kind(p)} for p in self.packages],
                "psf": [r.to_dict() for r in self.psf], "notes": list(self.notes)}

    def summary(self) -> list[str]:
        """Readable lines: the class, then one block per package and the PSF's spans."""
        lines = [f"{self.source} ({self.format})"]
        for row in self.inputs:
            where = "" if row.path == self.source else f"{row.path.name}: "
            lines.append(f"  {where}class: {row.input_class.value} ({row.reason})")
        if self.msu and self.msu.kb:
            lines.append(f"  KB: {self.msu.kb}")
        for name, role in self.metadata.items():
            lines.append(f"  metadata: {name} ({role})")
        for p in self.packages:
            lines.append(f"  {p.key}")
            lines.append(f"    kind: {self._kind(p)}  KB: {p.kb or '-'}  "
                         f"release type: {p.release_type or '-'}  restart: {p.restart or '-'}")
            for parent in p.parents:
                cmp = "/".join(x for x in (parent.build_compare, parent.service_compare,
                                            parent.revision_compare) if x) or "-"
                for ident in parent.identities:
                    lines.append(f"    applies to: {ident.key} ({cmp})")
            lines.append(f"    updates: {len(p.updated_components)} component(s), "
                         f"{len(p.updated_packages)} package(s)"
                         + ("  [PSFX]" if p.is_psfx else ""))
        for report in self.psf:
            lines.extend("  " + line for line in report.lines())
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


class _Spans:
    """Where the PSF index and payload of each package were found (for the span count)."""

    def __init__(self) -> None:
        self.found: list[tuple[bytes, str, list[Path]]] = []  # (index, index name, psf dirs)


def _index_of_cab(cab: Path, scratch: Path) -> tuple[bytes, str] | None:
    with Cabinet(cab) as c:
        names = [m.name for m in c.members if "/" not in m.name and is_index_name(m.name)]
        if not names:
            return None
        return c.read(names[0], scratch), names[0]


def _index_of_wim(wim: Path) -> tuple[bytes, str] | None:
    import wimcore

    with wimcore.open(wim) as w:
        names = [e.name for e in w.images[1].listdir("/") if is_index_name(e.name)]
        if not names:
            return None
        return w.images[1].read_bytes("/" + names[0]), names[0]


def describe_package(path: str | Path, *, spans: bool = False) -> Inspection:
    """Describe an MSU, a KB package (CAB or WIM), an expanded folder or a ``.mum`` file.

    ``spans``: also count the PSF's spans by kind (extracts an MSU's ``.psf`` to a
    temporary folder). No classification: :func:`inspect_package` adds it.
    """
    source = Path(path)
    if source.is_dir():
        return _inspect_folder(source)
    if not source.is_file():
        raise PackageError(f"{source}: no such file or folder")
    if source.suffix.lower() == ".mum":
        return Inspection(source, "mum", [parse_mum(source.read_bytes(), source=str(source))])
    fmt = sniff(source)
    found = _Spans()
    with tempfile.TemporaryDirectory(prefix="wimcore-inspect-") as tmp:
        ledger.note_ignore(tmp)  # scratch: expansions here are not changes
        scratch = Path(tmp)
        names = cab_root_names(source) if fmt == "cab" else wim_root_names(source)
        top = [n for n in names if "/" not in n]
        if any(n.lower() == "update.mum" for n in top):
            if fmt == "cab":
                result = Inspection(source, "cab", [_metadata_of_cab(source, scratch, {})])
                index = _index_of_cab(source, scratch) if spans else None
            else:
                result = Inspection(source, "wim", [wim_container_package(source)])
                index = _index_of_wim(source) if spans else None
            if index is not None:
                found.found.append((*index, [source.parent]))
            result.psf = _count_spans(found, source.stem, result) if spans else []
            return result
        result = _inspect_msu(source, fmt, top, scratch, spans, found)
        if spans:
            result.psf = _count_spans(found, "", result)
        return result


def _inspect_msu(source: Path, fmt: str, top: list[str], scratch: Path, spans: bool,
                 found: _Spans) -> Inspection:
    """An MSU (cabinet or WIM): its metadata files, metadata members and packages."""
    outer = scratch / "msu"
    want = ("-pkgproperties.txt", ".xml", ".cab", ".wim", ".esd", *((".psf",) if spans else ()))
    chosen = [n for n in top if n.lower().endswith(want)]
    if fmt == "cab":
        with Cabinet(source) as c:
            c.extract(outer, [m for m in c.members if m.name in chosen])
    elif chosen:
        import wimcore

        with wimcore.open(source) as w:
            w.images[1].extract(["/" + n for n in chosen], outer,
                                preserve_dir_structure=False)
    if not outer.is_dir() or not any(outer.iterdir()):
        raise PackageShapeError(f"{source.name}: a {'cabinet' if fmt == 'cab' else 'WIM'} "
                                "without update.mum and without package members "
                                f"(found: {', '.join(sorted(top)[:6]) or 'nothing'})",
                                found="neither a package nor an MSU")
    result = Inspection(source, "msu", msu=MsuMetadata())
    assert result.msu is not None
    files = sorted(outer.iterdir())
    for f in files:
        low = f.name.lower()
        if low.endswith("-pkgproperties.txt"):
            result.msu.properties.update(parse_pkg_properties(f.read_bytes()))
        elif low.endswith(".xml"):
            result.msu.packages.extend(parse_msu_xml(f.read_bytes(), source=f.name))
    for f in files:
        kind = magic_of(f) if f.is_file() else None
        if kind is None:
            continue
        inner = cab_root_names(f) if kind == "cab" else wim_root_names(f)
        if not any(n.lower() == "update.mum" for n in inner if "/" not in n):
            role = metadata_role(f.name, kind)
            if role is None:
                raise PackageShapeError(
                    f"{source.name}: member {f.name} is a "
                    f"{'cabinet' if kind == 'cab' else 'WIM'} without update.mum and not a "
                    "known metadata member", found=f"{f.name}: a {kind.upper()} without "
                                                   "update.mum")
            result.metadata[f.name] = role
            continue
        props = result.msu.properties if not _is_ssu_name(f.name) else {}
        if kind == "cab":
            result.packages.append(_metadata_of_cab(f, scratch, props))
            index = _index_of_cab(f, scratch) if spans else None
        else:
            result.packages.append(wim_container_package(f, properties=props))
            index = _index_of_wim(f) if spans else None
        if index is not None:
            found.found.append((*index, [outer]))
    if not result.packages:
        raise PackageShapeError(f"{source.name}: an MSU without package members",
                                found="an MSU without packages")
    return result


def _is_ssu_name(name: str) -> bool:
    return name.lower().startswith("ssu-")


def _count_spans(found: _Spans, stem: str, result: Inspection) -> list[PsfReport]:
    """Count each found index's spans in its .psf (a note when the .psf is absent)."""
    reports: list[PsfReport] = []
    for data, name, dirs in found.found:
        files = parse_index(data, source=name)
        psf = _psf_beside(dirs, name, stem)
        if psf is None:
            result.notes.append(f"{name}: no .psf payload beside the package; expanding it "
                                "would fail")
            continue
        reports.append(scan_psf(files, psf, index_name=name))
    return reports


def _psf_beside(dirs: list[Path], index_name: str, stem: str) -> Path | None:
    psfs = [p for d in dirs if d.is_dir() for p in sorted(d.iterdir())
            if p.is_file() and p.suffix.lower() == ".psf"]
    for p in psfs:
        if stem and p.stem.lower() == stem.lower():
            return p
    kb = index_name.lower().removesuffix(".psf.cix.xml")
    for p in psfs:
        if p.stem.lower() == kb:
            return p
    return psfs[0] if len(psfs) == 1 and not stem else None


def inspect_package(path: str | os.PathLike[str], *,
                    sources: str | os.PathLike[str] | None = None,
                    setup_du: Iterable[str | os.PathLike[str]] = ()) -> Inspection:
    """Classify ``path`` as ``plan`` does and describe it (packages, PSF spans by kind).

    ``sources``/``setup_du`` are the same evidence plan takes for a Setup Dynamic Update.
    An input that is not an update is described with its class and reason (the CLI then
    fails as plan does).
    """
    from wimcore.packages.classify import InputClass, classify_inputs

    source = Path(path)
    rows = classify_inputs([source], sources=sources, setup_du=setup_du)
    useful = (InputClass.SERVICING_PACKAGE, InputClass.SETUP_DYNAMIC_UPDATE)
    if len(rows) == 1 and rows[0].input_class in useful and rows[0].packages:
        info = describe_package(source, spans=True)
    elif len(rows) == 1:
        info = Inspection(source, rows[0].format)
    else:
        info = Inspection(source, "folder")
    info.inputs = rows
    return info


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
    packages = [load_package(d, properties=msu.properties if not _is_ssu_name(d.name) else {})
                for d in sorted(folder.iterdir()) if d.is_dir() and (d / "update.mum").is_file()]
    if not packages:
        raise PackageError(f"{folder}: no update.mum here or in its subfolders")
    return Inspection(folder, "folder", packages, msu if msu.properties or msu.packages else None)
