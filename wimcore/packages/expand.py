"""Expand an update package (CAB, MSU, WIM container, express payload) into a folder.

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
from wimcore.packages.errors import PackageError
from wimcore.packages.msu import MsuMetadata
from wimcore.progress import ProgressEvent, ProgressKind

ProgressCallback = Callable[[ProgressEvent], "bool | None"]

CIX_NAME = "express.psf.cix.xml"  # same as wimcore.packages.express.CIX_NAME (lazy import)
CAB_MAGIC = b"MSCF"
WIM_MAGIC = b"MSWIM\x00\x00\x00"
SCAN_CAB = "wsusscan.cab"
#: How deep CABs inside CABs are followed (a guard against recursive bombs).
MAX_NESTING = 4


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
    files: int = 0
    bytes: int = 0
    delta_spans: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "source": str(self.source), "dest": str(self.dest), "format": self.format,
            "packages": [p.to_dict() for p in self.packages],
            "msu": self.msu.to_dict() if self.msu else None,
            "kept": list(self.kept), "files": self.files, "bytes": self.bytes,
            "delta_spans": [list(s) for s in self.delta_spans],
        }


def sniff(path: Path) -> str:
    """'cab' or 'wim' from the file's magic bytes; PackageError for anything else."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except IsADirectoryError:
        raise PackageError(f"{path}: is a directory, not a package file") from None
    if head.startswith(CAB_MAGIC):
        return "cab"
    if head.startswith(WIM_MAGIC):
        return "wim"
    raise PackageError(f"{path}: not a cabinet (MSU/CAB) or a WIM container")


def expand(path: str | os.PathLike[str], dest: str | os.PathLike[str], *,
           progress: ProgressCallback | None = None,
           allow_deltas: bool = False) -> ExpandResult:
    """Expand the package ``path`` into ``dest`` (absent or empty) and describe the result.

    MSU: each inner package CAB (or WIM container) goes to its own subfolder named after
    it; ``WSUSSCAN.cab`` is kept as is; the XML and pkgProperties are parsed. CABs nested
    in package CABs are expanded beside themselves. Express payloads: RAW spans are
    copied, delta spans raise :class:`MSDeltaRequiredError` (``allow_deltas=True`` lists
    them in the result instead). ``progress`` gets EXPAND events; returning False or
    raising Cancelled stops, and the partial output is removed.
    """
    source = Path(path)
    out = Path(dest)
    if not source.exists():
        raise PackageError(f"{source}: no such file")
    result = ExpandResult(source, out, sniff(source))
    created = _prepare(out)
    try:
        _Expander(result, progress, allow_deltas).run()
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


class _Expander:
    """One expansion run: walks containers, keeps the result and forwards progress."""

    def __init__(self, result: ExpandResult, progress: ProgressCallback | None,
                 allow_deltas: bool) -> None:
        self.result = result
        self.progress = progress
        self.allow_deltas = allow_deltas

    def run(self) -> None:
        src, out = self.result.source, self.result.dest
        if self.result.format == "wim":
            self._apply_wim(src, out)
            self._package_at(out, src.name, "wim")
            self._post_process(out, depth=1)
        else:
            names = self._extract_cab(src, out)
            lower = {n.casefold() for n in names}
            is_msu = src.suffix.casefold() == ".msu" or (
                "update.mum" not in lower
                and any(n.endswith((".cab", ".wim")) for n in lower))
            if is_msu:
                self.result.format = "msu"
                self._expand_msu(out, names)
            else:
                self._package_at(out, src.name, "cab")
                self._post_process(out, depth=1, psf_dirs=[src.parent])
        self._count()

    # -- containers ---------------------------------------------------------------

    def _extract_cab(self, cab: Path, out: Path) -> list[str]:
        with Cabinet(cab) as c:
            c.extract(out, progress=self.progress)
            return [m.name for m in c.members]

    def _apply_wim(self, wim: Path, out: Path) -> None:
        opener = getattr(wimcore, "open", None)
        if opener is None:
            raise PackageError(f"{wim.name}: WIM-container packages need the core WIM API "
                               "(wimcore.open), which this build of wimcore lacks")
        self._notify(ProgressEvent(ProgressKind.EXPAND, path=wim.name,
                                   message="applying WIM container image 1"))
        with opener(wim) as image_file:
            image_file.images[1].apply(out)

    def _expand_msu(self, out: Path, names: list[str]) -> None:
        from wimcore.packages.msu import parse_msu_xml, parse_pkg_properties

        meta = MsuMetadata()
        for name in names:
            low = name.casefold()
            member = out / name
            if "/" in name:
                continue
            if low.endswith("-pkgproperties.txt"):
                meta.properties.update(parse_pkg_properties(member.read_bytes()))
            elif low.endswith(".xml"):
                meta.packages.extend(parse_msu_xml(member.read_bytes(), source=name))
        self.result.msu = meta
        for name in sorted(names):
            low = name.casefold()
            member = out / name
            if low == SCAN_CAB or low.endswith("/" + SCAN_CAB):
                self.result.kept.append(name)
                continue
            kind = low.rsplit(".", 1)[-1]
            if kind in ("cab", "wim"):
                folder = _free_folder(member.parent, Path(name).stem)
                unpack = self._extract_cab if kind == "cab" else self._apply_wim
                unpack(member, folder)
                member.unlink()
                self._package_at(folder, name, kind)
                self._post_process(folder, depth=1, psf_dirs=[out, self.result.source.parent])

    def _post_process(self, folder: Path, *, depth: int,
                      psf_dirs: list[Path] | None = None) -> None:
        """Express payload of this package folder, then CABs nested inside it."""
        cix = folder / CIX_NAME
        if cix.is_file():
            self._express(folder, cix, [folder, *(psf_dirs or [])])
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

    def _express(self, folder: Path, cix: Path, search: list[Path]) -> None:
        from wimcore.packages.express import apply_psf, parse_cix

        spans = parse_cix(cix.read_bytes(), source=str(cix))
        psf = _find_psf(folder, search, self.result.source.stem)
        if psf is None:
            raise PackageError(f"{folder.name}: {CIX_NAME} present but no .psf payload beside "
                               "the package")
        self._notify(ProgressEvent(ProgressKind.EXPAND, path=psf.name,
                                   message=f"copying {len(spans)} express span(s)"))
        apply_psf(spans, psf, folder, allow_deltas=self.allow_deltas)
        self.result.delta_spans.extend((s.name, s.type) for s in spans if s.is_delta)
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


def _find_psf(folder: Path, search: list[Path], source_stem: str = "") -> Path | None:
    """The .psf for an express package: same stem as the folder (or the source file) first,
    else the only one."""
    want = {folder.name.casefold() + ".psf", source_stem.casefold() + ".psf"}
    candidates: list[Path] = []
    for where in search:
        for p in sorted(where.glob("*")):
            if p.is_file() and p.suffix.casefold() == ".psf":
                if p.name.casefold() in want:
                    return p
                candidates.append(p)
    return candidates[0] if len(candidates) == 1 else None
