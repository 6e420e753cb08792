"""Keep the inventory benchmark working on a tiny input (benchmarks are not tests)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).parents[2] / "benchmarks" / "inventory_bench.py"


def test_inventory_bench_tiny(tmp_path: Path, capsys) -> None:
    spec = importlib.util.spec_from_file_location("inventory_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    code = module.main(["--size-mb", "1", "--packages", "20", "--rounds", "1",
                        "--work", str(tmp_path), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0 and result["packages_found"] == 20 and result["hive"] == "ok"
