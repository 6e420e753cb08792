"""Stage and service_wim: checked with wimlib-imagex (independent reader), WIM hashes for safety."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import winfactory as wf
from lxml import etree
from winfactory import digest

import wimcore
from wimcore.servicing import (
    AnswerFileError,
    NeedsServicingStackError,
    NotWindowsImageError,
    PackageNotExpandedError,
    ServicingRunError,
    service_wim,
    stage,
)
from wimcore.servicing.planner import plan

NS = "{urn:schemas-microsoft-com:unattend}"


def imagex(*args: str | Path) -> str:
    exe = shutil.which("wimlib-imagex")
    if exe is None:
        pytest.skip("wimlib-imagex is not installed")
    return subprocess.run([exe, *map(str, args)], check=True, capture_output=True,
                          text=True).stdout


def extract(wim: Path, dest: Path, *paths: str) -> Path:
    imagex("extract", wim, "1", *paths, f"--dest-dir={dest}", "--no-acls",
           "--preserve-dir-structure")
    return dest


def check_answer_file(data: bytes, keys: list[str]) -> etree._Element:
    """The answer-file shape: namespace, top-level servicing, install packages in order."""
    root = etree.fromstring(data)
    assert root.tag == f"{NS}unattend"
    servicing = root.find(f"{NS}servicing")
    assert servicing is not None and root.index(servicing) == 0
    seen = []
    for pkg in servicing.findall(f"{NS}package"):
        assert pkg.get("action") == "install"
        ident = pkg.find(f"{NS}assemblyIdentity")
        src = pkg.find(f"{NS}source")
        assert ident is not None and src is not None
        assert set(ident.attrib) == {"name", "version", "processorArchitecture", "language",
                                     "publicKeyToken"}
        assert src.get("location", "").startswith("%WINDIR%\\wimcore\\Packages\\")
        seen.append("~".join((ident.get("name", ""), ident.get("publicKeyToken", ""),
                              ident.get("processorArchitecture", ""), "",
                              ident.get("version", ""))))
    assert seen == keys
    return root


def test_stage_install_image(win_wim, pkgs, tmp_path: Path) -> None:
    keep = b'<?xml version="1.0"?>\n<unattend xmlns="urn:schemas-microsoft-com:unattend">' \
           b'<settings pass="oobeSystem"><component name="x"/></settings></unattend>'
    path = win_wim(wf.WinSpec(unattend=keep, setupcomplete=b"@echo off\r\necho mine\r\n"))
    with wimcore.open(path, writable=True) as wim:
        p = plan(wim.images[1], [pkgs["lcu"], pkgs["ssu"]])
        result = stage(wim, 1, p, first_boot=True)
        wim.commit()
    assert result.state == "staged" and result.answer_file_merged
    assert [s.kind for s in result.staged] == ["servicing-stack", "cumulative-update"]
    assert "installed" not in json.dumps(result.to_dict()).replace("not installed", "")
    listing = imagex("dir", path, "1", "--path=/Windows/wimcore/Packages").splitlines()
    folders = sorted(line for line in listing if line.count("/") == 4)
    assert [Path(f).name[:3] for f in folders] == ["01-", "02-"]
    assert any(line.endswith("update.mum") for line in listing)
    out = extract(path, tmp_path / "x", "/Windows/Panther/unattend.xml",
                  "/Windows/Setup/Scripts/SetupComplete.cmd")
    root = check_answer_file((out / "Windows/Panther/unattend.xml").read_bytes(),
                             [s.key for s in result.staged])
    assert root.find(f"{NS}settings") is not None  # merged, not overwritten
    script = (out / "Windows/Setup/Scripts/SetupComplete.cmd").read_bytes().decode()
    assert script.startswith("@echo off\r\necho mine\r\n")
    assert script.count("DISM /Online /Add-Package") == 2
    assert script.index("01-Package_for_ServicingStack") < script.index("02-Package_for_Rollup")
    assert "%WINDIR%\\Logs\\wimcore" in script and ".done" in script


def test_stage_refuses_winre_and_non_windows(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec(kind="winre"), wf.WinSpec(kind="plain"))
    before = digest(path)
    with wimcore.open(path, writable=True) as wim:
        with pytest.raises(NeedsServicingStackError, match="servicing stack"):
            stage(wim, 1, plan(wim.images[1], [pkgs["ssu"]]))
        with pytest.raises(NotWindowsImageError):
            stage(wim, 2, plan(wim.images[2], [pkgs["ssu"]]))
    assert digest(path) == before


def test_invalid_existing_unattend_changes_nothing(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec(unattend=b"<unattend><broken></unattend>"))
    before = digest(path)
    with wimcore.open(path, writable=True) as wim:
        p = plan(wim.images[1], [pkgs["ssu"]])
        with pytest.raises(AnswerFileError, match="not changed"):
            stage(wim, 1, p)
        assert not wim.images[1].exists("/Windows/wimcore")
    assert digest(path) == before
    with pytest.raises(ServicingRunError) as info:
        service_wim(path, [pkgs["ssu"]])
    assert info.value.report.status == "failed" and not info.value.report.committed
    assert digest(path) == before


def test_unexpanded_package_is_refused(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    cab = wf.package_cab_file(tmp_path / "ssu.cab", wf.ssu())
    with wimcore.open(path, writable=True) as wim:
        p = plan(wim.images[1], [cab])
        with pytest.raises(PackageNotExpandedError, match="expand"):
            stage(wim, 1, p)


def test_service_wim_records_and_remembers(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec(), wf.WinSpec(kind="winre"))
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    report = service_wim(path, [msu], report_path=tmp_path / "r" / "run.json",
                         log_path=tmp_path / "r" / "run.log")
    # WinRE had packages to apply and the staged backend cannot: the run is incomplete
    assert report.status == "incomplete" and report.committed
    assert report.size_after and report.size_before and report.size_after > report.size_before
    img1, img2 = report.images
    assert img1.status == "staged" and len(img1.staged) == 2 and img1.reached_plan
    assert img2.status == "not-serviced" and not img2.reached_plan
    assert {s["state"] for s in img2.skipped} == {"needs-servicing-stack"}
    assert any("not serviced" in w and "Recovery" in w for w in report.warnings)
    assert {s.name for s in img1.steps} == {"inventory", "plan", "stage", "postcheck"}
    doc = json.loads((tmp_path / "r" / "run.json").read_text())
    assert doc["images"][0]["inventory_before"]["build"] == 19045
    assert doc["images"][0]["plan"]["entries"][0]["state"] == "applicable"
    assert (tmp_path / "r" / "run.txt").read_text().startswith("Servicing run")
    assert "staged (not installed)" in (tmp_path / "r" / "run.log").read_text()
    history = json.loads(Path(str(path) + ".wimcore-history.json").read_text())
    assert len(history["runs"][0]["images"][0]["staged"]) == 2
    assert history["runs"][0]["backend"] == "staged"
    before = digest(path)
    again = service_wim(path, [msu])  # install image done; WinRE still not serviced
    assert again.status == "incomplete" and not again.committed
    assert again.images[0].status == "nothing-to-do"
    assert {s["state"] for s in again.images[0].skipped} == {"staged"}
    assert digest(path) == before


def test_continue_on_error(win_wim, pkgs, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    bad = tmp_path / "bad.msu"
    bad.write_bytes(b"MSCF" + b"\0" * 60)
    before = digest(path)
    with pytest.raises(ServicingRunError):
        service_wim(path, [bad, pkgs["ssu"]])
    assert digest(path) == before
    report = service_wim(path, [bad, pkgs["ssu"]], continue_on_error=True)
    assert report.status == "partial" and report.committed
    assert report.packages[0].status == "failed" and report.images[0].status == "staged"


@pytest.mark.parametrize("stop_at", ["image 1: staging", "committing", "wimlib"])
def test_cancel_leaves_wim_identical(win_wim, pkgs, stop_at: str) -> None:
    path = win_wim(wf.WinSpec())
    before = digest(path)

    def cancel(event: wimcore.ProgressEvent) -> bool:
        if stop_at == "wimlib":
            return event.kind.name != "WRITE_STREAMS"
        return not (event.message or "").startswith(stop_at)

    with pytest.raises(wimcore.Cancelled) as info:
        service_wim(path, [pkgs["ssu"], pkgs["lcu"]], progress=cancel)
    assert info.value.report.status == "cancelled"
    assert digest(path) == before
    assert not Path(str(path) + ".wimcore-history.json").exists()
