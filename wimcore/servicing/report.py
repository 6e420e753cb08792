"""The record of a servicing run: a JSON report, a readable summary and a servicing log.

The report says, per image, what was there before (inventory), what was planned, what
was staged, skipped or failed and why, how long each step took and the sizes before
and after. The log is to a wimcore run what dism.log is to DISM: timestamped lines.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


@dataclass
class StepTiming:
    """One timed step of a run (expand, inventory, plan, stage, commit...)."""

    name: str
    seconds: float
    ok: bool = True
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"name": self.name, "seconds": round(self.seconds, 3), "ok": self.ok,
                "detail": self.detail}


@dataclass
class ImageReport:
    """What happened to one image during a run."""

    index: int
    name: str
    image_type: str | None = None
    #: installed | staged | partial | not-serviced | nothing-to-do | failed | cancelled
    status: str = "pending"
    inventory: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None  # the backend's ImageOutcome, post-checked
    staged: list[dict[str, Any]] = field(default_factory=list)
    installed: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    steps: list[StepTiming] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"index": self.index, "name": self.name, "type": self.image_type,
                "status": self.status, "inventory_before": self.inventory, "plan": self.plan,
                "outcome": self.outcome, "installed": self.installed,
                "staged": self.staged, "skipped": self.skipped, "failed": self.failed,
                "steps": [s.to_dict() for s in self.steps]}


@dataclass
class PackageReport:
    """One package input: where it came from, where it was expanded, what it held."""

    source: str
    status: str = "pending"  # expanded | folder | failed
    folders: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"source": self.source, "status": self.status, "folders": self.folders,
                "packages": self.keys, "error": self.error, "seconds": round(self.seconds, 3)}


@dataclass
class ServicingReport:
    """The report of one :func:`~wimcore.servicing.service_wim` run."""

    wim: str
    run_id: str
    started: str
    status: str = "running"  # ok | partial | failed | cancelled | nothing-to-do
    finished: str | None = None
    seconds: float = 0.0
    committed: bool = False
    size_before: int | None = None
    size_after: int | None = None
    first_boot: bool = False
    continue_on_error: bool = False
    backend: str = "staged"
    backend_note: str | None = None
    packages: list[PackageReport] = field(default_factory=list)
    images: list[ImageReport] = field(default_factory=list)
    steps: list[StepTiming] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    history: str | None = None
    log: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"wim": self.wim, "run_id": self.run_id, "started": self.started,
                "finished": self.finished, "seconds": round(self.seconds, 3),
                "status": self.status, "committed": self.committed,
                "size_before": self.size_before, "size_after": self.size_after,
                "first_boot": self.first_boot, "continue_on_error": self.continue_on_error,
                "backend": self.backend, "backend_note": self.backend_note,
                "packages": [p.to_dict() for p in self.packages],
                "images": [i.to_dict() for i in self.images],
                "steps": [s.to_dict() for s in self.steps], "errors": list(self.errors),
                "history": self.history, "log": self.log,
                "note": "staged packages are installed by Windows' own servicing stack during "
                        "Setup (or at first boot); none is reported installed by wimcore"}

    def summary(self) -> str:
        """A readable summary of the run."""
        lines = [f"Servicing run {self.run_id} on {self.wim}: {self.status}"
                 f" ({self.seconds:.1f} s, WIM {'committed' if self.committed else 'unchanged'},"
                 f" backend {self.backend})"]
        if self.backend_note:
            lines.append(f"  backend: {self.backend_note}")
        if self.size_before is not None:
            lines.append(f"  size: {self.size_before} -> {self.size_after} bytes")
        for p in self.packages:
            lines.append(f"  package {p.source}: {p.status}"
                         + (f" ({len(p.keys)} package(s))" if p.keys else "")
                         + (f": {p.error}" if p.error else ""))
        for img in self.images:
            lines.append(f"  image {img.index} \"{img.name}\" [{img.image_type or '?'}]: "
                         f"{img.status}")
            for s in img.installed:
                lines.append(f"    installed {s.get('kb') or '-':<10} {s['key']}")
            for s in img.staged:
                lines.append(f"    staged   {s.get('kb') or '-':<10} {s['key']}")
            outcome = img.outcome or {}
            for p in outcome.get("packages", []):
                if p["state"] == "not-serviced":
                    lines.append(f"    NOT SERVICED {p.get('kb') or '-':<10} {p['key']}: "
                                 f"{p['reason']}")
            for s in img.skipped:
                lines.append(f"    skipped  {s['key']}: {s['state']}: {s['reason']}")
            for f in img.failed:
                lines.append(f"    FAILED   {f.get('key') or f.get('step')}: {f['error']}")
        lines += [f"  error: {e}" for e in self.errors]
        if self.images and any(i.staged for i in self.images):
            lines.append("  note: staged = placed in the image for Windows Setup to install; "
                         "not installed yet")
        return "\n".join(lines)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the JSON report to ``path`` and the summary beside it (``.txt``)."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        out.with_suffix(".txt").write_text(self.summary() + "\n", encoding="utf-8")
        return out


class ServicingLog:
    """Timestamped log lines of a run (``time, level, component, message``) to a file."""

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        """Open (append) the log file; None keeps the lines in memory only."""
        self.path = Path(path) if path is not None else None
        self.lines: list[str] = []
        self._fh: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "a", encoding="utf-8")

    def write(self, message: str, *, level: str = "Info", component: str = "WIMCORE") -> None:
        """Add one line (now, level, component, message)."""
        now = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        line = f"{now}, {level:<7} {component:<8} {message}"
        self.lines.append(line)
        if self._fh is not None:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None
