"""How many bytes of a WIM file are dead (unreferenced blobs, old metadata, old XML).

A WIM that was changed in place keeps the data it no longer references until it is
rebuilt or exported; the routine exports a WIM only when that is worth it (or when
its images changed), so a second run on serviced media rewrites nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

HEADER_SIZE = 208
#: Export when at least this many bytes (and this share of the file) would come back.
MIN_RECLAIM_BYTES = 64 * 1024
MIN_RECLAIM_SHARE = 0.01


def _reshdr_size(header: bytes, offset: int) -> int:
    return int.from_bytes(header[offset:offset + 7], "little")


def reclaimable_bytes(path: str | os.PathLike[str]) -> int:
    """File size minus header, referenced resources, blob table, XML and integrity table."""
    import wimcore

    with open(path, "rb") as fh:
        header = fh.read(HEADER_SIZE)
    used: dict[tuple[str, int], int] = {}
    with wimcore.open(path) as wim:
        for res in wim.resources():
            if res.reference_count == 0 and not res.is_metadata:
                continue
            if res.packed:
                used[("solid", res.raw_resource_offset)] = res.raw_resource_compressed_size
            else:
                used[("blob", res.offset)] = res.compressed_size
    total = (HEADER_SIZE + sum(used.values()) + _reshdr_size(header, 48)
             + _reshdr_size(header, 72) + _reshdr_size(header, 124))
    return max(0, Path(path).stat().st_size - total)


def worth_rebuilding(path: str | os.PathLike[str]) -> tuple[bool, int]:
    """(True when an export would reclaim enough, the reclaimable bytes)."""
    dead = reclaimable_bytes(path)
    size = Path(path).stat().st_size
    return dead >= max(MIN_RECLAIM_BYTES, int(size * MIN_RECLAIM_SHARE)), dead
