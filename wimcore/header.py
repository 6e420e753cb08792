"""A sanity check of a WIM header before libwimlib sees the file.

libwimlib 1.13 sizes some allocations from header fields before it cross-checks them:
a 400-byte file claiming 1.8 billion images made it allocate and touch about 14 GB
(found by fuzzing). Fields that no real WIM can have are refused here, cheaply, with
the same typed error libwimlib would give for an invalid header.
"""

from __future__ import annotations

import os
import struct

from wimcore.errors import InvalidWimError

HEADER_SIZE = 208
MAGICS = (b"MSWIM\x00\x00\x00", b"WLPWM\x00\x00\x00")  # normal, pipable
BLOB_ENTRY_SIZE = 50
MAX_IMAGES = 65_535
MAX_XML_BYTES = 256 * 1024 * 1024
MAX_BLOB_TABLE_BYTES = 1024 * 1024 * 1024


def _original_size(header: bytes, offset: int) -> int:
    return int(struct.unpack_from("<Q", header, offset + 16)[0])


def check_header(path: str | os.PathLike[str]) -> None:
    """Raise InvalidWimError when the header claims sizes no real WIM has.

    Files too short or without the WIM magic are left to libwimlib, which reports them
    precisely (NOT_A_WIM_FILE, UNEXPECTED_END_OF_FILE).
    """
    try:
        with open(path, "rb") as fh:
            header = fh.read(HEADER_SIZE)
            file_size = os.fstat(fh.fileno()).st_size
    except OSError:
        return  # libwimlib reports open errors with its own codes
    if len(header) < HEADER_SIZE or header[:8] not in MAGICS:
        return
    image_count = struct.unpack_from("<I", header, 44)[0]
    # Each image needs a metadata blob, i.e. a 50-byte blob table entry in the first part.
    image_limit = min(MAX_IMAGES, max(64, file_size // BLOB_ENTRY_SIZE))
    problems = []
    if image_count > image_limit:
        problems.append(f"claims {image_count} images (at most {image_limit} fit in "
                        f"{file_size} bytes)")
    if _original_size(header, 72) > MAX_XML_BYTES:
        problems.append(f"claims a {_original_size(header, 72)}-byte XML document")
    if _original_size(header, 48) > MAX_BLOB_TABLE_BYTES:
        problems.append(f"claims a {_original_size(header, 48)}-byte blob table")
    if problems:
        raise InvalidWimError(17, "The WIM header was invalid: " + "; ".join(problems),
                              path=os.fspath(path))
