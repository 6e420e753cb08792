"""The monthly media routine of the seed's "Complete Steps", on an extracted-ISO folder.

``service(media, updates, options)`` works on copies in a working folder and replaces
the media's files only at the very end, each by an atomic rename: a failure or a cancel
before that leaves the media byte-identical. Every step is logged with its time and
lands in a :class:`~wimcore.media.report.MediaReport`. A WIM is rewritten only when its
images changed or an export would reclaim dead space, so a second run on serviced
media changes nothing.
"""

from __future__ import annotations

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
from wimcore.errors import Cancelled, WimcoreError
from wimcore.media.errors import MediaLayoutError, MediaStepError, NotEnoughSpaceError
from wimcore.media.report import MediaImageReport, MediaReport, StepRecord
from wimcore.media.sources_sync import SourcesOverlay, apply_setup_du, sync_from_image
from wimcore.media.wimspace import worth_rebuilding
from wimcore.packages.model import Package
from wimcore.progress import ProgressCallback, ProgressEvent, ProgressKind
from wimcore.servicing.report import ImageReport

log = logging.getLogger("wimcore.media")
T = TypeVar("T")

WINRE_PATH = "/Windows/System32/Recovery/Winre.wim"
#: Files of sources/ the sync never touches (the WIMs are rebuilt by their own steps).
SYNC_SKIP = frozenset({"install.wim", "install.esd", "boot.wim"})
SPACE_MARGIN = 64 * 1024 * 1024


@dataclass
class ServiceOptions:
    """How to run the routine: which install images, where to work, what to write."""

    images: Sequence[int | str] = ()  # install.wim indexes or names; empty: all
    work_dir: str | os.PathLike[str] | None = None
    iso: str | os.PathLike[str] | None = None
    report: str | os.PathLike[str] | None = None
    continue_on_error: bool = False
    first_boot: bool = False
    progress: ProgressCallback | None = None
    volume_label: str | None = None
    space_margin: int = SPACE_MARGIN
    keep_work: bool = False


@dataclass
class _WinRE:
    """One distinct WinRE (by SHA-1) and the install indexes that carry it."""

    sha1: str
    indexes: list[int]
    paths: dict[int, str]
    file: Path
    exported: Path | None = None
    info: dict[str, Any] = field(default_factory=dict)


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
            raise Cancelled(f"cancelled at: {message}; the media was not changed")

    @contextmanager
    def _timed(self, name: str, seed: str) -> Iterator[StepRecord]:
        rec = StepRecord(name, seed)
        self.report.steps.append(rec)
        start = time.monotonic()
        try:
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
            if isinstance(exc, Cancelled):
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


def _update_files(updates: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
                  ) -> list[Path]:
    if isinstance(updates, (str, os.PathLike)):
        p = Path(updates)
        if p.is_dir():
            return sorted(f for f in p.iterdir() if f.is_file()
                          and f.suffix.lower() in (".msu", ".cab", ".wim"))
        return [p]
    return [Path(u) for u in updates]


def _tree_size(root: Path) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())


def estimate_space(install: Path, boot: Path, sources: Path, updates: Sequence[Path]) -> int:
    """Bytes the working folder needs: new WIMs, WinRE copies, expanded updates, sources."""
    need = install.stat().st_size + boot.stat().st_size
    need += sum(4 * u.stat().st_size for u in updates if u.exists())
    need += sum(f.stat().st_size for f in sources.iterdir()
                if f.is_file() and f not in (install, boot))
    need += install.stat().st_size // 10  # WinRE copies (at most a tenth of install.wim)
    return need


def _check_space(path: Path, needed: int) -> None:
    free = shutil.disk_usage(path).free
    if free < needed:
        raise NotEnoughSpaceError(str(path), needed, free)


def _publish(src: Path, dest: Path) -> None:
    """Replace ``dest`` with ``src`` by one rename (copied beside it first across devices)."""
    try:
        os.replace(src, dest)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.wimcore-tmp")
    try:
        shutil.copy2(src, tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    src.unlink(missing_ok=True)


def default_label(install: Path) -> str:
    """A Microsoft-style volume label from install.wim's architecture and language."""
    from wimcore.media.iso import DEFAULT_LABEL

    try:
        with wimcore.open(install) as wim:
            info = wim.images[1].info
    except WimcoreError:
        return DEFAULT_LABEL
    arch = {"x64": "X64", "x86": "X86", "arm64": "A64"}.get(info.arch_label or "", "X64")
    lang = (info.default_language or "en-US").upper()
    return f"CCCOMA_{arch}FRE_{lang}_DV9"[:32]


# -- the routine ---------------------------------------------------------------------------

class _Routine:
    """One run's state: the open WIMs, the packages, the overlay, what changed."""

    def __init__(self, run: _Run, media: Path, work: Path, updates: list[Path]) -> None:
        self.run = run
        self.media = media
        self.work = work
        self.updates = updates
        self.sources, self.install_path, self.boot_path = _layout(media)
        self.packages: list[Package] = []
        self.setup_du: list[tuple[str, Path]] = []
        self.winres: list[_WinRE] = []
        self.install_changed = False
        self.staged_any: list[dict[str, Any]] = []
        self.overlay = SourcesOverlay(self.sources, work / "sources")
        self.outputs: dict[str, tuple[Path, Path]] = {}  # label -> (new file, media file)
        self.install: wimcore.Wim | None = None
        self.boot: wimcore.Wim | None = None
        self.selected: list[int] = []

    @property
    def report(self) -> MediaReport:
        return self.run.report

    @property
    def progress(self) -> ProgressCallback | None:
        return self.run.options.progress

    # 1. updates ------------------------------------------------------------------------
    def expand_updates(self, rec: StepRecord) -> None:
        from wimcore.packages.expand import expand
        from wimcore.packages.model import load_package

        for n, src in enumerate(self.updates, start=1):
            dest = self.work / "packages" / f"{n:02d}-{src.stem}"
            result = expand(src, dest, progress=self.progress)
            folders = _package_folders(dest)
            props = dict(result.msu.properties) if result.msu else {}
            entry: dict[str, Any] = {"source": str(src), "expanded": str(dest), "packages": []}
            if not folders and result.format == "cab":
                self.setup_du.append((src.name, dest))
                entry["kind"] = "setup-dynamic-update"
            for folder in folders:
                ssu = folder.name.lower().startswith("ssu-")
                pkg = load_package(folder, properties={} if ssu else props)
                self.packages.append(pkg)
                entry["packages"].append({"key": pkg.key, "kb": pkg.kb, "kind": pkg.kind.value})
            self.report.packages.append(entry)
        rec.detail = (f"{len(self.packages)} package(s), {len(self.setup_du)} Setup Dynamic "
                      "Update(s)")

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

    # 3. WinRE / WinPE / Setup: inventory and plan (they cannot be staged) -----------------
    def plan_only(self, wim: wimcore.Wim, index: int, label: str, note: str) -> ImageReport:
        from wimcore.servicing.image_inventory import inventory
        from wimcore.servicing.planner import PlanState, plan

        image = wim.images[index]
        rep = ImageReport(image.index, image.name)
        inv = inventory(image)
        the_plan = plan(inv, self.packages)
        rep.image_type, rep.inventory, rep.plan = inv.image_type.value, inv.to_dict(), \
            the_plan.to_dict()
        rep.skipped = [{"key": e.key, "state": e.state.value, "reason": e.reason}
                       for e in the_plan.entries]
        needs = any(e.state is PlanState.NEEDS_SERVICING_STACK for e in the_plan.entries)
        rep.status = "skipped" if needs else "nothing-to-do"
        self.report.images.append(MediaImageReport(label, rep, note if needs else ""))
        for w in the_plan.warnings:
            self.report.warnings.append(f"{label}:{index}: {w}")
        return rep

    def winre_service(self, rec: StepRecord) -> None:
        note = ("WinRE needs its own servicing stack (DISM) to install packages; wimcore "
                "plans them and does the file-level steps (export, put back)")
        for g in self.winres:
            with wimcore.open(g.file) as wim:
                for index in range(1, wim.info.image_count + 1):
                    self.plan_only(wim, index, f"Winre.wim[{g.sha1[:8]}]", note)
        rec.detail = f"{len(self.winres)} WinRE image(s) planned"
        if not self.winres:
            rec.status = "nothing-to-do"

    # 4. export WinRE to shrink it ----------------------------------------------------------
    def winre_export(self, rec: StepRecord) -> None:
        done = []
        for g in self.winres:
            worth, dead = worth_rebuilding(g.file)
            g.info["reclaimable"] = dead
            if not worth:
                g.info["action"] = "kept (nothing to reclaim, nothing staged)"
                continue
            out = g.file.with_name("Winre.exported.wim")
            with wimcore.open(g.file) as src:
                boot = src.info.boot_index
            wimcore.export(g.file, wimcore.ALL, out, boot=bool(boot), progress=self.progress)
            after = out.stat().st_size
            g.info["size_after"] = after
            if after < g.file.stat().st_size:
                g.exported = out
                g.info["action"] = "exported"
                done.append(f"{g.file.stat().st_size:,} -> {after:,} bytes")
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
            self.report.sizes_after["Winre.wim"] = next(
                g.exported.stat().st_size for g in self.winres if g.exported is not None)
        rec.detail = f"replaced in {count} index(es)"
        if not count:
            rec.status = "nothing-to-do"

    # 6-8. install.wim: inventory, plan, stage --------------------------------------------------
    def install_service(self, rec: StepRecord) -> None:
        from wimcore.servicing.history import load_history
        from wimcore.servicing.image_inventory import inventory
        from wimcore.servicing.planner import PlanState, plan
        from wimcore.servicing.staging import stage

        assert self.install is not None
        hist = load_history(self.install_path)
        staged_count = 0
        for index in self.selected:
            image = self.install.images[index]
            rep = ImageReport(image.index, image.name)
            self.report.images.append(MediaImageReport(self.install_path.name, rep))
            inv = inventory(image)
            the_plan = plan(inv, self.packages, staged=hist.staged_keys(index, image.name))
            rep.image_type, rep.inventory, rep.plan = inv.image_type.value, inv.to_dict(), \
                the_plan.to_dict()
            rep.skipped = [{"key": e.key, "state": e.state.value, "reason": e.reason}
                           for e in the_plan.entries if e.state is not PlanState.APPLICABLE]
            for w in the_plan.warnings:
                self.report.warnings.append(f"{self.install_path.name}:{index}: {w}")
            if not the_plan.applicable:
                rep.status = "nothing-to-do"
                continue
            result = stage(self.install, image, the_plan, first_boot=self.run.options.first_boot,
                           progress=self.progress)
            rep.staged = [s.to_dict() for s in result.staged]
            rep.status = "staged"
            staged_count += len(result.staged)
            self.install_changed = True
            self.staged_any.append({"index": index, "name": image.name,
                                    "staged": [{"key": s["key"], "kb": s.get("kb"),
                                                "location": s["location"]} for s in rep.staged]})
        rec.detail = f"{len(self.selected)} image(s), {staged_count} package(s) staged"
        if not staged_count:
            rec.status = "nothing-to-do"

    # 13-14. boot.wim: Setup (2) and WinPE (1), plan only --------------------------------------
    def boot_service(self, rec: StepRecord, index: int) -> None:
        assert self.boot is not None
        if index > self.boot.info.image_count:
            rec.status, rec.detail = "skipped", f"boot.wim has no image {index}"
            return
        note = ("WinPE/Setup need a servicing stack (DISM) to install packages; planned only")
        rep = self.plan_only(self.boot, index, self.boot_path.name, note)
        rec.detail = f"{rep.name}: {rep.status}"
        rec.status = "skipped" if rep.status == "skipped" else "nothing-to-do"

    # sources/ -----------------------------------------------------------------------------------
    def apply_setup_du(self, rec: StepRecord) -> None:
        actions = []
        for label, folder in self.setup_du:
            actions += apply_setup_du(self.overlay, folder, label)
        rec.detail = f"{len(actions)} file(s) from {len(self.setup_du)} Setup DU(s)"
        if not actions:
            rec.status = "nothing-to-do"

    def sync_sources(self, rec: StepRecord) -> None:
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
        self.report.sizes_before["boot.wim"] = self.boot_path.stat().st_size
        setup = info.boot_index or min(2, info.image_count)
        order_ok = info.image_count >= 2 and info.boot_index == 2
        worth, dead = worth_rebuilding(self.boot_path)
        if order_ok and not worth:
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
        self.report.sizes_before[self.install_path.name] = self.install_path.stat().st_size
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
        from wimcore.servicing.history import load_history

        for wim in (self.install, self.boot):
            if wim is not None:
                wim.close()
        replaced = []
        for _label, (new, dest) in sorted(self.outputs.items()):
            _publish(new, dest)
            replaced.append(dest)
        for rel, staged in sorted(self.overlay.staged.items()):
            dest = self.sources / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            _publish(staged, dest)
            replaced.append(dest)
        if self.staged_any:
            hist = load_history(self.install_path)
            hist.add_run({"run_id": self.report.started, "started": self.report.started,
                          "images": self.staged_any})
            hist.save()
        self.report.replaced = [p.relative_to(self.media).as_posix() for p in replaced]
        self.report.sources = [a.to_dict() for a in self.overlay.file_actions]
        rec.detail = f"{len(replaced)} file(s) replaced"
        if not replaced:
            rec.status = "nothing-to-do"


def _package_folders(root: Path) -> list[Path]:
    """Folders with a .mum under ``root``, outermost only."""
    found = sorted({p.parent for p in root.rglob("*.mum")})
    keep: list[Path] = []
    for f in found:
        if not any(k in f.parents for k in keep):
            keep.append(f)
    return keep


def service(media_dir: str | os.PathLike[str],
            updates: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
            options: ServiceOptions | None = None) -> MediaReport:
    """Service a media folder with the updates (a folder or files); see the module docstring."""
    opts = options or ServiceOptions()
    media = Path(media_dir).absolute()
    sources, install, boot = _layout(media)
    files = _update_files(updates)
    work_root = Path(opts.work_dir) if opts.work_dir else media.parent / \
        f".{media.name}.wimcore-work"
    work_root.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    work = work_root / (started.strftime("run-%Y%m%dT%H%M%S-") + secrets.token_hex(3))
    report = MediaReport(str(media), str(work_root), started.isoformat())
    _check_space(work_root, estimate_space(install, boot, sources, files) + opts.space_margin)
    if opts.iso is not None:
        iso_dir = Path(opts.iso).absolute().parent
        _check_space(iso_dir, _tree_size(media) + opts.space_margin)
    work.mkdir()
    handler = logging.FileHandler(work_root / "service.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET or log.level > logging.INFO:
        log.setLevel(logging.INFO)
    report.log = str(work_root / "service.log")
    run = _Run(report, opts)
    t0 = time.monotonic()
    routine: _Routine | None = None
    try:
        log.info("servicing %s with %d update file(s); work in %s", media, len(files), work)
        routine = _Routine(run, media, work, files)
        _steps(run, routine, opts)
        report.status = ("partial" if report.errors else
                         "ok" if report.changed else "nothing-to-do")
    except BaseException as exc:
        cancelled = isinstance(exc, (Cancelled, KeyboardInterrupt))
        report.status = "cancelled" if cancelled else "failed"
        if not report.errors or cancelled:
            report.errors.append(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise
    finally:
        if routine is not None:
            for wim in (routine.install, routine.boot):
                if wim is not None:
                    wim.close()
        report.seconds = time.monotonic() - t0
        for name, path in (("install.wim", install), ("boot.wim", boot)):
            if path.exists():
                report.sizes_after.setdefault(name if name != "install.wim" else path.name,
                                              path.stat().st_size)
        log.info("run finished: %s in %.2f s", report.status, report.seconds)
        log.removeHandler(handler)
        handler.close()
        report.write(opts.report if opts.report is not None else work_root / "report.json")
        if not opts.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    return report


def _steps(run: _Run, r: _Routine, opts: ServiceOptions) -> None:
    """The seed's Complete Steps, in order (numbers are the seed's)."""
    run.do("expand-updates", "1", r.expand_updates)
    run.do("open", "2", lambda rec: r.open_wims())
    run.do("winre-extract", "2.1", r.winre_extract)
    run.do("winre-service", "3", r.winre_service)
    run.do("winre-export", "4", r.winre_export)
    run.do("winre-put-back", "5", r.winre_put_back)
    run.do("install-service", "6-8", r.install_service)
    run.do("setup-service", "13", lambda rec: r.boot_service(rec, 2))
    run.do("winpe-service", "14", lambda rec: r.boot_service(rec, 1))
    run.do("setup-dynamic-update", "13.4", r.apply_setup_du)
    run.do("sources-sync", "9, 13.4", r.sync_sources)
    run.do("install-export", "10-11", r.install_export)
    run.do("boot-rebuild", "15-16", r.boot_rebuild)
    run.tell("publishing: replacing the media's files")
    run.do("publish", "12, 17", r.publish)
    if opts.iso is not None:
        run.do("iso", "18", lambda rec: _iso(rec, r, opts))


def _iso(rec: StepRecord, r: _Routine, opts: ServiceOptions) -> None:
    from wimcore.media.iso import write_iso

    assert opts.iso is not None
    label = opts.volume_label or default_label(r.install_path)
    result = write_iso(r.media, opts.iso, label=label)
    r.report.iso = result.to_dict()
    rec.detail = f"{result.path} ({result.size:,} bytes, {', '.join(result.boot_entries)})"
