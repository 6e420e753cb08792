"""Turn archive member names into safe relative paths; refuse any that could escape a destination.

Cabinet names use ``\\`` and are UTF-8 only when the 0x80 attribute is set (else the
DOS code page, cp437). A name is refused, with :class:`wimcore.errors.UnsafePathError`,
when it is empty, absolute, carries a drive letter, has a ``..`` component or a NUL, or
resolves (through symlinks already under the destination) to a place outside it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from wimcore.errors import UnsafePathError

UTF_NAME_ATTRIBUTE = 0x80
_DRIVE = re.compile(r"^[A-Za-z]:")


def decode_name(raw: bytes, attributes: int) -> str:
    """Decode a raw member name: UTF-8 when the 0x80 attribute says so, else cp437 (latin-1)."""
    if attributes & UTF_NAME_ATTRIBUTE:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            pass
    try:
        return raw.decode("cp437")
    except UnicodeDecodeError:  # cp437 maps every byte; kept as the documented fallback
        return raw.decode("latin-1")


def normalise(name: str) -> str:
    """Backslashes to slashes, nothing else changed: the display form of a member name."""
    return name.replace("\\", "/")


def safe_relpath(name: str) -> str:
    """The member name as a clean relative POSIX path, or UnsafePathError if it could escape."""
    text = normalise(name)
    if not text or not text.strip("/ "):
        raise UnsafePathError(f"{name!r}: empty member name")
    if "\x00" in text:
        raise UnsafePathError(f"{name!r}: NUL in member name")
    if text.startswith("/"):
        raise UnsafePathError(f"{name!r}: absolute member name")
    if _DRIVE.match(text):
        raise UnsafePathError(f"{name!r}: member name with a drive letter")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePathError(f"{name!r}: '..' in member name")
    if not parts:
        raise UnsafePathError(f"{name!r}: empty member name")
    return str(PurePosixPath(*parts))


def target_path(dest: str | os.PathLike[str], name: str) -> Path:
    """Where member ``name`` lands under ``dest``; UnsafePathError if it resolves outside."""
    rel = safe_relpath(name)
    root = Path(os.path.realpath(dest))
    target = root.joinpath(*rel.split("/"))
    resolved = Path(os.path.realpath(target))
    if resolved != root and root not in resolved.parents:
        raise UnsafePathError(f"{name!r}: resolves outside the destination {str(root)!r}")
    if resolved == root:
        raise UnsafePathError(f"{name!r}: names the destination itself")
    return target
