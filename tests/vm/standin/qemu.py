"""Boot a stand-in guest under QEMU (TCG) with disks, a wall-clock deadline and a console log.

A test helper for the stand-in's own tests; the VM backend has its own runner.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.vm.standin.build import StandinGuest, agent_exit_code

QEMU = "qemu-system-x86_64"


@dataclass(frozen=True)
class Boot:
    """What one boot did: QEMU's exit status, the wall time, the console and the agent's code."""

    returncode: int | None  # None: killed at the deadline
    seconds: float
    console: str
    agent_exit: int | None  # from init's END line; None if the guest never got there

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def disk_args(disks: Sequence[Path], interfaces: str | Sequence[str] = "ide") -> list[str]:
    """QEMU options attaching each VMDK descriptor as a disk on its interface: ``ide`` (the
    PIIX controller, ata_piix), ``ahci`` (a SATA controller, ahci) or ``virtio``."""
    kinds = [interfaces] * len(disks) if isinstance(interfaces, str) else list(interfaces)
    if len(kinds) != len(disks) or not set(kinds) <= {"ide", "ahci", "virtio"}:
        raise ValueError(f"one interface of ide, ahci, virtio per disk, not {interfaces!r}")
    args: list[str] = []
    if "ahci" in kinds:
        args += ["-device", "ahci,id=ahci"]
    ide_index = 0
    for number, (disk, kind) in enumerate(zip(disks, kinds, strict=True)):
        source = f"file={disk},format=vmdk,media=disk"
        if kind == "ahci":
            args += ["-drive", f"{source},if=none,id=disk{number}",
                     "-device", f"ide-hd,drive=disk{number},bus=ahci.{number}"]
        elif kind == "ide":
            args += ["-drive", f"{source},if=ide,index={ide_index}"]
            ide_index += 1
        else:
            args += ["-drive", f"{source},if=virtio"]
    return args


def boot(guest: StandinGuest, disks: Sequence[Path], console: Path, *, deadline: float = 120,
         interfaces: str | Sequence[str] = "ide", extra_cmdline: str = "",
         memory_mib: int = 512) -> Boot:
    """Boot with the VMDK descriptors in ``disks`` attached as ``disk_args`` says.

    The guest has no network (``-nic none``) and QEMU exits when it powers off or reboots
    (``-no-reboot``); past ``deadline`` seconds QEMU is killed.
    """
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise FileNotFoundError(f"{QEMU} is not installed (apt-get install qemu-system-x86)")
    args = [qemu, "-accel", "tcg", "-m", str(memory_mib), "-nic", "none", "-no-reboot",
            "-display", "none", "-monitor", "none", "-serial", f"file:{console}"]
    args += disk_args(disks, interfaces)
    args += guest.qemu_args(extra_cmdline)
    started = time.monotonic()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        proc.wait(timeout=deadline)
        returncode: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        returncode = None
    seconds = time.monotonic() - started
    assert proc.stdout is not None
    qemu_output = proc.stdout.read().decode(errors="replace")
    proc.stdout.close()
    text = console.read_text(errors="replace") if console.exists() else ""
    if qemu_output.strip():
        text += f"\n[qemu] {qemu_output.strip()}\n"
    return Boot(returncode, seconds, text, agent_exit_code(text))
