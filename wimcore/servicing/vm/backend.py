"""The ``vm`` backend: the image's own servicing stack (WinPE + DISM) under QEMU, mount-free.

One ``apply`` call is one boot: every target image is applied to its own sparse NTFS
volume file (libwimlib, NTFS-3G mode), the packages and the job go on a job disk, the
WinPE (the media's ``boot.wim`` index 1, or ``--winpe``) is exported with a launcher onto
a small boot ISO, and QEMU boots it with no network. After the guest powers off, its
results are parsed as untrusted input; each target whose steps all succeeded is
captured back into its WIM at the same index (in memory: the runner commits once per
WIM, after :func:`~wimcore.servicing.backend.postcheck` has judged the image's own
records). ``prepare_only`` writes the whole bundle and stops; ``resume`` finishes a
bundle that was booted elsewhere.

DISM's exit codes are judged by :mod:`wimcore.servicing.dism_codes`; a ``not applicable``
step counts only when the image's records show an equal or newer package of the line
installed. When the VM is stopped (total or no-progress timeout), a target whose steps
had all finished is kept if its volume checks clean; the others are discarded. WinPE's
CBS and DISM logs come back on the job disk and are kept beside the report.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import interrupts, ledger, stagehook
from wimcore.errors import Cancelled
from wimcore.progress import ProgressCallback, ProgressEvent, ProgressKind
from wimcore.servicing.backend import (
    BackendOptions,
    ImageJob,
    ImageOutcome,
    PackageOutcome,
    PackageResult,
    covering_package,
    postcheck,
)
from wimcore.servicing.dism_codes import MEANING, CodeClass
from wimcore.servicing.image_inventory import ImageType, Inventory
from wimcore.servicing.planner import PlanEntry
from wimcore.servicing.vm import qemu
from wimcore.servicing.vm.bundle import (
    BUNDLE_FILE,
    BUNDLE_FORMAT,
    bundle_readme,
    check_unchanged,
    read_bundle,
    wim_fingerprint,
)
from wimcore.servicing.vm.capture import (
    capture_config_text,
    capture_volume,
    template_for,
    volume_inventory,
)
from wimcore.servicing.vm.disks import (
    MIB,
    Disk,
    format_volume,
    present,
    round_volume_size,
    volume_problem,
)
from wimcore.servicing.vm.errors import (
    BootFilesError,
    BundleError,
    DismStepError,
    GuestFailedError,
    GuestTimeoutError,
    NetFx3SourceError,
    NotEnoughSpaceError,
    NotWinPEError,
    TooManyTargetsError,
    VmError,
)
from wimcore.servicing.vm.guestjob import (
    SCRATCH_DIR,
    Action,
    GuestJob,
    Step,
    Target,
    job_text,
    parse_job,
)
from wimcore.servicing.vm.jobdisk import (
    GuestAnswer,
    StepPayload,
    build_job_disk,
    job_disk_bytes,
    package_payload,
    read_answer,
    step_ubr,
)
from wimcore.servicing.vm.results import SerialEvent, exit_code_text
from wimcore.servicing.vm.winpe import (
    RUNNABLE_ARCHES,
    WinPEInfo,
    WinPESource,
    check_target,
    inspect_winpe,
    media_winpe,
    parse_winpe,
)

if TYPE_CHECKING:
    from wimcore.wim import Wim

NAME = "vm"
#: Room for DISM's scratch and the component store's growth, per byte of package.
SCRATCH_FACTOR = 3
VOLUME_SLACK = 2 * 1024 * MIB
SPACE_MARGIN = 64 * MIB
#: The total timeout when none is given: one hour, and four per target image.
TIMEOUT_BASE = 3600.0
TIMEOUT_PER_TARGET = 4 * 3600.0
#: The NetFX3 feature-on-demand package (the media's sources\sxs holds it).
NETFX3_CAB_PREFIX = "microsoft-windows-netfx3-ondemand-package~"


def netfx3_cab(folder: str | os.PathLike[str]) -> Path:
    """The NetFX3 feature-on-demand CAB in ``folder`` (``--enable-netfx3``), sniffed as a
    cabinet; NetFx3SourceError before anything is written when there is none."""
    root = Path(folder)
    if not root.is_dir():
        raise NetFx3SourceError(f"{root}: the NetFX3 source (the media's sources\\sxs "
                                "folder) does not exist")
    found = sorted(p for p in root.iterdir() if p.is_file()
                   and p.name.lower().startswith(NETFX3_CAB_PREFIX)
                   and p.name.lower().endswith(".cab"))
    if not found:
        raise NetFx3SourceError(
            f"{root} holds no {NETFX3_CAB_PREFIX}*.cab: give the media's sources\\sxs "
            "folder (DISM would fail hours later with 0x800F081F, source not found)")
    cab = found[-1]
    with open(cab, "rb") as fh:
        if fh.read(4) != b"MSCF":
            raise NetFx3SourceError(f"{cab}: not a cabinet file (no MSCF signature)")
    return cab


@dataclass
class _Plan:
    """What one boot will do: the guest job and, per step, the plan entry it installs."""

    job: GuestJob
    entry_of: dict[int, PlanEntry] = field(default_factory=dict)
    payloads: dict[int, StepPayload] = field(default_factory=dict)


def _signature(job_id: str, n: int) -> int:
    value = (int(job_id[:8], 16) ^ (n * 0x9E3779B1)) & 0xFFFFFFFF
    return value or 0x57494D43


def _notify(progress: ProgressCallback | None, message: str) -> None:
    """A STEP progress event; the callback may cancel (False or Cancelled)."""
    if progress is not None and progress(ProgressEvent(ProgressKind.STEP,
                                                       message=message)) is False:
        raise Cancelled("cancelled by the progress callback; no image was changed")


class VmBackend:
    """Install with the image's own DISM in WinPE under QEMU (see the module docstring).

    ``guest`` replaces the WinPE boot ISO by a directly booted kernel (the test suite's
    stand-in guest, which speaks the same job protocol); users never pass it.
    """

    name = NAME
    batches = True

    def __init__(self, options: BackendOptions | None = None, *,
                 guest: qemu.KernelBoot | None = None, note: str = "") -> None:
        self.options = options or BackendOptions()
        self.guest = guest
        self.note = note
        self._folders: list[Path] = []  # volume files the commit reads; dropped by release()
        #: Where WinPE's logs are kept (the runner sets it beside the report); None: in
        #: the work folder (kept only with ``keep_work``).
        self.logs_dir: Path | None = None

    def keep_guest_logs(self, folder: Path) -> None:
        """Keep WinPE's CBS/DISM logs of the next runs in ``folder`` (beside the report)."""
        self.logs_dir = folder

    # -- the protocol ------------------------------------------------------------------------
    def refusal(self, inv: Inventory) -> str | None:
        """Every Windows image type can be serviced, if QEMU can run its architecture."""
        if inv.image_type is ImageType.NOT_WINDOWS:
            return "not a Windows image (no Windows/ folder)"
        if inv.arch is not None and inv.arch not in RUNNABLE_ARCHES:
            return (f"a {inv.arch} image needs a {inv.arch} WinPE, which "
                    "qemu-system-x86_64 cannot run")
        return None

    def apply(self, jobs: Sequence[ImageJob], *, work: Path,
              progress: ProgressCallback | None = None) -> list[ImageOutcome]:
        """Service every job's image in one boot (or prepare it, or finish a bundle)."""
        if not jobs:
            return []
        if self.options.resume:
            return self._resume(jobs, Path(self.options.resume), progress)
        if self.options.netfx3_source:
            netfx3_cab(self.options.netfx3_source)  # before anything is written
        if self.options.prepare_only:
            return self._prepare(jobs, Path(self.options.prepare_only), progress)
        # The runner removes ``work``; a kept folder lives beside the system's temp files.
        folder = Path(tempfile.mkdtemp(prefix="wimcore-vm-",
                                       dir=None if self.options.keep_work else work))
        self._folders.append(folder)
        _notify(progress, f"vm: work folder {folder}"
                + (" (kept afterwards)" if self.options.keep_work else ""))
        built = self._build(jobs, folder, progress, prepare=False)
        logs = self._logs_folder(folder)
        try:
            run = self._boot(built, progress)
        except GuestTimeoutError as stop:
            return self._after_stop(jobs, built, folder, logs, stop, progress)
        if any(e.what == "error" and "no-job-disk" in e.text for e in run.events):
            raise GuestFailedError("the guest did not find its job disk (the disk whose root "
                                   "holds wimcore-job.txt) after waiting for it; no image "
                                   "was changed")
        answer = read_answer(built.job_disk.volume, built.plan.job, logs_to=logs)
        return self._finish(jobs, built.plan, answer, built.targets, folder, run, progress,
                            built.details, logs=logs)

    def _logs_folder(self, folder: Path) -> Path:
        """A fresh folder for WinPE's logs of this boot (beside the report when known)."""
        if self.logs_dir is None:
            return folder / "guest-logs"
        base = self.logs_dir
        out, n = base, 1
        while out.exists():
            n += 1
            out = base.with_name(f"{base.name}-{n}")
        return out

    def _after_stop(self, jobs: Sequence[ImageJob], built: VmBackend._Built, folder: Path,
                    logs: Path, stop: GuestTimeoutError,
                    progress: ProgressCallback | None) -> list[ImageOutcome]:
        """The VM was stopped: keep each target whose steps had all finished and whose
        volume checks clean; discard the others (the report says which). Nothing kept:
        the stop's own error."""
        try:
            answer = read_answer(built.job_disk.volume, built.plan.job, logs_to=logs)
        except VmError:
            raise stop from None
        results = answer.results
        kept: dict[int, str] = {}
        discarded: dict[int, str] = {}
        for n, disk in enumerate(built.targets, start=1):
            steps = built.plan.job.steps_of(n)
            if n in results.missing_targets or any(s.number not in results.steps
                                                   for s in steps):
                discarded[n] = "its steps had not all finished"
                continue
            problem = volume_problem(disk.volume)
            if problem is None:
                kept[n] = "its steps had all finished and its volume checks clean"
            else:
                discarded[n] = ("its steps had finished, but its volume does not check "
                                f"clean ({problem})")
        if not kept:
            raise type(stop)(f"{stop}; no image was kept: " + "; ".join(
                f"{jobs[n - 1].label}: {why}" for n, why in discarded.items())) from None
        _notify(progress, f"vm: stopped ({stop}); kept "
                + ", ".join(jobs[n - 1].label for n in kept))
        details = dict(built.details, stopped={
            "reason": str(stop),
            "kept": [{"target": n, "label": jobs[n - 1].label, "why": w} for n, w in kept.items()],
            "discarded": [{"target": n, "label": jobs[n - 1].label, "why": w}
                          for n, w in discarded.items()]})
        return self._finish(jobs, built.plan, answer, built.targets, folder, None, progress,
                            details, logs=logs, stopped=(stop, kept, discarded))

    def release(self) -> None:
        """Remove the volume files and logs of the last runs, unless ``keep_work``.

        The runner calls this once the WIM is closed: libwimlib reads the captured
        volumes' data while it writes the WIM, so they must live until then.
        """
        folders, self._folders = self._folders, []
        if not self.options.keep_work:
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)

    # -- building the boot ----------------------------------------------------------------------
    def _winpe(self, jobs: Sequence[ImageJob] = ()) -> WinPEInfo | None:
        """The WinPE that will run DISM (None with a stand-in guest): ``--winpe``, else the
        media's boot.wim index 1 (the media folder given, or the one whose ``sources/``
        holds the target WIM)."""
        if self.guest is not None:
            return None
        source: WinPESource | None = None
        if self.options.winpe:
            source = parse_winpe(self.options.winpe)
        elif self.options.media_root:
            source = media_winpe(self.options.media_root)
        else:
            for ij in jobs:
                folder = Path(ij.wim.path or "").absolute().parent
                if folder.name.lower() == "sources":
                    source = media_winpe(folder.parent)
                    if source is not None:
                        break
        if source is None:
            raise NotWinPEError("no WinPE to run DISM: give --winpe PATH[:INDEX] (e.g. the "
                                "media's sources/boot.wim:1) or service a media folder")
        return inspect_winpe(source)

    def _steps(self, jobs: Sequence[ImageJob], job_id: str, *, cleanup: bool,
               reset_base: bool, netfx3: bool) -> _Plan:
        """The guest job for ``jobs``: per target its packages in plan order, then cleanup,
        then NetFX3 and the cumulative update again (install images), as asked."""
        targets: list[Target] = []
        steps: list[Step] = []
        entry_of: dict[int, PlanEntry] = {}
        for n, ij in enumerate(jobs, start=1):
            targets.append(Target(n, ij.inventory.image_type.value, ij.label))

            def add(action: Action, entry: PlanEntry | None = None, path: str | None = None,
                    _n: int = n) -> None:
                number = len(steps) + 1
                steps.append(Step(number, _n, action, path=path,
                                  key=entry.key if entry else None,
                                  kind=entry.kind if entry else None,
                                  kb=entry.kb if entry else None,
                                  ubr=step_ubr(entry) if entry else None))
                if entry is not None:
                    entry_of[number] = entry

            for entry in ij.entries:
                add(Action.ADD_PACKAGE, entry)
            if cleanup or reset_base:
                add(Action.CLEANUP_RESETBASE if reset_base else Action.CLEANUP)
            if netfx3 and ij.inventory.image_type.is_install:
                add(Action.ENABLE_NETFX3, path="sxs")
                newest = _newest_cumulative(ij.entries)
                if newest is not None:  # its folder holds the checkpoints it needs
                    add(Action.ADD_PACKAGE, newest)
        return _Plan(GuestJob(job_id, tuple(targets), tuple(steps)), entry_of)

    def _payloads(self, jobs: Sequence[ImageJob], plan: _Plan) -> list[tuple[Path, str]]:
        """Every file of the job disk (paths and meta folders filled into the steps)."""
        items: list[tuple[Path, str]] = []
        # one copy per package on the job disk, whichever targets and steps use it
        first_for_key: dict[tuple[str, tuple[str, ...]], StepPayload] = {}
        steps = list(plan.job.steps)
        for i, step in enumerate(steps):
            if step.action is Action.ADD_PACKAGE:
                entry = plan.entry_of[step.number]
                ij = jobs[step.target - 1]
                by_key = {e.key: e for e in ij.entries}
                key = (entry.key, tuple(sorted(entry.after)))
                payload = first_for_key.get(key)
                if payload is None:
                    payload = package_payload(step.number, entry, ij.package_files, by_key)
                    first_for_key[key] = payload
                    items += payload.items
                plan.payloads[step.number] = payload
                steps[i] = Step(step.number, step.target, step.action, payload.path,
                                payload.meta, step.key, step.kind, step.kb, step.ubr)
            elif step.action is Action.ENABLE_NETFX3:
                cab = netfx3_cab(self.options.netfx3_source or "")
                if not any(target.startswith("/sxs/") for _, target in items):
                    items.append((cab, f"/sxs/{cab.name}"))
        plan.job = GuestJob(plan.job.job_id, plan.job.targets, tuple(steps))
        return items

    def _check_space(self, jobs: Sequence[ImageJob], items: Sequence[tuple[Path, str]],
                     winpe_bytes: int, folder: Path) -> int:
        """Bytes the boot will need on ``folder``'s file system; NotEnoughSpaceError if short."""
        packages = job_disk_bytes(items)
        needed = packages + 2 * winpe_bytes + SPACE_MARGIN
        for ij in jobs:
            needed += (ij.wim.images[ij.index].info.total_bytes or 0) + \
                SCRATCH_FACTOR * packages + SPACE_MARGIN
        free = shutil.disk_usage(folder).free
        if needed > free:
            raise NotEnoughSpaceError(
                f"{folder}: {needed / MIB:,.0f} MiB needed for the volume files, job disk "
                f"and boot ISO, {free / MIB:,.0f} MiB free; free some space or use another "
                "work folder", needed=needed, free=free)
        return needed

    def _volume_bytes(self, ij: ImageJob, package_bytes: int) -> int:
        total = ij.wim.images[ij.index].info.total_bytes or 0
        return round_volume_size(total * 2 + SCRATCH_FACTOR * package_bytes + VOLUME_SLACK)

    @dataclass
    class _Built:
        plan: _Plan
        targets: list[Disk]
        job_disk: Disk
        boot: qemu.BootSource
        command: list[str]
        serial: Path
        accel: qemu.AccelChoice
        details: dict[str, Any]

    def _build(self, jobs: Sequence[ImageJob], folder: Path,
               progress: ProgressCallback | None, *, prepare: bool) -> VmBackend._Built:
        """Check everything, then lay out volumes, job disk and boot medium in ``folder``."""
        opts = self.options
        exe = qemu.QEMU if prepare else qemu.find_qemu()
        max_disks = (self.guest.max_disks if self.guest is not None
                     else qemu.IsoBoot(Path("-")).max_disks)
        if len(jobs) + 1 > max_disks:
            raise TooManyTargetsError(f"{len(jobs)} target images and the job disk make "
                                      f"{len(jobs) + 1} disks; one boot presents at most "
                                      f"{max_disks}: service fewer images per run")
        for ij in jobs:
            why = self.refusal(ij.inventory)
            if why is not None:
                raise VmError(f"{ij.label}: {why}")
        winpe = self._winpe(jobs)
        if winpe is not None:
            for ij in jobs:
                check_target(winpe, ij.inventory)
        job_id = secrets.token_hex(8)
        plan = self._steps(jobs, job_id, cleanup=opts.cleanup, reset_base=opts.reset_base,
                           netfx3=bool(opts.netfx3_source))
        items = self._payloads(jobs, plan)
        winpe_bytes = winpe.source.path.stat().st_size if winpe is not None else 0
        needed = self._check_space(jobs, items, winpe_bytes, folder)
        details: dict[str, Any] = {"job_id": job_id, "space_checked_bytes": needed,
                                   "winpe": winpe.to_dict() if winpe else None,
                                   "guest": "stand-in kernel" if self.guest else "WinPE ISO"}
        # The boot medium first: its checks (real boot files) are cheap to fail on.
        boot: qemu.BootSource
        if self.guest is not None:
            boot = self.guest
        else:
            assert winpe is not None
            _notify(progress, f"vm: boot ISO from {winpe.source}")
            boot, medium_facts = self._boot_medium(winpe, folder, prepare)
            details.update(medium_facts)
        config = folder / "capture.ini"
        config.write_text(capture_config_text())
        package_bytes = job_disk_bytes(items)
        disks: list[Disk] = []
        for n, ij in enumerate(jobs, start=1):
            _notify(progress, f"vm: applying {ij.label} to an NTFS volume file")
            volume = format_volume(folder / f"target-{n}.img",
                                   self._volume_bytes(ij, package_bytes), f"WIMCORE{n}")
            ij.wim.images[ij.index].apply(volume, progress=progress)
            _mark_target(volume, plan.job, n, folder)
            disks.append(present(volume, _signature(job_id, n), ij.label))
        _notify(progress, "vm: writing the job disk")
        job_disk = build_job_disk(plan.job, items, folder, _signature(job_id, 0))
        accel = (qemu.AccelChoice("tcg" if opts.accel == "tcg" else "kvm") if prepare
                 else qemu.choose_accel(opts.accel, exe))
        serial = folder / "serial.log"
        memory, cpus, bounded = ((opts.memory_mib, opts.cpus, None) if prepare
                                 else qemu.bounded_size(opts.memory_mib, opts.cpus))
        command = qemu.command(boot, [job_disk, *disks], serial=serial,
                               memory_mib=memory, cpus=cpus, accel=accel.accel, qemu=exe)
        details.update({"accel": accel.accel, "accel_warning": accel.warning,
                        "memory_mib": memory, "cpus": cpus, "size_note": bounded,
                        "cpu": qemu.cpu_option(accel.accel),
                        "timeout_seconds": self._timeout(len(jobs)),
                        "stall_timeout_seconds": opts.stall_timeout,
                        "targets": [{"number": n, "label": ij.label, "index": ij.index,
                                     "volume_bytes": d.volume.stat().st_size}
                                    for n, (ij, d) in enumerate(zip(jobs, disks, strict=True),
                                                                start=1)],
                        "steps": [{"number": s.number, "target": s.target,
                                   "title": s.title} for s in plan.job.steps]})
        return VmBackend._Built(plan, disks, job_disk, boot, command, serial, accel, details)

    def _boot_medium(self, winpe: WinPEInfo, folder: Path,
                     prepare: bool) -> tuple[qemu.IsoBoot, dict[str, Any]]:
        """The boot ISO; BootFilesError for fake boot files unless only preparing."""
        import wimcore
        from wimcore.servicing.vm.bootfiles import collect, fake_boot_files
        from wimcore.servicing.vm.bootmedium import write_boot_iso

        media = self._media_root(winpe.source)
        with wimcore.open(winpe.source.path) as wim:
            image = wim.images[winpe.source.index]
            files = collect(media, image, folder / "boot-files")
            dism = image.read_bytes(winpe.dism)
        fakes = fake_boot_files(files, winpe.arch or "x64", dism)
        facts: dict[str, Any] = {"boot_files": files.to_dict(), "boot_files_fake": fakes}
        if fakes and not prepare:
            raise BootFilesError("these are not real Windows boot files, the VM would not "
                                 "boot (the built-in sample media's are stand-ins): "
                                 + "; ".join(fakes))
        medium = write_boot_iso(winpe.source, files, folder / "boot.iso", folder)
        if medium.scratch_space.startswith("not raised") and not prepare:
            raise NotWinPEError(f"{winpe.source}: WinPE's scratch space {medium.scratch_space}: "
                                "a WinPE that boots has a readable SYSTEM hive")
        shutil.rmtree(folder / "boot-files", ignore_errors=True)
        facts.update({"iso_bytes": medium.iso_bytes, "boot_wim_bytes": medium.boot_wim_bytes,
                      "boot_entries": list(medium.boot_entries),
                      "winpe_scratch_space": medium.scratch_space,
                      "boot_wim_compression": "LZX (non-solid)"})
        return qemu.IsoBoot(medium.iso), facts

    def _media_root(self, source: WinPESource) -> Path | None:
        """The media folder with the boot files: given, or the one the WinPE's boot.wim is in."""
        if self.options.media_root:
            return Path(self.options.media_root)
        parent = source.path.absolute().parent
        if parent.name.lower() == "sources" and (parent.parent / "boot").is_dir():
            return parent.parent
        return None

    def _timeout(self, targets: int) -> float:
        """The total timeout: given, else one hour and four per target image."""
        if self.options.timeout is not None:
            return float(self.options.timeout)
        return TIMEOUT_BASE + TIMEOUT_PER_TARGET * max(1, targets)

    # -- running it ----------------------------------------------------------------------------
    def _boot(self, built: VmBackend._Built, progress: ProgressCallback | None) -> qemu.RunResult:
        """Boot and supervise the VM (progress lines become STEP events)."""
        if built.accel.warning:
            _notify(progress, f"vm: warning: {built.accel.warning}")
        steps = {s.number: s for s in built.plan.job.steps}
        total = len(steps)

        def on_event(event: SerialEvent) -> bool | None:
            if event.step is not None and event.step in steps:
                what = f"step {event.step}/{total} {event.what}: {steps[event.step].title}"
                if event.what == "end" and event.exit_code is not None:
                    what += f" (exit code {exit_code_text(event.exit_code)})"
            else:
                what = event.what
            if progress is None:
                return None
            return progress(ProgressEvent(ProgressKind.STEP, done_items=event.step or 0,
                                          total_items=total, message=f"vm guest: {what}"))

        timeout = self._timeout(len(built.targets))
        if built.details.get("size_note"):
            _notify(progress, f"vm: {built.details['size_note']}")
        _notify(progress, f"vm: booting ({built.accel.accel}, timeout {timeout:.0f} s, "
                          f"{self.options.stall_timeout:.0f} s without progress)")
        return qemu.run(built.command, serial=built.serial, timeout=timeout,
                        log_dir=built.serial.parent, on_event=on_event,
                        stall=self.options.stall_timeout)

    # -- the answer ----------------------------------------------------------------------------
    def _finish(self, jobs: Sequence[ImageJob], plan: _Plan, answer: GuestAnswer,
                targets: Sequence[Disk], folder: Path, run: qemu.RunResult | None,
                progress: ProgressCallback | None,
                details: dict[str, Any], *, logs: Path | None = None,
                stopped: tuple[GuestTimeoutError, dict[int, str], dict[int, str]] | None = None
                ) -> list[ImageOutcome]:
        """Capture back each target whose steps all went on (per the code table) and whose
        not-applicable steps the image's records bear out; an outcome per job."""
        results = answer.results
        if not results.complete and stopped is None:
            raise GuestFailedError("the guest stopped before finishing the job (its results "
                                   "have no 'end' record); no image was changed")
        config = folder / "capture.ini"
        if not config.is_file():
            config.write_text(capture_config_text())
        guest_logs = {"folder": str(logs) if logs is not None and answer.logs else None,
                      "files": answer.logs, "skipped": answer.logs_skipped}
        outcomes: list[ImageOutcome] = []
        captures: list[tuple[ImageJob, Path, ImageOutcome]] = []
        for n, (ij, disk) in enumerate(zip(jobs, targets, strict=True), start=1):
            steps = plan.job.steps_of(n)
            outcome = ImageOutcome(ij.label, ij.index, ij.plan.image_name, NAME,
                                   details=dict(details, boot_seconds=run.seconds if run
                                                else None, target=n, guest_logs=guest_logs))
            outcome.details["dism"] = [
                {"step": s.number, "title": s.title,
                 "exit_code": results.steps[s.number].exit_code if s.number in results.steps
                 else None,
                 "meaning": results.steps[s.number].code_class.value
                 if s.number in results.steps else None,
                 "seconds": results.steps[s.number].seconds if s.number in results.steps
                 else None} for s in steps]
            if n in answer.package_lists:
                outcome.details["get_packages_tail"] = answer.package_lists[n][-4000:]
            failed = next((s for s in steps if s.number in results.steps
                           and not results.steps[s.number].ok), None)
            unrun = [s for s in steps if s.number not in results.steps]
            if stopped is not None and n not in stopped[1]:
                why = stopped[2].get(n, "its steps had not all finished")
                reason = (f"discarded: the VM was stopped ({stopped[0]}) and {why}; the "
                          "image was left unchanged")
                self._all(outcome, ij, PackageResult.FAILED, reason)
                outcome.reason = reason
                outcome.error = type(stopped[0])(f"{ij.label}: {reason}")
            elif n in results.missing_targets:
                marker = plan.job.targets[n - 1].marker(plan.job.job_id)
                reason = (f"the guest did not find this image's volume (marker "
                          f"\\{SCRATCH_DIR}\\{marker}) after waiting for it; nothing ran "
                          "on it")
                self._all(outcome, ij, PackageResult.FAILED, reason)
                outcome.reason = reason
                outcome.error = GuestFailedError(f"{ij.label}: {reason}")
            elif failed is not None or unrun:
                self._failed(outcome, ij, plan, answer, failed, unrun, logs=guest_logs)
            else:
                # The shared judge reads the volume first: an image in which nothing is
                # installed (DISM's silent no-op) is not captured back at all.
                judged = volume_inventory(disk.volume, config)
                unborne = self._not_applicable(outcome, plan, answer, n, judged)
                if unborne is not None:
                    self._failed(outcome, ij, plan, answer, unborne, [], logs=guest_logs,
                                 judged=True)
                    outcomes.append(outcome)
                    continue
                self._installed(outcome, ij, plan, answer)
                if stopped is not None:
                    outcome.reason += f" (kept after the VM was stopped: {stopped[1][n]})"

                def read_judged(_wim: object, _index: int, inv: Inventory = judged) -> Inventory:
                    return inv

                postcheck(ij, outcome, read=read_judged)
                if any(p.state is PackageResult.INSTALLED for p in outcome.packages):
                    captures.append((ij, disk.volume, outcome))
                else:
                    outcome.reason = ("DISM reported success, but the image's own records "
                                      "show nothing installed; the image was left unchanged")
            outcomes.append(outcome)
        self._capture(captures, config, progress)
        return outcomes

    def _not_applicable(self, outcome: ImageOutcome, plan: _Plan, answer: GuestAnswer,
                        target: int, judged: Inventory) -> Step | None:
        """Judge the target's not-applicable and pending steps against the code table;
        the first not-applicable step the image's records do not bear out, else None."""
        notes: list[str] = []
        for step in plan.job.steps_of(target):
            got = answer.results.steps[step.number]
            if got.code_class is CodeClass.PENDING:
                notes.append(f"step {step.number} ({step.title}) returned "
                             f"{exit_code_text(got.exit_code)}: {MEANING[CodeClass.PENDING]} "
                             "(the component store was not cleaned up)")
            elif got.code_class is CodeClass.NOT_APPLICABLE:
                entry = plan.entry_of.get(step.number)
                cover = covering_package(judged, entry) if entry is not None else None
                if cover is None:
                    return step
                notes.append(f"step {step.number} ({step.title}) returned "
                             f"{exit_code_text(got.exit_code)} (not applicable): the image has "
                             f"{cover.kb or cover.key} {cover.version} installed")
        if notes:
            outcome.details["dism_notes"] = notes
        return None

    def _logs_line(self, logs: dict[str, Any] | None) -> str:
        if not logs or not logs.get("folder"):
            return "\n(WinPE's CBS/DISM logs did not come back)"
        names = [f for f in logs["files"] if f.lower().startswith(("cbs/", "dism/"))]
        return (f"\nWinPE's logs are kept in {logs['folder']}"
                + (f" ({', '.join(names[:4])})" if names else ""))

    def _capture(self, captures: Sequence[tuple[ImageJob, Path, ImageOutcome]], config: Path,
                 progress: ProgressCallback | None) -> None:
        """Capture the volumes back; a WIM whose images are as its file holds them lends
        them as templates, so unchanged files keep their stored data (no recompression)."""
        templates: dict[int, Wim | None] = {}
        for ij, volume, outcome in captures:
            if id(ij.wim) not in templates:  # before this backend changed anything in it
                templates[id(ij.wim)] = (template_for(ij.wim) if not ij.wim.modified
                                         and ij.wim.path is not None else None)
            template = templates[id(ij.wim)]
            _notify(progress, f"vm: capturing {ij.label} back into its WIM")
            changes = capture_volume(ij.wim, ij.index, volume, config, progress=progress,
                                     template=template)
            outcome.changed = True
            outcome.details["properties_changed"] = changes
            outcome.details["capture"] = (
                "by template: unchanged files keep their stored data" if template is not None
                else "full: every file read and compressed again")

    def _all(self, outcome: ImageOutcome, ij: ImageJob, state: PackageResult,
             reason: str) -> None:
        outcome.packages = [PackageOutcome(e.key, e.kb, e.kind, state, reason, NAME)
                            for e in ij.entries]

    def _steps_for(self, plan: _Plan, target: int, key: str) -> list[Step]:
        return [s for s in plan.job.steps_of(target) if s.key == key]

    def _installed(self, outcome: ImageOutcome, ij: ImageJob, plan: _Plan,
                   answer: GuestAnswer) -> None:
        """Every step went on: each package is claimed installed (the post-check judges)."""
        n = outcome.details["target"]
        for e in ij.entries:
            mine = [answer.results.steps[s.number] for s in self._steps_for(plan, n, e.key)]
            codes = ", ".join(exit_code_text(r.exit_code) for r in mine)
            seconds = sum(r.seconds or 0.0 for r in mine)
            na = any(r.code_class is CodeClass.NOT_APPLICABLE for r in mine)
            outcome.packages.append(PackageOutcome(
                e.key, e.kb, e.kind, PackageResult.INSTALLED,
                f"DISM /Add-Package succeeded (exit code {codes}"
                + ("; 0x800F081E: not applicable, an equal or newer package of its line is "
                   "installed" if na else "")
                + ") in the image's own servicing stack; judged by the post-check", NAME,
                exit_code=mine[-1].exit_code if mine else None, seconds=seconds))
        outcome.reason = "every DISM step went on (see the code table); captured back"
        notes = outcome.details.get("dism_notes")
        if notes:
            outcome.reason += "; " + "; ".join(notes)

    def _failed(self, outcome: ImageOutcome, ij: ImageJob, plan: _Plan, answer: GuestAnswer,
                failed: Step | None, unrun: list[Step], *, logs: dict[str, Any] | None = None,
                judged: bool = False) -> None:
        """A step failed (or did not run): the image stays as it was; say why per package.

        ``judged``: ``failed`` returned "not applicable" but the image's records show no
        equal or newer package of its line installed.
        """
        n = outcome.details["target"]
        results = answer.results.steps
        if failed is not None:
            code = results[failed.number].exit_code
            tail = answer.log_tails.get(failed.number, "")
            meaning = ("not applicable, but the image shows no equal or newer package of its "
                       "line installed" if judged else MEANING[CodeClass.FAILURE])
            head = (f"DISM failed at step {failed.number} ({failed.title}) of {ij.label} with "
                    f"exit code {exit_code_text(code)} ({meaning}); the image was left "
                    "unchanged")
            message = head + (f"\ndism.log ends with:\n{tail}" if tail else
                              "\n(no dism.log came back for that step)") + self._logs_line(logs)
            outcome.error = DismStepError(message, step=failed.number, exit_code=code,
                                          log_tail=tail)
            outcome.reason = head
            outcome.details["dism_log_tail"] = tail
        else:
            first = unrun[0]
            outcome.reason = (f"step {first.number} ({first.title}) has no result: the guest "
                              "did not run it; the image was left unchanged")
            outcome.error = GuestFailedError(outcome.reason + self._logs_line(logs))
        for e in ij.entries:
            mine = self._steps_for(plan, n, e.key)
            bad = next((s for s in mine if s.number in results
                        and (not results[s.number].ok or (judged and failed is not None
                                                          and s.number == failed.number))),
                       None)
            ran = [s for s in mine if s.number in results]
            if bad is not None:
                code = results[bad.number].exit_code
                tail = answer.log_tails.get(bad.number, "")
                last = next((ln.strip() for ln in reversed(tail.splitlines()) if ln.strip()),
                            "")
                reason = (f"DISM exit code {exit_code_text(code)} at step {bad.number}"
                          + (f": {last[:300]}" if last else ""))
                exit_code: int | None = code
            elif ran and len(ran) == len(mine):
                reason = ("DISM succeeded, but not kept: " + outcome.reason)
                exit_code = results[ran[-1].number].exit_code
            else:
                reason = "not run: " + outcome.reason
                exit_code = None
            outcome.packages.append(PackageOutcome(e.key, e.kb, e.kind, PackageResult.FAILED,
                                                   reason, NAME, exit_code=exit_code))

    # -- prepare only, and resume -----------------------------------------------------------------
    def _prepare(self, jobs: Sequence[ImageJob], dest: Path,
                 progress: ProgressCallback | None) -> list[ImageOutcome]:
        """Write the whole VM bundle into ``dest`` (absent or empty), atomically, and stop."""
        dest = dest.absolute()
        if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
            raise BundleError(f"{dest}: the bundle folder must be absent or empty")
        if not dest.parent.is_dir():
            raise BundleError(f"{dest.parent}: no such folder for the bundle")
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".wimcore-tmp",
                                    dir=dest.parent))
        ledger.note_ignore(tmp)  # the bundle being built: not a change until renamed
        ledger.note_planned(dest)
        try:
            built = self._build(jobs, tmp, progress, prepare=True)
            (tmp / "job.txt").write_bytes(job_text(built.plan.job).encode("ascii"))
            _bundle_inputs(jobs, tmp / "inputs")
            wim_path = Path(jobs[0].wim.path or "").absolute()
            stat = wim_path.stat()
            manifest = {
                "format": BUNDLE_FORMAT, "job_id": built.plan.job.job_id,
                # relative to the bundle (which may move); where it was, for information
                "wim": os.path.relpath(wim_path, dest), "wim_prepared_at": str(wim_path),
                "wim_size": stat.st_size, "wim_mtime_ns": stat.st_mtime_ns,
                "wim_fingerprint": wim_fingerprint(wim_path),
                "targets": [{"number": n, "index": ij.index, "label": ij.label,
                             "volume": d.volume.name, "disk": d.descriptor.name}
                            for n, (ij, d) in enumerate(zip(jobs, built.targets, strict=True),
                                                        start=1)],
                "job_disk": built.job_disk.descriptor.name,
                "iso": "boot.iso" if isinstance(built.boot, qemu.IsoBoot) else None,
                "options": {"cleanup": self.options.cleanup,
                            "reset_base": self.options.reset_base,
                            "netfx3": bool(self.options.netfx3_source),
                            "memory_mib": self.options.memory_mib, "cpus": self.options.cpus},
                "details": _relative_details(built.details, tmp),
            }
            (tmp / BUNDLE_FILE).write_text(json.dumps(manifest, indent=2, default=str))
            script = tmp / "qemu.sh"
            timeout = self._timeout(len(jobs))
            script.write_text(qemu.shell_script(built.command, tmp, timeout=timeout))
            script.chmod(0o755)
            (tmp / "README.txt").write_text(bundle_readme(
                built.plan.job, len(built.targets), built.details.get("boot_files_fake") or [],
                timeout))
            for scratch in ("job-files", "launcher"):
                shutil.rmtree(tmp / scratch, ignore_errors=True)
            stagehook.stage("publish")
            with interrupts.deferred():  # the bundle in place and its record: both or neither
                if dest.exists():
                    dest.rmdir()
                os.rename(tmp, dest)
                ledger.note_changed(dest, how="bundle written")
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        reason = (f"prepared, not installed: run {dest / 'qemu.sh'} on a KVM host, then "
                  f"`wimcore package install --resume {dest}`")
        outcomes = []
        for ij in jobs:
            outcome = ImageOutcome(ij.label, ij.index, ij.plan.image_name, NAME, reason=reason,
                                   details={"bundle": str(dest), **built.details})
            self._all(outcome, ij, PackageResult.NOT_SERVICED, reason)
            outcomes.append(outcome)
        return outcomes

    def _resume(self, jobs: Sequence[ImageJob], bundle: Path,
                progress: ProgressCallback | None) -> list[ImageOutcome]:
        """Finish a bundle booted elsewhere: check it matches, read results, capture back."""
        manifest = read_bundle(bundle)
        wim_path = Path(jobs[0].wim.path or "").absolute()
        check_unchanged(manifest, wim_path)  # matched by fingerprint, not by path
        job = parse_job((bundle / "job.txt").read_text(encoding="ascii", errors="replace"))
        if manifest["job_id"] != job.job_id:
            raise BundleError("bundle.json and job.txt name different jobs")
        targets = manifest["targets"]
        if [t["index"] for t in targets] != [ij.index for ij in jobs]:
            raise BundleError(f"the bundle services images {[t['index'] for t in targets]}, "
                              f"the run asks for {[ij.index for ij in jobs]}")
        opts = manifest.get("options", {})
        if not isinstance(opts, dict):
            raise BundleError("bundle.json: options is not an object")
        plan = self._steps(jobs, job.job_id, cleanup=bool(opts.get("cleanup")),
                           reset_base=bool(opts.get("reset_base")),
                           netfx3=bool(opts.get("netfx3")))
        want = [(s.target, s.action, s.key) for s in job.steps]
        have = [(s.target, s.action, s.key) for s in plan.job.steps]
        if want != have:
            raise BundleError("the bundle's steps do not match the plan for these images "
                              "now (other packages, or the images changed)")
        plan.job = job
        plan.entry_of = {}
        for ij_n, ij in enumerate(jobs, start=1):
            by_key = {e.key: e for e in ij.entries}
            for s in job.steps_of(ij_n):
                if s.key is not None and s.key in by_key:
                    plan.entry_of[s.number] = by_key[s.key]
        disks = [Disk(bundle / t["disk"], bundle / (Path(t["volume"]).stem + ".hdr"),
                      bundle / t["volume"], t["label"]) for t in targets]
        for d in disks:
            if not d.volume.is_file():
                raise BundleError(f"{d.volume}: the bundle's volume file is missing")
        serial = bundle / "serial.log"
        if not serial.is_file() or serial.stat().st_size == 0:
            raise GuestFailedError(f"no guest ran on this bundle: {serial} is "
                                   f"{'empty' if serial.is_file() else 'absent'}, so its "
                                   "qemu.sh has not been run (run it on a KVM host first); "
                                   "no image was changed")
        _notify(progress, f"vm: reading the results of bundle {bundle}")
        logs = self._logs_folder(bundle)
        answer = read_answer(bundle / "job.img", job, logs_to=logs)
        details = {"bundle": str(bundle), "resumed": True, **manifest.get("details", {})}
        return self._finish(jobs, plan, answer, disks, bundle, None, progress, details,
                            logs=logs)


def _relative_details(details: dict[str, Any], folder: Path) -> dict[str, Any]:
    """``details`` with every path under ``folder`` made relative to it (bundles move)."""
    base = os.fspath(folder.absolute()) + os.sep
    text = json.dumps(details, default=str).replace(json.dumps(base)[1:-1], "")
    out: dict[str, Any] = json.loads(text)
    return out


def _newest_cumulative(entries: Sequence[PlanEntry]) -> PlanEntry | None:
    """The cumulative update with the highest revision (the last of them on a tie): the
    one re-added after NetFX3. Re-adding an older one over it would only answer
    0x800F081E; its folder on the job disk holds the checkpoints it needs."""
    best: tuple[int, int, PlanEntry] | None = None
    for order, entry in enumerate(entries):
        if entry.kind != "cumulative-update":
            continue
        rank = (step_ubr(entry) or -1, order)
        if best is None or rank > best[:2]:
            best = (*rank, entry)
    return best[2] if best else None


def _bundle_inputs(jobs: Sequence[ImageJob], dest: Path) -> None:
    """The run's inputs, for ``--resume`` to re-plan (and re-verify) the same packages:
    each MSU/CAB the packages came from (hard-linked when possible), or the expanded
    folder of a package that came as a folder."""
    dest.mkdir()
    files: dict[Path, None] = {}
    folders: dict[Path, None] = {}
    for ij in jobs:
        for entry in ij.entries:
            if entry.key in ij.package_files:
                files[Path(ij.package_files[entry.key])] = None
            elif entry.package is not None and entry.package.path:
                folders[Path(entry.package.path).parent] = None
    for n, src in enumerate(files, start=1):
        out = dest / f"{n:02d}-{src.name}"
        try:
            os.link(src, out)
        except OSError:
            shutil.copyfile(src, out)
    for n, folder in enumerate(folders, start=len(files) + 1):
        shutil.copytree(folder, dest / f"{n:02d}-{folder.name}")


def _mark_target(volume: Path, job: GuestJob, n: int, folder: Path) -> None:
    """Add ``\\$wimcore\\<job>-target-N.txt`` and the DISM scratch folder to the volume."""
    import wimcore

    tree = folder / f"marker-{n}"
    (tree / "scratch").mkdir(parents=True, exist_ok=True)
    (tree / job.targets[n - 1].marker(job.job_id)).write_text(
        f"wimcore target {n} of job {job.job_id}\r\n", encoding="ascii")
    with wimcore.create("none") as wim:
        wim.add_image([(str(tree), f"/{SCRATCH_DIR}")], "marker").apply(volume)
    shutil.rmtree(tree, ignore_errors=True)


def vm_usable(options: BackendOptions | None = None) -> str | None:
    """None when ``auto`` may choose the vm backend, else why not.

    It needs ``qemu-system-x86_64``, ``mkntfs``, and a WinPE (``--winpe`` or the media's
    boot.wim index 1) with dism.exe and *real* boot files (see
    :mod:`wimcore.servicing.vm.bootfiles`): the built-in sample media never qualifies.
    """
    import wimcore
    from wimcore.errors import WimcoreError
    from wimcore.servicing.vm.bootfiles import collect, fake_boot_files
    from wimcore.servicing.vm.disks import mkntfs_path

    opts = options or BackendOptions()
    try:
        qemu.find_qemu()
        mkntfs_path()
        backend = VmBackend(opts)
        winpe = backend._winpe()
        assert winpe is not None
        tmp = Path(ledger.scratch_dir(prefix="wimcore-vm-check-"))
        try:
            with wimcore.open(winpe.source.path) as wim:
                image = wim.images[winpe.source.index]
                files = collect(backend._media_root(winpe.source), image, tmp)
                fakes = fake_boot_files(files, winpe.arch or "x64", image.read_bytes(winpe.dism))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    except (WimcoreError, OSError) as exc:
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if fakes:
        return ("the WinPE's boot files are not real Windows boot files, so it cannot boot "
                "(the built-in sample media's are stand-ins): " + "; ".join(fakes[:3]))
    return None

