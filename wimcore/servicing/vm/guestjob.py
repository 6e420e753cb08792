"""The job a guest runs: the machine-readable job file, the Windows batch, the WinPE launcher.

One job serves every target of a boot. ``wimcore-job.txt`` at the root of the job disk
is both the disk's marker and the job itself, one record a line (``step N TARGET ACTION
PATH META KEY KIND UBR``, ``-`` for an empty field). The Windows side is ``job.cmd``, a
batch file generated from the same job: it finds each target volume by its marker
(``\\$wimcore\\<job id>-target-N.txt``), runs DISM per step with ``/ScratchDir`` on the
target and ``/LogPath`` on the job disk, and records each exit code in
``results\\results.txt``; it reports progress lines on COM1. The WinPE's
``startnet.cmd`` keeps ``wpeinit`` first, finds the job disk and calls ``job.cmd``, then
``wpeutil shutdown``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from wimcore.servicing.vm.errors import ResultsError

JOB_FILE = "wimcore-job.txt"
JOB_SCRIPT = "job.cmd"
RESULTS_DIR = "results"
RESULTS_FILE = "results.txt"
SCRATCH_DIR = "$wimcore"
JOB_FORMAT = 1
RESULTS_FORMAT = 1
PROGRESS_PREFIX = "wimcore-progress"
#: DISM exit codes that mean success (3010 and 1641: success, a restart is pending).
DISM_SUCCESS = frozenset({0, 3010, 1641})
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

    lines = [f"wimcore-job {JOB_FORMAT}", f"job {job.job_id}"]
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


def job_script(job: GuestJob) -> str:
    """``job.cmd``: DISM per step in order, each exit code recorded, progress on COM1.

    Redirections come first on each line (``>>file echo ...`` would turn a trailing
    digit into a handle number), so each record is written as ``(echo ...)>>file``.
    A failed step (exit code other than 0, 3010, 1641) ends its target: the target's
    later steps do not run (they have no record), and the next target runs.
    """
    out = ["@echo off",
           "setlocal EnableExtensions EnableDelayedExpansion",
           f"rem wimcore job {job.job_id}: generated by wimcore; runs the image's own DISM",
           "set J=%~d0",
           f"set R=%J%\\{RESULTS_DIR}",
           "if not exist \"%R%\" mkdir \"%R%\"",
           f"(echo wimcore-results {RESULTS_FORMAT})>\"%R%\\{RESULTS_FILE}\"",
           f"(echo job {job.job_id})>>\"%R%\\{RESULTS_FILE}\"",
           f"(echo {PROGRESS_PREFIX} job {job.job_id} start)>COM1"]
    for target in job.targets:
        n = target.number
        marker = f"{SCRATCH_DIR}\\{target.marker(job.job_id)}"
        out += ["",
                f"rem target {n} ({target.image_type})",
                f"set T{n}=",
                f"for %%d in ({DRIVE_LETTERS}) do if exist %%d:\\{marker} set T{n}=%%d:",
                f"if not defined T{n} goto :missing_{n}",
                f"if not exist !T{n}!\\{SCRATCH_DIR}\\scratch mkdir !T{n}!\\{SCRATCH_DIR}\\scratch"]
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
                    "set OK=0",
                    "if !RC! equ 0 set OK=1",
                    "if !RC! equ 3010 set OK=1",
                    "if !RC! equ 1641 set OK=1",
                    f"if !OK! equ 0 goto :failed_{n}"]
        out += [f"dism /English /Image:!T{n}!\\ /Get-Packages /Format:Table "
                f"> \"%R%\\packages-{n}.txt\" 2>&1",
                f"goto :done_{n}",
                f":missing_{n}",
                f"(echo missing {n})>>\"%R%\\{RESULTS_FILE}\"",
                f"(echo {PROGRESS_PREFIX} missing {n})>COM1",
                f"goto :done_{n}",
                f":failed_{n}",
                f"(echo {PROGRESS_PREFIX} target {n} failed)>COM1",
                f":done_{n}"]
    out += ["",
            f"(echo end)>>\"%R%\\{RESULTS_FILE}\"",
            f"(echo {PROGRESS_PREFIX} done)>COM1",
            "endlocal",
            "exit /b 0"]
    return "\r\n".join(out) + "\r\n"


def diskpart_script() -> str:
    """Bring every disk online and writable (WinPE may leave extra disks offline)."""
    out = ["san policy=OnlineAll", "rescan"]
    for n in range(MAX_DISKS):
        out += [f"select disk={n} noerr", "online disk noerr",
                "attributes disk clear readonly noerr"]
    out.append("rescan")
    return "\r\n".join(out) + "\r\n"


DISKPART_IN_WINPE = "\\Windows\\System32\\wimcore-disks.txt"


def startnet_script() -> str:
    """The WinPE launcher: ``wpeinit`` first (as in WinPE's own), find the job disk, run
    the job, shut down."""
    out = ["wpeinit",
           "@echo off",
           "rem wimcore: run the servicing job on the disk that holds wimcore-job.txt",
           "mode COM1 BAUD=115200 PARITY=N DATA=8 STOP=1 >nul 2>&1",
           f"(echo {PROGRESS_PREFIX} boot)>COM1",
           f"diskpart /s X:{DISKPART_IN_WINPE} >nul 2>&1",
           "set WIMCOREJOB=",
           f"for %%d in ({DRIVE_LETTERS}) do if exist %%d:\\{JOB_FILE} set WIMCOREJOB=%%d:",
           f"if not defined WIMCOREJOB (echo {PROGRESS_PREFIX} error no-job-disk)>COM1",
           f"if defined WIMCOREJOB call %WIMCOREJOB%\\{JOB_SCRIPT}",
           "wpeutil shutdown"]
    return "\r\n".join(out) + "\r\n"
