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
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wimcore.packages.intake import InputRecord
    from wimcore.servicing.backend import ImageOutcome

STAGED_NOTE = ("staged = placed in the image for Windows Setup to install during Setup (or "
               "at first boot); not installed yet")


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
    label: str = ""  # where the image lives, e.g. "install.wim:1"

    def record(self, outcome: ImageOutcome) -> None:
        """Take the (post-checked) outcome of a backend: status, staged, installed, failed."""
        from wimcore.servicing.backend import PackageResult

        self.outcome = outcome.to_dict()
        self.status = outcome.state
        self.staged = [{"order": n, "key": p.key, "kb": p.kb, "kind": p.kind,
                        "state": "staged", "location": p.location, "backend": p.backend}
                       for n, p in enumerate(outcome.packages, start=1)
                       if p.state is PackageResult.STAGED]
        self.installed = [p.to_dict() for p in outcome.packages
                          if p.state is PackageResult.INSTALLED]
        self.failed += [{"key": p.key, "error": p.reason} for p in outcome.packages
                        if p.state is PackageResult.FAILED]

    @property
    def planned(self) -> list[dict[str, Any]]:
        """The plan's entries that were to be applied (numbered), in order."""
        return [e for e in (self.plan or {}).get("entries", []) if e.get("order") is not None]

    @property
    def not_serviced(self) -> list[dict[str, Any]]:
        """Planned packages the backend did not apply (with the reason)."""
        return [p for p in (self.outcome or {}).get("packages", [])
                if p["state"] == "not-serviced"]

    @property
    def reached_plan(self) -> bool:
        """True when every package the plan had to apply was installed or staged."""
        if not self.planned:
            return self.status not in ("failed", "cancelled")
        return self.status in ("installed", "staged")

    def why(self) -> str:
        """One phrase for the summary table: why the image is in its state."""
        outcome = self.outcome or {}
        if self.status == "not-serviced":
            return outcome.get("reason") or (self.not_serviced[0]["reason"]
                                             if self.not_serviced else "")
        if self.status == "staged":
            return "placed for Windows Setup to install (not installed yet)"
        if self.status == "installed":
            return "the image's own records show every package installed"
        if self.status == "nothing-to-do":
            states = sorted({s["state"] for s in self.skipped})
            return ("nothing applicable" + (f" ({', '.join(states)})" if states else "")
                    if self.skipped else "no packages for this image")
        if self.failed:
            first = self.failed[0]
            return f"{first.get('key') or first.get('step')}: {first['error']}"
        return ""

    def packages_cell(self) -> str:
        """Planned packages by KB for the summary table."""
        entries = self.planned or []
        kbs = [e.get("kb") or e.get("name") or "?" for e in entries]
        return ", ".join(kbs) if kbs else "-"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"index": self.index, "name": self.name, "label": self.label,
                "type": self.image_type, "status": self.status,
                "reached_plan": self.reached_plan, "inventory_before": self.inventory,
                "plan": self.plan, "outcome": self.outcome, "installed": self.installed,
                "staged": self.staged, "skipped": self.skipped, "failed": self.failed,
                "steps": [s.to_dict() for s in self.steps]}


def image_table(rows: list[tuple[str, str, str, str, str]]) -> list[str]:
    """Aligned lines of (image, type, result, packages, why) rows, with a header."""
    table = [("IMAGE", "TYPE", "RESULT", "PACKAGES", "WHY"), *rows]
    widths = [max(len(r[i]) for r in table) for i in range(4)]
    return ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4]
            for r in table]


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
    #: ok | incomplete | partial | failed | cancelled | nothing-to-do
    status: str = "running"
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
    warnings: list[str] = field(default_factory=list)
    inputs: list[InputRecord] = field(default_factory=list)
    skip_verify: bool = False
    history: str | None = None
    log: str | None = None

    @property
    def incomplete(self) -> list[ImageReport]:
        """Images that had something to apply and did not reach their plan."""
        return [i for i in self.images if i.planned and not i.reached_plan
                and i.status not in ("failed", "partial", "cancelled")]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        from wimcore.packages.verify import SIGNATURE_NOTE

        return {"wim": self.wim, "run_id": self.run_id, "started": self.started,
                "finished": self.finished, "seconds": round(self.seconds, 3),
                "status": self.status, "committed": self.committed,
                "size_before": self.size_before, "size_after": self.size_after,
                "first_boot": self.first_boot, "continue_on_error": self.continue_on_error,
                "backend": self.backend, "backend_note": self.backend_note,
                "packages": [p.to_dict() for p in self.packages],
                "images": [i.to_dict() for i in self.images],
                "steps": [s.to_dict() for s in self.steps], "errors": list(self.errors),
                "warnings": list(self.warnings),
                "inputs": [r.to_dict() for r in self.inputs],
                "verification": "skipped (--skip-verify)" if self.skip_verify else
                "each package checked against its own catalogs and manifests",
                "signatures": SIGNATURE_NOTE,
                "history": self.history, "log": self.log,
                "note": STAGED_NOTE}

    def summary(self) -> str:
        """A readable summary: the per-image table first, then inputs, details, warnings."""
        lines = [f"Servicing run {self.run_id} on {self.wim}: {self.status}"
                 f" ({self.seconds:.1f} s, WIM {'committed' if self.committed else 'unchanged'},"
                 f" backend {self.backend})"]
        lines += image_table([(f"{Path(self.wim).name}:{i.index} {i.name!r}",
                               i.image_type or "?", i.status, i.packages_cell(), i.why())
                              for i in self.images])
        if self.backend_note:
            lines.append(f"  backend: {self.backend_note}")
        if self.size_before is not None:
            lines.append(f"  size: {self.size_before:,} -> {self.size_after or 0:,} bytes")
        for r in self.inputs:
            lines.append(f"  input {r.input.path.name}: {r.input.input_class.value}: "
                         f"{r.action}: {r.detail}"
                         + (f" ({r.input.reason})" if r.action in ("skip", "refuse", "ignore")
                            else "") + (f": {r.error}" if r.error else ""))
            lines += [f"    {line}" for line in r.unverified_lines()]
        for img in self.images:
            lines.append(f"  image {img.index} \"{img.name}\" [{img.image_type or '?'}]: "
                         f"{img.status}")
            for s in img.installed:
                lines.append(f"    installed {s.get('kb') or '-':<10} {s['key']}")
            for s in img.staged:
                lines.append(f"    staged   {s.get('kb') or '-':<10} {s['key']}")
            for p in img.not_serviced:
                lines.append(f"    NOT SERVICED {p.get('kb') or '-':<10} {p['key']}: "
                             f"{p['reason']}")
            for s in img.skipped:
                lines.append(f"    skipped  {s['key']}: {s['state']}: {s['reason']}")
            for f in img.failed:
                lines.append(f"    FAILED   {f.get('key') or f.get('step')}: {f['error']}")
        lines += [f"  warning: {w}" for w in self.warnings]
        lines += [f"  error: {e}" for e in self.errors]
        if any(i.staged for i in self.images):
            lines.append(f"  note: {STAGED_NOTE}")
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
