"""A whole servicing run on one WIM: expand, inventory, plan, apply, commit once.

::

    service_wim(wim_path, packages, *, images="all", work_dir=None, first_boot=False,
                continue_on_error=False, report_path=None, log_path=None, progress=None,
                history=True, backend="staged", options=None, setup_du=(), sources=None,
                skip_verify=False) -> ServicingReport

Every input is classified, expanded and verified first (:mod:`wimcore.packages.intake`);
a run commits the WIM once, at the end, and only when an image changed; a failure
(without ``continue_on_error``) or a cancel leaves the WIM byte-identical. Its status
is ``ok`` only when every selected image reached its plan; an image that had packages
to apply and was not serviced makes it ``incomplete``.
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
from typing import Any

import wimcore
from wimcore import interrupts, ledger, stagehook
from wimcore.errors import Cancelled, WimcoreError
from wimcore.packages.errors import NotAnUpdateError, PackageVerificationError
from wimcore.packages.model import Package
from wimcore.progress import ProgressCallback, ProgressEvent, ProgressKind
from wimcore.servicing.backend import (
    BackendOptions,
    ImageJob,
    ImageOutcome,
    PackageResult,
    ServicingBackend,
    apply_jobs,
    get_backend,
    refusal_error,
)
from wimcore.servicing.errors import (
    HistoryError,
    NotWindowsImageError,
    ServicingError,
    ServicingRunError,
)
from wimcore.servicing.history import History, load_history, sidecar_base, sidecar_path
from wimcore.servicing.image_inventory import ImageType, inventory
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


#: Input failures that reach the caller as their own typed error (naming the file), not
#: wrapped in ServicingRunError: not an update, failed verification, no such file.
INPUT_ERRORS: tuple[type[BaseException], ...] = (NotAnUpdateError, PackageVerificationError,
                                                 FileNotFoundError)


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
        stagehook.stage("servicing-step")
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

    def warn(self, message: str) -> None:
        """A warning for the summary, the report and the log."""
        if message not in self.report.warnings:
            self.report.warnings.append(message)
        self.log.write(message, level="Warning")


def _take_inputs(run: _Run, inputs: Sequence[PackagePath], work: Path,
                 sources: str | os.PathLike[str] | None, setup_du: Sequence[PackagePath],
                 skip_verify: bool, package_files: dict[str, str] | None = None
                 ) -> list[Package]:
    """Classify, expand and verify every input (one record each); the usable packages.

    ``package_files`` receives, per package key, the MSU/CAB file it came from.
    """
    from wimcore.packages.intake import InputRecord, prepare_inputs

    failures: list[tuple[InputRecord, BaseException]] = []
    intake = prepare_inputs(inputs, work, sources=sources, setup_du=setup_du,
                            skip_verify=skip_verify, progress=run.progress,
                            on_error=lambda record, exc: failures.append((record, exc)))
    run.report.inputs = intake.records
    for r in intake.records:
        status = {"use": "folder" if r.input.format in ("folder", "mum") else "expanded",
                  "refuse": "refused", "skip": "skipped", "ignore": "ignored"}.get(r.action,
                                                                                   r.action)
        run.report.packages.append(PackageReport(str(r.input.path), status, list(r.folders),
                                                 list(r.keys), r.error, r.seconds))
        run.log.write(f"input {r.input.path.name}: {r.input.input_class.value}: {r.action}: "
                      f"{r.detail}" + (f" ({r.input.reason})" if r.action != "use" else ""),
                      level="Error" if r.error else "Info")
        for v in r.verification:
            for u in v.unverified:
                run.log.write(f"input {r.input.path.name}: unverified: {u.path}: {u.reason}",
                              level="Warning")
        if package_files is not None and r.action == "use" \
                and r.input.format not in ("folder", "mum"):
            for key in r.keys:
                package_files[key] = str(r.input.path.absolute())
    for w in intake.warnings:
        run.warn(w)
    for record, exc in failures:  # every input has its record first; then stop or go on
        run.failed(f"input {record.input.path}", exc)
    return intake.packages


def default_sources(wim_path: str | os.PathLike[str]) -> Path | None:
    """The media's ``sources/`` when the WIM sits in one (its Setup files are the evidence
    that recognises a Setup Dynamic Update); None otherwise."""
    parent = Path(wim_path).absolute().parent
    return parent if parent.name.casefold() == "sources" else None


def _select(wim: wimcore.Wim, images: ImageSelection) -> list[wimcore.Image]:
    if isinstance(images, str) and images.lower() == "all":
        return list(wim.images)
    if isinstance(images, (int, str)):
        return [wim.images[images]]
    return [wim.images[i] for i in images]


def _plan_image(run: _Run, wim: wimcore.Wim, img: wimcore.Image, packages: list[Package],
                staged_before: set[str], label: str,
                package_files: dict[str, str] | None = None
                ) -> tuple[ImageReport, ImageJob | None]:
    """Inventory and plan one image; its job (None when inventory or plan failed)."""
    rep = ImageReport(img.index, img.name, label=label)
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
            run.warn(f"image {img.index} {img.name!r}: {w}")
        rep.skipped = [{"key": e.key, "state": e.state.value, "reason": e.reason}
                       for e in the_plan.entries if e.state is not PlanState.APPLICABLE]
        for e in the_plan.entries:
            run.log.write(f"image {img.index}: {e.state.value}: {e.key}: {e.reason}")
        job = ImageJob(wim, img.index, the_plan, inv, label,
                       package_files=dict(package_files or {}))
        if not the_plan.to_apply:
            rep.status = "nothing-to-do"
        return rep, job
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
    """Hand one batch of jobs to the backend; the post-check judges each changed image."""
    reports = [r for r, _ in batch]
    jobs = [j for _, j in batch]
    try:
        verb = "stage" if backend.name == "staged" else "install"
        with run.step(verb, reports[0].steps) as timing:
            run.tell(f"{backend.name}: applying plans to "
                     + ", ".join(j.label for j in jobs))
            outcomes = apply_jobs(backend, jobs, work=work, progress=run.progress)
        for rep in reports[1:]:
            rep.steps.append(timing)
        for rep, outcome in zip(reports, outcomes, strict=True):
            if "postcheck_seconds" in outcome.details:
                rep.steps.append(StepTiming("postcheck",
                                            float(outcome.details.pop("postcheck_seconds"))))
            _record_outcome(run, rep, outcome)
    except (WimcoreError, OSError, KeyboardInterrupt) as exc:
        for rep in reports[:-1]:
            rep.status = "failed"
        _image_failed(run, reports[-1], exc)


def _record_outcome(run: _Run, rep: ImageReport, outcome: ImageOutcome) -> None:
    rep.record(outcome)
    for p in outcome.packages:
        what = ("staged (not installed)" if p.state is PackageResult.STAGED
                else p.state.value)
        run.log.write(f"image {rep.index}: {what}: {p.key}"
                      + (f" at {p.location}" if p.location else f": {p.reason}")
                      + f" [{outcome.backend}" + (f"; {p.verdict}]" if p.verdict else "]"),
                      level="Error" if p.state is PackageResult.FAILED else "Info")
    if outcome.state == "not-serviced":
        run.warn(f"{rep.label or f'image {rep.index}'} {rep.name!r}: not serviced: "
                 f"{len(outcome.packages)} planned package(s) not applied: {outcome.reason}")
    if outcome.state in ("failed", "partial"):
        failed = [p for p in outcome.packages if p.state is PackageResult.FAILED]
        run.failed(f"image {rep.index}", outcome.error or ServicingError(
            f"{len(failed)} package(s) failed: " + "; ".join(f"{p.key}: {p.reason}"
                                                             for p in failed)))


def service_wim(wim_path: str | os.PathLike[str], packages: Sequence[PackagePath], *,
                images: ImageSelection = "all", work_dir: str | os.PathLike[str] | None = None,
                first_boot: bool = False, continue_on_error: bool = False,
                report_path: str | os.PathLike[str] | None = None,
                log_path: str | os.PathLike[str] | None = None,
                progress: ProgressCallback | None = None,
                history: bool = True, backend: str | ServicingBackend = "staged",
                options: BackendOptions | None = None,
                setup_du: Sequence[PackagePath] = (),
                sources: str | os.PathLike[str] | None = None,
                skip_verify: bool = False, threads: int = 0) -> ServicingReport:
    """Service images of a WIM: take the inputs in, inventory, plan, apply, commit once.

    ``packages``: MSU/CAB/WIM-container files, expanded folders, or folders of them;
    each is classified, expanded into ``work_dir`` (a temporary folder by default,
    removed afterwards) and verified against its own catalogs and manifests before
    anything uses it (``skip_verify`` skips that, recorded as a warning). A Setup
    Dynamic Update (recognised by its Setup file names in ``sources``, by default the
    WIM's folder when it is a media's ``sources/``, or named in ``setup_du``) is skipped
    with its reason; an input that is not an update is refused (``NotAnUpdateError``).
    ``images``: "all", an index, a name, or a list of them. An image chosen by index or
    name that the backend cannot service raises its typed error
    (:class:`NeedsServicingStackError`, :class:`ImageTypeError`,
    :class:`NotWindowsImageError`) before anything changes; with "all" such an image is
    recorded as not serviced and the run's status becomes ``incomplete``.
    ``continue_on_error`` records a failed input or image and goes on; without it the
    first failure raises :class:`ServicingRunError` (with ``.report``; an input that is
    not an update or fails its check raises its own typed error, with ``.report``) and
    the WIM is unchanged. A cancel (progress callback returning False,
    :class:`wimcore.Cancelled`, Ctrl-C) re-raises with the WIM unchanged. ``report_path``
    gets the JSON report and a ``.txt`` summary; ``log_path`` (default: beside the WIM,
    ``<wim>.wimcore.log``; beside the media folder for a media's WIM) the servicing log.
    With ``history`` the sidecar ``<wim>.wimcore-history.json`` (the same place) records
    what was staged or installed (and by which backend); what it staged is read to plan.
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
    base = sidecar_base(path)  # a media's WIM: beside the media, never inside sources/
    log = ServicingLog(log_path if log_path is not None else base.with_name(
        base.name + ".wimcore.log"))
    if log.path is not None:
        ledger.note_record("log", log.path.absolute())
    if report_path is not None:
        ledger.note_record("report", Path(report_path).absolute())
    report = ServicingReport(str(path), run_id, started.isoformat(), first_boot=first_boot,
                             continue_on_error=continue_on_error, skip_verify=skip_verify,
                             log=str(log.path) if log.path else None,
                             backend=engine.name,
                             backend_note=getattr(engine, "note", "") or None)
    run = _Run(report, log, progress, continue_on_error)
    keep_logs = getattr(engine, "keep_guest_logs", None)
    if callable(keep_logs):  # a backend with a guest (vm): its logs go beside the report
        if report_path is not None:
            keep_logs(Path(f"{report_path}.guest-logs"))
        elif log.path is not None:
            keep_logs(Path(f"{log.path}.guest-logs") / run_id)
    own_work = work_dir is None
    work = Path(tempfile.mkdtemp(prefix="wimcore-service-")) if own_work else Path(work_dir or "")
    ledger.note_ignore(work)  # expanded packages and the backend's scratch files
    t0 = time.monotonic()
    log.write(f"run {run_id}: servicing {path} images={images!r} packages={len(packages)}")
    try:
        report.size_before = path.stat().st_size if path.exists() else None
        with wimcore.open(path, writable=True) as wim:
            explicit = not (isinstance(images, str) and images.lower() == "all")
            selected = _select(wim, images)
            with run.step("expand", report.steps):
                work.mkdir(parents=True, exist_ok=True)
                package_files: dict[str, str] = {}
                pkgs = _take_inputs(run, packages, work,
                                    sources if sources is not None else default_sources(path),
                                    setup_du, skip_verify, package_files)
            hist: History | None = None
            if history:
                try:
                    hist = load_history(path)
                except HistoryError as exc:
                    run.failed("history", exc)
            jobs: list[tuple[ImageReport, ImageJob]] = []
            for img in selected:
                before = hist.staged_keys(img.index, img.name) if hist else set()
                rep, job = _plan_image(run, wim, img, pkgs, before, f"{path.name}:{img.index}",
                                       package_files)
                if job is None:
                    continue
                why = engine.refusal(job.inventory)
                if why is not None and explicit:  # the user asked for it: a typed error
                    raise refusal_error(job, engine.name, why)
                if job.entries:
                    jobs.append((rep, job))
            if selected and all(r.image_type == ImageType.NOT_WINDOWS.value
                                for r in report.images):
                raise NotWindowsImageError(f"{path}: no selected image is a Windows image "
                                           "(no Windows/ folder): nothing to service")
            batches = [jobs] if engine.batches and jobs else [[j] for j in jobs]
            for batch in batches:
                _apply(run, engine, batch, work)
            if any(i.outcome and i.outcome.get("changed") for i in report.images):
                with run.step("commit", report.steps):
                    run.tell("committing the WIM")
                    target = os.path.abspath(path)
                    ledger.note_planned(target)
                    if hist is not None:
                        ledger.note_planned(os.fspath(sidecar_path(target)))
                    identity = _identity(path)
                    try:
                        wim.commit(progress=progress, threads=threads)
                    except (WimcoreError, OSError, KeyboardInterrupt) as exc:
                        if _identity(path) != identity:  # renamed into place, then stopped
                            report.committed = True
                            raise
                        raise _Abort(f"commit: {exc}") from exc
                report.committed = True
                log.write(f"committed {path}")
                if hist is not None:
                    _record(run, hist, started)
        report.status = ("partial" if report.errors else
                         "incomplete" if report.incomplete else
                         "ok" if report.committed else "nothing-to-do")
    except _Abort as stop:
        cause = stop.__cause__
        cancelled = isinstance(cause, (Cancelled, KeyboardInterrupt))
        report.status = "cancelled" if cancelled else "failed"
        report.errors.append(str(stop))
        log.write(f"run {run_id} {report.status}: the WIM was not changed", level="Error")
        _finish(report, log, path, t0, report_path, work if own_work else None, engine)
        if cause is not None and (cancelled or isinstance(cause, INPUT_ERRORS)):
            setattr(cause, "report", report)  # noqa: B010 - give callers the record
            raise cause from None
        raise ServicingRunError(f"servicing stopped: {stop}; the WIM was not changed",
                                report) from cause
    except BaseException as exc:
        report.status = "cancelled" if isinstance(exc, (Cancelled, KeyboardInterrupt)) \
            else "failed"
        report.errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        log.write(f"run {run_id} {report.status}: {report.errors[-1]}"
                  + (": the WIM was committed before the stop" if report.committed else ""),
                  level="Error")
        _finish(report, log, path, t0, report_path, work if own_work else None, engine)
        if isinstance(exc, Exception):
            setattr(exc, "report", report)  # noqa: B010 - give callers the record
        raise
    _finish(report, log, path, t0, report_path, work if own_work else None, engine)
    return report


def _identity(path: Path) -> tuple[int, int] | None:
    """The file's (device, inode): a commit renames a new file over the WIM."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def history_entry(run_id: str, started: str, backend: str, images: Sequence[ImageReport], *,
                  skip_verify: bool = False, wim: str | None = None) -> dict[str, Any]:
    """One run for the history sidecar: per image what was staged and what was installed."""
    return {"run_id": run_id, "started": started, "backend": backend,
            "verification": "skipped (--skip-verify)" if skip_verify else "checked",
            "images": [{"index": i.index, "name": i.name, **({"wim": wim} if wim else {}),
                        "staged": [{"key": s["key"], "kb": s.get("kb"),
                                    "location": s.get("location"),
                                    "backend": s.get("backend", backend)} for s in i.staged],
                        "installed": [{"key": s["key"], "kb": s.get("kb"),
                                       "backend": s.get("backend", backend),
                                       "exit_code": s.get("exit_code"),
                                       "seconds": s.get("seconds"),
                                       "verdict": s.get("verdict")} for s in i.installed]}
                       for i in images if i.staged or i.installed]}


def _record(run: _Run, hist: History, started: dt.datetime) -> None:
    """Add what this run staged and installed to the history sidecar (after the commit)."""
    hist.add_run(history_entry(run.report.run_id, started.isoformat(), run.report.backend,
                               run.report.images, skip_verify=run.report.skip_verify))
    try:
        hist.save()
        run.report.history = str(sidecar_path(run.report.wim))
    except HistoryError as exc:
        run.report.errors.append(f"history: {exc} (the WIM itself was committed)")


def _finish(report: ServicingReport, log: ServicingLog, path: Path, t0: float,
            report_path: str | os.PathLike[str] | None, work: Path | None,
            engine: ServicingBackend | None = None) -> None:
    release = getattr(engine, "release", None)
    if callable(release):  # the WIM is closed: the backend may drop what the commit read
        release()
    report.seconds = time.monotonic() - t0
    report.finished = dt.datetime.now(dt.timezone.utc).isoformat()
    report.size_after = path.stat().st_size if path.exists() else None
    with interrupts.deferred():  # the log and report are written whatever arrives now
        log.write(f"run {report.run_id} finished: {report.status} in {report.seconds:.2f} s")
        log.close()
        if report_path is not None:
            report.write(report_path)
    if work is not None:
        shutil.rmtree(work, ignore_errors=True)
