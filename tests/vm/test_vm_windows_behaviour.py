"""The vm backend meeting WinPE and DISM as they behave, with the stand-in guest (issue 19).

Real QEMU (TCG), real NTFS volumes and hives. The stand-in answers as DISM does where the
issue found the job wrong: 0x800F081E to an older cumulative update, 0x800F0806 to
cleanup when asked, cleanup removing superseded RollupFix packages, disks that appear
late, CBS/DISM logs on WinPE's RAM disk, a guest that stops making progress. Timeouts are
generous: what is tested is the kind of failure, not speed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import wimcore
from tests.vm.standin.build import StandinGuest
from tests.vm.vmfactory import file_digest, standin_backend, tree_digest, wf
from wimcore.servicing import ServicingRunError, inventory, service_wim
from wimcore.servicing.vm import errors as vmerr
from wimcore.servicing.vm import guestjob

WIMCORE = str(Path(sys.executable).with_name("wimcore"))
GUEST_TIMEOUT = 1800.0  # a loaded machine under TCG: the kind of failure matters, not speed
NETFX3_CAB = "microsoft-windows-netfx3-ondemand-package~31bf3856ad364e35~amd64~~.cab"
ROLLUP = "Package_for_RollupFix~31bf3856ad364e35~amd64~~"


def _24h2(tmp_path: Path) -> tuple[Path, list[Path], Path]:
    """A 24H2 image at revision 1, the checkpoint LCU (1742), the target LCU (2033) with
    its SSU, and a NetFX3 source folder (the feature-on-demand CAB and a decoy)."""
    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec(
        build=26100, ubr=1, installed=wf.win11_24h2_base(1))])
    checkpoint = wf.msu_file(tmp_path / "windows11.0-kb5043080-x64.msu", [wf.lcu(
        "26100.1742.1.10", "KB5043080", parent=wf.edition_parent("10.0.26100.1"))])
    ssu = wf.PkgSpec("Package_for_ServicingStack_2032", "26100.2032.1.2", "KB5047621",
                     wf.foundation_parent("10.0.26100.1"))
    target = wf.msu_file(tmp_path / "windows11.0-kb5044284-x64.msu", [ssu, wf.lcu(
        "26100.2033.1.6", "KB5044284", parent=wf.edition_parent("10.0.26100.1742"))])
    sxs = tmp_path / "sxs"
    sxs.mkdir()
    wf.package_cab_file(sxs / NETFX3_CAB, wf.PkgSpec(
        "Microsoft-Windows-NetFx3-OnDemand-Package", "10.0.26100.1", "", ""))
    (sxs / "decoy.bin").write_bytes(b"not for the job disk")
    return wim, [checkpoint, target], sxs


def test_netfx3_then_newest_lcu_and_cleanup_of_checkpoints(standin_guest: StandinGuest,
                                                          tmp_path: Path) -> None:
    """Checkpoint + target LCU, cleanup, NetFX3, the LCU again: only the newest is re-added
    (an older one would answer 0x800F081E), cleanup removes the superseded checkpoint
    and the post-check counts it installed through the newer RollupFix; WinPE's logs
    come back beside the report."""
    wim, msus, sxs = _24h2(tmp_path)
    report = service_wim(wim, msus, report_path=tmp_path / "run.json",
                         work_dir=tmp_path / "work", backend=standin_backend(
                             standin_guest, timeout=GUEST_TIMEOUT, cleanup=True,
                             netfx3_source=str(sxs)))
    [image] = report.images
    outcome = image.outcome
    assert outcome is not None
    assert [d["title"] for d in outcome["details"]["dism"]] == [
        "add-package KB5047621", "add-package KB5043080", "add-package KB5044284", "cleanup",
        "enable-netfx3", "add-package KB5044284"]
    assert image.status == "installed" and report.committed, outcome["reason"]
    by_kb = {p["kb"]: p for p in outcome["packages"]}
    assert "removed by component cleanup" in by_kb["KB5043080"]["verdict"]
    assert "KB5044284" in by_kb["KB5043080"]["verdict"]
    assert by_kb["KB5044284"]["verdict"].startswith("CBS state installed")
    with wimcore.open(wim) as w:
        inv = inventory(w.images[1])
    assert inv.ubr == 2033
    assert inv.package(ROLLUP + "26100.2033.1.6") is not None
    assert inv.package(ROLLUP + "26100.1742.1.10") is None  # removed by the cleanup
    logs = tmp_path / "run.json.guest-logs"
    assert outcome["details"]["guest_logs"]["folder"] == str(logs)
    cbs = (logs / "CBS" / "CBS.log").read_text()
    assert f"Removing superseded package {ROLLUP}26100.1742.1.10" in cbs
    assert (logs / "DISM" / "dism.log").is_file()


def test_codes_waits_and_logs_in_one_boot(standin_guest: StandinGuest, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Four targets, one boot: a volume that appears late is waited for; cleanup's
    0x800F0806 is a warning; 0x800F081E on an LCU nothing covers fails its image and the
    message names the kept logs; a volume that never appears is reported by its marker.
    Hostile log files come back sanitised and capped."""
    monkeypatch.setattr(guestjob, "DISK_TRIES", 8)  # bounded waits, shorter than a real one
    monkeypatch.setattr(guestjob, "DISK_WAIT_SECONDS", 5)
    wim = wf.make_wim(tmp_path / "install.wim", [
        wf.WinSpec(), wf.WinSpec(edition="Enterprise", name="Windows 10 Enterprise"),
        wf.WinSpec(edition="Education", name="Windows 10 Education"),
        wf.WinSpec(edition="ProfessionalWorkstation", name="Windows 10 Pro for Workstations")])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    before = {i: tree_digest(wim, i) for i in (3, 4)}
    backend = standin_backend(standin_guest, timeout=GUEST_TIMEOUT, cleanup=True,
                              modes="hostilelogs,1:late@20,2:pending,3:na@8,4:late@99999")
    report = service_wim(wim, [msu], backend=backend, continue_on_error=True,
                         report_path=tmp_path / "run.json", work_dir=tmp_path / "work")
    late, pending, na, missing = report.images
    assert late.status == "installed", late.outcome and late.outcome["reason"]
    assert pending.status == "installed", pending.outcome and pending.outcome["reason"]
    assert pending.outcome is not None and "0x800F0806" in pending.outcome["reason"]
    assert "pending until the image boots" in pending.outcome["reason"]
    assert [d["meaning"] for d in pending.outcome["details"]["dism"]] == [
        "success", "success", "pending-until-boot"]
    assert na.status == "failed" and na.outcome is not None
    assert "0x800F081E" in na.outcome["reason"] and "no equal or newer" in na.outcome["reason"]
    logs = tmp_path / "run.json.guest-logs"
    assert any("0x800F081E" in e and "image 3" in e for e in report.errors)
    assert missing.status == "failed" and missing.outcome is not None
    assert "-target-4.txt" in missing.outcome["reason"] and "after waiting" in \
        missing.outcome["reason"]
    assert {i: tree_digest(wim, i) for i in (3, 4)} == before
    kept = na.outcome["details"]["guest_logs"]
    assert kept["folder"] == str(logs)
    assert "CBS/CBS.log" in kept["files"]
    # hostile names sanitised, the symbolic link not followed, the huge file cut
    files = sorted(p for p in logs.rglob("*") if p.is_file() or p.is_symlink())
    assert all(not p.is_symlink() and logs in p.resolve().parents for p in files)
    names = {p.name for p in files}
    assert "evil_name_rm_-rf.log" in names and not any(n.startswith(".") for n in names)
    huge = logs / "DISM" / "huge.log"
    assert huge.stat().st_size < 33 * 1024 * 1024 and "DISM/huge.log (cut)" in kept["files"]
    assert not (tmp_path / "etc").exists()


def test_failure_message_names_the_logs(standin_guest: StandinGuest, tmp_path: Path) -> None:
    """A failing step raises DismStepError whose message says where WinPE's logs are."""
    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec()])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    before = file_digest(wim)
    with pytest.raises(ServicingRunError) as info:
        service_wim(wim, [msu], report_path=tmp_path / "r.json", work_dir=tmp_path / "w",
                    backend=standin_backend(standin_guest, timeout=GUEST_TIMEOUT,
                                            modes="1:fail@2@-2146498530"))
    error = info.value.__cause__
    assert isinstance(error, vmerr.DismStepError) and error.exit_code == 0x800F081E
    assert f"WinPE's logs are kept in {tmp_path / 'r.json.guest-logs'}" in str(error)
    assert "CBS/CBS.log" in str(error)
    assert (tmp_path / "r.json.guest-logs" / "CBS" / "CBS.log").is_file()
    assert file_digest(wim) == before


def test_a_job_disk_never_seen_is_named(standin_guest: StandinGuest, tmp_path: Path) -> None:
    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec()])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    before = file_digest(wim)
    with pytest.raises(ServicingRunError) as info:
        service_wim(wim, [msu], work_dir=tmp_path / "w", backend=standin_backend(
            standin_guest, timeout=GUEST_TIMEOUT, modes="nojobdisk"))
    error = info.value.__cause__
    assert isinstance(error, vmerr.GuestFailedError)
    assert "did not find its job disk" in str(error) and "wimcore-job.txt" in str(error)
    assert file_digest(wim) == before


def test_stalled_guest_keeps_finished_targets_only(standin_guest: StandinGuest,
                                                   tmp_path: Path) -> None:
    """The guest stops making progress in the second target: the no-progress timeout
    stops the VM; the first target (all steps done, volume clean) is kept and committed,
    the second discarded, and the report says which."""
    wim = wf.make_wim(tmp_path / "install.wim", [
        wf.WinSpec(), wf.WinSpec(edition="Enterprise", name="Windows 10 Enterprise")])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    second = tree_digest(wim, 2)
    report = service_wim(wim, [msu], continue_on_error=True, work_dir=tmp_path / "w",
                         backend=standin_backend(standin_guest, timeout=GUEST_TIMEOUT,
                                                 stall_timeout=120.0, modes="2:stall@3"))
    first, other = report.images
    assert first.status == "installed" and report.committed
    assert first.outcome is not None and "kept after the VM was stopped" in \
        first.outcome["reason"]
    stopped = first.outcome["details"]["stopped"]
    assert "no progress line for 120 s" in stopped["reason"]
    assert [k["target"] for k in stopped["kept"]] == [1]
    assert [d["target"] for d in stopped["discarded"]] == [2]
    assert other.status == "failed" and other.outcome is not None
    assert other.outcome["reason"].startswith("discarded: the VM was stopped")
    assert any("discarded" in e for e in report.errors)
    with wimcore.open(wim) as w:
        assert inventory(w.images[1]).ubr == 3930
    assert tree_digest(wim, 2) == second


def test_bundle_moves_and_resumes(standin_guest: StandinGuest, tmp_path: Path) -> None:
    """A prepared bundle holds no absolute path of itself; moved (with its WIM) it says
    that no guest ran yet, its qemu.sh (under timeout) runs it, and --resume finishes it
    with the WIM found by fingerprint (--wim when the WIM moved elsewhere)."""
    home = tmp_path / "prepared"
    home.mkdir()
    wim = wf.make_wim(home / "install.wim", [wf.WinSpec()])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    bundle = home / "bundle"
    service_wim(wim, [msu], history=False, backend=standin_backend(
        standin_guest, timeout=GUEST_TIMEOUT, prepare_only=str(bundle)))
    for name in ("bundle.json", "README.txt", "qemu.sh", "job.vmdk", "target-1.vmdk"):
        assert str(bundle) not in (bundle / name).read_text(), name
    readme = (bundle / "README.txt").read_text()
    assert "cp -r --sparse=always" in readme and "tar -cSf" in readme and "rsync -aS" in readme
    script = (bundle / "qemu.sh").read_text()
    assert "exec timeout --signal=KILL" in script and "-cpu max" in script
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["wim"] == "../install.wim" and len(manifest["wim_fingerprint"]) == 64
    # moved together: the WIM stays at the same place relative to the bundle
    moved = tmp_path / "elsewhere"
    shutil.move(str(home), str(moved))
    bundle = moved / "bundle"
    never = subprocess.run([WIMCORE, "package", "install", "--resume", str(bundle)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert never.returncode != 0 and "no guest ran on this bundle" in never.stderr
    subprocess.run(["sh", str(bundle / "qemu.sh")], check=True, timeout=GUEST_TIMEOUT,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # the WIM moves on alone: found only with --wim, by its fingerprint
    third = tmp_path / "third"
    third.mkdir()
    shutil.move(str(moved / "install.wim"), str(third / "renamed.wim"))
    lost = subprocess.run([WIMCORE, "package", "install", "--resume", str(bundle)],
                          capture_output=True, text=True, timeout=600, check=False)
    assert lost.returncode != 0 and "--wim PATH" in lost.stderr
    other = wf.make_wim(tmp_path / "other.wim", [wf.WinSpec(edition="Enterprise")])
    wrong = subprocess.run([WIMCORE, "package", "install", "--resume", str(bundle),
                            "--wim", str(other)], capture_output=True, text=True,
                           timeout=600, check=False)
    assert wrong.returncode != 0 and "other.wim" in wrong.stderr
    done = subprocess.run([WIMCORE, "package", "install", "--resume", str(bundle), "--wim",
                           str(third / "renamed.wim"), "--json"], capture_output=True,
                          text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["images"][0]["status"] == "installed"
    with wimcore.open(third / "renamed.wim") as w:
        assert inventory(w.images[1]).ubr == 3930
