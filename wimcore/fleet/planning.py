"""Per image, the library updates it does not have yet, in the order they would be applied.

The plan of each image is wimcore's own planner run on the image's mount-free inventory,
with what earlier fleet runs staged or installed (from the catalog) counted as present.
Updates can be narrowed by architecture and by text (KB, name, kind, file name), as
Configuration Manager's "Schedule Updates" wizard filters them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wimcore import ledger
from wimcore.fleet.catalog import Catalog

if TYPE_CHECKING:
    from wimcore.packages.model import Package

#: ``--arch`` values and the package architectures each one matches.
ARCHES = {"x64": {"amd64", "x64", "wow64"}, "x86": {"x86"}, "arm64": {"arm64"}}
_NEUTRAL = {"", "neutral", "msil", "*"}


@dataclass
class ImagePlan:
    """The plan of one catalog image: the entries to apply, in order, and the rest."""

    image: dict[str, Any]
    apply: list[dict[str, Any]] = field(default_factory=list)
    other: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # library files to hand to the run
    broken: list[dict[str, str]] = field(default_factory=list)  # unreadable library files
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"image": {k: self.image[k] for k in ("id", "name", "wim_path", "wim_index",
                                                     "edition", "arch", "build", "ubr")},
                "apply": self.apply, "other": self.other, "files": self.files,
                "broken": self.broken, "error": self.error}


def select_updates(catalog: Catalog, *, arch: str | None = None,
                   text: str | None = None) -> list[dict[str, Any]]:
    """Library updates of an architecture (neutral ones always) whose text matches."""
    if arch is not None and arch not in ARCHES:
        raise ValueError(f"unknown architecture {arch!r} (one of {', '.join(ARCHES)})")
    out = []
    for u in catalog.updates():
        if arch is not None and u["arch"].lower() not in ARCHES[arch] | _NEUTRAL:
            continue
        hay = " ".join(str(u.get(k) or "") for k in ("key", "kb", "kind", "file_name",
                                                      "release_type")).lower()
        if text and text.lower() not in hay:
            continue
        out.append(u)
    return out


def plan_images(catalog: Catalog, images: list[dict[str, Any]], *, arch: str | None = None,
                text: str | None = None, skip_verify: bool = False) -> list[ImagePlan]:
    """Plan the selected library updates for each image (read-only: nothing is changed).

    Each library file is read through wimcore's intake, verified as a run will verify it
    (unless ``skip_verify``); a file that fails is listed in ``broken`` with its error.
    """
    import wimcore
    from wimcore.errors import WimcoreError
    from wimcore.servicing.image_inventory import inventory
    from wimcore.servicing.planner import plan

    updates = select_updates(catalog, arch=arch, text=text)
    file_of = {u["key"].lower(): u["stored_path"] for u in updates}
    files = sorted({u["stored_path"] for u in updates})
    loaded, broken = _load(files, skip_verify)  # each file read once for every image
    files = [f for f in files if f not in broken]
    out: list[ImagePlan] = []
    for img in images:
        ip = ImagePlan(img)
        out.append(ip)
        if arch is not None and (img.get("arch") or "") not in (arch, None, ""):
            ip.error = f"image architecture {img.get('arch')} is not {arch}"
            continue
        # An unreadable file goes to the run too: servicing reports it failed (and, with
        # continue-on-error, goes on with the rest).
        ip.broken = [{"file": f, "error": why} for f, why in broken.items()]
        if not files:
            ip.files = list(broken)
            continue
        try:
            with wimcore.open(img["wim_path"]) as wim:
                inv = inventory(wim.images[img["wim_index"]])
            the_plan = plan(inv, loaded, staged=catalog.serviced_keys(img["id"]))
        except (WimcoreError, OSError) as exc:
            ip.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            continue
        for e in the_plan.entries:
            row = {"order": e.order, "key": e.key, "kb": e.kb, "kind": e.kind,
                   "state": e.state.value, "reason": e.reason,
                   "file": file_of.get(e.key.lower())}
            (ip.apply if e.order is not None else ip.other).append(row)
        ip.apply.sort(key=lambda r: r["order"])
        ip.files = list(dict.fromkeys(r["file"] for r in ip.apply if r["file"]))
        # A damaged file may hold an update this image needs (an MSU carries its SSU and
        # LCU): it goes to the run, which reports it failed, never "nothing to do".
        ip.files += list(broken)
    return out


def _load(files: list[str], skip_verify: bool) -> tuple[list[Package], dict[str, str]]:
    """The packages of the usable files, and the unusable ones (damaged since import,
    failing their check) with the reason."""
    import tempfile

    from wimcore.errors import WimcoreError
    from wimcore.packages.intake import prepare_inputs

    packages: list[Package] = []
    bad: dict[str, str] = {}
    for f in files:
        try:
            with tempfile.TemporaryDirectory(prefix="wimcore-fleet-plan-") as tmp:
                ledger.note_ignore(tmp)  # scratch: expansions here are not changes
                packages += prepare_inputs([f], tmp, skip_verify=skip_verify).packages
        except (WimcoreError, OSError) as exc:
            bad[f] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return packages, bad
