"""The image library and the content library: what ``fleet add`` and ``fleet updates add`` do.

Images are registered with what the mount-free inventory reads from them (edition,
architecture, build and UBR, languages, the packages present) and their file hash. With
an index, the image is first exported alone into the library: a single-index WIM is a
smaller file and is serviced faster (Configuration Manager's "extract a specific image
index"). Updates are classified, verified against their catalogs and copied into the
library once, named by their content hash.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.fleet.catalog import Catalog, now_iso

_CHUNK = 1 << 20


def file_hashes(path: Path) -> tuple[str, str]:
    """SHA-256 and SHA-1 of a file, read once."""
    h256, h1 = hashlib.sha256(), hashlib.sha1()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h256.update(chunk)
            h1.update(chunk)
    return h256.hexdigest(), h1.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "image"


# -- images ----------------------------------------------------------------------------------

def _image_record(wim_path: Path, index: int, sha256: str, size: int,
                  source: tuple[str, int] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    import wimcore
    from wimcore.servicing.image_inventory import inventory

    with wimcore.open(wim_path) as wim:
        image = wim.images[index]
        inv = inventory(image)
        count = wim.info.image_count
        info = image.info
        name = image.name
    record = {"wim_path": str(wim_path), "wim_index": index, "name": name or str(index),
              "edition": inv.edition_id or info.edition_id, "arch": inv.arch or info.arch_label,
              "build": inv.build if inv.build is not None else info.build, "ubr": inv.ubr,
              "image_type": inv.image_type.value,
              "languages": list(inv.languages or info.languages), "image_count": count,
              "source_path": source[0] if source else None,
              "source_index": source[1] if source else None,
              "sha256_at_import": sha256, "size_at_import": size, "imported_at": now_iso()}
    packages = [{"key": p.key, "kb": p.kb, "kind": p.kind.value, "release_type": p.release_type,
                 "state": p.state} for p in inv.packages]
    return record, packages


def add_images(catalog: Catalog, wim_path: str | os.PathLike[str], *,
               index: int | str | None = None, library: str | os.PathLike[str] | None = None,
               threads: int = 0) -> list[int]:
    """Register images of a WIM; returns their catalog ids.

    ``index`` None: every image of the WIM, in place. An index (or a name): that image is
    first exported alone into ``<library>/images/`` (atomically) and the single-index copy
    is registered. ``"all"``: each image exported into its own single-index WIM.
    ``library`` (default: the catalog's) is remembered in the catalog when given.
    """
    import wimcore

    src = Path(wim_path).absolute()
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such WIM")
    if library is not None:
        catalog.set_setting("library", str(Path(library).absolute()))
    with wimcore.open(src) as wim:
        indexes = [img.index for img in wim.images]
        names = {img.index: img.name or str(img.index) for img in wim.images}
        if index is not None and str(index).lower() != "all":
            ref: int | str = int(index) if str(index).isdigit() else str(index)
            indexes = [wim.resolve(ref)]
    ids: list[int] = []
    if index is None:
        sha, _ = file_hashes(src)
        size = src.stat().st_size
        for i in indexes:
            record, packages = _image_record(src, i, sha, size, None)
            ids.append(catalog.add_image(record, packages))
        return ids
    out_dir = catalog.library_dir() / "images"
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in indexes:
        dest = out_dir / f"{_slug(src.stem)}-{i}-{_slug(names[i])}.wim"
        if not dest.exists():
            wimcore.export(src, i, dest, threads=threads)
        sha, _ = file_hashes(dest)
        record, packages = _image_record(dest, 1, sha, dest.stat().st_size, (str(src), i))
        ids.append(catalog.add_image(record, packages))
    return ids


# -- updates ---------------------------------------------------------------------------------

@dataclass
class UpdateImport:
    """What happened to one input of ``updates add``."""

    source: str
    status: str  # imported | already-present | refused
    reason: str = ""
    sha256: str | None = None
    stored_path: str | None = None
    packages: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"source": self.source, "status": self.status, "reason": self.reason,
                "sha256": self.sha256, "stored_path": self.stored_path,
                "packages": self.packages}


def _inputs(paths: list[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir()
                              if f.is_file() and f.suffix.lower() in (".msu", ".cab")))
        else:
            out.append(p)
    return out


def _verify(path: Path) -> dict[str, Any]:
    """Expand into a scratch folder and verify every package folder against its catalogs."""
    from wimcore.packages.catalog import verify_package
    from wimcore.packages.expand import expand

    scratch = Path(tempfile.mkdtemp(prefix="wimcore-fleet-verify-"))
    try:
        result = expand(path, scratch / "x")
        folders = sorted({m.parent for m in result.dest.rglob("*.mum")})
        checked: dict[str, Any] = {"packages": 0, "verified": 0, "unverifiable": 0,
                                   "not_covered": 0, "mismatched": []}
        for folder in folders:
            rep = verify_package(folder)
            checked["packages"] += 1
            checked["verified"] += len(rep.verified)
            checked["unverifiable"] += len(rep.unverifiable)
            checked["not_covered"] += len(rep.not_covered)
            checked["mismatched"] += [f"{folder.name}/{m}" for m in rep.mismatched]
        return checked
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def add_update(catalog: Catalog, path: str | os.PathLike[str]) -> UpdateImport:
    """Classify, verify and copy one update file into the content library (once by hash).

    Refused (status ``refused`` with the reason): files that are not servicing packages
    (no ``update.mum``: a Setup Dynamic Update or not an update at all) and packages
    whose files fail their catalog hashes.
    """
    from wimcore.atomic import atomic_output
    from wimcore.errors import WimcoreError
    from wimcore.packages.inspect import inspect_package

    src = Path(path)
    if not src.is_file():
        return UpdateImport(str(src), "refused", "no such file")
    sha256, sha1 = file_hashes(src)
    known = catalog.update_file(sha256)
    if known is not None:
        return UpdateImport(str(src), "already-present", f"same content as {known['name']}",
                            sha256, known["stored_path"])
    try:
        info = inspect_package(src)
    except (WimcoreError, OSError) as exc:
        return UpdateImport(str(src), "refused", f"not a servicing package: {exc}", sha256)
    if not info.packages:
        return UpdateImport(str(src), "refused", "not a servicing package (no update.mum)",
                            sha256)
    try:
        verification = _verify(src)
    except (WimcoreError, OSError) as exc:
        return UpdateImport(str(src), "refused", f"cannot be expanded: {exc}", sha256)
    if verification["mismatched"]:
        return UpdateImport(str(src), "refused", "files fail their catalog hashes: "
                            + ", ".join(verification["mismatched"][:5]), sha256)
    dest_dir = catalog.library_dir() / "updates" / sha256[:2] / sha256
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / src.name
    if not dest.exists():
        with atomic_output(dest) as tmp:
            shutil.copyfile(src, tmp)
    packages = [{"key": p.key, "name": p.identity.name, "version": p.identity.version,
                 "arch": p.identity.arch, "kb": p.kb, "kind": p.kind.value,
                 "release_type": p.release_type} for p in info.packages]
    catalog.add_update_file({"sha256": sha256, "sha1": sha1, "size": src.stat().st_size,
                             "name": src.name, "format": info.format,
                             "stored_path": str(dest), "verification": verification},
                            packages)
    return UpdateImport(str(src), "imported", "", sha256, str(dest), packages)


def add_updates(catalog: Catalog, paths: list[str | os.PathLike[str]]) -> list[UpdateImport]:
    """``add_update`` for each file (folders: their .msu and .cab files)."""
    return [add_update(catalog, p) for p in _inputs(paths)]
