"""The change ledger: what a long operation has changed so far, for honest stop messages.

A long operation (a media run, a servicing run, a fleet run, an atomic write) records
each irreversible step into the *active* ledger as it passes it: the rename of a
finished file over its final name, a WIM committed, an image a fleet task changed.
Before the first record the operation has passed no point of no return, and "nothing
was changed" is true; after it, the ledger names what was changed and what was planned
but not changed, and where the report and log are. The command line opens one ledger
per command and its one error handler reads it; without an open ledger (a library user
who opened none, a worker thread) every record is a no-op.
"""

from __future__ import annotations

import contextvars
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from wimcore import stagehook

#: target states
PLANNED, CHANGED, MAYBE = "planned", "changed", "maybe"


@dataclass
class Target:
    """One thing an operation may change: a file, a folder, an image; ``group`` gathers many
    small ones (the files of ``sources/``) into one phrase."""

    label: str
    group: str | None = None
    state: str = PLANNED
    how: str = ""  # how it changed ("replaced", "written", "staged"), for the message


@dataclass
class ChangeLedger:
    """What one operation changed, in order, and what it planned but did not change."""

    operation: str
    targets: dict[str, Target] = field(default_factory=dict)
    records: dict[str, str] = field(default_factory=dict)  # "report"/"log" -> path
    ignored: list[str] = field(default_factory=list)  # folders of temporaries (work dirs)
    unknown: list[str] = field(default_factory=list)  # fate not known (a task still running)

    # -- recording -------------------------------------------------------------------------
    def plan(self, label: str, *, group: str | None = None) -> None:
        """Declare something the operation means to change (it counts as not changed yet)."""
        if label not in self.targets:
            self.targets[label] = Target(label, group)

    def unplan(self, label: str) -> None:
        """Forget a planned target the operation decided not to change after all."""
        target = self.targets.get(label)
        if target is not None and target.state == PLANNED:
            del self.targets[label]

    def changed(self, label: str, *, group: str | None = None, how: str = "") -> None:
        """Record that ``label`` was changed (the operation passed a point of no return)."""
        if self._ignored(label):
            return
        target = self.targets.setdefault(label, Target(label, group))
        target.state = CHANGED
        target.how = how or target.how
        stagehook.stage("changed")

    def maybe_changed(self, label: str, *, how: str = "") -> None:
        """Record that ``label`` may have been changed in part (files written into a folder
        that already existed before the failure)."""
        if self._ignored(label):
            return
        target = self.targets.setdefault(label, Target(label))
        if target.state != CHANGED:
            target.state = MAYBE
            target.how = how or target.how

    def fate_unknown(self, label: str) -> None:
        """Record that whether ``label`` changed is not known (its worker did not answer)."""
        if label not in self.unknown:
            self.unknown.append(label)

    def keep(self, kind: str, path: str | os.PathLike[str]) -> None:
        """Remember where the run's record is (``report``, ``log``); it is not a change."""
        text = os.fspath(path)
        self.records[kind] = text
        self.targets.pop(text, None)

    def ignore_under(self, folder: str | os.PathLike[str]) -> None:
        """Writes under ``folder`` (a work folder of temporaries) are not changes."""
        self.ignored.append(os.path.join(os.path.abspath(folder), ""))

    def _ignored(self, label: str) -> bool:
        if label in self.records.values():
            return True
        path = os.path.abspath(label) if os.path.isabs(label) else None
        return path is not None and any(path.startswith(root) for root in self.ignored)

    # -- reading ---------------------------------------------------------------------------
    @property
    def passed(self) -> bool:
        """True once anything was (or may have been) changed: "nothing was changed" is false."""
        return any(t.state != PLANNED for t in self.targets.values()) or bool(self.unknown)

    def changed_labels(self) -> list[str]:
        """What was changed, in the order it happened to be planned or recorded."""
        return [t.label for t in self.targets.values() if t.state == CHANGED]

    def pending_labels(self) -> list[str]:
        """What was planned and not changed."""
        return [t.label for t in self.targets.values() if t.state == PLANNED]

    def _phrases(self, state: str) -> list[str]:
        phrases: list[str] = []
        groups: dict[str, list[Target]] = {}
        for t in self.targets.values():
            if t.group is None:
                if t.state == state:
                    phrases.append(t.label + (f" ({t.how})" if t.how and state != PLANNED
                                              else ""))
                continue
            groups.setdefault(t.group, []).append(t)
        for group, members in groups.items():
            n = sum(1 for t in members if t.state == state)
            if n:
                phrases.append(f"{n} of {len(members)} file(s) in {group}")
        return phrases

    def describe(self) -> str:
        """``changed: ...; not changed: ...; report: ...; log: ...`` (empty parts left out)."""
        parts = []
        changed = self._phrases(CHANGED)
        maybe = self._phrases(MAYBE)
        pending = self._phrases(PLANNED)
        if changed:
            parts.append("changed: " + ", ".join(changed))
        if maybe:
            parts.append("partly changed: " + ", ".join(maybe))
        if self.unknown:
            parts.append("not known (still running when the run stopped): "
                         + ", ".join(self.unknown))
        parts.append("not changed: " + (", ".join(pending) if pending else
                                        "nothing else was planned"))
        parts += [f"{kind}: {path}" for kind, path in self.records.items()]
        return "; ".join(parts)


_ACTIVE: contextvars.ContextVar[ChangeLedger | None] = contextvars.ContextVar(
    "wimcore_ledger", default=None)


def _label(value: str | os.PathLike[str]) -> str:
    """A path as the ledger names it (absolute); other labels as they are."""
    return value if isinstance(value, str) else os.path.abspath(value)


def active() -> ChangeLedger | None:
    """The ledger the current operation records into (None: nobody listens)."""
    return _ACTIVE.get()


@contextmanager
def recording(operation: str) -> Iterator[ChangeLedger]:
    """Open a ledger for ``operation``; records in this context (thread) go into it."""
    ledger = ChangeLedger(operation)
    token = _ACTIVE.set(ledger)
    try:
        yield ledger
    finally:
        _ACTIVE.reset(token)


def note_changed(label: str | os.PathLike[str], *, group: str | None = None,
                 how: str = "") -> None:
    """Record a change into the active ledger, if there is one."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.changed(_label(label), group=group, how=how)


def note_maybe_changed(label: str | os.PathLike[str], *, how: str = "") -> None:
    """Record a possible partial change into the active ledger, if there is one."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.maybe_changed(_label(label), how=how)


def note_planned(label: str | os.PathLike[str], *, group: str | None = None) -> None:
    """Declare a planned change in the active ledger, if there is one."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.plan(_label(label), group=group)


def note_record(kind: str, path: str | os.PathLike[str]) -> None:
    """Name the run's report or log in the active ledger, if there is one."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.keep(kind, _label(path))


def note_ignore(folder: str | os.PathLike[str]) -> None:
    """Tell the active ledger (if any) that writes under ``folder`` are temporaries."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.ignore_under(folder)


def scratch_dir(prefix: str, *, dir: str | os.PathLike[str] | None = None) -> Path:
    """A new temporary folder (``tempfile.mkdtemp``) whose contents the active ledger never
    counts as changes: expansions and copies made there are scratch, not results."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=dir))
    note_ignore(path)
    return path


def note_unplanned(label: str | os.PathLike[str]) -> None:
    """Withdraw a planned change that will not happen (the output was already right)."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.unplan(_label(label))


def note_fate_unknown(label: str) -> None:
    """Say in the active ledger (if any) that whether ``label`` changed is not known."""
    ledger = _ACTIVE.get()
    if ledger is not None:
        ledger.fate_unknown(label)
