"""The sources/ sync rules (robocopy /e /xo /xx /xl) and the Setup Dynamic Update copy."""

from __future__ import annotations

import os
from pathlib import Path

import wimcore
from wimcore.media.sources_sync import SourcesOverlay, apply_setup_du, sync_from_image


def _state(root: Path, rel: str) -> tuple[bytes, int]:
    p = root / "sources" / rel
    return p.read_bytes(), p.stat().st_mtime_ns


def test_rules_after_the_routine(serviced_master: Path, sample_master: Path) -> None:
    changed = {"setuphost.exe", "SetupPlatform.dll", "en-us/setup.exe.mui", "devinv.dll",
               "appraiser.dll", "SetupCore.dll"}
    kept = {"setup.exe", "dismcore.dll", "wimgapi.dll", "setupprep.exe", "ei.cfg", "lang.ini",
            "idwbinfo.txt"}
    for rel in changed:
        assert _state(serviced_master, rel)[0] != _state(sample_master, rel)[0], rel
    for rel in kept:  # identical, media newer (dismcore.dll), or only on the media
        assert _state(serviced_master, rel) == _state(sample_master, rel), rel
    assert not (serviced_master / "sources/SetupMgr.dll").exists()  # only in the image: /xl
    assert (serviced_master / "sources/appraiserres.dll").is_file()  # Setup DU adds files


def test_newer_older_and_new_files(sample_master: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    old, new = 1_500_000_000, 1_900_000_000
    for name, when in (("setuphost.exe", old), ("SetupPlatform.dll", new),
                       ("SETUP.EXE", old)):
        (sources / name).write_bytes(b"media copy")
        os.utime(sources / name, (when, when))
    overlay = SourcesOverlay(sources, tmp_path / "staging")
    (tmp_path / "staging").mkdir()
    with wimcore.open(sample_master / "sources/boot.wim") as wim:
        actions = sync_from_image(overlay, wim.images[2], "/sources", "boot.wim:2")
        image_time = wim.images[2].stat("/sources/setuphost.exe").last_write_time
    got = {a.path for a in actions}
    assert got == {"setuphost.exe", "SETUP.EXE"}  # older media copies; case-insensitive names
    assert "SetupPlatform.dll" not in got          # media copy newer: kept
    assert "SetupMgr.dll" not in got               # not on the media: never added
    staged = overlay.staged["setuphost.exe"]
    assert staged.read_bytes() != b"media copy"
    assert image_time is not None
    assert staged.stat().st_mtime == image_time.timestamp()
    # a second pass over the overlay finds nothing newer
    assert sync_from_image(overlay, wimcore.open(sample_master / "sources/boot.wim").images[2],
                           "/sources", "boot.wim:2") == []
    assert (sources / "setuphost.exe").read_bytes() == b"media copy"  # media untouched


def test_setup_du_copy_skips_identical(tmp_path: Path) -> None:
    sources, du = tmp_path / "sources", tmp_path / "du"
    sources.mkdir()
    du.mkdir()
    (sources / "same.dll").write_bytes(b"x")
    (du / "same.dll").write_bytes(b"x")
    (du / "new.dll").write_bytes(b"n")
    (du / "Setup.exe").write_bytes(b"du")
    (sources / "setup.exe").write_bytes(b"old")
    overlay = SourcesOverlay(sources, tmp_path / "staging")
    actions = {a.path: a.added for a in apply_setup_du(overlay, du, "du.cab")}
    assert actions == {"new.dll": True, "setup.exe": False}
