"""What an install leaves in an image, recorded host-side for tests of the post-check.

A test backend uses it to change a real image (through libwimlib and libhivex) the way
DISM's /Add-Package does as far as wimcore's inventory can see: the package ``.mum`` in
``Windows/servicing/Packages``, CBS ``CurrentState`` 0x70, and a cumulative update's UBR.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from wimcore.hive import Hive, ValueType
from wimcore.packages.model import cu_target
from wimcore.progress import ProgressCallback
from wimcore.servicing.backend import ImageJob, ImageOutcome, PackageOutcome, PackageResult
from wimcore.servicing.image_inventory import CBS_PACKAGES, CURRENT_VERSION, Inventory

SOFTWARE = "/Windows/System32/config/SOFTWARE"


def record_install(job: ImageJob, work: Path, extra: Mapping[str, bytes] = {}) -> None:
    """Record the job's packages as installed in its in-memory image (plus ``extra`` files)."""
    image = job.wim.images[job.index]
    folder = Path(tempfile.mkdtemp(dir=work))
    image.extract([SOFTWARE], folder)
    hive_path = folder / SOFTWARE.lstrip("/")
    with Hive.open(hive_path, writable=True) as hive:
        for e in job.entries:
            hive.add_key(f"{CBS_PACKAGES}\\{e.key}")
            hive.set_value(f"{CBS_PACKAGES}\\{e.key}", "CurrentState", 0x70,
                           ValueType.REG_DWORD)
            if e.kind == "cumulative-update" and e.package is not None:
                target = cu_target(e.package.identity, e.package.custom_information)
                assert target is not None
                hive.set_value(CURRENT_VERSION, "UBR", target[1], ValueType.REG_DWORD)
        hive.commit()
    with image.edit() as edit:
        edit.add(hive_path, SOFTWARE)
        for e in job.entries:
            assert e.package is not None and e.package.path
            edit.add(Path(e.package.path), f"/Windows/servicing/Packages/{e.key}.mum")
        for n, (path, data) in enumerate(extra.items()):
            local = folder / f"extra-{n}"
            local.write_bytes(data)
            edit.add(local, path)


class ClaimingBackend:
    """A batching test backend that says every package installed; ``record`` decides what
    the image shows (``None``: nothing), so the post-check has something real to judge."""

    name = "test-claims"
    batches = True

    def __init__(self, record: Callable[[ImageJob, Path], None] | None) -> None:
        self.record = record
        self.calls: list[list[str]] = []

    def refusal(self, inv: Inventory) -> str | None:
        return None

    def apply(self, jobs: Sequence[ImageJob], *, work: Path,
              progress: ProgressCallback | None = None) -> list[ImageOutcome]:
        self.calls.append([j.label for j in jobs])
        out = []
        for job in jobs:
            if self.record is not None:
                self.record(job, work)
            out.append(ImageOutcome(job.label, job.index, job.plan.image_name, self.name, [
                PackageOutcome(e.key, e.kb, e.kind, PackageResult.INSTALLED, "exit code 0",
                               self.name, exit_code=0) for e in job.entries], changed=True))
        return out
