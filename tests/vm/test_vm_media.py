"""The media routine with the vm backend and the stand-in guest: every image in one boot.

WinRE (read out of install.wim), one install index, Setup (boot.wim 2) and WinPE
(boot.wim 1) go to the vm backend in one ``apply`` call: one QEMU boot with four target
volumes and the job disk. The stand-in records each install; the post-check judges each
image; the routine puts WinRE back, syncs ``sources/``, rebuilds the WIMs. A guest that
hangs leaves every file of the media byte-identical.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import wimcore
from tests.conftest import tree_hashes
from tests.vm.standin.build import StandinGuest
from tests.vm.vmfactory import standin_backend
from wimcore.media.pipeline import ServiceOptions, service
from wimcore.progress import ProgressEvent
from wimcore.servicing import inventory
from wimcore.servicing.vm import errors as vmerr

LCU_KEY = "Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.2033.1.6"
SAFEOS_KEY = "Package_for_SafeOSDU~31bf3856ad364e35~amd64~~26100.2030.1.1"


def test_winre_install_index_and_both_boot_images_in_one_boot(
        standin_guest: StandinGuest, media: Path, tmp_path: Path) -> None:
    backend = standin_backend(standin_guest, cleanup=True)
    boots: list[str] = []

    def on_progress(event: ProgressEvent) -> bool:
        if event.message == "vm guest: boot":
            boots.append(event.message)
        return True

    report = service(media, media / "updates", ServiceOptions(
        images=[1], backend=backend, progress=on_progress, iso=tmp_path / "serviced.iso",
        work_dir=tmp_path / "work"))
    assert len(boots) == 1  # one VM boot for WinRE, install.wim:1, boot.wim:2 and :1
    by_label = {i.report.label: i.report for i in report.images}
    winre = next(r for label, r in by_label.items() if label.startswith("Winre.wim"))
    assert winre.status == "installed"
    assert {p["key"] for p in winre.outcome["packages"]} >= {SAFEOS_KEY}
    for label in ("install.wim:1", "boot.wim:2", "boot.wim:1"):
        rep = by_label[label]
        assert rep.status == "installed", (label, rep.status)
        assert all(p["backend"] == "vm" and p["verdict"].startswith("CBS state installed")
                   for p in rep.outcome["packages"])
        assert [d["title"] for d in rep.outcome["details"]["dism"]][-1] == "cleanup"
    # the media now carries the serviced images
    with wimcore.open(media / "sources/boot.wim") as boot:
        assert boot.info.boot_index == 2
        for image in boot.images:
            inv = inventory(image)
            assert inv.ubr == 2033 and inv.package(LCU_KEY) is not None
            assert image.info.sp_build == 2033
    with wimcore.open(media / "sources/install.wim") as install:
        assert inventory(install.images[1]).ubr == 2033
        winre_wim = tmp_path / "Winre.wim"
        winre_wim.write_bytes(install.images[1].read_bytes(
            "/Windows/System32/Recovery/Winre.wim"))
        carried = install.images[2].read_bytes("/Windows/System32/Recovery/Winre.wim")
    with wimcore.open(winre_wim) as w:  # WinRE serviced and put back into every index
        assert inventory(w.images[1]).package(SAFEOS_KEY) is not None
    assert carried == winre_wim.read_bytes()
    assert (tmp_path / "serviced.iso").is_file()
    assert not list((tmp_path / "work").rglob("*.img"))  # no volume file left


def test_a_hanging_guest_leaves_the_media_byte_identical(
        standin_guest: StandinGuest, media: Path, tmp_path: Path) -> None:
    before = tree_hashes(media)
    with pytest.raises(wimcore.WimcoreError) as info:
        service(media, media / "updates", ServiceOptions(
            images=[1], backend=standin_backend(standin_guest, modes="hang", timeout=12.0),
            work_dir=tmp_path / "work", iso=tmp_path / "never.iso"))
    chain = [info.value, info.value.__cause__]
    assert any(isinstance(e, vmerr.GuestTimeoutError) for e in chain), chain
    assert tree_hashes(media) == before
    assert not (tmp_path / "never.iso").exists()
    work = tmp_path / "work"
    assert not (work.exists() and list(work.rglob("*.img")))
