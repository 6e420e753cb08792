"""A media's WIMs keep their sidecars (history, servicing log) beside the media folder,
never inside ``sources/``, whose files users copy onto USB sticks; a history an older
wimcore left inside ``sources/`` is still read, and moved out at the next save."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from wimcore.servicing import service_wim
from wimcore.servicing.history import load_history, sidecar_path

LCU = "Windows11.0-KB5044284-x64.msu"


def _ours(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if ".wimcore" in n)


def test_servicing_a_media_wim_writes_nothing_into_sources(media: Path) -> None:
    install = media / "sources" / "install.wim"
    assert sidecar_path(install) == media.parent / "media.install.wim.wimcore-history.json"
    report = service_wim(install, [media / "updates" / LCU], images=[1], history=True)
    assert report.committed
    assert _ours(media / "sources") == []
    assert (media.parent / "media.install.wim.wimcore-history.json").is_file()
    assert (media.parent / "media.install.wim.wimcore.log").is_file()
    assert load_history(install).staged_keys(1)  # read back from beside the media


def test_a_standalone_wim_keeps_its_sidecars_beside_it(media: Path, tmp_path: Path) -> None:
    wim = tmp_path / "alone" / "install.wim"
    wim.parent.mkdir()
    shutil.copyfile(media / "sources" / "install.wim", wim)
    service_wim(wim, [media / "updates" / LCU], images=[1], history=True)
    assert _ours(wim.parent) == ["install.wim.wimcore-history.json", "install.wim.wimcore.log"]


def test_an_old_sidecar_in_sources_is_read_then_moved_out(media: Path) -> None:
    install = media / "sources" / "install.wim"
    service_wim(install, [media / "updates" / LCU], images=[1], history=True)
    new = sidecar_path(install)
    old = install.with_name("install.wim.wimcore-history.json")
    new.rename(old)  # as an older wimcore left it
    staged = load_history(install).staged_keys(1)
    assert staged  # still known: the next run plans from it
    service_wim(install, [media / "updates" / LCU], images=[2], history=True)
    assert not old.exists() and new.is_file()
    runs = json.loads(new.read_text())["runs"]
    assert len(runs) == 2 and _ours(media / "sources") == []
