"""Running the VM: finding QEMU, choosing KVM or TCG, the command line, the supervised run.

The guest never has a network (``-nic none``) and never reboots (``-no-reboot``: a reboot
ends QEMU like a power-off). The serial console goes to a file that is read while the VM
runs: progress lines become events, and the callback may cancel. Two timeouts stop the
VM: a total one and one on lack of progress (no progress line for ``stall`` seconds); a
cancel, Ctrl-C or a console flood kills QEMU's whole process group too.

The processor: Windows 11 24H2 needs SSE4.2 and POPCNT, which QEMU's default ``qemu64``
model lacks, so TCG runs ``-cpu max`` (every feature TCG emulates); KVM runs ``-cpu host``
with the Hyper-V enlightenments Windows guests expect (``hv_relaxed`` against
CLOCK_WATCHDOG_TIMEOUT on busy hosts, ``hv_vapic``, ``hv_time``, ``hv_spinlocks``).
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from wimcore.errors import Cancelled
from wimcore.servicing.vm.disks import Disk
from wimcore.servicing.vm.errors import (
    AccelUnavailableError,
    GuestFailedError,
    GuestStalledError,
    GuestTimeoutError,
    QemuNotFoundError,
    TooManyTargetsError,
)
from wimcore.servicing.vm.results import SerialEvent, parse_serial_line

QEMU = "qemu-system-x86_64"
#: Disks hang on AHCI controllers (WinPE's storahci, Linux's ahci): 6 ports each, and
#: two controllers, so a media run (WinRE, two install indexes, Setup, WinPE) and the job
#: disk fit in one boot.
PORTS_PER_CONTROLLER = 6
CONTROLLERS = 2
MAX_PORTS = PORTS_PER_CONTROLLER * CONTROLLERS
INSTALL_HINT = "apt-get install qemu-system-x86"
MAX_SERIAL_BYTES = 64 * 1024 * 1024
POLL_SECONDS = 0.2
KVM_PROBE_SECONDS = 10.0
#: The KVM probe's guest: 64 KiB of firmware whose reset vector writes 0x2a to the
#: isa-debug-exit port; QEMU then exits with (0x2a << 1) | 1.
PROBE_EXIT_PORT = 0xF4
PROBE_EXIT_CODE = (0x2A << 1) | 1
#: ``-cpu`` per accelerator (see the module docstring).
CPU_TCG = "max"
HYPERV_ENLIGHTENMENTS = ("hv_relaxed", "hv_vapic", "hv_time", "hv_spinlocks=0x1fff")
CPU_KVM = ",".join(("host", *HYPERV_ENLIGHTENMENTS))
#: Sizes for a Windows 11 24H2 WinPE running DISM, bounded by what the host has.
DEFAULT_MEMORY_MIB = 8192
DEFAULT_CPUS = 4
HOST_MEMORY_RESERVE_MIB = 1024


@dataclass(frozen=True)
class IsoBoot:
    """Boot a Windows PE ISO from a CD drive on the VM's AHCI controllers (q35, SeaBIOS)."""

    iso: Path
    machine: str = "q35"
    max_disks: int = MAX_PORTS - 1  # one port holds the CD

    def args(self, slot: int) -> list[str]:
        """The QEMU arguments that attach the ISO at AHCI ``slot`` and boot from it."""
        return ["-drive", f"file={drive_path(self.iso)},media=cdrom,if=none,id=cd0,"
                          "readonly=on",
                "-device", f"ide-cd,drive=cd0,bus={ahci_port(slot)},bootindex=0"]


@dataclass(frozen=True)
class KernelBoot:
    """Boot a Linux kernel and initrd directly (the test suite's stand-in guest)."""

    kernel: Path
    initrd: Path
    append: str
    machine: str = "pc"
    max_disks: int = MAX_PORTS

    def args(self, slot: int) -> list[str]:
        """The QEMU arguments that load the kernel, the initrd and the command line."""
        del slot
        return ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", self.append]


BootSource = IsoBoot | KernelBoot


def ahci_port(slot: int) -> str:
    """The bus name of AHCI port ``slot`` (0-based over all controllers)."""
    return f"ahci{slot // PORTS_PER_CONTROLLER}.{slot % PORTS_PER_CONTROLLER}"


def drive_path(path: Path) -> str:
    """A path inside a ``-drive`` option: QEMU's option syntax doubles commas."""
    return str(path).replace(",", ",,")


def find_qemu() -> str:
    """The ``qemu-system-x86_64`` program, or QemuNotFoundError naming the package."""
    found = shutil.which(QEMU)
    if found is None:
        raise QemuNotFoundError(f"{QEMU} not found: install it ({INSTALL_HINT})")
    return found


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def _probe_firmware() -> bytes:
    image = bytearray(b"\xf4" * 65536)  # hlt everywhere
    code = bytes([0xB0, 0x2A,                 # mov al, 0x2a
                  0xE6, PROBE_EXIT_PORT,      # out 0xf4, al
                  0xF4, 0xEB, 0xFD])          # hlt; jmp $-1
    image[-16:-16 + len(code)] = code        # the reset vector, F000:FFF0
    return bytes(image)


_kvm_answer: str | bool | None = False  # False: not probed yet


def kvm_unusable_reason(qemu: str | None = None) -> str | None:
    """None when KVM can run a guest here, else why not (probed once per process).

    ``/dev/kvm`` existing is not enough: the CPU flags must show hardware virtualisation
    (vmx or svm) and a tiny guest must run to its end under ``-accel kvm``. Some hosts
    (nested or ``kvm_pvm`` kernels) offer ``/dev/kvm`` without the flags; normal guests
    hang there, although the tiny probe guest may pass.
    """
    global _kvm_answer
    if _kvm_answer is not False:
        return _kvm_answer  # type: ignore[return-value]
    reason: str | None = None
    if not os.path.exists("/dev/kvm"):
        reason = "/dev/kvm does not exist"
    elif not os.access("/dev/kvm", os.R_OK | os.W_OK):
        reason = "/dev/kvm is not readable and writable by this user"
    elif not _cpu_flags() & {"vmx", "svm"}:
        reason = ("/dev/kvm exists but the CPU flags show no vmx/svm (a nested or kvm_pvm "
                  "host): guests hang under KVM here")
    else:
        reason = _probe(qemu or find_qemu())
    _kvm_answer = reason
    return reason


def _probe(qemu: str) -> str | None:
    with tempfile.TemporaryDirectory(prefix="wimcore-kvm-probe-") as tmp:
        bios = Path(tmp) / "probe.bin"
        bios.write_bytes(_probe_firmware())
        try:
            proc = subprocess.run(
                [qemu, "-accel", "kvm", "-machine", "pc", "-nodefaults", "-display", "none",
                 "-bios", str(bios), "-no-reboot",
                 "-device", f"isa-debug-exit,iobase={PROBE_EXIT_PORT:#x},iosize=0x04"],
                capture_output=True, timeout=KVM_PROBE_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            return f"a probe guest did not finish within {KVM_PROBE_SECONDS:.0f} s under KVM"
        except OSError as exc:
            return f"the KVM probe could not start QEMU ({exc})"
    if proc.returncode != PROBE_EXIT_CODE:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"a probe guest failed under KVM (exit code {proc.returncode}: {tail[0][:200]})"
    return None


@dataclass(frozen=True)
class AccelChoice:
    """The accelerator QEMU will use, and the warning to show (TCG is slow for Windows)."""

    accel: str
    warning: str | None = None


TCG_WARNING = ("KVM is not usable ({why}); running under TCG (software emulation, -cpu max "
               "so that Windows 11 24H2 finds SSE4.2 and POPCNT): a Windows PE guest will be "
               "very slow (hours per update; the no-progress timeout may need raising); use a "
               "KVM host, e.g. with --prepare-only")


def choose_accel(requested: str, qemu: str | None = None) -> AccelChoice:
    """``auto``: KVM when usable, else TCG with a warning; ``kvm`` fails when unusable."""
    if requested == "tcg":
        return AccelChoice("tcg", TCG_WARNING.format(why="TCG was asked for"))
    if requested not in ("auto", "kvm"):
        raise AccelUnavailableError(f"accelerator {requested!r}: choose auto, kvm or tcg")
    why = kvm_unusable_reason(qemu)
    if why is None:
        return AccelChoice("kvm")
    if requested == "kvm":
        raise AccelUnavailableError(f"KVM was asked for but is not usable: {why}")
    return AccelChoice("tcg", TCG_WARNING.format(why=why))


def cpu_option(accel: str) -> str:
    """The ``-cpu`` value for ``accel`` (``kvm`` or ``tcg``)."""
    return CPU_KVM if accel == "kvm" else CPU_TCG


def host_memory_mib() -> int | None:
    """The host's total memory in MiB (``/proc/meminfo``), None when unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def bounded_size(memory_mib: int, cpus: int) -> tuple[int, int, str | None]:
    """``memory_mib`` and ``cpus`` bounded by the host (memory less a reserve, the
    processors this process may use), and a note when either was lowered."""
    notes = []
    host_mem = host_memory_mib()
    mem = memory_mib
    if host_mem is not None and mem > host_mem - HOST_MEMORY_RESERVE_MIB:
        mem = max(256, host_mem - HOST_MEMORY_RESERVE_MIB)
        notes.append(f"memory {memory_mib} MiB lowered to {mem} MiB (the host has "
                     f"{host_mem} MiB)")
    try:
        host_cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        host_cpus = os.cpu_count() or 1
    n = min(cpus, host_cpus)
    if n < cpus:
        notes.append(f"{cpus} vCPUs lowered to {n} (the host offers {host_cpus})")
    return mem, n, "; ".join(notes) or None


def command(boot: BootSource, disks: Sequence[Disk], *, serial: Path, memory_mib: int,
            cpus: int, accel: str, qemu: str = QEMU) -> list[str]:
    """The full QEMU command line: no network, no reboot, no display, serial to a file."""
    if len(disks) > boot.max_disks:
        raise TooManyTargetsError(f"{len(disks)} disks in one boot; the {boot.machine} "
                                  f"machine presents at most {boot.max_disks}")
    if not 256 <= memory_mib <= 1024 * 1024 or not 1 <= cpus <= 256:
        raise AccelUnavailableError(f"memory {memory_mib} MiB / {cpus} CPUs: out of range")
    args = [qemu, "-machine", f"{boot.machine},accel={accel}", "-m", str(memory_mib),
            "-smp", str(cpus), "-nic", "none", "-no-reboot", "-display", "none",
            "-monitor", "none", "-parallel", "none", "-serial", f"file:{serial}"]
    args += ["-cpu", cpu_option(accel)]
    ports = len(disks) + (1 if isinstance(boot, IsoBoot) else 0)
    for controller in range(-(-ports // PORTS_PER_CONTROLLER)):
        args += ["-device", f"ahci,id=ahci{controller}"]
    for index, disk in enumerate(disks):
        args += ["-drive", f"file={drive_path(disk.descriptor)},format=vmdk,if=none,"
                           f"id=disk{index}",
                 "-device", f"ide-hd,drive=disk{index},bus={ahci_port(index)}"]
    args += boot.args(len(disks))
    return args


def shell_script(cmd: Sequence[str], folder: Path, *, timeout: float) -> str:
    """``qemu.sh``: the exact command under ``timeout`` (coreutils), with paths under
    ``folder`` made relative to it, so the bundle can be moved as a whole."""
    base = os.fspath(folder.absolute()) + os.sep

    def rel(word: str) -> str:
        return word.replace(base, "") if base in word else word

    words = [shlex.quote(rel(w)) for w in cmd[1:]]
    groups: list[str] = [QEMU]
    for word in words:  # "-option value" on one line each
        if word.startswith("-") or len(groups) == 1 or not groups[-1].startswith("-") \
                or " " in groups[-1]:
            groups.append(word)
        else:
            groups[-1] += " " + word
    accel = next((w.split("accel=")[1] for w in cmd if "accel=" in w), "?")
    other = "tcg" if accel == "kvm" else "kvm"
    seconds = int(timeout)
    lines = ["#!/bin/sh",
             "# Written by wimcore --prepare-only: boots the servicing VM on this bundle",
             f"# (accel={accel}, -cpu {cpu_option(accel)}). Paths are relative to this",
             "# folder, so the bundle may be moved or copied (keep the .img files sparse:",
             "# see README.txt). The VM is killed after WIMCORE_TIMEOUT seconds (default",
             f"# {seconds}). To run under {other} instead, change accel={accel} to "
             f"accel={other}",
             f"# and -cpu {cpu_option(accel)} to -cpu {cpu_option(other)}. Then finish with:",
             "#   wimcore package install --resume THIS_FOLDER",
             'cd "$(dirname "$0")" || exit 1',
             f'exec timeout --signal=KILL "${{WIMCORE_TIMEOUT:-{seconds}}}" \\',
             "    " + " \\\n    ".join(groups)]
    return "\n".join(lines) + "\n"


@dataclass
class RunResult:
    """How the VM ended: QEMU's exit code, wall time, and the progress events seen."""

    exit_code: int
    seconds: float
    events: list[SerialEvent] = field(default_factory=list)
    step_seconds: dict[int, float] = field(default_factory=dict)
    stderr_tail: str = ""


def run(cmd: Sequence[str], *, serial: Path, timeout: float, log_dir: Path,
        on_event: Callable[[SerialEvent], bool | None] | None = None,
        stall: float | None = None) -> RunResult:
    """Run QEMU until the guest powers off; kill it on timeout, cancel, Ctrl-C or a flood.

    ``timeout`` bounds the whole run; ``stall`` the time without a progress line
    (GuestStalledError, a GuestTimeoutError).

    ``on_event`` gets each progress line; returning False (or raising
    :class:`wimcore.Cancelled`) cancels. Raises GuestTimeoutError, GuestFailedError
    (QEMU failed) or Cancelled / KeyboardInterrupt after killing the VM.
    """
    stderr_path = log_dir / "qemu-stderr.txt"
    serial.touch()
    start = time.monotonic()
    last_progress = start
    result = RunResult(exit_code=-1, seconds=0.0)
    begun: dict[int, float] = {}
    with open(stderr_path, "wb") as err, open(serial, "rb") as console:
        try:
            proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
        except OSError as exc:
            raise GuestFailedError(f"QEMU could not start: {exc}") from exc
        pending = b""
        try:
            while True:
                code = proc.poll()
                chunk = console.read(1024 * 1024)
                if chunk:
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    if len(pending) > 64 * 1024:
                        lines.append(pending)
                        pending = b""
                    for raw in lines:
                        event = parse_serial_line(raw)
                        if event is None:
                            continue
                        now = time.monotonic()
                        last_progress = now
                        if event.step is not None and event.what == "begin":
                            begun[event.step] = now
                        elif event.step is not None and event.what == "end" \
                                and event.step in begun:
                            result.step_seconds[event.step] = now - begun[event.step]
                        result.events.append(event)
                        if on_event is not None and on_event(event) is False:
                            raise Cancelled("cancelled by the progress callback; the VM was "
                                            "stopped and no image was changed")
                if code is not None and not chunk:
                    result.exit_code = code
                    break
                if console.tell() > MAX_SERIAL_BYTES:
                    raise GuestFailedError(f"the guest wrote more than {MAX_SERIAL_BYTES} "
                                           "bytes to its console; it was stopped")
                if time.monotonic() - start > timeout:
                    raise GuestTimeoutError(f"the guest did not power off within "
                                            f"{timeout:.0f} s; the VM was killed")
                if stall is not None and time.monotonic() - last_progress > stall:
                    raise GuestStalledError(f"the guest wrote no progress line for "
                                            f"{stall:.0f} s; the VM was killed")
                if not chunk:
                    time.sleep(POLL_SECONDS)
        except BaseException:
            _kill(proc)
            raise
    result.seconds = time.monotonic() - start
    try:
        result.stderr_tail = stderr_path.read_bytes()[-2000:].decode(errors="replace")
    except OSError:
        result.stderr_tail = ""
    if result.exit_code != 0:
        raise GuestFailedError(f"QEMU exited with code {result.exit_code}: "
                               f"{result.stderr_tail.strip()[-300:]}")
    return result


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill QEMU (its own process group) and reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not block
        pass
