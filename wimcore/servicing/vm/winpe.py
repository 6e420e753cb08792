"""The servicing stack's source: a WinPE image with dism.exe, checked against the targets.

By default the media's ``sources/boot.wim`` index 1; or ``PATH[:INDEX]`` (an ADK
``winpe.wim``, another media's boot.wim). The WinPE must be Windows PE (or the Setup or
WinRE image, which are WinPE too) carrying ``Windows/System32/dism.exe``, of the
target's architecture (x64 WinPE services x64 targets only; QEMU here runs x86 and x64),
and not older than the target's build: DISM services images of its own version or older.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from wimcore.servicing.image_inventory import ImageType, Inventory, inventory, resolve_path
from wimcore.servicing.vm.errors import NotWinPEError, WinPEArchError, WinPEBuildError

if TYPE_CHECKING:
    from wimcore.image import Image

DISM_PATH = "/Windows/System32/dism.exe"
WINPE_TYPES = (ImageType.WINPE, ImageType.SETUP, ImageType.WINRE)
#: What qemu-system-x86_64 can run.
RUNNABLE_ARCHES = ("x64", "x86")


@dataclass(frozen=True)
class WinPESource:
    """Where the WinPE comes from: a WIM and an image index (1-based)."""

    path: Path
    index: int = 1

    def __str__(self) -> str:
        return f"{self.path}:{self.index}"


def parse_winpe(spec: str | os.PathLike[str]) -> WinPESource:
    """``PATH[:INDEX]`` (INDEX 1 when absent); a trailing ``:N`` is an index only if N is
    all digits and PATH without it names something."""
    text = os.fspath(spec)
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit() and head:
        index = int(tail)
        if index < 1:
            raise NotWinPEError(f"--winpe {text}: image indexes start at 1")
        return WinPESource(Path(head), index)
    return WinPESource(Path(text), 1)


def media_winpe(media_root: str | os.PathLike[str]) -> WinPESource | None:
    """The media's ``sources/boot.wim`` index 1, when the media has a boot.wim."""
    root = Path(media_root)
    for name in ("sources/boot.wim", "Sources/boot.wim", "SOURCES/BOOT.WIM"):
        if (root / name).is_file():
            return WinPESource(root / name, 1)
    return None


@dataclass(frozen=True)
class WinPEInfo:
    """The checked WinPE: what it is and the DISM it carries."""

    source: WinPESource
    name: str
    image_type: str
    arch: str | None
    build: int | None
    ubr: int | None
    dism: str

    @property
    def version(self) -> str:
        """``10.0.BUILD.UBR``."""
        return f"10.0.{self.build or 0}.{self.ubr or 0}"

    def to_dict(self) -> dict[str, object]:
        """A JSON-ready dict."""
        return {"source": str(self.source), "name": self.name, "type": self.image_type,
                "arch": self.arch, "version": self.version, "dism": self.dism}


def inspect_winpe_image(image: Image, source: WinPESource) -> WinPEInfo:
    """Check that ``image`` is WinPE with dism.exe; NotWinPEError saying what is missing."""
    inv = inventory(image)
    if inv.image_type not in WINPE_TYPES:
        raise NotWinPEError(f"{source} ({image.name!r}) is not a Windows PE image "
                            f"(it is {inv.image_type.value}: {inv.type_reason}); give a WinPE "
                            "with --winpe PATH[:INDEX], e.g. the media's sources/boot.wim:1")
    dism = resolve_path(image, DISM_PATH)
    if dism is None:
        raise NotWinPEError(f"{source} ({image.name!r}) is Windows PE but has no "
                            f"{DISM_PATH.lstrip('/')}: it cannot service images")
    return WinPEInfo(source, image.name, inv.image_type.value, inv.arch, inv.build, inv.ubr,
                     dism)


def inspect_winpe(source: WinPESource) -> WinPEInfo:
    """Open the source WIM read-only and check its image (see :func:`inspect_winpe_image`)."""
    import wimcore
    from wimcore.errors import WimcoreError

    if not source.path.is_file():
        raise NotWinPEError(f"{source.path}: no such WIM (the WinPE that runs DISM)")
    try:
        with wimcore.open(source.path) as wim:
            if source.index > wim.info.image_count:
                raise NotWinPEError(f"{source.path} has {wim.info.image_count} image(s), "
                                    f"no index {source.index}")
            return inspect_winpe_image(wim.images[source.index], source)
    except NotWinPEError:
        raise
    except WimcoreError as exc:
        raise NotWinPEError(f"{source.path}: not a readable WIM "
                            f"({str(exc).splitlines()[0]})") from exc


def check_target(winpe: WinPEInfo, target: Inventory) -> None:
    """Refuse a target this WinPE's DISM cannot service: architecture, then build."""
    if winpe.arch not in RUNNABLE_ARCHES:
        raise WinPEArchError(f"the WinPE {winpe.source} is {winpe.arch or 'of unknown arch'}: "
                             "qemu-system-x86_64 runs only x64 and x86 Windows PE")
    if target.arch != winpe.arch:
        raise WinPEArchError(f"the WinPE {winpe.source} is {winpe.arch}; it cannot service "
                             f"image {target.image_index} ({target.image_name!r}, "
                             f"{target.arch or 'unknown arch'}): a {winpe.arch} WinPE services "
                             f"{winpe.arch} images only")
    if winpe.build is None or target.build is None:
        raise WinPEBuildError(f"the build of the WinPE ({winpe.build}) or of image "
                              f"{target.image_index} ({target.build}) is unknown: cannot tell "
                              "whether its DISM can service it")
    if winpe.build < target.build:
        raise WinPEBuildError(f"the WinPE {winpe.source} is build {winpe.build}, older than "
                              f"image {target.image_index} ({target.image_name!r}, build "
                              f"{target.build}): DISM services images of its own version or "
                              "older; use the WinPE of the same media")
