"""In-place image edits: add, delete and rename commands, applied as one wimlib_update_image."""

from __future__ import annotations

import os
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
    default_exclusions: bool = False  # wimlib-imagex's default capture config when no config


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
    if cmd.default_exclusions and cmd.config is None:
        flags |= lib.WIMLIB_ADD_FLAG_WINCONFIG
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


def split_words(line: str) -> list[str]:
    """Split a command line as wimlib-imagex does: blanks separate words, and a word may be
    quoted with ``"`` or ``'`` (no escapes: a backslash is an ordinary character, as in
    Windows paths)."""
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i].isspace():
            i += 1
            continue
        if line[i] in "\"'":
            quote = line[i]
            end = line.find(quote, i + 1)
            if end < 0:
                raise ValueError(f"missing closing quote: {line[i:]}")
            words.append(line[i + 1:end])
            i = end + 1
            continue
        start = i
        while i < n and not line[i].isspace():
            i += 1
        words.append(line[start:i])
    return words


def decode_command_text(data: bytes) -> str:
    """Text of a command or list file: UTF-8 (with or without BOM) or UTF-16LE."""
    if data.startswith(b"\xff\xfe") or (len(data) >= 2 and data[0] < 0x80 and data[1] == 0):
        return data.decode("utf-16-le", "strict").lstrip("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidParameterError(
            31, f"the command text is neither UTF-8 nor UTF-16LE ({exc.reason} at byte "
                f"{exc.start})") from None


_ADD_OPTIONS = {"--verbose": "verbose", "--unix-data": "unix_data", "--no-acls": "no_acls",
                "--noacls": "no_acls", "--strict-acls": "strict_acls",
                "--dereference": "dereference", "--no-replace": "no_replace"}


def parse_commands(text: str | bytes) -> list[UpdateCommand]:
    """Parse wimlib-imagex ``update`` command text (one command a line).

    ``add [--unix-data --no-acls --strict-acls --dereference --no-replace --verbose] SRC DEST``,
    ``delete [--force] [--recursive] PATH``, ``rename SRC DEST``; lines whose first
    non-blank character is ``#`` or ``;`` are comments. Bytes are decoded as UTF-8 or
    UTF-16LE (a BOM is optional). wimcore also accepts ``add --config=FILE``.
    """
    if isinstance(text, bytes):
        text = decode_command_text(text)
    commands: list[UpdateCommand] = []
    for lineno, raw in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line[0] in "#;":
            continue

        def bad(msg: str, _n: int = lineno, _line: str = line) -> InvalidParameterError:
            return InvalidParameterError(24, f"update command line {_n} ({_line!r}): {msg}")

        try:
            words = split_words(line)
        except ValueError as exc:
            raise bad(str(exc)) from None
        verb, rest = words[0].lower(), words[1:]
        opts = [w for w in rest if w.startswith("--")]
        args = [w for w in rest if not w.startswith("--")]
        if verb == "add":
            kwargs: dict[str, Any] = {}
            for option in opts:
                if option.startswith("--config="):
                    kwargs["config"] = option.partition("=")[2]
                elif option in _ADD_OPTIONS:
                    kwargs[_ADD_OPTIONS[option]] = True
                else:
                    raise bad(f"unrecognized option {option} to update command \"add\"")
            if len(args) != 2:
                raise bad("add needs SOURCE and DESTINATION")
            commands.append(AddCommand(args[0], args[1], **kwargs))
        elif verb == "delete":
            unknown = set(opts) - {"--force", "--recursive"}
            if unknown:
                raise bad(f"unrecognized option {sorted(unknown)[0]} to update command "
                          "\"delete\"")
            if len(args) != 1:
                raise bad("delete needs one PATH")
            commands.append(DeleteCommand(args[0], recursive="--recursive" in opts,
                                          force="--force" in opts))
        elif verb == "rename":
            if opts:
                raise bad(f"unrecognized option {opts[0]} to update command \"rename\"")
            if len(args) != 2:
                raise bad("rename needs SOURCE and DESTINATION")
            commands.append(RenameCommand(args[0], args[1]))
        else:
            raise bad(f"unknown update command {words[0]!r} (add, delete or rename)")
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
