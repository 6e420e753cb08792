"""Honest states in the fleet: an image the backend cannot service is ``not-serviced``
(unchanged, each planned package ``not-serviced`` with the reason) and its run is
``incomplete``, never ``successful`` (real libwimlib, real Dask, real SQLite)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.fleet.conftest import LCU, SSU, DaskCluster, FleetEnv, digest
from wimcore.fleet.library import add_images
from wimcore.fleet.planning import plan_images
from wimcore.fleet.runner import run_state
from wimcore.fleet.task import ImageTask, service_image


def add_winpe(fleet: FleetEnv, sample4: Path) -> int:
    """Register the sample's WinPE (boot.wim index 1): the LCU and SSU apply to it, and the
    staged backend cannot install into it."""
    with fleet.open() as cat:
        (image_id,) = add_images(cat, sample4 / "sources" / "boot.wim", index=1)
        assert cat.image(image_id)["image_type"] == "winpe"
    return image_id


def test_image_the_backend_refuses_is_not_serviced(fleet: FleetEnv, sample4: Path,
                                                   tmp_path: Path) -> None:
    winpe = add_winpe(fleet, sample4)
    with fleet.open() as cat:
        (p,) = plan_images(cat, cat.select_images([str(winpe)]))
    assert [e["key"] for e in p.apply] == [SSU, LCU]
    before = digest(p.image["wim_path"])
    task = ImageTask(run_id="t", image_id=winpe, wim_path=p.image["wim_path"], wim_index=1,
                     packages=tuple(p.files), outputs=str(tmp_path / "out"))
    record = service_image(task, cancelled=lambda: False)
    assert record["status"] == "not-serviced" and not record["wim_changed"]
    assert record["error"] is None and "cannot service it" in record["note"]
    assert [(r["key"], r["state"]) for r in record["packages"]] == [
        (SSU, "not-serviced"), (LCU, "not-serviced")]
    assert all(r["reason"] == record["note"] for r in record["packages"])
    assert digest(p.image["wim_path"]) == before


def test_run_with_an_unserviced_image_is_incomplete(fleet: FleetEnv, sample4: Path,
                                                    shared_cluster: DaskCluster) -> None:
    winpe = add_winpe(fleet, sample4)
    winpe_wim = fleet.wims()[-1]
    before = digest(winpe_wim)
    out = fleet.cli("run", "--scheduler", shared_cluster.address, "--image", "1",
                    "--image", str(winpe), "--json")
    assert out.returncode == 10, out.stderr  # incomplete (image 1 changed) fails the command...
    doc = json.loads(out.stdout)
    assert doc["status"] == "incomplete"
    assert "1 failed" not in doc["note"] and "1 not serviced" in doc["note"]
    by_image = {r["image_id"]: r for r in doc["images"]}
    assert by_image[1]["status"] == "staged" and by_image[winpe]["status"] == "not-serviced"
    assert digest(winpe_wim) == before
    run_id = doc["run_id"]
    # the catalog, read with sqlite3 itself
    rows = subprocess.run(
        ["sqlite3", str(fleet.catalog_path),
         f"SELECT status FROM runs WHERE id='{run_id}'; "
         f"SELECT image_id, status, wim_changed FROM run_images WHERE run_id='{run_id}' "
         "ORDER BY image_id; "
         f"SELECT key, state FROM run_packages WHERE run_id='{run_id}' AND image_id={winpe} "
         "ORDER BY seq;"], capture_output=True, text=True, check=True).stdout.split()
    assert rows == ["incomplete", "1|staged|1", f"{winpe}|not-serviced|0",
                    f"{SSU}|not-serviced", f"{LCU}|not-serviced"]
    with fleet.open() as cat:
        status = {s["id"]: s for s in cat.status()}
        assert status[winpe]["serviced"] == [] and status[1]["serviced"] == [LCU, SSU]
        assert status[winpe]["last_run"]["status"] == "not-serviced"
        assert status[winpe]["last_run"]["run_status"] == "incomplete"
    history = fleet.cli("history", str(winpe))
    assert "(staged, incomplete): not-serviced: " in history.stdout
    assert "cannot service it" in history.stdout
    assert f"not-serviced KB5044284  {LCU}" in history.stdout
    # ... unless --allow-incomplete; a new run tries the image again and says the same
    again = fleet.cli("run", "--scheduler", shared_cluster.address, "--image", str(winpe),
                      "--allow-incomplete", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["status"] == "incomplete"
    assert digest(winpe_wim) == before


def test_run_state_is_never_successful_with_an_unserviced_or_failed_image() -> None:
    def rec(status: str, changed: bool = False) -> dict[str, object]:
        return {"status": status, "wim_changed": changed}

    assert run_state([rec("staged", True), rec("nothing-to-do")], False)[0] == "successful"
    assert run_state([rec("staged", True), rec("not-serviced")], False) == (
        "incomplete", "2 image(s): 1 changed, 0 failed, 1 not serviced")
    assert run_state([rec("incomplete")], False)[0] == "incomplete"
    for bad in ("failed", "partial", "unknown"):
        assert run_state([rec("not-serviced"), rec(bad)], False)[0] == "failed", bad
    assert run_state([rec("staged")], True)[0] == "cancelled"
    # cancelled and never-started images are counted as what they are, never as failed
    # or changed (issue 20: "3 changed, 3 failed" for images cancelled byte-identical)
    stopped = [rec("staged", True), rec("cancelled"), rec("cancelled"), rec("never-started")]
    assert run_state(stopped, True) == (
        "cancelled", "4 image(s): 1 changed, 0 failed, 2 cancelled (unchanged), "
        "1 never started (unchanged), 0 not serviced")
    assert run_state(stopped, False)[0] == "incomplete"
    assert "WITHOUT verification" in run_state([rec("staged")], False, True)[1]
