"""The ISO: El Torito entries (pycdlib and xorriso read them back), file tree, labels."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pycdlib
import pytest

from wimcore.errors import IsoError
from wimcore.iso import write_iso


def _names(children: object) -> set[str]:
    out = set()
    for child in children:  # type: ignore[attr-defined]
        if child is None:
            continue
        name = child.file_identifier().decode("utf-16-be" if b"\x00" in
                                              child.file_identifier() else "utf-8")
        out.add(name.split(";")[0])
    return out - {"", ".", "..", "\x00", "\x01"}


def test_boot_entries_and_tree(serviced_master: Path) -> None:
    iso_path = serviced_master.parent / "out.iso"
    iso = pycdlib.PyCdlib()
    iso.open(str(iso_path))
    try:
        assert iso.pvd.volume_identifier.rstrip() == b"CCCOMA_X64FRE_EN-US_DV9"
        assert iso.has_udf() and iso.has_joliet()
        cat = iso.eltorito_boot_catalog
        assert cat.initial_entry.sector_count == 8
        assert [s.platform_id for s in cat.sections] == [0xEF]
        udf = _names(iso.list_children(udf_path="/sources"))
        assert {"install.wim", "boot.wim", "setup.exe", "en-us"} <= udf
        assert not any(n.endswith(".wimcore-history.json") for n in udf)
        root = _names(iso.list_children(joliet_path="/"))
        assert {"boot", "efi", "sources", "setup.exe", "bootmgr", "bootmgr.efi"} <= root
    finally:
        iso.close()


@pytest.mark.skipif(shutil.which("xorriso") is None, reason="xorriso not installed")
def test_xorriso_reads_el_torito(serviced_master: Path) -> None:
    out = subprocess.run(["xorriso", "-indev", str(serviced_master.parent / "out.iso"),
                          "-report_el_torito", "plain"], capture_output=True, text=True,
                         check=True).stdout
    rows = [line.split() for line in out.splitlines() if line.startswith("El Torito boot img")]
    assert [(r[6], r[8], r[11]) for r in rows if r[5] == "1"] == [("BIOS", "none", "8")]
    assert [(r[6], r[8]) for r in rows if r[5] == "2"] == [("UEFI", "none")]
    paths = [line for line in out.splitlines() if line.startswith("El Torito img path")]
    assert any("/boot/etfsboot.com" in p for p in paths)
    assert any("/efi/microsoft/boot/efisys.bin" in p for p in paths)


def test_large_file_path_and_errors(media: Path, tmp_path: Path) -> None:
    res = write_iso(media, tmp_path / "x.iso", label="TESTLABEL", extent_limit=1_000_000)
    assert "sources/install.wim" in res.multi_extent
    assert res.files > 20 and (tmp_path / "x.iso").stat().st_size == res.size
    (media / "boot/etfsboot.com").unlink()
    with pytest.raises(IsoError):
        write_iso(media, tmp_path / "y.iso")
    assert not (tmp_path / "y.iso").exists()
