"""A whole servicing run on one WIM: expand, inventory, plan, apply, commit once.

::

    service_wim(wim_path, packages, *, images="all", work_dir=None, first_boot=False,
                continue_on_error=False, report_path=None, log_path=None, progress=None,
                history=True) -> ServicingReport

A run commits the WIM once, at the end, and only when something was staged; a failure
(without ``continue_on_error``) or a cancel leaves the WIM byte-identical.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import wimcore
from wimcore.errors import Cancelled, WimcoreError
from wimcore.packages.model import Package, load_package
from wimcore.progress import ProgressCallback, ProgressEvent, ProgressKind
from wimcore.servicing.backend import (
    BackendOptions,
    ImageJob,
    ImageOutcome,
    PackageResult,
    ServicingBackend,
    get_backend,
    not_serviced,
    postcheck,
)
from wimcore.servicing.errors import (
    HistoryError,
    PackageNotExpandedError,
    ServicingError,
    ServicingRunError,
)
from wimcore.servicing.history import History, load_history, sidecar_path
from wimcore.servicing.image_inventory import (
    inventory,
)
from wimcore.servicing.planner import PlanState, plan
from wimcore.servicing.report import (
    ImageReport,
    PackageReport,
    ServicingLog,
    ServicingReport,
    StepTiming,
)

__all__ = ["service_wim"]

ImageSelection = str | int | Sequence[int | str]
PackagePath = str | os.PathLike[str]


class _Abort(Exception):
    """Internal: stop the run (the original error is the cause)."""


class _Run:
    """One servicing run: report, log, progress and the stop-or-continue policy."""

    def __init__(self, report: ServicingReport, log: ServicingLog,
                 progress: ProgressCallback | None, continue_on_error: bool) -> None:
        self.report = report
        self.log = log
        self.progress = progress
        self.continue_on_error = continue_on_error

    def tell(self, message: str) -> None:
        """Log a step and tell the progress callback (which may cancel)."""
        self.log.write(message)
        if self.progress is not None and self.progress(
                ProgressEvent(ProgressKind.STEP, message=message)) is False:
            raise Cancelled("cancelled by the progress callback; the WIM was not changed")

    @contextmanager
    def step(self, name: str, into: list[StepTiming]) -> Iterator[StepTiming]:
        """Time a step and record it (failed steps too)."""
        timing = StepTiming(name, 0.0)
        start = time.monotonic()
        try:
            yield timing
        except BaseException as exc:
            timing.ok = False
            timing.detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise
        finally:
            timing.seconds = time.monotonic() - start
            into.append(timing)

    def failed(self, what: str, exc: BaseException) -> None:
        """Record a failure; stop the run unless continue_on_error (cancels always stop)."""
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        self.log.write(f"{what}: {type(exc).__name__}: {text}", level="Error")
        if isinstance(exc, (Cancelled, KeyboardInterrupt)) or not self.continue_on_error:
            raise _Abort(f"{what}: {text}") from exc
        self.report.errors.append(f"{what}: {text}")


def _package_folders(root: Path) -> list[Path]:
    """Folders holding an update.mum under ``root``, without those nested in another one."""
    found = sorted({p.parent for p in root.rglob("*.mum")} if root.is_dir() else set())
    keep: list[Path] = []
    for f in found:
        if not any(k in f.parents for k in keep):
            keep.append(f)
    return keep


def _expand_inputs(run: _Run, inputs: Sequence[PackagePath], work: Path) -> list[Package]:
    """Expand every input into the work dir and load its packages (MSU properties kept)."""
    from wimcore.packages.expand import expand

    packages: list[Package] = []
    for n, item in enumerate(inputs, start=1):
        src = Path(item)
        rep = PackageReport(str(src))
        run.report.packages.append(rep)
        start = time.monotonic()
        try:
            run.tell(f"package {src.name}: expanding")
            props: dict[str, str] = {}
            if src.is_dir():
                folders = _package_folders(src)
                rep.status = "folder"
            else:
                result = expand(src, work / f"{n:02d}-{src.stem}")
                folders = _package_folders(result.dest)
                props = dict(result.msu.properties) if result.msu else {}
                rep.status = "expanded"
            if not folders:
                raise PackageNotExpandedError(f"{src}: no update.mum found in it")
            for folder in folders:
                is_ssu = folder.name.lower().startswith("ssu-")
                pkg = load_package(folder, properties={} if is_ssu else props)
                packages.append(pkg)
                rep.folders.append(str(folder))
                rep.keys.append(pkg.key)
            run.log.write(f"package {src.name}: {len(folders)} package(s): "
                          + ", ".join(rep.keys))
        except (WimcoreError, OSError, KeyboardInterrupt) as exc:
            rep.status, rep.error = "failed", str(exc).splitlines()[0] if str(exc) else \
                type(exc).__name__
            run.failed(f"package {src}", exc)
        finally:
            rep.seconds = time.monotonic() - start
    return packages


def _select(wim: wimcore.Wim, images: ImageSelection) -> list[wimcore.Image]:
    if isinstance(images, str) and images.lower() == "all":
        return list(wim.images)
    if isinstance(images, (int, str)):
        return [wim.images[images]]
    return [wim.images[i] for i in images]


def _plan_image(run: _Run, wim: wimcore.Wim, img: wimcore.Image, packages: list[Package],
                staged_before: set[str], label: str) -> tuple[ImageReport, ImageJob | None]:
    """Inventory and plan one image; the job to hand to the backend, if anything applies."""
    rep = ImageReport(img.index, img.name)
    run.report.images.append(rep)
    try:
        with run.step("inventory", rep.steps):
            run.tell(f"image {img.index}: inventory")
            inv = inventory(img)
        rep.image_type, rep.inventory = inv.image_type.value, inv.to_dict()
        for problem in inv.problems:
            run.log.write(f"image {img.index}: {problem}", level="Warning")
        with run.step("plan", rep.steps):
            run.tell(f"image {img.index}: plan")
            the_plan = plan(inv, packages, staged=staged_before)
        rep.plan = the_plan.to_dict()
        for w in the_plan.warnings:
            run.log.write(f"image {img.index}: {w}", level="Warning")
        rep.skipped = [{"key": e.key, "state": e.state.value, "reason": e.reason}
                       for e in the_plan.entries if e.state is not PlanState.APPLICABLE]
        for e in the_plan.entries:
            run.log.write(f"image {img.index}: {e.state.value}: {e.key}: {e.reason}")
        if not the_plan.to_apply:
            rep.status = "nothing-to-do"
            return rep, None
        return rep, ImageJob(wim, img.index, the_plan, inv, label)
    except (WimcoreError, OSError, KeyboardInterrupt) as exc:
        _image_failed(run, rep, exc)
    return rep, None


def _image_failed(run: _Run, rep: ImageReport, exc: BaseException) -> None:
    rep.status = "cancelled" if isinstance(exc, (Cancelled, KeyboardInterrupt)) else "failed"
    rep.failed.append({"step": rep.steps[-1].name if rep.steps else "inventory",
                       "error": str(exc).splitlines()[0] if str(exc) else type(exc).__name__})
    run.failed(f"image {rep.index}", exc)


def _apply(run: _Run, backend: ServicingBackend, batch: list[tuple[ImageReport, ImageJob]],
           work: Path) -> None:
    """Hand one batch of jobs to the backend, then let the post-check judge each image."""
    reports = [r for r, _ in batch]
    jobs = [j for _, j in batch]
    try:
        verb = "stage" if backend.name == "staged" else "install"
        with run.step(verb, reports[0].steps) as timing:
            run.tell(f"{backend.name}: applying plans to "
                     + ", ".join(j.label for j in jobs))
            outcomes = backend.apply(jobs, work=work, progress=run.progress)
        for rep in reports[1:]:
            rep.steps.append(timing)
        for rep, job, outcome in zip(reports, jobs, outcomes, strict=True):
            with run.step("postcheck", rep.steps):
                if outcome.changed:
                    postcheck(job, outcome)
            _record_outcome(run, rep, outcome)
    except (WimcoreError, OSError, KeyboardInterrupt) as exc:
        for rep in reports[:-1]:
            rep.status = "failed"
        _image_failed(run, reports[-1], exc)


def _record_outcome(run: _Run, rep: ImageReport, outcome: ImageOutcome) -> None:
    rep.outcome = outcome.to_dict()
    rep.status = outcome.state
    rep.staged = [{"order": n, "key": p.key, "kb": p.kb, "kind": p.kind, "state": "staged",
                   "location": p.location}
                  for n, p in enumerate(outcome.packages, start=1)
                  if p.state is PackageResult.STAGED]
    rep.installed = [p.to_dict() for p in outcome.packages
                     if p.state is PackageResult.INSTALLED]
    for p in outcome.packages:
        what = ("staged (not installed)" if p.state is PackageResult.STAGED
                else p.state.value)
        run.log.write(f"image {rep.index}: {what}: {p.key}"
                      + (f" at {p.location}" if p.location else f": {p.reason}")
                      + f" [{outcome.backend}" + (f"; {p.verdict}]" if p.verdict else "]"),
                      level="Error" if p.state is PackageResult.FAILED else "Info")
        if p.state is PackageResult.FAILED:
            rep.failed.append({"key": p.key, "error": p.reason})
    if outcome.state in ("failed", "partial"):
        failed = [p for p in outcome.packages if p.state is PackageResult.FAILED]
        run.failed(f"image {rep.index}", ServicingError(
            f"{len(failed)} package(s) failed: " + "; ".join(f"{p.key}: {p.reason}"
                                                             for p in failed)))


def service_wim(wim_path: str | os.PathLike[str], packages: Sequence[PackagePath], *,
                images: ImageSelection = "all", work_dir: str | os.PathLike[str] | None = None,
                first_boot: bool = False, continue_on_error: bool = False,
                report_path: str | os.PathLike[str] | None = None,
                log_path: str | os.PathLike[str] | None = None,
                progress: ProgressCallback | None = None,
                history: bool = True, backend: str | ServicingBackend = "staged",
                options: BackendOptions | None = None, threads: int = 0) -> ServicingReport:
    """Service images of a WIM: expand packages, inventory, plan, apply, commit once.

    ``packages``: MSU/CAB files or expanded folders, expanded into ``work_dir`` (a
    temporary folder by default, removed afterwards). ``images``: "all", an index, a
    name, or a list of them. ``continue_on_error`` records a failed package or image and
    goes on; without it the first failure raises :class:`ServicingRunError` (with
    ``.report``) and the WIM is unchanged. A cancel (progress callback returning False,
    :class:`wimcore.Cancelled`, Ctrl-C) re-raises with the WIM unchanged. ``report_path``
    gets the JSON report and a ``.txt`` summary; ``log_path`` (default: beside the WIM,
    ``<wim>.wimcore.log``) the servicing log. With ``history`` the sidecar
    ``<wim>.wimcore-history.json`` records what was staged, and is read to plan.
    ``backend``: ``"staged"`` (default), ``"vm"``, ``"auto"`` or a backend object;
    ``options`` configure it (``first_boot`` is a shortcut for ``options.first_boot``).
    Whatever the backend claims, the post-check of :mod:`wimcore.servicing.backend`
    decides what each package became, from the changed image's own records.
    ``threads``: compression threads for the commit (0: libwimlib's default, one per core).
    """
    opts = options or BackendOptions(first_boot=first_boot)
    engine = get_backend(backend, opts) if isinstance(backend, str) else backend
    first_boot = opts.first_boot
    path = Path(wim_path)
    started = dt.datetime.now(dt.timezone.utc)
    run_id = started.strftime("%Y%m%dT%H%M%SZ-") + secrets.token_hex(3)
    log = ServicingLog(log_path if log_path is not None else path.with_name(
        path.name + ".wimcore.log"))
    report = ServicingReport(str(path), run_id, started.isoformat(), first_boot=first_boot,
                             continue_on_error=continue_on_error,
                             log=str(log.path) if log.path else None,
                             backend=engine.name,
                             backend_note=getattr(engine, "note", "") or None)
    run = _Run(report, log, progress, continue_on_error)
    own_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="wimcore-service-")) if own_work else Path(work_dir or "")
    t0 = time.monotonic()
    log.write(f"run {run_id}: servicing {path} images={images!r} packages={len(packages)}")
    try:
        report.size_before = path.stat().st_size if path.exists() else None
        with wimcore.open(path, writable=True) as wim:
            with run.step("expand", report.steps):
                work.mkdir(parents=True, exist_ok=True)
                pkgs = _expand_inputs(run, packages, work)
            hist: History | None = None
            if history:
                try:
                    hist = load_history(path)
                except HistoryError as exc:
                    run.failed("history", exc)
            jobs: list[tuple[ImageReport, ImageJob]] = []
            for img in _select(wim, images):
                before = hist.staged_keys(img.index, img.name) if hist else set()
                rep, job = _plan_image(run, wim, img, pkgs, before, f"{path.name}:{img.index}")
                if job is None:
                    continue
                why = engine.refusal(job.inventory)
                if why is not None:
                    _record_outcome(run, rep, not_serviced(job, engine.name, why))
                else:
                    jobs.append((rep, job))
            batches = [jobs] if engine.batches and jobs else [[j] for j in jobs]
            for batch in batches:
                _apply(run, engine, batch, work)
            if any(i.outcome and i.outcome.get("changed") for i in report.images):
                with run.step("commit", report.steps):
                    run.tell("committing the WIM")
                    try:
                        wim.commit(progress=progress, threads=threads)
                    except (WimcoreError, OSError, KeyboardInterrupt) as exc:
                        raise _Abort(f"commit: {exc}") from exc
                report.committed = True
                log.write(f"committed {path}")
                if hist is not None:
                    _record(run, hist, started)
        report.status = ("partial" if report.errors else
                         "ok" if report.committed else "nothing-to-do")
    except _Abort as stop:
        cause = stop.__cause__
        cancelled = isinstance(cause, (Cancelled, KeyboardInterrupt))
        report.status = "cancelled" if cancelled else "failed"
        report.errors.append(str(stop))
        log.write(f"run {run_id} {report.status}: the WIM was not changed", level="Error")
        _finish(report, log, path, t0, report_path, work if own_work else None)
        if cancelled and cause is not None:
            setattr(cause, "report", report)  # noqa: B010 - give callers the record
            raise cause from None
        raise ServicingRunError(f"servicing stopped: {stop}; the WIM was not changed",
                                report) from cause
    except BaseException as exc:
        report.status = "cancelled" if isinstance(exc, (Cancelled, KeyboardInterrupt)) \
            else "failed"
        report.errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        log.write(f"run {run_id} {report.status}: {report.errors[-1]}", level="Error")
        _finish(report, log, path, t0, report_path, work if own_work else None)
        if isinstance(exc, Exception):
            setattr(exc, "report", report)  # noqa: B010 - give callers the record
        raise
    _finish(report, log, path, t0, report_path, work if own_work else None)
    return report


def _record(run: _Run, hist: History, started: dt.datetime) -> None:
    """Add this run's staged packages to the history sidecar (after the commit)."""
    hist.add_run({"run_id": run.report.run_id, "started": started.isoformat(),
                  "images": [{"index": i.index, "name": i.name,
                              "staged": [{"key": s["key"], "kb": s.get("kb"),
                                          "location": s["location"]} for s in i.staged]}
                             for i in run.report.images if i.staged]})
    try:
        hist.save()
        run.report.history = str(sidecar_path(run.report.wim))
    except HistoryError as exc:
        run.report.errors.append(f"history: {exc} (the WIM itself was committed)")


def _finish(report: ServicingReport, log: ServicingLog, path: Path, t0: float,
            report_path: str | os.PathLike[str] | None, work: Path | None) -> None:
    report.seconds = time.monotonic() - t0
    report.finished = dt.datetime.now(dt.timezone.utc).isoformat()
    report.size_after = path.stat().st_size if path.exists() else None
    log.write(f"run {report.run_id} finished: {report.status} in {report.seconds:.2f} s")
    log.close()
    if report_path is not None:
        report.write(report_path)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
