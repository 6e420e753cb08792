"""The servicing catalog (real SQLite), the libraries and the plans: no Dask here."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

import wimcore
from tests.fleet.conftest import FleetEnv
from wimcore.fleet.catalog import MIGRATIONS, SCHEMA_VERSION, Catalog
from wimcore.fleet.errors import CatalogVersionError, NotRegisteredError
from wimcore.fleet.library import add_images
from wimcore.fleet.planning import plan_images
from wimcore.fleet.updates import add_updates


def test_schema_wal_foreign_keys_and_version(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"
    with Catalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION
    out = subprocess.run(["sqlite3", str(path), "PRAGMA journal_mode; PRAGMA user_version; "
                          "PRAGMA integrity_check;"], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["wal", str(SCHEMA_VERSION), "ok"]
    with Catalog(path) as cat:  # reopening migrates nothing and keeps the version
        assert cat.schema_version == SCHEMA_VERSION
        with pytest.raises(sqlite3.IntegrityError):  # foreign keys are enforced
            with cat.transaction() as db:
                db.execute("INSERT INTO image_packages(image_id, key) VALUES (42, 'x')")
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(CatalogVersionError, match="newer"):
        Catalog(path)


def test_version_1_catalog_migrates_forward_keeping_every_row(tmp_path: Path) -> None:
    """A catalog written before runs could be 'incomplete': the runs table is rebuilt,
    the rows that refer to it survive (no cascade), foreign keys still hold."""
    path = tmp_path / "v1.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + ";PRAGMA user_version=1;")
    db.executescript(
        "INSERT INTO images(id, wim_path, wim_index, name, image_count, sha256_at_import, "
        "size_at_import, imported_at) VALUES (1, '/x.wim', 1, 'Pro', 1, 'ab', 10, 't');"
        "INSERT INTO runs(id, started, status, backend, client_host, client_pid) "
        "VALUES ('r1', 't', 'failed', 'staged', 'h', 1);"
        "INSERT INTO run_images(run_id, image_id, status) VALUES ('r1', 1, 'not-serviced');"
        "INSERT INTO run_packages(run_id, image_id, seq, key, state) "
        "VALUES ('r1', 1, 1, 'K', 'not-serviced');")
    with pytest.raises(sqlite3.IntegrityError):  # version 1 knows no 'incomplete' run
        db.execute("UPDATE runs SET status='incomplete'")
    db.commit()
    db.close()
    with Catalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION == 3
        run = cat.run("r1")
        assert run["status"] == "failed" and [i["status"] for i in run["images"]] == \
            ["not-serviced"]
        assert cat.run_packages("r1", 1)[0]["state"] == "not-serviced"
        cat.finish_run("r1", "incomplete", "re-judged")
        assert cat.run("r1")["status"] == "incomplete"
        with pytest.raises(sqlite3.IntegrityError):  # still checked, foreign keys still on
            with cat.transaction() as db2:
                db2.execute("INSERT INTO run_images(run_id, image_id, status) "
                            "VALUES ('nope', 1, 'x')")
    out = subprocess.run(["sqlite3", str(path), "PRAGMA foreign_key_check; PRAGMA "
                          "integrity_check; PRAGMA user_version;"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.split() == ["ok", str(SCHEMA_VERSION)]


def test_version_2_catalog_migrates_never_started_images(tmp_path: Path) -> None:
    """Versions 1-2 wrote 'cancelled' for images that a failed run never started; version 3
    calls them 'never-started', and leaves images of runs that were cancelled alone."""
    path = tmp_path / "v2.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + ";" + MIGRATIONS[1] + ";PRAGMA user_version=2;")
    db.executescript(
        "INSERT INTO images(id, wim_path, wim_index, name, image_count, sha256_at_import, "
        "size_at_import, imported_at) VALUES (1, '/x.wim', 1, 'Pro', 1, 'ab', 10, 't'), "
        "(2, '/y.wim', 1, 'Home', 1, 'cd', 10, 't');"
        "INSERT INTO runs(id, started, status, backend, client_host, client_pid, "
        "cancel_requested) VALUES ('unreachable', 't1', 'failed', 'staged', 'h', 1, 0), "
        "('stopped', 't2', 'cancelled', 'staged', 'h', 1, 1);"
        "INSERT INTO run_images(run_id, image_id, status, note) VALUES "
        "('unreachable', 1, 'cancelled', 'not started: the run ended first'), "
        "('unreachable', 2, 'failed', 'boom'), "
        "('stopped', 1, 'cancelled', 'not started: the run ended first'), "
        "('stopped', 2, 'staged', NULL);")
    db.commit()
    db.close()
    with Catalog(path) as cat:
        assert cat.schema_version == SCHEMA_VERSION == 3
        assert [i["status"] for i in cat.run("unreachable")["images"]] == \
            ["never-started", "failed"]
        assert [i["status"] for i in cat.run("stopped")["images"]] == ["cancelled", "staged"]
    out = subprocess.run(["sqlite3", str(path), "SELECT status FROM run_images WHERE "
                          "run_id='unreachable' AND image_id=1; PRAGMA integrity_check;"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["never-started", "ok"]


def test_finish_run_names_leftover_images_by_what_ended_the_run(tmp_path: Path) -> None:
    """Images without a result: 'cancelled' in a cancelled run, 'never-started' otherwise."""
    with Catalog(tmp_path / "c.sqlite3") as cat:
        with cat.transaction() as db:
            db.execute("INSERT INTO images(id, wim_path, wim_index, name, image_count, "
                       "sha256_at_import, size_at_import, imported_at) VALUES "
                       "(1, '/x.wim', 1, 'Pro', 1, 'ab', 10, 't')")
        cat.create_run("a", backend="staged", scheduler=None, options={}, image_ids=[1])
        cat.finish_run("a", "failed", "scheduler unreachable")
        img = cat.run("a")["images"][0]
        assert img["status"] == "never-started" and "scheduler unreachable" in img["note"]
        cat.create_run("b", backend="staged", scheduler=None, options={}, image_ids=[1])
        cat.finish_run("b", "cancelled", "interrupted")
        assert cat.run("b")["images"][0]["status"] == "cancelled"


def test_not_a_catalog_is_a_typed_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(wimcore.WimcoreError, match="not a usable catalog"):
        Catalog(bad)


def test_images_registered_with_their_inventory(fleet: FleetEnv) -> None:
    with fleet.open() as cat:
        images = cat.images()
        assert [i["name"] for i in images] == ["Windows 11 Pro", "Windows 11 Enterprise",
                                               "Windows 11 Education",
                                               "Windows 11 Pro for Workstations"]
        for img in images:
            assert (img["arch"], img["build"], img["ubr"], img["image_count"]) == \
                ("x64", 26100, 1742, 1)
            assert img["source_path"] == str(fleet.source_wim.absolute())
            assert Path(img["wim_path"]).parent == fleet.library / "images"
            at_import = {p["key"].split("~")[0] for p in cat.packages_at_import(img["id"])}
            assert "Package_for_RollupFix" in at_import
        assert [i["edition"] for i in images] == ["Professional", "Enterprise", "Education",
                                                  "ProfessionalWorkstation"]
        # registering again changes nothing
        again = add_images(cat, fleet.source_wim, index="all")
        assert again == [i["id"] for i in images]
        assert cat.select_images(["windows 11 education"])[0]["id"] == images[2]["id"]
        with pytest.raises(NotRegisteredError):
            cat.select_images(["Windows 11 Home"])


def test_in_place_registration_of_a_multi_index_wim(tmp_path: Path, sample4: Path) -> None:
    with Catalog(tmp_path / "c.sqlite3") as cat:
        ids = add_images(cat, sample4 / "sources" / "install.wim")
        assert len(ids) == 4
        assert {i["image_count"] for i in cat.images()} == {4}
        assert {i["wim_path"] for i in cat.images()} == \
            {str((sample4 / "sources" / "install.wim").absolute())}


def test_updates_imported_once_by_hash_and_classified(fleet: FleetEnv) -> None:
    with fleet.open() as cat:
        again = add_updates(cat, [fleet.updates], sources=fleet.updates.parent / "sources")
        assert sorted(r.status for r in again) == ["already-present"] * 3 + ["skipped"]
        updates = cat.updates()
        kinds = {u["kb"]: u["kind"] for u in updates}
        # the LCU MSU carries the SSU too; the checkpoint LCU is one of the set
        assert kinds == {"KB5047621": "servicing-stack", "KB5044284": "cumulative-update",
                         "KB5043080": "checkpoint-cumulative-update", "KB5044615": "safe-os"}
        for u in updates:
            stored = Path(u["stored_path"])
            assert stored.is_file() and stored.parent.name == u["sha256"]
            check = u["verification"]
            assert check["state"] == "verified" and not check["skip_verify"]
            assert check["packages"] >= 1 and check["verified"] >= 1
            assert u["arch"] == "amd64"


def test_plan_per_image_in_order_with_filters(fleet: FleetEnv) -> None:
    with fleet.open() as cat:
        plans = plan_images(cat, cat.images())
        for p in plans:
            assert [(e["order"], e["kb"]) for e in p.apply] == [(1, "KB5047621"),
                                                                (2, "KB5044284")]
            assert {e["kb"]: e["state"] for e in p.other}["KB5044615"] == "not-applicable"
            assert len(p.files) == 1  # the SSU and the LCU come in one MSU
        # the filter selects library files: the LCU's MSU brings the SSU it carries
        only_lcu = plan_images(cat, cat.select_images(["1"]), text="rollupfix")
        assert [e["kb"] for e in only_lcu[0].apply] == ["KB5047621", "KB5044284"]
        safeos = plan_images(cat, cat.select_images(["1"]), text="safeos")
        assert safeos[0].apply == [] and [e["kb"] for e in safeos[0].other] == ["KB5044615"]
        arm = plan_images(cat, cat.select_images(["1"]), arch="arm64")
        assert arm[0].apply == [] and "not arm64" in (arm[0].error or "")
