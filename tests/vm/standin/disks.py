"""Disks for stand-in boots, made the way servicing-vm.md describes and the VM backend does:
a sparse NTFS volume file (``mkntfs``) presented as a partitioned disk through a minimal
VMDK ``monolithicFlat`` descriptor whose first extent is a 1 MiB MBR header file.

A test helper: the VM backend has its own implementation on the host side.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

SECTOR = 512
HEADER_SECTORS = 2048  # the partition starts at 1 MiB
NTFS_PARTITION_TYPE = 0x07


def make_ntfs_volume(path: Path, size: int, label: str) -> Path:
    """A sparse file of ``size`` bytes formatted as NTFS (no root needed)."""
    if size % SECTOR:
        raise ValueError("the volume size must be a whole number of sectors")
    mkntfs = shutil.which("mkntfs", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if mkntfs is None:
        raise FileNotFoundError("mkntfs is not installed (apt-get install ntfs-3g)")
    with open(path, "wb") as handle:
        handle.truncate(size)
    subprocess.run([mkntfs, "-F", "-f", "-q", "-p", str(HEADER_SECTORS), "-L", label, str(path)],
                   check=True, capture_output=True)
    return path


def mbr_header(volume_sectors: int, disk_signature: int = 0x57494D43) -> bytes:
    """1 MiB: an MBR with one NTFS partition (type 0x07) at sector 2048, then zeros."""
    if not 0 < volume_sectors <= 0xFFFFFFFF - HEADER_SECTORS:
        raise ValueError(f"{volume_sectors} sectors do not fit an MBR partition")
    # A partition entry: status, CHS of the first sector, type, CHS of the last, first LBA,
    # sector count. CHS fields hold the "use LBA" maximum (1023/254/63), as tools write for
    # partitions past the CHS range; Linux and Windows read the LBA fields.
    chs_max = bytes((0xFE, 0xFF, 0xFF))
    entry = (bytes((0x00,)) + chs_max + bytes((NTFS_PARTITION_TYPE,)) + chs_max
             + struct.pack("<II", HEADER_SECTORS, volume_sectors))
    sector = bytearray(SECTOR)
    struct.pack_into("<I", sector, 440, disk_signature)
    sector[446:446 + 16] = entry
    sector[510:512] = b"\x55\xaa"
    return bytes(sector) + bytes(HEADER_SECTORS * SECTOR - SECTOR)


def present_as_disk(volume: Path, descriptor: Path | None = None) -> Path:
    """Write ``<volume>.hdr`` and the VMDK descriptor that makes the volume partition 1.

    QEMU writes through the descriptor straight into the volume file.
    """
    size = volume.stat().st_size
    if size % SECTOR:
        raise ValueError("the volume size must be a whole number of sectors")
    descriptor = descriptor or volume.with_suffix(".vmdk")
    header = volume.with_name(volume.name + ".hdr")
    header.write_bytes(mbr_header(size // SECTOR))
    # Minimal on purpose: with ddb.* lines QEMU 7.2 mapped the header twice (servicing-vm.md),
    # and so does an empty line: QEMU 7.2 parses the extent line after a blank line twice
    # (the disk grows by that extent and the lock on its file fails). No blank lines here.
    descriptor.write_text(
        "# Disk DescriptorFile\n"
        "version=1\n"
        "CID=12345678\n"
        "parentCID=ffffffff\n"
        'createType="monolithicFlat"\n'
        f'RW {HEADER_SECTORS} FLAT "{header.name}" 0\n'
        f'RW {size // SECTOR} FLAT "{volume.name}" 0\n')
    return descriptor
