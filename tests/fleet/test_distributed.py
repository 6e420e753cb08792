"""``wimcore fleet run --scheduler``: real ``dask scheduler`` / ``dask worker`` processes.

Workers are killed (SIGKILL) or frozen (SIGSTOP) mid-run, and so is the client; every
WIM ends byte-identical or fully serviced, and the catalog (checked with ``sqlite3``)
says which.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import wimcore
from tests.fleet.conftest import BIN, LCU, SSU, DaskCluster, FleetEnv, digest, staged_keys, wait_for

HOLD_PRELOAD = Path(__file__).with_name("hold_preload.py")


def sql(db: Path, query: str) -> list[list[str]]:
    """Rows of a query through the sqlite3 command-line shell (an independent reader)."""
    out = subprocess.run(["sqlite3", "-separator", "|", str(db), query], capture_output=True,
                         text=True, check=True)
    return [line.split("|") for line in out.stdout.splitlines()]


def run_cli(fleet: FleetEnv, *args: str) -> subprocess.Popen[str]:
    """``wimcore fleet run ...`` as a subprocess in its own session (killable as a group)."""
    return subprocess.Popen([str(BIN / "wimcore"), "fleet", "--catalog", str(fleet.catalog_path),
                             "run", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, cwd=fleet.root)


def assert_whole(fleet: FleetEnv, before: dict[Path, str]) -> dict[Path, str]:
    """Every WIM verifies and is either unchanged or carries both packages staged."""
    fates = {}
    for p in fleet.wims():
        wimcore.verify(p)
        if digest(p) == before[p]:
            fates[p] = "unchanged"
        else:
            assert staged_keys(p) == {SSU, LCU}
            fates[p] = "serviced"
        assert not [t for t in p.parent.iterdir() if t.name.startswith(f".{p.name}.")]
    return fates


def test_cli_run_on_a_dask_scheduler(fleet: FleetEnv, shared_cluster: DaskCluster) -> None:
    proc = fleet.cli("run", "--scheduler", shared_cluster.address, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "successful" and len(doc["workers"]) == 2
    assert sorted(r["status"] for r in doc["images"]) == ["staged"] * 4
    assert "image 1: staged" in proc.stderr or "image 2: staged" in proc.stderr
    for p in fleet.wims():
        assert staged_keys(p) == {SSU, LCU}
    rows = sql(fleet.catalog_path, "SELECT ri.status, count(rp.key) FROM run_images ri "
                                   "JOIN run_packages rp USING (run_id, image_id) "
                                   "GROUP BY ri.image_id ORDER BY ri.image_id")
    assert rows == [["staged", "2"]] * 4
    status = json.loads(fleet.cli("status", "--json").stdout)
    assert [i["last_run"]["status"] for i in status["images"]] == ["staged"] * 4
    assert [len(i["staged"]) for i in status["images"]] == [2] * 4
    assert [i["installed"] for i in status["images"]] == [[]] * 4
    text = fleet.cli("status").stdout
    assert text.count("updates: 2 staged  last run: staged") == 4, text
    assert "update(s) serviced" not in text and "installed" not in text
    history = json.loads(fleet.cli("history", "Windows 11 Education", "--json").stdout)
    assert history["image"]["name"] == "Windows 11 Education"
    assert [p["state"] for p in history["runs"][0]["packages"]] == ["staged", "staged"]
    assert all(p["verdict"] == "listed in the image's answer file"
               for p in history["runs"][0]["packages"])
    again = fleet.cli("run", "--scheduler", shared_cluster.address)
    assert again.returncode == 0 and "nothing to do" in again.stdout


def test_worker_killed_mid_run(fleet: FleetEnv, own_cluster: Any) -> None:
    """SIGKILL a worker while it holds a task: the task is retried on the other one.

    Worker w0 runs with a preload that freezes it at the first task it is about to
    execute (tests/fleet/hold_preload.py), so w0 cannot finish that task before the kill
    and the run cannot end without it: no race between the run and the kill.
    """
    from distributed import Client

    cluster: DaskCluster = own_cluster(2, preloads=[str(HOLD_PRELOAD), None])
    assert cluster.logs is not None
    marker = cluster.logs / "held-task"
    before = {p: digest(p) for p in fleet.wims()}
    victim = cluster.workers[0]
    with Client(cluster.address) as watcher:
        name_of = {addr: w["name"] for addr, w in
                   watcher.scheduler_info(n_workers=-1)["workers"].items()}
        victim_addr = next(a for a, n in name_of.items() if n == "w0")
    run = run_cli(fleet, "--scheduler", cluster.address, "--json")
    try:
        wait_for(lambda: marker.exists() or run.poll() is not None, 600,
                 "worker w0 to start a task (it holds the first one it gets)")
        if not marker.exists():
            out, err = run.communicate(timeout=60)
            raise AssertionError(f"the run ended (exit {run.returncode}) without giving w0 a "
                                 f"task: {err}")
        killed_key = marker.read_text()
        assert run.poll() is None, "the run ended although w0 holds one of its tasks"
        os.killpg(victim.pid, signal.SIGKILL)
        out, err = run.communicate(timeout=600)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, err
    doc = json.loads(out)
    assert doc["status"] == "successful"
    image_id = int(str(killed_key).rsplit("-", 1)[1])
    rec = next(r for r in doc["images"] if r["image_id"] == image_id)
    assert rec["status"] == "staged" and rec["worker"] != victim_addr  # retried elsewhere
    assert set(assert_whole(fleet, before).values()) == {"serviced"}
    rows = sql(fleet.catalog_path, "SELECT status FROM run_images ORDER BY image_id")
    assert rows == [["staged"]] * 4
    assert sql(fleet.catalog_path, "PRAGMA integrity_check") == [["ok"]]


def test_cancel_mid_run(fleet: FleetEnv, own_cluster: Any) -> None:
    """``fleet cancel`` while the only worker is frozen holding a task."""
    from distributed import Client, Event

    cluster: DaskCluster = own_cluster(1)
    before = {p: digest(p) for p in fleet.wims()}
    worker = cluster.workers[0]
    with Client(cluster.address) as watcher:
        run = run_cli(fleet, "--scheduler", cluster.address, "--json")
        try:
            wait_for(lambda: any(str(k).startswith("wimcore-") for ks in
                                 watcher.processing().values() for k in ks), 120,
                     "a task on the worker")
            os.killpg(worker.pid, signal.SIGSTOP)
            with sqlite3.connect(fleet.catalog_path) as db:
                run_id = db.execute("SELECT id FROM runs").fetchone()[0]
            cancel = fleet.cli("cancel", run_id)
            assert cancel.returncode == 0 and "cancel requested" in cancel.stdout
            event = Event(f"wimcore-cancel-{run_id}", client=watcher)
            wait_for(event.is_set, 60, "the client to pass the cancel on")
            os.killpg(worker.pid, signal.SIGCONT)
            out, err = run.communicate(timeout=180)
        finally:
            os.killpg(worker.pid, signal.SIGCONT)
            if run.poll() is None:
                os.killpg(run.pid, signal.SIGKILL)
    doc = json.loads(out)
    assert doc["status"] == "cancelled"
    fates = assert_whole(fleet, before)
    # cancelled: 10 (incomplete) when an image was serviced first, else 130 (nothing changed)
    assert run.returncode == (10 if "serviced" in fates.values() else 130), err
    by_path = {r["wim_path"]: r for r in doc["images"]}
    assert len(by_path) == 4
    for path, fate in fates.items():
        rec = by_path[str(path)]
        assert (rec["status"], bool(rec["wim_changed"])) == (
            ("staged", True) if fate == "serviced" else ("cancelled", False))
    assert "unchanged" in fates.values()  # at least the queued ones never started
    # counted as what they are: cancelled images are neither changed nor failed
    n_changed = list(fates.values()).count("serviced")
    n_cancelled = list(fates.values()).count("unchanged")
    assert doc["note"].startswith(f"4 image(s): {n_changed} changed, 0 failed, "
                                  f"{n_cancelled} cancelled (unchanged)"), doc["note"]
    text = fleet.cli("status").stdout
    assert text.count("last run: cancelled") == n_cancelled, text
    rows = sql(fleet.catalog_path, "SELECT status, count(*) FROM runs GROUP BY status")
    assert rows == [["cancelled", "1"]]


def test_client_killed_between_two_results(fleet: FleetEnv,
                                           shared_cluster: DaskCluster) -> None:
    """SIGKILL the client after its first result: the WAL catalog keeps every result."""
    before = {p: digest(p) for p in fleet.wims()}
    db = fleet.catalog_path
    run = run_cli(fleet, "--scheduler", shared_cluster.address)
    try:
        wait_for(lambda: db.exists() and bool(sql(
            db, "SELECT 1 FROM run_images WHERE status != 'queued'")), 120, "a first result")
        os.killpg(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert sql(db, "PRAGMA integrity_check") == [["ok"]]
    recorded = sql(db, "SELECT ri.image_id, ri.status, count(rp.key) FROM run_images ri "
                       "LEFT JOIN run_packages rp USING (run_id, image_id) "
                       "WHERE ri.status != 'queued' GROUP BY ri.image_id")
    assert recorded and all(r[1:] == ["staged", "2"] for r in recorded)
    assert sql(db, "SELECT status FROM runs") == [["in process"]]
    from distributed import Client

    with Client(shared_cluster.address) as watcher:  # tasks of the dead client finish
        wait_for(lambda: not any(watcher.processing().values()), 120, "idle workers")
    # The next command notices the dead client: the run is closed, task records recovered.
    status = json.loads(fleet.cli("status", "--json").stdout)
    assert status["runs"][0]["status"] == "failed"
    assert "client stopped" in status["runs"][0]["note"]
    assert_whole(fleet, before)
    # and a new run services whatever is left (or finds nothing left)
    proc = fleet.cli("run", "--scheduler", shared_cluster.address, "--json")
    assert proc.returncode == 0, proc.stderr
    assert set(assert_whole(fleet, before).values()) == {"serviced"}
