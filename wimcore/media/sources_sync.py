"""Keep the media's ``sources/`` folder in step with the serviced images and Setup DU.

Two operations, both prepared in an *overlay* folder in the working directory so
the media stays untouched until the routine publishes:

- Setup Dynamic Update: every file of the expanded CAB goes into ``sources/``
  (skipped when the media already has identical bytes; never a WIM of the media).
- The seed's ``robocopy IMAGE\\Windows\\System32 MEDIA\\sources /e /xo /xx /xl``: a file
  of the image is copied only when ``sources/`` already has a file at the same relative
  path (``/xl``: no new files; names match case-insensitively, as on Windows), and only
  when the image's copy is newer by last-write time (``/xo``); files only on the media
  stay (``/xx``).
"""

from __future__ import annotations

import datetime as dt
import filecmp
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wimcore.image import Image
    from wimcore.progress import ProgressCallback

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class SyncAction:
    """One file that will replace (or join) a file of ``sources/``, and why."""

    path: str          # relative to sources/, with the media's own spelling
    source: str        # where it comes from: "boot.wim:2:/sources/x", "KB5044618.cab:x"
    reason: str
    size: int
    added: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"path": self.path, "source": self.source, "reason": self.reason,
                "size": self.size, "added": self.added}


def _micros(when: dt.datetime) -> int:
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class SourcesOverlay:
    """The media's ``sources/`` as it will be: the media files, overridden by staged ones."""

    def __init__(self, sources: Path, staging: Path, *,
                 exclude: tuple[Path, ...] = ()) -> None:
        """``exclude``: folders or files inside ``sources/`` that are not Setup's (an
        updates folder kept there): never matched, never replaced."""
        self.sources = sources
        self.staging = staging
        self.exclude = tuple(p.absolute() for p in exclude)
        self.staged: dict[str, Path] = {}  # rel path (media spelling) -> staged file
        self.actions: list[SyncAction] = []
        self._index: dict[str, str] | None = None

    def _names(self) -> dict[str, str]:
        """casefolded rel path -> rel path with the media's spelling (sources/ and staged)."""
        if self._index is None:
            index: dict[str, str] = {}
            for dirpath, dirs, files in os.walk(self.sources):
                dirs[:] = [d for d in dirs if Path(dirpath, d).absolute() not in self.exclude]
                for name in files:
                    if Path(dirpath, name).absolute() in self.exclude:
                        continue
                    rel = Path(dirpath, name).relative_to(self.sources).as_posix()
                    index[rel.casefold()] = rel
            self._index = index
        for rel in self.staged:
            self._index.setdefault(rel.casefold(), rel)
        return self._index

    def lookup(self, rel: str) -> str | None:
        """The media's spelling of ``rel`` when sources/ (or the overlay) has it."""
        return self._names().get(rel.casefold())

    def current(self, rel: str) -> Path:
        """The file that ``rel`` is right now: the staged copy, else the media's."""
        return self.staged.get(rel, self.sources / rel)

    def mtime_micros(self, rel: str) -> int:
        """Last-write time of ``rel`` in microseconds since 1970."""
        return os.stat(self.current(rel)).st_mtime_ns // 1000

    def put(self, rel: str, file: Path, action: SyncAction, *, mtime_micros: int | None) -> None:
        """Move ``file`` into the staging folder as the new ``rel``."""
        target = self.staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(os.fspath(file), target)
        if mtime_micros is not None:
            ns = mtime_micros * 1000
            os.utime(target, ns=(ns, ns))
        self.staged[rel] = target
        self.actions = [a for a in self.actions if a.path != rel] + [action]

    def inherit_wim(self, rel: str, file: Path) -> None:
        """Record a file that is produced elsewhere (install.wim, boot.wim): never synced."""
        self.staged[rel] = file

    @property
    def file_actions(self) -> list[SyncAction]:
        """The actions in path order."""
        return sorted(self.actions, key=lambda a: a.path.casefold())


def apply_setup_du(overlay: SourcesOverlay, du_root: Path, label: str, *,
                   files: list[str] | None = None,
                   skip: frozenset[str] = frozenset()) -> list[SyncAction]:
    """Stage the files of an expanded Setup Dynamic Update into ``sources/``.

    ``files`` (relative to ``du_root``; default: all) are the Setup files; names in
    ``skip`` (case-folded: the media's WIMs) and excluded paths are never written.
    """
    done: list[SyncAction] = []
    wanted = files if files is not None else sorted(
        Path(dirpath, name).relative_to(du_root).as_posix()
        for dirpath, _dirs, names in os.walk(du_root) for name in names)
    for rel_du in sorted(wanted):
        src = du_root / rel_du
        rel = overlay.lookup(rel_du) or rel_du
        target = (overlay.sources / rel).absolute()
        if (rel.casefold() in skip or rel.rsplit("/", 1)[-1].casefold() in skip
                or any(target == e or e in target.parents for e in overlay.exclude)):
            continue
        existing = overlay.current(rel)
        if existing.is_file() and filecmp.cmp(existing, src, shallow=False):
            continue
        tmp = overlay.staging / ".incoming" / rel
        tmp.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, tmp)
        action = SyncAction(rel, f"{label}:{rel_du}", "Setup Dynamic Update file",
                            src.stat().st_size, added=not existing.is_file())
        overlay.put(rel, tmp, action, mtime_micros=None)
        done.append(action)
    return done


def sync_from_image(overlay: SourcesOverlay, image: Image, root: str, label: str, *,
                    skip: frozenset[str] = frozenset(),
                    progress: ProgressCallback | None = None) -> list[SyncAction]:
    """Stage the newer same-named files under ``root`` of ``image`` (robocopy /e /xo /xx /xl)."""
    prefix = "/" + root.strip("/")
    try:
        entries = list(image.walk(prefix))
    except LookupError:
        return []
    wanted: list[tuple[str, str, int, int]] = []  # (image path, media rel, micros, size)
    for entry in entries:
        if entry.is_dir or entry.is_reparse_point or entry.last_write_time is None:
            continue
        rel_image = entry.path[len(prefix):].lstrip("/")
        if not rel_image:
            continue
        rel = overlay.lookup(rel_image)
        if rel is None or rel.casefold() in skip:
            continue
        theirs = _micros(entry.last_write_time)
        if theirs <= overlay.mtime_micros(rel):
            continue
        wanted.append((entry.path, rel, theirs, entry.size))
    if not wanted:
        return []
    done: list[SyncAction] = []
    overlay.staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".extract-", dir=overlay.staging))
    try:
        image.extract([w[0] for w in wanted], tmp, progress=progress, no_acls=True)
        for path, rel, micros, size in wanted:
            when = (_EPOCH + dt.timedelta(microseconds=micros)).strftime("%Y-%m-%d %H:%M:%S")
            action = SyncAction(rel, f"{label}:{path}", f"newer in the image ({when} UTC)", size)
            overlay.put(rel, tmp / path.lstrip("/"), action, mtime_micros=micros)
            done.append(action)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return done
