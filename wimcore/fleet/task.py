"""What a fleet task does on a worker: service one image, write its record atomically.

A task is a plain function of a plain :class:`ImageTask`, so any Dask worker with wimcore
installed can run it. It is safe to run twice (Dask retries a task whose worker died):

- the WIM is committed by :func:`~wimcore.servicing.service_wim` (temporary file, then
  rename), so it is either byte-identical or fully serviced, never torn;
- the task's record (``<outputs>/<image id>.json``) is written the same way, and a retry
  that finds it returns it instead of servicing again;
- a retry after a commit whose record was lost plans again and finds the packages staged
  (the image's own answer file lists them): it changes nothing.

Cancel: ``cancel`` names a Dask ``Event``; the task looks at it before it starts and at
each progress point of the run (at most every 0.2 s), and stops through the progress
callback, which leaves the WIM unchanged. This module imports Dask only inside a task.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import ledger
from wimcore.progress import ProgressEvent
from wimcore.servicing.backend import BackendOptions

if TYPE_CHECKING:
    from wimcore.servicing.backend import ServicingBackend
    from wimcore.servicing.vm.qemu import KernelBoot


@dataclass(frozen=True)
class ImageTask:
    """One image to service in a fleet run, and how."""

    run_id: str
    image_id: int
    wim_path: str
    wim_index: int
    packages: tuple[str, ...]
    outputs: str  # the run's folder for records and logs (shared by all workers)
    backend: str = "staged"
    options: BackendOptions = field(default_factory=BackendOptions)
    vm_guest: KernelBoot | None = None  # vm: boot this kernel, not the WinPE ISO (tests)
    continue_on_error: bool = False
    remove_superseded: bool = False
    scratch: str | None = None  # folder for expanded packages (default: the system's temp)
    threads: int = 0  # compression threads (0: one per core)
    cancel: str | None = None  # name of the run's Dask Event
    skip_verify: bool = False  # use the library's packages without checking them again


def record_path(task: ImageTask) -> Path:
    """Where the task's record (its result) goes."""
    return Path(task.outputs) / f"{task.image_id}.json"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from wimcore.atomic import atomic_output

    with atomic_output(path, overwrite=True) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return f"{socket.gethostname()}:{os.getpid()}"


def event_flag(name: str | None) -> Callable[[], bool]:
    """A cheap "was cancel asked?" check backed by the Dask Event ``name`` (throttled)."""
    if name is None:
        return lambda: False
    from distributed import Event

    event = Event(name)
    state = {"last": 0.0, "set": False}

    def is_set() -> bool:
        now = time.monotonic()
        if not state["set"] and now - state["last"] >= 0.2:
            state["last"] = now
            state["set"] = bool(event.is_set())
        return bool(state["set"])
    return is_set


def service_image(task: ImageTask, cancelled: Callable[[], bool] | None = None,
                  after: object = None) -> dict[str, Any]:
    """Service one image of a fleet run; returns (and stores) the record of what it became.

    ``cancelled`` replaces the Dask Event check (in-process use). ``after`` is ignored: the
    runner passes the previous task on the same WIM there, so Dask runs them one by one.
    The record holds the image's state (installed | staged | partial | failed |
    not-serviced | incomplete | nothing-to-do | cancelled), whether the WIM changed, each
    package's outcome (installed | staged | failed | not-serviced, with the post-check's
    verdict), the worker, and the paths of the report and the log. An image the backend
    cannot service (WinPE/WinRE/Setup with the staged backend, no Windows/ tree) is
    ``not-serviced``, unchanged, each planned package ``not-serviced`` with the reason.
    """
    out = record_path(task)
    if out.is_file():
        try:
            earlier: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
            earlier["note"] = "recorded by an earlier attempt of this task"
            return earlier
        except (OSError, ValueError):
            pass  # a record that cannot be read is redone
    check = cancelled or event_flag(task.cancel)
    started = time.time()
    record: dict[str, Any] = {
        "run_id": task.run_id, "image_id": task.image_id, "wim_path": task.wim_path,
        "wim_index": task.wim_index, "worker": _worker_address(), "status": "pending",
        "wim_changed": False, "packages": [], "error": None, "note": None,
        "started": _iso(started), "finished": None, "seconds": 0.0,
        "size_before": _size(task.wim_path), "size_after": None,
        "report_path": None, "log_path": str(Path(task.outputs) / f"{task.image_id}.log")}
    Path(task.outputs).mkdir(parents=True, exist_ok=True)
    if check():
        record["status"] = "cancelled"
        record["note"] = "cancelled before it started: the WIM was not touched"
    else:
        _run(task, record, check)
    record["finished"] = _iso(time.time())
    record["seconds"] = round(time.time() - started, 3)
    record["size_after"] = _size(task.wim_path)
    _write_json(out, record)
    return record


def _run(task: ImageTask, record: dict[str, Any], check: Callable[[], bool]) -> None:
    from wimcore.errors import Cancelled, WimcoreError
    from wimcore.servicing.errors import ImageTypeError, NotWindowsImageError, ServicingRunError
    from wimcore.servicing.report import ServicingReport
    from wimcore.servicing.run import service_wim

    def progress(_event: ProgressEvent) -> bool:
        return not check()

    opts = task.options
    if task.remove_superseded:
        opts = replace(opts, cleanup=True, reset_base=True)
    if task.scratch:
        Path(task.scratch).mkdir(parents=True, exist_ok=True)
    work = Path(ledger.scratch_dir(prefix=f"wimcore-fleet-{task.image_id}-", dir=task.scratch))
    report: ServicingReport | None = None
    try:
        report = service_wim(task.wim_path, list(task.packages), images=[task.wim_index],
                             work_dir=work, continue_on_error=task.continue_on_error,
                             log_path=record["log_path"], progress=progress, history=True,
                             backend=_backend(task, opts), options=opts,
                             threads=task.threads,
                             skip_verify=task.skip_verify)
    except Cancelled as exc:
        report = getattr(exc, "report", None)
        record["status"] = "cancelled"
        record["note"] = "cancelled at a progress point: the WIM was not changed"
    except (ImageTypeError, NotWindowsImageError) as exc:  # the backend refused the image
        report = getattr(exc, "report", None)
        record["status"] = "not-serviced"
        record["note"] = _first_line(exc)
    except ServicingRunError as exc:
        report = exc.report
        record["status"] = "failed"
        record["error"] = str(exc).splitlines()[0]
    except (WimcoreError, OSError) as exc:
        report = getattr(exc, "report", None)
        record["status"] = "failed"
        record["error"] = _first_line(exc)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if report is not None:
        _from_report(record, report, task)
    if report is not None and report.committed and task.remove_superseded:
        _shrink(task, record, progress)


def _backend(task: ImageTask, opts: BackendOptions) -> str | ServicingBackend:
    """The backend by name, or the vm backend booting the task's guest kernel."""
    if task.vm_guest is None:
        return task.backend
    from wimcore.servicing.vm.backend import VmBackend

    return VmBackend(opts, guest=task.vm_guest)


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _from_report(record: dict[str, Any], report: Any, task: ImageTask) -> None:
    """Fill the record from the servicing report, and keep the report beside it."""
    record["wim_changed"] = bool(report.committed)
    img = next((i for i in report.images if i.index == task.wim_index), None)
    cancelled = record["status"] == "cancelled"
    refused = record["status"] == "not-serviced"
    if img is not None:
        if record["error"] is None and img.status != "pending" and not cancelled \
                and not refused:
            record["status"] = img.status
            if any(i is img for i in report.incomplete) and img.status != "not-serviced":
                record["status"] = "incomplete"  # had a plan, did not reach it, no failure
        outcome = img.outcome or {}
        record["packages"] = [{k: p.get(k) for k in ("key", "kb", "kind", "state", "reason",
                                                     "verdict")}
                              for p in outcome.get("packages", [])]
        if refused and not record["packages"]:  # refused before apply: the plan, unapplied
            record["packages"] = [{"key": e["key"], "kb": e.get("kb"), "kind": e.get("kind"),
                                   "state": "not-serviced", "reason": record["note"],
                                   "verdict": None} for e in img.planned]
        if not record["packages"] and img.failed and record["error"] is None:
            record["error"] = "; ".join(f.get("error", "") for f in img.failed)
    elif record["error"] is None and report.errors and not cancelled and not refused:
        record["status"], record["error"] = "failed", report.errors[0]
    if report.errors and record["error"] is None and not cancelled and not refused:
        record["error"] = "; ".join(report.errors)
        if record["status"] in ("staged", "installed", "nothing-to-do"):
            record["status"] = "partial"  # continue-on-error: something else failed
    path = Path(task.outputs) / f"{task.image_id}.report.json"
    _write_json(path, report.to_dict())
    record["report_path"] = str(path)
    record["backend"] = report.backend
    record["backend_note"] = report.backend_note


def _shrink(task: ImageTask, record: dict[str, Any],
            progress: Callable[[ProgressEvent], bool]) -> None:
    """Export the serviced image alone into a new WIM and rename it over the original."""
    import wimcore
    from wimcore.atomic import atomic_output
    from wimcore.errors import Cancelled, WimcoreError

    before = _size(task.wim_path)
    try:
        with atomic_output(task.wim_path, overwrite=True) as tmp:
            wimcore.export(task.wim_path, task.wim_index, tmp, threads=task.threads,
                           progress=progress)
        shrink = f"exported to shrink: {before} -> {_size(task.wim_path)} bytes"
    except Cancelled:
        shrink = "export to shrink cancelled: the image is serviced, not shrunk"
    except (WimcoreError, OSError) as exc:
        shrink = f"export to shrink failed ({exc}): the image is serviced, not shrunk"
    if task.backend == "staged":
        shrink += ("; superseded components are removed only by the image's own servicing "
                   "stack (/Cleanup-Image /ResetBase: the vm backend)")
    record["note"] = "; ".join(x for x in (record.get("note"), shrink) if x)


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _iso(seconds: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).replace(
        microsecond=0).isoformat()


def check_access(read: list[str], write: list[str]) -> list[str]:
    """Run on each worker before a run: what it cannot read or write (empty: all fine)."""
    problems = []
    for p in read:
        if not os.access(p, os.R_OK):
            problems.append(f"cannot read {p}")
    for d in write:
        target = Path(d)
        try:
            target.mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".wimcore-probe-", dir=target)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            problems.append(f"cannot write in {d}: {exc.strerror or exc}")
    return problems


def task_dict(task: ImageTask) -> dict[str, Any]:
    """The task as a JSON-ready dict (for logs and tests)."""
    return asdict(task)
