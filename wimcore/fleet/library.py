"""The image library: what ``fleet add`` does.

Images are registered with what the mount-free inventory reads from them (edition,
architecture, build and UBR, languages, the packages present) and their file hash. With
an index, the image is first exported alone into the library: a single-index WIM is a
smaller file and is serviced faster (Configuration Manager's "extract a specific image
index"). The content library of updates is :mod:`wimcore.fleet.updates`.
"""

from __future__ import annotations

import hashlib
import os
import re
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
