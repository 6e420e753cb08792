"""The record of one media run: steps with times, images, file changes, sizes; JSON and text."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore.servicing.report import ImageReport


@dataclass
class StepRecord:
    """One step of the routine: its name (seed step), status, time and what it did."""

    name: str
    seed_step: str
    status: str = "pending"  # done | nothing-to-do | skipped | failed | cancelled
    seconds: float = 0.0
    detail: str = ""
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"name": self.name, "seed_step": self.seed_step, "status": self.status,
                "seconds": round(self.seconds, 3), "detail": self.detail, "error": self.error}


@dataclass
class MediaImageReport:
    """One image's servicing record, tagged with the WIM it lives in."""

    wim: str
    report: ImageReport
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"wim": self.wim, "note": self.note, **self.report.to_dict()}


@dataclass
class MediaReport:
    """What a :func:`~wimcore.media.pipeline.service` run did to a media folder."""

    media: str
    work_dir: str
    started: str
    status: str = "running"  # ok | nothing-to-do | partial | failed | cancelled
    seconds: float = 0.0
    steps: list[StepRecord] = field(default_factory=list)
    images: list[MediaImageReport] = field(default_factory=list)
    packages: list[dict[str, Any]] = field(default_factory=list)
    winre: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    sizes_before: dict[str, int] = field(default_factory=dict)
    sizes_after: dict[str, int] = field(default_factory=dict)
    iso: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log: str | None = None

    @property
    def changed(self) -> bool:
        """True when the media folder was changed."""
        return bool(self.replaced)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"media": self.media, "work_dir": self.work_dir, "started": self.started,
                "status": self.status, "changed": self.changed,
                "seconds": round(self.seconds, 3),
                "steps": [s.to_dict() for s in self.steps],
                "images": [i.to_dict() for i in self.images], "packages": self.packages,
                "winre": self.winre, "sources": self.sources, "replaced": self.replaced,
                "sizes_before": self.sizes_before, "sizes_after": self.sizes_after,
                "iso": self.iso, "errors": self.errors, "warnings": self.warnings,
                "log": self.log}

    def to_json(self) -> str:
        """The report as a JSON document."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def summary(self) -> str:
        """A readable summary: steps, images, sources, sizes, total time."""
        lines = [f"Media {self.media}: {self.status}"
                 + ("" if self.changed else " (nothing changed)")
                 + f" in {self.seconds:.1f} s"]
        lines.append("Steps:")
        for s in self.steps:
            extra = f": {s.detail}" if s.detail else ""
            err = f" ERROR {s.error}" if s.error else ""
            lines.append(f"  {s.seed_step:>6}  {s.name:<22} {s.status:<14} {s.seconds:7.2f} s"
                         f"{extra}{err}")
        lines.append("Images:")
        for rec in self.images:
            r = rec.report
            inv = r.inventory or {}
            lines.append(f"  {rec.wim}:{r.index} {r.name!r} ({r.image_type or '?'}, "
                         f"{inv.get('version') or '?'}): {r.status}"
                         + (f" - {rec.note}" if rec.note else ""))
            for staged in r.staged:
                lines.append(f"      staged      {staged.get('kb') or '-':<10} "
                             f"{staged.get('key')}")
            for skipped in r.skipped:
                lines.append(f"      {skipped['state']:<11} {skipped['key']}")
        if self.sources:
            lines.append("sources/:")
            for a in self.sources:
                lines.append(f"  {'added' if a.get('added') else 'updated':<8} {a['path']:<28} "
                             f"from {a['source']} ({a['reason']})")
        lines.append("Sizes (bytes, before -> after):")
        for name in sorted(set(self.sizes_before) | set(self.sizes_after)):
            lines.append(f"  {name:<14} {self.sizes_before.get(name, 0):>14,} -> "
                         f"{self.sizes_after.get(name, 0):>14,}")
        if self.iso:
            lines.append(f"ISO: {self.iso['path']} ({self.iso['size']:,} bytes, label "
                         f"{self.iso['label']})")
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"error: {e}" for e in self.errors]
        return "\n".join(lines)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON report and, beside it, the summary (``.txt``)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_json(), encoding="utf-8")
        p.with_suffix(".txt").write_text(self.summary() + "\n", encoding="utf-8")
