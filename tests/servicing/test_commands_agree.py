"""plan and stage take the same inputs and agree; typed errors for images that cannot take
packages; unserviced images make a run incomplete; warnings reach every summary."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click
import pytest
import winfactory as wf
from click.testing import CliRunner
from winfactory import digest

import wimcore
from wimcore.cli.servicing_cmds import register
from wimcore.media.sample import create_sample
from wimcore.packages.errors import NotAnUpdateError, PackageTamperedError
from wimcore.packages.expand import expand
from wimcore.servicing import (
    NeedsServicingStackError,
    NotWindowsImageError,
    plan,
    service_wim,
)
from wimcore.servicing.errors import ImageTypeError


def _group() -> click.Group:
    group = click.Group("package")
    register(group)
    return group


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample media (install.wim sits in sources/, the updates folder beside it)."""
    return create_sample(tmp_path_factory.mktemp("s") / "media")


def _copy(sample: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "media"
    shutil.copytree(sample, dest, copy_function=shutil.copy2)
    return dest


def test_plan_and_stage_agree_on_the_updates_folder(sample: Path, tmp_path: Path) -> None:
    media = _copy(sample, tmp_path)
    wim = media / "sources/install.wim"
    updates = sorted(str(p) for p in (media / "updates").iterdir())
    run = CliRunner().invoke
    out = run(_group(), ["plan", str(wim), "all", *updates, "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    rows = {Path(i["path"]).name: i for i in doc["inputs"]}
    du = rows["Windows11.0-KB5044618-x64.cab"]
    assert (du["class"], du["action"], du["detail"]) == (
        "setup-dynamic-update", "skip", "Setup Dynamic Update: belongs to the media's sources/")
    assert {r["action"] for n, r in rows.items() if n != du["path"].rsplit("/", 1)[-1]} == {
        "use"}
    planned = [[e["kb"] for e in p["entries"] if e["order"]] for p in doc["plans"]]
    assert planned == [["KB5047621", "KB5044284"]] * 2
    text = run(_group(), ["plan", str(wim), "1", *updates]).output
    assert text.startswith("Inputs:") and "belongs to the media's sources/" in text
    assert "SafeOS updates apply only to WinRE" in text  # a package for another image type
    out = run(_group(), ["stage", str(wim), "all", *updates, "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["status"] == "ok"
    assert [[s["kb"] for s in i["staged"]] for i in report["images"]] == planned
    assert [(Path(i["path"]).name, i["action"]) for i in report["inputs"]] == [
        (Path(i["path"]).name, i["action"]) for i in doc["inputs"]]


def test_a_file_that_is_not_an_update_is_refused_by_both(sample: Path, tmp_path: Path) -> None:
    media = _copy(sample, tmp_path)
    wim = media / "sources/install.wim"
    (media / "updates/README.txt").write_text("downloaded 2024-10-08\n")
    before = digest(wim)
    run = CliRunner().invoke
    out = run(_group(), ["plan", str(wim), "1", str(media / "updates")])
    assert out.exit_code == 1
    assert "README.txt" in out.output and "refuse" in out.output  # its row, then the error
    out = run(_group(), ["stage", str(wim), "1", str(media / "updates")])
    assert out.exit_code == 1
    with pytest.raises(NotAnUpdateError, match=r"README\.txt: not an update"):
        service_wim(wim, [media / "updates"], images=1)
    assert digest(wim) == before


def test_stage_refuses_image_types_that_cannot_take_packages(win_wim, tmp_path: Path) -> None:
    boot = win_wim(wf.WinSpec(kind="winpe"), wf.WinSpec(kind="setup"), name="boot.wim")
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    before = digest(boot)
    for image in (1, "Microsoft Windows Setup (x64)"):
        with pytest.raises(NeedsServicingStackError, match="servicing stack") as err:
            service_wim(boot, [msu], images=image)
        assert isinstance(err.value, ImageTypeError)
    assert digest(boot) == before
    report = service_wim(boot, [msu], images="all")  # recorded, the run goes on
    assert report.status == "incomplete" and not report.committed
    assert [i.status for i in report.images] == ["not-serviced", "not-serviced"]
    assert len([w for w in report.warnings if "not serviced" in w]) == 2
    out = CliRunner().invoke(_group(), ["stage", str(boot), "1", str(msu)])
    assert out.exit_code == 1 and "cannot service" in out.output
    out = CliRunner().invoke(_group(), ["stage", str(boot), "all", str(msu)])
    assert out.exit_code == 1 and "incomplete" in out.output
    out = CliRunner().invoke(_group(), ["stage", str(boot), "all", str(msu),
                                        "--allow-incomplete"])
    assert out.exit_code == 0
    plain = win_wim(wf.WinSpec(kind="plain"), name="data.wim")
    for images in (1, "all"):
        with pytest.raises(NotWindowsImageError):
            service_wim(plain, [msu], images=images)
    out = CliRunner().invoke(_group(), ["stage", str(plain), "all", str(msu)])
    assert out.exit_code == 1 and "is a Windows image" in out.output
    assert digest(boot) == before


def test_lcu_without_ssu_warning_in_the_stage_summary(win_wim, pkgs, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    report = service_wim(path, [pkgs["lcu"]])
    assert any("without a servicing stack update" in w for w in report.warnings)
    assert "warning: image 1 'Windows 10 Pro': cumulative update" in report.summary()


def test_tampered_msu_is_refused_and_nothing_staged(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    good = wf.package_members(wf.lcu())
    key = next(k for k in good if k.endswith("notepad.txt"))
    spec = wf.lcu()
    spec.payload = {key: b"changed after download\n"}
    msu = wf.msu_file(tmp_path / "t.msu", [wf.ssu(), spec])
    before = digest(path)
    with pytest.raises(PackageTamperedError) as err:
        service_wim(path, [msu])
    assert err.value.file == key and err.value.report.status == "failed"  # type: ignore[attr-defined]
    assert digest(path) == before
    out = CliRunner().invoke(_group(), ["stage", str(path), "1", str(msu)])
    assert out.exit_code == 1 and "notepad.txt" in out.output
    assert digest(path) == before


def test_expanded_msu_folder_plans_like_the_msu(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    expand(msu, tmp_path / "x")
    with wimcore.open(path) as wim:
        a = plan(wim.images[1], [msu])
        b = plan(wim.images[1], [tmp_path / "x"])
    assert [e.key for e in a.entries] == [e.key for e in b.entries]
