"""One classification of every input, and verification before use: real cabinets (MSZIP made
here, LZX/Quantum and plain ones from libmspack's test data), real WIM containers."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import wimcore
from wimcore.media.sample_packages import (
    MumSpec,
    ParentRef,
    cab_bytes,
    catalog_bytes,
    component_manifest,
    msu_bytes,
    mum_bytes,
)
from wimcore.packages.classify import CHECKPOINT_KIND, InputClass, classify_inputs
from wimcore.packages.errors import (
    HashMismatchError,
    NotAnUpdateError,
    PackageIncompleteError,
    PackageTamperedError,
)
from wimcore.packages.intake import SETUP_DU_SKIP, prepare_inputs
from wimcore.packages.verify import verify_expanded_package

TOKEN = "31bf3856ad364e35"
COMP = "Microsoft-Windows-Notepad"
KEYFORM = f"amd64_microsoft-windows-notepad_{TOKEN}_10.0.26100.2033_none_0011223344556677"


def lcu_members(*, kb: str = "KB5044284", ubr: int = 2033, parent_rev: int = 1742,
                payload: bytes = b"notepad payload\n" * 300,
                subs: int = 2) -> dict[str, bytes]:
    """An LCU as Microsoft ships it: RollupFix update.mum naming sub-packages, their .mum
    files naming a component, its manifest hashing the payload, a catalog over the manifests."""
    version = f"10.0.26100.{ubr}"
    sub_specs = [(f"Package_{n}_for_{kb}", version) for n in range(1, subs + 1)]
    top = mum_bytes(MumSpec(name="Package_for_RollupFix", version=f"26100.{ubr}.1.6", kb=kb,
                            release_type="Security Update", packages=sub_specs,
                            parent=ParentRef(("Microsoft-Windows-ProfessionalEdition",),
                                             f"10.0.26100.{parent_rev}"),
                            psfx_version=version))
    members = {"update.mum": top}
    for name, ver in sub_specs:
        members[f"{name}~{TOKEN}~amd64~~{ver}.mum"] = mum_bytes(MumSpec(
            name=name, version=ver, kb=kb, components=[(COMP, "10.0.26100.2033")]))
    manifest = component_manifest(COMP, "10.0.26100.2033", {"notepad.exe": payload})
    members[f"{KEYFORM}.manifest"] = manifest
    members["update.cat"] = catalog_bytes({k: v for k, v in members.items()})
    members[f"{KEYFORM}\\notepad.exe"] = payload
    return members


def write_folder(root: Path, members: dict[str, bytes]) -> Path:
    for name, data in members.items():
        path = root / name.replace("\\", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def test_good_package_is_fully_verified(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "lcu", lcu_members())
    result = verify_expanded_package(folder)
    assert result.state == "verified" and not result.unverified
    assert f"{KEYFORM}/notepad.exe" in result.verified  # by its manifest hash
    assert "update.mum" in result.verified and result.sub_packages == 2


def test_payload_changed_after_download_is_refused(tmp_path: Path) -> None:
    """The bytes in the CAB changed; its catalog and manifest did not: a typed error."""
    members = lcu_members()
    good_manifest = members[f"{KEYFORM}.manifest"]
    members[f"{KEYFORM}\\notepad.exe"] = b"tampered!" + b"\n" * 4000
    assert members[f"{KEYFORM}.manifest"] == good_manifest
    cab = tmp_path / "Windows11.0-KB5044284-x64.cab"
    cab.write_bytes(cab_bytes(members))
    with pytest.raises(PackageTamperedError) as err:
        prepare_inputs([cab], tmp_path / "work")
    assert err.value.file == f"{KEYFORM}/notepad.exe" and "notepad.exe" in str(err.value)
    assert isinstance(err.value, HashMismatchError)
    # a changed manifest is caught by the catalog
    members = lcu_members()
    members[f"{KEYFORM}.manifest"] = members[f"{KEYFORM}.manifest"].replace(b"Notepad",
                                                                            b"NotePad")
    folder = write_folder(tmp_path / "m", members)
    with pytest.raises(PackageTamperedError, match=r"\.manifest: its sha256 hash"):
        verify_expanded_package(folder)


def test_rollup_mum_without_its_parts_is_refused(tmp_path: Path) -> None:
    """A folder holding only a RollupFix update.mum: sub-packages and payload are missing."""
    only = tmp_path / "only"
    write_folder(only, {"update.mum": lcu_members()["update.mum"]})
    with pytest.raises(PackageIncompleteError) as err:
        prepare_inputs([only], tmp_path / "work")
    assert err.value.file == f"Package_1_for_KB5044284~{TOKEN}~amd64~~10.0.26100.2033.mum"
    members = lcu_members()
    del members[f"{KEYFORM}\\notepad.exe"]  # the payload a manifest names
    with pytest.raises(PackageIncompleteError, match=r"names the file notepad\.exe"):
        verify_expanded_package(write_folder(tmp_path / "nopayload", members))
    members = lcu_members()
    del members[f"{KEYFORM}.manifest"]
    with pytest.raises(PackageIncompleteError, match="component Microsoft-Windows-Notepad"):
        verify_expanded_package(write_folder(tmp_path / "nomanifest", members))


def test_what_cannot_be_checked_is_listed(tmp_path: Path) -> None:
    members = lcu_members()
    members["extra/readme.txt"] = b"not in any catalog"
    result = verify_expanded_package(write_folder(tmp_path / "x", members))
    assert result.state == "partly-verified"
    assert [(u.path, u.reason) for u in result.unverified] == [
        ("extra/readme.txt", "no catalog entry and no manifest hash")]
    assert result.to_dict()["signatures"] == "not verified (no trust store)"


def test_classification_of_every_kind_of_input(shared_cabs: Path, tmp_path: Path) -> None:
    updates = tmp_path / "updates"
    updates.mkdir()
    ssu = mum_bytes(MumSpec(name="Package_for_ServicingStack_2032", version="26100.2032.1.2",
                            kb="KB5047621"))
    (updates / "ssu.cab").write_bytes(cab_bytes({"update.mum": ssu}))
    (updates / "ssu.psf").write_bytes(b"PSF payload")
    checkpoint = lcu_members(kb="KB5043080", ubr=1742, parent_rev=1)
    delta = lcu_members(kb="KB5044284", ubr=2033, parent_rev=1742)
    (updates / "Windows11.0-KB5043080-x64.msu").write_bytes(msu_bytes(
        "KB5043080", "Windows11.0-KB5043080-x64.cab", cab_bytes(checkpoint),
        MumSpec(name="Package_for_RollupFix", version="26100.1742.1.6", kb="KB5043080"),
        package_type="Security Update", applies_to="Security Update"))
    write_folder(updates / "expanded-lcu", delta)
    shutil.copy(shared_cabs / "normal_2files_2folders.cab", updates / "unrelated.cab")
    shutil.copy(shared_cabs / "mszip_lzx_qtm.cab", updates / "lzx.cab")
    (updates / "README.txt").write_text("monthly updates\n")
    container = tmp_path / "tree"
    write_folder(container, delta)
    wimcore.capture(container, updates / "Windows11.0-KB5044999-x64.wim", "pkg",
                    compression="none")
    wimcore.capture(tmp_path / "tree" / KEYFORM, updates / "plain.wim", "x",
                    compression="none")
    rows = {r.path.name: r for r in classify_inputs([updates])}
    cls = {name: r.input_class for name, r in rows.items()}
    assert cls == {
        "ssu.cab": InputClass.SERVICING_PACKAGE, "ssu.psf": InputClass.COMPANION,
        "Windows11.0-KB5043080-x64.msu": InputClass.SERVICING_PACKAGE,
        "expanded-lcu": InputClass.SERVICING_PACKAGE,
        "Windows11.0-KB5044999-x64.wim": InputClass.SERVICING_PACKAGE,
        "unrelated.cab": InputClass.NOT_AN_UPDATE, "lzx.cab": InputClass.NOT_AN_UPDATE,
        "README.txt": InputClass.NOT_AN_UPDATE, "plain.wim": InputClass.NOT_AN_UPDATE}
    assert rows["ssu.cab"].kinds == ("servicing-stack",)
    assert rows["Windows11.0-KB5043080-x64.msu"].kinds == (CHECKPOINT_KIND,)
    assert rows["expanded-lcu"].kinds == ("cumulative-update",)
    assert "no media sources/" in rows["unrelated.cab"].reason
    assert "mszip1.txt" in rows["unrelated.cab"].reason
    assert "not a cabinet" in rows["README.txt"].reason
    assert "without update.mum" in rows["plain.wim"].reason


def test_setup_du_needs_positive_evidence(shared_cabs: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in ("setup.exe", "setuphost.exe", "SetupCore.dll"):
        (sources / name).write_bytes(b"MZ")
    du = tmp_path / "du.cab"
    du.write_bytes(cab_bytes({"setuphost.exe": b"MZ new", "SetupCore.dll": b"MZ new",
                              "appraiserres.dll": b"MZ"}))
    unrelated = shared_cabs / "normal_2files_2folders.cab"
    lzx = shared_cabs / "mszip_lzx_qtm.cab"
    rows = classify_inputs([du, unrelated], sources=sources)
    assert [r.input_class for r in rows] == [InputClass.SETUP_DYNAMIC_UPDATE,
                                             InputClass.NOT_AN_UPDATE]
    assert "2 of its 3 files are Setup files" in rows[0].reason
    assert "0 of 4 match names in the media's sources/" in rows[1].reason
    named = classify_inputs([lzx], setup_du=[lzx])[0]
    assert named.input_class is InputClass.SETUP_DYNAMIC_UPDATE and "--setup-du" in named.reason
    # plan/stage: skipped with its reason; the media routine: extracted for sources/
    intake = prepare_inputs([du], tmp_path / "w1", sources=sources)
    assert (intake.records[0].action, intake.records[0].detail) == ("skip", SETUP_DU_SKIP)
    intake = prepare_inputs([lzx], tmp_path / "w2", setup_du=[lzx], keep_setup_du=True)
    (setup,) = intake.setup_dus
    assert sorted(setup.files) == ["lzx.txt", "mszip.txt", "qtm.txt"]
    assert all(u.reason.startswith("a Setup Dynamic Update cabinet carries no catalog")
               for u in intake.records[0].verification[0].unverified)


def test_folder_with_a_non_update_is_refused(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "updates" / "lcu", lcu_members())
    (folder.parent / "README.txt").write_text("read me")
    with pytest.raises(NotAnUpdateError) as err:
        prepare_inputs([folder.parent], tmp_path / "w")
    assert err.value.path == str(folder.parent / "README.txt")
    failed = []
    intake = prepare_inputs([folder.parent], tmp_path / "w2",
                            on_error=lambda rec, exc: failed.append(rec.input.path.name))
    assert failed == ["README.txt"]
    assert [(r.input.path.name, r.action) for r in intake.records] == [
        ("README.txt", "refuse"), ("lcu", "use")]
    assert len(intake.packages) == 1


def test_skip_verify_uses_a_tampered_package_loudly(tmp_path: Path) -> None:
    members = lcu_members()
    members[f"{KEYFORM}\\notepad.exe"] = b"changed"
    folder = write_folder(tmp_path / "p", members)
    intake = prepare_inputs([folder], tmp_path / "w", skip_verify=True)
    assert intake.packages and intake.skip_verify
    assert intake.records[0].verification[0].state == "skipped"
    assert any("--skip-verify" in w for w in intake.warnings)
    assert hashlib.sha256(b"changed").digest() != b""  # the file was used as it is
