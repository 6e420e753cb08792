"""``wimcore sample create`` and ``wimcore media service`` through click."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from wimcore.cli.app import cli


def _cli() -> object:
    return cli


def test_sample_then_service(tmp_path: Path) -> None:
    runner = CliRunner()
    app = _cli()
    res = runner.invoke(app, ["-q", "sample", "create", str(tmp_path / "m"), "--seed", "3"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["-q", "media", "service", str(tmp_path / "m"), "--updates",
                              str(tmp_path / "m/updates"), "--image", "1", "--json",
                              "--work-dir", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["status"] == "ok"
    assert [i["index"] for i in doc["images"] if i["wim"] == "install.wim"] == [1]
    res = runner.invoke(app, ["-q", "media", "service", str(tmp_path / "m"), "--updates",
                              str(tmp_path / "m/updates"), "--work-dir", str(tmp_path / "w")])
    assert res.exit_code == 0 and "nothing-to-do" in res.output
