"""Run the hypothesis fuzz targets in a child process (bounded), so a crash fails one test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

EXAMPLES = os.environ.get("WIMCORE_FUZZ_EXAMPLES", "400")


def test_fuzz_targets_short_run(tmp_path: Path) -> None:
    report = tmp_path / "runs.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "WIMCORE_FUZZ_EXAMPLES": EXAMPLES,
           "WIMCORE_FUZZ_REPORT": str(report)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/reliability/fuzz_targets.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:])
    runs = json.loads(report.read_text())
    print(f"\nfuzz inputs per target: {runs} (total {sum(runs.values())})")
    assert set(runs) == {"open WIM", "WIM XML", "update.mum", "cabinet", "hive",
                         "MSDelta"}
