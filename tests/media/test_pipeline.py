"""The whole routine on the sample media, its steps, idempotency, cancel and space errors."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import wimcore
from wimcore.errors import Cancelled
from wimcore.media.errors import MediaStepError, NotEnoughSpaceError
from wimcore.media.pipeline import ServiceOptions, service
from wimcore.media.sample import SETUP_NAME, WINPE_NAME, WINRE_NAME
from wimcore.media.wimspace import reclaimable_bytes
from wimcore.progress import ProgressEvent, ProgressKind
from wimcore.servicing.image_inventory import inventory

from .conftest import tree_hashes

WINRE = "/Windows/System32/Recovery/Winre.wim"


def test_end_to_end_report(serviced_master: Path) -> None:
    doc = json.loads((serviced_master.parent / "report.json").read_text())
    assert doc["status"] == "ok" and doc["changed"]
    steps = {s["name"]: s for s in doc["steps"]}
    assert [s["name"] for s in doc["steps"]][:3] == ["expand-updates", "open", "winre-extract"]
    assert steps["winre-put-back"]["detail"] == "replaced in 2 index(es)"
    assert steps["setup-service"]["status"] == "skipped"
    by = {(i["wim"].split("[")[0], i["index"]): i for i in doc["images"]}
    for idx in (1, 2):
        staged = by[("install.wim", idx)]["staged"]
        assert [s["kb"] for s in staged] == ["KB5047621", "KB5044284"]  # SSU before LCU
        assert by[("install.wim", idx)]["inventory_before"]["ubr"] == 1742
    for key in (("Winre.wim", 1), ("boot.wim", 1), ("boot.wim", 2)):
        states = {e["state"] for e in by[key]["skipped"]}
        assert "needs-servicing-stack" in states and by[key]["status"] == "skipped"
    assert doc["sizes_after"]["install.wim"] < doc["sizes_before"]["install.wim"]
    assert doc["sizes_after"]["boot.wim"] < doc["sizes_before"]["boot.wim"]
    assert (serviced_master.parent / "report.txt").read_text().startswith("Media ")
    assert Path(doc["log"]).read_text().count("step ") >= 14


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
    assert (serviced_master / "sources/install.wim.wimcore-history.json").is_file()


def test_second_run_changes_nothing(serviced_master: Path, tmp_path: Path) -> None:
    media = tmp_path / "again"
    shutil.copytree(serviced_master, media, copy_function=shutil.copy2)
    before = tree_hashes(media)
    report = service(media, media / "updates", ServiceOptions(work_dir=tmp_path / "w"))
    assert report.status == "nothing-to-do" and not report.changed
    assert tree_hashes(media) == before
    assert all(s.status in ("nothing-to-do", "skipped", "done") for s in report.steps)
    assert {s.name for s in report.steps if s.status == "done"} <= {
        "expand-updates", "open", "winre-extract", "winre-service"}
    installs = [i for i in report.images if i.wim == "install.wim"]
    assert all(i.report.status == "nothing-to-do" for i in installs)
    assert all(e["state"] in ("staged", "not-applicable") for i in installs
               for e in i.report.skipped)


def test_select_one_image_by_name(media: Path, tmp_path: Path) -> None:
    report = service(media, media / "updates", ServiceOptions(
        images=["Windows 11 Enterprise"], work_dir=tmp_path / "w"))
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
        service(media, media / "updates", ServiceOptions(work_dir=tmp_path / "w",
                                                         progress=cancel_at_export))
    assert tree_hashes(media) == before
    doc = json.loads((tmp_path / "w/report.json").read_text())
    assert doc["status"] == "cancelled" and doc["replaced"] == []
    assert not [p for p in (tmp_path / "w").iterdir() if p.name.startswith("run-")]


def test_not_enough_space(media: Path, tmp_path: Path) -> None:
    before = tree_hashes(media)
    with pytest.raises(NotEnoughSpaceError) as err:
        service(media, media / "updates", ServiceOptions(work_dir=tmp_path / "w",
                                                         space_margin=1 << 60))
    assert err.value.needed > err.value.available
    assert tree_hashes(media) == before


def test_failing_step_and_continue_on_error(media: Path, tmp_path: Path) -> None:
    bad = tmp_path / "updates"
    bad.mkdir()
    for p in (media / "updates").iterdir():
        shutil.copy2(p, bad / p.name)
    (bad / "broken.cab").write_bytes(b"MSCF" + b"\x00" * 60)
    before = tree_hashes(media)
    with pytest.raises(MediaStepError) as err:
        service(media, bad, ServiceOptions(work_dir=tmp_path / "w1"))
    assert err.value.step == "expand-updates"
    assert tree_hashes(media) == before
    report = service(media, [p for p in bad.iterdir() if p.name != "broken.cab"][:1],
                     ServiceOptions(work_dir=tmp_path / "w2", continue_on_error=True))
    assert report.status in ("ok", "partial")


def test_benchmark_runs_on_tiny_input(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("wimlib-imagex") is None:
        pytest.skip("wimlib-imagex not installed")
    from benchmarks.media_bench import main

    assert main(["--size-mb", "64"]) == 0
    assert "ratio" in capsys.readouterr().out
