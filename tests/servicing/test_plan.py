"""Plan: applicability, installed/superseded, order, warnings, honest states."""

from __future__ import annotations

import json
from pathlib import Path

import winfactory as wf

import wimcore
from wimcore.servicing.image_inventory import inventory
from wimcore.servicing.planner import PlanState, plan


def _states(p) -> dict[str, str]:
    return {f"{e.kb}": e.state.value for e in p.entries}


def test_ssu_before_lcu_and_reasons(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec())
    with wimcore.open(path) as wim:
        p = plan(wim.images[1], [pkgs["lcu"], pkgs["ssu"], pkgs["old_lcu"], pkgs["arm_lcu"],
                                 pkgs["safeos"], pkgs["setupdu"]])
    order = [(e.order, e.kind) for e in p.applicable]
    assert order == [(1, "servicing-stack"), (2, "cumulative-update")]
    by_kb = {e.kb: e for e in p.entries}
    assert by_kb["KB5031356"].state is PlanState.SUPERSEDED
    assert "KB5033372" in by_kb["KB5031356"].reason
    assert by_kb["KB5034999"].state is PlanState.NOT_APPLICABLE
    assert "architecture arm64" in by_kb["KB5034999"].reason
    assert by_kb["KB5034232"].state is PlanState.NOT_APPLICABLE
    assert "only to WinRE" in by_kb["KB5034232"].reason
    assert "KB5034200" not in by_kb  # the Setup update is no package for an image
    assert p.warnings == ()
    text = str(p)
    assert "STATE" in text and "servicing-stack" in text
    doc = json.loads(p.to_json())
    assert doc["entries"][0]["state"] == "applicable" and doc["image"]["type"] == "client"


def test_lcu_without_ssu_warns(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec())
    with wimcore.open(path) as wim:
        p = plan(wim.images[1], [pkgs["lcu"]])
    assert any("without a servicing stack update" in w and "19041.3800.1.2" in w
               for w in p.warnings)


def test_already_installed(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    same = wf.package_folder(tmp_path / "same", wf.lcu("19041.3803.1.7", "KB5033372"))
    with wimcore.open(path) as wim:
        p = plan(wim.images[1], [same])
    assert p.entries[0].state is PlanState.INSTALLED
    assert "already installed (CBS state installed)" in p.entries[0].reason


def test_netfx3_warning(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec(netfx3=0x60))
    with wimcore.open(path) as wim:
        p = plan(wim.images[1], [pkgs["ssu"], pkgs["lcu"]])
    assert any("NetFX3 is pending" in w and "re-applied" in w for w in p.warnings)


def test_non_install_images_need_a_servicing_stack(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec(), wf.WinSpec(kind="winre"), wf.WinSpec(kind="setup"),
                   wf.WinSpec(kind="winpe"))
    with wimcore.open(path) as wim:
        for index, kind in ((2, "winre"), (3, "setup"), (4, "winpe")):
            p = plan(wim.images[index], [pkgs["ssu"], pkgs["lcu"], pkgs["safeos"]])
            states = {e.kind: e.state for e in p.entries}
            assert states["servicing-stack"] is PlanState.NEEDS_SERVICING_STACK
            assert p.applicable == ()
            if kind == "winre":  # WinRE: SSU, then the SafeOS DU instead of the LCU
                assert states["safe-os"] is PlanState.NEEDS_SERVICING_STACK
                assert [e.kind for e in p.to_apply] == ["servicing-stack", "safe-os"]
                assert states["cumulative-update"] is PlanState.NOT_APPLICABLE
                assert "SafeOS" in next(e.reason for e in p.entries
                                        if e.kind == "cumulative-update")
                alone = plan(wim.images[index], [pkgs["ssu"], pkgs["lcu"]])
                assert [e.kind for e in alone.to_apply] == ["servicing-stack",
                                                             "cumulative-update"]
            else:
                assert states["cumulative-update"] is PlanState.NEEDS_SERVICING_STACK
                assert states["safe-os"] is PlanState.NOT_APPLICABLE
            assert all(e.state is not PlanState.INSTALLED for e in p.entries)


def test_not_windows_plan(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec(kind="plain"))
    with wimcore.open(path) as wim:
        p = plan(wim.images[1], [pkgs["lcu"]])
    assert p.entries[0].state is PlanState.NOT_APPLICABLE
    assert "not a Windows image" in p.entries[0].reason


def test_checkpoint_before_delta_lcu(win_wim, tmp_path: Path) -> None:
    """24H2: the delta LCU needs the edition package at the checkpoint revision."""
    path = win_wim(wf.WinSpec(build=26100, ubr=1, installed=wf.win11_24h2_base(1)))
    checkpoint = wf.package_folder(tmp_path / "cp", wf.lcu(
        "26100.1742.1.10", "KB5043080", parent=wf.edition_parent("10.0.26100.1")))
    delta = wf.package_folder(tmp_path / "delta", wf.lcu(
        "26100.3476.1.10", "KB5053598", parent=wf.edition_parent("10.0.26100.1742")))
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    only_delta = plan(inv, [delta])
    assert only_delta.entries[0].state is PlanState.NOT_APPLICABLE
    assert "10.0.26100.1742" in only_delta.entries[0].reason
    both = plan(inv, [delta, checkpoint])
    assert [e.kb for e in both.applicable] == ["KB5043080", "KB5053598"]
    assert both.applicable[1].after == (both.applicable[0].key,)
    assert "checkpoint" in both.applicable[1].reason


def test_older_lcu_in_the_set_is_superseded(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    a = wf.package_folder(tmp_path / "a", wf.lcu("19041.3930.1.5", "KB5034122"))
    b = wf.package_folder(tmp_path / "b", wf.lcu("19041.4046.1.9", "KB5034763"))
    with wimcore.open(path) as wim:
        p = plan(wim.images[1], [a, b])
    by_kb = {e.kb: e for e in p.entries}
    assert by_kb["KB5034763"].state is PlanState.APPLICABLE
    assert by_kb["KB5034122"].state is PlanState.SUPERSEDED
    assert by_kb["KB5034122"].superseded_by == by_kb["KB5034763"].key


def test_plan_from_msu_file_metadata_only(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    msu = wf.msu_file(tmp_path / "update.msu", [wf.ssu(), wf.lcu()])
    with wimcore.open(path) as wim:
        p = plan(wim.images[1], [msu])
    assert [e.kind for e in p.applicable] == ["servicing-stack", "cumulative-update"]
    assert all(e.source == str(msu) for e in p.entries)


def test_history_marks_staged(win_wim, pkgs) -> None:
    path = win_wim(wf.WinSpec())
    with wimcore.open(path) as wim:
        first = plan(wim.images[1], [pkgs["ssu"]])
        again = plan(wim.images[1], [pkgs["ssu"]], staged=[first.entries[0].key])
    assert again.entries[0].state is PlanState.STAGED
    assert "earlier wimcore run" in again.entries[0].reason
