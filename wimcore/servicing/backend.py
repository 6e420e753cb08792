"""Servicing backends: the ways a plan is applied to images, and the post-check that judges them.

A backend is a value with one job: take images (open, writable WIMs) and their plans,
change the images in memory, and say what each package became. The runner commits the
WIMs afterwards, once each. Whatever a backend claims, :func:`postcheck` reads the
changed image with wimcore's own inventory and keeps only what the image's records show:
a package is *installed* only when CBS records it installed (or superseded by a newer
installed package) and, for a cumulative update, the SOFTWARE hive's UBR reached its
revision; *staged* only when the image's answer file lists it.

Backends: ``staged`` (:class:`StagedBackend`, answer-file staging for install images) and
``vm`` (``wimcore.servicing.vm``: the image's own DISM in WinPE under QEMU). ``auto``
picks ``vm`` when it can run, else ``staged`` (see :func:`choose_backend`).
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from wimcore.packages.model import cu_target
from wimcore.servicing.errors import (
    ImageTypeError,
    NeedsServicingStackError,
    NotWindowsImageError,
    ServicingError,
)
from wimcore.servicing.image_inventory import ImageType, InstalledPackage, Inventory, inventory
from wimcore.servicing.planner import Plan, PlanEntry

if TYPE_CHECKING:
    from wimcore.progress import ProgressCallback
    from wimcore.wim import Wim

BACKEND_NAMES = ("auto", "staged", "vm")


class PackageResult(enum.Enum):
    """What a planned package became after a backend ran (and the post-check judged it)."""

    INSTALLED = "installed"
    STAGED = "staged"
    FAILED = "failed"
    NOT_SERVICED = "not-serviced"


@dataclass
class PackageOutcome:
    """One planned package after a run: its state, why, and the backend's evidence."""

    key: str
    kb: str | None
    kind: str
    state: PackageResult
    reason: str
    backend: str
    exit_code: int | None = None  # the servicing tool's exit code for this step (vm: DISM)
    verdict: str | None = None  # what the post-check found in the image
    seconds: float | None = None  # how long the step took (vm: guest time)
    location: str | None = None  # staged: where the package sits in the image

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"key": self.key, "kb": self.kb, "kind": self.kind, "state": self.state.value,
                "reason": self.reason, "backend": self.backend, "exit_code": self.exit_code,
                "verdict": self.verdict,
                "seconds": round(self.seconds, 3) if self.seconds is not None else None,
                "location": self.location}


@dataclass
class ImageOutcome:
    """One image after a backend ran: its packages' outcomes and whether it changed."""

    label: str
    index: int
    name: str
    backend: str
    packages: list[PackageOutcome] = field(default_factory=list)
    changed: bool = False  # the in-memory image was modified: the runner must commit
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    #: The typed error behind a failed image (vm: DismStepError quoting dism.log's tail);
    #: the runner raises it (or records it with continue_on_error) instead of a generic one.
    error: Exception | None = field(default=None, repr=False, compare=False)

    @property
    def state(self) -> str:
        """installed | staged | partial | failed | not-serviced | nothing-to-do."""
        states = {p.state for p in self.packages}
        if not states:
            return "nothing-to-do"
        if len(states) == 1:
            return next(iter(states)).value
        if states <= {PackageResult.INSTALLED, PackageResult.STAGED}:
            return "staged"  # some staged, the rest installed: not all installed yet
        if states == {PackageResult.NOT_SERVICED}:
            return "not-serviced"
        return "partial"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"label": self.label, "index": self.index, "name": self.name,
                "backend": self.backend, "state": self.state, "changed": self.changed,
                "reason": self.reason, "packages": [p.to_dict() for p in self.packages],
                "details": self.details}


@dataclass
class ImageJob:
    """One image to service: its open (writable) WIM, its index, its plan and inventory."""

    wim: Wim
    index: int
    plan: Plan
    inventory: Inventory
    label: str = ""
    #: package key -> the input file it came from (an MSU or CAB), when it came from a
    #: file; a backend may hand the servicing tool the file as downloaded (vm: DISM).
    package_files: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.label:
            self.label = f"image {self.index}"

    @property
    def entries(self) -> tuple[PlanEntry, ...]:
        """The plan's packages to apply, in order (whatever the plan could not install)."""
        return self.plan.to_apply


@dataclass(frozen=True)
class BackendOptions:
    """What a run asks of its backend; each backend uses the fields that concern it."""

    first_boot: bool = False  # staged: also a SetupComplete.cmd block
    cleanup: bool = False  # vm: /Cleanup-Image /StartComponentCleanup after the packages
    reset_base: bool = False  # vm: ... /ResetBase
    netfx3_source: str | None = None  # vm: enable NetFx3 from this sources\sxs, LCU again
    winpe: str | None = None  # vm: PATH[:INDEX] of the WinPE that runs DISM
    media_root: str | None = None  # vm: the media folder with the boot files
    memory_mib: int = 8192  # vm: bounded by the host's memory
    cpus: int = 4  # vm: bounded by the host's processors
    timeout: float | None = None  # vm: total seconds; None: 1 h + 4 h per target image
    stall_timeout: float = 2 * 3600.0  # vm: seconds without a guest progress line
    accel: str = "auto"  # auto | kvm | tcg
    prepare_only: str | None = None  # vm: write the VM bundle here and stop
    resume: str | None = None  # vm: finish a prepared bundle that was run elsewhere
    resume_wim: str | None = None  # vm: the bundle's WIM, found by its fingerprint
    keep_work: bool = False

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


class ServicingBackend(Protocol):
    """The interface every backend implements (see the module docstring).

    A backend may also have ``release()``: the runner calls it once the WIM is closed
    (after the commit, or after a failure), to drop files the commit had to read (vm:
    the volume files).
    """

    name: str
    #: True when one ``apply`` call serves several images at once (vm: one VM boot);
    #: False lets the runner call it per image, so one image's failure stays its own.
    batches: bool

    def refusal(self, inv: Inventory) -> str | None:
        """None when this backend can service such an image, else why it cannot."""
        ...

    def apply(self, jobs: Sequence[ImageJob], *, work: Path,
              progress: ProgressCallback | None = None) -> list[ImageOutcome]:
        """Apply each job's plan to its image in memory; one outcome per job, in order.

        ``work`` is a folder the runner owns and removes only after the WIMs are
        committed (in-memory images may read their new files from it until then).
        """
        ...


def not_serviced(job: ImageJob, backend: str, reason: str) -> ImageOutcome:
    """The outcome of an image no backend here can install into: every package not serviced."""
    return ImageOutcome(job.label, job.index, job.plan.image_name, backend, [
        PackageOutcome(e.key, e.kb, e.kind, PackageResult.NOT_SERVICED, reason, backend)
        for e in job.entries], changed=False, reason=reason)


class StagedBackend:
    """Answer-file staging: packages copied into install images for Windows Setup to install."""

    name = "staged"
    batches = False

    def __init__(self, options: BackendOptions | None = None, *, note: str = "") -> None:
        """``note``: why this backend was chosen (``auto`` records why vm could not run)."""
        self.options = options or BackendOptions()
        self.note = note

    def refusal(self, inv: Inventory) -> str | None:
        """Only images that Windows Setup installs (Client, Server) can carry staged packages."""
        if inv.image_type.is_install:
            return None
        if inv.image_type is ImageType.NOT_WINDOWS:
            return "not a Windows image (no Windows/ folder)"
        return (f"a {inv.image_type.value} image is never installed by Windows Setup, so "
                "staged packages would never be installed; installing into it needs its "
                "servicing stack (the vm backend)")

    def apply(self, jobs: Sequence[ImageJob], *, work: Path,
              progress: ProgressCallback | None = None) -> list[ImageOutcome]:
        """Stage each job's applicable packages (one edit per image, in memory)."""
        from wimcore.servicing.staging import stage

        out: list[ImageOutcome] = []
        for job in jobs:
            why = self.refusal(job.inventory)
            if why is not None:
                out.append(not_serviced(job, self.name, why))
                continue
            result = stage(job.wim, job.index, job.plan, first_boot=self.options.first_boot,
                           progress=progress)
            outcome = ImageOutcome(job.label, job.index, job.plan.image_name, self.name,
                                   changed=bool(result.staged))
            for s in result.staged:
                outcome.packages.append(PackageOutcome(
                    s.key, s.kb, s.kind, PackageResult.STAGED,
                    "placed in the image for Windows Setup to install (not installed yet)",
                    self.name, location=s.location))
            outcome.details = {"answer_file": result.answer_file,
                               "answer_file_merged": result.answer_file_merged,
                               "setupcomplete": result.setupcomplete,
                               "bytes_added": result.bytes_added}
            out.append(outcome)
        return out


# -- the post-check ----------------------------------------------------------------------------

def covering_package(inv: Inventory, entry: PlanEntry) -> InstalledPackage | None:
    """An installed package (per its CBS key) of ``entry``'s line that is equal or newer.

    For a cumulative update: a cumulative update of the same build whose revision reached
    or passed ``entry``'s (a RollupFix removed by cleanup is covered by the newer one that
    superseded it). For anything else: the same identity name and architecture, version
    equal or higher. None when the image's records show no such package.
    """
    if entry.package is None:
        return None
    ident = entry.package.identity
    installed = [p for p in inv.packages if p.is_installed]
    if entry.kind == "cumulative-update":
        target = cu_target(ident, entry.package.custom_information)
        if target is None:
            return None
        best: tuple[int, InstalledPackage] | None = None
        for p in installed:
            if p.kind.value != "cumulative-update" or p.arch.lower() != ident.arch.lower():
                continue
            have = cu_target(p.identity)
            if have and have[0] == target[0] and have[1] >= target[1] and \
                    (best is None or have[1] > best[0]):
                best = (have[1], p)
        return best[1] if best else None
    mine = _version_tuple(ident.version)
    same = [p for p in installed if p.name.lower() == ident.name.lower()
            and p.arch.lower() == ident.arch.lower() and _version_tuple(p.version) >= mine]
    return max(same, key=lambda p: _version_tuple(p.version), default=None)


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def _installed_verdict(inv: Inventory, entry: PlanEntry) -> tuple[bool, str]:
    """Whether the image's own records show ``entry`` installed, and what they show.

    A CBS key is required: a ``.mum`` alone is not an installation. A cumulative update
    with no CBS key (component cleanup removes superseded ones) counts as installed when
    an installed cumulative update of the same line reached or passed its revision.
    """
    mine = inv.package(entry.key)
    if mine is None or mine.state is None:
        cover = covering_package(inv, entry) if entry.kind == "cumulative-update" else None
        if cover is None:
            if mine is None:
                return False, "no CBS record and no .mum of this package in the image"
            return False, ("a .mum but no CBS record of this package (a .mum alone is not "
                           "an installation)")
        shown = (f"no CBS record of its own (removed by component cleanup as superseded); "
                 f"covered by the installed {cover.kb or cover.key} ({cover.version})")
    elif mine.state == "superseded":
        newer = [p for p in inv.packages if p.is_installed and p.name.lower() ==
                 mine.name.lower() and p.key.lower() != mine.key.lower()]
        if not newer and entry.kind != "cumulative-update":
            return False, "CBS records it superseded, but no newer installed package"
        shown = "CBS state superseded (by a newer installed package)"
    elif not mine.is_installed:
        return False, f"CBS state {mine.state} (needs installed, 0x70)"
    else:
        shown = f"CBS state {mine.state}"
    if entry.kind == "cumulative-update" and entry.package is not None:
        target = cu_target(entry.package.identity, entry.package.custom_information)
        if target is not None:
            # Only the revision is compared: enablement-package releases (19045 over
            # 19041, 22631 over 22621) report a build their cumulative updates do not name.
            if inv.ubr is None or inv.ubr < target[1]:
                return False, (f"{shown}, but the image is at {inv.version or 'unknown'}: "
                               f"UBR not reached ({target[1]} expected)")
            shown += f", UBR {inv.ubr}"
    return True, shown


def postcheck(job: ImageJob, outcome: ImageOutcome,
              read: Callable[[Wim, int], Inventory] | None = None) -> Inventory:
    """Judge ``outcome`` by the changed image's own records; returns the inventory after.

    A package claimed *installed* that the records do not show becomes *failed: not
    installed* (the silent "DISM succeeded but installed nothing" case); one claimed
    *staged* that the answer file does not list becomes *failed* too. Not-serviced and
    failed packages keep their state. ``read`` replaces the inventory reader (tests).
    """
    after = (read or (lambda w, i: inventory(w.images[i])))(job.wim, job.index)
    staged = {s.key.lower() for s in after.staged}
    for p in outcome.packages:
        entry = next((e for e in job.entries if e.key == p.key), None)
        if p.state is PackageResult.INSTALLED:
            ok, verdict = _installed_verdict(after, entry) if entry is not None else \
                (False, "not in the plan")
            p.verdict = verdict
            if not ok:
                p.state = PackageResult.FAILED
                p.reason = f"not installed: {verdict}" + (
                    f" (the servicing tool reported success, exit code {p.exit_code})"
                    if p.exit_code is not None else "")
        elif p.state is PackageResult.STAGED:
            if p.key.lower() in staged:
                p.verdict = "listed in the image's answer file"
            else:
                p.verdict = "not listed in the image's answer file"
                p.state, p.reason = PackageResult.FAILED, f"not staged: {p.verdict}"
    return after


# -- running jobs ------------------------------------------------------------------------------

def refusal_error(job: ImageJob, backend: str, why: str) -> ServicingError:
    """The typed error for an image the user chose explicitly and the backend cannot service."""
    what = f"{job.label} {job.plan.image_name!r}"
    kind = job.inventory.image_type
    message = f"{what}: the {backend} backend cannot service it: {why}"
    if kind is ImageType.NOT_WINDOWS:
        return NotWindowsImageError(f"{what} is not a Windows image (no Windows/ folder): "
                                    "nothing to service")
    if kind in (ImageType.WINRE, ImageType.WINPE, ImageType.SETUP):
        return NeedsServicingStackError(message, image_type=kind.value)
    return ImageTypeError(message, image_type=kind.value)


def apply_jobs(backend: ServicingBackend, jobs: Sequence[ImageJob], *, work: Path,
               progress: ProgressCallback | None = None) -> list[ImageOutcome]:
    """Apply ``jobs`` with ``backend`` and judge them: one outcome per job, in order.

    A job whose image the backend refuses becomes *not serviced* (with the refusal) and
    never reaches ``apply``; the others go to one ``apply`` call when the backend
    batches (one VM boot), else one call each. Every changed image is then post-checked,
    so the outcomes say only what the images' own records show.
    """
    outcomes: dict[int, ImageOutcome] = {}
    todo: list[int] = []
    for n, job in enumerate(jobs):
        why = backend.refusal(job.inventory)
        if why is None:
            todo.append(n)
        else:
            outcomes[n] = not_serviced(job, backend.name, why)
    groups = [todo] if backend.batches else [[n] for n in todo]
    for group in groups:
        if not group:
            continue
        got = backend.apply([jobs[n] for n in group], work=work, progress=progress)
        if len(got) != len(group):
            raise ServicingError(f"the {backend.name} backend returned {len(got)} outcome(s) "
                                 f"for {len(group)} image(s)")
        for n, outcome in zip(group, got, strict=True):
            if outcome.changed:
                start = time.monotonic()
                postcheck(jobs[n], outcome)
                outcome.details["postcheck_seconds"] = time.monotonic() - start
            outcomes[n] = outcome
    return [outcomes[n] for n in range(len(jobs))]


# -- choosing a backend ---------------------------------------------------------------------

def get_backend(name: str, options: BackendOptions | None = None) -> ServicingBackend:
    """The backend called ``name`` (``staged`` or ``vm``); ``auto`` is :func:`choose_backend`."""
    opts = options or BackendOptions()
    if name == "staged":
        return StagedBackend(opts)
    if name == "vm":
        from wimcore.servicing.vm import VmBackend  # type: ignore[import-not-found]

        backend: ServicingBackend = VmBackend(opts)
        return backend
    if name == "auto":
        return choose_backend(opts)
    raise ValueError(f"unknown servicing backend {name!r} (choose one of "
                     f"{', '.join(BACKEND_NAMES)})")


def choose_backend(options: BackendOptions | None = None) -> ServicingBackend:
    """``vm`` when a usable WinPE with real boot files and QEMU are present, else ``staged``.

    With ``staged``, install images get staged packages and boot/WinRE images are
    reported not serviced (the staged backend refuses them).
    """
    opts = options or BackendOptions()
    try:
        from wimcore.servicing.vm import vm_usable  # type: ignore[import-not-found]
    except ImportError:
        return StagedBackend(opts)
    reason = vm_usable(opts)
    if reason is None:
        return get_backend("vm", opts)
    return StagedBackend(opts, note=f"auto: the vm backend cannot run here ({reason})")
