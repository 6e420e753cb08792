"""``wimcore dism /Add-Package`` and ``/Get-Packages`` answer as DISM does.

A package that does not apply to the image (the sample's SafeOS update, for WinRE only,
into a client image) fails with DISM's 0x800F081E and a non-zero exit, the WIM unchanged;
packages wimcore staged are listed by /Get-Packages as "Staged", never as installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.cli.conftest import ok, wimcore
from tests.conftest import sha256

SAFEOS = "Windows11.0-KB5044615-x64.cab"
LCU = "Windows11.0-KB5044284-x64.msu"  # 24H2 shape: its SSU cabinet sits inside it
SSU_KEY = "Package_for_ServicingStack_2032~31bf3856ad364e35~amd64~~26100.2032.1.2"
LCU_KEY = "Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.2033.1.6"


def _wim(sample_master: Path, tmp_path: Path) -> Path:
    wim = tmp_path / "install.wim"
    shutil.copyfile(sample_master / "sources" / "install.wim", wim)
    return wim


def test_add_package_not_applicable_fails_as_dism_does(sample_master: Path,
                                                       tmp_path: Path) -> None:
    wim = _wim(sample_master, tmp_path)
    before = sha256(wim)
    proc = wimcore("dism", "/Add-Package", f"/ImageFile:{wim}", "/Index:1",
                   f"/PackagePath:{sample_master / 'updates' / SAFEOS}")
    out, err = proc.stdout.decode(), proc.stderr.decode()
    assert proc.returncode != 0
    assert "Error: 0x800f081e" in out
    assert "The specified package is not applicable to this image." in out
    assert "The operation completed successfully" not in out
    assert "0x800f081e" in err and "Package_for_SafeOSDU" in err
    assert sha256(wim) == before


def test_get_packages_lists_staged_packages_as_staged(sample_master: Path,
                                                      tmp_path: Path) -> None:
    wim = _wim(sample_master, tmp_path)
    listing = ok(wimcore("dism", "/Get-Packages", f"/ImageFile:{wim}", "/Index:1")).stdout
    assert SSU_KEY.encode() not in listing and LCU_KEY.encode() not in listing
    ok(wimcore("dism", "/Add-Package", f"/ImageFile:{wim}", "/Index:1",
               f"/PackagePath:{sample_master / 'updates' / LCU}"))
    text = ok(wimcore("dism", "/Get-Packages", f"/ImageFile:{wim}", "/Index:1")
              ).stdout.decode()
    blocks = {b.splitlines()[0].split(" : ", 1)[1]: b for b in text.split("\n\n")
              if b.startswith("Package Identity : ")}
    for key in (SSU_KEY, LCU_KEY):
        assert "State : Staged" in blocks[key], blocks.get(key)
        assert "Installed" not in blocks[key]
