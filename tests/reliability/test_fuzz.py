"""Run the hypothesis fuzz targets in a child process (bounded), so a crash fails one test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, shared_path

EXAMPLES = os.environ.get("WIMCORE_FUZZ_EXAMPLES", "400")


def test_fuzz_targets_short_run(tmp_path: Path) -> None:
    """Every target ran all its examples without a crash and refused some with typed errors;
    the mutation targets also accepted some (their unmutated seeds, at least: the seeds
    are valid, so the mutations reach the parser)."""
    shared_path("data", "cab", "mszip_lzx_qtm.cab")  # the cabinet target's seeds
    report = tmp_path / "runs.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "WIMCORE_FUZZ_EXAMPLES": EXAMPLES,
           "WIMCORE_FUZZ_REPORT": str(report)}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/reliability/fuzz_targets.py"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, (proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:])
    found = json.loads(report.read_text())
    runs, outcomes = found["runs"], found["outcomes"]
    print(f"\nfuzz inputs per target: {runs} (total {sum(runs.values())}); {outcomes}")
    targets = {"open WIM", "WIM XML", "update.mum", "cabinet", "hive", "MSDelta"}
    assert set(runs) == set(outcomes) == targets
    for name in targets:
        assert runs[name] >= int(EXAMPLES), (name, runs[name])
        assert sum(outcomes[name].values()) >= runs[name], (name, outcomes[name])
        assert outcomes[name].get("error", 0) > 0, (name, outcomes[name])
    for name in targets - {"WIM XML"}:  # mutated seeds: each seed itself parses
        assert outcomes[name].get("ok", 0) > 0, (name, outcomes[name])
