"""One image of a WIM: its properties, its file tree, reading, extracting and editing."""

from __future__ import annotations

import os
import shutil
import stat as stat_mod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from wimcore import _lib, ledger
from wimcore.atomic import staged_directory
from wimcore.direntry import DirEntry, direntry_from_c
from wimcore.errors import MissingFileError, PathNotFoundError, StaleImageError
from wimcore.imageinfo import ImageInfo
from wimcore.progress import ProgressCallback, finish, progress_on
from wimcore.update import ImageEdit, UpdateCommand, build_commands, wim_path

if TYPE_CHECKING:
    from wimcore.wim import Wim


def is_ntfs_target(path: str | os.PathLike[str]) -> bool:
    """True when a path is a block device or a regular file: an NTFS volume for libntfs-3g."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    return stat_mod.S_ISBLK(mode) or stat_mod.S_ISREG(mode)


class _TreeCollector:
    """Payload for wimlib_iterate_dir_tree: copies entries, keeps the first exception."""

    def __init__(self, with_resources: bool) -> None:
        self.entries: list[DirEntry] = []
        self.error: BaseException | None = None
        self.with_resources = with_resources


_dir_callback: Any = None


def _iterate_callback() -> Any:
    global _dir_callback
    if _dir_callback is None:
        ffi = _lib.ffi()

        @ffi.callback("wimlib_iterate_dir_tree_callback_t", onerror=lambda *a: 1)
        def _on_entry(dentry: Any, ctx: Any) -> int:
            collector: _TreeCollector = ffi.from_handle(ctx)
            try:
                collector.entries.append(direntry_from_c(ffi, dentry, collector.with_resources))
            except BaseException as exc:
                collector.error = exc
                return 1
            return 0

        _dir_callback = _on_entry
    return _dir_callback


class Image:
    """A 1-based image of an open :class:`Wim`; it refuses to work once the WIM is closed."""

    def __init__(self, wim: Wim, index: int) -> None:
        self._wim = wim
        self._index = index
        self._generation = wim._generation

    # -- identity ---------------------------------------------------------------------
    @property
    def index(self) -> int:
        """The 1-based image index."""
        self._check()
        return self._index

    @property
    def wim(self) -> Wim:
        """The WIM this image belongs to."""
        return self._wim

    def _check(self) -> Any:
        ptr = self._wim._ptr_checked()
        if self._generation != self._wim._generation:
            raise StaleImageError(f"image {self._index}: images of this WIM were deleted or "
                                  "renumbered since this Image object was made; look it up again")
        return ptr

    def __repr__(self) -> str:
        try:
            return f"<Image {self._index} {self.name!r} of {self._wim.path or '(new WIM)'}>"
        except Exception:
            return f"<Image {self._index} (unavailable)>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Image) and other._wim is self._wim and other._index == self._index

    def __hash__(self) -> int:
        return hash((id(self._wim), self._index))

    # -- properties -------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The image name (NAME in the XML)."""
        ptr = self._check()
        return _lib.string(_lib.lib().wimlib_get_image_name(ptr, self._index)) or ""

    @name.setter
    def name(self, value: str) -> None:
        ptr = self._check()
        _lib.check(_lib.lib().wimlib_set_image_name(ptr, self._index, _lib.cstr(value)),
                   path=self._wim.path, image=self._index)
        self._wim._changed()

    @property
    def description(self) -> str | None:
        """The image description (DESCRIPTION), or None."""
        ptr = self._check()
        return _lib.string(_lib.lib().wimlib_get_image_description(ptr, self._index))

    @description.setter
    def description(self, value: str | None) -> None:
        ptr = self._check()
        _lib.check(_lib.lib().wimlib_set_image_descripton(ptr, self._index, _lib.cstr(value)),
                   path=self._wim.path, image=self._index)
        self._wim._changed()

    @property
    def flags(self) -> str | None:
        """The edition flags (FLAGS, e.g. Professional), or None."""
        return self.get_property("FLAGS")

    @flags.setter
    def flags(self, value: str | None) -> None:
        ptr = self._check()
        _lib.check(_lib.lib().wimlib_set_image_flags(ptr, self._index, _lib.cstr(value)),
                   path=self._wim.path, image=self._index)
        self._wim._changed()

    def get_property(self, key: str) -> str | None:
        """An XML property by path, such as ``WINDOWS/VERSION/BUILD`` or ``.../LANGUAGE[2]``."""
        ptr = self._check()
        return _lib.string(_lib.lib().wimlib_get_image_property(ptr, self._index, _lib.cstr(key)))

    def set_property(self, key: str, value: str | None) -> None:
        """Set an XML property by path; None removes it."""
        ptr = self._check()
        _lib.check(_lib.lib().wimlib_set_image_property(ptr, self._index, _lib.cstr(key),
                                                         _lib.cstr(value)),
                   path=self._wim.path, image=self._index)
        self._wim._changed()

    @property
    def info(self) -> ImageInfo:
        """Typed properties from the WIM XML."""
        self._check()
        return self._wim.image_info(self._index)

    @property
    def is_boot(self) -> bool:
        """True when this is the WIM's boot image."""
        return self._wim.info.boot_index == self.index

    # -- the file tree ----------------------------------------------------------------
    def _iterate(self, path: str, flags: int, with_resources: bool,
                 require_resources: bool = True) -> list[DirEntry]:
        ptr = self._check()
        lib, ffi = _lib.lib(), _lib.ffi()
        if with_resources and require_resources:
            flags |= lib.WIMLIB_ITERATE_DIR_TREE_FLAG_RESOURCES_NEEDED
        collector = _TreeCollector(with_resources)
        handle = ffi.new_handle(collector)
        p = wim_path(path)
        code = lib.wimlib_iterate_dir_tree(ptr, self._index, _lib.cstr(p), flags,
                                           _iterate_callback(), handle)
        if collector.error is not None:
            _lib.take_messages()
            raise collector.error
        _lib.check(code, path=p, image=self._index)
        return collector.entries

    def stat(self, path: str) -> DirEntry:
        """The entry for one path (PathNotFoundError when absent)."""
        return self._iterate(path, 0, False)[0]

    def exists(self, path: str) -> bool:
        """True when the path exists in the image."""
        try:
            self.stat(path)
        except PathNotFoundError:
            return False
        return True

    def listdir(self, path: str = "/") -> list[DirEntry]:
        """The children of a directory."""
        lib = _lib.lib()
        return self._iterate(path, lib.WIMLIB_ITERATE_DIR_TREE_FLAG_CHILDREN, False)

    def walk(self, path: str = "/", *, resources: bool = False,
             recursive: bool = True) -> Iterator[DirEntry]:
        """Every entry under ``path`` (itself first), depth-first as libwimlib visits them.

        ``resources=True`` copies each stream's blob entry (sizes, offsets, flags) where
        libwimlib knows it; a blob absent from a split WIM's parts is then reported as
        missing rather than failing the walk. ``recursive=False`` gives ``path`` alone.
        """
        lib = _lib.lib()
        flags = lib.WIMLIB_ITERATE_DIR_TREE_FLAG_RECURSIVE if recursive else 0
        yield from self._iterate(path, flags, resources, require_resources=False)

    # -- reading and extracting --------------------------------------------------------
    def _extract_flags(self, *, ntfs: bool = False, unix_data: bool = False,
                       no_acls: bool = False, strict_acls: bool = False, glob: bool = False,
                       strict_glob: bool = True, preserve_dir_structure: bool = True,
                       recover_data: bool = False, no_attributes: bool = False,
                       replace_invalid_names: bool = True, all_case_conflicts: bool = False,
                       rpfix: bool | None = None, to_stdout: bool = False) -> int:
        lib = _lib.lib()
        flags = 0
        for on, flag in ((ntfs, lib.WIMLIB_EXTRACT_FLAG_NTFS),
                         (unix_data, lib.WIMLIB_EXTRACT_FLAG_UNIX_DATA),
                         (no_acls, lib.WIMLIB_EXTRACT_FLAG_NO_ACLS),
                         (strict_acls, lib.WIMLIB_EXTRACT_FLAG_STRICT_ACLS),
                         (glob, lib.WIMLIB_EXTRACT_FLAG_GLOB_PATHS),
                         (glob and strict_glob, lib.WIMLIB_EXTRACT_FLAG_STRICT_GLOB),
                         (not preserve_dir_structure,
                          lib.WIMLIB_EXTRACT_FLAG_NO_PRESERVE_DIR_STRUCTURE),
                         (recover_data, lib.WIMLIB_EXTRACT_FLAG_RECOVER_DATA),
                         (no_attributes, lib.WIMLIB_EXTRACT_FLAG_NO_ATTRIBUTES),
                         (replace_invalid_names and not ntfs,
                          lib.WIMLIB_EXTRACT_FLAG_REPLACE_INVALID_FILENAMES),
                         (all_case_conflicts, lib.WIMLIB_EXTRACT_FLAG_ALL_CASE_CONFLICTS),
                         (rpfix is True, lib.WIMLIB_EXTRACT_FLAG_RPFIX),
                         (rpfix is False, lib.WIMLIB_EXTRACT_FLAG_NORPFIX),
                         (to_stdout, lib.WIMLIB_EXTRACT_FLAG_TO_STDOUT)):
            if on:
                flags |= flag
        return flags

    def extract(self, paths: str | Sequence[str], dest: str | os.PathLike[str], *,
                progress: ProgressCallback | None = None, preserve_dir_structure: bool = True,
                glob: bool = False, strict_glob: bool = True, unix_data: bool = False,
                no_acls: bool = False, strict_acls: bool = False, recover_data: bool = False,
                no_attributes: bool = False, replace_invalid_names: bool = True,
                all_case_conflicts: bool = False, to_stdout: bool = False) -> None:
        """Extract files or trees into a host directory (as ``wimlib-imagex extract``).

        Into a directory that does not exist yet, the files are written into a hidden
        sibling that is renamed into place when complete (nothing appears under ``dest``
        on failure, cancel or kill). Into an existing directory, a failure leaves what was
        already extracted and the exception's ``partial_output`` names the directory.
        ``to_stdout`` writes the files' data to standard output instead (regular files only).
        """
        ptr = self._check()
        lib, ffi = _lib.lib(), _lib.ffi()
        items = [paths] if isinstance(paths, str) else list(paths)
        bufs = [_lib.cstr(wim_path(p)) for p in items]
        arr = ffi.new("const char *[]", bufs)
        flags = self._extract_flags(preserve_dir_structure=preserve_dir_structure, glob=glob,
                                    strict_glob=strict_glob, unix_data=unix_data,
                                    no_acls=no_acls, strict_acls=strict_acls,
                                    recover_data=recover_data, no_attributes=no_attributes,
                                    replace_invalid_names=replace_invalid_names,
                                    all_case_conflicts=all_case_conflicts, to_stdout=to_stdout)
        where = items[0] if len(items) == 1 else os.fspath(dest)
        if to_stdout:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_extract_paths(ptr, self._index, _lib.cstr("."), arr,
                                                len(bufs), flags)
            finish(bridge, code, path=where, image=self._index)
            return
        with staged_directory(dest) as target:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_extract_paths(ptr, self._index, _lib.cstr(target), arr,
                                                len(bufs), flags)
            finish(bridge, code, path=where, image=self._index)

    def _has_reparse_points(self) -> bool:
        return any(e.is_reparse_point for e in self.walk())

    def apply(self, target: str | os.PathLike[str], *, ntfs: bool | None = None,
              progress: ProgressCallback | None = None, unix_data: bool = False,
              no_acls: bool = False, strict_acls: bool = False,
              recover_data: bool = False, no_attributes: bool = False,
              replace_invalid_names: bool = True, all_case_conflicts: bool = False,
              rpfix: bool | None = None) -> None:
        """Apply the whole image to a directory, or to an NTFS volume (device or image file).

        NTFS mode (libntfs-3g) keeps security descriptors, named streams, short names and
        reparse points that a Linux directory cannot hold; it is chosen automatically when
        ``target`` is a block device or a regular file. A directory that does not exist
        yet is filled under a hidden sibling name and renamed into place when complete;
        an existing directory keeps what was written before a failure (the exception's
        ``partial_output`` says where). An NTFS volume is written in place: it is not a
        directory that could be swapped in.
        """
        ptr = self._check()
        lib = _lib.lib()
        use_ntfs = is_ntfs_target(target) if ntfs is None else ntfs
        flags = self._extract_flags(ntfs=use_ntfs, unix_data=unix_data, no_acls=no_acls,
                                    strict_acls=strict_acls, recover_data=recover_data,
                                    no_attributes=no_attributes,
                                    replace_invalid_names=replace_invalid_names,
                                    all_case_conflicts=all_case_conflicts, rpfix=rpfix)
        if use_ntfs:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_extract_image(ptr, self._index, _lib.cstr(target), flags)
            finish(bridge, code, path=os.fspath(target), image=self._index)
            return
        # Reparse-point fixups write the target's absolute path into symlinks, so an
        # image that has them is applied under its final name (removed again on failure).
        fixups = rpfix if rpfix is not None else self._wim.info.has_rpfix
        in_place = bool(fixups) and self._has_reparse_points()
        with staged_directory(target, stage=not in_place) as where:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_extract_image(ptr, self._index, _lib.cstr(where), flags)
            finish(bridge, code, path=os.fspath(target), image=self._index)

    def _extract_one(self, path: str) -> tuple[Path, Path]:
        entry = self.stat(path)
        if entry.is_dir:
            raise PathNotFoundError(42, "is a directory, not a file", path=path, image=self._index)
        tmpdir = Path(ledger.scratch_dir(prefix="wimcore-read-"))
        try:
            self.extract([path], tmpdir, preserve_dir_structure=False, no_acls=True)
            files = [p for p in tmpdir.iterdir()]
            if len(files) != 1:
                raise PathNotFoundError(42, "did not extract to exactly one file", path=path,
                                        image=self._index)
            return tmpdir, files[0]
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise

    def read_bytes(self, path: str) -> bytes:
        """The content of one file (its unnamed stream), without extracting the image."""
        tmpdir, file = self._extract_one(path)
        try:
            return file.read_bytes()
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)

    def open(self, path: str) -> IO[bytes]:
        """A binary file object with one file's content (backed by a private temporary copy)."""
        tmpdir, file = self._extract_one(path)
        try:
            fh = open(file, "rb")
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)  # POSIX keeps the open file readable
        return fh

    def extract_list(self, list_file: str | os.PathLike[str] | None,
                     dest: str | os.PathLike[str], *,
                     progress: ProgressCallback | None = None, glob: bool = False,
                     strict_glob: bool = True, unix_data: bool = False, no_acls: bool = False,
                     strict_acls: bool = False, recover_data: bool = False,
                     no_attributes: bool = False, replace_invalid_names: bool = True,
                     all_case_conflicts: bool = False, to_stdout: bool = False) -> None:
        """Extract the paths named in a list file (one a line), as wimlib-imagex ``@LISTFILE``.

        ``list_file=None`` reads the list from standard input. The list may be UTF-8 or
        UTF-16LE; ``;`` and ``#`` start comments. Atomic as :meth:`extract`.
        """
        ptr = self._check()
        lib = _lib.lib()
        if list_file is not None and not os.path.isfile(list_file):
            raise MissingFileError(47, "no such path list file", path=os.fspath(list_file))
        flags = self._extract_flags(glob=glob, strict_glob=strict_glob, unix_data=unix_data,
                                    no_acls=no_acls, strict_acls=strict_acls,
                                    recover_data=recover_data, no_attributes=no_attributes,
                                    replace_invalid_names=replace_invalid_names,
                                    all_case_conflicts=all_case_conflicts, to_stdout=to_stdout)
        where = os.fspath(list_file) if list_file is not None else "(standard input)"
        listed = _lib.cstr(os.fspath(list_file) if list_file is not None else None)
        if to_stdout:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_extract_pathlist(ptr, self._index, _lib.cstr("."), listed,
                                                   flags)
            finish(bridge, code, path=where, image=self._index)
            return
        with staged_directory(dest) as target:
            with progress_on(ptr, progress) as bridge:
                code = lib.wimlib_extract_pathlist(ptr, self._index, _lib.cstr(target),
                                                   listed, flags)
            finish(bridge, code, path=where, image=self._index)

    # -- editing ----------------------------------------------------------------------
    def add_tree(self, source: str | os.PathLike[str], target: str) -> None:
        """Add one host file or tree at ``target`` now (a single-command update)."""
        ptr = self._check()
        if not os.path.lexists(source):
            raise MissingFileError(47, "no such file or directory to add", path=os.fspath(source))
        with progress_on(ptr, None) as bridge:
            code = _lib.lib().wimlib_add_tree(ptr, self._index, _lib.cstr(source),
                                              _lib.cstr(wim_path(target)), 0)
        finish(bridge, code, path=os.fspath(source), image=self._index)
        self._wim._changed()

    def delete_path(self, path: str, *, recursive: bool = False, force: bool = False) -> None:
        """Delete one path now (a single-command update)."""
        ptr = self._check()
        lib = _lib.lib()
        flags = ((lib.WIMLIB_DELETE_FLAG_RECURSIVE if recursive else 0)
                 | (lib.WIMLIB_DELETE_FLAG_FORCE if force else 0))
        with progress_on(ptr, None) as bridge:
            code = lib.wimlib_delete_path(ptr, self._index, _lib.cstr(wim_path(path)), flags)
        finish(bridge, code, path=path, image=self._index)
        self._wim._changed()

    def rename_path(self, source: str, target: str) -> None:
        """Rename or move one path now (a single-command update)."""
        ptr = self._check()
        with progress_on(ptr, None) as bridge:
            code = _lib.lib().wimlib_rename_path(ptr, self._index, _lib.cstr(wim_path(source)),
                                                 _lib.cstr(wim_path(target)))
        finish(bridge, code, path=source, image=self._index)
        self._wim._changed()

    def use_as_template_for(self, new_image: Image) -> None:
        """Tell libwimlib that ``new_image`` was captured as an update of this image.

        Unchanged files (same size and timestamps) then reuse this image's hashes
        instead of being read again, as ``wimlib-imagex append --update-of`` does.
        """
        src = self._check()
        dst = new_image._check()
        _lib.check(_lib.lib().wimlib_reference_template_image(dst, new_image._index, src,
                                                               self._index, 0),
                   path=self._wim.path, image=self._index)

    def edit(self, progress: ProgressCallback | None = None) -> ImageEdit:
        """Batch add/delete/rename edits; they are applied together when the block exits."""
        self._check()
        return ImageEdit(self, progress)

    def update(self, commands: Sequence[UpdateCommand], *,
               progress: ProgressCallback | None = None) -> None:
        """Apply edits as one wimlib_update_image call; on failure the image is unchanged."""
        ptr = self._check()
        if not commands:
            return
        lib = _lib.lib()
        arr, keep = build_commands(commands)
        with progress_on(ptr, progress) as bridge:
            code = lib.wimlib_update_image(ptr, self._index, arr, len(commands),
                                           lib.WIMLIB_UPDATE_FLAG_SEND_PROGRESS)
        del keep
        finish(bridge, code, path=self._wim.path, image=self._index)
        self._wim._changed()
