"""The record of one media run: per-image results, inputs, steps with times, file changes,
sizes; JSON and a readable summary whose first lines say what each image got."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore.servicing.report import STAGED_NOTE, ImageReport, image_table

if TYPE_CHECKING:
    from wimcore.packages.intake import InputRecord


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

    @property
    def title(self) -> str:
        """How the summary names the image: ``install.wim:1 'Windows 11 Pro'``."""
        return f"{self.wim}:{self.report.index} {self.report.name!r}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"wim": self.wim, "note": self.note, **self.report.to_dict()}


@dataclass
class MediaReport:
    """What a :func:`~wimcore.media.service` run did to a media folder."""

    media: str
    work_dir: str
    started: str
    #: ok | incomplete | nothing-to-do | partial | failed | cancelled
    status: str = "running"
    seconds: float = 0.0
    backend: str = ""
    backend_note: str | None = None
    skip_verify: bool = False
    steps: list[StepRecord] = field(default_factory=list)
    images: list[MediaImageReport] = field(default_factory=list)
    inputs: list[InputRecord] = field(default_factory=list)
    winre: list[dict[str, Any]] = field(default_factory=list)
    sources: list[dict[str, Any]] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    sizes_before: dict[str, int] = field(default_factory=dict)
    sizes_after: dict[str, int] = field(default_factory=dict)
    iso: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log: str | None = None
    report: str | None = None
    work_kept: bool = False

    @property
    def changed(self) -> bool:
        """True when the media folder (or the ISO) was changed."""
        return bool(self.replaced) or bool(self.iso and self.iso.get("rewritten"))

    @property
    def unserviced(self) -> list[MediaImageReport]:
        """Images that had packages to apply and did not reach their plan."""
        return [i for i in self.images if i.report.planned and not i.report.reached_plan]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        from wimcore.packages.verify import SIGNATURE_NOTE

        return {"media": self.media, "work_dir": self.work_dir, "started": self.started,
                "status": self.status, "changed": self.changed,
                "seconds": round(self.seconds, 3), "backend": self.backend,
                "backend_note": self.backend_note,
                "results": [{"image": i.title, "type": i.report.image_type,
                             "result": i.report.status, "reached_plan": i.report.reached_plan,
                             "why": i.report.why()} for i in self.images],
                "steps": [s.to_dict() for s in self.steps],
                "images": [i.to_dict() for i in self.images],
                "inputs": [r.to_dict() for r in self.inputs],
                "verification": "skipped (--skip-verify)" if self.skip_verify else
                "each package checked against its own catalogs and manifests",
                "signatures": SIGNATURE_NOTE,
                "winre": self.winre, "sources": self.sources, "replaced": self.replaced,
                "sizes_before": self.sizes_before, "sizes_after": self.sizes_after,
                "iso": self.iso, "errors": self.errors, "warnings": self.warnings,
                "log": self.log, "report": self.report, "note": STAGED_NOTE}

    def to_json(self) -> str:
        """The report as a JSON document."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    def summary(self) -> str:
        """A readable summary: what each image got first, then inputs, steps, files, sizes."""
        lines = [f"Media {self.media}: {self.status}"
                 + ("" if self.changed else " (nothing changed)")
                 + f" in {self.seconds:.1f} s, backend {self.backend or '?'}"]
        lines += image_table([(i.title, i.report.image_type or "?", i.report.status,
                               i.report.packages_cell(), i.report.why())
                              for i in self.images])
        if any(i.report.staged for i in self.images):
            lines.append(f"note: {STAGED_NOTE}")
        if self.backend_note:
            lines.append(f"backend: {self.backend_note}")
        lines += [f"warning: {w}" for w in self.warnings]
        lines += [f"error: {e}" for e in self.errors]
        if self.inputs:
            lines.append("Inputs:")
            for item in self.inputs:
                kinds = ", ".join(dict.fromkeys(item.input.kinds))
                lines.append(f"  {item.input.path.name}: {item.input.input_class.value}"
                             + (f" ({kinds})" if kinds else "")
                             + f": {item.action}: {item.detail}"
                             + (f" ({item.input.reason})" if item.action != "use" else "")
                             + (f": {item.error}" if item.error else ""))
                lines += [f"      {line}" for line in item.unverified_lines()]
        lines.append("Steps:")
        seed_width = max((len(s.seed_step) for s in self.steps), default=4)
        for s in self.steps:
            extra = f": {s.detail}" if s.detail else ""
            err = f" ERROR {s.error}" if s.error else ""
            lines.append(f"  {s.seed_step:>{seed_width}}  {s.name:<22} {s.status:<14} "
                         f"{s.seconds:7.2f} s{extra}{err}")
        lines.append("Images:")
        for rec in self.images:
            r = rec.report
            inv = r.inventory or {}
            lines.append(f"  {rec.title} ({r.image_type or '?'}, "
                         f"{inv.get('version') or '?'}): {r.status}"
                         + (f" - {rec.note}" if rec.note else ""))
            same = (r.outcome or {}).get("reason")
            for p in (r.outcome or {}).get("packages", []):
                lines.append(f"      {p['state']:<13} {p.get('kb') or '-':<10} {p['key']}"
                             + (f": {p['reason']}" if p["state"] != "staged"
                                and p["reason"] != same else ""))
            for skipped in r.skipped:
                if skipped["state"] != "needs-servicing-stack":
                    lines.append(f"      {skipped['state']:<13} {'':<10} {skipped['key']}: "
                                 f"{skipped['reason']}")
        if self.sources:
            lines.append("sources/:")
            for a in self.sources:
                lines.append(f"  {'added' if a.get('added') else 'updated':<8} {a['path']:<28} "
                             f"from {a['source']} ({a['reason']})")
        lines.append("Sizes (bytes, before -> after):")
        for name in sorted(set(self.sizes_before) | set(self.sizes_after)):
            before = self.sizes_before.get(name)
            after = self.sizes_after.get(name)
            lines.append(f"  {name:<14} {_size(before):>14} -> {_size(after):>14}"
                         + ("  (unchanged)" if before == after else ""))
        if self.iso:
            lines.append(f"ISO: {self.iso['path']} ({self.iso['size']:,} bytes, label "
                         f"{self.iso['label']}"
                         + ("" if self.iso.get("rewritten", True)
                            else "; kept: it already holds exactly these files") + ")")
        if self.log:
            lines.append(f"log: {self.log}")
        return "\n".join(lines)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the JSON report and, beside it, the summary (``.txt``)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_json(), encoding="utf-8")
        p.with_suffix(".txt").write_text(self.summary() + "\n", encoding="utf-8")


def _size(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
