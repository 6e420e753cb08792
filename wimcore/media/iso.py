"""Build a bootable Windows ISO from a media folder with pycdlib, as oscdimg does.

UDF 2.60 (the file system Windows reads; files over 4 GiB) plus ISO 9660 at
interchange level 4 and Joliet, an El Torito catalog with a BIOS entry
(``boot/etfsboot.com``, no emulation, 8 sectors loaded) and a UEFI entry
(``efi/microsoft/boot/efisys.bin``, platform 0xEF). Written under a temporary name
beside the target and renamed into place when complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.atomic import atomic_output
from wimcore.media.errors import IsoError

BIOS_BOOT = "boot/etfsboot.com"
UEFI_BOOT = "efi/microsoft/boot/efisys.bin"
BOOT_CATALOG = "/boot.catalog"
BIOS_LOAD_SECTORS = 8
UEFI_PLATFORM_ID = 0xEF
DEFAULT_LABEL = "CCCOMA_X64FRE_EN-US_DV9"
#: ISO 9660 records one extent of at most 4 GiB - 1 per directory record; larger files
#: need multi-extent records (pycdlib writes them at interchange level 3 and above).
ISO9660_EXTENT_LIMIT = 0xFFFFFFFF
JOLIET_LABEL_CHARS = 16
#: wimcore's own bookkeeping beside the WIMs stays out of the ISO.
SKIP_SUFFIXES = (".wimcore-history.json", ".wimcore.log")


@dataclass
class IsoResult:
    """What was written: path, label, size, file count, boot entries, multi-extent files."""

    path: Path
    label: str
    size: int = 0
    files: int = 0
    boot_entries: list[str] = field(default_factory=list)
    multi_extent: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"path": str(self.path), "label": self.label, "size": self.size,
                "files": self.files, "boot_entries": list(self.boot_entries),
                "multi_extent": list(self.multi_extent)}


def _iso_name(part: str) -> str:
    """An ISO 9660 level-4 name: upper case, no version suffix, unsafe characters replaced."""
    keep = "".join(c if (c.isalnum() or c in "._-") and c.isascii() else "_" for c in part)
    return keep.upper()[:200] or "_"


def _relabel(iso: Any, label: str) -> None:
    """Give the ISO 9660 and UDF descriptors the full label (Joliet keeps 16 characters)."""
    from pycdlib import udf as pyudf
    from pycdlib import utils

    iso.pvd.volume_identifier = utils.encode_space_pad(label.encode(), 32, "ascii")
    pad = pyudf._ostaunicode_zero_pad
    for seq in (getattr(iso, "udf_main_descs", None), getattr(iso, "udf_reserve_descs", None)):
        if seq is None:
            continue
        for pvd in seq.pvds:
            pvd.vol_ident = pad(label, 32)
        for lv in seq.logical_volumes:
            lv.logical_vol_ident = pad(label, 128)
        for use in seq.impl_use:
            use.impl_use.log_vol_ident = pad(label, 128)
    file_set = getattr(iso, "udf_file_set", None)
    if file_set is not None:
        file_set.log_vol_ident = pad(label, 128)
        file_set.file_set_ident = pad(label, 32)


def write_iso(media: str | os.PathLike[str], dest: str | os.PathLike[str], *,
              label: str = DEFAULT_LABEL, overwrite: bool = True,
              extent_limit: int = ISO9660_EXTENT_LIMIT,
              progress: Callable[[int, int], None] | None = None) -> IsoResult:
    """Write ``media`` as a UDF + ISO 9660/Joliet ISO with BIOS and UEFI boot entries."""
    import pycdlib

    root = Path(media)
    for needed in (BIOS_BOOT, UEFI_BOOT):
        if not (root / needed).is_file():
            raise IsoError(f"{root / needed}: boot file missing; the ISO would not boot")
    if not label or len(label) > 32:
        raise IsoError(f"volume label {label!r}: 1 to 32 characters")
    result = IsoResult(Path(dest), label)
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, vol_ident=label[:JOLIET_LABEL_CHARS], joliet=3, udf="2.60",
            sys_ident="", app_ident_str="WIMCORE")
    _relabel(iso, label)
    iso_paths: dict[str, str] = {}
    dest_abs = Path(dest).absolute()
    try:
        for dirpath, dirs, files in os.walk(root):
            dirs.sort()
            here = Path(dirpath)
            rel_dir = here.relative_to(root).as_posix()
            parent_iso = "" if rel_dir == "." else iso_paths[rel_dir]
            for name in dirs:
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                iso_path = f"{parent_iso}/{_iso_name(name)}"
                iso_paths[rel] = iso_path
                iso.add_directory(iso_path=iso_path, joliet_path=f"/{rel}"[:240],
                                  udf_path=f"/{rel}")
            for name in sorted(files):
                full = here / name
                if (full.absolute() == dest_abs or name.endswith(SKIP_SUFFIXES)
                        or ".wimcore-tmp" in name):
                    continue
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                iso_path = f"{parent_iso}/{_iso_name(name)}"
                iso_paths[rel] = iso_path
                size = full.stat().st_size
                if size > extent_limit:
                    result.multi_extent.append(rel)
                iso.add_file(os.fspath(full), iso_path=iso_path, joliet_path=f"/{rel}",
                             udf_path=f"/{rel}")
                result.files += 1
        iso.add_eltorito(iso_paths[BIOS_BOOT], bootcatfile=BOOT_CATALOG,
                         joliet_bootcatfile=BOOT_CATALOG, udf_bootcatfile=BOOT_CATALOG,
                         boot_load_size=BIOS_LOAD_SECTORS, media_name="noemul", platform_id=0)
        result.boot_entries.append(f"BIOS no-emulation {BIOS_BOOT} ({BIOS_LOAD_SECTORS} "
                                   "sectors)")
        iso.add_eltorito(iso_paths[UEFI_BOOT], bootcatfile=BOOT_CATALOG,
                         joliet_bootcatfile=BOOT_CATALOG, udf_bootcatfile=BOOT_CATALOG,
                         media_name="noemul", platform_id=UEFI_PLATFORM_ID, efi=True)
        result.boot_entries.append(f"UEFI (0xEF) no-emulation {UEFI_BOOT}")

        def on_write(done: int, total: int, _opaque: object) -> None:
            if progress is not None:
                progress(done, total)

        with atomic_output(dest, overwrite=overwrite) as tmp:
            iso.write(os.fspath(tmp), progress_cb=on_write)
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise IsoError(f"{dest}: {exc}") from exc
    finally:
        iso.close()
    result.size = Path(dest).stat().st_size
    return result
