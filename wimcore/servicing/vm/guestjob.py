"""The job a guest runs: the machine-readable job file, the Windows batch, the WinPE launcher.

One job serves every target of a boot. ``wimcore-job.txt`` at the root of the job disk
is both the disk's marker and the job itself, one record a line: ``wait TRIES SECONDS``
(how long to wait for late disks), ``codes ACTION CODE,...`` (the exit codes after which
a target goes on, from :mod:`wimcore.servicing.dism_codes`), ``collect SOURCE DEST`` (the
WinPE logs copied back), ``target N TYPE`` and ``step N TARGET ACTION PATH META KEY KIND
UBR`` (``-`` for an empty field). The Windows side is ``job.cmd``, a batch file generated
from the same job: it waits for each target volume's marker
(``\\$wimcore\\<job id>-target-N.txt``), runs DISM per step with ``/ScratchDir`` and
``TEMP`` on the target and ``/LogPath`` on the job disk, records each exit code in
``results\\results.txt``, copies WinPE's CBS and DISM logs to ``results\\logs`` and
reports progress lines on COM1. The WinPE's ``startnet.cmd`` keeps ``wpeinit`` first,
waits for the job disk and calls ``job.cmd``, then ``wpeutil shutdown``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from wimcore.servicing.dism_codes import SUCCESS_CODES, continuing_codes
from wimcore.servicing.vm.errors import ResultsError

JOB_FILE = "wimcore-job.txt"
JOB_SCRIPT = "job.cmd"
RESULTS_DIR = "results"
RESULTS_FILE = "results.txt"
SCRATCH_DIR = "$wimcore"
JOB_FORMAT = 2
RESULTS_FORMAT = 1
PROGRESS_PREFIX = "wimcore-progress"
#: DISM exit codes that mean success (3010 and 1641: success, a restart is pending).
DISM_SUCCESS = SUCCESS_CODES
#: Waiting for disks that appear late: this many searches, this many seconds apart.
DISK_TRIES = 30
DISK_WAIT_SECONDS = 10
#: The folder of the job disk's results that receives WinPE's own logs.
LOGS_DIR = "logs"
#: WinPE's logs copied back (source on the RAM disk X:, folder under results\logs).
COLLECT: tuple[tuple[str, str], ...] = (
    ("X:\\Windows\\Logs\\CBS", "CBS"),
    ("X:\\Windows\\Logs\\DISM", "DISM"),
    ("X:\\Windows\\Panther\\setupact.log", "Panther"),
    ("X:\\Windows\\setupact.log", "Windows"),
    ("X:\\Windows\\Temp\\wimcore-diskpart.txt", "wimcore"),
)
#: Drive letters searched for markers (A and B are floppies; X is WinPE's RAM disk).
DRIVE_LETTERS = "C D E F G H I J K L M N O P Q R S T U V W Y Z"
#: Disks brought online by diskpart before the search (more than any boot presents).
MAX_DISKS = 8

_TOKEN = re.compile(r"^[A-Za-z0-9._~+\-]{1,200}$")
_JOB_PATH = re.compile(r"^[A-Za-z0-9._\-]{1,100}(\\[A-Za-z0-9._\-]{1,200}){0,4}$")


class Action(enum.Enum):
    """What one step asks DISM to do."""

    ADD_PACKAGE = "add-package"
    CLEANUP = "cleanup"
    CLEANUP_RESETBASE = "cleanup-resetbase"
    ENABLE_NETFX3 = "enable-netfx3"


@dataclass(frozen=True)
class Target:
    """One target volume of the boot: its number, the plan's label and the image type."""

    number: int
    image_type: str
    label: str = ""

    def marker(self, job_id: str) -> str:
        """The marker file's name in ``\\$wimcore`` on the target volume."""
        return f"{job_id}-target-{self.number}.txt"


@dataclass(frozen=True)
class Step:
    """One DISM call: which target, what to do, and (for packages) what it installs.

    ``path`` is relative to the job disk's root, with ``\\`` separators; ``meta`` holds
    the package's ``update.mum`` and catalogs (what an install records), ``key`` its
    identity, ``ubr`` the revision a cumulative update brings.
    """

    number: int
    target: int
    action: Action
    path: str | None = None
    meta: str | None = None
    key: str | None = None
    kind: str | None = None
    kb: str | None = None
    ubr: int | None = None

    @property
    def title(self) -> str:
        """A short human name: ``add-package KB5044284`` or ``cleanup``."""
        if self.action is Action.ADD_PACKAGE:
            return f"add-package {self.kb or self.key or self.path}"
        return str(self.action.value)


@dataclass(frozen=True)
class GuestJob:
    """Everything one boot does, in order."""

    job_id: str
    targets: tuple[Target, ...]
    steps: tuple[Step, ...]

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9a-f]{8,32}", self.job_id):
            raise ValueError(f"job id {self.job_id!r}: 8 to 32 lower-case hex digits")
        numbers = [t.number for t in self.targets]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError("targets are numbered 1..N in order")
        if [s.number for s in self.steps] != list(range(1, len(self.steps) + 1)):
            raise ValueError("steps are numbered 1..N in order")
        for s in self.steps:
            if s.target not in numbers:
                raise ValueError(f"step {s.number}: no target {s.target}")
            for value in (s.key, s.kind):
                if value is not None and not _TOKEN.match(value):
                    raise ValueError(f"step {s.number}: {value!r} is not a plain token")
            for value in (s.path, s.meta):
                if value is not None and (not _JOB_PATH.match(value) or any(
                        part in (".", "..") for part in value.split("\\"))):
                    raise ValueError(f"step {s.number}: {value!r} is not a plain job-disk path")
        for t in self.targets:
            if not _TOKEN.match(t.image_type):
                raise ValueError(f"target {t.number}: {t.image_type!r} is not a plain token")

    def steps_of(self, target: int) -> list[Step]:
        """The steps of one target, in order."""
        return [s for s in self.steps if s.target == target]

    def step(self, number: int) -> Step:
        """The step with this number."""
        return self.steps[number - 1]


# -- the machine-readable job -----------------------------------------------------------------

def job_text(job: GuestJob) -> str:
    """``wimcore-job.txt``: the job, one record a line (CRLF, so both guests read it)."""
    def f(value: object) -> str:
        return "-" if value is None else str(value)

    lines = [f"wimcore-job {JOB_FORMAT}", f"job {job.job_id}",
             f"wait {DISK_TRIES} {DISK_WAIT_SECONDS}"]
    for action in Action:
        lines.append(f"codes {action.value} "
                     + ",".join(str(c) for c in continuing_codes(action.value)))
    lines += [f"collect {source} {LOGS_DIR}\\{dest}" for source, dest in COLLECT]
    lines += [f"target {t.number} {t.image_type}" for t in job.targets]
    lines += [f"step {s.number} {s.target} {s.action.value} {f(s.path)} {f(s.meta)} {f(s.key)} "
              f"{f(s.kind)} {f(s.ubr)}" for s in job.steps]
    lines.append("end")
    return "\r\n".join(lines) + "\r\n"


def parse_job(text: str) -> GuestJob:
    """Read ``wimcore-job.txt`` back (a prepared bundle's job); strict: ResultsError."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) < 3 or lines[0] != f"wimcore-job {JOB_FORMAT}" or lines[-1] != "end":
        raise ResultsError("the job file is not a wimcore job (bad first or last line)")
    head = lines[1].split()
    if len(head) != 2 or head[0] != "job":
        raise ResultsError("the job file has no job id line")
    targets: list[Target] = []
    steps: list[Step] = []

    def opt(value: str) -> str | None:
        return None if value == "-" else value

    try:
        for line in lines[2:-1]:
            words = line.split()
            if words[0] in ("wait", "codes", "collect") and len(words) == 3:
                continue  # the guest's instructions; the host takes them from the code
            if words[0] == "target" and len(words) == 3:
                targets.append(Target(int(words[1]), words[2]))
            elif words[0] == "step" and len(words) == 9:
                ubr = opt(words[8])
                steps.append(Step(int(words[1]), int(words[2]), Action(words[3]),
                                  opt(words[4]), opt(words[5]), opt(words[6]), opt(words[7]),
                                  ubr=int(ubr) if ubr is not None else None))
            else:
                raise ValueError(f"unknown record {line[:80]!r}")
        return GuestJob(head[1], tuple(targets), tuple(steps))
    except ValueError as exc:
        raise ResultsError(f"the job file is malformed: {exc}") from None


# -- the Windows side ---------------------------------------------------------------------------

def _dism_call(job: GuestJob, step: Step) -> str:
    """The DISM command line of one step (``!T<n>!`` is the target's drive)."""
    t = f"!T{step.target}!"
    common = (f"dism /English /Image:{t}\\ /ScratchDir:{t}\\{SCRATCH_DIR}\\scratch "
              f"/LogPath:\"%R%\\dism-{step.number:02d}.log\"")
    if step.action is Action.ADD_PACKAGE:
        return f"{common} /Add-Package /PackagePath:\"%J%\\{step.path}\""
    if step.action is Action.CLEANUP:
        return f"{common} /Cleanup-Image /StartComponentCleanup"
    if step.action is Action.CLEANUP_RESETBASE:
        return f"{common} /Cleanup-Image /StartComponentCleanup /ResetBase"
    return (f"{common} /Enable-Feature /FeatureName:NetFx3 /All /LimitAccess "
            f"/Source:\"%J%\\{step.path}\"")


def _sleep(seconds: int) -> str:
    """A pause in a WinPE batch (WinPE has no timeout.exe; ping of the loopback waits ~1 s
    per echo and needs no network adapter)."""
    return f"ping -n {seconds + 1} 127.0.0.1 >nul"


def job_script(job: GuestJob) -> str:
    """``job.cmd``: DISM per step in order, each exit code recorded, progress on COM1.

    Redirections come first on each line (``>>file echo ...`` would turn a trailing
    digit into a handle number), so each record is written as ``(echo ...)>>file``.
    Each target's marker is waited for (``DISK_TRIES`` searches, ``diskpart`` rescans
    between them); DISM's scratch and ``TEMP``/``TMP`` go to the target volume. After a
    step, the codes of :mod:`wimcore.servicing.dism_codes` decide: a code that goes on
    (success, not applicable, pending until boot) runs the next step; any other ends the
    target (its later steps have no record) and the next target runs. At the end, on
    every path, WinPE's CBS and DISM logs are copied to ``results\\logs``.
    """
    diskpart = (f"diskpart /s X:{DISKPART_IN_WINPE} >>\"%R%\\{LOGS_DIR}\\diskpart-job.txt\" "
                "2>&1")
    out = ["@echo off",
           "setlocal EnableExtensions EnableDelayedExpansion",
           f"rem wimcore job {job.job_id}: generated by wimcore; runs the image's own DISM",
           "set J=%~d0",
           f"set R=%J%\\{RESULTS_DIR}",
           "if not exist \"%R%\" mkdir \"%R%\"",
           f"if not exist \"%R%\\{LOGS_DIR}\" mkdir \"%R%\\{LOGS_DIR}\"",
           f"(echo wimcore-results {RESULTS_FORMAT})>\"%R%\\{RESULTS_FILE}\"",
           f"(echo job {job.job_id})>>\"%R%\\{RESULTS_FILE}\"",
           f"(echo {PROGRESS_PREFIX} job {job.job_id} start)>COM1"]
    for target in job.targets:
        n = target.number
        marker = f"{SCRATCH_DIR}\\{target.marker(job.job_id)}"
        work = f"!T{n}!\\{SCRATCH_DIR}"
        out += ["",
                f"rem target {n} ({target.image_type}): wait for its marker {marker}",
                f"set T{n}=",
                "set TRY=0",
                f":find_{n}",
                f"for %%d in ({DRIVE_LETTERS}) do if exist %%d:\\{marker} set T{n}=%%d:",
                f"if defined T{n} goto :found_{n}",
                "set /a TRY+=1",
                f"if !TRY! geq {DISK_TRIES} goto :missing_{n}",
                f"(echo {PROGRESS_PREFIX} note waiting for target {n})>COM1",
                diskpart,
                _sleep(DISK_WAIT_SECONDS),
                f"goto :find_{n}",
                f":found_{n}",
                f"if not exist {work}\\scratch mkdir {work}\\scratch",
                f"if not exist {work}\\temp mkdir {work}\\temp",
                f"set TEMP={work}\\temp",
                f"set TMP={work}\\temp"]
        steps = job.steps_of(n)
        for step in steps:
            out += [f"rem step {step.number}: {step.title}",
                    f"(echo {PROGRESS_PREFIX} step {step.number} begin)>COM1",
                    "set S=%TIME: =0%",
                    _dism_call(job, step),
                    "set RC=!ERRORLEVEL!",
                    "set E=!TIME: =0!",
                    f"(echo step {step.number} exit !RC! start !S! end !E!)"
                    f">>\"%R%\\{RESULTS_FILE}\"",
                    f"(echo {PROGRESS_PREFIX} step {step.number} end !RC!)>COM1",
                    "set OK=0"]
            out += [f"if !RC! equ {code} set OK=1"
                    for code in continuing_codes(step.action.value)]
            out.append(f"if !OK! equ 0 goto :failed_{n}")
        out += [f"dism /English /Image:!T{n}!\\ /Get-Packages /Format:Table "
                f"> \"%R%\\packages-{n}.txt\" 2>&1",
                f"goto :done_{n}",
                f":missing_{n}",
                f"(echo missing {n})>>\"%R%\\{RESULTS_FILE}\"",
                f"(echo {PROGRESS_PREFIX} missing {n} {marker})>COM1",
                f"goto :done_{n}",
                f":failed_{n}",
                f"(echo {PROGRESS_PREFIX} target {n} failed)>COM1",
                f":done_{n}",
                "set TEMP=X:\\Windows\\Temp",
                "set TMP=X:\\Windows\\Temp"]
    out += ["", "rem WinPE's own logs (on the RAM disk, gone at power-off) back to the job disk"]
    for source, dest in COLLECT:
        folder = f"%R%\\{LOGS_DIR}\\{dest}"
        out += [f"if exist \"{source}\" if not exist \"{folder}\" mkdir \"{folder}\"",
                f"if exist \"{source}\" copy /b /y \"{source}\" \"{folder}\\\" "
                f">>\"%R%\\{LOGS_DIR}\\collect.txt\" 2>&1"]
    out += ["",
            f"(echo end)>>\"%R%\\{RESULTS_FILE}\"",
            f"(echo {PROGRESS_PREFIX} done)>COM1",
            "endlocal",
            "exit /b 0"]
    return "\r\n".join(out) + "\r\n"


def diskpart_script() -> str:
    """Bring every disk online and writable (WinPE may leave extra disks offline).

    Documented diskpart syntax only (``select disk=N``; ``noerr`` where diskpart accepts
    it: ``online disk``, ``attributes disk``). A script run with ``/s`` stops at the first
    error not covered by ``noerr``: the ``select`` of the first disk number that does not
    exist, after every present disk (they are numbered from 0 without gaps) was handled.
    Its output goes to a log that comes back with the results, never to ``nul``.
    """
    out = ["san policy=OnlineAll", "rescan"]
    for n in range(MAX_DISKS):
        out += [f"select disk={n}", "online disk noerr",
                "attributes disk clear readonly noerr"]
    out.append("exit")
    return "\r\n".join(out) + "\r\n"


DISKPART_IN_WINPE = "\\Windows\\System32\\wimcore-disks.txt"
#: Where the launcher's diskpart output goes before the job disk is known (collected).
DISKPART_LOG = "X:\\Windows\\Temp\\wimcore-diskpart.txt"


def startnet_script() -> str:
    """The WinPE launcher: ``wpeinit`` first (as in WinPE's own), wait for the job disk
    (``DISK_TRIES`` searches with diskpart rescans), run the job, shut down."""
    out = ["wpeinit",
           "@echo off",
           "rem wimcore: run the servicing job on the disk that holds wimcore-job.txt",
           "mode COM1 BAUD=115200 PARITY=N DATA=8 STOP=1 >nul 2>&1",
           f"(echo {PROGRESS_PREFIX} boot)>COM1",
           "set WIMCOREJOB=",
           "set WIMCORETRY=0",
           ":wimcore_find",
           f"diskpart /s X:{DISKPART_IN_WINPE} >>{DISKPART_LOG} 2>&1",
           f"for %%d in ({DRIVE_LETTERS}) do if exist %%d:\\{JOB_FILE} set WIMCOREJOB=%%d:",
           "if defined WIMCOREJOB goto :wimcore_run",
           "set /a WIMCORETRY+=1",
           f"if %WIMCORETRY% geq {DISK_TRIES} goto :wimcore_nojob",
           f"(echo {PROGRESS_PREFIX} note waiting for the job disk)>COM1",
           _sleep(DISK_WAIT_SECONDS),
           "goto :wimcore_find",
           ":wimcore_nojob",
           f"(echo {PROGRESS_PREFIX} error no-job-disk {JOB_FILE})>COM1",
           "goto :wimcore_end",
           ":wimcore_run",
           f"call %WIMCOREJOB%\\{JOB_SCRIPT}",
           ":wimcore_end",
           "wpeutil shutdown"]
    return "\r\n".join(out) + "\r\n"
