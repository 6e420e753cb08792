"""The per-WIM history sidecar: what each servicing run staged or installed, and with which
backend, so the next run knows.

``install.wim`` gets ``install.wim.wimcore-history.json`` beside it, except in a media's
``sources/`` folder: files there are copied onto USB sticks and into ISOs, so the sidecars
of a media's WIMs live beside the media folder (``MEDIA.install.wim.wimcore-history.json``,
like the run's report and log). A sidecar an older wimcore left inside ``sources/`` is read,
and moved out at the next save. It is written only after the WIM itself was committed,
atomically (temporary name, then rename).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore import interrupts, ledger
from wimcore.servicing.errors import HistoryError

SUFFIX = ".wimcore-history.json"
FORMAT = 1

#: Files beside ``sources/`` that make a folder a Windows installation media.
_MEDIA_MARKERS = ("setup.exe", "bootmgr", "boot", "efi")


def media_of(wim_path: str | os.PathLike[str]) -> Path | None:
    """The media folder when the WIM lives in a media's ``sources/`` (else None)."""
    p = Path(wim_path).absolute()
    if p.parent.name.lower() != "sources":
        return None
    root = p.parent.parent
    if p.parent.parent == p.parent or not any((root / m).exists() for m in _MEDIA_MARKERS):
        return None
    return root


def sidecar_base(wim_path: str | os.PathLike[str]) -> Path:
    """The path that a WIM's sidecars (history, log) extend with their suffix: the WIM
    itself, or ``MEDIA.<wim name>`` beside the media folder for a media's WIM."""
    p = Path(wim_path)
    media = media_of(p)
    if media is None:
        return p
    return media.parent / f"{media.name}.{p.name}"


def sidecar_path(wim_path: str | os.PathLike[str]) -> Path:
    """Where the history of a WIM lives: beside it (beside the media for a media's WIM)."""
    base = sidecar_base(wim_path)
    return base.with_name(base.name + SUFFIX)


def _legacy_path(wim_path: str | os.PathLike[str]) -> Path:
    p = Path(wim_path)
    return p.with_name(p.name + SUFFIX)


@dataclass
class History:
    """The runs recorded for one WIM (oldest first)."""

    path: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    #: A sidecar of an older wimcore inside ``sources/``: removed once ``path`` is written.
    legacy: Path | None = None

    def staged_keys(self, index: int, name: str | None = None, *,
                    wim: str | None = None) -> set[str]:
        """Identity keys staged into an image by earlier runs (matched by name when given).

        ``wim`` selects records of an image carried inside this WIM (``"Winre.wim"``);
        None, the WIM's own images.
        """
        out: set[str] = set()
        for run in self.runs:
            for img in run.get("images", []):
                if img.get("wim") != wim:
                    continue
                same = (img.get("name") == name) if name is not None and img.get("name") \
                    else img.get("index") == index
                if same:
                    out.update(s["key"] for s in img.get("staged", []) if "key" in s)
        return out

    def add_run(self, run: dict[str, Any]) -> None:
        """Append one run: {"run_id", "started", "backend", "images": [{"index", "name",
        "staged", "installed"}]}."""
        self.runs.append(run)

    def save(self) -> None:
        """Write the sidecar atomically."""
        data = json.dumps({"format": FORMAT, "runs": self.runs}, indent=2).encode()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(data)
            with interrupts.deferred():
                os.replace(tmp, self.path)
                ledger.note_changed(self.path, how="history recorded")
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise HistoryError(f"{self.path}: cannot write the history: {exc}") from None
        except BaseException:  # interrupted: no temporary left beside the WIM
            tmp.unlink(missing_ok=True)
            raise
        if self.legacy is not None and self.legacy != self.path:
            self.legacy.unlink(missing_ok=True)  # moved out of the media's sources/
            self.legacy = None


def load_history(wim_path: str | os.PathLike[str]) -> History:
    """The history beside a WIM (empty when there is none; HistoryError when unreadable)."""
    path = sidecar_path(wim_path)
    legacy = _legacy_path(wim_path)
    source = path if path.exists() or legacy == path else legacy
    if not source.exists():
        return History(path)
    try:
        doc = json.loads(source.read_bytes())
    except (OSError, ValueError) as exc:
        raise HistoryError(f"{source}: unreadable history sidecar ({exc}); move it away to "
                           "start a fresh history") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise HistoryError(f"{source}: not a wimcore history file")
    return History(path, list(doc["runs"]), legacy=source if source != path else None)
