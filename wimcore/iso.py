"""Build a bootable Windows ISO from a media folder with pycdlib, as oscdimg does.

UDF 2.60 (the file system Windows reads; files over 4 GiB) plus ISO 9660 at
interchange level 4 and Joliet, an El Torito catalog with a BIOS entry
(``boot/etfsboot.com``, no emulation, 8 sectors loaded) and a UEFI entry
(``efi/microsoft/boot/efisys.bin``, platform 0xEF). Written under a temporary name
beside the target and renamed into place when complete.

Reruns are byte-stable: the primary volume descriptor's application-use field carries a
fingerprint of the input (every file's path, size and modification time, the label and
this writer's layout version). When the destination already holds an ISO with the same
fingerprint, it is kept as it is (``IsoResult.rewritten`` is False) instead of being
written again with new timestamps.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.atomic import atomic_output
from wimcore.errors import IsoError

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
#: Where the fingerprint sits: the PVD (sector 16), application-use field (offset 883).
PVD_OFFSET = 16 * 2048
APP_USE_OFFSET = 883
APP_USE_SIZE = 512
FINGERPRINT_TAG = "WIMCORE-ISO-1 "


@dataclass
class IsoResult:
    """What was written: path, label, size, file count, boot entries, multi-extent files."""

    path: Path
    label: str
    size: int = 0
    files: int = 0
    boot_entries: list[str] = field(default_factory=list)
    multi_extent: list[str] = field(default_factory=list)
    fingerprint: str = ""
    rewritten: bool = True  # False: the existing ISO already held exactly these files

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"path": str(self.path), "label": self.label, "size": self.size,
                "files": self.files, "boot_entries": list(self.boot_entries),
                "multi_extent": list(self.multi_extent), "fingerprint": self.fingerprint,
                "rewritten": self.rewritten}


def _included(root: Path, dest: Path, exclude: Iterable[str | os.PathLike[str]]
              ) -> tuple[list[str], list[str]]:
    """(directories, files) of ``root`` to put into the ISO, relative, in a stable order."""
    skip = {Path(e).absolute() for e in exclude}
    dirs_out: list[str] = []
    files_out: list[str] = []
    for dirpath, dirs, files in os.walk(root):
        here = Path(dirpath)
        dirs[:] = sorted(d for d in dirs if (here / d).absolute() not in skip)
        rel_dir = here.relative_to(root).as_posix()
        for name in dirs:
            dirs_out.append(name if rel_dir == "." else f"{rel_dir}/{name}")
        for name in sorted(files):
            full = (here / name).absolute()
            if (full == dest or full in skip or name.endswith(SKIP_SUFFIXES)
                    or ".wimcore-tmp" in name):
                continue
            files_out.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return dirs_out, files_out


def iso_fingerprint(root: Path, dirs: list[str], files: list[str], label: str) -> str:
    """A digest of what the ISO would hold: paths, sizes, modification times, label."""
    h = hashlib.sha256(f"{FINGERPRINT_TAG}{label}\n".encode())
    for rel in dirs:
        h.update(f"d {rel}\n".encode())
    for rel in files:
        st = (root / rel).stat()
        h.update(f"f {rel} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def existing_fingerprint(path: str | os.PathLike[str]) -> str | None:
    """The fingerprint an ISO written by wimcore carries (None for any other file)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(PVD_OFFSET)
            pvd = fh.read(2048)
    except OSError:
        return None
    if len(pvd) < 2048 or pvd[0] != 1 or pvd[1:6] != b"CD001":
        return None
    text = pvd[APP_USE_OFFSET:APP_USE_OFFSET + APP_USE_SIZE].decode("ascii", "replace").strip()
    return text[len(FINGERPRINT_TAG):] if text.startswith(FINGERPRINT_TAG) else None


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
              exclude: Iterable[str | os.PathLike[str]] = (),
              keep_unchanged: bool = True,
              progress: Callable[[int, int], None] | None = None) -> IsoResult:
    """Write ``media`` as a UDF + ISO 9660/Joliet ISO with BIOS and UEFI boot entries.

    ``exclude``: files or folders of ``media`` left out (an updates folder, a work
    folder). With ``keep_unchanged``, an existing ``dest`` whose fingerprint matches
    is kept byte for byte (see the module docstring).
    """
    import pycdlib

    root = Path(media)
    for needed in (BIOS_BOOT, UEFI_BOOT):
        if not (root / needed).is_file():
            raise IsoError(f"{root / needed}: boot file missing; the ISO would not boot")
    if not label or len(label) > 32:
        raise IsoError(f"volume label {label!r}: 1 to 32 characters")
    result = IsoResult(Path(dest), label)
    dest_abs = Path(dest).absolute()
    dirs, files = _included(root, dest_abs, exclude)
    result.fingerprint = iso_fingerprint(root, dirs, files, label)
    result.files = len(files)
    result.multi_extent = [rel for rel in files if (root / rel).stat().st_size > extent_limit]
    result.boot_entries = [f"BIOS no-emulation {BIOS_BOOT} ({BIOS_LOAD_SECTORS} sectors)",
                           f"UEFI (0xEF) no-emulation {UEFI_BOOT}"]
    if keep_unchanged and existing_fingerprint(dest_abs) == result.fingerprint:
        result.rewritten = False
        result.size = dest_abs.stat().st_size
        return result
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, vol_ident=label[:JOLIET_LABEL_CHARS], joliet=3, udf="2.60",
            sys_ident="", app_ident_str="WIMCORE",
            app_use=FINGERPRINT_TAG + result.fingerprint)
    _relabel(iso, label)
    iso_paths: dict[str, str] = {".": ""}
    try:
        for rel in dirs:
            parent, _, name = rel.rpartition("/")
            iso_path = f"{iso_paths[parent or '.']}/{_iso_name(name)}"
            iso_paths[rel] = iso_path
            iso.add_directory(iso_path=iso_path, joliet_path=f"/{rel}"[:240],
                              udf_path=f"/{rel}")
        for rel in files:
            parent, _, name = rel.rpartition("/")
            iso_path = f"{iso_paths[parent or '.']}/{_iso_name(name)}"
            iso_paths[rel] = iso_path
            iso.add_file(os.fspath(root / rel), iso_path=iso_path, joliet_path=f"/{rel}",
                         udf_path=f"/{rel}")
        iso.add_eltorito(iso_paths[BIOS_BOOT], bootcatfile=BOOT_CATALOG,
                         joliet_bootcatfile=BOOT_CATALOG, udf_bootcatfile=BOOT_CATALOG,
                         boot_load_size=BIOS_LOAD_SECTORS, media_name="noemul", platform_id=0)
        iso.add_eltorito(iso_paths[UEFI_BOOT], bootcatfile=BOOT_CATALOG,
                         joliet_bootcatfile=BOOT_CATALOG, udf_bootcatfile=BOOT_CATALOG,
                         media_name="noemul", platform_id=UEFI_PLATFORM_ID, efi=True)

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
