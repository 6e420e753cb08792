"""Expand an update package (CAB, MSU, WIM container, express payload) into a folder.

Every shape is told by content (magic bytes, ``update.mum``), never by file name: an MSU
is a cabinet or a WIM whose root holds package members; a KB package is a cabinet or a
WIM with ``update.mum``; its express payload is the ``.psf`` beside it, listed by an
index (``express.psf.cix.xml`` or ``<KB>.psf.cix.xml``). MSU members without
``update.mum`` are kept as metadata only when they are a known kind (WSUSSCAN,
DesktopDeployment, AggregatedMetadata, ``.mumx.esd``); any other shape is
:class:`PackageShapeError`, never an expansion without payload.

The destination must be absent or empty; a failed or cancelled expansion removes what
it wrote (and the destination itself when it created it). Nothing is written outside it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import wimcore
from wimcore.errors import DestinationExistsError
from wimcore.packages.cab import Cabinet
from wimcore.packages.errors import PackageError, PackageShapeError
from wimcore.packages.express import PsfReport
from wimcore.packages.msu import MsuMetadata
from wimcore.progress import ProgressEvent, ProgressKind

ProgressCallback = Callable[[ProgressEvent], "bool | None"]

CAB_MAGIC = b"MSCF"
WIM_MAGIC = b"MSWIM\x00\x00\x00"
SCAN_CAB = "wsusscan.cab"
#: How deep CABs inside CABs are followed (a guard against recursive bombs).
MAX_NESTING = 4
#: MSU members that carry no update.mum and are metadata, not packages: (test, role).
METADATA_MEMBERS: tuple[tuple[str, str, str], ...] = (
    ("cab", "wsusscan.cab", "Windows Update scan metadata (WSUSSCAN)"),
    ("cab", "desktopdeployment", "servicing-stack DLLs DISM uses (DesktopDeployment)"),
    ("cab", "onepackage.aggregatedmetadata.cab",
     "component database metadata (AggregatedMetadata)"),
    ("wim", ".mumx.esd", "package metadata of a 24H2 LCU (mumx.esd)"),
)


@dataclass(frozen=True)
class ExpandedPackage:
    """One package found in the expansion: where it came from, where it is, how it was stored."""

    source: str
    path: Path
    format: str
    express: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"source": self.source, "path": str(self.path), "format": self.format,
                "express": self.express}


@dataclass
class ExpandResult:
    """What :func:`expand` produced: the package folders, MSU metadata, counts, deltas."""

    source: Path
    dest: Path
    format: str
    packages: list[ExpandedPackage] = field(default_factory=list)
    msu: MsuMetadata | None = None
    kept: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)  # kept member -> its role
    files: int = 0
    bytes: int = 0
    psf: list[PsfReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "source": str(self.source), "dest": str(self.dest), "format": self.format,
            "packages": [p.to_dict() for p in self.packages],
            "msu": self.msu.to_dict() if self.msu else None,
            "kept": list(self.kept), "metadata": dict(self.metadata),
            "files": self.files, "bytes": self.bytes,
            "psf": [r.to_dict() for r in self.psf],
        }


def magic_of(path: Path) -> str | None:
    """'cab' or 'wim' from the file's magic bytes, None for anything else."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except IsADirectoryError:
        raise PackageError(f"{path}: is a directory, not a package file") from None
    if head.startswith(CAB_MAGIC):
        return "cab"
    if head.startswith(WIM_MAGIC):
        return "wim"
    return None


def sniff(path: Path) -> str:
    """'cab' or 'wim' from the file's magic bytes; PackageError for anything else."""
    fmt = magic_of(path)
    if fmt is None:
        raise PackageError(f"{path}: not a cabinet (MSU/CAB) or a WIM container")
    return fmt


def metadata_role(name: str, fmt: str) -> str | None:
    """The role of a known MSU metadata member (by name, for a member of the right format
    that has no update.mum), else None."""
    low = name.casefold().rsplit("/", 1)[-1]
    for want_fmt, pattern, role in METADATA_MEMBERS:
        if fmt != want_fmt:
            continue
        if (pattern.startswith(".") and low.endswith(pattern)) or low == pattern or (
                not pattern.endswith((".cab", ".esd")) and low.startswith(pattern)
                and low.endswith(".cab")):
            return role
    return None


def wim_root_names(path: Path) -> list[str]:
    """The names at the root of a WIM's image 1 (how a KB WIM and a WIM MSU are told apart)."""
    import wimcore

    with wimcore.open(path) as wim:
        if not len(wim.images):
            raise PackageShapeError(f"{path.name}: a WIM without images",
                                    found="a WIM without images")
        return [e.name for e in wim.images[1].listdir("/")]


def cab_root_names(path: Path) -> list[str]:
    """The member names of a cabinet."""
    with Cabinet(path) as c:
        return [m.name for m in c.members]




def expand(path: str | os.PathLike[str], dest: str | os.PathLike[str], *,
           progress: ProgressCallback | None = None) -> ExpandResult:
    """Expand the package ``path`` into ``dest`` (absent or empty) and describe the result.

    MSU (cabinet or WIM): each member package (CAB or WIM with ``update.mum``) goes to its
    own subfolder named after it, its express payload written into it from the ``.psf``
    (each file checked against the index, see :mod:`wimcore.packages.express`); known
    metadata members are kept as they are; the XML and pkgProperties are parsed. CABs
    nested in package CABs are expanded beside themselves. ``progress`` gets EXPAND
    events; returning False or raising Cancelled stops, and the partial output is removed.
    """
    source = Path(path)
    out = Path(dest)
    if not source.exists():
        raise PackageError(f"{source}: no such file")
    result = ExpandResult(source, out, sniff(source))
    created = _prepare(out)
    try:
        _Expander(result, progress).run()
    except BaseException:
        _discard(out, created)
        raise
    return result


def _prepare(out: Path) -> bool:
    """Check that ``out`` is absent or an empty directory; create it; True when created."""
    if out.exists() or out.is_symlink():
        if not out.is_dir() or any(out.iterdir()):
            raise DestinationExistsError(str(out))
        return False
    out.mkdir(parents=True)
    return True


def _discard(out: Path, created: bool) -> None:
    """Remove everything a failed expansion wrote (and ``out`` itself if it made it)."""
    if created:
        shutil.rmtree(out, ignore_errors=True)
        return
    for child in list(out.iterdir()) if out.is_dir() else []:
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _free_folder(parent: Path, stem: str) -> Path:
    """``parent/stem``, or ``stem.2``, ``stem.3``... when that name is taken."""
    candidate = parent / stem
    n = 2
    while candidate.exists():
        candidate = parent / f"{stem}.{n}"
        n += 1
    return candidate


def _is_package_member(names: list[str]) -> bool:
    return any(n.casefold() == "update.mum" for n in names)


def _looks_like_msu(root: Path, names: list[str]) -> bool:
    """True when a container's root holds package members (CAB/WIM files) or a PSF."""
    for name in names:
        member = root / name
        if "/" in name or not member.is_file():
            continue
        if name.casefold().endswith(".psf") or magic_of(member) is not None:
            return True
    return False


class _Expander:
    """One expansion run: walks containers, keeps the result and forwards progress."""

    def __init__(self, result: ExpandResult, progress: ProgressCallback | None) -> None:
        self.result = result
        self.progress = progress
        self.used_psf: set[Path] = set()

    def run(self) -> None:
        src, out = self.result.source, self.result.dest
        if self.result.format == "wim":
            names = wim_root_names(src)
            self._apply_wim(src, out)
            if _is_package_member(names):
                self._package_at(out, src.name, "wim")
                self._post_process(out, depth=1, psf_dirs=[src.parent], source_stem=src.stem)
            elif _looks_like_msu(out, names):
                self.result.format = "msu"
                self._expand_msu(out, names)
            else:
                raise PackageShapeError(
                    f"{src.name}: a WIM without update.mum and without package members at "
                    f"its root (found: {', '.join(sorted(names)[:6]) or 'nothing'})",
                    found="a WIM that is neither a KB package nor an MSU")
        else:
            names = self._extract_cab(src, out)
            top = [n for n in names if "/" not in n]
            if _is_package_member(top):
                self._package_at(out, src.name, "cab")
                self._post_process(out, depth=1, psf_dirs=[src.parent], source_stem=src.stem)
            elif _looks_like_msu(out, top):
                self.result.format = "msu"
                self._expand_msu(out, names)
            # else: a plain cabinet (a Setup Dynamic Update, or files): its files, no package
        self._count()

    # -- containers ---------------------------------------------------------------

    def _extract_cab(self, cab: Path, out: Path) -> list[str]:
        with Cabinet(cab) as c:
            c.extract(out, progress=self.progress)
            return [m.name for m in c.members]

    def _apply_wim(self, wim: Path, out: Path) -> None:
        self._notify(ProgressEvent(ProgressKind.EXPAND, path=wim.name,
                                   message="applying WIM container image 1"))
        with wimcore.open(wim) as image_file:
            image_file.images[1].apply(out)

    def _expand_msu(self, out: Path, names: list[str]) -> None:
        from wimcore.packages.msu import parse_msu_xml, parse_pkg_properties

        top = sorted(n for n in names if "/" not in n and (out / n).is_file())
        meta = MsuMetadata()
        for name in top:
            low = name.casefold()
            member = out / name
            if low.endswith("-pkgproperties.txt"):
                meta.properties.update(parse_pkg_properties(member.read_bytes()))
            elif low.endswith(".xml"):
                meta.packages.extend(parse_msu_xml(member.read_bytes(), source=name))
        self.result.msu = meta
        psfs = [out / n for n in top if n.casefold().endswith(".psf")]
        for name in top:
            member = out / name
            fmt = magic_of(member)
            if fmt is None:
                continue  # XML, pkgProperties, text, the .psf payloads (read with a package)
            inner = cab_root_names(member) if fmt == "cab" else wim_root_names(member)
            if not _is_package_member([n for n in inner if "/" not in n]):
                role = metadata_role(name, fmt)
                if role is None:
                    raise PackageShapeError(
                        f"{self.result.source.name}: member {name} is a "
                        f"{'cabinet' if fmt == 'cab' else 'WIM'} without update.mum and not "
                        "a known metadata member (WSUSSCAN, DesktopDeployment, "
                        "AggregatedMetadata, mumx.esd)",
                        found=f"{name}: a {fmt.upper()} without update.mum")
                self.result.kept.append(name)
                self.result.metadata[name] = role
                continue
            folder = _free_folder(member.parent, Path(name).stem)
            if fmt == "cab":
                self._extract_cab(member, folder)
            else:
                self._apply_wim(member, folder)
            member.unlink()
            self._package_at(folder, name, fmt)
            self._post_process(folder, depth=1, psf_dirs=[out])
        for psf in psfs:
            if psf in self.used_psf:
                psf.unlink(missing_ok=True)  # expanded into its package: the copy goes
            else:
                raise PackageShapeError(
                    f"{self.result.source.name}: {psf.name} is a PSF payload that no package "
                    "of the MSU indexes (no express.psf.cix.xml or <KB>.psf.cix.xml names it)",
                    found="a PSF without an index")

    def _post_process(self, folder: Path, *, depth: int, psf_dirs: list[Path] | None = None,
                      source_stem: str = "") -> None:
        """Express payload of this package folder (or the check that it has its payload),
        then CABs nested inside it."""
        from wimcore.packages.express import find_index

        index = find_index(folder)
        search = [folder, *(psf_dirs or [])]
        if index is not None:
            self._express(folder, index, search, source_stem)
        else:
            own = _find_psf(folder, search, source_stem, only_named=True)
            if own is not None:
                from wimcore.packages.express import require_shape

                require_shape(folder, None, own)
            if (folder / "_manifest_.cix.xml").is_file():
                raise PackageShapeError(f"{folder.name}: an IPD-era index (_manifest_.cix.xml), "
                                        "which wimcore does not read",
                                        found="_manifest_.cix.xml")
            if depth == 1:
                _require_payload(folder)
        for nested in sorted(p for p in folder.rglob("*") if p.is_file()
                             and p.suffix.casefold() == ".cab"
                             and p.name.casefold() != SCAN_CAB):
            if depth >= MAX_NESTING:
                raise PackageError(f"{nested.name}: CABs nested deeper than {MAX_NESTING} levels")
            target = _free_folder(nested.parent, nested.stem)
            self._extract_cab(nested, target)
            nested.unlink()
            self._package_at(target, str(nested.relative_to(self.result.dest)), "cab")
            self._post_process(target, depth=depth + 1)

    def _express(self, folder: Path, index: Path, search: list[Path], source_stem: str) -> None:
        from wimcore.packages.express import expand_psf, parse_index, require_shape

        files = parse_index(index.read_bytes(), source=str(index))
        psf = _find_psf(folder, search, source_stem)
        require_shape(folder, index, psf)
        assert psf is not None
        self._notify(ProgressEvent(ProgressKind.EXPAND, path=psf.name,
                                   message=f"writing {len(files)} file(s) from the PSF"))

        def on_file(name: str) -> None:
            self._notify(ProgressEvent(ProgressKind.EXPAND, path=name))

        report = expand_psf(files, psf, folder, index_name=index.name, on_file=on_file)
        self.result.psf.append(report)
        self.used_psf.add(psf)
        for i, pkg in enumerate(self.result.packages):
            if pkg.path == folder:
                self.result.packages[i] = ExpandedPackage(pkg.source, pkg.path, pkg.format, True)

    # -- bookkeeping ----------------------------------------------------------------

    def _package_at(self, folder: Path, source: str, fmt: str) -> None:
        if (folder / "update.mum").is_file() or any(folder.glob("*.mum")):
            self.result.packages.append(ExpandedPackage(source, folder, fmt))

    def _notify(self, event: ProgressEvent) -> None:
        if self.progress is not None and self.progress(event) is False:
            raise wimcore.Cancelled("cancelled by the progress callback")

    def _count(self) -> None:
        files = total = 0
        for p in self.result.dest.rglob("*"):
            if p.is_file() and not p.is_symlink():
                files += 1
                total += p.stat().st_size
        self.result.files, self.result.bytes = files, total


_METADATA_SUFFIXES = (".mum", ".cat", ".manifest", ".xml", ".txt")


def _require_payload(folder: Path) -> None:
    """A package without a PSF must carry the files its manifests name (some of them at
    least): an LCU cabinet whose payload is missing is refused, never expanded as fine."""
    from wimcore.packages.model import load_package

    if not (folder / "update.mum").is_file():
        return
    pkg = load_package(folder)
    payload = [p for p in folder.rglob("*") if p.is_file() and (
        p.parent != folder or not p.name.casefold().endswith(_METADATA_SUFFIXES))]
    if payload:
        return
    named = sum(len(c.files) for c in pkg.components)
    dcm = [m for m in folder.glob("*.manifest") if m.read_bytes()[:4] == b"DCM\x01"]
    if named or (pkg.is_psfx and dcm):
        what = (f"its component manifests name {named} file(s)" if named else
                f"it is a PSFX package with {len(dcm)} compressed component manifest(s)")
        raise PackageShapeError(
            f"{folder.name}: {what}, but the package has no PSF index, no .psf and no "
            "payload files: an incomplete download or a metadata-only package",
            found="a package without its payload")


def _find_psf(folder: Path, search: list[Path], source_stem: str = "", *,
              only_named: bool = False) -> Path | None:
    """The .psf for an express package: same stem as the folder (or the source file) first,
    else the only one (unless ``only_named``). Told by name among the files beside it; its
    content is checked span by span against the index."""
    want = {folder.name.casefold() + ".psf"}
    if source_stem:
        want.add(source_stem.casefold() + ".psf")
    candidates: list[Path] = []
    for where in search:
        if not where.is_dir():
            continue
        for p in sorted(where.iterdir()):
            if p.is_file() and p.suffix.casefold() == ".psf":
                if p.name.casefold() in want:
                    return p
                candidates.append(p)
    if only_named:
        return None
    return candidates[0] if len(candidates) == 1 else None
