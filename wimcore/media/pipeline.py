"""The monthly media routine of the seed's "Complete Steps", on an extracted-ISO folder.

``service(media, updates, options)`` takes the updates in (classified, expanded and
verified: :mod:`wimcore.packages.intake`), plans every image — WinRE (read out of
install.wim), each selected install.wim index, boot.wim 2 (Setup) and boot.wim 1
(WinPE) — and hands them all to ONE servicing backend (``options.backend``: ``auto``,
``staged``, ``vm`` or a backend object) as :class:`~wimcore.servicing.backend.ImageJob`
values; a backend that batches gets them in one call (one VM boot). The shared post-
check judges every image by its own records. Then WinRE is exported and put back,
Setup Dynamic Update files and the newer files of the *serviced* Setup and install
images go into ``sources/``, the WIMs are rebuilt and the media's files replaced, each
by an atomic rename, at the very end: a failure or cancel before that leaves the media
byte-identical. The run is ``ok`` only when every image reached what its plan said,
else ``incomplete``. A WIM is rewritten only when its images changed or an export would
reclaim dead space, and the ISO only when its files changed, so a second run on
serviced media changes no byte.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import logging
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import wimcore
from wimcore import interrupts, ledger, stagehook
from wimcore.atomic import final_names, name_paths
from wimcore.errors import Cancelled, WimcoreError
from wimcore.media.errors import (
    FolderNotWritableError,
    MediaLayoutError,
    MediaStepError,
    NotEnoughSpaceError,
)
from wimcore.media.report import MediaImageReport, MediaReport, StepRecord
from wimcore.media.sources_sync import SourcesOverlay, apply_setup_du, sync_from_image
from wimcore.media.wimspace import worth_rebuilding
from wimcore.packages.errors import NotAnUpdateError, PackageVerificationError
from wimcore.packages.intake import SetupDynamicUpdate
from wimcore.packages.model import Package
from wimcore.progress import ProgressCallback, ProgressEvent, ProgressKind
from wimcore.servicing.backend import BackendOptions, ImageJob, ImageOutcome, ServicingBackend
from wimcore.servicing.errors import ImageTypeError, NotWindowsImageError
from wimcore.servicing.report import ImageReport

log = logging.getLogger("wimcore.media")
T = TypeVar("T")

WINRE_PATH = "/Windows/System32/Recovery/Winre.wim"
#: Files of sources/ the sync never touches (the WIMs are rebuilt by their own steps).
SYNC_SKIP = frozenset({"install.wim", "install.esd", "boot.wim"})
SPACE_MARGIN = 64 * 1024 * 1024
#: Errors that reach the caller as they are (not as a MediaStepError): cancels, inputs
#: that are not updates or fail their check, images the backend cannot service.
PASS_THROUGH: tuple[type[BaseException], ...] = (
    Cancelled, NotAnUpdateError, PackageVerificationError, ImageTypeError,
    NotWindowsImageError)


@dataclass
class ServiceOptions:
    """How to run the routine: which install images, which backend, where to work and write."""

    images: Sequence[int | str] = ()  # install.wim indexes or names; empty: all
    work_dir: str | os.PathLike[str] | None = None  # default: <media>.wimcore-work beside it
    iso: str | os.PathLike[str] | None = None
    report: str | os.PathLike[str] | None = None  # default: <media>.wimcore-report.json
    log: str | os.PathLike[str] | None = None  # default: <media>.wimcore.log beside it
    continue_on_error: bool = False
    first_boot: bool = False
    progress: ProgressCallback | None = None
    volume_label: str | None = None
    space_margin: int = SPACE_MARGIN
    keep_work: bool = False
    backend: str | ServicingBackend = "auto"  # auto | staged | vm | a backend object
    backend_options: BackendOptions | None = None
    setup_du: Sequence[str | os.PathLike[str]] = ()  # inputs that are Setup Dynamic Updates
    skip_verify: bool = False


@dataclass
class _WinRE:
    """One distinct WinRE (by SHA-1) and the install indexes that carry it."""

    sha1: str
    indexes: list[int]
    paths: dict[int, str]
    file: Path
    wim: wimcore.Wim | None = None
    changed: bool = False
    exported: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"Winre.wim[{self.sha1[:8]}]"


class _Run:
    """Step runner: timing, logging, STEP progress events, cancel and continue-on-error."""

    def __init__(self, report: MediaReport, options: ServiceOptions) -> None:
        self.report = report
        self.options = options

    def tell(self, message: str) -> None:
        """Send a STEP event; a callback returning False cancels."""
        log.info(message)
        cb = self.options.progress
        if cb is not None and cb(ProgressEvent(ProgressKind.STEP, message=message)) is False:
            changed = self.report.replaced
            raise Cancelled(f"cancelled at: {message}; " + (
                f"{len(changed)} file(s) of the media were already replaced (see the report)"
                if changed else "the media was not changed"))

    def warn(self, message: str) -> None:
        """A warning for the summary and the log (once)."""
        if message not in self.report.warnings:
            self.report.warnings.append(message)
            log.warning(message)

    @contextmanager
    def _timed(self, name: str, seed: str) -> Iterator[StepRecord]:
        rec = StepRecord(name, seed)
        self.report.steps.append(rec)
        start = time.monotonic()
        try:
            stagehook.stage(f"media-step-{name}")
            self.tell(f"step {name} (seed step {seed})")
            yield rec
            if rec.status == "pending":
                rec.status = "done"
        except (Cancelled, KeyboardInterrupt):
            rec.status = "cancelled"
            raise
        except (WimcoreError, OSError) as exc:
            rec.status = "failed"
            rec.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            self.report.errors.append(f"{name}: {rec.error}")
            raise
        finally:
            rec.seconds = time.monotonic() - start
            log.info("step %s: %s in %.3f s%s", name, rec.status, rec.seconds,
                     f" ({rec.detail})" if rec.detail else "")

    def do(self, name: str, seed: str, fn: Callable[[StepRecord], T]) -> T | None:
        """Run one step; on failure raise MediaStepError, or record it and return None."""
        try:
            with self._timed(name, seed) as rec:
                return fn(rec)
        except (WimcoreError, OSError) as exc:
            if isinstance(exc, PASS_THROUGH):
                raise
            if self.options.continue_on_error:
                log.warning("step %s failed, continuing: %s", name, exc)
                return None
            raise MediaStepError(name, str(exc).splitlines()[0] if str(exc) else
                                 type(exc).__name__, self.report) from exc


# -- layout and space --------------------------------------------------------------------

def _find(folder: Path, name: str) -> Path | None:
    if not folder.is_dir():
        return None
    want = name.casefold()
    return next((p for p in sorted(folder.iterdir()) if p.name.casefold() == want), None)


def _layout(media: Path) -> tuple[Path, Path, Path]:
    """(sources/, install.wim, boot.wim) of a media folder, matched case-insensitively."""
    sources = _find(media, "sources")
    if sources is None:
        raise MediaLayoutError(f"{media}: no sources/ folder: not a Windows installation media")
    install = _find(sources, "install.wim") or _find(sources, "install.esd")
    boot = _find(sources, "boot.wim")
    if install is None or boot is None:
        raise MediaLayoutError(f"{sources}: needs install.wim (or install.esd) and boot.wim")
    return sources, install, boot


def _update_inputs(updates: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
                   ) -> list[Path]:
    if isinstance(updates, (str, os.PathLike)):
        return [Path(updates)]
    return [Path(u) for u in updates]


def _tree_size(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def estimate_space(install: Path, boot: Path, sources: Path, updates: Sequence[Path]) -> int:
    """Bytes the working folder needs: new WIMs, WinRE copies, expanded updates, sources."""
    need = install.stat().st_size + boot.stat().st_size
    for u in updates:
        if u.is_dir():
            need += 4 * _tree_size(u)
        elif u.exists():
            need += 4 * u.stat().st_size
    need += sum(f.stat().st_size for f in sources.iterdir()
                if f.is_file() and f not in (install, boot))
    need += install.stat().st_size // 10  # WinRE copies (at most a tenth of install.wim)
    return need


def estimate_iso(media: Path, updates: Sequence[Path]) -> int:
    """Bytes an ISO of the serviced media takes: every file rounded up to 2 KiB sectors,
    one directory record sector per file, what the updates may add to the WIMs, and the
    volume descriptors, UDF structures and path tables (about 1 MiB)."""
    sector = 2048
    files = [f for f in media.rglob("*") if f.is_file()]
    data = sum(-(-f.stat().st_size // sector) * sector for f in files)
    added = 0
    for u in updates:
        if u.is_dir():
            added += _tree_size(u)
        elif u.exists():
            added += u.stat().st_size
    return data + added + sector * len(files) + 2**20


def _existing(path: Path) -> Path:
    """``path`` or its nearest existing ancestor (where a new folder would be made)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def _check_writable(path: Path, role: str, option: str) -> None:
    """Refuse a folder that cannot be written (read-only file system, no permission)."""
    at = _existing(path)
    if os.statvfs(at).f_flag & os.ST_RDONLY:
        raise FolderNotWritableError(str(path), "read-only file system", role=role,
                                     option=option)
    if not os.access(at, os.W_OK | os.X_OK):
        raise FolderNotWritableError(str(path), f"no permission to write in {at}", role=role,
                                     option=option)


def _check_space(needs: Sequence[tuple[Path, int, str, str]]) -> None:
    """Each (folder, bytes, role, option) fits in its file system's free space; folders on
    one file system share it (the first one short is named, with its option)."""
    by_device: dict[int, tuple[int, list[str], list[str]]] = {}
    for path, needed, role, option in needs:
        at = _existing(path)
        total, roles, options = by_device.get(at.stat().st_dev, (0, [], []))
        total, roles, options = total + needed, [*roles, role], [*options, option]
        by_device[at.stat().st_dev] = (total, roles, options)
        free = shutil.disk_usage(at).free
        if free < total:
            shared = " and ".join(roles) + (" (one file system)" if len(roles) > 1 else "")
            raise NotEnoughSpaceError(str(path), total, free, role=shared,
                                      option=" or ".join(options))


def _publish(src: Path, dest: Path, group: str | None = None,
             done: Callable[[], None] | None = None) -> None:
    """Replace ``dest`` with ``src`` by one rename (copied beside it first across devices);
    the rename and its entry in the change ledger happen both or neither."""
    stagehook.stage("media-publish")
    how = "replaced" if dest.exists() else "added"
    try:
        with interrupts.deferred():
            os.replace(src, dest)
            ledger.note_changed(dest, group=group, how=how)
            if done is not None:
                done()
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.wimcore-tmp")
    try:
        shutil.copy2(src, tmp)
        with interrupts.deferred():
            os.replace(tmp, dest)
            ledger.note_changed(dest, group=group, how=how)
            if done is not None:
                done()
    finally:
        tmp.unlink(missing_ok=True)
    src.unlink(missing_ok=True)


def default_label(install: Path) -> str:
    """A Microsoft-style volume label from install.wim's architecture and language."""
    from wimcore.iso import DEFAULT_LABEL

    try:
        with wimcore.open(install) as wim:
            info = wim.images[1].info
    except WimcoreError:
        return DEFAULT_LABEL
    arch = {"x64": "X64", "x86": "X86", "arm64": "A64"}.get(info.arch_label or "", "X64")
    lang = (info.default_language or "en-US").upper()
    return f"CCCOMA_{arch}FRE_{lang}_DV9"[:32]


def _inside(path: Path, root: Path) -> bool:
    p, r = path.absolute(), root.absolute()
    return p == r or r in p.parents


# -- the routine ---------------------------------------------------------------------------

class _Routine:
    """One run's state: the open WIMs, the jobs, the overlay, what changed."""

    def __init__(self, run: _Run, media: Path, work: Path, updates: list[Path],
                 engine: ServicingBackend, outside: list[Path]) -> None:
        self.run = run
        self.media = media
        self.work = work
        self.updates = updates
        self.engine = engine
        self.sources, self.install_path, self.boot_path = _layout(media)
        #: paths inside the media that are not the media's (updates, work, log, report)
        self.outside = outside
        self.packages: list[Package] = []
        self.setup_dus: list[SetupDynamicUpdate] = []
        self.winres: list[_WinRE] = []
        self.install_changed = False
        self.boot_changed = False
        self.overlay = SourcesOverlay(self.sources, work / "sources",
                                      exclude=tuple(p for p in outside
                                                    if _inside(p, self.sources)))
        self.outputs: dict[str, tuple[Path, Path]] = {}  # label -> (new file, media file)
        self.install: wimcore.Wim | None = None
        self.boot: wimcore.Wim | None = None
        self.selected: list[int] = []
        self.jobs: list[tuple[MediaImageReport, ImageJob]] = []

    @property
    def report(self) -> MediaReport:
        return self.run.report

    @property
    def progress(self) -> ProgressCallback | None:
        return self.run.options.progress

    def close(self) -> None:
        """Close every WIM this run opened (idempotent)."""
        for wim in (self.install, self.boot, *(g.wim for g in self.winres)):
            if wim is not None:
                wim.close()

    # 1. updates: classify, expand, verify ----------------------------------------------------
    def take_inputs(self, rec: StepRecord) -> None:
        from wimcore.packages.intake import InputRecord, prepare_inputs

        opts = self.run.options

        failures: list[BaseException] = []

        def failed(record: InputRecord, exc: BaseException) -> None:
            failures.append(exc)
            if opts.continue_on_error:
                self.report.errors.append(f"input {record.input.path}: {record.error}")

        intake = prepare_inputs(self.updates, self.work / "packages", sources=self.sources,
                                setup_du=opts.setup_du, exclude=self.outside,
                                skip_verify=opts.skip_verify, keep_setup_du=True,
                                progress=self.progress, on_error=failed)
        self.report.inputs = intake.records
        if failures and not opts.continue_on_error:
            raise failures[0]  # every input has its row in the report first
        self.packages = intake.packages
        self.setup_dus = intake.setup_dus
        for w in intake.warnings:
            self.run.warn(w)
        for r in intake.records:
            log.info("input %s: %s: %s: %s", r.input.path.name, r.input.input_class.value,
                     r.action, r.detail)
            for v in r.verification:
                for u in v.unverified:
                    log.warning("input %s: unverified: %s: %s", r.input.path.name, u.path,
                                u.reason)
        rec.detail = (f"{len(self.packages)} package(s), {len(self.setup_dus)} Setup Dynamic "
                      f"Update(s), {sum(r.action == 'ignore' for r in intake.records)} "
                      "ignored")

    # 2. WinRE out of install.wim ----------------------------------------------------------
    def open_wims(self) -> None:
        self.install = wimcore.open(self.install_path)
        self.boot = wimcore.open(self.boot_path)
        wanted = self.run.options.images
        self.selected = ([self.install.resolve(i) for i in wanted] if wanted
                         else list(range(1, self.install.info.image_count + 1)))

    def winre_extract(self, rec: StepRecord) -> None:
        from wimcore.servicing.image_inventory import resolve_path

        assert self.install is not None
        groups: dict[str, _WinRE] = {}
        for image in self.install.images:
            path = resolve_path(image, WINRE_PATH)
            if path is None:
                continue
            sha1 = image.stat(path).sha1 or ""
            group = groups.get(sha1)
            if group is None:
                folder = self.work / "winre" / f"{len(groups) + 1}"
                folder.mkdir(parents=True)
                file = folder / "Winre.wim"
                file.write_bytes(image.read_bytes(path))
                group = groups[sha1] = _WinRE(sha1, [], {}, file)
            group.indexes.append(image.index)
            group.paths[image.index] = path
        self.winres = list(groups.values())
        for g in self.winres:
            g.info = {"sha1": g.sha1, "indexes": g.indexes, "size_before": g.file.stat().st_size}
            self.report.winre.append(g.info)
        if self.winres:
            self.report.sizes_before["Winre.wim"] = self.winres[0].file.stat().st_size
        rec.detail = (f"{sum(len(g.indexes) for g in self.winres)} index(es) carry WinRE, "
                      f"{len(self.winres)} distinct (SHA-1)")
        if not self.winres:
            rec.status = "nothing-to-do"

    # 3. every image: inventory and plan, one job each -------------------------------------------
    def _plan(self, wim: wimcore.Wim, index: int, wim_label: str, staged: set[str],
              explicit: bool = False) -> None:
        from wimcore.servicing.backend import refusal_error
        from wimcore.servicing.image_inventory import inventory
        from wimcore.servicing.planner import PlanState, plan

        image = wim.images[index]
        rep = ImageReport(image.index, image.name, label=f"{wim_label}:{index}")
        inv = inventory(image)
        the_plan = plan(inv, self.packages, staged=staged)
        rep.image_type, rep.inventory, rep.plan = inv.image_type.value, inv.to_dict(), \
            the_plan.to_dict()
        rep.skipped = [{"key": e.key, "state": e.state.value, "reason": e.reason}
                       for e in the_plan.entries if e.state is not PlanState.APPLICABLE]
        entry = MediaImageReport(wim_label, rep)
        self.report.images.append(entry)
        for w in the_plan.warnings:
            self.run.warn(f"{entry.title}: {w}")
        job = ImageJob(wim, index, the_plan, inv, f"{wim_label}:{index}")
        why = self.engine.refusal(inv)
        if why is not None and explicit:
            raise refusal_error(job, self.engine.name, why)
        if not the_plan.to_apply:
            rep.status = "nothing-to-do"
            return
        self.jobs.append((entry, job))

    def plan_images(self, rec: StepRecord) -> None:
        from wimcore.servicing.history import load_history

        assert self.install is not None and self.boot is not None
        hist = load_history(self.install_path)
        boot_hist = load_history(self.boot_path)
        for g in self.winres:
            g.wim = wimcore.open(g.file, writable=True)
            for index in range(1, g.wim.info.image_count + 1):
                name = g.wim.images[index].name
                self._plan(g.wim, index, g.label,
                           hist.staged_keys(index, name, wim="Winre.wim"))
        explicit = bool(self.run.options.images)
        for index in self.selected:
            name = self.install.images[index].name
            self._plan(self.install, index, self.install_path.name,
                       hist.staged_keys(index, name), explicit)
        count = self.boot.info.image_count
        setup = self.boot.info.boot_index or min(2, count)
        for index in dict.fromkeys(i for i in (setup, 1) if 1 <= i <= count):
            self._plan(self.boot, index, self.boot_path.name,
                       boot_hist.staged_keys(index, self.boot.images[index].name))
        rec.detail = (f"{len(self.report.images)} image(s) planned, {len(self.jobs)} with "
                      "packages to apply")
        if not self.jobs:
            rec.status = "nothing-to-do"

    # 3, 6-8, 13, 14. one backend for every image ---------------------------------------------
    def service_images(self, rec: StepRecord) -> None:
        from wimcore.servicing.backend import PackageResult, apply_jobs
        from wimcore.servicing.errors import ServicingError

        if not self.jobs:
            rec.status, rec.detail = "nothing-to-do", f"backend {self.engine.name}: no packages"
            return
        jobs = [job for _entry, job in self.jobs]
        self.run.tell(f"{self.engine.name}: " + ", ".join(j.label for j in jobs))
        (self.work / "backend").mkdir(exist_ok=True)
        outcomes = apply_jobs(self.engine, jobs, work=self.work / "backend",
                              progress=self.progress)
        counts: dict[str, int] = {}
        failed: list[str] = []
        for (entry, job), outcome in zip(self.jobs, outcomes, strict=True):
            entry.report.record(outcome)
            counts[outcome.state] = counts.get(outcome.state, 0) + 1
            self._mark_changed(job, outcome)
            for p in outcome.packages:
                log.info("%s: %s: %s: %s [%s%s]", entry.title, p.state.value, p.key, p.reason,
                         outcome.backend, f"; {p.verdict}" if p.verdict else "")
            if outcome.state == "not-serviced":
                entry.note = outcome.reason
                self.run.warn(f"{entry.title}: not serviced: {len(outcome.packages)} planned "
                              f"package(s) not applied: {outcome.reason}")
            failed += [f"{entry.title}: {p.key}: {p.reason}" for p in outcome.packages
                       if p.state is PackageResult.FAILED]
        rec.detail = f"backend {self.engine.name}: " + ", ".join(
            f"{n} {state}" for state, n in sorted(counts.items()))
        if failed:
            raise ServicingError(f"{len(failed)} package(s) failed: " + "; ".join(failed))

    def _mark_changed(self, job: ImageJob, outcome: ImageOutcome) -> None:
        if not outcome.changed:
            return
        if job.wim is self.install:
            self.install_changed = True
        elif job.wim is self.boot:
            self.boot_changed = True
        else:
            for g in self.winres:
                if job.wim is g.wim:
                    g.changed = True

    # 4. save and export WinRE to shrink it ----------------------------------------------------
    def winre_export(self, rec: StepRecord) -> None:
        done = []
        for g in self.winres:
            if g.wim is not None:
                if g.changed:
                    g.wim.commit(progress=self.progress)
                g.wim.close()
                g.wim = None
            worth, dead = worth_rebuilding(g.file)
            g.info["reclaimable"] = dead
            if not worth and not g.changed:
                g.info["action"] = "kept (unchanged, nothing to reclaim)"
                continue
            out = g.file.with_name("Winre.exported.wim")
            with wimcore.open(g.file) as src:
                boot = src.info.boot_index
            wimcore.export(g.file, wimcore.ALL, out, boot=bool(boot), progress=self.progress)
            after = out.stat().st_size
            g.info["size_after"] = after
            if g.changed or after < g.file.stat().st_size:
                g.exported = out
                g.info["action"] = "serviced and exported" if g.changed else "exported"
                done.append(f"{g.info['size_before']:,} -> {after:,} bytes")
            else:
                g.info["action"] = "kept (the export was not smaller)"
        rec.detail = "; ".join(done) or "nothing to reclaim"
        if not done:
            rec.status = "nothing-to-do"

    # 5. put WinRE back into every index that carries it -------------------------------------
    def winre_put_back(self, rec: StepRecord) -> None:
        assert self.install is not None
        count = 0
        for g in self.winres:
            if g.exported is None:
                continue
            for index in g.indexes:
                with self.install.images[index].edit(progress=self.progress) as edit:
                    edit.add(g.exported, g.paths[index])
                count += 1
        if count:
            self.install_changed = True
        rec.detail = f"replaced in {count} index(es)"
        if not count:
            rec.status = "nothing-to-do"

    # sources/ -----------------------------------------------------------------------------------
    def apply_setup_du(self, rec: StepRecord) -> None:
        actions = []
        skip = SYNC_SKIP | {self.install_path.name.casefold(), self.boot_path.name.casefold()}
        for du in self.setup_dus:
            actions += apply_setup_du(self.overlay, du.folder, du.source.name, files=du.files,
                                      skip=skip)
        rec.detail = f"{len(actions)} file(s) from {len(self.setup_dus)} Setup DU(s)"
        if not actions:
            rec.status = "nothing-to-do"

    def sync_sources(self, rec: StepRecord) -> None:
        """robocopy /xo from the serviced images (in memory, after the backend ran)."""
        assert self.install is not None and self.boot is not None
        actions = []
        skip = SYNC_SKIP | {self.install_path.name.casefold(), self.boot_path.name.casefold()}
        for index in self.selected:
            actions += sync_from_image(self.overlay, self.install.images[index],
                                       "/Windows/System32", f"{self.install_path.name}:{index}",
                                       skip=skip)
        setup = self.boot.info.boot_index or min(2, self.boot.info.image_count)
        for root in ("/sources", "/Windows/System32"):
            actions += sync_from_image(self.overlay, self.boot.images[setup], root,
                                       f"{self.boot_path.name}:{setup}", skip=skip)
        rec.detail = f"{len(actions)} newer file(s) staged for sources/"
        if not actions:
            rec.status = "nothing-to-do"

    # 15-16. rebuild boot.wim -------------------------------------------------------------------
    def boot_rebuild(self, rec: StepRecord) -> None:
        assert self.boot is not None
        info = self.boot.info
        setup = info.boot_index or min(2, info.image_count)
        order_ok = info.image_count >= 2 and info.boot_index == 2
        worth, dead = worth_rebuilding(self.boot_path)
        if order_ok and not worth and not self.boot_changed:
            rec.status, rec.detail = "nothing-to-do", f"{dead:,} bytes reclaimable: kept"
            return
        out = self.work / "boot.wim"
        with wimcore.create(info.compression) as new:
            for index in range(1, info.image_count + 1):
                new.import_image(self.boot, index, boot=index == setup)
            new.write(out, progress=self.progress)
        self.outputs["boot.wim"] = (out, self.boot_path)
        rec.detail = (f"exported {info.image_count} image(s), boot index {setup}: "
                      f"{self.boot_path.stat().st_size:,} -> {out.stat().st_size:,} bytes")

    # 10-11. export install.wim -----------------------------------------------------------------
    def install_export(self, rec: StepRecord) -> None:
        assert self.install is not None
        worth, dead = worth_rebuilding(self.install_path)
        if not self.install_changed and not worth:
            rec.status, rec.detail = "nothing-to-do", f"unchanged, {dead:,} bytes reclaimable"
            return
        out = self.work / self.install_path.name
        self.install.write(out, solid=self.install.is_solid, progress=self.progress)
        self.outputs[self.install_path.name] = (out, self.install_path)
        rec.detail = (f"{self.install_path.stat().st_size:,} -> {out.stat().st_size:,} bytes"
                      + ("" if self.install_changed else " (dead space reclaimed)"))

    # 12 / 17. replace the media's files --------------------------------------------------------
    def publish(self, rec: StepRecord) -> None:
        """The point of no return: every new file renamed over the media's, one by one,
        each recorded (report and change ledger) as it lands."""
        self.close()
        if self.run.options.iso is not None:
            ledger.note_planned(Path(self.run.options.iso).absolute())
        group = f"{self.sources}/"
        outputs = sorted(self.outputs.items())
        staged = sorted(self.overlay.staged.items())
        for _label, (_new, dest) in outputs:
            ledger.note_planned(dest)
        for rel, _file in staged:
            ledger.note_planned(self.sources / rel, group=group)
        self.report.sources = [a.to_dict() for a in self.overlay.file_actions]
        def landed(dest: Path) -> Callable[[], None]:
            return lambda: self.report.replaced.append(dest.relative_to(self.media).as_posix())

        for _label, (new, dest) in outputs:
            _publish(new, dest, done=landed(dest))
        for rel, file in staged:
            dest = self.sources / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            _publish(file, dest, group, done=landed(dest))
        self._history()
        rec.detail = f"{len(self.report.replaced)} file(s) replaced"
        if not self.report.replaced:
            rec.status = "nothing-to-do"

    def _history(self) -> None:
        """Record what each replaced WIM's images got (staged and installed), with the backend.

        WinRE's packages go into install.wim's history (it lives inside install.wim).
        """
        from wimcore.servicing.history import load_history
        from wimcore.servicing.run import history_entry

        started, backend = self.report.started, self.report.backend
        replaced = {dest for _new, dest in self.outputs.values()}
        by_wim: dict[str, list[ImageReport]] = {}
        for i in self.report.images:
            by_wim.setdefault("Winre.wim" if i.wim.startswith("Winre.wim") else i.wim,
                              []).append(i.report)
        for path, carried in ((self.install_path, by_wim.get("Winre.wim", [])),
                              (self.boot_path, [])):
            if path not in replaced:
                continue
            entry = history_entry(started, started, backend, by_wim.get(path.name, []),
                                  skip_verify=self.report.skip_verify)
            entry["images"] += history_entry(started, started, backend, carried,
                                             wim="Winre.wim")["images"]
            if entry["images"]:
                hist = load_history(path)
                hist.add_run(entry)
                hist.save()


def service(media_dir: str | os.PathLike[str],
            updates: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
            options: ServiceOptions | None = None) -> MediaReport:
    """Service a media folder with the updates (a folder or files); see the module docstring.

    The log (``options.log``) and the JSON report with its ``.txt`` summary
    (``options.report``) go beside the media by default, visible; the work folder
    (``options.work_dir``, default beside the media) is removed afterwards unless
    ``options.keep_work``. Explicitly chosen install images that the backend cannot
    service raise their typed error before anything changes.
    """
    from wimcore.servicing.backend import get_backend

    opts = options or ServiceOptions()
    media = Path(media_dir).absolute()
    sources, install, boot = _layout(media)
    inputs = _update_inputs(updates)
    base = media.parent / media.name
    work_root = Path(opts.work_dir).absolute() if opts.work_dir else \
        Path(f"{base}.wimcore-work")
    log_path = Path(opts.log).absolute() if opts.log else Path(f"{base}.wimcore.log")
    report_path = Path(opts.report).absolute() if opts.report else \
        Path(f"{base}.wimcore-report.json")
    iso_dir = Path(opts.iso).absolute().parent if opts.iso is not None else None
    _check_writable(work_root, "the work folder", "--work-dir")
    if iso_dir is not None:
        _check_writable(iso_dir, "the ISO's folder", "--iso PATH")
    ledger.note_ignore(work_root)  # new WIMs, WinRE copies, expanded packages: temporaries
    ledger.note_record("report", report_path)
    ledger.note_record("log", log_path)
    started = dt.datetime.now(dt.timezone.utc)
    work = work_root / (started.strftime("run-%Y%m%dT%H%M%S-") + secrets.token_hex(3))
    bopts = dataclasses.replace(
        opts.backend_options or BackendOptions(),
        first_boot=opts.first_boot or (opts.backend_options or BackendOptions()).first_boot,
        media_root=(opts.backend_options.media_root if opts.backend_options
                    and opts.backend_options.media_root else str(media)),
        keep_work=opts.keep_work or (opts.backend_options or BackendOptions()).keep_work)
    engine = get_backend(opts.backend, bopts) if isinstance(opts.backend, str) else opts.backend
    keep_logs = getattr(engine, "keep_guest_logs", None)
    if callable(keep_logs):  # a backend with a guest (vm): its logs go beside the report,
        keep_logs(Path(f"{report_path}.guest-logs"))  # not into the work folder removed later
    report = MediaReport(str(media), str(work_root), started.isoformat(), backend=engine.name,
                         backend_note=getattr(engine, "note", "") or None,
                         skip_verify=opts.skip_verify, log=str(log_path),
                         report=str(report_path))
    made_root = not work_root.exists()
    with interrupts.deferred():  # made and removed by the same hands
        work_root.mkdir(parents=True, exist_ok=True)
    try:
        needs = [(work_root, estimate_space(install, boot, sources, inputs)
                  + opts.space_margin, "the work folder", "--work-dir")]
        if iso_dir is not None:
            iso = estimate_iso(media, inputs)
            needs.append((iso_dir, iso + max(2**20, iso // 100), "the ISO's folder",
                          "--iso PATH"))
        _check_space(needs)
    except BaseException:
        if made_root:
            work_root.rmdir()
        raise
    run = _Run(report, opts)
    t0 = time.monotonic()
    routine: _Routine | None = None
    outside = [p for p in (*inputs, work_root, log_path, report_path,
                           report_path.with_suffix(".txt")) if _inside(p, media)]
    handler: logging.Handler | None = None
    try:
        work.mkdir()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(log_path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        if log.level == logging.NOTSET or log.level > logging.INFO:
            log.setLevel(logging.INFO)
        log.info("servicing %s with %d input(s), backend %s; work in %s", media, len(inputs),
                 engine.name, work)
        if opts.skip_verify:
            run.warn("--skip-verify: packages are used WITHOUT checking them against their "
                     "catalogs and manifests")
        routine = _Routine(run, media, work, inputs, engine, outside)
        _steps(run, routine, opts)
        report.status = ("partial" if report.errors else
                         "incomplete" if report.unserviced else
                         "ok" if report.changed else "nothing-to-do")
    except BaseException as exc:
        cancelled = isinstance(exc, (Cancelled, KeyboardInterrupt))
        report.status = "cancelled" if cancelled else "failed"
        if not report.errors or cancelled:
            report.errors.append(final_names(str(exc).splitlines()[0]) if str(exc)
                                 else type(exc).__name__)
        if isinstance(exc, WimcoreError) and not isinstance(exc, MediaStepError):
            setattr(exc, "report", report)  # noqa: B010 - give callers the record
        if not opts.keep_work:  # removed below: say so where a message names it
            name_paths(exc, [(str(work), "<the run's work folder, removed after the run: "
                                         "--keep-work keeps it>")])
        raise
    finally:
        with interrupts.deferred():  # the report and the log are written whatever arrives
            _close_run(report, routine, install, boot, t0, handler, report_path)
            if opts.keep_work:
                report.work_kept = True
            else:
                shutil.rmtree(work, ignore_errors=True)
                if made_root:
                    try:
                        work_root.rmdir()
                    except OSError:
                        pass
            report.write(report_path)  # again: the work folder's fate is recorded
    return report


def _close_run(report: MediaReport, routine: _Routine | None, install: Path, boot: Path,
               t0: float, handler: logging.Handler | None, report_path: Path) -> None:
    """Close the WIMs, finish the log and write the report (before the work is removed)."""
    if routine is not None:
        routine.close()
    _sizes(report, install, boot, routine)
    report.seconds = time.monotonic() - t0
    log.info("run finished: %s in %.2f s", report.status, report.seconds)
    if handler is not None:
        log.removeHandler(handler)
        handler.close()
    report.write(report_path)


def _sizes(report: MediaReport, install: Path, boot: Path, routine: _Routine | None) -> None:
    """Sizes after the run: the files as they are now; unchanged ones keep their size."""
    for name, path in ((install.name, install), ("boot.wim", boot)):
        if path.exists():
            report.sizes_after[name] = path.stat().st_size
            report.sizes_before.setdefault(name, report.sizes_after[name])
    if "Winre.wim" in report.sizes_before:
        put_back = [g for g in (routine.winres if routine else []) if g.exported is not None]
        published = install.name in {Path(p).name for p in report.replaced}
        report.sizes_after["Winre.wim"] = (int(put_back[0].info["size_after"])
                                           if put_back and published
                                           else report.sizes_before["Winre.wim"])
    if report.iso:
        report.sizes_after["ISO"] = int(report.iso["size"])


def _steps(run: _Run, r: _Routine, opts: ServiceOptions) -> None:
    """The seed's Complete Steps, in order (numbers are the seed's)."""
    r.report.sizes_before[r.install_path.name] = r.install_path.stat().st_size
    r.report.sizes_before["boot.wim"] = r.boot_path.stat().st_size
    if opts.iso is not None and Path(opts.iso).is_file():
        r.report.sizes_before["ISO"] = Path(opts.iso).stat().st_size
    run.do("inputs", "1", r.take_inputs)
    run.do("open", "2", lambda rec: r.open_wims())
    run.do("winre-extract", "2.1", r.winre_extract)
    run.do("plan", "3, 6, 13, 14", r.plan_images)
    run.do("service-images", "3, 6-8, 13, 14", r.service_images)
    run.do("winre-export", "4", r.winre_export)
    run.do("winre-put-back", "5", r.winre_put_back)
    run.do("setup-dynamic-update", "13.4", r.apply_setup_du)
    run.do("sources-sync", "9, 13.4", r.sync_sources)
    run.do("install-export", "10-11", r.install_export)
    run.do("boot-rebuild", "15-16", r.boot_rebuild)
    run.tell("publishing: replacing the media's files")
    run.do("publish", "12, 17", r.publish)
    if opts.iso is not None:
        run.do("iso", "18", lambda rec: _iso(rec, r, opts))


def _iso(rec: StepRecord, r: _Routine, opts: ServiceOptions) -> None:
    from wimcore.iso import write_iso

    assert opts.iso is not None
    label = opts.volume_label or default_label(r.install_path)
    result = write_iso(r.media, opts.iso, label=label, exclude=r.outside)
    r.report.iso = result.to_dict()
    if not result.rewritten:
        ledger.note_unplanned(Path(opts.iso).absolute())
        rec.status = "nothing-to-do"
        rec.detail = f"{result.path}: kept, it already holds exactly these files"
        return
    rec.detail = f"{result.path} ({result.size:,} bytes, {', '.join(result.boot_entries)})"
