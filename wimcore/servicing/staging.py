"""Stage planned packages into an install image so Windows' own servicing stack installs them.

Nothing here installs a package: it is copied into the image and listed in the image's
answer file (and, on request, in a first-boot script). Windows Setup then installs it
into the offline image in its offlineServicing pass; the result says **staged**.

Where packages go: ``Windows/wimcore/Packages/<NN>-<identity>/``. Under ``%WINDIR%``
so that one path (``%WINDIR%\\wimcore\\Packages\\...``) names them both in the answer
file and in SetupComplete.cmd; outside ``servicing/`` and ``WinSxS`` so nothing mistakes
them for CBS state; numbered so the folder order is the apply order; one folder to
delete once Windows has installed them.
"""

from __future__ import annotations

import re
import shutil
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wimcore import ledger
from wimcore.errors import Cancelled
from wimcore.progress import ProgressCallback, ProgressEvent, ProgressKind
from wimcore.servicing.errors import (
    ImageTypeError,
    NeedsServicingStackError,
    NotWindowsImageError,
    PackageNotExpandedError,
    PlanMismatchError,
)
from wimcore.servicing.image_inventory import ImageType, resolve_path
from wimcore.servicing.planner import Plan, PlanEntry, PlanState
from wimcore.servicing.unattend import (
    STAGE_LOCATION,
    ServicingEntry,
    merge_servicing,
    merge_setupcomplete,
)

if TYPE_CHECKING:
    from wimcore.image import Image
    from wimcore.wim import Wim

STAGE_DIR = "wimcore/Packages"  # under the image's Windows folder
_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]")
_NUMBERED = re.compile(r"^(\d+)-")


@dataclass(frozen=True)
class StagedPackage:
    """A package placed in the image for Windows to install: where, and as what."""

    order: int
    key: str
    kb: str | None
    kind: str
    image_path: str
    location: str
    bytes: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (state is always "staged")."""
        return {"order": self.order, "key": self.key, "kb": self.kb, "kind": self.kind,
                "state": "staged", "image_path": self.image_path, "location": self.location,
                "bytes": self.bytes}


@dataclass(frozen=True)
class StageResult:
    """What :func:`stage` changed in one image (in memory until the WIM is committed)."""

    image_index: int
    image_name: str
    staged: tuple[StagedPackage, ...]
    skipped: tuple[tuple[str, str, str], ...]  # (key, plan state, reason)
    answer_file: str | None
    answer_file_merged: bool
    setupcomplete: str | None
    bytes_added: int
    seconds: float

    state = "staged"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"image": {"index": self.image_index, "name": self.image_name},
                "state": self.state, "staged": [s.to_dict() for s in self.staged],
                "skipped": [{"key": k, "state": s, "reason": r} for k, s, r in self.skipped],
                "answer_file": self.answer_file, "answer_file_merged": self.answer_file_merged,
                "setupcomplete": self.setupcomplete, "bytes_added": self.bytes_added,
                "seconds": round(self.seconds, 3)}

    def summary(self) -> list[str]:
        """Readable lines; every package here is staged, none is installed yet."""
        lines = [f"Image {self.image_index} \"{self.image_name}\": {len(self.staged)} package(s) "
                 "staged (Windows installs them during Setup; not installed yet)"]
        for s in self.staged:
            lines.append(f"  {s.order:>2}. staged   {s.kb or '-':<10} {s.key}  -> {s.location}")
        for key, state, reason in self.skipped:
            lines.append(f"      skipped  {state:<10} {key}: {reason}")
        if self.answer_file:
            lines.append(f"  answer file: {self.answer_file}"
                         + (" (merged with the existing one)" if self.answer_file_merged else ""))
        if self.setupcomplete:
            lines.append(f"  first boot:  {self.setupcomplete}")
        return lines


def _tell(progress: ProgressCallback | None, message: str, done: int = 0, total: int = 0) -> None:
    if progress is not None and progress(ProgressEvent(ProgressKind.STEP, done_items=done,
                                                       total_items=total,
                                                       message=message)) is False:
        raise Cancelled("cancelled by the progress callback; nothing was changed")


def _folder_of(entry: PlanEntry) -> Path:
    """The expanded folder of a planned package (PackageNotExpandedError if there is none)."""
    pkg = entry.package
    folder = Path(pkg.path).parent if pkg is not None and pkg.path else None
    if folder is None or not folder.is_dir() or not any(folder.glob("*.mum")):
        raise PackageNotExpandedError(
            f"{entry.key}: no expanded package folder to stage from "
            f"({entry.source or 'unknown source'}); expand the MSU/CAB first "
            "(service_wim does this)")
    return folder


def _folder_order(name: str) -> tuple[int, str]:
    """Sort staged folders by their number, then by name."""
    m = _NUMBERED.match(name)
    return (int(m.group(1)) if m else 0), name


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _check(img: Image, plan: Plan) -> None:
    if plan.image_index != img.index or plan.image_name != img.name:
        raise PlanMismatchError(f"the plan is for image {plan.image_index} "
                                f"{plan.image_name!r}, not image {img.index} {img.name!r}")
    if plan.image_type is ImageType.NOT_WINDOWS:
        raise NotWindowsImageError(f"image {img.index} {img.name!r} is not a Windows image "
                                   "(no Windows/ folder): nothing to stage")
    if plan.image_type in (ImageType.WINRE, ImageType.WINPE, ImageType.SETUP):
        raise NeedsServicingStackError(
            f"image {img.index} {img.name!r} is a {plan.image_type.value} image: installing "
            "packages into it needs a servicing stack (DISM), not available on this host; "
            "staging only works for images that Windows Setup installs (Client/Server)",
            image_type=plan.image_type.value)
    if not plan.image_type.is_install:
        raise ImageTypeError(f"image {img.index} {img.name!r}: cannot tell whether Windows "
                             "Setup installs it (no INSTALLATIONTYPE or edition); not staging",
                             image_type=plan.image_type.value)


def stage(wim: Wim, image: Image | int | str, plan: Plan, *, first_boot: bool = False,
          progress: ProgressCallback | None = None) -> StageResult:
    """Stage the plan's applicable packages into one install image, in plan order.

    ``wim`` must be writable; the change is one ``image.edit()`` batch, in memory until
    ``wim.commit()`` (keep the expanded package folders on disk until then: libwimlib
    reads them when it writes). Copies each expanded package folder to
    ``Windows/wimcore/Packages/<NN>-<identity>``, merges their ``<package
    action="install">`` entries into ``Windows/Panther/unattend.xml`` and, with
    ``first_boot=True``, a DISM block into ``Windows/Setup/Scripts/SetupComplete.cmd``.
    Refuses WinRE/WinPE/Setup images (:class:`NeedsServicingStackError`), non-Windows
    images, a plan for another image, unexpanded packages and an invalid existing answer
    file (:class:`AnswerFileError`) before changing anything. ``progress`` gets STEP
    events and libwimlib's update events; returning False cancels with the image unchanged.
    """
    start = time.monotonic()
    img = image if not isinstance(image, (int, str)) else wim.images[image]
    _check(img, plan)
    entries = plan.applicable
    skipped = tuple((e.key, e.state.value, e.reason) for e in plan.entries
                    if e.state is not PlanState.APPLICABLE)
    if not entries:
        return StageResult(img.index, img.name, (), skipped, None, False, None, 0,
                           time.monotonic() - start)
    folders = [_folder_of(e) for e in entries]
    windows = resolve_path(img, "/Windows") or "/Windows"
    stage_dir = resolve_path(img, f"{windows}/{STAGE_DIR}") or f"{windows}/{STAGE_DIR}"
    existing = ([e.name for e in img.listdir(stage_dir) if e.is_dir]
                if resolve_path(img, stage_dir) else [])
    first = 1 + max((int(m.group(1)) for n in existing if (m := _NUMBERED.match(n))), default=0)

    staged: list[StagedPackage] = []
    service: list[ServicingEntry] = []
    for n, (entry, folder) in enumerate(zip(entries, folders, strict=True), start=first):
        name = f"{n:02d}-{_UNSAFE.sub('_', entry.key)}"
        location = f"{STAGE_LOCATION}\\{name}"
        staged.append(StagedPackage(n - first + 1, entry.key, entry.kb, entry.kind,
                                    f"{stage_dir}/{name}", location, _size(folder)))
        ident = entry.package.identity if entry.package is not None else None
        service.append(ServicingEntry("install", entry.name, entry.version, entry.arch,
                                      ident.language if ident and ident.language else "neutral",
                                      ident.public_key_token if ident else "", location))

    _tell(progress, f"image {img.index}: preparing the answer file")
    unattend_at = resolve_path(img, f"{windows}/Panther/unattend.xml")
    old_unattend = img.read_bytes(unattend_at) if unattend_at else None
    new_unattend = merge_servicing(old_unattend, service, source=unattend_at or "unattend.xml")
    if unattend_at is None:
        panther = resolve_path(img, f"{windows}/Panther") or f"{windows}/Panther"
        unattend_at = f"{panther}/unattend.xml"
    script_at: str | None = None
    new_script: bytes | None = None
    if first_boot:
        found = resolve_path(img, f"{windows}/Setup/Scripts/SetupComplete.cmd")
        old_script = img.read_bytes(found) if found else None
        all_folders = sorted({*existing, *(Path(s.image_path).name for s in staged)},
                             key=_folder_order)
        new_script = merge_setupcomplete(old_script, all_folders)
        if found is None:
            scripts = resolve_path(img, f"{windows}/Setup/Scripts") or f"{windows}/Setup/Scripts"
            found = f"{scripts}/SetupComplete.cmd"
        script_at = found

    # libwimlib reads added files when the WIM is written, not now: the generated files
    # live until this Wim object goes away (the package folders must stay until commit too).
    tmp = Path(ledger.scratch_dir(prefix="wimcore-stage-"))
    weakref.finalize(wim, shutil.rmtree, tmp, ignore_errors=True)
    try:
        (tmp / "unattend.xml").write_bytes(new_unattend)
        if new_script is not None:
            (tmp / "SetupComplete.cmd").write_bytes(new_script)
        _tell(progress, f"image {img.index}: staging {len(staged)} package(s)", 0, len(staged))
        with img.edit(progress=progress) as edit:
            for s, folder in zip(staged, folders, strict=True):
                edit.add(folder, s.image_path)
            edit.add(tmp / "unattend.xml", unattend_at)
            if new_script is not None and script_at is not None:
                edit.add(tmp / "SetupComplete.cmd", script_at)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _tell(progress, f"image {img.index}: staged {len(staged)} package(s)", len(staged),
          len(staged))
    return StageResult(img.index, img.name, tuple(staged), skipped, unattend_at,
                       old_unattend is not None, script_at, sum(s.bytes for s in staged),
                       time.monotonic() - start)
