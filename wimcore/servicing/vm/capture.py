"""Capturing a serviced volume back into its WIM, at the same index, keeping its identity.

In one edit of the open (writable) WIM: delete every child of ``/`` and add the volume
at ``/`` in NTFS-3G mode. libwimlib then rewrites some WINDOWS properties from the
image's hive; wimcore puts every property back as it was (name, description, display
name and description, flags, edition, languages, ...) except the tree's own statistics,
and sets ``WINDOWS/VERSION/BUILD`` and ``SPBUILD`` from the serviced SOFTWARE hive
(``CurrentBuild``, ``UBR``). libwimlib reads the volume's data when the WIM is written,
so the volume file must stay until the commit.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from wimcore import ledger
from wimcore.servicing.image_inventory import CURRENT_VERSION, SOFTWARE_HIVE, resolve_path
from wimcore.servicing.vm.guestjob import SCRATCH_DIR

if TYPE_CHECKING:
    from wimcore.progress import ProgressCallback
    from wimcore.servicing.image_inventory import Inventory
    from wimcore.wim import Wim

#: Never captured back: wimcore's scratch folder, the volume's system folders, paging files.
EXCLUSIONS = (f"\\{SCRATCH_DIR}", "\\System Volume Information", "\\$Recycle.Bin",
              "\\RECYCLER", "\\pagefile.sys", "\\hiberfil.sys", "\\swapfile.sys")
#: Properties that describe the tree (libwimlib recomputes them) or the servicing result.
DERIVED = ("DIRCOUNT", "FILECOUNT", "TOTALBYTES", "HARDLINKBYTES", "LASTMODIFICATIONTIME/",
           "WINDOWS/VERSION/BUILD", "WINDOWS/VERSION/SPBUILD")


def capture_config_text() -> str:
    """The capture configuration (wimlib-imagex ``--config`` syntax)."""
    return "[ExclusionList]\n" + "\n".join(EXCLUSIONS) + "\n"


#: Properties libwimlib may set from an image's hive when its tree changes, beside those
#: stored in the file (the in-memory XML cannot be listed, only queried key by key).
KNOWN_PROPERTIES = ("NAME", "DESCRIPTION", "DISPLAYNAME", "DISPLAYDESCRIPTION", "FLAGS",
                    "WINDOWS/ARCH", "WINDOWS/PRODUCTNAME", "WINDOWS/EDITIONID",
                    "WINDOWS/INSTALLATIONTYPE", "WINDOWS/HAL", "WINDOWS/PRODUCTTYPE",
                    "WINDOWS/PRODUCTSUITE", "WINDOWS/SYSTEMROOT", "WINDOWS/LANGUAGES/DEFAULT",
                    "WINDOWS/VERSION/MAJOR", "WINDOWS/VERSION/MINOR",
                    "WINDOWS/VERSION/SPLEVEL", "WINDOWS/SERVICINGDATA/GDRDUREVISION",
                    *(f"WINDOWS/LANGUAGES/LANGUAGE[{n}]" for n in range(1, 17)))


def image_properties(wim: Wim, index: int) -> dict[str, str]:
    """The image's XML properties as they are now (in-memory changes included): those the
    file stores and those libwimlib may add, each read with ``get_property``."""
    from wimcore.imageinfo import parse_wim_xml

    keys = set(KNOWN_PROPERTIES)
    if wim.path is not None:
        stored = parse_wim_xml(wim.xml).get(index)
        if stored is not None:
            keys |= set(stored.properties)
    image = wim.images[index]
    out: dict[str, str] = {}
    for key in sorted(keys):
        value = image.get_property(key)
        if value is not None:
            out[key] = value
    return out


def _derived(key: str) -> bool:
    return any(key == d or key.startswith(d) for d in DERIVED)


def hive_version(wim: Wim, index: int) -> tuple[int | None, int | None]:
    """(CurrentBuild, UBR) from the image's SOFTWARE hive, None where unknown."""
    from wimcore.errors import WimcoreError
    from wimcore.hive import Hive

    image = wim.images[index]
    real = resolve_path(image, SOFTWARE_HIVE)
    if real is None:
        return None, None
    tmp = Path(ledger.scratch_dir(prefix="wimcore-capture-"))
    try:
        image.extract([real], tmp, no_acls=True)
        with Hive.open(tmp / real.lstrip("/")) as hive:
            key = hive.get(CURRENT_VERSION)
            if key is None:
                return None, None
            build = key.get_value("CurrentBuild") if key.has_value("CurrentBuild") else None
            ubr = key.get_value("UBR") if key.has_value("UBR") else None
    except WimcoreError:
        return None, None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _as_int(build), _as_int(ubr)


def _as_int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def template_for(wim: Wim) -> Wim:
    """A read-only handle on ``wim``'s own file whose images serve as capture templates.

    It is referenced by ``wim`` (so it stays open, and its data stays readable, until
    ``wim`` is closed). Use it only while ``wim``'s images are as its file holds them.
    """
    import wimcore

    if wim.path is None:
        raise ValueError("a WIM without a file has no template")
    source = wimcore.open(wim.path)
    wim.reference_wims([source])
    return source


def capture_volume(wim: Wim, index: int, volume: Path, config: Path, *,
                   progress: ProgressCallback | None = None,
                   template: Wim | None = None) -> dict[str, str]:
    """Replace image ``index``'s tree with the volume's; returns the properties changed.

    One edit deletes every child of ``/`` and adds the volume at ``/``. With ``template``
    (:func:`template_for`), the image as the file holds it becomes the new tree's
    template: files whose size and timestamps did not change keep their data as it is
    stored, so only what servicing changed is read and compressed when the WIM is
    written. The WIM is only changed in memory; the caller commits it (once per WIM).
    """
    image = wim.images[index]
    before = image_properties(wim, index)
    children = [e.name for e in image.listdir("/")]
    with image.edit(progress) as edit:
        for name in children:
            edit.delete("/" + name, recursive=True)
        edit.add(volume, "/", ntfs=True, config=str(config))
    if template is not None:
        template.images[index].use_as_template_for(image)
    after = image_properties(wim, index)
    for key, value in before.items():
        if not _derived(key) and after.get(key) != value:
            image.set_property(key, value)
    for key in after:
        if key not in before and not _derived(key):
            image.set_property(key, None)
    build, ubr = hive_version(wim, index)
    if build is not None:
        image.set_property("WINDOWS/VERSION/BUILD", str(build))
    if ubr is not None:
        image.set_property("WINDOWS/VERSION/SPBUILD", str(ubr))
    final = image_properties(wim, index)
    return {k: v for k, v in final.items() if before.get(k) != v and not k.startswith(
        ("DIRCOUNT", "FILECOUNT", "TOTALBYTES", "HARDLINKBYTES", "LASTMODIFICATIONTIME"))}


def volume_inventory(volume: Path, config: Path) -> Inventory:
    """The servicing inventory of an NTFS volume file, read through a scratch in-memory image.

    Scanning reads only metadata; the inventory then reads the few files it needs (hive,
    package manifests, Sessions.xml). Used to judge a volume before capturing it back.
    """
    import wimcore
    from wimcore.servicing.image_inventory import inventory

    with wimcore.create("none") as wim:
        image = wim.add_image(volume, "volume", config=str(config), ntfs=True)
        return inventory(image)
