"""``wimcore sample create`` and ``wimcore media service`` through click: exit codes follow the
status (incomplete is non-zero unless --allow-incomplete)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from wimcore.cli.app import cli


def test_sample_then_service(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(cli, ["-q", "sample", "create", str(tmp_path / "m"), "--seed", "3"])
    assert res.exit_code == 0, res.output
    assert "--allow-incomplete" in res.output
    args = ["-q", "media", "service", str(tmp_path / "m"), "--updates",
            str(tmp_path / "m/updates"), "--backend", "staged"]
    res = runner.invoke(cli, [*args, "--image", "1", "--json", "--work-dir",
                              str(tmp_path / "w")])
    # boot images and WinRE were not serviced, install.wim:1 was: incomplete, media changed
    assert res.exit_code == 10, res.output
    doc = json.loads(res.stdout)
    assert doc["status"] == "incomplete"
    assert [i["index"] for i in doc["images"] if i["wim"] == "install.wim"] == [1]
    res = runner.invoke(cli, [*args, "--allow-incomplete"])
    assert res.exit_code == 0, res.output
    first = res.output.splitlines()
    assert first[0].startswith(f"Media {tmp_path / 'm'}: incomplete")
    assert first[1].split() == ["IMAGE", "TYPE", "RESULT", "PACKAGES", "WHY"]
    assert "not-serviced" in first[2]
    assert (tmp_path / "m.wimcore-report.json").is_file()
    assert (tmp_path / "m.wimcore.log").is_file() and not (tmp_path / "w").exists()


def test_skip_verify_is_loud(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["-q", "sample", "create", str(tmp_path / "m")]).exit_code == 0
    res = runner.invoke(cli, ["-q", "media", "service", str(tmp_path / "m"), "--updates",
                              str(tmp_path / "m/updates"), "--backend", "staged",
                              "--skip-verify", "--allow-incomplete", "--json"])
    assert res.exit_code == 0, res.output
    assert "--skip-verify" in res.stderr and "NOT checked" in res.stderr
    doc = json.loads(res.stdout)
    assert doc["verification"] == "skipped (--skip-verify)"
    assert any("--skip-verify" in w for w in doc["warnings"])
    # the sidecars live beside the media folder, never inside sources/ (copied to USB)
    assert not [n for n in os.listdir(tmp_path / "m/sources") if ".wimcore" in n]
    history = json.loads((tmp_path / "m.install.wim.wimcore-history.json").read_text())
    assert history["runs"][0]["verification"] == "skipped (--skip-verify)"
