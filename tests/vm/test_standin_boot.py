"""The stand-in guest boots under QEMU (TCG) and changes NTFS volumes the way the VM backend's
disks present them, and its /init always powers off, even when the agent hangs.

Two boots in all (7-19 s each under TCG, depending on the machine's load): the smoke boot
(two IDE disks, as the VM backend presents them) and the hang boot (an AHCI and a virtio
disk, the other interfaces the guest supports).
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

import wimcore
from tests.vm.conftest import BuildStandin
from tests.vm.standin.disks import make_ntfs_volume, present_as_disk
from tests.vm.standin.qemu import boot
from wimcore.hive import Hive, build_hive

HERE = Path(__file__).resolve().parent
VOLUME_SIZE = 16 << 20
CV = "Microsoft\\Windows NT\\CurrentVersion"
PACKAGE = "Package_for_Standin~31bf3856ad364e35~amd64~~10.0.1.0"
CBS = f"Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\\{PACKAGE}"


def _volume_with(tree: Path, volume: Path, label: str, work: Path) -> Path:
    """An NTFS volume file holding ``tree``, applied by wimcore (NTFS-3G mode), as a disk."""
    wim = work / f"{label}.wim"
    wimcore.capture(tree, wim, label, fsync=False)
    make_ntfs_volume(volume, VOLUME_SIZE, label)
    with wimcore.open(wim) as opened:
        opened.images[1].apply(volume)
    return present_as_disk(volume)


def _ntfscat(volume: Path, path: str) -> bytes:
    exe = shutil.which("ntfscat")
    assert exe is not None
    return subprocess.run([exe, str(volume), path], capture_output=True, check=True).stdout


def test_agent_changes_ntfs_volumes_and_the_guest_powers_off(
        build_standin: BuildStandin, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    guest = build_standin(HERE / "smoke_agent.sh")
    rng = random.Random(12)
    dll = rng.randbytes(70_000)
    values = {"CurrentBuild": "26100", "UBR": 1742, "ProductName": 'Windows "11" Pro\\x',
              "DigitalProductId": rng.randbytes(40), "InstallTime": 133_000_000_000_000_000,
              "PathName": ["C:\\Windows", "D:\\"]}

    target_tree = tmp_path / "target"
    (target_tree / "Windows" / "System32" / "config").mkdir(parents=True)
    (target_tree / "Windows" / "System32" / "config" / "SOFTWARE").write_bytes(
        build_hive({"Microsoft": {"Windows NT": {"CurrentVersion": values},
                                  "Windows": {"CurrentVersion": {}}}}))
    (target_tree / "Windows" / "System32" / "kernel32.dll").write_bytes(dll)
    (target_tree / "wimcore-standin-target.txt").write_text("target\n")
    job_tree = tmp_path / "job"
    job_tree.mkdir()
    (job_tree / "wimcore-standin-job.txt").write_text(
        f"ubr=4242\nnote=written in the guest\npackage={PACKAGE}\n")

    # The job disk first, so that finding volumes by marker (not by order) is what works.
    disks = [_volume_with(job_tree, tmp_path / "job.img", "JOB", tmp_path),
             _volume_with(target_tree, tmp_path / "target.img", "TARGET", tmp_path)]
    result = boot(guest, disks, tmp_path / "console.log", deadline=300)
    with capsys.disabled():
        print(f"\nstand-in boot to power-off: {result.seconds:.1f} s (TCG), initrd "
              f"{guest.initrd.stat().st_size:,} bytes, {'built' if guest.built else 'cached'}"
              f" in {guest.build_seconds:.1f} s")
    assert not result.timed_out, result.console
    assert result.returncode == 0, result.console
    assert result.agent_exit == 0, result.console
    assert "smoke agent: done" in result.console

    # The job volume, read mount-free: the result the agent wrote and left mounted.
    report = _ntfscat(tmp_path / "job.img", "/result.txt").decode()
    # The kernel probes disks asynchronously: which one is sda is not fixed, only that the
    # agent told them apart by their markers.
    lines = report.splitlines()
    assert lines[0] == "status=0" and lines[3] == f"kernel={guest.kernel_release}", report
    found = {lines[1].removeprefix("job="), lines[2].removeprefix("target=")}
    assert found == {"/dev/sda1", "/dev/sdb1"}, report

    # The target volume, captured back by wimcore in NTFS mode as the VM backend will.
    after = tmp_path / "after.wim"
    wimcore.capture(tmp_path / "target.img", after, "after", fsync=False)
    with wimcore.open(after) as wim:
        image = wim.images[1]
        assert image.read_bytes("/Windows/standin-note.txt") == b"written in the guest\n"
        assert image.read_bytes("/Windows/System32/kernel32.dll") == dll
        software = image.read_bytes("/Windows/System32/config/SOFTWARE")
    with Hive.from_bytes(software) as hive:
        cv = hive[CV]
        assert cv.get_value("UBR") == 4242
        for name, value in values.items():  # the other values survive hivexsh's setval
            if name != "UBR":
                assert cv.get_value(name) == value, name
        assert hive[CBS].get_value("CurrentState") == 0x70


HANG_AGENT = """#!/bin/sh
. /lib/standin/functions.sh
for vol in $(standin_volumes); do
    echo "hang agent: $vol $(standin_fstype "$vol")"
done
standin_mount /dev/vda1 /mnt/v rw && echo kept > /mnt/v/kept.txt || exit 1
cd /mnt/v
echo 'hang agent: sleeping'
sleep 100000
"""


def test_a_hanging_agent_is_killed_and_the_guest_still_powers_off(
        build_standin: BuildStandin, tmp_path: Path) -> None:
    """Also: the other disk interfaces /init supports (one AHCI, one virtio disk), and a
    mount kept busy by the killed agent's child is still written back before power-off."""
    agent = tmp_path / "hang.sh"
    agent.write_text(HANG_AGENT)
    guest = build_standin(agent)
    disks = [present_as_disk(make_ntfs_volume(tmp_path / f"{name}.img", 4 << 20, name))
             for name in ("sata", "virtio")]
    # The watchdog's time must cover mounting NTFS through FUSE under TCG on a loaded
    # machine (seconds, not a limit under test): generous, so only a real hang fails.
    agent_timeout = 60
    result = boot(guest, disks, tmp_path / "console.log", deadline=300,
                  interfaces=["ahci", "virtio"], extra_cmdline=f"standin.timeout={agent_timeout}")
    assert not result.timed_out, result.console
    assert "hang agent: /dev/sda1 ntfs" in result.console
    assert "hang agent: /dev/vda1 ntfs" in result.console
    assert "hang agent: sleeping" in result.console, (
        f"the agent did not mount its NTFS volume within standin.timeout={agent_timeout}s "
        f"(FUSE under TCG); console:\n{result.console}")
    assert f"agent killed: standin.timeout={agent_timeout}s passed" in result.console
    assert result.agent_exit == 137, result.console
    assert result.returncode == 0
    # killed while its sleep kept the mount busy: /init still wrote the volume back
    assert _ntfscat(tmp_path / "virtio.img", "/kept.txt") == b"kept\n"
