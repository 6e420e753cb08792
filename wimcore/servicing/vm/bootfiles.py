"""The boot files of the boot ISO, where they come from, and whether they are real.

They come from the media folder (``bootmgr``, ``boot/bcd``, ``boot/boot.sdi``,
``boot/etfsboot.com``, ``efi/boot/bootx64.efi``, ``efi/microsoft/boot/bcd``,
``efi/microsoft/boot/efisys.bin``) or, for a WinPE given alone (an ADK ``winpe.wim``),
from the image's own ``Windows/Boot`` tree, as the ADK's media tools take them. The
no-prompt variants (``efisys_noprompt.bin``) are preferred, so no "press any key" waits.

*Real* boot files are recognised positively (the rule ``auto`` relies on, so it never
boots a fake media such as the built-in sample): the BIOS and UEFI BCD stores are
registry hives with an ``Objects`` key; ``efi/boot/bootx64.efi`` (and ``bootmgr.efi``
when present) are PE32+ EFI applications for the WinPE's machine; ``boot.sdi`` starts
with ``$SDI0001``; ``etfsboot.com`` is a 2 KiB-multiple boot sector of at most 64 KiB;
and the WinPE's ``dism.exe`` is a PE for the WinPE's machine.
"""

from __future__ import annotations

import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from wimcore.servicing.image_inventory import resolve_path
from wimcore.servicing.vm.errors import BootFilesError

if TYPE_CHECKING:
    from wimcore.image import Image

#: ISO path -> (media-folder candidates, WinPE-image candidates), first found wins.
LAYOUT: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "bootmgr": (("bootmgr",), ("Windows/Boot/PCAT/bootmgr",)),
    "boot/bcd": (("boot/bcd",), ("Windows/Boot/DVD/PCAT/BCD",)),
    "boot/boot.sdi": (("boot/boot.sdi",), ("Windows/Boot/DVD/PCAT/boot.sdi",)),
    "boot/etfsboot.com": (("boot/etfsboot.com",), ("Windows/Boot/DVD/PCAT/etfsboot.com",)),
    "efi/boot/bootx64.efi": (("efi/boot/bootx64.efi",), ("Windows/Boot/EFI/bootmgfw.efi",)),
    "efi/microsoft/boot/bcd": (("efi/microsoft/boot/bcd",), ("Windows/Boot/DVD/EFI/BCD",)),
    "efi/microsoft/boot/efisys.bin": (
        ("efi/microsoft/boot/efisys_noprompt.bin", "efi/microsoft/boot/efisys.bin"),
        ("Windows/Boot/DVD/EFI/en-US/efisys_noprompt.bin",
         "Windows/Boot/DVD/EFI/en-US/efisys.bin")),
    "bootmgr.efi": (("bootmgr.efi",), ("Windows/Boot/EFI/bootmgr.efi",)),
}
OPTIONAL = frozenset({"bootmgr.efi"})
MACHINE = {"x64": 0x8664, "x86": 0x014C, "arm64": 0xAA64, "arm": 0x01C4}
SUBSYSTEM_EFI_APPLICATION = 10
SUBSYSTEM_CONSOLE = 3


@dataclass
class BootFiles:
    """The ISO's boot files: ISO-relative path -> host file, and where they came from."""

    files: dict[str, Path] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, str]:
        """ISO path -> where it came from."""
        return dict(self.origin)


def _find_ci(root: Path, rel: str) -> Path | None:
    """``root/rel`` matched case-insensitively, as on the Windows media."""
    here = root
    for part in rel.split("/"):
        exact = here / part
        if exact.exists():
            here = exact
            continue
        try:
            match = next((p for p in here.iterdir() if p.name.lower() == part.lower()), None)
        except OSError:
            return None
        if match is None:
            return None
        here = match
    return here if here.is_file() else None


def collect(media_root: Path | None, winpe: Image | None, dest: Path) -> BootFiles:
    """Find every boot file (media folder first, then the WinPE image) and put the image's
    ones under ``dest``; BootFilesError names what is missing."""
    found = BootFiles()
    from_image: dict[str, str] = {}
    for iso_rel, (media_names, image_names) in LAYOUT.items():
        path: Path | None = None
        if media_root is not None:
            for name in media_names:
                path = _find_ci(media_root, name)
                if path is not None:
                    found.origin[iso_rel] = f"media {media_root}/{name}"
                    break
        if path is None and winpe is not None:
            for name in image_names:
                real = resolve_path(winpe, "/" + name)
                if real is not None:
                    from_image[iso_rel] = real
                    found.origin[iso_rel] = f"WinPE image {real}"
                    break
        if path is not None:
            found.files[iso_rel] = path
    if from_image and winpe is not None:
        tmp = dest / "from-image"
        winpe.extract(sorted(set(from_image.values())), tmp)
        for iso_rel, real in from_image.items():
            found.files[iso_rel] = tmp / real.lstrip("/")
    missing = [rel for rel in LAYOUT if rel not in found.files and rel not in OPTIONAL]
    if missing:
        where = f"the media folder {media_root}" if media_root is not None else "no media folder"
        raise BootFilesError(f"boot files missing ({', '.join(missing)}): looked in {where} "
                             "and in the WinPE image's Windows/Boot; give the media folder "
                             "that holds them")
    return found


def stage(files: BootFiles, dest: Path) -> None:
    """Lay the boot files out under ``dest`` as the ISO wants them (hard links when possible)."""
    for iso_rel, src in files.files.items():
        target = dest / iso_rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, target)
        except OSError:
            shutil.copyfile(src, target)


# -- telling real boot files from fakes ---------------------------------------------------------

def pe_header(data: bytes) -> tuple[int, int, int] | None:
    """(machine, optional-header magic, subsystem) of a PE file, or None when it is not one."""
    if len(data) < 0x40 or data[:2] != b"MZ":
        return None
    (offset,) = struct.unpack_from("<I", data, 0x3C)
    if offset + 24 + 70 > len(data) or data[offset:offset + 4] != b"PE\x00\x00":
        return None
    (machine,) = struct.unpack_from("<H", data, offset + 4)
    opt = offset + 24
    (magic,) = struct.unpack_from("<H", data, opt)
    if magic not in (0x10B, 0x20B):
        return None
    (subsystem,) = struct.unpack_from("<H", data, opt + 68)
    return machine, magic, subsystem


def _bcd_problem(path: Path) -> str | None:
    from wimcore.errors import WimcoreError
    from wimcore.hive import Hive

    if path.read_bytes()[:4] != b"regf":
        return "not a registry hive"
    try:
        with Hive.open(path) as hive:
            if hive.get("Objects") is None:
                return "a hive without an Objects key (not a BCD store)"
    except WimcoreError as exc:
        return f"an unreadable hive ({str(exc).splitlines()[0][:80]})"
    return None


def _efi_problem(path: Path, arch: str) -> str | None:
    head = pe_header(path.read_bytes()[:64 * 1024])
    if head is None:
        return "not a PE file"
    machine, magic, subsystem = head
    if machine != MACHINE.get(arch):
        return f"a PE for machine {machine:#06x}, not {arch}"
    if subsystem != SUBSYSTEM_EFI_APPLICATION:
        return f"a PE of subsystem {subsystem}, not an EFI application"
    del magic
    return None


def fake_boot_files(files: BootFiles, arch: str, dism_exe: bytes) -> list[str]:
    """Why these boot files (and dism.exe) are not real Windows ones; empty when they are."""
    problems: list[str] = []
    for rel in ("boot/bcd", "efi/microsoft/boot/bcd"):
        why = _bcd_problem(files.files[rel])
        if why:
            problems.append(f"{rel}: {why}")
    for rel in ("efi/boot/bootx64.efi", "bootmgr.efi"):
        if rel in files.files:
            why = _efi_problem(files.files[rel], arch)
            if why:
                problems.append(f"{rel}: {why}")
    sdi = files.files["boot/boot.sdi"].read_bytes()[:8]
    if sdi != b"$SDI0001":
        problems.append("boot/boot.sdi: no $SDI0001 signature")
    size = files.files["boot/etfsboot.com"].stat().st_size
    if size == 0 or size % 2048 or size > 64 * 1024:
        problems.append(f"boot/etfsboot.com: {size} bytes is not a CD boot sector image")
    head = pe_header(dism_exe[:64 * 1024])
    if head is None:
        problems.append("Windows/System32/dism.exe: not a PE file")
    elif head[0] != MACHINE.get(arch):
        problems.append(f"Windows/System32/dism.exe: a PE for machine {head[0]:#06x}, "
                        f"not {arch}")
    return problems
