"""Inventory: read straight from real WIMs built by libwimlib, hive checked against regipy."""

from __future__ import annotations

from pathlib import Path

import pytest
import winfactory as wf

import wimcore
from wimcore.packages.model import PackageKind
from wimcore.servicing.image_inventory import ImageType, inventory, resolve_path


def test_install_image_inventory(win_wim) -> None:
    path = win_wim(wf.WinSpec(netfx3=0x70))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.image_type is ImageType.CLIENT and inv.is_windows
    assert (inv.build, inv.ubr, inv.version) == (19045, 3803, "10.0.19045.3803")
    assert inv.edition_id == "Professional" and inv.display_version == "22H2"
    assert inv.product_name == "Windows 10 Professional" and inv.arch == "x64"
    assert inv.hive_status == "ok" and inv.problems == ()
    lcu = inv.by_name("Package_for_RollupFix")[0]
    assert lcu.kind is PackageKind.CUMULATIVE_UPDATE and lcu.kb == "KB5033372"
    assert lcu.state == "installed" and lcu.is_installed
    assert inv.by_name("Microsoft-Windows-Foundation-Package")[0].state == "permanent"
    assert inv.netfx3 == "enabled"
    netfx = [p for p in inv.packages if not p.has_mum]
    assert len(netfx) == 1 and netfx[0].state == "installed"  # known to CBS only
    assert len(inv.sessions) == 2 and inv.sessions[0].client == "DISM Package Manager Provider"
    assert ("Package_for_ServicingStack_3800~31bf3856ad364e35~amd64~~19041.3800.1.2",
            "Installed") in inv.sessions[0].packages
    d = inv.to_dict()
    assert d["image"]["type"] == "client" and d["hive"] == "ok"


def test_hive_values_match_regipy(win_wim, tmp_path: Path) -> None:
    import regipy.registry as regipy  # the independent hive reader ([test] extra)
    spec = wf.WinSpec(ubr=4046)
    path = win_wim(spec)
    hive_file = tmp_path / "SOFTWARE"
    hive_file.write_bytes(wf.hive_bytes(spec))
    reg = regipy.RegistryHive(str(hive_file))
    values = {v.name: v.value for v in reg.get_key(
        "\\Microsoft\\Windows NT\\CurrentVersion").iter_values()}
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.ubr == values["UBR"] == 4046
    assert str(inv.build) == values["CurrentBuild"]
    assert inv.edition_id == values["EditionID"]


@pytest.mark.parametrize("kind,expected", [("winre", ImageType.WINRE),
                                           ("setup", ImageType.SETUP),
                                           ("winpe", ImageType.WINPE),
                                           ("server", ImageType.SERVER)])
def test_classification(win_wim, kind: str, expected: ImageType) -> None:
    path = win_wim(wf.WinSpec(kind=kind))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.image_type is expected, inv.type_reason
    assert inv.image_type.is_install is (expected is ImageType.SERVER)


def test_winre_detected_from_tree_without_telling_name(win_wim) -> None:
    path = win_wim(wf.WinSpec(kind="winre", name="Custom boot image"))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.image_type is ImageType.WINRE and "winpeshl.ini" in inv.type_reason


def test_minimal_winpe_reports_what_is_there(win_wim) -> None:
    path = win_wim(wf.WinSpec(kind="winpe", installed=[], sessions=False, hive="missing"))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.image_type is ImageType.WINPE
    assert inv.hive_status == "missing" and inv.packages == () and inv.sessions == ()
    assert inv.build == 19045  # from the WIM XML
    assert any("SOFTWARE hive not found" in p for p in inv.problems)


def test_not_windows(win_wim) -> None:
    path = win_wim(wf.WinSpec(kind="plain"))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.image_type is ImageType.NOT_WINDOWS and not inv.is_windows
    assert inv.hive_status == "not-windows" and "not a Windows image" in inv.problems[0]
    assert "not-windows" in "\n".join(inv.summary())


def test_corrupt_hive_is_a_field_not_a_crash(win_wim) -> None:
    path = win_wim(wf.WinSpec(hive="corrupt"))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.hive_status == "corrupt"
    assert any("unreadable" in p for p in inv.problems)
    assert inv.build == 19045 and inv.netfx3 == "unknown"
    assert all(p.state is None and p.appears_installed and not p.is_installed
               for p in inv.packages)


def test_pending_netfx3_and_pending_xml(win_wim) -> None:
    path = win_wim(wf.WinSpec(netfx3=0x60, pending=True))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.netfx3 == "pending" and inv.pending_operations


def test_resolve_path_is_case_insensitive(win_wim) -> None:
    path = win_wim(wf.WinSpec())
    with wimcore.open(path) as wim:
        img = wim.images[1]
        assert resolve_path(img, "/WINDOWS/system32/CONFIG/software") == \
            "/Windows/System32/config/SOFTWARE"
        assert resolve_path(img, "/Windows/nothing/here") is None
