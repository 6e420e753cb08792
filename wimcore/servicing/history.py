"""The per-WIM history sidecar: what each servicing run staged or installed, and with which
backend, so the next run knows.

``install.wim`` gets ``install.wim.wimcore-history.json`` beside it. It is written only
after the WIM itself was committed, atomically (temporary name, then rename).
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


def sidecar_path(wim_path: str | os.PathLike[str]) -> Path:
    """Where the history of a WIM lives: beside it, named after it."""
    p = Path(wim_path)
    return p.with_name(p.name + SUFFIX)


@dataclass
class History:
    """The runs recorded for one WIM (oldest first)."""

    path: Path
    runs: list[dict[str, Any]] = field(default_factory=list)

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


def load_history(wim_path: str | os.PathLike[str]) -> History:
    """The history beside a WIM (empty when there is none; HistoryError when unreadable)."""
    path = sidecar_path(wim_path)
    if not path.exists():
        return History(path)
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise HistoryError(f"{path}: unreadable history sidecar ({exc}); move it away to "
                           "start a fresh history") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        raise HistoryError(f"{path}: not a wimcore history file")
    return History(path, list(doc["runs"]))
