"""Stop every long command at many points with SIGINT or SIGTERM and check what it says
against the bytes on disk.

Each command runs once with ``WIMCORE_STAGE_TRACE`` to learn the stages it passes (steps,
each rename of a finished file, each change recorded), then again and again as a real
subprocess paused at one stage (``WIMCORE_STAGE_PAUSE``) or stopped after a delay, with
SIGINT (every other time to the whole process group, as a terminal's Ctrl-C) or SIGTERM.
Every time: "nothing was changed" means the watched files are byte-identical (same bytes,
same inode) and exit 130/143; otherwise exit 10 and the message names exactly the files
that changed (a group "N of M file(s) in DIR" by count), the report and log it names
exist, and no temporary is left anywhere. The counts of stops that landed before and
after each command's point of no return are asserted.
"""

from __future__ import annotations

import json
import shutil
import signal
import sqlite3
from pathlib import Path

import pytest

import wimcore
from tests.conftest import make_tree
from tests.reliability.sweep import (
    Tally,
    check_claim,
    differences,
    run_stopped,
    snapshot,
    spread,
    temporaries,
    trace,
)

INT, TERM = signal.SIGINT, signal.SIGTERM


def _signal_for(n: int) -> tuple[int, bool]:
    """The n-th stop's signal and whether it goes to the whole group: INT to the process,
    INT to the group (a terminal's Ctrl-C), TERM to the process, in turn."""
    return [(INT, False), (INT, True), (TERM, False)][n % 3]


def _copy_media(master: Path, dest: Path) -> Path:
    shutil.copytree(master, dest, copy_function=shutil.copy2)
    return dest


# -- media service ------------------------------------------------------------------------------
def test_media_service_sweep(sample_master: Path, tmp_path: Path) -> None:
    args = ["-q", "media", "service", "media", "--updates", "media/updates",
            "--backend", "staged", "--iso", "out.iso"]
    first = tmp_path / "trace"
    _copy_media(sample_master, first / "media")
    done, points = trace(args, cwd=first, trace_file=tmp_path / "trace.txt")
    assert done.returncode == 10, done.stderr  # the staged backend leaves WinRE/boot unserviced
    names = [name for name, pid in points]
    assert "changed#1" in names and "media-step-iso#1" in names
    last_before = names[names.index("changed#1") - 1]
    chosen = spread(names, 10, must=(last_before, "changed#1", "changed#2", names[-1]))
    tally = Tally()
    for n, point in enumerate(chosen):
        run = tmp_path / f"run{n}"
        media = _copy_media(sample_master, run / "media")
        before = snapshot(run)  # the media, its WIMs' sidecars beside it, the ISO
        sig, group = _signal_for(n)
        stop = run_stopped(args, cwd=run, sig=sig, point=point, group=group)
        assert stop.paused, (point, stop.stderr)
        after = snapshot(run)
        records = (run / "media.wimcore-report.json", run / "media.wimcore.log")
        kind = check_claim(stop, differences(before, after), records=records)
        tally.add(kind)
        assert temporaries(run / "media", run / "out.iso") == [], point
        assert not (run / "media.wimcore-work").exists(), point  # the work folder is gone
        assert records[0].is_file() and records[1].is_file(), point  # always written
        report = json.loads(records[0].read_text())
        if kind == "before":
            assert report["status"] == "cancelled" and report["replaced"] == [], point
        elif kind == "after":
            # the report lists exactly the files of the media that were replaced
            replaced = {str(run / "media" / r) for r in report["replaced"]}
            assert replaced == {p for p in differences(before, after)
                                if p.startswith(str(media) + "/") and
                                not p.endswith(".wimcore-history.json")}, point
    assert tally.counts["before"] >= 5 and tally.counts["after"] >= 3, tally.counts


# -- package stage and package install --prepare-only ----------------------------------------
def test_package_stage_sweep(sample_master: Path, tmp_path: Path) -> None:
    args = ["-q", "package", "stage", "media/sources/install.wim", "1", "media/updates",
            "--report", "report.json"]
    first = tmp_path / "trace"
    _copy_media(sample_master, first / "media")
    done, points = trace(args, cwd=first, trace_file=tmp_path / "trace.txt")
    assert done.returncode == 0, done.stderr
    names = [name for name, _pid in points]
    assert names[-2:] == ["changed#1", "changed#2"]  # the commit, then the history
    tally = Tally()
    for n, point in enumerate(names):
        run = tmp_path / f"run{n}"
        media = _copy_media(sample_master, run / "media")
        before = snapshot(run)  # the media and its WIM's sidecars beside it
        sig, group = _signal_for(n)
        stop = run_stopped(args, cwd=run, sig=sig, point=point, group=group)
        assert stop.paused, (point, stop.stderr)
        changed = differences(before, snapshot(run))
        records = (run / "report.json", run / "media.install.wim.wimcore.log")
        tally.add(check_claim(stop, changed, records=records))
        assert temporaries(media / "sources") == [], point
        assert (run / "report.json").is_file(), point
        doc = json.loads((run / "report.json").read_text())
        assert doc["committed"] == (str(media / "sources" / "install.wim") in changed), point
    assert tally.counts["before"] >= 3 and tally.counts["after"] >= 2, tally.counts


def test_package_install_prepare_only_sweep(sample_master: Path, tmp_path: Path) -> None:
    msu = "media/updates/Windows11.0-KB5044284-x64.msu"
    args = ["-q", "package", "install", "media/sources/install.wim", "1", msu,
            "--prepare-only", "bundle"]
    first = tmp_path / "trace"
    _copy_media(sample_master, first / "media")
    done, points = trace(args, cwd=first, trace_file=tmp_path / "trace.txt")
    assert done.returncode == 0, done.stderr
    names = [name for name, _pid in points]
    assert names[-1] == "changed#1"  # the bundle renamed into place
    tally = Tally()
    for n, point in enumerate(names):
        run = tmp_path / f"run{n}"
        media = _copy_media(sample_master, run / "media")
        before = snapshot(run)
        sig, group = _signal_for(n + 1)
        stop = run_stopped(args, cwd=run, sig=sig, point=point, group=group)
        assert stop.paused, (point, stop.stderr)
        changed = differences(before, snapshot(run))
        log = run / "media.install.wim.wimcore.log"
        kind = check_claim(stop, changed, records=(log,))
        tally.add(kind)
        changed.discard(str(log))
        assert temporaries(run) == [], point  # no half-built bundle beside the WIM
        assert (run / "bundle").exists() == (kind == "after"), point
        if kind == "after":
            assert (run / "bundle" / "bundle.json").is_file()
        assert not any(p.startswith(str(media)) for p in changed), point  # WIM untouched
    assert tally.counts["before"] >= 2 and tally.counts["after"] == 1, tally.counts


# -- imagex verbs that write ---------------------------------------------------------------
@pytest.fixture(scope="module")
def imagex_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A source tree big enough that writing it takes a moment, and a WIM of it."""
    root = tmp_path_factory.mktemp("imagex-sweep")
    make_tree(root / "src", seed=5, files=40, max_size=300_000)
    wimcore.capture(root / "src", root / "in.wim", "In", compression="lzx")
    return root


IMAGEX_CASES = {
    # case: (arguments, what it writes)
    "capture": (["capture", "../src", "out.wim", "Out", "--compress=lzx"], "out.wim"),
    "export": (["export", "in.wim", "1", "new.wim", "--compress=lzms"], "new.wim"),
    "optimize": (["optimize", "in.wim", "--recompress", "--compress=lzms"], "in.wim"),
    "apply": (["apply", "in.wim", "1", "applied"], "applied"),
}


@pytest.mark.parametrize("case", sorted(IMAGEX_CASES))
def test_imagex_verbs_sweep(imagex_inputs: Path, tmp_path: Path, case: str) -> None:
    args, output = IMAGEX_CASES[case]
    args = ["-q", *args]
    first = tmp_path / "trace"
    first.mkdir()
    shutil.copy2(imagex_inputs / "in.wim", first / "in.wim")
    shutil.copytree(imagex_inputs / "src", tmp_path / "src")
    done, points = trace(args, cwd=first, trace_file=tmp_path / "trace.txt")
    assert done.returncode == 0, done.stderr
    names = [name for name, _pid in points]
    assert "changed#1" in names
    stops: list[tuple[str | None, float | None]] = [(p, None) for p in names]
    took = float(trace.seconds)  # type: ignore[attr-defined]
    stops += [(None, took * f) for f in (0.6, 0.85)]  # timed: during the run
    tally = Tally()
    for n, (point, delay) in enumerate(stops):
        run = tmp_path / f"run{n}"
        run.mkdir()
        shutil.copy2(imagex_inputs / "in.wim", run / "in.wim")
        before = snapshot(run)
        sig, group = _signal_for(n)
        stop = run_stopped(args, cwd=run, sig=sig, point=point, delay=delay, group=group)
        if point is not None:
            assert stop.paused, (point, stop.stderr)
        changed = differences(before, snapshot(run))
        kind = check_claim(stop, changed)
        tally.add(kind)
        assert temporaries(run) == [], (case, stop.point)
        target = run / output
        if kind == "before":
            assert target.exists() == (output == "in.wim"), stop.point
        else:  # finished, or stopped after the rename: the output is whole
            assert target.exists()
            if target.suffix == ".wim":
                wimcore.verify(target)
    assert tally.counts["before"] >= 1 and tally.counts["after"] >= 1, tally.counts


# -- fleet run ---------------------------------------------------------------------------------
def _fleet(root: Path, sample_master: Path) -> list[Path]:
    """A catalog with the sample's two editions (single-index WIMs) and its updates."""
    from wimcore.fleet.catalog import Catalog
    from wimcore.fleet.library import add_images
    from wimcore.fleet.updates import add_updates

    src = root / "src" / "install.wim"
    src.parent.mkdir(parents=True)
    shutil.copyfile(sample_master / "sources" / "install.wim", src)
    with Catalog(root / "catalog.sqlite3") as cat:
        add_images(cat, src, index="all", library=root / "library")
        add_updates(cat, [sample_master / "updates"], sources=sample_master / "sources")
        return [Path(i["wim_path"]) for i in cat.images()]


#: (stage, signal, to the group): the client before any result, the first task's commit
#: (paused in the worker just before its rename), after the first result, cluster start.
FLEET_STOPS = [("fleet-submitted#1", INT, True), ("worker:publish#1", INT, True),
               ("fleet-result#1", TERM, False), ("fleet-cluster#1", INT, True)]


def test_fleet_run_sweep(sample_master: Path, tmp_path: Path) -> None:
    tally = Tally()
    env = {"WIMCORE_STAGE_PAUSE_SECONDS": "2"}
    for n, (point, sig, group) in enumerate(FLEET_STOPS):
        root = tmp_path / f"run{n}"
        wims = _fleet(root, sample_master)
        before = snapshot(*wims)
        stage = point.removeprefix("worker:")
        args = ["fleet", "--catalog", str(root / "catalog.sqlite3"), "run", "--workers", "1",
                "--retries", "0"]
        stop = run_stopped(args, cwd=root, sig=sig, point=stage, group=group, env=env)
        assert stop.paused, (point, stop.stderr)
        changed = differences(before, snapshot(*wims))
        # the ledger names images; map each claimed image to its WIM file
        error = stop.error
        for i, wim in enumerate(wims, start=1):
            error = error.replace(f"image {i} ({wim}:1)", str(wim))
        stop.stderr = stop.stderr.replace(stop.error, error)
        kind = check_claim(stop, changed)
        tally.add(kind)
        # Ctrl-C and SIGTERM end the run quietly: no Dask traceback, no nanny chatter
        assert "Traceback" not in stop.stderr and "distributed." not in stop.stderr, \
            stop.stderr
        assert temporaries(*wims) == [], point
        with sqlite3.connect(root / "catalog.sqlite3") as db:
            rows = dict(db.execute("SELECT i.wim_path, ri.wim_changed FROM run_images ri "
                                   "JOIN images i ON i.id = ri.image_id").fetchall())
            (status,) = db.execute("SELECT status FROM runs").fetchone() or ("",)
        assert status == "cancelled", (point, status)
        for wim in wims:  # the catalog says exactly which WIM changed
            assert bool(rows.get(str(wim))) == (str(wim) in changed), (point, rows, changed)
        if point == "worker:publish#1":  # paused before its rename: the commit completes
            assert kind == "after" and len(changed & {str(w) for w in wims}) == 1, stop.error
    assert tally.counts["before"] >= 2 and tally.counts["after"] >= 1, tally.counts
