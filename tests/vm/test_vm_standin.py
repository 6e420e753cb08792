"""The vm backend end to end with the stand-in guest: real QEMU (TCG), real volumes and hives.

The stand-in (a Linux kernel + busybox, ``tests/vm/standin``) speaks the job protocol
of the Windows guest: it reads the job disk, records on each NTFS volume what an install
records, and writes the results file. Its behaviour per target is set on its kernel
command line (see ``standin/agent.sh``). Boots are few and each covers several cases.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import wimcore
from tests.vm.standin.build import StandinGuest
from tests.vm.vmfactory import file_digest, standin_backend, tree_digest, wf
from wimcore.errors import Cancelled
from wimcore.progress import ProgressEvent
from wimcore.servicing import ServicingRunError, inventory, service_wim
from wimcore.servicing.vm import errors as vmerr
from wimcore.servicing.vm.bundle import read_bundle

WIMCORE = str(Path(sys.executable).with_name("wimcore"))  # the installed command


def _three_images(tmp_path: Path) -> tuple[Path, Path]:
    wim = wf.make_wim(tmp_path / "install.wim", [
        wf.WinSpec(), wf.WinSpec(edition="Enterprise", name="Windows 10 Enterprise"),
        wf.WinSpec(edition="Education", name="Windows 10 Education")])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    return wim, msu


def _qemu_running(folder: Path) -> list[str]:
    """Command lines of live processes that name ``folder`` (a VM left behind)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "qemu-system" in cmd and str(folder) in cmd:
            found.append(cmd)
    return found


def test_one_boot_installs_catches_a_dism_error_and_a_silent_noop(
        standin_guest: StandinGuest, tmp_path: Path) -> None:
    """Three targets, one boot: installed; DISM error (typed, dism.log quoted); success
    that installs nothing (the post-check). Only the first image changes."""
    wim, msu = _three_images(tmp_path)
    before = {i: tree_digest(wim, i) for i in (2, 3)}
    msu_before = file_digest(msu)
    backend = standin_backend(standin_guest, modes="2:fail@5@-2146498530,3:noop",
                              cleanup=True)
    report = service_wim(wim, [msu], backend=backend, continue_on_error=True,
                         report_path=tmp_path / "run.json", work_dir=tmp_path / "work")
    first, second, third = report.images
    # image 1: every step succeeded and the image's own records show the packages
    assert first.status == "installed" and report.committed
    for p in first.outcome["packages"]:
        assert p["backend"] == "vm" and p["exit_code"] == 0 and p["seconds"] is not None
        assert p["verdict"].startswith("CBS state installed")
    assert first.outcome["packages"][1]["verdict"].endswith("UBR 3930")
    assert [d["title"] for d in first.outcome["details"]["dism"]] == [
        "add-package KB5034224", "add-package KB5034122", "cleanup"]
    assert first.outcome["details"]["capture"].startswith("by template")
    # image 2: DISM failed at its LCU; the typed error quotes dism.log's tail
    assert second.status == "failed" and not second.outcome["changed"]
    lcu = second.outcome["packages"][1]
    assert lcu["exit_code"] == 0x800F081E and "0x800F081E at step 5" in lcu["reason"]
    assert "failed on purpose" in second.outcome["details"]["dism_log_tail"]
    assert any("DISM failed at step 5" in e for e in report.errors)
    # image 3: DISM "succeeded" and nothing was recorded: failed, not installed, not captured
    assert third.status == "failed" and not third.outcome["changed"]
    assert all(p["reason"].startswith("not installed: no CBS record")
               and p["exit_code"] == 0 for p in third.outcome["packages"])
    # the committed WIM: image 1 serviced (XML refreshed, identity kept), 2 and 3 as before
    with wimcore.open(wim) as w:
        inv = inventory(w.images[1])
        assert inv.ubr == 3930 and w.images[1].info.sp_build == 3930
        assert w.images[1].name == "Windows 10 Pro"
        assert any(s.client == "wimcore stand-in (test)" for s in inv.sessions)
        assert not w.images[1].exists("/$wimcore")
    assert {i: tree_digest(wim, i) for i in (2, 3)} == before
    assert file_digest(msu) == msu_before
    saved = json.loads((tmp_path / "run.json").read_text())
    assert saved["backend"] == "vm" and saved["images"][0]["status"] == "installed"
    history = json.loads(wim.with_name(wim.name + ".wimcore-history.json").read_text())
    [entry] = history["runs"][-1]["images"]
    assert entry["index"] == 1 and [p["backend"] for p in entry["installed"]] == ["vm", "vm"]
    assert all(p["exit_code"] == 0 and p["seconds"] is not None and p["verdict"]
               for p in entry["installed"])
    assert not list((tmp_path / "work").glob("wimcore-vm-*"))  # volume files released


def test_prepare_only_then_run_elsewhere_then_resume(standin_guest: StandinGuest,
                                                    tmp_path: Path) -> None:
    """--prepare-only writes a bundle; its qemu.sh boots it; --resume commits the result."""
    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec()])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    bundle = tmp_path / "bundle"
    before = wf.digest(wim)
    report = service_wim(wim, [msu], backend=standin_backend(
        standin_guest, prepare_only=str(bundle)))
    assert report.images[0].status == "not-serviced" and not report.committed
    assert wf.digest(wim) == before
    manifest = read_bundle(bundle)
    assert manifest["targets"][0]["index"] == 1 and (bundle / "qemu.sh").is_file()
    assert not list(tmp_path.glob(".bundle.*"))  # the bundle appeared under its name at once
    # "elsewhere": the bundle's own script, as a user would run it
    subprocess.run(["sh", str(bundle / "qemu.sh")], check=True, timeout=300,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert wf.digest(wim) == before
    proc = subprocess.run([WIMCORE, "package", "install",
                           "--resume", str(bundle), "--json"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, check=False)
    assert proc.returncode == 0, proc.stderr
    done = json.loads(proc.stdout)
    assert done["committed"] and done["images"][0]["status"] == "installed"
    # captured by template (unchanged files keep their stored data); the changed hive
    # came back all the same (the UBR above)
    assert done["images"][0]["outcome"]["details"]["capture"].startswith("by template")
    with wimcore.open(wim) as w:
        assert inventory(w.images[1]).ubr == 3930
    # a second resume refuses: the WIM changed since the bundle was made
    again = subprocess.run([WIMCORE, "package", "install",
                            "--resume", str(bundle)], capture_output=True, text=True,
                           timeout=300, cwd=tmp_path, check=False)
    assert again.returncode != 0 and "changed since the bundle was prepared" in again.stderr


@pytest.mark.parametrize(("mode", "error", "message", "timeout"), [
    ("hang", vmerr.GuestTimeoutError, "did not power off within", 12.0),
    ("noresults", vmerr.GuestFailedError, "without writing", 300.0),
    ("huge", vmerr.ResultsError, "not trusted", 300.0),
])
def test_guest_failures_leave_everything_as_it_was(standin_guest: StandinGuest, tmp_path: Path,
                                                   mode: str, error: type[Exception],
                                                   message: str, timeout: float) -> None:
    """A guest that hangs, writes nothing, or writes a hostile results file: a typed error,
    the VM is gone, the WIM and the package are byte-identical, no volume file remains.
    Only the hang waits for its (short) timeout; the others get a generous one, because a
    boot takes 7-19 s under TCG and what is tested is the kind of failure, not its speed."""
    wim, msu = _three_images(tmp_path)
    before, msu_before = wf.digest(wim), file_digest(msu)
    work = tmp_path / "work"
    with pytest.raises(ServicingRunError) as info:
        service_wim(wim, [msu], images=[1], work_dir=work,
                    backend=standin_backend(standin_guest, modes=mode, timeout=timeout))
    assert isinstance(info.value.__cause__, error)
    assert message in str(info.value.__cause__)
    assert wf.digest(wim) == before and file_digest(msu) == msu_before
    assert not _qemu_running(work)
    assert not list(work.glob("wimcore-vm-*"))


@pytest.mark.parametrize("how", ["callback", "ctrl-c"])
def test_cancel_kills_the_vm_and_changes_nothing(standin_guest: StandinGuest, tmp_path: Path,
                                                 how: str) -> None:
    wim, msu = _three_images(tmp_path)
    before = wf.digest(wim)
    work = tmp_path / "work"

    def on_progress(event: ProgressEvent) -> bool:
        if event.message == "vm guest: boot":
            assert _qemu_running(work)  # the VM is running now
            if how == "ctrl-c":
                raise KeyboardInterrupt
            return False
        return True

    expected: type[BaseException] = Cancelled if how == "callback" else KeyboardInterrupt
    with pytest.raises(expected):
        service_wim(wim, [msu], work_dir=work, progress=on_progress,
                    backend=standin_backend(standin_guest, modes="hang", timeout=120.0))
    assert wf.digest(wim) == before
    assert not _qemu_running(work)
    assert not list(work.glob("wimcore-vm-*"))
