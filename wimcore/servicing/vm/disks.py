"""Volume files and the disks a VM sees: sparse NTFS volumes, an MBR header, a VMDK descriptor.

Everything is rootless: ``mkntfs`` (ntfs-3g) formats a plain sparse file, and QEMU's VMDK
``monolithicFlat`` descriptor joins a 1 MiB header file (holding an MBR with one NTFS
partition at sector 2048) and the volume file into one partitioned disk. Guest writes go
straight into the volume file, which libwimlib then reads in NTFS-3G mode.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wimcore.servicing.vm.errors import DiskToolError

SECTOR = 512
MIB = 1024 * 1024
#: The partition starts at 1 MiB, as Windows lays disks out; the header file is that 1 MiB.
PARTITION_START = 2048
HEADER_BYTES = PARTITION_START * SECTOR
NTFS_PARTITION_TYPE = 0x07
MIN_VOLUME_BYTES = 256 * MIB
#: mkntfs's own limit is far above this; the cap catches nonsense sizes early.
MAX_VOLUME_BYTES = 64 * 1024 * 1024 * MIB


@dataclass(frozen=True)
class Disk:
    """One disk presented to the guest: its VMDK descriptor, MBR header and NTFS volume."""

    descriptor: Path
    header: Path
    volume: Path
    label: str

    @property
    def volume_sectors(self) -> int:
        """The volume's length in 512-byte sectors (the partition's length)."""
        return self.volume.stat().st_size // SECTOR

    @property
    def disk_bytes(self) -> int:
        """The size the guest sees: the header plus the volume."""
        return HEADER_BYTES + self.volume.stat().st_size


def round_volume_size(size: int) -> int:
    """A volume size in whole MiB, at least :data:`MIN_VOLUME_BYTES`."""
    size = max(int(size), MIN_VOLUME_BYTES)
    return -(-size // MIB) * MIB


def mkntfs_path() -> str:
    """The ``mkntfs`` program (ntfs-3g), or DiskToolError naming the package."""
    for candidate in (shutil.which("mkntfs"), "/usr/sbin/mkntfs", "/sbin/mkntfs"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise DiskToolError("mkntfs not found: install ntfs-3g (apt-get install ntfs-3g)")


def format_volume(path: Path, size: int, label: str) -> Path:
    """Create ``path`` as a sparse file of ``size`` bytes (whole MiB) holding an empty NTFS.

    ``-p 2048`` records the partition's start in the boot sector (Windows checks it),
    ``-s 512 -H 255 -S 63`` give the geometry mkntfs cannot read from a plain file.
    """
    size = round_volume_size(size)
    if size > MAX_VOLUME_BYTES:
        raise DiskToolError(f"{path}: a {size} byte volume is beyond any image's needs")
    if len(label) > 32 or not label.isascii():
        raise DiskToolError(f"volume label {label!r}: at most 32 ASCII characters")
    exe = mkntfs_path()
    with open(path, "xb") as fh:
        fh.truncate(size)
    proc = subprocess.run([exe, "-F", "-f", "-q", "-s", str(SECTOR), "-p", str(PARTITION_START),
                           "-H", "255", "-S", "63", "-L", label, os.fspath(path)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        detail = " ".join(line for line in proc.stderr.splitlines()
                          if "block device" not in line and "forced anyway" not in line)
        raise DiskToolError(f"mkntfs failed on {path} (exit code {proc.returncode}): "
                            f"{detail.strip()[:500]}")
    return path


def mbr_bytes(volume_sectors: int, signature: int) -> bytes:
    """A 1 MiB disk header: an MBR with one NTFS partition at sector 2048, then zeros.

    ``signature`` is the disk signature Windows uses to tell disks apart: give each disk
    of one boot its own, or Windows takes one of them offline as a duplicate.
    """
    if not 0 < volume_sectors <= 0xFFFFFFFF:
        raise DiskToolError(f"{volume_sectors} sectors do not fit an MBR partition entry")
    if not 0 < signature <= 0xFFFFFFFF:
        raise DiskToolError("the disk signature must be a non-zero 32-bit value")
    mbr = bytearray(SECTOR)
    mbr[440:444] = struct.pack("<I", signature)
    # status, CHS first (past CHS range), type, CHS last, first LBA, sector count
    mbr[446:462] = struct.pack("<B3sB3sII", 0x00, b"\xfe\xff\xff", NTFS_PARTITION_TYPE,
                               b"\xfe\xff\xff", PARTITION_START, volume_sectors)
    mbr[510:512] = b"\x55\xaa"
    return bytes(mbr) + bytes(HEADER_BYTES - SECTOR)


def descriptor_text(header_name: str, volume_name: str, volume_sectors: int, cid: int) -> str:
    """A minimal VMDK ``monolithicFlat`` descriptor joining header and volume (both FLAT).

    The extent lines follow a comment line, not a blank one: QEMU 7.2 maps the first
    extent twice when a blank line precedes it (the disk grows by 1 MiB and the
    partition table points at the wrong bytes).
    """
    for name in (header_name, volume_name):
        if '"' in name or "\n" in name or "/" in name:
            raise DiskToolError(f"{name!r}: extent files must be plain names in the same folder")
    return ("# Disk DescriptorFile\n"
            "version=1\n"
            f"CID={cid & 0xFFFFFFFF:08x}\n"
            "parentCID=ffffffff\n"
            'createType="monolithicFlat"\n'
            "# Extent description\n"
            f'RW {PARTITION_START} FLAT "{header_name}" 0\n'
            f'RW {volume_sectors} FLAT "{volume_name}" 0\n')


def present(volume: Path, signature: int, label: str = "") -> Disk:
    """Wrap an NTFS volume file as a partitioned disk: ``NAME.hdr`` and ``NAME.vmdk`` beside it."""
    sectors = volume.stat().st_size // SECTOR
    if volume.stat().st_size % SECTOR:
        raise DiskToolError(f"{volume}: not a whole number of sectors")
    header = volume.with_name(volume.stem + ".hdr")
    descriptor = volume.with_name(volume.stem + ".vmdk")
    header.write_bytes(mbr_bytes(sectors, signature))
    descriptor.write_text(descriptor_text(header.name, volume.name, sectors, signature),
                          encoding="ascii")
    return Disk(descriptor, header, volume, label or volume.stem)


#: The NTFS volume flag Windows sets while a volume may be inconsistent (chkdsk at boot).
VOLUME_IS_DIRTY = 0x0001


def _ntfs_tool(name: str) -> str | None:
    for candidate in (shutil.which(name), f"/usr/bin/{name}", f"/usr/sbin/{name}",
                      f"/sbin/{name}", f"/bin/{name}"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def volume_problem(volume: Path) -> str | None:
    """None when an NTFS volume file checks clean, else what is wrong with it.

    Clean means: ntfs-3g mounts it and finds $MFT and $MFTMirr consistent (``ntfsfix
    --no-action``, which writes nothing; it refuses a volume whose journal holds
    unfinished transactions), and the volume's dirty flag is not set (``ntfsinfo -m``).
    A VM stopped from outside leaves volumes that Windows had in use; only a clean one
    may be captured back.
    """
    fix, info = _ntfs_tool("ntfsfix"), _ntfs_tool("ntfsinfo")
    if fix is None or info is None:
        return "ntfsfix/ntfsinfo (ntfs-3g) are not installed: the volume cannot be checked"
    proc = subprocess.run([fix, "--no-action", os.fspath(volume)], capture_output=True,
                          text=True, check=False, timeout=600)
    if proc.returncode != 0:
        lines = (proc.stdout + proc.stderr).strip().splitlines()
        return f"ntfsfix --no-action failed: {' '.join(lines[-2:])[:300]}"
    proc = subprocess.run([info, "-m", os.fspath(volume)], capture_output=True, text=True,
                          check=False, timeout=600)
    flags = next((ln.split(":", 1)[1].strip() for ln in proc.stdout.splitlines()
                  if ln.strip().startswith("Volume Flags:")), None)
    if "scheduled for check" in proc.stderr:  # ntfsinfo refuses a dirty volume outright
        return "the volume is marked dirty (scheduled for a check)"
    if proc.returncode != 0 or flags is None:
        return f"ntfsinfo could not read the volume's flags: {proc.stderr.strip()[:300]}"
    try:
        value = int(flags.split()[0], 16)
    except ValueError:
        return f"ntfsinfo printed unreadable volume flags {flags[:40]!r}"
    if value & VOLUME_IS_DIRTY:
        return f"the volume is marked dirty (flags {value:#06x})"
    return None
