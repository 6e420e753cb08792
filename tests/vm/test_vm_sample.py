"""The vm backend on the built-in sample media, without booting: the prepared bundle, the
refusals (fake boot files, no QEMU, no room), and ``auto`` never choosing the sample.

The bundle is checked as far as Windows can be checked here: the ISO's El Torito entries
and files (xorriso and pycdlib), the launcher inside its WinPE, the VMDKs (qemu-img), the
target volume (wimlib-imagex captures it back to the same tree) and the job script.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import wimcore
from tests.vm.vmfactory import file_digest, no_qemu_path, wf
from wimcore.media.sample import create_sample
from wimcore.servicing import ServicingRunError, service_wim
from wimcore.servicing.backend import BackendOptions, StagedBackend, choose_backend
from wimcore.servicing.vm import errors as vmerr
from wimcore.servicing.vm import vm_usable
from wimcore.servicing.vm.guestjob import parse_job

WIMCORE = str(Path(sys.executable).with_name("wimcore"))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample media (read-only here)."""
    return create_sample(tmp_path_factory.mktemp("vm-sample") / "media", seed=0)


def _updates(media: Path) -> list[Path]:
    return sorted((media / "updates").glob("*.msu"))


def test_prepare_only_bundle_on_the_sample(sample: Path, tmp_path: Path) -> None:
    """The command of the issue's "done when": a bundle whose parts are each right."""
    bundle = tmp_path / "bundle"
    before = file_digest(sample / "sources/install.wim")
    proc = subprocess.run([WIMCORE, "package", "install", str(sample / "sources/install.wim"),
                           "1", *map(str, _updates(sample)), "--winpe",
                           f"{sample / 'sources/boot.wim'}:1", "--prepare-only", str(bundle)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "nothing is installed yet" in proc.stdout
    assert file_digest(sample / "sources/install.wim") == before
    names = {p.name for p in bundle.iterdir()}
    assert names >= {"boot.iso", "job.vmdk", "job.hdr", "job.img", "target-1.vmdk",
                     "target-1.hdr", "target-1.img", "qemu.sh", "bundle.json", "job.txt",
                     "inputs", "README.txt"}
    # the ISO: BIOS and UEFI El Torito entries, the boot files, the prepared WinPE
    report = subprocess.run(["xorriso", "-indev", str(bundle / "boot.iso"),
                             "-report_el_torito", "plain"], capture_output=True, text=True,
                            check=True).stdout
    assert "1  BIOS  y   none" in report and "2  UEFI  y   none" in report
    assert "/boot/etfsboot.com" in report and "/efi/microsoft/boot/efisys.bin" in report
    import pycdlib

    iso = pycdlib.PyCdlib()
    iso.open(str(bundle / "boot.iso"))
    try:
        files = {p for _root, _dirs, fs in iso.walk(udf_path="/") for p in fs}
        assert {"bootmgr", "bcd", "boot.sdi", "etfsboot.com", "bootx64.efi", "efisys.bin",
                "boot.wim"} <= files
        boot_wim = tmp_path / "boot.wim"
        iso.get_file_from_iso(str(boot_wim), udf_path="/sources/boot.wim")
    finally:
        iso.close()
    with wimcore.open(boot_wim) as wim:
        assert wim.info.image_count == 1 and wim.info.boot_index == 1
        pe = wim.images[1]
        assert pe.name == "Microsoft Windows PE (x64)"
        startnet = pe.read_bytes("/Windows/System32/startnet.cmd").decode().split("\r\n")
        assert startnet[0] == "wpeinit" and "wpeutil shutdown" in startnet
        assert b"startnet.cmd" in pe.read_bytes("/Windows/System32/winpeshl.ini")
        assert b"san policy=OnlineAll" in pe.read_bytes("/Windows/System32/wimcore-disks.txt")
        assert pe.exists("/Windows/System32/dism.exe")
    # the disks: qemu-img reads the descriptors; the volume holds the applied image
    for name in ("job.vmdk", "target-1.vmdk"):
        info = json.loads(subprocess.run(["qemu-img", "info", "--output=json",
                                          str(bundle / name)], capture_output=True,
                                         text=True, check=True).stdout)
        volume = bundle / name.replace(".vmdk", ".img")
        assert info["virtual-size"] == 1024 * 1024 + volume.stat().st_size
    back = tmp_path / "back.wim"
    subprocess.run(["wimlib-imagex", "capture", str(bundle / "target-1.img"), str(back),
                    "back", "--config", str(bundle / "capture.ini")], check=True,
                   capture_output=True)
    with wimcore.open(sample / "sources/install.wim") as a, wimcore.open(back) as b:
        assert {e.path: e.sha1 for e in b.images[1].walk("/")} == {
            e.path: e.sha1 for e in a.images[1].walk("/")}
    # the job: SSU then LCU, from the job file the guest reads
    job = parse_job((bundle / "job.txt").read_text())
    assert [(s.key or "").split("~")[0] for s in job.steps] == [
        "Package_for_ServicingStack_2032", "Package_for_RollupFix"]
    assert job.steps[1].path is not None and job.steps[1].path.endswith(".msu")
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["details"]["boot_files_fake"]  # the sample's boot files are stand-ins
    assert "will not boot" in (bundle / "README.txt").read_text()
    qemu_sh = (bundle / "qemu.sh").read_text()
    assert "-nic none" in qemu_sh and "-no-reboot" in qemu_sh and str(bundle) not in qemu_sh


def test_auto_never_boots_the_sample(sample: Path) -> None:
    options = BackendOptions(media_root=str(sample))
    why = vm_usable(options)
    assert why is not None and "not real Windows boot files" in why and "sample" in why
    chosen = choose_backend(options)
    assert isinstance(chosen, StagedBackend) and "vm backend cannot run here" in chosen.note


def test_vm_refuses_fake_boot_files_before_changing_anything(sample: Path,
                                                             tmp_path: Path) -> None:
    wim = tmp_path / "install.wim"
    wim.write_bytes((sample / "sources/install.wim").read_bytes())
    before = file_digest(wim)
    with pytest.raises(ServicingRunError) as info:
        service_wim(wim, _updates(sample), images=[1], backend="vm", work_dir=tmp_path / "w",
                    options=BackendOptions(media_root=str(sample), accel="tcg"))
    assert isinstance(info.value.__cause__, vmerr.BootFilesError)
    assert "sample" in str(info.value.__cause__)
    assert file_digest(wim) == before
    assert not list((tmp_path / "w").glob("wimcore-vm-*"))


def test_no_qemu_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec()])
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    before = file_digest(wim)
    monkeypatch.setenv("PATH", no_qemu_path(tmp_path))
    with pytest.raises(ServicingRunError) as info:
        service_wim(wim, [msu], backend="vm", options=BackendOptions(winpe=str(wim)))
    assert isinstance(info.value.__cause__, vmerr.QemuNotFoundError)
    assert "apt-get install qemu-system-x86" in str(info.value.__cause__)
    assert file_digest(wim) == before
    proc = subprocess.run([WIMCORE, "package", "install", str(wim), "1", str(msu)],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={"PATH": no_qemu_path(tmp_path), "HOME": str(tmp_path)})
    assert proc.returncode != 0 and "apt-get install qemu-system-x86" in proc.stderr


def test_no_room_for_the_volumes_is_refused_first(sample: Path, tmp_path: Path) -> None:
    """The space needed (image, packages, scratch) is checked before any volume is made."""
    wim = tmp_path / "install.wim"
    wim.write_bytes((sample / "sources/install.wim").read_bytes())
    before = file_digest(wim)
    pkg = wf.package_folder(tmp_path / "ssu", wf.PkgSpec(
        "Package_for_ServicingStack_2032", "26100.2032.1.2", "KB5047621",
        wf.foundation_parent("10.0.26100.1")))
    huge = pkg / "payload.bin"
    with open(huge, "wb") as fh:  # sparse: claims far more than this disk holds
        fh.truncate(8 * 1024 ** 4)
    with pytest.raises(ServicingRunError) as info:
        service_wim(wim, [pkg], images=[1], backend="vm", work_dir=tmp_path / "w",
                    skip_verify=True,  # verification would read the 8 TiB of holes
                    options=BackendOptions(winpe=f"{sample / 'sources/boot.wim'}:1",
                                           prepare_only=str(tmp_path / "bundle")))
    error = info.value.__cause__
    assert isinstance(error, vmerr.NotEnoughSpaceError) and error.needed > error.free
    assert file_digest(wim) == before
    assert not (tmp_path / "bundle").exists() and not list(tmp_path.glob(".bundle.*"))


def test_a_package_failing_its_catalog_check_stops_before_the_vm(tmp_path: Path) -> None:
    """The shared intake verifies packages first: a tampered one never reaches the guest."""
    from wimcore.packages.errors import PackageVerificationError

    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec()])
    before = file_digest(wim)
    ssu = wf.package_folder(tmp_path / "ssu", wf.ssu())
    mum = ssu / "update.mum"
    mum.write_bytes(mum.read_bytes().replace(b"KB5034224", b"KB5034225"))
    with pytest.raises(PackageVerificationError, match=r"update\.mum"):
        service_wim(wim, [ssu], backend="vm", work_dir=tmp_path / "w",
                    options=BackendOptions(winpe=str(wim), accel="tcg"))
    assert file_digest(wim) == before
    assert not list((tmp_path / "w").glob("wimcore-vm-*"))


def test_the_winpe_defaults_to_the_media_of_the_wim(sample: Path, tmp_path: Path) -> None:
    """Without --winpe, a WIM in a media's sources/ takes that media's boot.wim index 1."""
    report = service_wim(sample / "sources/install.wim", _updates(sample), images=[1],
                         backend="vm", history=False, log_path=tmp_path / "run.log",
                         options=BackendOptions(prepare_only=str(tmp_path / "bundle")))
    details = report.images[0].outcome["details"]
    assert details["winpe"]["source"] == f"{sample / 'sources/boot.wim'}:1"
    assert details["winpe"]["dism"].lower() == "/windows/system32/dism.exe"
