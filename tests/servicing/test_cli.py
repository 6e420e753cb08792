"""The servicing commands, registered on a fresh group and run through click's test runner."""

from __future__ import annotations

import json
from pathlib import Path

import click
import winfactory as wf
from click.testing import CliRunner

from wimcore.cli.servicing_cmds import register


def _group() -> click.Group:
    group = click.Group("package")
    register(group)
    return group


def test_register_adds_commands() -> None:
    assert {"list", "plan", "stage"} <= set(_group().commands)


def test_list_plan_stage(win_wim, pkgs, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec(), wf.WinSpec(kind="setup"))
    run = CliRunner().invoke
    out = run(_group(), ["list", str(path), "1"])
    assert out.exit_code == 0, out.output
    assert "10.0.19045.3803" in out.output and "client" in out.output
    out = run(_group(), ["list", str(path), "all", "--json"])
    assert [d["image"]["type"] for d in json.loads(out.stdout)] == ["client", "setup"]
    out = run(_group(), ["plan", str(path), "all", str(pkgs["lcu"]), str(pkgs["ssu"])])
    assert out.exit_code == 0 and "needs-servicing-stack" in out.output
    out = run(_group(), ["plan", str(path), "1", str(pkgs["lcu"]), "--json"])
    doc = json.loads(out.stdout)
    assert doc["plans"][0]["entries"][0]["state"] == "applicable"
    assert [(i["class"], i["action"]) for i in doc["inputs"]] == [("servicing-package", "use")]
    report = tmp_path / "report.json"
    out = run(_group(), ["stage", str(path), "1", str(pkgs["ssu"]), str(pkgs["lcu"]),
                         "--report", str(report), "--first-boot", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["status"] == "ok" and len(doc["images"][0]["staged"]) == 2
    assert report.exists()
    out = run(_group(), ["plan", str(path), "1", str(pkgs["lcu"])])
    assert "staged" in out.output


def test_stage_failure_exit_code(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    bad = tmp_path / "bad.cab"
    bad.write_bytes(b"MSCF" + b"\0" * 40)
    out = CliRunner().invoke(_group(), ["stage", str(path), "1", str(bad)])
    assert out.exit_code == 1 and "servicing stopped" in out.output
