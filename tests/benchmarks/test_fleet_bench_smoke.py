"""Keep the fleet benchmark working: two tiny images, one round, no timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.fleet_bench import main


def test_fleet_bench_runs_on_tiny_images(tmp_path: Path) -> None:
    out = tmp_path / "fleet.json"
    assert main(["--images", "2", "--size-mb", "1", "--rounds", "1", "--keep",
                 str(tmp_path / "work"), "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert figures["images"] == 2 and figures["image_bytes"] > 1_000_000
    for key in ("one_worker_s", "two_workers_s", "fleet_one_image_s", "direct_one_image_s"):
        assert figures[key] > 0
    assert len(figures["raw"]["scaling"]["1"]) == len(figures["raw"]["fleet"]) == 1
