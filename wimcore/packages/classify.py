"""One classification of every input: servicing package (with its kind), Setup Dynamic Update,
or not an update, each with the reason.

Plan, stage, install, the media routine (and the fleet) all call :func:`classify_inputs`,
so a file is the same thing to every command. The rules:

- a cabinet, MSU, WIM container, expanded folder or ``.mum`` whose package manifest
  (``update.mum``) is readable is a **servicing package**; its kind comes from the
  manifest (servicing stack, cumulative, checkpoint cumulative, SafeOS DU, .NET,
  feature on demand, language pack, other);
- a **Setup Dynamic Update** needs positive evidence: the user names it (``setup_du``),
  or at least half of its file names (and one at least) are names that the media's
  ``sources/`` folder already has (Setup files), or its manifest names a Setup update;
- anything else is **not an update**, with the reason: a text file, a cabinet without
  ``update.mum`` whose files are not Setup files, a WIM without ``update.mum``. Such an
  input is refused by the callers, never copied anywhere;
- an express payload (``.psf``) beside its cabinet is a **companion**, read with it.

A folder that is neither an expanded package nor an expanded MSU (package folders
beside only MSU metadata: pkgProperties, XML, WSUSSCAN.cab) is a folder *of* inputs:
each entry gets its own classification.
"""

from __future__ import annotations

import enum
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.packages.errors import PackageError
from wimcore.packages.model import Package, PackageKind, cu_target

#: The kind a cumulative update gets when a later one in the same set builds on it.
CHECKPOINT_KIND = "checkpoint-cumulative-update"
#: WIM names of a media's sources/ that are never Setup files to compare with.
_MEDIA_WIMS = frozenset({"install.wim", "install.esd", "boot.wim"})
_MAX_DEPTH = 4
#: Files of an expanded MSU beside its package folders (read with them).
_MSU_METADATA = ("-pkgproperties.txt", ".xml", "wsusscan.cab", ".psf")


class InputClass(enum.Enum):
    """What an input file is, for every command that takes updates."""

    SERVICING_PACKAGE = "servicing-package"
    SETUP_DYNAMIC_UPDATE = "setup-dynamic-update"
    NOT_AN_UPDATE = "not-an-update"
    COMPANION = "companion"  # read with another input (an express .psf payload)


@dataclass(frozen=True)
class PackageSummary:
    """One servicing package inside an input: identity key, KB and kind."""

    key: str
    name: str
    kb: str | None
    kind: str
    release_type: str | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"key": self.key, "name": self.name, "kb": self.kb, "kind": self.kind,
                "release_type": self.release_type}


@dataclass(frozen=True)
class ClassifiedInput:
    """One input file (or expanded folder) and what it is, with the evidence."""

    path: Path
    input_class: InputClass
    format: str  # msu | cab | wim | folder | mum | file
    reason: str
    packages: tuple[PackageSummary, ...] = ()
    files: tuple[str, ...] = field(default=(), compare=False)  # plain cabinets: members

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of the servicing packages inside (empty for other classes)."""
        return tuple(p.kind for p in self.packages)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"path": str(self.path), "class": self.input_class.value,
                "format": self.format, "reason": self.reason,
                "packages": [p.to_dict() for p in self.packages]}


def setup_file_names(sources: str | os.PathLike[str] | None,
                     exclude: Iterable[str | os.PathLike[str]] = ()) -> frozenset[str]:
    """Case-folded relative paths of the files in a media's ``sources/`` (the WIMs left out)."""
    if sources is None:
        return frozenset()
    root = Path(sources)
    if not root.is_dir():
        return frozenset()
    skip = {Path(e).absolute() for e in exclude}
    names: set[str] = set()
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        dirs[:] = [d for d in dirs if (here / d).absolute() not in skip]
        for name in files:
            rel = (here / name).relative_to(root).as_posix().casefold()
            if rel not in _MEDIA_WIMS and (here / name).absolute() not in skip:
                names.add(rel)
    return frozenset(names)


def _summary(pkg: Package) -> PackageSummary:
    return PackageSummary(pkg.key, pkg.identity.name, pkg.kb, pkg.kind.value, pkg.release_type)


def _sniff(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise PackageError(f"{path}: cannot read it: {exc.strerror or exc}") from None
    if head.startswith(b"MSCF"):
        return "cab"
    if head.startswith(b"MSWIM\x00\x00\x00"):
        return "wim"
    return None


class InputClassifier:
    """The classification rules, bound to one media's Setup file names and --setup-du list.

    :func:`classify_inputs` is the way to use it; callers that want to handle one
    unreadable input at a time (``continue_on_error``) call :meth:`classify` per input
    and :meth:`finish` on all the rows.
    """

    def __init__(self, *, sources: str | os.PathLike[str] | None = None,
                 setup_du: Iterable[str | os.PathLike[str]] = (),
                 exclude: Iterable[str | os.PathLike[str]] = ()) -> None:
        setup_names = setup_file_names(sources, exclude)
        self.setup_du = [Path(p) for p in setup_du]
        self.setup_names = setup_names
        self.setup_bases = frozenset(n.rsplit("/", 1)[-1] for n in setup_names)
        self.named_du = {p.absolute() for p in self.setup_du}
        self.packages: dict[str, Package] = {}  # every servicing package seen, by key

    def classify(self, path: str | os.PathLike[str], depth: int = 0) -> list[ClassifiedInput]:
        """The rows of one input (several for a folder of updates); typed errors if unreadable."""
        path = Path(path)
        if path.is_dir():
            return self._folder(path, depth)
        if not path.exists():
            raise FileNotFoundError(errno.ENOENT, "no such file or folder", str(path))
        return [self._file(path)]

    # -- folders -------------------------------------------------------------------
    def _folder(self, folder: Path, depth: int) -> list[ClassifiedInput]:
        from wimcore.packages.inspect import describe_package
        from wimcore.packages.model import load_package

        if any(folder.glob("*.mum")):
            pkg = load_package(folder)
            return [self._package_input(folder, "folder", [pkg],
                                        "an expanded package folder (update.mum)")]
        subs = sorted(d for d in folder.iterdir() if d.is_dir())
        files = [f.name.casefold() for f in folder.iterdir() if f.is_file()]
        meta = [n for n in files if n.endswith(_MSU_METADATA)]
        if any((d / "update.mum").is_file() for d in subs) and meta and len(meta) == len(files):
            info = describe_package(folder)
            return [self._package_input(folder, "folder", info.packages,
                                        "an expanded MSU folder (package subfolders)")]
        if depth >= _MAX_DEPTH:
            raise PackageError(f"{folder}: folders of updates nested deeper than {_MAX_DEPTH} "
                               "levels")
        out: list[ClassifiedInput] = []
        for entry in sorted(folder.iterdir()):
            out.extend(self.classify(entry, depth + 1))
        return out

    # -- files --------------------------------------------------------------------------
    def _file(self, path: Path) -> ClassifiedInput:
        if path.suffix.casefold() == ".mum":
            from wimcore.packages.model import load_package

            return self._package_input(path, "mum", [load_package(path.parent)],
                                       "a package manifest (its folder is the package)")
        fmt = _sniff(path)
        if fmt is None:
            if path.suffix.casefold() == ".psf":
                for ext in (".cab", ".msu", ".wim", ".CAB", ".MSU", ".WIM"):
                    if path.with_suffix(ext).is_file():
                        return ClassifiedInput(path, InputClass.COMPANION, "psf",
                                               f"the express payload of {path.stem}{ext}, "
                                               "read with it")
            return ClassifiedInput(path, InputClass.NOT_AN_UPDATE, "file",
                                   "not a cabinet (MSU/CAB) or a WIM container")
        if fmt == "wim":
            from wimcore.packages.inspect import describe_package

            try:
                info = describe_package(path)
            except PackageError as exc:
                return ClassifiedInput(path, InputClass.NOT_AN_UPDATE, "wim", str(exc))
            if info.format == "msu":
                return self._package_input(path, "msu", info.packages,
                                           "an MSU in WIM form (package members inside)")
            return self._package_input(path, "wim", info.packages, "a WIM-container package "
                                                                   "(update.mum at its root)")
        return self._cabinet(path)

    def _cabinet(self, path: Path) -> ClassifiedInput:
        from wimcore.packages.cab import Cabinet
        from wimcore.packages.errors import PackageShapeError
        from wimcore.packages.inspect import describe_package

        with Cabinet(path) as cab:
            names = [m.name for m in cab.members]
        top = [n.casefold() for n in names if "/" not in n]
        members = [n for n in top if n.endswith((".cab", ".wim", ".psf", ".esd"))]
        if "update.mum" in top:
            info = describe_package(path)
            return self._package_input(path, "cab", info.packages,
                                       "a package cabinet (update.mum)")
        if members:  # told by the members' content: packages, or not an MSU at all
            try:
                info = describe_package(path)
            except PackageShapeError as exc:
                row = self._plain_cabinet(path, names)
                if row.input_class is InputClass.NOT_AN_UPDATE:
                    return ClassifiedInput(path, InputClass.NOT_AN_UPDATE, "cab",
                                           f"{exc}", files=row.files)
                return row
            return self._package_input(path, "msu", info.packages,
                                       "an MSU (package members inside)")
        return self._plain_cabinet(path, names)

    def _plain_cabinet(self, path: Path, names: list[str]) -> ClassifiedInput:
        """A cabinet without update.mum: a Setup Dynamic Update only with positive evidence."""
        files = tuple(names)
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        if path.absolute() in self.named_du:
            return ClassifiedInput(path, InputClass.SETUP_DYNAMIC_UPDATE, "cab",
                                   "named as a Setup Dynamic Update (--setup-du)", files=files)
        matched = [n for n in names if n.casefold() in self.setup_names
                   or ("/" not in n and n.casefold() in self.setup_bases)]
        if matched and 2 * len(matched) >= len(names):
            return ClassifiedInput(
                path, InputClass.SETUP_DYNAMIC_UPDATE, "cab",
                f"{len(matched)} of its {len(names)} files are Setup files of the media's "
                f"sources/ ({', '.join(matched[:3])})", files=files)
        if not self.setup_names:
            why = ("a cabinet without update.mum, and no media sources/ to compare its files "
                   f"({shown}) with; if it is a Setup Dynamic Update, name it with --setup-du")
        else:
            why = (f"a cabinet without update.mum whose files ({shown}) are not Setup files: "
                   f"{len(matched)} of {len(names)} match names in the media's sources/")
        return ClassifiedInput(path, InputClass.NOT_AN_UPDATE, "cab", why, files=files)

    def finish(self, rows: list[ClassifiedInput]) -> list[ClassifiedInput]:
        """Set-wide rules on all rows: checkpoint cumulative updates; --setup-du names an input."""
        for p in self.setup_du:
            if not any(r.path.absolute() == p.absolute() for r in rows):
                raise PackageError(f"{p}: named with --setup-du but not among the inputs")
        return _mark_checkpoints(rows, self.packages)

    def _package_input(self, path: Path, fmt: str, packages: list[Package],
                       what: str) -> ClassifiedInput:
        setup = [p for p in packages if p.kind is PackageKind.SETUP_DYNAMIC_UPDATE]
        if setup and len(setup) == len(packages):
            return ClassifiedInput(path, InputClass.SETUP_DYNAMIC_UPDATE, fmt,
                                   f"its manifest names a Setup update ({setup[0].key})",
                                   tuple(_summary(p) for p in packages))
        for p in packages:
            self.packages.setdefault(p.key, p)
        return ClassifiedInput(path, InputClass.SERVICING_PACKAGE, fmt, what,
                               tuple(_summary(p) for p in packages))


def _mark_checkpoints(rows: list[ClassifiedInput],
                      packages: dict[str, Package]) -> list[ClassifiedInput]:
    """A cumulative update that a later one in the set needs as its parent is a checkpoint."""
    cus = [p for p in packages.values() if p.kind is PackageKind.CUMULATIVE_UPDATE]
    checkpoints: set[str] = set()
    for p in cus:
        mine = cu_target(p.identity, p.custom_information)
        if mine is None:
            continue
        for q in cus:
            theirs = cu_target(q.identity, q.custom_information)
            if q is p or theirs is None or theirs <= mine:
                continue
            for parent in q.parents:
                for ident in parent.identities:
                    need = cu_target(ident)
                    if need is not None and need == mine:
                        checkpoints.add(p.key)
    if not checkpoints:
        return rows
    out = []
    for row in rows:
        pkgs = tuple(PackageSummary(s.key, s.name, s.kb, CHECKPOINT_KIND, s.release_type)
                     if s.key in checkpoints else s for s in row.packages)
        out.append(ClassifiedInput(row.path, row.input_class, row.format, row.reason, pkgs,
                                   row.files))
    return out


def classify_inputs(inputs: Iterable[str | os.PathLike[str]], *,
                    sources: str | os.PathLike[str] | None = None,
                    setup_du: Iterable[str | os.PathLike[str]] = (),
                    exclude: Iterable[str | os.PathLike[str]] = ()) -> list[ClassifiedInput]:
    """Classify every input; a folder of updates yields one row per entry.

    ``sources``: the media's ``sources/`` folder, whose file names are the evidence for
    a Setup Dynamic Update (``exclude`` keeps paths such as an updates folder inside it
    out of that evidence); ``setup_du``: files the user names as Setup Dynamic Updates.
    Unreadable packages raise their typed error (a damaged cabinet, a bad manifest).
    """
    classifier = InputClassifier(sources=sources, setup_du=setup_du, exclude=exclude)
    rows: list[ClassifiedInput] = []
    for item in inputs:
        rows.extend(classifier.classify(item))
    return classifier.finish(rows)
