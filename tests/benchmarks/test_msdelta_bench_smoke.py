"""Keep the MSDelta benchmark working on a tiny input (no timing assertions)."""

from __future__ import annotations

import pytest

from benchmarks.msdelta_bench import run, sample_data
from wimcore.packages import msdelta


@pytest.mark.skipif(not msdelta.native_available(), reason="the MSDelta module is not built")
def test_msdelta_bench_tiny() -> None:
    assert sample_data(5000) == sample_data(5000) and len(sample_data(5000)) == 5000
    report = run(24 * 1024, rounds=2, cache=None)
    assert report["size"] == 24 * 1024 and report["segments"] == 4
    assert report["ratio_pseudolzx_to_lzx"] > 0 and report["mb_per_s"]["lzx"] > 0
