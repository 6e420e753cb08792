"""Run a batch of hostile inputs in a child process and collect what happened to each."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import REPO


@dataclass
class BatchResult:
    """Outcome per case id, and the case that was running when the child died (if it did)."""

    outcomes: dict[str, str] = field(default_factory=dict)
    died_in: str | None = None
    returncode: int = 0
    stderr: str = ""

    def untyped(self) -> dict[str, str]:
        """Cases that ended in an exception outside wimcore's hierarchy."""
        return {k: v for k, v in self.outcomes.items() if v.startswith("UNTYPED")}


def run_batch(cases: list[dict[str, object]], *, timeout: float = 600) -> BatchResult:
    """Exercise the cases in one child; a crash or hang names the case it happened in."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "tests.reliability.exercise"],
                          input=json.dumps(cases), capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=REPO, check=False)
    result = BatchResult(returncode=proc.returncode, stderr=proc.stderr[-2000:])
    started = None
    for line in proc.stdout.splitlines():
        msg = json.loads(line)
        if "start" in msg:
            started = msg["start"]
        else:
            result.outcomes[msg["id"]] = msg["outcome"]
            started = None
    result.died_in = started if proc.returncode != 0 else None
    return result


def snapshot(root: Path) -> set[str]:
    """Every path under a directory (to prove nothing was written outside a destination)."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}
