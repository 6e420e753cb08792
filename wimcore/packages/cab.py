"""Read Microsoft cabinets (and cabinet sets) through libmspack: list members, extract them safely.

``Cabinet`` owns one libmspack decompressor and one opened cabinet (set); it frees both
exactly once (context manager or :meth:`Cabinet.close`). Members are extracted in
folder order so that every folder is decompressed once, each to a temporary name beside
its target that is renamed into place when complete; every name is checked before the
first byte is written. What libmspack prints about a damaged cabinet never reaches the
terminal: it becomes the ``detail`` of the error raised, or a ``CabinetWarning``.
"""

from __future__ import annotations

import datetime as _dt
import enum
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wimcore.errors import Cancelled, UnsafePathError
from wimcore.owner import HandleOwner
from wimcore.packages import _mspack
from wimcore.packages.errors import CabinetError, MissingCabinetPartError
from wimcore.packages.safenames import decode_name, normalise, target_path
from wimcore.progress import ProgressEvent, ProgressKind

ProgressCallback = Callable[[ProgressEvent], "bool | None"]

_HDR_PREVCAB = 0x01
_HDR_NEXTCAB = 0x02
_PARAM_FIXMSZIP = 1
_PARAM_DECOMPBUF = 2
_PARAM_SALVAGE = 3
#: Input buffer for the decompressors: larger than libmspack's 4 KiB default, fewer reads.
DECOMP_BUFFER = 64 * 1024
#: How many parts of a set we follow at most (a loop guard against hostile headers).
MAX_SET_PARTS = 4096


class Compression(enum.Enum):
    """A folder's compression method."""

    NONE = 0
    MSZIP = 1
    QUANTUM = 2
    LZX = 3
    UNKNOWN = -1


@dataclass(frozen=True)
class CabFolder:
    """One folder: a compressed stream holding one or more members."""

    index: int
    compression: Compression
    level: int
    num_blocks: int


@dataclass(frozen=True)
class CabMember:
    """One file in a cabinet: its decoded name (``/``-separated), size, attributes and time."""

    name: str
    raw_name: bytes
    size: int
    attributes: int
    datetime: _dt.datetime | None
    folder: int
    offset: int
    compression: Compression

    @property
    def utf8_name(self) -> bool:
        """True when the cabinet marks the name as UTF-8 (attribute 0x80)."""
        return bool(self.attributes & 0x80)

    @property
    def readonly(self) -> bool:
        """The DOS read-only attribute."""
        return bool(self.attributes & 0x01)


def _notify(progress: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send one event; False from the callback (or Cancelled raised by it) cancels."""
    if progress is None:
        return
    if progress(event) is False:
        raise Cancelled("cancelled by the progress callback")


def _find_sibling(directory: Path, name: str) -> Path | None:
    """The file called ``name`` in ``directory``, matched exactly first, then case-insensitively."""
    exact = directory / name
    if exact.is_file():
        return exact
    folded = name.casefold()
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return None
    for entry in entries:
        if entry.casefold() == folded and (directory / entry).is_file():
            return directory / entry
    return None


class Cabinet(HandleOwner):
    """An opened cabinet or cabinet set; use as a context manager (it frees C memory once)."""

    def __init__(self, path: str | os.PathLike[str], *, follow_set: bool = True,
                 salvage: bool = False, fix_mszip: bool = False) -> None:
        self.path = Path(path)
        self._ffi, self._lib = _mspack.binding()
        self._keep: list[Any] = []  # filename buffers libmspack points into until close
        self._decomp: Any = None
        self._cab: Any = None  # the first cabinet opened: the one handed to close()
        self.parts: list[Path] = []
        decomp = self._lib.mspack_create_cab_decompressor(self._ffi.NULL)
        if decomp == self._ffi.NULL:
            _mspack.raise_error(6, path=str(self.path), what="creating the decompressor")
        self._decomp = decomp
        try:
            self._set_param(_PARAM_DECOMPBUF, DECOMP_BUFFER)
            if fix_mszip:
                self._set_param(_PARAM_FIXMSZIP, 1)
            if salvage:
                self._set_param(_PARAM_SALVAGE, 1)
            self._cab = self._open_one(self.path)
            self.parts.append(self.path)
            if follow_set:
                self._follow_set()
            self.folders, self._file_ptrs, self.members = self._read_lists()
        except BaseException:
            self.close()
            raise

    # -- lifetime ---------------------------------------------------------------

    def close(self) -> None:
        """Free the cabinet set and the decompressor (safe to call more than once)."""
        if self._decomp is not None:
            if self._cab is not None:
                self._decomp.close(self._decomp, self._cab)
                self._cab = None
            self._lib.mspack_destroy_cab_decompressor(self._decomp)
            self._decomp = None
        self._file_ptrs = []
        self._keep.clear()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._decomp is None


    def _live(self) -> None:
        if self._decomp is None:
            raise CabinetError("the cabinet is closed", path=str(self.path))

    # -- opening ----------------------------------------------------------------

    def _set_param(self, param: int, value: int) -> None:
        _mspack.check(self._decomp.set_param(self._decomp, param, value), path=str(self.path),
                      what=f"set_param({param})")

    def _open_one(self, path: Path) -> Any:
        buf = self._ffi.new("char[]", os.fsencode(path))
        cab, said = _mspack.call(self._decomp.open, self._decomp, buf, files=[str(path)])
        if cab == self._ffi.NULL:
            code = self._decomp.last_error(self._decomp)
            _mspack.raise_error(code or 8, path=str(path), what="opening the cabinet",
                                messages=said)
        self._keep.append(buf)
        _mspack.warn(said, path=str(path))
        return cab

    def _follow_set(self) -> None:
        directory = self.path.parent
        first = last = self._cab
        for _ in range(MAX_SET_PARTS):
            if not first.flags & _HDR_PREVCAB:
                break
            first = self._join(first, directory, prepend=True)
        for _ in range(MAX_SET_PARTS):
            if not last.flags & _HDR_NEXTCAB:
                break
            last = self._join(last, directory, prepend=False)

    def _join(self, cab: Any, directory: Path, *, prepend: bool) -> Any:
        raw = cab.prevname if prepend else cab.nextname
        name = normalise(decode_name(self._ffi.string(raw), 0)) if raw != self._ffi.NULL else ""
        which = "previous" if prepend else "next"
        if not name or "/" in name:
            raise MissingCabinetPartError(f"the {which} part of the set has no usable name "
                                          f"({name!r})", path=str(self.path))
        found = _find_sibling(directory, name)
        if found is None:
            raise MissingCabinetPartError(
                f"the {which} part of the cabinet set, {name!r}, is not in {str(directory)!r}",
                path=str(self.path))
        other = self._open_one(found)
        merge = self._decomp.prepend if prepend else self._decomp.append
        code, said = _mspack.call(merge, self._decomp, cab, other,
                                  files=[*map(str, self.parts), str(found)])
        if code != 0:
            self._decomp.close(self._decomp, other)  # not merged: closed on its own
        _mspack.check(code, path=str(found), what=f"joining the {which} part of the set",
                      messages=said)
        if prepend:
            self.parts.insert(0, found)
        else:
            self.parts.append(found)
        return other

    def _read_lists(self) -> tuple[list[CabFolder], list[Any], list[CabMember]]:
        ffi = self._ffi
        folders: list[CabFolder] = []
        index_of: dict[int, int] = {}
        folder = self._cab.folders
        while folder != ffi.NULL:
            method = folder.comp_type & 0x0F
            try:
                comp = Compression(method)
            except ValueError:
                comp = Compression.UNKNOWN
            index_of[int(ffi.cast("uintptr_t", folder))] = len(folders)
            folders.append(CabFolder(len(folders), comp, (folder.comp_type >> 8) & 0x1F,
                                     folder.num_blocks))
            folder = folder.next
        ptrs: list[Any] = []
        members: list[CabMember] = []
        f = self._cab.files
        while f != ffi.NULL:
            raw = ffi.string(f.filename) if f.filename != ffi.NULL else b""
            folder_index = index_of.get(int(ffi.cast("uintptr_t", f.folder)), -1)
            members.append(CabMember(
                name=normalise(decode_name(raw, f.attribs)),
                raw_name=raw,
                size=f.length,
                attributes=f.attribs & 0xFFFF,
                datetime=_when(f),
                folder=folder_index,
                offset=f.offset,
                compression=folders[folder_index].compression if folder_index >= 0
                else Compression.UNKNOWN,
            ))
            ptrs.append(f)
            f = f.next
        return folders, ptrs, members

    # -- reading ----------------------------------------------------------------

    def __iter__(self) -> Iterator[CabMember]:
        return iter(self.members)

    def __len__(self) -> int:
        return len(self.members)

    @property
    def total_size(self) -> int:
        """Sum of the members' uncompressed sizes."""
        return sum(m.size for m in self.members)

    def extract(self, dest: str | os.PathLike[str],
                members: Iterable[CabMember | str] | None = None, *,
                progress: ProgressCallback | None = None) -> list[Path]:
        """Extract all (or the selected) members under ``dest``; return the written paths.

        Every name is checked first (UnsafePathError before anything is written). Members
        go out in folder order; each is written to a temporary name and renamed into place.
        """
        self._live()
        chosen = self._select(members)
        root = Path(dest)
        root.mkdir(parents=True, exist_ok=True)
        planned = [(i, target_path(root, self.members[i].name)) for i in chosen]
        order = sorted(planned, key=lambda it: (self.members[it[0]].folder,
                                                self.members[it[0]].offset))
        total = sum(self.members[i].size for i, _ in order)
        done = 0
        written: list[Path] = []
        for n, (i, target) in enumerate(order):
            member = self.members[i]
            _notify(progress, ProgressEvent(ProgressKind.EXPAND, done, total, n, len(order),
                                            member.name))
            self._extract_one(i, root, target)
            written.append(target)
            done += member.size
        _notify(progress, ProgressEvent(ProgressKind.EXPAND, done, total, len(order), len(order),
                                        None, "done"))
        return written

    def read(self, member: CabMember | str, scratch: str | os.PathLike[str]) -> bytes:
        """The bytes of one member, extracted through ``scratch`` (a directory) and removed."""
        self._live()
        (i,) = self._select([member])
        tmp = Path(scratch) / f".wimcore-read-{os.urandom(8).hex()}"
        self._extract_raw(i, tmp)
        try:
            return tmp.read_bytes()
        finally:
            tmp.unlink(missing_ok=True)

    def _select(self, members: Iterable[CabMember | str] | None) -> list[int]:
        if members is None:
            return list(range(len(self.members)))
        by_name: dict[str, int] = {}
        for i, m in enumerate(self.members):
            by_name.setdefault(m.name.casefold(), i)
        out: list[int] = []
        for item in members:
            if isinstance(item, CabMember):
                try:
                    out.append(self.members.index(item))
                except ValueError:
                    raise CabinetError("member is not in this cabinet", path=str(self.path),
                                       member=item.name) from None
            else:
                key = normalise(item).casefold()
                if key not in by_name:
                    raise CabinetError("no such member", path=str(self.path), member=item)
                out.append(by_name[key])
        return out

    def _extract_one(self, i: int, root: Path, target: Path) -> None:
        member = self.members[i]
        target.parent.mkdir(parents=True, exist_ok=True)
        # Re-check after creating directories: a directory made by us cannot be a link out.
        real_root = Path(os.path.realpath(root))
        real_parent = Path(os.path.realpath(target.parent))
        if real_parent != real_root and real_root not in real_parent.parents:
            raise UnsafePathError(f"{member.name!r}: resolves outside the destination")
        tmp = target.parent / f".{target.name[:40]}.{os.urandom(6).hex()}.wimcore-part"
        self._extract_raw(i, tmp)
        try:
            if member.datetime is not None:
                stamp = member.datetime.timestamp()
                os.utime(tmp, (stamp, stamp))
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _extract_raw(self, i: int, tmp: Path) -> None:
        """Decompress member ``i`` to the new file ``tmp`` (a fresh random name in a checked dir).

        libmspack creates it with fopen: one file creation per member, as cabextract does
        (creating it ourselves first doubled the cost on slow file systems).
        """
        if os.path.lexists(tmp):
            raise CabinetError(f"temporary name {tmp.name!r} is taken", path=str(self.path))
        buf = self._ffi.new("char[]", os.fsencode(tmp))
        try:
            code, said = _mspack.call(self._decomp.extract, self._decomp, self._file_ptrs[i],
                                      buf, files=[*map(str, self.parts), str(tmp)])
            _mspack.check(code, path=str(self.path), member=self.members[i].name,
                          what="extracting", messages=said)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _when(f: Any) -> _dt.datetime | None:
    """The member's DOS timestamp as a naive datetime, or None when the fields are invalid."""
    try:
        return _dt.datetime(f.date_y, ord(f.date_m), ord(f.date_d), ord(f.time_h),
                            ord(f.time_m), ord(f.time_s))
    except (ValueError, TypeError):
        return None


def open_cabinet(path: str | os.PathLike[str], **options: bool) -> Cabinet:
    """Open a cabinet (following its set unless ``follow_set=False``); see :class:`Cabinet`."""
    return Cabinet(path, **options)
