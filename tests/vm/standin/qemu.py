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


def boot(guest: StandinGuest, disks: Sequence[Path], console: Path, *, deadline: float = 120,
         interface: str = "ide", extra_cmdline: str = "", memory_mib: int = 512) -> Boot:
    """Boot with each VMDK descriptor in ``disks`` as one disk on ``interface`` (ide, virtio).

    The guest has no network (``-nic none``) and QEMU exits when it powers off or reboots
    (``-no-reboot``); past ``deadline`` seconds QEMU is killed.
    """
    qemu = shutil.which(QEMU)
    if qemu is None:
        raise FileNotFoundError(f"{QEMU} is not installed (apt-get install qemu-system-x86)")
    args = [qemu, "-accel", "tcg", "-m", str(memory_mib), "-nic", "none", "-no-reboot",
            "-display", "none", "-monitor", "none", "-serial", f"file:{console}"]
    for index, disk in enumerate(disks):
        args += ["-drive", f"file={disk},format=vmdk,if={interface},index={index},media=disk"]
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
