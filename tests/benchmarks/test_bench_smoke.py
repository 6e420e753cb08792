"""Keep the benchmark suite working: a --quick run on a tiny corpus, no timing assertions.

Benchmarks are not tests (see DESIGN.md); this only checks that every case runs on
both sides and lands in results.json with a ratio, so the suite cannot rot.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import harness
from benchmarks.__main__ import main
from benchmarks.cases import SIDES

pytestmark = pytest.mark.skipif(shutil.which("wimlib-imagex") is None,
                                reason="wimlib-imagex (wimtools) is not installed")

EXPECTED = {
    "capture_none", "capture_xpress", "capture_lzx", "capture_lzms", "capture_lzms_solid",
    "export_xpress_to_lzx", "export_lzx_to_lzms_solid", "export_lzx_copy",
    "export_lzx_to_xpress", "export_lzx_to_xpress_nocb", "apply_lzx", "append_lzx",
    "capture_lzx_t1", "capture_lzms_t1", "capture_xpress_fsync", "cli_export_lzx_recompress",
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("bench")
    assert main(["run", "--quick", "--out", str(out)]) == 0
    for name in ("results.json", "results.md"):
        assert (out / name).is_file()
    data: dict[str, object] = json.loads((out / "results.json").read_text())
    data["_out"] = str(out)
    return data


def test_every_case_has_both_sides_and_a_ratio(results: dict[str, object]) -> None:
    cases = {c["name"]: c for c in results["cases"]}  # type: ignore[attr-defined]
    assert EXPECTED <= set(cases)
    assert any(name.startswith("capture_xpress_") and name.endswith("mb") for name in cases)
    for name, case in cases.items():
        for side in SIDES:
            stats = case["sides"][side]
            assert stats["runs"] >= 1, name
            assert stats["wall_median_s"] > 0, name
            assert stats["peak_rss_median_mib"] > 0, name
        assert case["wall_ratio"] > 0, name
        if case["group"] == "cli":  # the console script: whole process only, own target
            assert case["op_ratio"] is None and case["wall_target"] == 1.015, name
            assert case["targets"]["wall_ratio_le_target"] is not None, name
            continue
        assert case["op_ratio"] is not None, name  # the wimcore child reported its own timing
        assert case["sides"]["wimcore"]["samples"][0]["inner"]["op_wall_s"] > 0


def test_both_sides_did_the_same_work(results: dict[str, object]) -> None:
    for case in results["cases"]:  # type: ignore[attr-defined]
        if case["group"] == "apply":
            sizes = [case["sides"][s]["output_bytes"] for s in SIDES]
            assert sizes[0] == sizes[1], case["name"]
        elif case["group"] != "append":
            assert case["output_bytes_match"], case["name"]


def test_compressor_rows_and_report(results: dict[str, object]) -> None:
    rows = results["compressor"]  # type: ignore[assignment]
    if not rows:  # the suite could not build its C harness: say why, as a failure
        if harness.compiler() is None:
            pytest.skip("no C compiler (cc/gcc): the compressor harness cannot be built")
        harness.build("compress_bench", Path(str(results["_out"])))  # raises with cc's message
        pytest.fail("the compressor harness builds, yet the benchmark recorded no rows")
    codecs = {(r["codec"], r["block"]) for r in rows}  # type: ignore[union-attr]
    assert ("lzx", 32768) in codecs and ("xpress", 65536) in codecs and ("lzms", 1 << 20) in codecs
    for row in rows:  # type: ignore[union-attr]
        assert row["c_median_mb_s"] > 0 and row["py_median_mb_s"] > 0
    md = (Path(str(results["_out"])) / "results.md").read_text()
    assert "wimcore vs wimlib-imagex" in md and "Raw compressor API" in md
