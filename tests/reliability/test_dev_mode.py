"""Run the core, package and servicing suites under PYTHONMALLOC=debug and ``-X dev``: buffers and
callbacks handed to C must stay alive as long as C uses them, and nothing may leak a file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(os.environ.get("WIMCORE_DEV_MODE_CHILD") == "1", reason="already the child")
def test_suites_pass_under_debug_malloc_and_dev_mode() -> None:
    env = {**os.environ, "PYTHONMALLOC": "debug", "WIMCORE_DEV_MODE_CHILD": "1",
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error::ResourceWarning", "-m", "pytest", "-q",
         "-p", "no:cacheprovider", "-W", "error::pytest.PytestUnraisableExceptionWarning",
         "tests/core", "tests/packages", "tests/servicing"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    tail = proc.stdout[-3000:] + proc.stderr[-2000:]
    assert proc.returncode == 0, tail
    assert "warning" not in proc.stdout.splitlines()[-1].lower(), tail
