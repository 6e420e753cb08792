"""``fleet updates add``: wimcore's one classification and verification, as package
plan/stage and media service use them (real cabinets made with the sample's packages,
real libmspack, real SQLite); and a run that checks the library's packages again."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import wimcore
from tests.fleet.conftest import BIN
from wimcore.fleet.catalog import Catalog
from wimcore.fleet.errors import LibraryError
from wimcore.fleet.library import add_images
from wimcore.fleet.planning import plan_images
from wimcore.fleet.task import ImageTask, service_image
from wimcore.fleet.updates import add_updates
from wimcore.media.sample_packages import cab_bytes
from wimcore.packages.cab import Cabinet
from wimcore.packages.errors import NotAnUpdateError, PackageTamperedError
from wimcore.packages.intake import SETUP_DU_SKIP, prepare_inputs

SAFEOS = "Windows11.0-KB5044615-x64.cab"
SETUP_DU = "Windows11.0-KB5044618-x64.cab"
LCU = "Windows11.0-KB5044284-x64.msu"
RECENV = ("amd64_microsoft-windows-winre-recenv_31bf3856ad364e35_10.0.26100.2030_none_"
          "ba58e83072e4a0e1/recenv.exe")
CBSCORE = ("amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.26100.2032_none_"
           "e9d447d956968fe8/CbsCore.dll")  # in the SSU cabinet inside the LCU MSU


def rebuilt(src: Path, scratch: Path, change: Callable[[str, bytes], bytes]) -> bytes:
    """The cabinet ``src`` made again with each member passed through ``change``."""
    scratch.mkdir(parents=True, exist_ok=True)
    with Cabinet(src) as cab:
        members = {m.name: cab.read(m, scratch) for m in cab.members}
    return cab_bytes({n.replace("/", "\\"): change(n, data) for n, data in members.items()})


def tampered(src: Path, member: str, dest: Path) -> Path:
    """A copy of a package (CAB, or MSU: its package cabinets) with ``member`` changed."""
    scratch = dest.parent / f".scratch-{dest.name}"
    scratch.mkdir(parents=True, exist_ok=True)

    def change(name: str, data: bytes) -> bytes:
        if name == member:
            return b"MZ changed after it was downloaded" + data[34:]
        if name.endswith(".cab") and name != "WSUSSCAN.cab":  # an MSU's package cabinet
            inner = scratch / name
            inner.write_bytes(data)
            return rebuilt(inner, scratch / "inner", change)
        return data
    if src.read_bytes()[:5] == b"MSWIM":  # an MSU in WIM form: its members, then a new WIM
        with wimcore.open(src) as msu:
            msu.images[1].apply(scratch / "msu")
        for f in sorted((scratch / "msu").iterdir()):
            f.write_bytes(change(f.name, f.read_bytes()))
        with wimcore.create("none") as w:
            w.add_image(scratch / "msu", src.stem)
            w.write(dest, threads=1)
    else:
        dest.write_bytes(rebuilt(src, scratch, change))
    shutil.rmtree(scratch)
    return dest


def stored_files(library: Path) -> list[Path]:
    return sorted(p for p in (library / "updates").rglob("*") if p.is_file()) \
        if (library / "updates").exists() else []


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "wimcore"), *args], capture_output=True, text=True,
                          timeout=120)


def test_setup_dynamic_update_skipped_with_the_intake_reason(tmp_path: Path,
                                                            sample4: Path) -> None:
    du = sample4 / "updates" / SETUP_DU
    sources = sample4 / "sources"
    with Catalog(tmp_path / "c.sqlite3") as cat:
        (result,) = add_updates(cat, [du], sources=sources)
        assert cat.updates() == []
    (record,) = prepare_inputs([du], tmp_path / "w", sources=sources).records
    assert (result.status, result.input_class) == ("skipped", "setup-dynamic-update")
    assert result.reason == f"{record.detail} ({record.input.reason})"
    assert result.reason.startswith(SETUP_DU_SKIP) and "Setup files" in result.reason
    assert stored_files(tmp_path / "library") == []
    # named with --setup-du, without a media's sources/: the intake's other reason
    with Catalog(tmp_path / "c.sqlite3") as cat:
        (named,) = add_updates(cat, [du], setup_du=[du])
    assert named.status == "skipped" and "(named as a Setup Dynamic Update (--setup-du))" \
        in named.reason
    # package plan prints the same words for the same input
    plan = cli("package", "plan", str(sources / "install.wim"), "1", str(du))
    assert plan.returncode == 0 and result.reason in plan.stdout.replace("\n", " ")
    out = cli("fleet", "--catalog", str(tmp_path / "c.sqlite3"), "updates", "add",
              "--sources", str(sources), str(du))
    assert out.returncode == 0 and result.reason in out.stdout


def test_non_update_refused_with_the_same_typed_error(tmp_path: Path, sample4: Path) -> None:
    readme = tmp_path / "in" / "README.txt"
    readme.parent.mkdir()
    readme.write_text("this month's updates\n")
    du = sample4 / "updates" / SETUP_DU  # no media sources/ given: not an update here
    safeos = sample4 / "updates" / SAFEOS
    with pytest.raises(NotAnUpdateError) as reference:
        prepare_inputs([du], tmp_path / "w")
    with Catalog(tmp_path / "c.sqlite3") as cat:
        results = add_updates(cat, [readme, du, safeos])
        assert [r.status for r in results] == ["refused", "refused", "imported"]
        assert [u["kb"] for u in cat.updates()] == ["KB5044615"]  # the good one is stored
    for r in results[:2]:
        assert isinstance(r.error, NotAnUpdateError) and r.to_dict()["error_type"] == \
            "NotAnUpdateError"
    assert str(results[1].error) == str(reference.value)
    assert results[0].error is not None and \
        getattr(results[0].error, "path", None) == str(readme)
    # the command fails with that error, exactly as package plan does for the same input
    fleet = cli("fleet", "--catalog", str(tmp_path / "c2.sqlite3"), "updates", "add",
                str(readme), str(safeos))
    plan = cli("package", "plan", str(sample4 / "sources" / "install.wim"), "1", str(readme))
    assert fleet.returncode == plan.returncode == 1
    error = [ln for ln in fleet.stderr.splitlines() if ln.startswith("wimcore: error:")]
    assert error == [ln for ln in plan.stderr.splitlines() if ln.startswith("wimcore: error:")]
    assert "not an update" in error[0] and str(readme) in error[0]
    assert "imported         " + SAFEOS in fleet.stdout
    assert "refused          README.txt" in fleet.stdout


def test_tampered_package_refused_naming_the_file(tmp_path: Path, sample4: Path) -> None:
    (tmp_path / "in").mkdir()
    bad = tampered(sample4 / "updates" / SAFEOS, RECENV, tmp_path / "in" / SAFEOS)
    before = hashlib.sha256(bad.read_bytes()).hexdigest()
    with pytest.raises(PackageTamperedError) as reference:
        prepare_inputs([bad], tmp_path / "w")
    with Catalog(tmp_path / "c.sqlite3") as cat:
        (result,) = add_updates(cat, [bad])
        assert cat.updates() == []
    assert result.status == "refused" and isinstance(result.error, PackageTamperedError)
    assert result.error.file == reference.value.file == RECENV
    assert f"{RECENV}: its sha256 hash does not match" in result.reason
    # the message after the (temporary) expanded folder is the intake's, word for word
    assert str(result.error).split(": ", 1)[1] == str(reference.value).split(": ", 1)[1]
    assert stored_files(tmp_path / "library") == []
    assert hashlib.sha256(bad.read_bytes()).hexdigest() == before  # input untouched
    out = cli("fleet", "--catalog", str(tmp_path / "c.sqlite3"), "updates", "add", str(bad))
    assert out.returncode == 1 and RECENV in out.stderr.splitlines()[-1]


def test_skip_verify_is_loud_and_recorded(tmp_path: Path, sample4: Path) -> None:
    (tmp_path / "in").mkdir()
    bad = tampered(sample4 / "updates" / SAFEOS, RECENV, tmp_path / "in" / SAFEOS)
    catalog = str(tmp_path / "c.sqlite3")
    out = cli("fleet", "--catalog", catalog, "updates", "add", "--skip-verify", "--json",
              str(bad))
    assert out.returncode == 0
    assert "wimcore: warning: --skip-verify: packages are NOT checked" in out.stderr
    doc = json.loads(out.stdout)
    assert doc["skip_verify"] and any("--skip-verify" in w for w in doc["warnings"])
    (row,) = doc["updates"]
    assert row["status"] == "imported" and row["verification"]["state"] == "skipped"
    with Catalog(catalog) as cat:
        (u,) = cat.updates()
        assert u["verification"]["state"] == "skipped" and u["verification"]["skip_verify"]
        assert u["verification"]["verified"] == 0
        # without --skip-verify the same file is checked now, refused, the record unchanged
        (again,) = add_updates(cat, [bad])
        assert again.status == "refused" and isinstance(again.error, PackageTamperedError)
        assert cat.updates()[0]["verification"]["state"] == "skipped"
    listing = cli("fleet", "--catalog", catalog, "updates", "list")
    assert "[NOT VERIFIED (--skip-verify)]" in listing.stdout
    # a good file imported unchecked is checked by a later import, and its record updated
    with Catalog(tmp_path / "c2.sqlite3") as cat:
        good = sample4 / "updates" / SAFEOS
        (first,) = add_updates(cat, [good], skip_verify=True)
        assert first.verification is not None and first.verification["state"] == "skipped"
        (second,) = add_updates(cat, [good])
        assert second.status == "verified-now"
        assert cat.updates()[0]["verification"]["state"] == "verified"
        (third,) = add_updates(cat, [good])
        assert third.status == "already-present"


def test_expanded_folder_and_express_companion(tmp_path: Path, sample4: Path) -> None:
    folder = tmp_path / "expanded"
    with Cabinet(sample4 / "updates" / SAFEOS) as cab:
        cab.extract(folder)
    # a 24H2 KB package WIM and its PSF, taken out of the sample's LCU MSU
    src = tmp_path / "in"
    kb = "Windows11.0-KB5044284-x64"
    with wimcore.open(sample4 / "updates" / LCU) as msu:
        msu.images[1].extract([f"/{kb}.wim", f"/{kb}.psf"], src, preserve_dir_structure=False)
    psf = src / f"{kb}.psf"
    with Catalog(tmp_path / "c.sqlite3") as cat:
        (refused,) = add_updates(cat, [folder])
        assert refused.status == "refused" and isinstance(refused.error, LibraryError)
        assert "not expanded folders" in refused.reason
        results = {Path(r.source).name: r for r in add_updates(cat, [src])}
    assert results[f"{kb}.wim"].status == "imported"
    assert results[psf.name].status == "companion"
    stored = Path(results[f"{kb}.wim"].stored_path or "")
    assert stored.with_name(psf.name).read_bytes() == psf.read_bytes()
    # the stored pair expands again, every PSF file checked
    from wimcore.packages.expand import expand

    assert expand(stored, tmp_path / "again").packages[0].express


def test_run_checks_library_packages_again_unless_skip_verify(tmp_path: Path,
                                                              sample4: Path) -> None:
    """A package stored with --skip-verify is refused by a run that verifies (the WIM
    unchanged, the error naming the file), and used by one with skip_verify."""
    (tmp_path / "in").mkdir()
    bad_lcu = tampered(sample4 / "updates" / LCU, CBSCORE, tmp_path / "in" / LCU)
    with Catalog(tmp_path / "c.sqlite3") as cat:
        cat.set_setting("library", str(tmp_path / "library"))
        (image_id,) = add_images(cat, sample4 / "sources" / "install.wim", index=1)
        (lcu,) = add_updates(cat, [bad_lcu], skip_verify=True)
        assert lcu.status == "imported"
        (p,) = plan_images(cat, cat.select_images([str(image_id)]), skip_verify=True)
    assert [e["kb"] for e in p.apply] == ["KB5047621", "KB5044284"]
    wim = Path(p.image["wim_path"])
    before = hashlib.sha256(wim.read_bytes()).hexdigest()
    task = ImageTask(run_id="t", image_id=image_id, wim_path=str(wim), wim_index=1,
                     packages=tuple(p.files), outputs=str(tmp_path / "out"))
    record = service_image(task, cancelled=lambda: False)
    assert record["status"] == "failed" and not record["wim_changed"]
    assert CBSCORE in record["error"] and "hash does not match" in record["error"]
    assert hashlib.sha256(wim.read_bytes()).hexdigest() == before
    loose = ImageTask(**{**task.__dict__, "outputs": str(tmp_path / "out2"),
                         "skip_verify": True})
    record = service_image(loose, cancelled=lambda: False)
    assert record["status"] == "staged" and record["wim_changed"]
    report = json.loads(Path(record["report_path"]).read_text())
    assert report["verification"] == "skipped (--skip-verify)"
