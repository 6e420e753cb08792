"""The backend protocol and the post-check: only the image's own records decide "installed".

Two test backends drive ``service_wim`` with real WIMs and hives: one records in the
image what an install records (package .mum, CBS state 0x70, the new UBR), the other
only claims success. The post-check reads the committed image with the inventory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import winfactory as wf

import wimcore
from tests.servicing.installs import ClaimingBackend, record_install
from wimcore.hive import Hive, ValueType
from wimcore.servicing import inventory, service_wim
from wimcore.servicing.backend import (
    BackendOptions,
    ImageJob,
    StagedBackend,
    choose_backend,
    get_backend,
)
from wimcore.servicing.image_inventory import CURRENT_VERSION


def test_recorded_install_is_installed_and_committed(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec(), wf.WinSpec(edition="Enterprise"))
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    backend = ClaimingBackend(record_install)
    report = service_wim(path, [msu], backend=backend)
    assert backend.calls == [["install.wim:1", "install.wim:2"]]  # one batch: one boot
    assert report.committed and report.backend == "test-claims"
    for img in report.images:
        assert img.status == "installed"
        assert [p["state"] for p in img.outcome["packages"]] == ["installed", "installed"]
        assert all("CBS state installed" in p["verdict"] for p in img.outcome["packages"])
        assert {s.name for s in img.steps} >= {"install", "postcheck"}
    with wimcore.open(path) as wim:
        inv = inventory(wim.images[1])
    assert inv.ubr == 3930 and inv.package(report.images[0].installed[1]["key"]).is_installed


def test_success_without_records_is_failed_not_installed(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec())
    before = wf.digest(path)
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    with pytest.raises(wimcore.servicing.ServicingRunError) as info:
        service_wim(path, [msu], backend=ClaimingBackend(None))
    img = info.value.report.images[0]
    assert img.status == "failed"
    states = {p["state"] for p in img.outcome["packages"]}
    assert states == {"failed"}
    assert all(p["reason"].startswith("not installed: no CBS record")
               for p in img.outcome["packages"])
    assert wf.digest(path) == before  # nothing committed


def test_lcu_without_ubr_is_not_installed(win_wim, tmp_path: Path) -> None:
    """CBS says installed, but the UBR did not move: the LCU did not really land."""
    def cbs_only(job: ImageJob, work: Path) -> None:
        record_install(job, work)
        image = job.wim.images[job.index]
        folder = Path(tempfile.mkdtemp(dir=work))
        image.extract(["/Windows/System32/config/SOFTWARE"], folder)
        hive_path = folder / "Windows/System32/config/SOFTWARE"
        with Hive.open(hive_path, writable=True) as hive:
            hive.set_value(CURRENT_VERSION, "UBR", 3803, ValueType.REG_DWORD)
            hive.commit()
        with image.edit() as edit:
            edit.add(hive_path, "/Windows/System32/config/SOFTWARE")

    path = win_wim(wf.WinSpec())
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    report = service_wim(path, [msu], backend=ClaimingBackend(cbs_only),
                         continue_on_error=True)
    by_kind = {p["kind"]: p for p in report.images[0].outcome["packages"]}
    assert by_kind["servicing-stack"]["state"] == "installed"
    assert by_kind["cumulative-update"]["state"] == "failed"
    assert "UBR not reached" in by_kind["cumulative-update"]["reason"]
    assert report.images[0].status == "partial"


def test_staged_backend_refuses_boot_images_as_not_serviced(win_wim, tmp_path: Path) -> None:
    path = win_wim(wf.WinSpec(kind="winpe"), name="boot.wim")
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    report = service_wim(path, [msu], backend="staged")
    img = report.images[0]
    assert img.status == "not-serviced" and not report.committed
    assert all(p["state"] == "not-serviced" and "never installed by Windows Setup"
               in p["reason"] for p in img.outcome["packages"])


def test_backend_names_and_auto(media: Path) -> None:
    """``auto`` falls back to staged, saying why, when there is no WinPE or when the WinPE's
    boot files are stand-ins (the sample media's): never vm on this machine's inputs."""
    assert isinstance(get_backend("staged"), StagedBackend)
    with pytest.raises(ValueError, match="unknown servicing backend"):
        get_backend("chroot")
    chosen = choose_backend(BackendOptions())
    assert isinstance(chosen, StagedBackend)
    assert chosen.note.startswith("auto: the vm backend cannot run here (no WinPE")
    chosen = choose_backend(BackendOptions(media_root=str(media)))
    assert isinstance(chosen, StagedBackend)
    assert "boot files are not real Windows boot files" in chosen.note
    assert BackendOptions(cleanup=True).to_dict()["cleanup"] is True
