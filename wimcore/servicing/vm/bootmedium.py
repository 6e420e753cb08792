"""The boot medium: the WinPE exported to its own WIM with the job launcher, on a small ISO.

Mount-free: the WinPE image is exported into ``sources/boot.wim`` as a non-solid LZX
WIM (the Windows boot loader does not boot an LZMS or solid boot.wim, which some media
and ADK images are), made its boot index, and edited in place to carry the launcher:
``Windows/System32/startnet.cmd`` (``wpeinit`` first, then the job), a ``winpeshl.ini``
that runs it (so neither Setup's auto-start nor WinRE's recovery shell takes over), and
the diskpart script that brings the disks online. WinPE's scratch space (its RAM
overlay, 32 MB by default, too small for DISM servicing an LCU) is raised through the
``WinPECacheThreshold`` value of the image's SYSTEM hive, edited with wimcore's hive
binding (what ``DISM /Set-ScratchSpace`` writes). The ISO holds the boot files and that
WIM, written by the project's ISO writer with BIOS and UEFI El Torito entries.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from wimcore.hive_errors import HiveError
from wimcore.servicing.image_inventory import resolve_path
from wimcore.servicing.vm.bootfiles import BootFiles, stage
from wimcore.servicing.vm.errors import BootFilesError
from wimcore.servicing.vm.guestjob import DISKPART_IN_WINPE, diskpart_script, startnet_script
from wimcore.servicing.vm.winpe import WinPESource

ISO_LABEL = "WIMCORE_WINPE"
STARTNET = "/Windows/System32/startnet.cmd"
SYSTEM_HIVE = "/Windows/System32/config/SYSTEM"
#: WinPE's scratch space in MB (DISM /Set-ScratchSpace accepts 32, 64, 128, 256, 512).
SCRATCH_SPACE_MB = 512
BOOT_WIM_COMPRESSION = "LZX"
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
    scratch_space: str = ""


def raise_scratch_space(system_hive: bytes, megabytes: int = SCRATCH_SPACE_MB) -> bytes:
    """The SYSTEM hive with ``Services\\FBWF\\WinPECacheThreshold`` = ``megabytes`` in the
    control set ``Select\\Current`` names (ControlSet001 when it names none)."""
    from wimcore.hive import Hive, ValueType

    with Hive.from_bytes(system_hive, writable=True) as hive:
        select = hive.get("Select")
        value = select.get_value("Current") if select is not None else None
        current = value if isinstance(value, int) else None
        control_set = f"ControlSet{current if current and 0 < current < 1000 else 1:03d}"
        key = f"{control_set}\\Services\\FBWF"
        hive.add_key(key)
        hive.set_value(key, "WinPECacheThreshold", megabytes, ValueType.REG_DWORD)
        return hive.to_bytes()


def build_boot_wim(source: WinPESource, dest: Path, scratch: Path) -> str:
    """Export the WinPE into ``dest`` (a new LZX WIM, boot index 1) with the launcher
    added and its scratch space raised; returns what was done to the scratch space."""
    import wimcore

    wimcore.export(source.path, source.index, dest, boot=True, fsync=False,
                   compression=BOOT_WIM_COMPRESSION, solid=False)
    scratch.mkdir(parents=True, exist_ok=True)
    files = {"startnet.cmd": startnet_script(), "winpeshl.ini": winpeshl_text(),
             "wimcore-disks.txt": diskpart_script()}
    for name, text in files.items():
        (scratch / name).write_bytes(text.encode("ascii"))
    with wimcore.open(dest, writable=True) as wim:
        image = wim.images[1]
        hive_path = resolve_path(image, SYSTEM_HIVE)
        scratch_note = "not raised: the WinPE has no SYSTEM hive"
        if hive_path is not None:
            try:
                edited = raise_scratch_space(image.read_bytes(hive_path))
            except HiveError as exc:
                hive_path = None
                scratch_note = f"not raised: the WinPE's SYSTEM hive cannot be edited ({exc})"
            else:
                (scratch / "SYSTEM").write_bytes(edited)
                scratch_note = f"WinPECacheThreshold = {SCRATCH_SPACE_MB} MB"
        with image.edit() as edit:
            for wanted, name in ((STARTNET, "startnet.cmd"), (WINPESHL, "winpeshl.ini"),
                                 (DISKPART_IN_WINPE.replace("\\", "/"), "wimcore-disks.txt")):
                existing = resolve_path(image, wanted)
                edit.add(scratch / name, existing or wanted)
            if hive_path is not None:
                edit.add(scratch / "SYSTEM", hive_path)
        wim.boot_index = 1
        wim.commit(in_place=True, fsync=False)
    return scratch_note


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
    scratch_note = build_boot_wim(source, boot_wim, work / "launcher")
    stage(boot_files, tree)
    try:
        result = write_iso(tree, iso, label=ISO_LABEL, overwrite=False)
    except IsoError as exc:
        raise BootFilesError(f"the boot ISO could not be written: {exc}") from exc
    medium = BootMedium(iso, boot_wim.stat().st_size, result.size, tuple(result.boot_entries),
                        scratch_note)
    shutil.rmtree(tree, ignore_errors=True)
    return medium
