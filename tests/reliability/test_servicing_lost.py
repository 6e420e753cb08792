"""Staging killed at random points, and hostile answer files: the WIM stays byte-identical
unless a complete, verifying result was renamed into place."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import wimcore
from tests.conftest import REPO, sha256
from tests.servicing.winfactory import WinSpec, lcu, make_wim, msu_file, ssu
from wimcore.servicing import service_wim

KILL_ROUNDS = int(os.environ.get("WIMCORE_KILL_ROUNDS", "6"))


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("install")
    wim = make_wim(root / "install.wim", [WinSpec(kind="client"), WinSpec(kind="client",
                                                                          name="Windows 10 Ent")])
    msu = msu_file(root / "windows10.0-kb5034122-x64.msu", [ssu(), lcu()])
    return wim, msu


def test_stage_killed_at_random_points(install: tuple[Path, Path], tmp_path: Path) -> None:
    source, msu = install
    rng = random.Random(11)
    original = sha256(source)
    seen = {"unchanged": 0, "completed": 0}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for n in range(KILL_ROUNDS):
        work = tmp_path / f"r{n}"
        work.mkdir()
        wim = work / "install.wim"
        shutil.copy(source, wim)
        proc = subprocess.Popen([sys.executable, "-m", "tests.reliability.ops", "stage",
                                 str(wim), str(msu)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
        assert proc.stdout is not None
        proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.8))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        if sha256(wim) == original:
            seen["unchanged"] += 1
        else:
            wimcore.verify(wim)
            with wimcore.open(wim) as w:
                assert w.images[1].exists("/Windows/Panther/unattend.xml")
            seen["completed"] += 1
    print(f"\nstage: {KILL_ROUNDS} kills: {seen}")


HOSTILE_UNATTEND = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY a "aaaaaaaaaa">'
                      b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                      b'<unattend xmlns="urn:schemas-microsoft-com:unattend">&b;</unattend>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE u [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                       b'<unattend xmlns="urn:schemas-microsoft-com:unattend">&x;</unattend>',
    "deep nesting": b"<unattend>" + b"<a>" * 3000 + b"</a>" * 3000 + b"</unattend>",
    "not xml": b"\xff\xfe\x00garbage<<",
}


@pytest.mark.parametrize("label", sorted(HOSTILE_UNATTEND))
def test_hostile_existing_answer_file(tmp_path: Path, label: str) -> None:
    wim = make_wim(tmp_path / "install.wim",
                   [WinSpec(kind="client", unattend=HOSTILE_UNATTEND[label])])
    msu = msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [ssu(), lcu()])
    before = sha256(wim)
    with pytest.raises(wimcore.WimcoreError):
        service_wim(wim, [msu], images="all", history=False)
    assert sha256(wim) == before
