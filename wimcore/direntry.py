"""Files as libwimlib reports them: DirEntry, its streams, and blob (resource) entries."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Any

from wimcore import _lib


class FileAttribute(enum.IntFlag):
    """Windows file attributes (FILE_ATTRIBUTE_*)."""

    READONLY = 0x1
    HIDDEN = 0x2
    SYSTEM = 0x4
    DIRECTORY = 0x10
    ARCHIVE = 0x20
    DEVICE = 0x40
    NORMAL = 0x80
    TEMPORARY = 0x100
    SPARSE_FILE = 0x200
    REPARSE_POINT = 0x400
    COMPRESSED = 0x800
    OFFLINE = 0x1000
    NOT_CONTENT_INDEXED = 0x2000
    ENCRYPTED = 0x4000
    VIRTUAL = 0x10000


class ReparseTag(enum.IntEnum):
    """Common reparse point tags."""

    MOUNT_POINT = 0xA0000003
    SYMLINK = 0xA000000C
    WOF = 0x80000017
    DEDUP = 0x80000013
    HSM = 0xC0000004
    SIS = 0x80000007
    DFS = 0x8000000A
    DFSR = 0x80000012


@dataclass(frozen=True)
class ResourceEntry:
    """A blob in the WIM's blob table (file data or image metadata)."""

    sha1: str
    uncompressed_size: int
    compressed_size: int
    offset: int
    part_number: int
    reference_count: int
    is_compressed: bool
    is_metadata: bool
    is_free: bool
    is_spanned: bool
    is_missing: bool
    packed: bool
    raw_resource_offset: int
    raw_resource_compressed_size: int
    raw_resource_uncompressed_size: int


@dataclass(frozen=True)
class StreamEntry:
    """One data stream of a file: the unnamed one (name None) or a named (alternate) one."""

    name: str | None
    size: int
    sha1: str | None
    resource: ResourceEntry | None


@dataclass(frozen=True)
class DirEntry:
    """A file or directory inside an image, with the metadata libwimlib keeps."""

    name: str
    path: str
    dos_name: str | None
    depth: int
    attributes: FileAttribute
    security_descriptor: bytes | None
    reparse_tag: int
    link_count: int
    hard_link_group_id: int
    creation_time: dt.datetime | None
    last_write_time: dt.datetime | None
    last_access_time: dt.datetime | None
    unix_uid: int
    unix_gid: int
    unix_mode: int
    unix_rdev: int
    object_id: bytes | None
    streams: tuple[StreamEntry, ...]

    @property
    def is_dir(self) -> bool:
        """True for directories (including directory reparse points)."""
        return bool(self.attributes & FileAttribute.DIRECTORY)

    @property
    def is_reparse_point(self) -> bool:
        """True for symlinks, junctions and other reparse points."""
        return bool(self.attributes & FileAttribute.REPARSE_POINT)

    @property
    def size(self) -> int:
        """Size of the unnamed data stream (0 for directories and empty files)."""
        for stream in self.streams:
            if stream.name is None:
                return stream.size
        return 0

    @property
    def sha1(self) -> str | None:
        """SHA-1 of the unnamed data stream (None when empty)."""
        for stream in self.streams:
            if stream.name is None:
                return stream.sha1
        return None

    @property
    def named_streams(self) -> tuple[StreamEntry, ...]:
        """The alternate data streams."""
        return tuple(s for s in self.streams if s.name is not None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return {
            "name": self.name,
            "path": self.path,
            "dos_name": self.dos_name,
            "is_dir": self.is_dir,
            "size": self.size,
            "sha1": self.sha1,
            "attributes": int(self.attributes),
            "reparse_tag": self.reparse_tag,
            "link_count": self.link_count,
            "hard_link_group_id": self.hard_link_group_id,
            "creation_time": _iso(self.creation_time),
            "last_write_time": _iso(self.last_write_time),
            "last_access_time": _iso(self.last_access_time),
            "security_descriptor": (self.security_descriptor.hex()
                                    if self.security_descriptor else None),
            "named_streams": [{"name": s.name, "size": s.size, "sha1": s.sha1}
                              for s in self.named_streams],
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


_ZERO_SHA1 = bytes(20)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _time(ts: Any, high: int) -> dt.datetime | None:
    seconds = int(ts.tv_sec)
    if seconds == 0 and ts.tv_nsec == 0 and high == 0:
        return None
    try:
        return _EPOCH + dt.timedelta(seconds=seconds, microseconds=int(ts.tv_nsec) // 1000)
    except OverflowError:
        return None


def resource_from_c(ffi: Any, res: Any) -> ResourceEntry:
    """Copy a wimlib_resource_entry into Python."""
    digest = bytes(ffi.buffer(res.sha1_hash, 20))
    return ResourceEntry(
        sha1=digest.hex(),
        uncompressed_size=int(res.uncompressed_size),
        compressed_size=int(res.compressed_size),
        offset=int(res.offset),
        part_number=int(res.part_number),
        reference_count=int(res.reference_count),
        is_compressed=bool(res.is_compressed),
        is_metadata=bool(res.is_metadata),
        is_free=bool(res.is_free),
        is_spanned=bool(res.is_spanned),
        is_missing=bool(res.is_missing),
        packed=bool(res.packed),
        raw_resource_offset=int(res.raw_resource_offset_in_wim),
        raw_resource_compressed_size=int(res.raw_resource_compressed_size),
        raw_resource_uncompressed_size=int(res.raw_resource_uncompressed_size),
    )


def direntry_from_c(ffi: Any, d: Any, with_resources: bool) -> DirEntry:
    """Copy a wimlib_dir_entry (and its stream array) into Python before C reuses it."""
    s = _lib.string
    streams = []
    for i in range(d.num_named_streams + 1):
        st = d.streams[i]
        res = st.resource
        digest = bytes(ffi.buffer(res.sha1_hash, 20))
        streams.append(StreamEntry(
            name=s(st.stream_name) if i else None,
            size=int(res.uncompressed_size),
            sha1=None if digest == _ZERO_SHA1 else digest.hex(),
            resource=resource_from_c(ffi, res) if with_resources and digest != _ZERO_SHA1 else None,
        ))
    sd = None
    if d.security_descriptor != ffi.NULL and d.security_descriptor_size:
        sd = bytes(ffi.buffer(d.security_descriptor, d.security_descriptor_size))
    oid = bytes(ffi.buffer(d.object_id.object_id, 16))
    full_path = s(d.full_path) or "/"
    return DirEntry(
        name=s(d.filename) or "",
        path=full_path,
        dos_name=s(d.dos_name),
        depth=int(d.depth),
        attributes=FileAttribute(int(d.attributes)),
        security_descriptor=sd,
        reparse_tag=int(d.reparse_tag),
        link_count=int(d.num_links),
        hard_link_group_id=int(d.hard_link_group_id),
        creation_time=_time(d.creation_time, d.creation_time_high),
        last_write_time=_time(d.last_write_time, d.last_write_time_high),
        last_access_time=_time(d.last_access_time, d.last_access_time_high),
        unix_uid=int(d.unix_uid),
        unix_gid=int(d.unix_gid),
        unix_mode=int(d.unix_mode),
        unix_rdev=int(d.unix_rdev),
        object_id=None if oid == bytes(16) else oid,
        streams=tuple(streams),
    )
