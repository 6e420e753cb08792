"""The boot medium: the WinPE exported to its own WIM with the job launcher, on a small ISO.

Mount-free: the WinPE image is exported (blobs copied as they are) into
``sources/boot.wim``, made its boot index, and edited in place to carry the launcher:
``Windows/System32/startnet.cmd`` (``wpeinit`` first, then the job), a ``winpeshl.ini``
that runs it (so neither Setup's auto-start nor WinRE's recovery shell takes over), and
the diskpart script that brings the disks online. The ISO holds the boot files and that
WIM, written by the project's ISO writer with BIOS and UEFI El Torito entries.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from wimcore.servicing.image_inventory import resolve_path
from wimcore.servicing.vm.bootfiles import BootFiles, stage
from wimcore.servicing.vm.errors import BootFilesError
from wimcore.servicing.vm.guestjob import DISKPART_IN_WINPE, diskpart_script, startnet_script
from wimcore.servicing.vm.winpe import WinPESource

ISO_LABEL = "WIMCORE_WINPE"
STARTNET = "/Windows/System32/startnet.cmd"
WINPESHL = "/Windows/System32/winpeshl.ini"


def winpeshl_text() -> str:
    """``winpeshl.ini``: run the launcher (instead of Setup, recovery, or a bare shell)."""
    return ("[LaunchApps]\r\n"
            "%SYSTEMROOT%\\System32\\cmd.exe, /c %SYSTEMROOT%\\System32\\startnet.cmd\r\n")


@dataclass(frozen=True)
class BootMedium:
    """What was written: the ISO and the facts the report shows."""

    iso: Path
    boot_wim_bytes: int
    iso_bytes: int
    boot_entries: tuple[str, ...]


def build_boot_wim(source: WinPESource, dest: Path, scratch: Path) -> None:
    """Export the WinPE into ``dest`` (a new WIM, boot index 1) with the launcher added."""
    import wimcore

    wimcore.export(source.path, source.index, dest, boot=True, fsync=False)
    scratch.mkdir(parents=True, exist_ok=True)
    files = {"startnet.cmd": startnet_script(), "winpeshl.ini": winpeshl_text(),
             "wimcore-disks.txt": diskpart_script()}
    for name, text in files.items():
        (scratch / name).write_bytes(text.encode("ascii"))
    with wimcore.open(dest, writable=True) as wim:
        image = wim.images[1]
        with image.edit() as edit:
            for wanted, name in ((STARTNET, "startnet.cmd"), (WINPESHL, "winpeshl.ini"),
                                 (DISKPART_IN_WINPE.replace("\\", "/"), "wimcore-disks.txt")):
                existing = resolve_path(image, wanted)
                edit.add(scratch / name, existing or wanted)
        wim.boot_index = 1
        wim.commit(in_place=True, fsync=False)


def write_boot_iso(source: WinPESource, boot_files: BootFiles, iso: Path,
                   work: Path) -> BootMedium:
    """Write ``iso``: the boot files and ``sources/boot.wim`` (the prepared WinPE)."""
    # The ISO writer belongs to the media layer; the boot ISO is the one place servicing
    # needs it (see the README's layout notes).
    from wimcore.errors import IsoError
    from wimcore.iso import write_iso

    tree = work / "iso-tree"
    if tree.exists():
        shutil.rmtree(tree)
    (tree / "sources").mkdir(parents=True)
    boot_wim = tree / "sources" / "boot.wim"
    build_boot_wim(source, boot_wim, work / "launcher")
    stage(boot_files, tree)
    try:
        result = write_iso(tree, iso, label=ISO_LABEL, overwrite=False)
    except IsoError as exc:
        raise BootFilesError(f"the boot ISO could not be written: {exc}") from exc
    medium = BootMedium(iso, boot_wim.stat().st_size, result.size, tuple(result.boot_entries))
    shutil.rmtree(tree, ignore_errors=True)
    return medium
