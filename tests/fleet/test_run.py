"""Fleet runs on real Dask (an embedded LocalCluster, and the shared subprocess cluster).

Every image ends byte-identical or fully serviced; the catalog says which.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import wimcore
from tests.fleet.conftest import LCU, SSU, DaskCluster, FleetEnv, digest, staged_keys
from wimcore.fleet.errors import RemoveSupersededRefusedError
from wimcore.fleet.library import add_images
from wimcore.fleet.planning import plan_images
from wimcore.fleet.runner import RunOptions, run_fleet
from wimcore.fleet.task import ImageTask, service_image
from wimcore.servicing import service_wim


def _rows(fleet: FleetEnv, run_id: str) -> dict[int, dict[str, Any]]:
    with fleet.open() as cat:
        run = cat.run(run_id)
        return {i["image_id"]: {"status": i["status"], "wim_changed": i["wim_changed"],
                                "packages": cat.run_packages(run_id, i["image_id"])}
                for i in run["images"]}


def test_local_cluster_equals_one_by_one_in_process(fleet: FleetEnv, tmp_path: Path) -> None:
    """Two worker processes service four images; the same as service_wim one by one."""
    with fleet.open() as cat:
        images = cat.images()
        plans = {p.image["id"]: p for p in plan_images(cat, images)}
    reference: dict[int, dict[str, Any]] = {}
    for img in images:  # the reference: copies serviced in this process, one by one
        copy = tmp_path / "ref" / f"{img['id']}.wim"
        copy.parent.mkdir(exist_ok=True)
        shutil.copyfile(img["wim_path"], copy)
        rep = service_wim(copy, plans[img["id"]].files, images=[1])
        outcome = rep.images[0].outcome or {}
        reference[img["id"]] = {
            "status": rep.images[0].status, "wim_changed": int(rep.committed),
            "packages": [{k: p[k] for k in ("key", "kb", "kind", "state", "reason", "verdict")}
                         for p in outcome["packages"]], "staged": staged_keys(copy)}
    events: list[str] = []
    with fleet.open() as cat:
        result = run_fleet(cat, RunOptions(workers=2),
                           listener=lambda kind, _data: events.append(kind))
    assert result.status == "successful" and len(result.workers) == 2
    assert events[:2] == ["planned", "started"] and events.count("result") == 4
    assert result.run_id is not None
    rows = _rows(fleet, result.run_id)
    for img in images:
        ref = reference[img["id"]]
        assert ref["status"] == "staged"
        assert rows[img["id"]] == {k: ref[k] for k in ("status", "wim_changed", "packages")}
        assert staged_keys(Path(img["wim_path"])) == ref["staged"] == {SSU, LCU}
        wimcore.verify(img["wim_path"])
    assert {r["worker"] for r in result.images} == set(result.workers)  # both worked
    with fleet.open() as cat:
        assert cat.run(result.run_id)["status"] == "successful"
        assert all(s["serviced"] == [LCU, SSU] for s in cat.status())

    # A second run finds nothing new: no run, no cluster, no byte changed.
    before = {p: digest(p) for p in fleet.wims()}
    with fleet.open() as cat:
        again = run_fleet(cat, RunOptions(workers=2))
        assert again.status == "nothing-to-do" and again.run_id is None
        assert "nothing to do" in again.note
        assert len(cat.runs()) == 1
    assert {p: digest(p) for p in fleet.wims()} == before


def test_continue_on_error_with_one_broken_package(fleet: FleetEnv,
                                                   shared_cluster: DaskCluster) -> None:
    with fleet.open() as cat:
        lcu_file = next(Path(u["stored_path"]) for u in cat.updates() if u["kb"] == "KB5044284")
    # The library copy of the combined MSU (SSU and LCU) got damaged: no other update
    # applies, and the run must say it failed, never "nothing to do".
    lcu_file.write_bytes(lcu_file.read_bytes()[:3000])
    before = {p: digest(p) for p in fleet.wims()}
    with fleet.open() as cat:  # without --continue-on-error: every image fails, unchanged
        stop = run_fleet(cat, RunOptions(scheduler=shared_cluster.address,
                                         images=["1", "2"]))
    assert stop.status == "failed"
    assert {r["status"] for r in stop.images} == {"failed"}
    assert all(not r["wim_changed"] and "KB5044284" in r["error"] for r in stop.images)
    assert {p: digest(p) for p in fleet.wims()} == before
    with fleet.open() as cat:
        go_on = run_fleet(cat, RunOptions(scheduler=shared_cluster.address,
                                          continue_on_error=True, images=["1", "2"]))
        assert go_on.status == "failed" and go_on.run_id is not None
        for r in go_on.images:
            assert not r["wim_changed"] and r["packages"] == []
            assert "KB5044284" in r["error"]
            assert cat.run_packages(go_on.run_id, r["image_id"]) == []
    assert {p: digest(p) for p in fleet.wims()} == before


def test_remove_superseded_is_refused_on_a_multi_index_wim(tmp_path: Path, sample4: Path,
                                                           fleet: FleetEnv) -> None:
    multi = tmp_path / "multi.wim"
    shutil.copyfile(sample4 / "sources" / "install.wim", multi)
    before = digest(multi)
    with fleet.open() as cat:
        add_images(cat, multi)  # in place: four images in one file
        with pytest.raises(RemoveSupersededRefusedError, match="single-index"):
            run_fleet(cat, RunOptions(remove_superseded=True, images=["5", "6"]))
        assert cat.runs() == []
    assert digest(multi) == before


def test_remove_superseded_exports_single_index_images(fleet: FleetEnv,
                                                       shared_cluster: DaskCluster) -> None:
    with fleet.open() as cat:
        result = run_fleet(cat, RunOptions(scheduler=shared_cluster.address, images=["1"],
                                           remove_superseded=True))
    assert result.status == "successful"
    record = result.images[0]
    assert record["status"] == "staged" and "exported to shrink" in record["note"]
    assert "vm backend" in record["note"]  # staged cannot remove superseded components
    path = fleet.wims()[0]
    wimcore.verify(path)
    assert staged_keys(path) == {SSU, LCU}


def _task(fleet: FleetEnv, image: int, outputs: Path) -> ImageTask:
    with fleet.open() as cat:
        p = plan_images(cat, cat.select_images([str(image)]))[0]
    return ImageTask(run_id="t", image_id=image, wim_path=p.image["wim_path"], wim_index=1,
                     packages=tuple(p.files), outputs=str(outputs))


def test_task_cancelled_at_a_progress_point_leaves_the_wim_unchanged(
        fleet: FleetEnv, tmp_path: Path) -> None:
    task = _task(fleet, 1, tmp_path / "out")
    before = digest(Path(task.wim_path))

    class CancelAt:
        """Says "cancelled" from the Nth check on; counts the checks."""

        def __init__(self, n: int | None) -> None:
            self.n, self.calls = n, 0

        def __call__(self) -> bool:
            self.calls += 1
            return self.n is not None and self.calls > self.n

    full = CancelAt(None)
    probe = ImageTask(**{**task.__dict__, "outputs": str(tmp_path / "probe"),
                         "wim_path": str(tmp_path / "probe.wim")})
    shutil.copyfile(task.wim_path, probe.wim_path)
    assert service_image(probe, cancelled=full)["status"] == "staged"
    assert full.calls > 6  # a run passes many progress points
    for n in (0, 2, full.calls // 2, full.calls - 3):  # before it starts ... near the commit
        record = service_image(task, cancelled=CancelAt(n))
        assert record["status"] == "cancelled" and not record["wim_changed"], n
        assert digest(Path(task.wim_path)) == before
        (tmp_path / "out" / "1.json").unlink()
    record = service_image(task, cancelled=lambda: False)
    assert record["status"] == "staged" and record["wim_changed"]
    # a retry of the same task returns its record instead of servicing again
    after = digest(Path(task.wim_path))
    again = service_image(task, cancelled=lambda: False)
    assert again["status"] == "staged" and "earlier attempt" in again["note"]
    assert digest(Path(task.wim_path)) == after


def test_event_set_before_the_task_starts(fleet: FleetEnv, shared_cluster: DaskCluster,
                                          tmp_path: Path) -> None:
    from distributed import Client, Event

    task = _task(fleet, 2, tmp_path / "out")
    before = digest(Path(task.wim_path))
    with Client(shared_cluster.address) as client:
        event = Event("wimcore-test-cancel", client=client)
        event.set()
        task = ImageTask(**{**task.__dict__, "cancel": event.name})
        record = client.submit(service_image, task, pure=False).result()
    assert record["status"] == "cancelled" and "not touched" in record["note"]
    assert digest(Path(task.wim_path)) == before
