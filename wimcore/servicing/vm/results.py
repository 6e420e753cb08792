"""The guest's answers, parsed as untrusted input: the results file and the serial console.

``results.txt`` (on the job disk) is strict: a header naming the job, one record per step
that ran (``step N exit CODE start HH:MM:SS.cc end HH:MM:SS.cc``), ``missing T`` for a
target volume the guest could not find, and ``end``. Anything else, a record for a step
the job does not have, a step twice, an oversized file or line: :class:`ResultsError`.
Serial lines are progress only (never evidence) and are parsed the same careful way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from wimcore.servicing.dism_codes import CodeClass, code_text, outcome
from wimcore.servicing.vm.errors import ResultsError
from wimcore.servicing.vm.guestjob import (
    PROGRESS_PREFIX,
    RESULTS_FORMAT,
    GuestJob,
)

MAX_RESULTS_BYTES = 64 * 1024
MAX_LINE = 200
MAX_SERIAL_LINE = 512
_TIME = r"(\d{1,2}):(\d{2}):(\d{2})(?:[.,](\d{1,3}))?"
_STEP = re.compile(rf"^step (\d{{1,4}}) exit (-?\d{{1,10}}) start {_TIME} end {_TIME}$")
_MISSING = re.compile(r"^missing (\d{1,3})$")


def exit_code_text(code: int) -> str:
    """A DISM exit code as Windows shows it: decimal for small ones, 0x8... for HRESULTs."""
    return code_text(code)


@dataclass(frozen=True)
class StepResult:
    """One step's record: exit code (unsigned 32-bit), what it means for this step kind
    (:mod:`wimcore.servicing.dism_codes`) and the guest's time for it."""

    number: int
    exit_code: int
    seconds: float | None
    code_class: CodeClass = CodeClass.SUCCESS

    @property
    def ok(self) -> bool:
        """True when the target went on after this step (success, not applicable, pending)."""
        return self.code_class.goes_on


@dataclass
class Results:
    """The parsed results file of one job."""

    job_id: str
    steps: dict[int, StepResult] = field(default_factory=dict)
    missing_targets: set[int] = field(default_factory=set)
    complete: bool = False


def _seconds(groups: tuple[str | None, ...]) -> float:
    h, m, s, frac = groups
    if int(h or 0) > 23 or int(m or 0) > 59 or int(s or 0) > 60:
        raise ValueError("not a time of day")
    cents = int(frac) / (10 ** len(frac)) if frac else 0.0
    return int(h or 0) * 3600 + int(m or 0) * 60 + int(s or 0) + cents


def parse_results(data: bytes, job: GuestJob) -> Results:
    """Parse ``results.txt`` for ``job``; ResultsError for anything off."""
    if len(data) > MAX_RESULTS_BYTES:
        raise ResultsError(f"the results file is {len(data)} bytes (at most "
                           f"{MAX_RESULTS_BYTES}): not trusted")
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise ResultsError("the results file is not ASCII text") from None
    lines = [ln.strip() for ln in text.replace("\r\n", "\n").split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines or lines[0] != f"wimcore-results {RESULTS_FORMAT}":
        raise ResultsError("the results file does not start with 'wimcore-results "
                           f"{RESULTS_FORMAT}'")
    if len(lines) < 2 or lines[1] != f"job {job.job_id}":
        raise ResultsError("the results file belongs to another job (job id mismatch)")
    results = Results(job.job_id)
    for line in lines[2:]:
        if len(line) > MAX_LINE:
            raise ResultsError(f"a results line is {len(line)} characters long: not trusted")
        if results.complete:
            raise ResultsError(f"a record after 'end': {line[:60]!r}")
        if line == "end":
            results.complete = True
            continue
        step = _STEP.match(line)
        if step:
            number, code = int(step.group(1)), int(step.group(2))
            if not 1 <= number <= len(job.steps):
                raise ResultsError(f"a result for step {number}, which the job does not have")
            if number in results.steps:
                raise ResultsError(f"step {number} is recorded twice")
            if not -(2 ** 31) <= code <= 2 ** 32 - 1:
                raise ResultsError(f"step {number}: exit code {code} is out of range")
            try:
                start, end = _seconds(step.groups()[2:6]), _seconds(step.groups()[6:10])
            except ValueError:
                raise ResultsError(f"step {number}: the times are not times of day") from None
            took = (end - start) % 86400.0
            results.steps[number] = StepResult(
                number, code & 0xFFFFFFFF, took,
                outcome(job.step(number).action.value, code))
            continue
        missing = _MISSING.match(line)
        if missing:
            target = int(missing.group(1))
            if target not in {t.number for t in job.targets}:
                raise ResultsError(f"'missing {target}': the job has no such target")
            results.missing_targets.add(target)
            continue
        raise ResultsError(f"an unknown record in the results file: {line[:60]!r}")
    _check_order(results, job)
    return results


def _check_order(results: Results, job: GuestJob) -> None:
    """A target's steps run in order and stop at the first failure: anything else lies."""
    for target in job.targets:
        seen_gap = False
        failed = False
        for step in job.steps_of(target.number):
            got = results.steps.get(step.number)
            if got is None:
                seen_gap = True
                continue
            if target.number in results.missing_targets:
                raise ResultsError(f"step {step.number} ran on target {target.number}, "
                                   "which the guest reported missing")
            if seen_gap or failed:
                raise ResultsError(f"step {step.number} has a result although an earlier "
                                   f"step of target {target.number} did not run or failed")
            failed = not got.ok


@dataclass(frozen=True)
class SerialEvent:
    """One progress line of the guest: ``boot``, ``step N begin``, ``step N end CODE``, ..."""

    what: str
    step: int | None = None
    exit_code: int | None = None
    text: str = ""


_SERIAL_STEP = re.compile(rf"^{PROGRESS_PREFIX} step (\d{{1,4}}) (begin|end)(?: (-?\d{{1,10}}))?$")


def parse_serial_line(raw: bytes) -> SerialEvent | None:
    """A progress event from one console line, or None for anything else (kernel noise)."""
    line = raw[:MAX_SERIAL_LINE].decode("ascii", "replace").strip()
    if not line.startswith(PROGRESS_PREFIX + " "):
        return None
    m = _SERIAL_STEP.match(line)
    if m:
        code = int(m.group(3)) & 0xFFFFFFFF if m.group(3) is not None else None
        return SerialEvent(m.group(2), int(m.group(1)), code, line)
    word = line[len(PROGRESS_PREFIX) + 1:].split(" ", 1)[0]
    if word in ("boot", "job", "done", "missing", "target", "error", "note", "logs"):
        return SerialEvent(word, text=line[:200])
    return None
