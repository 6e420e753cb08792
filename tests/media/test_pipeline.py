"""The whole routine on the sample media: honest per-image results, byte-stable reruns, cancel,
space errors, refused inputs."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

import wimcore
from tests.conftest import tree_hashes
from wimcore.errors import Cancelled
from wimcore.media.errors import MediaStepError, NotEnoughSpaceError
from wimcore.media.pipeline import ServiceOptions, service
from wimcore.media.sample import SETUP_NAME, WINPE_NAME, WINRE_NAME
from wimcore.media.wimspace import reclaimable_bytes
from wimcore.progress import ProgressEvent, ProgressKind
from wimcore.servicing.image_inventory import inventory

WINRE = "/Windows/System32/Recovery/Winre.wim"


def _opts(**kw: object) -> ServiceOptions:
    return ServiceOptions(backend="staged", **kw)  # type: ignore[arg-type]


def test_end_to_end_report(serviced_master: Path) -> None:
    root = serviced_master.parent
    doc = json.loads((root / "report.json").read_text())
    # staged backend: install images staged; WinRE, Setup and WinPE not serviced
    assert doc["status"] == "incomplete" and doc["changed"] and doc["backend"] == "staged"
    results = {r["image"].split(" ")[0]: r for r in doc["results"]}
    assert [r["image"].split(" ")[0].split("[")[0] for r in doc["results"]] == [
        "Winre.wim", "install.wim:1", "install.wim:2", "boot.wim:2", "boot.wim:1"]
    assert results["install.wim:1"]["result"] == "staged"
    assert results["install.wim:1"]["reached_plan"]
    for label in ("boot.wim:1", "boot.wim:2"):
        assert results[label]["result"] == "not-serviced" and not results[label]["reached_plan"]
        assert "servicing stack" in results[label]["why"]
    winre = next(r for r in doc["results"] if r["image"].startswith("Winre.wim"))
    assert winre["result"] == "not-serviced"
    # every unserviced image is a warning
    for name in (WINRE_NAME, SETUP_NAME, WINPE_NAME):
        assert any(name in w and "not serviced" in w for w in doc["warnings"]), name
    steps = {s["name"]: s for s in doc["steps"]}
    assert [s["name"] for s in doc["steps"]][:4] == ["inputs", "open", "winre-extract", "plan"]
    assert steps["winre-put-back"]["detail"] == "replaced in 2 index(es)"
    assert steps["service-images"]["detail"] == "backend staged: 3 not-serviced, 2 staged"
    by = {(i["wim"].split("[")[0], i["index"]): i for i in doc["images"]}
    for idx in (1, 2):
        staged = by[("install.wim", idx)]["staged"]
        assert [s["kb"] for s in staged] == ["KB5047621", "KB5044284"]  # SSU before LCU
        assert by[("install.wim", idx)]["inventory_before"]["ubr"] == 1742
    # seed order: WinRE gets SSU + SafeOS DU; Setup and WinPE get SSU + LCU
    assert [e["kb"] for e in by[("Winre.wim", 1)]["plan"]["entries"] if e["order"]] == [
        "KB5047621", "KB5044615"]
    for key in (("boot.wim", 1), ("boot.wim", 2)):
        assert [e["kb"] for e in by[key]["plan"]["entries"] if e["order"]] == [
            "KB5047621", "KB5044284"]
    assert doc["sizes_after"]["install.wim"] < doc["sizes_before"]["install.wim"]
    assert doc["sizes_after"]["boot.wim"] < doc["sizes_before"]["boot.wim"]
    assert 0 < doc["sizes_after"]["Winre.wim"] < doc["sizes_before"]["Winre.wim"]
    inputs = {Path(i["path"]).name: i for i in doc["inputs"]}
    assert {i["class"] for i in inputs.values()} == {"servicing-package",
                                                      "setup-dynamic-update"}
    assert inputs["Windows11.0-KB5044618-x64.cab"]["action"] == "copy-to-sources"
    assert "not verified" in doc["signatures"]
    text = (root / "report.txt").read_text()
    assert text.splitlines()[1].split() == ["IMAGE", "TYPE", "RESULT", "PACKAGES", "WHY"]
    assert "staged = placed in the image for Windows Setup" in text
    # the log sits beside the media, visible; no work folder is left behind
    assert doc["log"] == str(root / "media.wimcore.log")
    assert Path(doc["log"]).read_text().count("step ") >= 14
    assert not (root / "media.wimcore-work").exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]


def test_winre_exported_copy_in_every_index(serviced_master: Path, sample_master: Path,
                                            tmp_path: Path) -> None:
    with wimcore.open(serviced_master / "sources/install.wim") as wim:
        shas = {img.stat(WINRE).sha1 for img in wim.images}
        data = wim.images[1].read_bytes(WINRE)
    assert len(shas) == 1
    assert hashlib.sha1(data).hexdigest() == shas.pop()
    (tmp_path / "re.wim").write_bytes(data)
    assert reclaimable_bytes(tmp_path / "re.wim") == 0
    with wimcore.open(tmp_path / "re.wim") as re:
        assert re.images.names() == [WINRE_NAME] and re.boot_index == 1
    with wimcore.open(sample_master / "sources/install.wim") as old:
        assert old.images[1].stat(WINRE).size > len(data)


def test_boot_wim_rebuilt_in_order(serviced_master: Path) -> None:
    with wimcore.open(serviced_master / "sources/boot.wim") as wim:
        assert wim.images.names() == [WINPE_NAME, SETUP_NAME]
        assert wim.boot_index == 2
        assert reclaimable_bytes(serviced_master / "sources/boot.wim") == 0


def test_install_images_staged(serviced_master: Path) -> None:
    with wimcore.open(serviced_master / "sources/install.wim") as wim:
        for image in wim.images:
            inv = inventory(image)
            assert {s.key.split("~")[0] for s in inv.staged} == {
                "Package_for_ServicingStack_2032", "Package_for_RollupFix"}
    sidecar = serviced_master.parent / f"{serviced_master.name}.install.wim.wimcore-history.json"
    history = json.loads(sidecar.read_text())
    assert not [n for n in os.listdir(serviced_master / "sources") if ".wimcore" in n]
    run = history["runs"][0]
    assert run["backend"] == "staged" and run["verification"] == "checked"
    assert [len(i["staged"]) for i in run["images"]] == [2, 2]


def test_updates_never_reach_sources_or_iso(serviced_master: Path) -> None:
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(str(serviced_master.parent / "out.iso"))
    try:
        names = [c.file_identifier().decode("utf-16-be")
                 for c in iso.list_children(joliet_path="/") if c is not None]
    finally:
        iso.close()
    assert "updates" not in names and "sources" in names
    assert not [p for p in (serviced_master / "sources").rglob("*")
                if p.suffix.lower() in (".msu", ".cab")]


def test_second_run_changes_no_byte(serviced_master: Path, tmp_path: Path) -> None:
    media = tmp_path / "again"
    shutil.copytree(serviced_master, media, copy_function=shutil.copy2)
    shutil.copy2(serviced_master.parent / "out.iso", tmp_path / "again.iso")
    before = tree_hashes(media)
    iso_before = (hashlib.sha256((tmp_path / "again.iso").read_bytes()).hexdigest(),
                  (tmp_path / "again.iso").stat().st_mtime_ns)
    report = service(media, media / "updates", _opts(iso=tmp_path / "again.iso"))
    assert report.status == "incomplete" and not report.changed  # boot images still unserviced
    assert tree_hashes(media) == before
    assert (hashlib.sha256((tmp_path / "again.iso").read_bytes()).hexdigest(),
            (tmp_path / "again.iso").stat().st_mtime_ns) == iso_before
    assert report.iso is not None and report.iso["rewritten"] is False
    assert {s.name for s in report.steps if s.status == "done"} <= {
        "inputs", "open", "winre-extract", "plan", "service-images"}
    installs = [i for i in report.images if i.wim == "install.wim"]
    assert all(i.report.status == "nothing-to-do" for i in installs)
    # sizes: nothing changed, so after == before (no "383,016 -> 0")
    assert report.sizes_before == report.sizes_after and all(report.sizes_after.values())
    assert "(unchanged)" in report.summary()


def test_select_one_image_by_name(media: Path) -> None:
    report = service(media, media / "updates", _opts(images=["Windows 11 Enterprise"]))
    installs = [i.report for i in report.images if i.wim == "install.wim"]
    assert [(r.index, r.status) for r in installs] == [(2, "staged")]
    with wimcore.open(media / "sources/install.wim") as wim:  # WinRE still goes to both
        assert len({img.stat(WINRE).sha1 for img in wim.images}) == 1
        assert not inventory(wim.images[1]).staged


def test_cancel_leaves_media_identical(media: Path, tmp_path: Path) -> None:
    before = tree_hashes(media)
    seen: list[str] = []

    def cancel_at_export(event: ProgressEvent) -> bool:
        if event.kind is ProgressKind.STEP:
            seen.append(event.message or "")
        return not (event.kind is ProgressKind.WRITE_STREAMS and
                    any("install-export" in s for s in seen))

    with pytest.raises(Cancelled):
        service(media, media / "updates", _opts(work_dir=tmp_path / "w",
                                                progress=cancel_at_export))
    assert tree_hashes(media) == before
    doc = json.loads((media.parent / "media.wimcore-report.json").read_text())
    assert doc["status"] == "cancelled" and doc["replaced"] == []
    assert not (tmp_path / "w").exists()  # the work folder it made is gone


def test_not_enough_space(media: Path, tmp_path: Path) -> None:
    before = tree_hashes(media)
    with pytest.raises(NotEnoughSpaceError) as err:
        service(media, media / "updates", _opts(work_dir=tmp_path / "w",
                                                space_margin=1 << 60))
    assert err.value.needed > err.value.available
    assert tree_hashes(media) == before and not (tmp_path / "w").exists()


def test_failing_step_and_continue_on_error(media: Path, tmp_path: Path) -> None:
    bad = tmp_path / "updates"
    bad.mkdir()
    for p in (media / "updates").iterdir():
        shutil.copy2(p, bad / p.name)
    (bad / "broken.cab").write_bytes(b"MSCF" + b"\x00" * 60)
    before = tree_hashes(media)
    with pytest.raises(MediaStepError) as err:
        service(media, bad, _opts())
    assert err.value.step == "inputs"
    assert tree_hashes(media) == before
    report = service(media, bad, _opts(continue_on_error=True))
    assert report.status == "partial" and any("broken.cab" in e for e in report.errors)


def test_benchmark_runs_on_tiny_input(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("wimlib-imagex") is None:
        pytest.skip("wimlib-imagex not installed")
    from benchmarks.media_bench import main

    assert main(["--size-mb", "64"]) == 0
    assert "ratio" in capsys.readouterr().out
