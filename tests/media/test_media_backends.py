"""The media routine on the backend protocol, and the inputs it refuses.

``_RecordingBackend`` is a test double standing in for DISM, not a servicing backend: it
runs no installer, it writes into the real images (through the real libwimlib and libhivex)
the records an install by DISM leaves (package .mum files, CBS states, the UBR, and a newer
Setup file), so that the media routine and the real post-check, which reads those images,
are what is tested. It batches, like the vm backend: every image must reach it in ONE
apply call.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import wimcore
from tests.conftest import tree_hashes
from tests.servicing.installs import ClaimingBackend, record_install
from wimcore.media.pipeline import ServiceOptions, service
from wimcore.packages.errors import NotAnUpdateError, PackageTamperedError
from wimcore.servicing.backend import ImageJob
from wimcore.servicing.errors import ImageTypeError
from wimcore.servicing.image_inventory import Inventory, inventory

SHARED_CABS = Path(__file__).parents[2] / ".." / "shared" / "data" / "cab"
NEW_SETUP_FILE = b"MZ dismcore.dll as the serviced Setup image has it"


class _RecordingBackend(ClaimingBackend):
    """Installs by recording what an install records; one batch for every image."""

    name = "test-recording"

    def __init__(self) -> None:
        super().__init__(_record_install)


class _RefusingBackend(_RecordingBackend):
    name = "test-refusing"

    def refusal(self, inv: Inventory) -> str | None:
        return "this backend services nothing"


def _record_install(job: ImageJob, work: Path) -> None:
    """An install; the Setup image's cumulative update also brings a newer Setup file."""
    setup = job.wim.images[job.index].exists("/sources/setup.exe")
    record_install(job, work, {"/sources/dismcore.dll": NEW_SETUP_FILE} if setup else {})


def test_one_batch_for_every_image_and_sources_from_the_serviced_setup(
        media: Path, tmp_path: Path) -> None:
    backend = _RecordingBackend()
    before = (media / "sources/dismcore.dll").read_bytes()  # newer than the unserviced image's
    report = service(media, media / "updates", ServiceOptions(backend=backend,
                                                              iso=tmp_path / "m.iso"))
    assert len(backend.calls) == 1  # one VM boot
    labels = backend.calls[0]
    assert labels[0].startswith("Winre.wim[") and labels[0].endswith(":1")
    assert labels[1:] == ["install.wim:1", "install.wim:2", "boot.wim:2", "boot.wim:1"]
    assert report.status == "ok", report.summary()
    assert {i.report.status for i in report.images} == {"installed"}
    for rec in report.images:
        assert all("CBS state installed" in p["verdict"]
                   for p in (rec.report.outcome or {})["packages"])
    # sources/ follows the *serviced* Setup image
    assert before != NEW_SETUP_FILE
    assert (media / "sources/dismcore.dll").read_bytes() == NEW_SETUP_FILE
    with wimcore.open(media / "sources/boot.wim") as boot:
        for image in boot.images:
            inv = inventory(image)
            assert inv.ubr == 2033 and inv.package(
                "Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.2033.1.6") is not None
    with wimcore.open(media / "sources/install.wim") as wim:  # WinRE serviced, put back
        data = wim.images[2].read_bytes("/Windows/System32/Recovery/Winre.wim")
    (tmp_path / "re.wim").write_bytes(data)
    with wimcore.open(tmp_path / "re.wim") as re:
        keys = {p.key for p in inventory(re.images[1]).packages if p.is_installed}
    names = {k.split("~")[0] for k in keys}
    assert {"Package_for_ServicingStack_2032", "Package_for_SafeOSDU"} <= names
    assert not [k for k in keys if k.endswith("26100.2033.1.6")]  # WinRE: no LCU
    for wim_name, count in (("install.wim", 2 + 1), ("boot.wim", 2)):
        hist = json.loads((media.parent / f"{media.name}.{wim_name}.wimcore-history.json")
                          .read_text())
        assert not (media / f"sources/{wim_name}.wimcore-history.json").exists()
        run = hist["runs"][-1]
        assert run["backend"] == "test-recording" and len(run["images"]) == count
        assert all(i["installed"] and not i["staged"] for i in run["images"])
    # a second run: everything installed, nothing to do, no byte changes (ISO included)
    state = tree_hashes(media), (tmp_path / "m.iso").read_bytes()
    again = service(media, media / "updates", ServiceOptions(backend=backend,
                                                             iso=tmp_path / "m.iso"))
    assert again.status == "nothing-to-do" and len(backend.calls) == 1
    assert (tree_hashes(media), (tmp_path / "m.iso").read_bytes()) == state


def test_explicit_image_the_backend_cannot_service(media: Path) -> None:
    before = tree_hashes(media)
    with pytest.raises(ImageTypeError, match="services nothing"):
        service(media, media / "updates", ServiceOptions(backend=_RefusingBackend(),
                                                         images=["Windows 11 Pro"]))
    assert tree_hashes(media) == before


@pytest.mark.parametrize("cab", ["normal_2files_2folders.cab", "mszip_lzx_qtm.cab"])
def test_unrelated_cab_in_updates_is_refused_never_copied(media: Path, cab: str) -> None:
    if not (SHARED_CABS / cab).is_file():
        pytest.skip("libmspack test cabinets not found")
    shutil.copy(SHARED_CABS / cab, media / "updates" / cab)
    before = tree_hashes(media)
    with pytest.raises(NotAnUpdateError) as err:
        service(media, media / "updates", ServiceOptions(backend="staged"))
    assert err.value.path == str(media / "updates" / cab)
    assert "not Setup files" in str(err.value)
    assert tree_hashes(media) == before
    doc = json.loads((media.parent / "media.wimcore-report.json").read_text())
    assert doc["status"] == "failed" and cab in json.dumps(doc["inputs"])


def test_readme_in_updates_is_refused(media: Path) -> None:
    (media / "updates/README.txt").write_text("Patch Tuesday, October\n")
    before = tree_hashes(media)
    with pytest.raises(NotAnUpdateError, match=r"README\.txt: not an update"):
        service(media, media / "updates", ServiceOptions(backend="staged"))
    assert tree_hashes(media) == before


def test_setup_du_named_by_the_user(media: Path) -> None:
    lzx = SHARED_CABS / "mszip_lzx_qtm.cab"
    if not lzx.is_file():
        pytest.skip("libmspack test cabinets not found")
    updates = [*sorted((media / "updates").iterdir()), lzx]
    report = service(media, updates, ServiceOptions(backend="staged", setup_du=[lzx]))
    assert report.status == "incomplete"
    assert (media / "sources/lzx.txt").is_file() and (media / "sources/qtm.txt").is_file()
    row = next(r for r in report.inputs if r.input.path == lzx)
    assert row.action == "copy-to-sources" and "--setup-du" in row.input.reason


def test_tampered_package_stops_the_media_run(media: Path, tmp_path: Path) -> None:
    from wimcore.packages.cab import Cabinet
    from wimcore.packages.expand import expand

    updates = tmp_path / "updates"
    shutil.copytree(media / "updates", updates)
    safeos = updates / "Windows11.0-KB5044615-x64.cab"
    folder = expand(safeos, tmp_path / "x").dest
    payload = next(p for p in folder.rglob("recenv.exe"))
    payload.write_bytes(payload.read_bytes()[:-1] + b"!")
    with Cabinet(safeos) as cab:
        names = [m.name for m in cab.members]
    from cabarchive import CabArchive, CabFile

    arc = CabArchive()
    for name in names:
        arc[name.replace("/", "\\")] = CabFile((folder / name).read_bytes())
    safeos.write_bytes(bytes(arc.save(compress=True)))
    before = tree_hashes(media)
    with pytest.raises(PackageTamperedError, match=r"recenv\.exe"):
        service(media, updates, ServiceOptions(backend="staged"))
    assert tree_hashes(media) == before


def test_lcu_without_ssu_warning_in_the_media_summary(media: Path) -> None:
    # The sample's LCU MSU carries its SSU (as real combined MSUs do): take the KB package
    # out of it, expanded, to have an LCU without a servicing stack update.
    from wimcore.packages.expand import expand

    msu = media / "updates/Windows11.0-KB5044284-x64.msu"
    lcu = expand(msu, media.parent / "lcu-only").dest / "Windows11.0-KB5044284-x64"
    report = service(media, [lcu], ServiceOptions(backend="staged"))
    warned = [w for w in report.warnings if "without a servicing stack update" in w]
    assert {w.split(":")[0] for w in warned} >= {"install.wim", "boot.wim"}
    assert "warning: install.wim:1 'Windows 11 Pro': cumulative update" in report.summary()
