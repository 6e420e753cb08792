"""Check an expanded package against its own catalogs and manifests before anything uses it.

Three checks, each failure a typed error naming the file at fault:

- **hashes**: a file that a catalog (``*.cat``) lists by name, or whose component
  manifest gives an ``<asmv2:hash>``, must have exactly that hash
  (:class:`PackageTamperedError`);
- **presence**: every sub-package and component that ``update.mum`` (and its
  sub-package manifests) name, every file a component manifest names and every file a
  catalog names must be in the folder (:class:`PackageIncompleteError`);
- **PSF index**: an express package keeps its index (``*.psf.cix.xml``); every file it
  lists must be present with the SHA-256 and length it gives. This is what verifies the
  PSFX delta files (``f/``, ``r/``, ``n/``), whose manifest hashes are of the files
  they rebuild;
- **coverage**: whatever cannot be checked (no catalog entry, no manifest hash and no
  index entry, a PE file the catalog lists by its Authenticode hash, a manifest stored
  MSDelta-compressed, PSFX delta files of a package without an index, such as a Windows
  10 LCU) is listed as *unverified* with the reason, never passed.

What this proves is that the files are the ones the package's own catalogs and
manifests describe. It does not prove who made them: the catalogs' signatures are not
checked (there is no Windows trust store on Linux).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.packages.catalog import Catalog, CatalogMember, parse_catalog
from wimcore.packages.errors import PackageIncompleteError, PackageTamperedError
from wimcore.packages.express import PsfFile
from wimcore.packages.model import ComponentManifest, ManifestFile, Package, load_package

#: Sub-folders of a PSFX component folder that hold delta files, not the files themselves.
DELTA_DIRS = ("f", "r", "n")
SIGNATURE_NOTE = ("catalog signatures are not verified (no trust store): the check proves "
                  "that files match the package's own catalogs and manifests, not who made them")
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class UnverifiedFile:
    """A file whose bytes could not be checked, and why."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {"path": self.path, "reason": self.reason}


@dataclass
class PackageVerification:
    """What the check of one package folder found (it raised if anything failed)."""

    folder: str
    key: str | None
    catalogs: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    unverified: list[UnverifiedFile] = field(default_factory=list)
    sub_packages: int = 0
    components: int = 0
    skipped: bool = False

    @property
    def state(self) -> str:
        """verified | partly-verified | unverified | skipped."""
        if self.skipped:
            return "skipped"
        if not self.unverified:
            return "verified"
        return "partly-verified" if self.verified else "unverified"

    def summary(self) -> str:
        """One line: how many files were checked and how many could not be."""
        if self.skipped:
            return "NOT verified (--skip-verify)"
        text = f"{len(self.verified)} file(s) verified"
        if self.unverified:
            text += f", {len(self.unverified)} unverified"
        if self.sub_packages or self.components:
            text += (f"; {self.sub_packages} sub-package(s) and {self.components} "
                     "component(s) present")
        return text

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"folder": self.folder, "key": self.key, "state": self.state,
                "skipped": self.skipped, "catalogs": self.catalogs,
                "verified": len(self.verified), "verified_files": self.verified,
                "unverified": [u.to_dict() for u in self.unverified],
                "sub_packages": self.sub_packages, "components": self.components,
                "signatures": "not verified (no trust store)"}


def _digest(path: Path, algorithm: str) -> bytes:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.digest()


def _files(root: Path) -> list[Path]:
    """Regular files under ``root`` (symlinks are not followed), sorted."""
    out: list[Path] = []
    for dirpath, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(names):
            p = Path(dirpath, name)
            if p.is_file() and not p.is_symlink():
                out.append(p)
    return out


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _norm(name: str) -> str:
    return name.replace("\\", "/").strip("/").casefold()


class _Manifests:
    """The component manifests of a package: which file each one names, and its hash."""

    def __init__(self, root: Path, components: list[ComponentManifest]) -> None:
        self.root = root
        self.by_payload: dict[str, tuple[ManifestFile, str]] = {}  # rel path -> file, manifest
        self.delta_payload: dict[str, str] = {}  # rel path of a PSFX delta file -> manifest
        self.components = components
        for comp in components:
            if comp.path is None:
                continue
            stem = Path(comp.path).relative_to(root).with_suffix("").as_posix()
            for f in comp.files:
                name = _norm(f.source_name or f.name)
                self.by_payload[f"{stem.casefold()}/{name}"] = (f, Path(comp.path).name)
                for d in DELTA_DIRS:
                    self.delta_payload[f"{stem.casefold()}/{d}/{name}"] = Path(comp.path).name

    def missing_files(self, present: set[str]) -> list[tuple[str, str]]:
        """(manifest, file) pairs named by a manifest but absent, in full or as a delta."""
        missing = []
        for comp in self.components:
            if comp.path is None:
                continue
            stem = Path(comp.path).relative_to(self.root).with_suffix("").as_posix().casefold()
            for f in comp.files:
                name = _norm(f.source_name or f.name)
                spots = [f"{stem}/{name}", *(f"{stem}/{d}/{name}" for d in DELTA_DIRS)]
                if not any(s in present for s in spots):
                    missing.append((Path(comp.path).name, f.source_name or f.name))
        return missing


def _named_member(catalogs: list[Catalog], rel: str) -> CatalogMember | None:
    """The catalog member naming ``rel`` by its relative path, else by its base name."""
    low = rel.casefold()
    base = low.rsplit("/", 1)[-1]
    for key in (low, base):
        for c in catalogs:
            m = c.by_name.get(key)
            if m is not None:
                return m
    return None


class _KeyForms:
    """A folder's component manifests by key form (``arch_name_token_version_lang_hash``),
    indexed so that a package with thousands of components is checked quickly."""

    def __init__(self, manifest_names: Iterable[str]) -> None:
        self.exact: set[tuple[str, str]] = set()  # (name, version)
        self.shortened: dict[str, list[tuple[str, str]]] = {}  # version -> [(head, tail)]
        for m in manifest_names:
            parts = m.casefold().removesuffix(".manifest").split("_")
            if len(parts) < 6:
                continue
            name, version = "_".join(parts[1:-4]), parts[-3]
            if ".." in name:  # long names are shortened with ".." in the middle
                head, _, tail = name.partition("..")
                self.shortened.setdefault(version, []).append((head, tail))
            else:
                self.exact.add((name, version))

    def has(self, name: str, version: str) -> bool:
        """Whether a manifest for this component identity is present."""
        want, ver = name.casefold(), version.casefold()
        if (want, ver) in self.exact:
            return True
        return any(want.startswith(h) and want.endswith(t)
                   for h, t in self.shortened.get(ver, ()))


def _suffixes(paths: Iterable[str]) -> set[str]:
    """Every trailing part of each path at a ``/`` boundary: ``a/b/c`` -> a/b/c, b/c, c."""
    out: set[str] = set()
    for p in paths:
        parts = p.split("/")
        for n in range(len(parts)):
            out.add("/".join(parts[n:]))
    return out


def verify_expanded_package(folder: str | os.PathLike[str],
                            package: Package | None = None) -> PackageVerification:
    """Check an expanded package folder; raise the typed error naming the first bad file.

    ``package`` is the folder's loaded :class:`Package` (read from the folder when None).
    Returns what was verified and what could not be, with reasons.
    """
    root = Path(folder)
    pkg = package if package is not None else load_package(root)
    result = PackageVerification(str(root), pkg.key)
    files = _files(root)
    present = {_rel(p, root).casefold() for p in files}
    catalogs: list[Catalog] = []
    for p in files:
        if p.suffix.casefold() == ".cat":
            catalogs.append(parse_catalog(p.read_bytes(), source=str(p)))
            result.catalogs.append(_rel(p, root))
    _check_presence(root, pkg, present, catalogs, result)
    index = _index_of(root, present)
    manifests = _Manifests(root, _all_components(pkg))
    algorithms = sorted({m.algorithm for c in catalogs for m in c.members})
    for path in files:
        rel = _rel(path, root)
        if path.suffix.casefold() == ".cat":
            continue
        _check_file(root, path, rel, catalogs, algorithms, manifests, result, index)
    return result


def _index_of(root: Path, present: set[str]) -> dict[str, PsfFile]:
    """The PSF index of an express package folder by relative path (empty without one);
    every file it lists must be present."""
    from wimcore.packages.express import find_index, parse_index

    cix = find_index(root)
    if cix is None:
        return {}
    out: dict[str, PsfFile] = {}
    for f in parse_index(cix.read_bytes(), source=str(cix)):
        low = _norm(f.name)
        if low not in present:
            raise PackageIncompleteError(
                f"{root}: the PSF index {cix.name} lists {f.name}, but it is not in the "
                "package", file=f.name, package=str(root))
        out[low] = f
    return out


def _all_components(pkg: Package) -> list[ComponentManifest]:
    seen: dict[str, ComponentManifest] = {}
    for p in (pkg, *pkg.sub_packages):
        for comp in p.components:
            seen.setdefault(comp.path or comp.identity.key, comp)
    return list(seen.values())


def _check_file(root: Path, path: Path, rel: str, catalogs: list[Catalog],
                algorithms: list[str], manifests: _Manifests,
                result: PackageVerification, index: dict[str, PsfFile] | None = None) -> None:
    """Verify one file by its PSF index entry, its manifest hash and its catalog entry
    (raises on a mismatch)."""
    low = rel.casefold()
    by_manifest = False
    listed = (index or {}).get(low)
    if listed is not None:
        if path.stat().st_size != listed.length or _digest(path, "sha256") != listed.sha256:
            raise PackageTamperedError(
                f"{root}: {rel}: it does not match the SHA-256 and length its PSF index "
                "gives; the package was changed after it was made (download it again)",
                file=rel, package=str(root))
    entry = manifests.by_payload.get(low)
    if entry is not None:
        mfile, manifest = entry
        if mfile.flat_hash and mfile.algorithm in hashlib.algorithms_available:
            assert mfile.algorithm is not None and mfile.digest is not None
            if _digest(path, mfile.algorithm) != mfile.digest:
                raise PackageTamperedError(
                    f"{root}: {rel}: its {mfile.algorithm} hash does not match the one in "
                    f"its component manifest {manifest}; the package was changed after it "
                    "was made (download it again)", file=rel, package=str(root))
            by_manifest = True
    named = _named_member(catalogs, rel)
    if named is not None and not named.pe_image:
        if _digest(path, named.algorithm) != named.digest:
            raise PackageTamperedError(
                f"{root}: {rel}: its {named.algorithm} hash does not match the one its "
                "catalog lists; the package was changed after it was made (download it "
                "again)", file=rel, package=str(root))
        result.verified.append(rel)
        return
    if named is None and algorithms:
        digests = [_digest(path, alg) for alg in algorithms]
        if any(d in c.by_digest and not c.by_digest[d].pe_image
               for c in catalogs for d in digests):
            result.verified.append(rel)
            return
    if by_manifest or listed is not None:
        result.verified.append(rel)
        return
    result.unverified.append(UnverifiedFile(rel, _why_unverified(low, named, entry,
                                                                 manifests, path)))


def _why_unverified(low: str, named: CatalogMember | None,
                    entry: tuple[ManifestFile, str] | None, manifests: _Manifests,
                    path: Path) -> str:
    if named is not None and named.pe_image:
        return ("the catalog lists it by its Authenticode (PE image) hash, which wimcore "
                "does not compute")
    if low in manifests.delta_payload:
        return (f"a PSFX delta file of {manifests.delta_payload[low]}: the manifest's hash "
                "is of the file it rebuilds")
    if entry is not None:
        mfile, manifest = entry
        if mfile.digest is None:
            return f"{manifest} gives no hash for it and no catalog lists it"
        return (f"{manifest} hashes it with {mfile.algorithm or '?'} / transform "
                f"{mfile.transform or '?'}, which wimcore does not compute")
    if path.suffix.casefold() == ".manifest" and path.read_bytes()[:4] == b"DCM\x01":
        return "an MSDelta-compressed (DCM) manifest that no catalog lists"
    return "no catalog entry and no manifest hash"


def _check_presence(root: Path, pkg: Package, present: set[str], catalogs: list[Catalog],
                    result: PackageVerification) -> None:
    """Every sub-package, component and file that the manifests and catalogs name is here."""
    mums = [pkg, *pkg.sub_packages]
    have = {p.identity.name.casefold() for p in mums}
    keyforms = _KeyForms(name for name in present if name.endswith(".manifest")
                         and "/" not in name)
    parsed = {c.identity.name.casefold() for c in _all_components(pkg)}
    for mum in mums:
        source = Path(mum.path).name if mum.path else "update.mum"
        for sub in mum.updated_packages:
            if (sub.contained or "").lower() == "false":
                continue  # product packages name packages they do not carry
            if sub.identity.name.casefold() not in have:
                raise PackageIncompleteError(
                    f"{root}: {source} names the sub-package {sub.identity.key}, but its "
                    f"manifest ({sub.identity.key}.mum) is not in the package",
                    file=f"{sub.identity.key}.mum", package=str(root))
            result.sub_packages += 1
        for comp in mum.updated_components:
            name, version = comp.identity.name, comp.identity.version
            if name.casefold() in parsed or keyforms.has(name, version):
                result.components += 1
                continue
            raise PackageIncompleteError(
                f"{root}: {source} names the component {name} {version}, but its manifest "
                "is not in the package", file=f"{name}.manifest", package=str(root))
    for manifest, fname in _Manifests(root, _all_components(pkg)).missing_files(present):
        raise PackageIncompleteError(
            f"{root}: the component manifest {manifest} names the file {fname}, but it is "
            "not in the package", file=fname, package=str(root))
    folders = {p.rsplit("/", 1)[0] for p in present if "/" in p}
    tails = _suffixes(present)
    for c in catalogs:
        for m in c.members:
            if not m.name:
                continue
            low = _norm(m.name)
            if low in tails:
                continue
            stem = low.rsplit(".", 1)[0]
            if low.endswith(".cab") and stem in folders:
                result.unverified.append(UnverifiedFile(
                    m.name, "a nested cabinet, expanded into its folder; its own hash was "
                            "not checked"))
                continue
            raise PackageIncompleteError(
                f"{root}: the catalog lists {m.name}, but it is not in the package",
                file=m.name, package=str(root))


def skipped_verification(folder: str | os.PathLike[str],
                         package: Package | None = None) -> PackageVerification:
    """The record of a package used without its check (``skip_verify``): every file unverified."""
    root = Path(folder)
    result = PackageVerification(str(root), package.key if package else None, skipped=True)
    result.unverified = [UnverifiedFile(_rel(p, root), "not checked: --skip-verify")
                         for p in _files(root)]
    return result
