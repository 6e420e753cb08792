"""The job disk: packages in plan order, the job, the launcher's target; results come back on it.

It is an NTFS volume (no FAT32 4 GiB limit: cumulative updates exceed it) filled
rootless by libwimlib: the files are captured into an in-memory image and applied to the
volume in NTFS-3G mode. Layout::

    wimcore-job.txt        the job (also the disk's marker)
    job.cmd                the Windows batch generated from it
    packages\\NN\\...        step NN's package: the MSU/CAB as downloaded, or the expanded
                           folder (an SSU inside a combined MSU); a cumulative update's
                           folder also holds the checkpoint MSUs it needs, as DISM wants
    meta\\NN\\              step NN's update.mum and catalogs (what an install records)
    sxs\\                   the NetFX3 source, when asked for
    results\\               written by the guest: results.txt, dism-NN.log, packages-T.txt,
                           logs\\ (WinPE's CBS and DISM logs, copied back before shutdown)

Reading the results back captures the volume (without the inputs) into an in-memory
image and extracts only the expected names, each within a size limit: the guest's files
are untrusted.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wimcore import ledger
from wimcore.servicing.planner import PlanEntry, cu_target
from wimcore.servicing.vm.disks import MIB, Disk, format_volume, present
from wimcore.servicing.vm.errors import GuestFailedError, ResultsError
from wimcore.servicing.vm.guestjob import (
    JOB_FILE,
    JOB_SCRIPT,
    LOGS_DIR,
    RESULTS_DIR,
    RESULTS_FILE,
    GuestJob,
    job_script,
    job_text,
)
from wimcore.servicing.vm.results import MAX_RESULTS_BYTES, Results, parse_results

JOB_LABEL = "WIMCOREJOB"
MAX_LOG_BYTES = 256 * MIB
MAX_LIST_BYTES = 16 * MIB
MAX_RESULT_ENTRIES = 512
LOG_TAIL_LINES = 25
RESULTS_ROOM = 256 * MIB
#: WinPE's logs kept beside the report: at most this many files, each cut to its last
#: MAX_KEPT_LOG_BYTES, all together at most MAX_KEPT_LOGS_BYTES; bigger ones are skipped.
MAX_KEPT_LOGS = 64
MAX_KEPT_LOG_BYTES = 32 * MIB
MAX_KEPT_LOGS_BYTES = 128 * MIB
MAX_LOG_SOURCE_BYTES = 4096 * MIB


@dataclass
class StepPayload:
    """Where one add-package step's files go on the job disk."""

    path: str  # the /PackagePath, relative, with backslashes
    meta: str
    items: list[tuple[Path, str]] = field(default_factory=list)  # host file -> volume path


def _folder_of(entry: PlanEntry) -> Path:
    if entry.package is None or not entry.package.path:
        raise ResultsError(f"{entry.key}: the plan has no expanded package folder for it")
    return Path(entry.package.path).parent


def package_payload(number: int, entry: PlanEntry, package_files: Mapping[str, str],
                    by_key: Mapping[str, PlanEntry]) -> StepPayload:
    """The files of one add-package step, chosen as DISM needs them.

    A cumulative update that came as an MSU goes as that MSU, with the MSUs of the
    checkpoint updates it needs in the same folder (DISM finds them there); a package
    that came alone in a CAB goes as that CAB; anything else (the SSU of a combined MSU,
    a folder input) goes as its expanded folder, which DISM accepts as well.
    """
    folder = f"packages/{number:02d}"
    meta = f"meta/{number:02d}"
    payload = StepPayload(path=folder.replace("/", "\\"), meta=meta.replace("/", "\\"))
    source = Path(package_files[entry.key]) if entry.key in package_files else None
    expanded = _folder_of(entry)
    alone = source is not None and sum(1 for v in package_files.values()
                                       if Path(v) == source) == 1
    if (source is not None and source.suffix.lower() == ".msu"
            and entry.kind == "cumulative-update"):
        payload.items.append((source, f"/{folder}/{_safe_name(source.name)}"))
        payload.path += "\\" + _safe_name(source.name)
        for key in entry.after:
            other = package_files.get(key)
            if other and Path(other).suffix.lower() == ".msu" and key in by_key:
                payload.items.append((Path(other), f"/{folder}/{_safe_name(Path(other).name)}"))
    elif source is not None and source.suffix.lower() == ".cab" and alone:
        payload.items.append((source, f"/{folder}/{_safe_name(source.name)}"))
        payload.path += "\\" + _safe_name(source.name)
    else:
        payload.items.append((expanded, f"/{folder}"))
    mum = expanded / "update.mum"
    if not mum.is_file() and entry.package is not None and entry.package.path:
        mum = Path(entry.package.path)
    payload.items.append((mum, f"/{meta}/update.mum"))
    for cat in sorted(expanded.glob("*.cat")):
        payload.items.append((cat, f"/{meta}/{_safe_name(cat.name)}"))
    return payload


def _safe_name(name: str) -> str:
    """A job-disk file name: letters, digits, ``._-`` (the batch quotes paths anyway)."""
    cleaned = re.sub(r"[^A-Za-z0-9._\-]", "_", name)[:120]
    return cleaned or "package"


def step_ubr(entry: PlanEntry) -> int | None:
    """The revision a cumulative update brings (what the post-check expects), else None."""
    if entry.kind != "cumulative-update" or entry.package is None:
        return None
    target = cu_target(entry.package.identity, entry.package.custom_information)
    return target[1] if target else None


def _tree_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def job_disk_bytes(items: Sequence[tuple[Path, str]]) -> int:
    """The job volume's size: its inputs, room for the results, NTFS overhead."""
    data = sum(_tree_bytes(src) for src, _ in items)
    return data + data // 10 + RESULTS_ROOM


def build_job_disk(job: GuestJob, items: Sequence[tuple[Path, str]], folder: Path,
                   signature: int) -> Disk:
    """Format the job volume in ``folder`` and fill it (job, batch, packages, empty results)."""
    import wimcore

    texts = folder / "job-files"
    texts.mkdir(parents=True, exist_ok=True)
    (texts / JOB_FILE).write_bytes(job_text(job).encode("ascii"))
    (texts / JOB_SCRIPT).write_bytes(job_script(job).encode("ascii"))
    (texts / RESULTS_DIR).mkdir(exist_ok=True)
    sources = [(str(texts / JOB_FILE), "/" + JOB_FILE), (str(texts / JOB_SCRIPT), "/" + JOB_SCRIPT),
               (str(texts / RESULTS_DIR), "/" + RESULTS_DIR)]
    sources += [(str(src), target) for src, target in items]
    volume = format_volume(folder / "job.img", job_disk_bytes(items), JOB_LABEL)
    with wimcore.create("none") as wim:
        image = wim.add_image(sources, "wimcore job")
        image.apply(volume)
    return present(volume, signature, "job")


@dataclass
class GuestAnswer:
    """What the guest left on the job disk, parsed: results, log tails, package lists."""

    results: Results
    log_tails: dict[int, str] = field(default_factory=dict)
    package_lists: dict[int, str] = field(default_factory=dict)
    #: WinPE's logs kept (paths relative to the logs folder), and those left out, why.
    logs: list[str] = field(default_factory=list)
    logs_skipped: list[str] = field(default_factory=list)


_CAPTURE_RESULTS_ONLY = ("[ExclusionList]\n\\packages\n\\meta\n\\sxs\n\\" + JOB_FILE + "\n\\"
                         + JOB_SCRIPT + "\n\\System Volume Information\n\\$Recycle.Bin\n")


def _tail(data: bytes, lines: int = LOG_TAIL_LINES) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        text = data.decode("utf-16", "replace")
    else:
        text = data.decode("utf-8", "replace")
    clean = "".join(c if c.isprintable() or c in "\n\t" else "?" for c in text)
    return "\n".join(clean.replace("\r", "").splitlines()[-lines:])[-6000:]


def safe_log_name(name: str) -> str:
    """A guest-given file name made harmless: ``[A-Za-z0-9._-]`` only, no leading dot,
    at most 100 characters (the guest's files are untrusted)."""
    cleaned = re.sub(r"[^A-Za-z0-9._\-]", "_", name)[:100].lstrip(".")
    return cleaned or "_"


def _keep_logs(image: Any, entries: Sequence[Any], dest: Path, answer: GuestAnswer) -> None:
    """Copy the guest's ``results/logs`` files into ``dest`` within the limits, names
    sanitised, nothing followed outside (reparse points and odd entries skipped)."""
    prefix = f"/{RESULTS_DIR}/{LOGS_DIR}/".lower()
    total = 0
    root = dest.resolve()
    for entry in entries:
        if not entry.path.lower().startswith(prefix) or entry.is_dir:
            continue
        rel = entry.path[len(prefix):]
        parts = [safe_log_name(p) for p in rel.split("/") if p]
        shown = "/".join(parts)
        if entry.is_reparse_point or entry.reparse_tag or len(parts) > 3 or not parts:
            answer.logs_skipped.append(f"{shown}: not a plain file")
            continue
        if len(answer.logs) >= MAX_KEPT_LOGS:
            answer.logs_skipped.append(f"{shown}: more than {MAX_KEPT_LOGS} log files")
            continue
        if entry.size > MAX_LOG_SOURCE_BYTES:
            answer.logs_skipped.append(f"{shown}: {entry.size} bytes, too large to read")
            continue
        keep = min(entry.size, MAX_KEPT_LOG_BYTES, MAX_KEPT_LOGS_BYTES - total)
        if keep <= 0 and entry.size:
            answer.logs_skipped.append(f"{shown}: over the {MAX_KEPT_LOGS_BYTES} byte total")
            continue
        out = dest.joinpath(*parts)
        if out.exists() or root not in out.resolve().parents:
            answer.logs_skipped.append(f"{shown}: a duplicate or unsafe name")
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        with image.open(entry.path) as src, open(out, "xb") as fh:
            if entry.size > keep:
                src.seek(entry.size - keep)
                fh.write(b"[wimcore: cut to the last %d bytes of %d]\n" % (keep, entry.size))
            shutil.copyfileobj(src, fh, 1024 * 1024)
        total += keep
        answer.logs.append(shown + (" (cut)" if entry.size > keep else ""))


def read_answer(volume: Path, job: GuestJob, *, logs_to: Path | None = None) -> GuestAnswer:
    """Read the guest's results from the job volume, mount-free and within limits.

    GuestFailedError when there is no results file at all; ResultsError when what is
    there is malformed, oversized, or not a plain file. ``logs_to`` receives WinPE's
    logs from ``results\\logs`` (see :func:`_keep_logs`), when the guest wrote them.
    """
    import wimcore
    from wimcore.errors import PathNotFoundError, WimcoreError

    tmp = Path(ledger.scratch_dir(prefix="wimcore-results-"))
    try:
        config = tmp / "capture.ini"
        config.write_text(_CAPTURE_RESULTS_ONLY)
        with wimcore.create("none") as wim:
            try:
                image = wim.add_image(volume, "results", config=config, ntfs=True)
            except WimcoreError as exc:
                raise ResultsError(f"the job volume cannot be read back: "
                                   f"{str(exc).splitlines()[0]}") from exc
            try:
                entries = [e for e in image.walk("/" + RESULTS_DIR)][1:]
            except PathNotFoundError:
                raise GuestFailedError("the guest powered off without writing results (no "
                                       f"{RESULTS_DIR} folder on the job disk)") from None
            if len(entries) > MAX_RESULT_ENTRIES:
                raise ResultsError(f"{len(entries)} entries in the results folder: not trusted")
            by_name = {e.name.lower(): e for e in entries if e.path.count("/") == 2}
            wanted: dict[str, int] = {RESULTS_FILE: MAX_RESULTS_BYTES}
            wanted.update({f"dism-{s.number:02d}.log": MAX_LOG_BYTES for s in job.steps})
            wanted.update({f"packages-{t.number}.txt": MAX_LIST_BYTES for t in job.targets})
            if RESULTS_FILE not in by_name:
                raise GuestFailedError("the guest powered off without writing "
                                       f"{RESULTS_DIR}\\{RESULTS_FILE}")
            take: list[str] = []
            for name, limit in wanted.items():
                entry = by_name.get(name)
                if entry is None:
                    continue
                if entry.is_dir or entry.is_reparse_point or entry.reparse_tag:
                    raise ResultsError(f"{RESULTS_DIR}\\{entry.name} is not a plain file")
                if entry.size > limit:
                    if name == RESULTS_FILE:
                        raise ResultsError(f"{RESULTS_DIR}\\{RESULTS_FILE} is {entry.size} "
                                           f"bytes (at most {limit}): not trusted")
                    continue
                take.append(entry.path)
            image.extract(take, tmp / "out", no_acls=True)
            out = tmp / "out" / RESULTS_DIR

            def read(name: str) -> bytes | None:
                path = out / by_name[name].name if name in by_name else None
                return path.read_bytes() if path is not None and path.is_file() else None

            data = read(RESULTS_FILE)
            if data is None:
                raise GuestFailedError(f"{RESULTS_DIR}\\{RESULTS_FILE} could not be read back")
            answer = GuestAnswer(parse_results(data, job))
            if logs_to is not None:
                _keep_logs(image, entries, logs_to, answer)
        for step in job.steps:
            log = read(f"dism-{step.number:02d}.log")
            if log is not None:
                answer.log_tails[step.number] = _tail(log)
        for target in job.targets:
            listing = read(f"packages-{target.number}.txt")
            if listing is not None:
                answer.package_lists[target.number] = _tail(listing, 400)
        return answer
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
