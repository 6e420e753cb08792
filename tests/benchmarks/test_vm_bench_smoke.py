"""Keep the vm benchmark working: its host side on a tiny image, no timing assertions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benchmarks.vm_bench import host_bench

pytestmark = pytest.mark.skipif(shutil.which("wimlib-imagex") is None,
                                reason="wimlib-imagex (wimtools) is not installed")


def test_vm_host_bench_runs_both_sides(tmp_path: Path) -> None:
    result = host_bench(tmp_path / "bench", size_mb=4, rounds=1, compress="xpress")
    for side in ("wc", "ix"):
        for key in ("apply", "full", "template", "apply+full", "apply+template"):
            assert result[f"{side}_{key}"] > 0
    assert result["image_bytes"] >= 4 * 1024 * 1024
