"""In-place image edits: add, delete and rename commands, applied as one wimlib_update_image."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wimcore import _lib
from wimcore.errors import InvalidParameterError

if TYPE_CHECKING:
    from wimcore.image import Image
    from wimcore.progress import ProgressCallback


@dataclass(frozen=True)
class AddCommand:
    """Add a file or tree from the host at ``target`` inside the image (directories merge)."""

    source: str
    target: str
    config: str | None = None
    ntfs: bool = False
    unix_data: bool = False
    no_acls: bool = False
    strict_acls: bool = False
    dereference: bool = False
    no_replace: bool = False
    verbose: bool = False


@dataclass(frozen=True)
class DeleteCommand:
    """Delete a path inside the image (``recursive`` for directories, ``force`` if absent is ok)."""

    path: str
    recursive: bool = False
    force: bool = False


@dataclass(frozen=True)
class RenameCommand:
    """Rename or move a path inside the image."""

    source: str
    target: str


UpdateCommand = AddCommand | DeleteCommand | RenameCommand


def wim_path(path: str) -> str:
    """Normalise a path inside an image: forward slashes, leading slash."""
    p = path.replace("\\", "/")
    if not p.startswith("/"):
        p = "/" + p
    return p


def _add_flags(lib: Any, cmd: AddCommand) -> int:
    flags = 0
    for attr, flag in (("ntfs", lib.WIMLIB_ADD_FLAG_NTFS),
                       ("unix_data", lib.WIMLIB_ADD_FLAG_UNIX_DATA),
                       ("no_acls", lib.WIMLIB_ADD_FLAG_NO_ACLS),
                       ("strict_acls", lib.WIMLIB_ADD_FLAG_STRICT_ACLS),
                       ("dereference", lib.WIMLIB_ADD_FLAG_DEREFERENCE),
                       ("no_replace", lib.WIMLIB_ADD_FLAG_NO_REPLACE),
                       ("verbose", lib.WIMLIB_ADD_FLAG_VERBOSE)):
        if getattr(cmd, attr):
            flags |= flag
    return flags


def build_commands(commands: Sequence[UpdateCommand]) -> tuple[Any, list[Any]]:
    """Lay out a C array of wimlib_update_command; the second value keeps the strings alive."""
    lib, ffi = _lib.lib(), _lib.ffi()
    keep: list[Any] = []
    arr = ffi.new("struct wimlib_update_command[]", len(commands))

    def c(value: str | None) -> Any:
        buf = _lib.cstr(value)
        keep.append(buf)
        return buf

    for slot, cmd in zip(arr, commands, strict=True):
        if isinstance(cmd, AddCommand):
            if not os.path.lexists(cmd.source):
                raise FileNotFoundError(f"{cmd.source}: no such file or directory to add")
            slot.op = lib.WIMLIB_UPDATE_OP_ADD
            slot.add.fs_source_path = c(cmd.source)
            slot.add.wim_target_path = c(wim_path(cmd.target))
            slot.add.config_file = c(cmd.config)
            slot.add.add_flags = _add_flags(lib, cmd)
        elif isinstance(cmd, DeleteCommand):
            slot.op = lib.WIMLIB_UPDATE_OP_DELETE
            slot.delete_.wim_path = c(wim_path(cmd.path))
            slot.delete_.delete_flags = (
                (lib.WIMLIB_DELETE_FLAG_RECURSIVE if cmd.recursive else 0)
                | (lib.WIMLIB_DELETE_FLAG_FORCE if cmd.force else 0))
        elif isinstance(cmd, RenameCommand):
            slot.op = lib.WIMLIB_UPDATE_OP_RENAME
            slot.rename.wim_source_path = c(wim_path(cmd.source))
            slot.rename.wim_target_path = c(wim_path(cmd.target))
            slot.rename.rename_flags = 0
        else:  # pragma: no cover - typed callers cannot get here
            raise InvalidParameterError(24, f"not an update command: {cmd!r}")
    return arr, keep


def parse_commands(text: str) -> list[UpdateCommand]:
    """Parse wimlib-imagex ``update`` command text (one command a line, # comments).

    ``add [--unix-data --no-acls --strict-acls --dereference --no-replace --config=FILE] SRC DEST``,
    ``delete [--force] [--recursive] PATH``, ``rename SRC DEST``.
    """
    commands: list[UpdateCommand] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise InvalidParameterError(24, f"update command line {lineno}: {exc}") from None
        verb, rest = words[0].lower(), words[1:]
        opts = [w for w in rest if w.startswith("--")]
        args = [w for w in rest if not w.startswith("--")]

        def bad(msg: str, _n: int = lineno, _line: str = line) -> InvalidParameterError:
            return InvalidParameterError(24, f"update command line {_n} ({_line!r}): {msg}")

        if verb == "add":
            if len(args) != 2:
                raise bad("add needs SOURCE and DESTINATION")
            kwargs: dict[str, Any] = {}
            for opt in opts:
                name, _, value = opt[2:].partition("=")
                key = name.replace("-", "_")
                if key == "config" and value:
                    kwargs["config"] = value
                elif key in {"unix_data", "no_acls", "strict_acls", "dereference", "no_replace",
                             "verbose"}:
                    kwargs[key] = True
                else:
                    raise bad(f"unknown add option {opt}")
            commands.append(AddCommand(args[0], args[1], **kwargs))
        elif verb == "delete":
            if len(args) != 1:
                raise bad("delete needs one PATH")
            unknown = set(opts) - {"--force", "--recursive"}
            if unknown:
                raise bad(f"unknown delete option {sorted(unknown)[0]}")
            commands.append(DeleteCommand(args[0], recursive="--recursive" in opts,
                                          force="--force" in opts))
        elif verb == "rename":
            if len(args) != 2 or opts:
                raise bad("rename needs SOURCE and DESTINATION")
            commands.append(RenameCommand(args[0], args[1]))
        else:
            raise bad(f"unknown command {verb!r} (add, delete or rename)")
    return commands


class ImageEdit:
    """Collects edits for one image and applies them together when the block exits cleanly."""

    def __init__(self, image: Image, progress: ProgressCallback | None = None) -> None:
        self._image = image
        self._progress = progress
        self.commands: list[UpdateCommand] = []

    def add(self, source: str | os.PathLike[str], target: str, **options: Any) -> ImageEdit:
        """Queue adding a host file or directory tree at ``target``."""
        self.commands.append(AddCommand(os.fspath(source), target, **options))
        return self

    def delete(self, path: str, *, recursive: bool = False, force: bool = False) -> ImageEdit:
        """Queue deleting a path."""
        self.commands.append(DeleteCommand(path, recursive=recursive, force=force))
        return self

    def rename(self, source: str, target: str) -> ImageEdit:
        """Queue renaming or moving a path."""
        self.commands.append(RenameCommand(source, target))
        return self

    def __enter__(self) -> ImageEdit:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None and self.commands:
            self._image.update(self.commands, progress=self._progress)
