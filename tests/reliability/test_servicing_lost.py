"""Staging killed at random points, and hostile answer files: the WIM stays byte-identical
unless a complete, verifying result was renamed into place."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

import wimcore
from tests.conftest import sha256
from tests.reliability.kills import kill_mid_write, run_to_completion
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


def _staged(wim: Path) -> bool:
    """The staged answer file is in every image of a WIM that verifies."""
    wimcore.verify(wim)
    with wimcore.open(wim) as w:
        return all(w.images[i].exists("/Windows/Panther/unattend.xml")
                   for i in range(1, w.info.image_count + 1))


def test_stage_killed_at_random_points(install: tuple[Path, Path], tmp_path: Path) -> None:
    """SIGKILL while staging writes the WIM (the child holds at a random stream-write
    event): the WIM stays byte-identical every time; staging run to the end stages."""
    source, msu = install
    rng = random.Random(11)
    original = sha256(source)
    work = tmp_path / "whole"
    work.mkdir()
    wim = work / "install.wim"
    shutil.copy(source, wim)
    whole = run_to_completion("stage", str(wim), str(msu))
    assert whole.partial >= 2, f"too few write events to kill between: {whole}"
    assert sha256(wim) != original and _staged(wim)
    seen = {"completed": 1, "unchanged": 0}
    for n in range(KILL_ROUNDS):
        work = tmp_path / f"r{n}"
        work.mkdir()
        wim = work / "install.wim"
        shutil.copy(source, wim)
        kill_mid_write(rng.randint(2, whole.partial), "stage", str(wim), str(msu))
        assert sha256(wim) == original, f"round {n}: a kill mid-write changed the WIM"
        seen["unchanged"] += 1
    assert seen == {"completed": 1, "unchanged": KILL_ROUNDS}


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
