"""A WIM file: open or create it, its images, and the verbs that write (commit, write, export,
split, join, verify, optimize)."""

from __future__ import annotations

import glob as globmod
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wimcore import _lib, ledger
from wimcore.atomic import (
    WriterLock,
    atomic_output,
    publish,
    staged_directory,
    sweep_stale,
    temp_path_for,
)
from wimcore.compression import Compression
from wimcore.direntry import ResourceEntry, resource_from_c
from wimcore.errors import (
    DestinationExistsError,
    ImageNotFoundError,
    InvalidParameterError,
    MissingFileError,
    ReadOnlyError,
)
from wimcore.header import check_header
from wimcore.image import Image, is_ntfs_target
from wimcore.imageinfo import ImageInfo, image_info, parse_wim_xml
from wimcore.owner import HandleOwner
from wimcore.progress import ProgressCallback, finish, progress_on, standalone

ALL = "all"
WIMLIB_ALL_IMAGES = -1  # libwimlib: "all images" in write and export calls
ImageRef = int | str


@dataclass(frozen=True)
class WimInfo:
    """Header facts of a WIM (wimlib_wim_info)."""

    guid: str
    image_count: int
    boot_index: int
    wim_version: int
    chunk_size: int
    part_number: int
    total_parts: int
    compression: Compression
    total_bytes: int
    has_integrity_table: bool
    opened_from_file: bool
    is_readonly: bool
    has_rpfix: bool
    is_marked_readonly: bool
    spanned: bool
    write_in_progress: bool
    metadata_only: bool
    resource_only: bool
    pipable: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        out = dict(self.__dict__)
        out["compression"] = self.compression.name.lower()
        return out


class ImageCollection:
    """The images of a WIM: 1-based, by index or by name, iterable and sized."""

    def __init__(self, wim: Wim) -> None:
        self._wim = wim

    def __len__(self) -> int:
        return self._wim.info.image_count

    def __iter__(self) -> Iterator[Image]:
        for index in range(1, len(self) + 1):
            yield Image(self._wim, index)

    def __getitem__(self, key: ImageRef) -> Image:
        return Image(self._wim, self._wim.resolve(key))

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, (int, str)):
            return False
        try:
            self._wim.resolve(key)
        except ImageNotFoundError:
            return False
        return True

    def names(self) -> list[str]:
        """Image names in index order."""
        return [image.name for image in self]


def _write_flags(*, check_integrity: bool | None = False, recompress: bool = False,
                 solid: bool = False, pipable: bool = False, rebuild: bool = False,
                 retain_guid: bool = False, fsync: bool = True, not_pipable: bool = False,
                 no_solid_sort: bool = False, skip_external_wims: bool = False,
                 soft_delete: bool = False) -> int:
    lib = _lib.lib()
    flags = 0
    if check_integrity:
        flags |= lib.WIMLIB_WRITE_FLAG_CHECK_INTEGRITY
    elif check_integrity is False:
        flags |= lib.WIMLIB_WRITE_FLAG_NO_CHECK_INTEGRITY
    for on, flag in ((recompress, lib.WIMLIB_WRITE_FLAG_RECOMPRESS),
                     (solid, lib.WIMLIB_WRITE_FLAG_SOLID),
                     (pipable, lib.WIMLIB_WRITE_FLAG_PIPABLE),
                     (rebuild, lib.WIMLIB_WRITE_FLAG_REBUILD),
                     (retain_guid, lib.WIMLIB_WRITE_FLAG_RETAIN_GUID),
                     (fsync, lib.WIMLIB_WRITE_FLAG_FSYNC),
                     (not_pipable, lib.WIMLIB_WRITE_FLAG_NOT_PIPABLE),
                     (no_solid_sort, lib.WIMLIB_WRITE_FLAG_NO_SOLID_SORT),
                     (skip_external_wims, lib.WIMLIB_WRITE_FLAG_SKIP_EXTERNAL_WIMS),
                     (soft_delete, lib.WIMLIB_WRITE_FLAG_SOFT_DELETE)):
        if on:
            flags |= flag
    return flags


class Wim(HandleOwner):
    """An open WIM (a libwimlib WIMStruct). Use as a context manager; close() frees it once."""

    def __init__(self, ptr: Any, path: str | None, writable: bool,
                 refs: Sequence[str] = ()) -> None:
        self._ptr: Any = ptr
        self.path = path
        self.writable = writable
        self._refs = list(refs)
        self._generation = 0
        self._infos: dict[int, ImageInfo] | None = None
        self._keepalive: list[Wim] = []  # WIMs whose blobs were exported into this one
        self._lock: WriterLock | None = None
        self._modified = False

    # -- life cycle -------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once close() ran."""
        return self._ptr is None

    def close(self) -> None:
        """Free the WIMStruct and release the writer lock (idempotent)."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            _lib.lib().wimlib_free(ptr)
            self._generation += 1
        if self._lock is not None:
            self._lock.release()
            self._lock = None
        self._keepalive.clear()

    def _ptr_checked(self) -> Any:
        if self._ptr is None:
            raise ValueError("operation on a closed WIM")
        return self._ptr

    def __repr__(self) -> str:
        state = "closed" if self.closed else ("writable" if self.writable else "read-only")
        return f"<Wim {self.path or '(new)'} {state}>"

    def _changed(self) -> None:
        self._infos = None
        self._modified = True

    @property
    def modified(self) -> bool:
        """True when the WIM has in-memory changes that are not written yet."""
        return self._modified

    # -- facts ------------------------------------------------------------------------
    @property
    def info(self) -> WimInfo:
        """Header facts: GUID, image count, boot index, compression, chunk size, parts, flags."""
        ptr = self._ptr_checked()
        lib, ffi = _lib.lib(), _lib.ffi()
        raw = ffi.new("struct wimlib_wim_info *")
        _lib.check(lib.wimlib_get_wim_info(ptr, raw), path=self.path)
        return WimInfo(
            guid=bytes(ffi.buffer(raw.guid, 16)).hex(),
            image_count=int(raw.image_count), boot_index=int(raw.boot_index),
            wim_version=int(raw.wim_version), chunk_size=int(raw.chunk_size),
            part_number=int(raw.part_number), total_parts=int(raw.total_parts),
            compression=Compression(int(raw.compression_type)),
            total_bytes=int(raw.total_bytes),
            has_integrity_table=bool(raw.has_integrity_table),
            opened_from_file=bool(raw.opened_from_file), is_readonly=bool(raw.is_readonly),
            has_rpfix=bool(raw.has_rpfix), is_marked_readonly=bool(raw.is_marked_readonly),
            spanned=bool(raw.spanned), write_in_progress=bool(raw.write_in_progress),
            metadata_only=bool(raw.metadata_only), resource_only=bool(raw.resource_only),
            pipable=bool(raw.pipable),
        )

    @property
    def images(self) -> ImageCollection:
        """The images, 1-based, by index or name."""
        self._ptr_checked()
        return ImageCollection(self)

    def resolve(self, key: ImageRef) -> int:
        """Turn an index or name into a 1-based index (ImageNotFoundError when absent)."""
        ptr = self._ptr_checked()
        count = self.info.image_count
        if isinstance(key, bool) or not isinstance(key, (int, str)):
            raise ImageNotFoundError(18, f"not an image index or name: {key!r}", path=self.path)
        if isinstance(key, int) or key.strip().isdigit():
            index = int(key)
            if 1 <= index <= count:
                return index
            raise ImageNotFoundError(18, f"no image {index}: the WIM has {count} image(s)",
                                     path=self.path, image=index)
        index = int(_lib.lib().wimlib_resolve_image(ptr, _lib.cstr(key)))
        if index <= 0:
            names = ", ".join(repr(n) for n in self.images.names()) or "none"
            raise ImageNotFoundError(18, f"no image named {key!r} (images: {names})",
                                     path=self.path, image=key)
        return index

    @property
    def xml(self) -> bytes:
        """The WIM's XML document as stored (UTF-16LE with a BOM)."""
        ptr = self._ptr_checked()
        lib, ffi = _lib.lib(), _lib.ffi()
        buf = ffi.new("void **")
        size = ffi.new("size_t *")
        _lib.check(lib.wimlib_get_xml_data(ptr, buf, size), path=self.path)
        try:
            return bytes(ffi.buffer(buf[0], size[0]))
        finally:
            lib.free(buf[0])

    def _stored_properties(self) -> dict[int, dict[str, str]]:
        """Every XML property per image as stored in the file (empty for new WIMs)."""
        if self._infos is None:
            data = self.xml if self.path is not None else b""
            parsed = parse_wim_xml(data) if data.strip(b"\x00\xff\xfe") else {}
            self._infos = {i: info for i, info in parsed.items()}
        return {i: info.properties for i, info in self._infos.items()}

    def image_info(self, index: int) -> ImageInfo:
        """Typed properties of one image as they are now (in-memory changes included)."""
        ptr = self._ptr_checked()
        lib = _lib.lib()
        stored = {} if self._modified else self._stored_properties().get(index, {})

        def get(path: str) -> str | None:
            value = _lib.string(lib.wimlib_get_image_property(ptr, index, _lib.cstr(path)))
            return value.strip() if value is not None else None

        return image_info(index, get, stored)

    @property
    def boot_index(self) -> int:
        """The bootable image's index (0: none)."""
        return self.info.boot_index

    @boot_index.setter
    def boot_index(self, image: ImageRef) -> None:
        index = 0 if image in (0, "0") else self.resolve(image)
        self._set_info(boot_index=index)

    def _set_info(self, *, boot_index: int | None = None, readonly_flag: bool | None = None,
                  guid: bytes | None = None) -> None:
        ptr = self._ptr_checked()
        lib, ffi = _lib.lib(), _lib.ffi()
        raw = ffi.new("struct wimlib_wim_info *")
        which = 0
        if boot_index is not None:
            raw.boot_index = boot_index
            which |= lib.WIMLIB_CHANGE_BOOT_INDEX
        if readonly_flag is not None:
            raw.is_marked_readonly = int(readonly_flag)
            which |= lib.WIMLIB_CHANGE_READONLY_FLAG
        if guid is not None:
            ffi.memmove(raw.guid, guid, 16)
            which |= lib.WIMLIB_CHANGE_GUID
        _lib.check(lib.wimlib_set_wim_info(ptr, raw, which), path=self.path)
        self._changed()

    def set_readonly_flag(self, readonly: bool) -> None:
        """Set or clear the header's read-only flag (written at the next commit)."""
        self._set_info(readonly_flag=readonly)

    def set_output(self, *, compression: Compression | str | None = None,
                   chunk_size: int | None = None,
                   solid_compression: Compression | str | None = None,
                   solid_chunk_size: int | None = None) -> None:
        """Choose the compression type and chunk size used by the next write or commit."""
        ptr = self._ptr_checked()
        lib = _lib.lib()
        if compression is not None:
            _lib.check(lib.wimlib_set_output_compression_type(
                ptr, int(Compression.parse(compression))))
        if chunk_size is not None:
            _lib.check(lib.wimlib_set_output_chunk_size(ptr, chunk_size))
        if solid_compression is not None:
            _lib.check(lib.wimlib_set_output_pack_compression_type(
                ptr, int(Compression.parse(solid_compression))))
        if solid_chunk_size is not None:
            _lib.check(lib.wimlib_set_output_pack_chunk_size(ptr, solid_chunk_size))

    @property
    def is_solid(self) -> bool:
        """True when file data sits in solid resources (an ESD, or a WIM written with solid)."""
        return any(r.packed for r in self.resources() if not r.is_metadata)

    def resources(self) -> list[ResourceEntry]:
        """Every blob in the blob table (file data and image metadata)."""
        ptr = self._ptr_checked()
        lib, ffi = _lib.lib(), _lib.ffi()
        found: list[ResourceEntry] = []

        @ffi.callback("wimlib_iterate_lookup_table_callback_t", onerror=lambda *a: 1)
        def on_resource(res: Any, _ctx: Any) -> int:
            found.append(resource_from_c(ffi, res))
            return 0

        _lib.check(lib.wimlib_iterate_lookup_table(ptr, 0, on_resource, ffi.NULL), path=self.path)
        return found

    # -- changing images (in memory until commit/write) ---------------------------------
    def add_empty_image(self, name: str) -> Image:
        """Append a new empty image."""
        ptr = self._ptr_checked()
        lib, ffi = _lib.lib(), _lib.ffi()
        out = ffi.new("int *")
        _lib.check(lib.wimlib_add_empty_image(ptr, _lib.cstr(name), out), path=self.path)
        self._changed()
        return Image(self, int(out[0]))

    def add_image(self, source: str | os.PathLike[str] | Sequence[tuple[str, str]], name: str, *,
                  description: str | None = None, config: str | os.PathLike[str] | None = None,
                  ntfs: bool | None = None, unix_data: bool = False, no_acls: bool = False,
                  strict_acls: bool = False, dereference: bool = False, boot: bool = False,
                  wimboot: bool = False, snapshot: bool = False, rpfix: bool | None = None,
                  default_exclusions: bool = False,
                  progress: ProgressCallback | None = None) -> Image:
        """Capture a directory, an NTFS volume, or several (source, target) pairs as a new image.

        ``default_exclusions`` applies wimlib-imagex's default capture configuration
        (``\\pagefile.sys``, ``\\System Volume Information``, ...) when no ``config`` is
        given; ``rpfix`` forces (True) or disables (False) absolute symlink fixups.
        """
        ptr = self._ptr_checked()
        lib, ffi = _lib.lib(), _lib.ffi()
        multi = not isinstance(source, (str, os.PathLike))
        first = source[0][0] if multi else os.fspath(source)  # type: ignore[index,arg-type]
        if not multi and not os.path.exists(first):
            raise MissingFileError(47, "the capture source does not exist", path=str(first))
        use_ntfs = (not multi and is_ntfs_target(first)) if ntfs is None else ntfs
        flags = 0
        for on, flag in ((use_ntfs, lib.WIMLIB_ADD_FLAG_NTFS),
                         (unix_data, lib.WIMLIB_ADD_FLAG_UNIX_DATA),
                         (no_acls, lib.WIMLIB_ADD_FLAG_NO_ACLS),
                         (strict_acls, lib.WIMLIB_ADD_FLAG_STRICT_ACLS),
                         (dereference, lib.WIMLIB_ADD_FLAG_DEREFERENCE),
                         (boot, lib.WIMLIB_ADD_FLAG_BOOT), (wimboot, lib.WIMLIB_ADD_FLAG_WIMBOOT),
                         (snapshot, lib.WIMLIB_ADD_FLAG_SNAPSHOT),
                         (rpfix is True, lib.WIMLIB_ADD_FLAG_RPFIX),
                         (rpfix is False, lib.WIMLIB_ADD_FLAG_NORPFIX),
                         (default_exclusions and config is None, lib.WIMLIB_ADD_FLAG_WINCONFIG)):
            if on:
                flags |= flag
        cfg = _lib.cstr(os.fspath(config) if config is not None else None)
        with progress_on(ptr, progress) as bridge:
            if multi:
                pairs = list(source)  # type: ignore[arg-type]
                keep = [(_lib.cstr(s), _lib.cstr(t)) for s, t in pairs]
                arr = ffi.new("struct wimlib_capture_source[]", len(keep))
                for slot, (s, t) in zip(arr, keep, strict=True):
                    slot.fs_source_path = s
                    slot.wim_target_path = t
                code = lib.wimlib_add_image_multisource(ptr, arr, len(keep), _lib.cstr(name),
                                                        cfg, flags)
            else:
                code = lib.wimlib_add_image(ptr, _lib.cstr(first), _lib.cstr(name), cfg, flags)
        finish(bridge, code, path=str(first))
        self._changed()
        image = Image(self, self.info.image_count)
        if description is not None:
            image.description = description
        return image

    def delete_image(self, image: ImageRef) -> None:
        """Remove an image (space is reclaimed when the WIM is rebuilt at commit)."""
        ptr = self._ptr_checked()
        index = self.resolve(image)
        _lib.check(_lib.lib().wimlib_delete_image(ptr, index), path=self.path, image=index)
        self._generation += 1
        self._changed()

    def import_image(self, source: Wim, image: ImageRef = ALL, *, name: str | None = None,
                     description: str | None = None, boot: bool = False,
                     keep_names: bool = True, wimboot: bool = False) -> list[Image]:
        """Export image(s) of ``source`` into this WIM in memory (blobs are shared, not copied).

        ``source`` is kept open until this WIM is closed or committed.
        """
        ptr = self._ptr_checked()
        src = source._ptr_checked()
        lib = _lib.lib()
        before = self.info.image_count
        index = -1 if image == ALL else source.resolve(image)
        flags = lib.WIMLIB_EXPORT_FLAG_BOOT if boot else 0
        if wimboot:
            flags |= lib.WIMLIB_EXPORT_FLAG_WIMBOOT
        if not keep_names:
            flags |= lib.WIMLIB_EXPORT_FLAG_NO_NAMES | lib.WIMLIB_EXPORT_FLAG_NO_DESCRIPTIONS
        _lib.check(lib.wimlib_export_image(src, index, ptr, _lib.cstr(name),
                                           _lib.cstr(description), flags),
                   path=source.path, image=image)
        self._keepalive.append(source)
        self._changed()
        return [Image(self, i) for i in range(before + 1, self.info.image_count + 1)]

    def name_in_use(self, name: str) -> bool:
        """True when an image of this WIM already has that name."""
        return bool(_lib.lib().wimlib_image_name_in_use(self._ptr_checked(), _lib.cstr(name)))

    def reference_wims(self, others: Sequence[Wim]) -> None:
        """Use blobs of other open WIMs (kept open as long as this one) for missing data."""
        ptr = self._ptr_checked()
        ffi = _lib.ffi()
        arr = ffi.new("WIMStruct *[]", [w._ptr_checked() for w in others])
        _lib.check(_lib.lib().wimlib_reference_resources(ptr, arr, len(others), 0),
                   path=self.path)
        self._keepalive.extend(others)

    def reference(self, parts: Iterable[str | os.PathLike[str]]) -> None:
        """Reference the other parts of a split WIM (globs allowed), as ``--ref`` does."""
        ptr = self._ptr_checked()
        lib, ffi = _lib.lib(), _lib.ffi()
        items = [os.fspath(p) for p in parts]
        if not items:
            return
        for item in items:
            if not globmod.has_magic(item) and not os.path.exists(item):
                raise MissingFileError(47, "split WIM part does not exist", path=item)
            for part in globmod.glob(item) if globmod.has_magic(item) else [item]:
                check_header(part)
        bufs = [_lib.cstr(p) for p in items]
        arr = ffi.new("const char *[]", bufs)
        flags = lib.WIMLIB_REF_FLAG_GLOB_ENABLE | lib.WIMLIB_REF_FLAG_GLOB_ERR_ON_NOMATCH
        _lib.check(lib.wimlib_reference_resource_files(ptr, arr, len(bufs), flags, 0),
                   path=items[0])
        self._refs.extend(items)

    # -- writing ----------------------------------------------------------------------
    def write(self, path: str | os.PathLike[str], *, image: ImageRef = ALL,
              overwrite: bool = False, compression: Compression | str | None = None,
              chunk_size: int | None = None, solid: bool = False,
              solid_compression: Compression | str | None = None, recompress: bool = False,
              check_integrity: bool = False, pipable: bool = False, threads: int = 0,
              retain_guid: bool = False, fsync: bool = True, no_solid_sort: bool = False,
              skip_external_wims: bool = False,
              progress: ProgressCallback | None = None) -> None:
        """Write the WIM (or one image) to a new file, atomically: temporary name, then rename.

        ``fsync`` (default on) makes libwimlib flush the file before it is renamed into
        place, so a power loss cannot leave a renamed but empty file; wimlib-imagex does
        not flush by default.
        """
        ptr = self._ptr_checked()
        lib = _lib.lib()
        index = WIMLIB_ALL_IMAGES if image == ALL else self.resolve(image)
        self.set_output(compression=compression, chunk_size=chunk_size,
                        solid_compression=solid_compression)
        flags = _write_flags(check_integrity=check_integrity, recompress=recompress, solid=solid,
                             pipable=pipable, retain_guid=retain_guid, fsync=fsync,
                             no_solid_sort=no_solid_sort, skip_external_wims=skip_external_wims)
        with atomic_output(path, overwrite=overwrite, fsync=fsync) as tmp:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_write(ptr, _lib.cstr(tmp), index, flags, threads)
            finish(bridge, code, path=os.fspath(path))

    def write_to_fd(self, fd: int, *, image: ImageRef = ALL, pipable: bool = True,
                    threads: int = 0, solid: bool = False, check_integrity: bool = False,
                    no_solid_sort: bool = False, skip_external_wims: bool = False,
                    progress: ProgressCallback | None = None) -> None:
        """Stream the WIM to an open file descriptor (a pipe: pipable format by default)."""
        ptr = self._ptr_checked()
        lib = _lib.lib()
        index = WIMLIB_ALL_IMAGES if image == ALL else self.resolve(image)
        flags = _write_flags(pipable=pipable, fsync=False, solid=solid,
                             check_integrity=check_integrity, no_solid_sort=no_solid_sort,
                             skip_external_wims=skip_external_wims)
        with progress_on(ptr, progress) as bridge:
            code = lib.wimlib_write_to_fd(ptr, fd, index, flags, threads)
        finish(bridge, code, path=f"fd {fd}")

    def commit(self, *, progress: ProgressCallback | None = None,
               check_integrity: bool | None = None, recompress: bool = False,
               rebuild: bool = False, threads: int = 0, in_place: bool = False,
               fsync: bool = True, pipable: bool | None = None, solid: bool | None = None,
               soft_delete: bool = False, no_solid_sort: bool = False) -> None:
        """Save the changes to this WIM's own file.

        By default the whole WIM is written to a temporary file beside it (blobs copied
        as they are unless ``recompress``) and renamed over the original: a failure, a
        cancel or a kill leaves the original byte-identical. ``in_place=True`` uses
        libwimlib's append-style overwrite instead (faster for big WIMs; crash-safe by
        writing the header last, but a killed append can leave unreferenced bytes).
        """
        ptr = self._ptr_checked()
        if not self.writable or self.path is None:
            raise ReadOnlyError(71, "this WIM was opened read-only (use writable=True) or has "
                                    "no file; use write(path) for a new file", path=self.path)
        lib = _lib.lib()
        info = self.info
        integrity = info.has_integrity_table if check_integrity is None else check_integrity
        if in_place:
            flags = _write_flags(check_integrity=integrity, recompress=recompress,
                                 rebuild=rebuild, fsync=fsync, pipable=bool(pipable),
                                 not_pipable=pipable is False, solid=bool(solid),
                                 soft_delete=soft_delete, no_solid_sort=no_solid_sort)
            if self._lock is not None:
                self._lock.release()
            before = _header_mark(self.path)
            try:
                with progress_on(ptr, progress) as bridge:
                    code = lib.wimlib_overwrite(ptr, flags, threads)
                finish(bridge, code, path=self.path)
            except BaseException:
                if _header_mark(self.path) != before:  # stopped after the new header
                    ledger.note_changed(self.path, how="updated in place")
                raise
            finally:
                if self._lock is not None:
                    self._lock.acquire()
            ledger.note_changed(self.path, how="updated in place")
            self._changed()
            self._modified = False
            return
        flags = _write_flags(check_integrity=integrity, recompress=recompress,
                             solid=self.is_solid if solid is None else solid,
                             pipable=info.pipable if pipable is None else pipable,
                             retain_guid=True, fsync=fsync, no_solid_sort=no_solid_sort)
        target = Path(self.path)
        sweep_stale(target.absolute())
        tmp = temp_path_for(target.absolute())
        try:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_write(ptr, _lib.cstr(tmp), WIMLIB_ALL_IMAGES, flags, threads)
            finish(bridge, code, path=self.path)
            new_lock = WriterLock(tmp)
            new_lock.acquire()
            try:
                try:
                    shutil.copymode(target, tmp)
                except OSError:
                    pass
                publish(tmp, target.absolute(), overwrite=True, fsync=fsync)
            except BaseException:
                new_lock.release()
                raise
        finally:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        # Swap to the new file: same images, fresh WIMStruct reading from it.
        old_lock = self._lock
        new_lock.path = self.path
        self._lock = new_lock
        if old_lock is not None:
            old_lock.release()
        fresh = _open_ptr(self.path, write_access=True, check_integrity=False)
        lib.wimlib_free(ptr)
        self._ptr = fresh
        self._keepalive.clear()
        self._changed()
        self._modified = False

    def apply_all(self, target: str | os.PathLike[str], *,
                  progress: ProgressCallback | None = None, unix_data: bool = False,
                  no_acls: bool = False, strict_acls: bool = False, recover_data: bool = False,
                  no_attributes: bool = False, replace_invalid_names: bool = True,
                  all_case_conflicts: bool = False, rpfix: bool | None = None) -> None:
        """Apply every image into subdirectories of ``target`` named after the images.

        As ``wimlib-imagex apply WIM all DIR``; atomic for a new ``target`` as
        :meth:`Image.apply`.
        """
        ptr = self._ptr_checked()
        lib = _lib.lib()
        first = Image(self, 1) if self.info.image_count else None
        if first is None:
            raise ImageNotFoundError(18, "the WIM has no images", path=self.path)
        flags = first._extract_flags(unix_data=unix_data, no_acls=no_acls,
                                     strict_acls=strict_acls, recover_data=recover_data,
                                     no_attributes=no_attributes,
                                     replace_invalid_names=replace_invalid_names,
                                     all_case_conflicts=all_case_conflicts, rpfix=rpfix)
        fixups = rpfix if rpfix is not None else self.info.has_rpfix
        in_place = bool(fixups) and any(i._has_reparse_points() for i in self.images)
        with staged_directory(target, stage=not in_place) as where:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_extract_image(ptr, WIMLIB_ALL_IMAGES, _lib.cstr(where), flags)
            finish(bridge, code, path=os.fspath(target))

    def verify(self, *, progress: ProgressCallback | None = None) -> None:
        """Check every blob's SHA-1 and every image's metadata (CorruptDataError on a mismatch)."""
        ptr = self._ptr_checked()
        with progress_on(ptr, progress) as bridge:
            code = _lib.lib().wimlib_verify_wim(ptr, 0)
        finish(bridge, code, path=self.path)

    def split(self, first_part: str | os.PathLike[str], part_size: int, *,
              overwrite: bool = False, check_integrity: bool = False,
              progress: ProgressCallback | None = None) -> list[Path]:
        """Split into parts of at most ``part_size`` bytes (first_part.swm, first_part2.swm, ...).

        Parts are written in a temporary folder beside the target and moved into place only
        when all are complete.
        """
        ptr = self._ptr_checked()
        target = Path(first_part).absolute()
        if part_size <= 0:
            raise InvalidParameterError(24, "part size must be positive")
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".wimcore-split",
                                     dir=target.parent))
        try:
            with progress_on(ptr, progress) as bridge:
                code = _lib.lib().wimlib_split(ptr, _lib.cstr(work / target.name), part_size,
                                               _write_flags(check_integrity=check_integrity))
            finish(bridge, code, path=os.fspath(target))
            parts = sorted(work.iterdir(), key=lambda p: _part_number(p.name, target))
            finals = [target.parent / p.name for p in parts]
            if not overwrite:
                for final in finals:
                    if final.exists():
                        raise DestinationExistsError(str(final))
            for part, final in zip(parts, finals, strict=True):
                publish(part, final, overwrite=overwrite)
            return finals
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _part_number(name: str, first: Path) -> int:
    stem, suffix = first.stem, first.suffix
    middle = name[len(stem):len(name) - len(suffix)] if name.endswith(suffix) else ""
    return int(middle) if middle.isdigit() else 1


def _open_ptr(path: str | os.PathLike[str], *, write_access: bool, check_integrity: bool,
              progress: ProgressCallback | None = None) -> Any:
    lib, ffi = _lib.lib(), _lib.ffi()
    p = os.fspath(path)
    if not os.path.exists(p):
        raise MissingFileError(47, "no such WIM file", path=p)
    if os.path.isdir(p):
        raise MissingFileError(47, "is a directory, not a WIM file", path=p)
    check_header(p)
    flags = 0
    if write_access:
        flags |= lib.WIMLIB_OPEN_FLAG_WRITE_ACCESS
    if check_integrity:
        flags |= lib.WIMLIB_OPEN_FLAG_CHECK_INTEGRITY
    out = ffi.new("WIMStruct **")
    bridge, func, handle = standalone(progress)
    _lib.catch_xml_errors()
    code = lib.wimlib_open_wim_with_progress(_lib.cstr(p), flags, out, func, handle)
    if code == 0:
        # libwimlib keeps the progress function registered on the new WIMStruct; the
        # handle dies with this frame, so unregister it before anything else can call it.
        lib.wimlib_register_progress_function(out[0], ffi.NULL, ffi.NULL)
    finish(bridge, code, path=p)
    return out[0]


def open(path: str | os.PathLike[str], writable: bool = False, *,
         check_integrity: bool = False, refs: Iterable[str | os.PathLike[str]] = (),
         progress: ProgressCallback | None = None) -> Wim:
    """Open a WIM (read-only unless ``writable``); ``refs`` names the parts of a split WIM.

    A writable WIM holds an exclusive lock: a second writer gets LockedError at once.
    """
    p = os.fspath(path)
    lock: WriterLock | None = None
    if writable:
        if not os.path.exists(p):
            raise MissingFileError(47, "no such WIM file", path=p)
        lock = WriterLock(p)
        lock.acquire()
    try:
        ptr = _open_ptr(p, write_access=writable, check_integrity=check_integrity,
                        progress=progress)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    wim = Wim(ptr, p, writable)
    wim._lock = lock
    try:
        wim.reference(refs)
    except BaseException:
        wim.close()
        raise
    return wim


def create(compression: Compression | str = Compression.LZX, *,
           chunk_size: int | None = None) -> Wim:
    """A new, empty, in-memory WIM; add images, then ``write(path)``."""
    lib, ffi = _lib.lib(), _lib.ffi()
    out = ffi.new("WIMStruct **")
    _lib.check(lib.wimlib_create_new_wim(int(Compression.parse(compression)), out))
    wim = Wim(out[0], None, True)
    if chunk_size is not None:
        wim.set_output(chunk_size=chunk_size)
    return wim


def export(source: str | os.PathLike[str], images: ImageRef | Sequence[ImageRef],
           dest: str | os.PathLike[str], *, compression: Compression | str | None = None,
           chunk_size: int | None = None, solid: bool = False,
           solid_compression: Compression | str | None = None, recompress: bool = False,
           boot: bool = False, threads: int = 0, name: str | None = None,
           description: str | None = None, refs: Iterable[str | os.PathLike[str]] = (),
           check_integrity: bool = False, in_place: bool = False, fsync: bool = True,
           progress: ProgressCallback | None = None) -> None:
    """Export image(s) into a new WIM, or append them to an existing one (as wimlib-imagex export).

    Blobs already compressed the right way are copied as they are unless ``recompress``.
    The destination is written atomically; an existing destination is left byte-identical
    if anything fails or is cancelled. ``in_place=True`` appends to an existing destination
    as wimlib-imagex does (no full rewrite; a failure or cancel still restores it, but a
    killed process can leave unreferenced bytes at its end).
    """
    selected: list[ImageRef] = [images] if isinstance(images, (int, str)) else list(images)
    if not selected:
        raise InvalidParameterError(24, "no image selected for export")
    if name is not None and (len(selected) > 1 or selected[0] == ALL):
        raise InvalidParameterError(24, "--name applies to a single exported image")
    with open(source, refs=refs) as src:
        for ref in selected:
            if ref != ALL:
                src.resolve(ref)
        out_type = Compression.parse(compression) if compression is not None else (
            Compression.LZMS if solid else src.info.compression)
        dest_exists = os.path.exists(dest)
        dst = open(dest, writable=True) if dest_exists else create(out_type)
        with dst:
            if dest_exists and compression is not None:
                dst.set_output(compression=out_type)
            if chunk_size is not None:
                dst.set_output(chunk_size=chunk_size)
            if solid:
                dst.set_output(solid_compression=solid_compression or Compression.LZMS)
            for ref in selected:
                dst.import_image(src, ref, name=name, description=description, boot=boot)
            if dest_exists:
                dst.commit(progress=progress, check_integrity=check_integrity or None,
                           recompress=recompress, threads=threads, in_place=in_place,
                           fsync=fsync)
            else:
                dst.write(dest, solid=solid, recompress=recompress, threads=threads,
                          check_integrity=check_integrity, fsync=fsync, progress=progress)


def capture(source: str | os.PathLike[str], wim_path: str | os.PathLike[str], name: str, *,
            description: str | None = None, compression: Compression | str = Compression.LZX,
            solid: bool = False, config: str | os.PathLike[str] | None = None,
            ntfs: bool | None = None, boot: bool = False, unix_data: bool = False,
            threads: int = 0, check_integrity: bool = False, append: bool = False,
            in_place: bool = False, fsync: bool = True, overwrite: bool = False,
            progress: ProgressCallback | None = None) -> None:
    """Capture a directory or NTFS volume into a new WIM (or append to an existing one).

    An existing ``wim_path`` is refused unless ``overwrite`` (then it is replaced
    atomically, as wimlib-imagex capture replaces it) or ``append``.

    Appending rewrites the WIM beside itself and renames it over the original (the input
    stays byte-identical until then); ``in_place=True`` appends as wimlib-imagex does.
    """
    if append and os.path.exists(wim_path):
        with open(wim_path, writable=True) as wim:
            wim.add_image(source, name, description=description, config=config, ntfs=ntfs,
                          unix_data=unix_data, progress=progress)
            if boot:
                wim.boot_index = wim.info.image_count
            wim.commit(progress=progress, threads=threads, in_place=in_place, fsync=fsync,
                       check_integrity=check_integrity or None)
        return
    if not append and not overwrite and os.path.exists(wim_path):
        raise DestinationExistsError(os.fspath(wim_path))
    with create(compression) as wim:
        wim.add_image(source, name, description=description, config=config, ntfs=ntfs,
                      unix_data=unix_data, progress=progress)
        if boot:
            wim.boot_index = 1
        wim.write(wim_path, solid=solid, threads=threads, check_integrity=check_integrity,
                  fsync=fsync, overwrite=overwrite, progress=progress)


def join(parts: Sequence[str | os.PathLike[str]], dest: str | os.PathLike[str], *,
         overwrite: bool = False, check_integrity: bool = False,
         progress: ProgressCallback | None = None) -> None:
    """Join the parts of a split WIM into one WIM, atomically."""
    lib, ffi = _lib.lib(), _lib.ffi()
    items = [os.fspath(p) for p in parts]
    if not items:
        raise InvalidParameterError(24, "no split WIM parts given")
    for item in items:
        if not os.path.exists(item):
            raise MissingFileError(47, "split WIM part does not exist", path=item)
        check_header(item)
    bufs = [_lib.cstr(p) for p in items]
    arr = ffi.new("const char *[]", bufs)
    with atomic_output(dest, overwrite=overwrite) as tmp:
        bridge, func, handle = standalone(progress)
        code = lib.wimlib_join_with_progress(arr, len(bufs), _lib.cstr(tmp), 0,
                                             _write_flags(check_integrity=check_integrity),
                                             func, handle)
        finish(bridge, code, path=os.fspath(dest))


def optimize(path: str | os.PathLike[str], *, recompress: bool = False,
             compression: Compression | str | None = None, chunk_size: int | None = None,
             solid: bool | None = None, threads: int = 0, check_integrity: bool | None = None,
             fsync: bool = True, progress: ProgressCallback | None = None) -> tuple[int, int]:
    """Rebuild a WIM to drop unreferenced data (and optionally recompress); (size before, after)."""
    before = os.path.getsize(path)
    with open(path, writable=True) as wim:
        wim.set_output(compression=compression, chunk_size=chunk_size)
        info = wim.info
        use_solid = wim.is_solid if solid is None else solid
        if use_solid:
            wim.set_output(solid_compression=compression or Compression.LZMS)
        flags = _write_flags(check_integrity=info.has_integrity_table if check_integrity is None
                             else check_integrity,
                             recompress=recompress or compression is not None, solid=use_solid,
                             retain_guid=True, fsync=fsync)
        lib = _lib.lib()
        target = Path(path).absolute()
        with atomic_output(target, overwrite=True) as tmp:
            with progress_on(wim._ptr_checked(), progress) as bridge:
                code = lib.wimlib_write(wim._ptr_checked(), _lib.cstr(tmp), WIMLIB_ALL_IMAGES,
                                        flags, threads)
            finish(bridge, code, path=os.fspath(path))
            try:
                shutil.copymode(target, tmp)
            except OSError:
                pass
    return before, os.path.getsize(path)


def extract_from_pipe(fd: int, image: ImageRef | None, target: str | os.PathLike[str], *,
                      progress: ProgressCallback | None = None, unix_data: bool = False,
                      no_acls: bool = False, strict_acls: bool = False,
                      recover_data: bool = False, no_attributes: bool = False,
                      rpfix: bool | None = None) -> None:
    """Apply an image of a pipable WIM read from a file descriptor (e.g. stdin) to a directory.

    ``image=None`` takes the only image of a one-image WIM. The caller keeps ``fd``:
    libwimlib reads (and closes) a duplicate of it. A new ``target`` is filled under a
    hidden name and renamed into place when complete.
    """
    lib = _lib.lib()
    flags = 0
    for on, flag in ((unix_data, lib.WIMLIB_EXTRACT_FLAG_UNIX_DATA),
                     (no_acls, lib.WIMLIB_EXTRACT_FLAG_NO_ACLS),
                     (strict_acls, lib.WIMLIB_EXTRACT_FLAG_STRICT_ACLS),
                     (recover_data, lib.WIMLIB_EXTRACT_FLAG_RECOVER_DATA),
                     (no_attributes, lib.WIMLIB_EXTRACT_FLAG_NO_ATTRIBUTES),
                     (rpfix is True, lib.WIMLIB_EXTRACT_FLAG_RPFIX),
                     (rpfix is False, lib.WIMLIB_EXTRACT_FLAG_NORPFIX)):
        if on:
            flags |= flag
    name = None if image is None else str(image)
    with staged_directory(target, stage=rpfix is not True) as where:
        bridge, func, handle = standalone(progress)
        code = lib.wimlib_extract_image_from_pipe_with_progress(
            os.dup(fd), _lib.cstr(name), _lib.cstr(where), flags, func, handle)
        finish(bridge, code, path=os.fspath(target), image=image)


def verify(path: str | os.PathLike[str], *, refs: Iterable[str | os.PathLike[str]] = (),
           check_integrity: bool = True, progress: ProgressCallback | None = None) -> None:
    """Verify a WIM file (integrity table, every blob's SHA-1, every image's metadata)."""
    with open(path, refs=refs, check_integrity=check_integrity, progress=progress) as wim:
        wim.verify(progress=progress)


def _header_mark(path: str) -> tuple[int, bytes] | None:
    """A WIM's size and header: an in-place commit rewrites the header last, and a failed
    or cancelled one restores both."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.fstat(fd).st_size, os.pread(fd, 208, 0)
    finally:
        os.close(fd)
