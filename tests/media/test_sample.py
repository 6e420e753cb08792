"""The sample media: layout, WIM properties, determinism."""

from __future__ import annotations

from pathlib import Path

import pytest

import wimcore
from tests.conftest import tree_hashes
from wimcore.errors import DestinationExistsError
from wimcore.media.sample import SETUP_NAME, WINPE_NAME, WINRE_NAME, create_sample
from wimcore.servicing.image_inventory import inventory


def test_layout(sample_master: Path) -> None:
    for rel in ("sources/install.wim", "sources/boot.wim", "sources/setup.exe", "setup.exe",
                "bootmgr", "bootmgr.efi", "boot/etfsboot.com", "efi/microsoft/boot/efisys.bin"):
        assert (sample_master / rel).is_file(), rel
    assert (sample_master / "boot/etfsboot.com").stat().st_size == 2048
    assert (sample_master / "efi/microsoft/boot/efisys.bin").read_bytes()[510:512] == b"\x55\xaa"
    names = sorted(p.name for p in (sample_master / "updates").iterdir())
    assert len(names) == 4 and sum(n.endswith(".msu") for n in names) == 2
    total = sum(p.stat().st_size for p in sample_master.rglob("*") if p.is_file())
    assert total < 20 * 1024 * 1024


def test_install_wim_properties(sample_master: Path) -> None:
    with wimcore.open(sample_master / "sources/install.wim") as wim:
        assert wim.images.names() == ["Windows 11 Pro", "Windows 11 Enterprise"]
        for image, edition in zip(wim.images, ("Professional", "Enterprise"), strict=True):
            info = image.info
            assert (info.arch_label, info.edition_id, info.installation_type) == \
                ("x64", edition, "Client")
            assert info.version == "10.0.26100.1742"
            assert info.languages == ("en-US",) and info.default_language == "en-US"
            assert info.system_root == "WINDOWS" and info.flags == edition
            assert info.display_name == image.name
            assert image.exists("/Windows/System32/Recovery/Winre.wim")
            inv = inventory(image)
            assert (inv.build, inv.ubr, inv.edition_id, inv.hive_status) == \
                (26100, 1742, edition, "ok")
            assert len(inv.packages) == 5 and len(inv.sessions) == 5
        winre = wim.images[1].read_bytes("/Windows/System32/Recovery/Winre.wim")
    assert winre.startswith(b"MSWIM\x00\x00\x00")


def test_boot_wim_and_winre(sample_master: Path, tmp_path: Path) -> None:
    with wimcore.open(sample_master / "sources/boot.wim") as wim:
        assert wim.images.names() == [WINPE_NAME, SETUP_NAME]
        assert wim.boot_index == 2
        assert wim.images[2].exists("/sources/setup.exe")
        with wimcore.open(sample_master / "sources/install.wim") as inst:
            (tmp_path / "re.wim").write_bytes(
                inst.images[2].read_bytes("/Windows/System32/Recovery/Winre.wim"))
    with wimcore.open(tmp_path / "re.wim") as re:
        assert re.images.names() == [WINRE_NAME]
        assert inventory(re.images[1]).image_type.value == "winre"


def test_same_seed_same_bytes(sample_master: Path, tmp_path: Path) -> None:
    again = create_sample(tmp_path / "again", seed=0)
    assert tree_hashes(again) == tree_hashes(sample_master)


def test_other_seed_other_data_and_refusal(sample_master: Path, tmp_path: Path) -> None:
    other = create_sample(tmp_path / "other", seed=1)
    with wimcore.open(other / "sources/install.wim") as a, \
            wimcore.open(sample_master / "sources/install.wim") as b:
        assert a.info.guid != b.info.guid
    with pytest.raises(DestinationExistsError):
        create_sample(other)
