"""Every shape of a real update package, told by content, and every PSF byte checked.

Packages are made here with wimcore's own encoder and PSF writer (RAW, PA30/PseudoLzx and
PA31/LZMS spans), wrapped in cabinets or WIMs, and read back through expand, verify,
classify, inspect and plan.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pkgfactory import make_cab, write

import wimcore
from wimcore.media.sample import KB_LCU, _data
from wimcore.media.sample_packages import (
    PA30,
    PA31_LZMS,
    ExpressPackage,
    MumSpec,
    PackageCab,
    ParentRef,
    cab_bytes,
    component_manifest,
    msu_metadata_members,
    mum_bytes,
)
from wimcore.packages.classify import InputClass, classify_inputs
from wimcore.packages.errors import (
    DeltaError,
    PackageShapeError,
    PackageTamperedError,
    PsfIndexError,
)
from wimcore.packages.expand import expand
from wimcore.packages.inspect import inspect_package
from wimcore.packages.model import load_package
from wimcore.packages.msdelta_encode import encode
from wimcore.packages.verify import verify_expanded_package

KB = "KB5099999"
STEM = f"Windows11.0-{KB}-x64"
IDX = f"{STEM}.psf.cix.xml"  # the index name the sample uses (ExpressPackage's default)
NOTEPAD = _data(7, "t/notepad.exe", 30_000)
DEVINV = _data(7, "t/devinv.dll", 20_000)
KERNEL = _data(7, "t/kernel32.dll", 50_000)
OLD_NOTEPAD = _data(7, "t/notepad-old.exe", 29_000)


def _package(*, kernel: bytes = KERNEL) -> PackageCab:
    spec = MumSpec(name="Package_for_RollupFix", version="26100.3000.1.1", kb=KB,
                   release_type="Security Update", psfx_version="10.0.26100.3000",
                   parent=ParentRef(("Microsoft-Windows-ProfessionalEdition",),
                                    "10.0.26100.1742"),
                   components=[("Microsoft-Windows-Notepad", "10.0.26100.3000")])
    return PackageCab(spec, component_files={
        "Microsoft-Windows-Notepad": {"notepad.exe": NOTEPAD},
        "Microsoft-Windows-DeviceInventory": {"devinv.dll": DEVINV},
        "Microsoft-Windows-Kernel32": {"kernel32.dll": kernel}},
        component_version="10.0.26100.3000")


def _express(index_name: str = "", *, kernel: bytes = KERNEL) -> tuple[dict[str, bytes], bytes]:
    forward = encode(NOTEPAD, OLD_NOTEPAD, magic="PA30", codec="pseudolzx", crc_prefix=True)
    return ExpressPackage(
        _package(kernel=kernel), f"{STEM}.psf", {"devinv.dll": PA30, "kernel32.dll": PA31_LZMS},
        {("Microsoft-Windows-Notepad", "f", "notepad.exe"): forward},
        index_name=index_name).build()


def _wim(path: Path, members: dict[str, bytes]) -> Path:
    tree = path.with_name(path.name + ".tree")
    for rel, data in members.items():
        write(tree / rel.replace("\\", "/"), data)
    with wimcore.create("none") as w:
        w.add_image(tree, path.stem)
        w.write(path, threads=1)
    shutil.rmtree(tree)
    return path


def _cab_members(members: dict[str, bytes]) -> dict[str, bytes]:
    return {k.replace("/", "\\"): v for k, v in members.items()}


def _wim_msu(tmp_path: Path, kb_members: dict[str, bytes], psf: bytes | None,
             extra: dict[str, bytes] | None = None) -> Path:
    kb_wim = _wim(tmp_path / "build" / f"{STEM}.wim", kb_members)
    spec = _package().spec
    members = {f"{STEM}.wim": kb_wim.read_bytes(),
               **msu_metadata_members(KB, spec, f"{STEM}.wim", package_type="Security Update",
                                      applies_to="Security Update"), **(extra or {})}
    if psf is not None:
        members[f"{STEM}.psf"] = psf
    return _wim(tmp_path / f"{STEM}.msu", members)


def _cab_msu(tmp_path: Path, kb_members: dict[str, bytes], psf: bytes | None,
             extra: dict[str, bytes] | None = None) -> Path:
    spec = _package().spec
    members = {f"{STEM}.cab": cab_bytes(_cab_members(kb_members)),
               **msu_metadata_members(KB, spec, f"{STEM}.cab", package_type="Security Update",
                                      applies_to="Security Update"), **(extra or {})}
    if psf is not None:
        members[f"{STEM}.psf"] = psf
    return write(tmp_path / f"{STEM}.msu", cab_bytes(members))


def _folder(result_dest: Path) -> Path:
    return result_dest / STEM


def _check_payload(folder: Path) -> None:
    pkg = _package()
    files = {(comp, name): data for comp, fs in pkg.component_files.items()
             for name, data in fs.items()}
    for (comp, name), data in files.items():
        assert (folder / pkg.keyform(comp) / name).read_bytes() == data
    forward = (folder / pkg.keyform("Microsoft-Windows-Notepad") / "f" / "notepad.exe")
    assert forward.read_bytes()[4:8] == b"PA30"  # stored as it is, CRC-32 prefix first


# -- both index names, both MSU forms, KB package as CAB or WIM -----------------------------

@pytest.mark.parametrize("index_name", ["express.psf.cix.xml", f"{STEM}.psf.cix.xml"])
@pytest.mark.parametrize("form", ["wim", "cab"])
def test_express_msu_expands_fully_and_verifies(tmp_path: Path, index_name: str,
                                                form: str) -> None:
    members, psf = _express(index_name)
    msu = (_wim_msu if form == "wim" else _cab_msu)(tmp_path, members, psf)
    assert msu.read_bytes()[:4] == (b"MSWI" if form == "wim" else b"MSCF")
    result = expand(msu, tmp_path / "out")
    assert result.format == "msu" and [p.express for p in result.packages] == [True]
    folder = _folder(result.dest)
    _check_payload(folder)
    assert not (result.dest / f"{STEM}.psf").exists()  # read into its package, then removed
    kinds = {k: v.count for k, v in result.psf[0].kinds.items()}
    assert kinds == {"RAW": 2, "PA30/PseudoLzx": 1, "PA31/LZMS": 1}
    check = verify_expanded_package(folder)
    assert check.state == "verified", check.unverified
    assert any(v.endswith("/f/notepad.exe") for v in check.verified)


def test_kb_package_cab_with_psf_beside_it(tmp_path: Path) -> None:
    members, psf = _express(f"{STEM}.psf.cix.xml")
    cab = write(tmp_path / "in" / f"{STEM}.cab", cab_bytes(_cab_members(members)))
    write(tmp_path / "in" / f"{STEM}.psf", psf)
    result = expand(cab, tmp_path / "out")
    assert result.format == "cab" and result.packages[0].express
    _check_payload(result.dest)
    assert (tmp_path / "in" / f"{STEM}.psf").read_bytes() == psf  # the input is left alone


def test_kb_package_wim_with_psf_beside_it(tmp_path: Path) -> None:
    members, psf = _express(f"{STEM}.psf.cix.xml")
    kb_wim = _wim(tmp_path / "in" / f"{STEM}.wim", members)
    write(tmp_path / "in" / f"{STEM}.psf", psf)
    result = expand(kb_wim, tmp_path / "out")
    assert result.format == "wim" and result.packages[0].express
    _check_payload(result.dest)


# -- tampering: each flipped byte is PackageTamperedError naming the file, nothing written ----

def _flip(data: bytes, at: int) -> bytes:
    out = bytearray(data)
    out[at] ^= 0x01
    return bytes(out)


def _span_offset(members: dict[str, bytes], index_name: str, file_part: str) -> int:
    from wimcore.packages.express import parse_index

    files = parse_index(members[index_name])
    entry = next(f for f in files if f.name.endswith(file_part))
    return entry.source.offset + entry.source.length // 2


@pytest.mark.parametrize("victim", ["notepad.exe", "devinv.dll", "kernel32.dll",
                                    "f\\notepad.exe"])
def test_flipped_byte_in_a_span(tmp_path: Path, victim: str) -> None:
    index_name = f"{STEM}.psf.cix.xml"
    members, psf = _express(index_name)
    bad = _flip(psf, _span_offset(members, index_name, "\\" + victim))
    msu = _wim_msu(tmp_path, members, bad)
    with pytest.raises(PackageTamperedError) as err:
        expand(msu, tmp_path / "out")
    assert err.value.file is not None and err.value.file.endswith(victim)
    assert victim in str(err.value)
    assert not (tmp_path / "out").exists()


def test_flipped_byte_in_the_index(tmp_path: Path) -> None:
    index_name = f"{STEM}.psf.cix.xml"
    members, psf = _express(index_name)
    text = members[index_name].decode()
    # the File hash of kernel32.dll (the first Hash after its File element)
    at = text.index("kernel32.dll")
    at = text.index('value="', at) + len('value="')
    digit = text[at]
    members[index_name] = (text[:at] + ("0" if digit != "0" else "1") + text[at + 1:]).encode()
    msu = _wim_msu(tmp_path, members, psf)
    with pytest.raises(PackageTamperedError, match=r"kernel32\.dll") as err:
        expand(msu, tmp_path / "out")
    assert err.value.file is not None and err.value.file.endswith("kernel32.dll")
    assert not (tmp_path / "out").exists()


def test_tampered_file_after_expansion_is_caught_by_verify(tmp_path: Path) -> None:
    members, psf = _express()
    result = expand(_wim_msu(tmp_path, members, psf), tmp_path / "out")
    forward = (_folder(result.dest) / _package().keyform("Microsoft-Windows-Notepad")
               / "f" / "notepad.exe")
    forward.write_bytes(_flip(forward.read_bytes(), 100))
    with pytest.raises(PackageTamperedError, match="PSF index") as err:
        verify_expanded_package(_folder(result.dest))
    assert err.value.file is not None and err.value.file.endswith("f/notepad.exe")


def test_a_span_labelled_pa30_holding_pa31_is_read_by_its_magic(tmp_path: Path) -> None:
    members, psf = _express()
    assert b'type="PA31"' not in members[IDX]  # labelled PA30, as 24H2
    result = expand(_wim_msu(tmp_path, members, psf), tmp_path / "out")
    assert "PA31/LZMS" in result.psf[0].kinds


def _index(name: str, target: bytes, blob: bytes, label: str = "PA30") -> bytes:
    file_hash = hashlib.sha256(target).hexdigest().upper()
    span_hash = hashlib.sha256(blob).hexdigest().upper()
    return (f'<?xml version="1.0"?><Container xmlns="urn:ContainerIndex" type="PSF"><Files>'
            f'<File id="1" name="{name}" length="{len(target)}" time="0" attr="128">'
            f'<Hash alg="SHA256" value="{file_hash}"/><Delta><Source type="{label}" '
            f'offset="0" length="{len(blob)}"><Hash alg="SHA256" value="{span_hash}"/>'
            '</Source></Delta></File></Files></Container>').encode()


@pytest.mark.parametrize("blob", [b"PA19" + bytes(40), b"PA30" + bytes(40)])
def test_undecodable_delta_span_is_a_typed_error_naming_the_file(tmp_path: Path,
                                                                 blob: bytes) -> None:
    kb = {"update.mum": mum_bytes(_package().spec),
          "express.psf.cix.xml": _index("amd64_x\\old.dll", b"target", blob)}
    msu = _cab_msu(tmp_path, kb, blob)
    with pytest.raises(DeltaError, match=r"old\.dll"):
        expand(msu, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- metadata members and shapes not understood ---------------------------------------------

def test_metadata_members_are_kept_not_expanded(tmp_path: Path) -> None:
    members, psf = _express()
    mumx = _wim(tmp_path / "b" / f"{STEM}.mumx.esd", {"x.mumx": b"<mumx/>"})
    extra = {"DesktopDeployment.cab": cab_bytes({"dpx.dll": b"MZ" + bytes(100)}),
             "DesktopDeployment_x86.cab": cab_bytes({"dpx.dll": b"MZ" + bytes(90)}),
             "onepackage.AggregatedMetadata.cab": cab_bytes(
                 {f"LCUCompDB_{KB}.xml.cab": cab_bytes({"c.xml": b"<CompDB/>"})}),
             f"{STEM}.mumx.esd": mumx.read_bytes()}
    result = expand(_wim_msu(tmp_path, members, psf, extra), tmp_path / "out")
    assert set(result.metadata) == {"DesktopDeployment.cab", "DesktopDeployment_x86.cab",
                                    "onepackage.AggregatedMetadata.cab", "WSUSSCAN.cab",
                                    f"{STEM}.mumx.esd"}
    assert "AggregatedMetadata" in result.metadata["onepackage.AggregatedMetadata.cab"]
    for name in result.metadata:
        assert (result.dest / name).is_file()
    assert [p.path.name for p in result.packages] == [STEM]
    info = inspect_package(tmp_path / f"{STEM}.msu")
    assert set(info.metadata) == set(result.metadata)


def test_metadata_name_on_a_package_is_still_a_package(tmp_path: Path) -> None:
    """Told by content: a member named like metadata but holding update.mum is a package."""
    members, psf = _express()
    ssu = PackageCab(MumSpec(name="Package_for_ServicingStack_3000", version="26100.3000.1.1",
                             kb="KB5099998"), component_files={"Microsoft-Windows-Stack": {
                                 "cbs.dll": b"MZcbs" * 50}}, component_version="10.0.1.1")
    result = expand(_cab_msu(tmp_path, members, psf, {"WSUSSCAN.cab": ssu.build()}),
                    tmp_path / "out")
    assert {p.path.name for p in result.packages} == {STEM, "WSUSSCAN"}


def _refused(tmp_path: Path, path: Path, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match) as err:
        expand(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    if isinstance(err.value, PackageShapeError):
        assert err.value.found


def test_unknown_member_without_update_mum(tmp_path: Path) -> None:
    members, psf = _express()
    msu = _cab_msu(tmp_path, members, psf, {"Mystery.cab": cab_bytes({"a.txt": b"a"})})
    _refused(tmp_path, msu, PackageShapeError, "Mystery.cab")


def test_index_without_psf(tmp_path: Path) -> None:
    members, _psf = _express()
    _refused(tmp_path, _wim_msu(tmp_path, members, None), PackageShapeError, "no .psf")


def test_psf_without_index(tmp_path: Path) -> None:
    members, psf = _express()
    del members[IDX]
    _refused(tmp_path, _wim_msu(tmp_path, members, psf), PackageShapeError, "PSF")


def test_psf_beside_a_cab_without_index(tmp_path: Path) -> None:
    members, psf = _express()
    del members[IDX]
    cab = write(tmp_path / "in" / f"{STEM}.cab", cab_bytes(_cab_members(members)))
    write(tmp_path / "in" / f"{STEM}.psf", psf)
    _refused(tmp_path, cab, PackageShapeError, "without an index|no PSF index")


def test_package_listing_payload_without_psf_or_files(tmp_path: Path) -> None:
    """The exit-0-without-payload case: manifests name files, nothing carries them."""
    pkg = _package()
    manifest = component_manifest("Microsoft-Windows-Notepad", pkg.component_version,
                                  {"notepad.exe": NOTEPAD})
    kb = {"update.mum": mum_bytes(pkg.spec),
          f"{pkg.keyform('Microsoft-Windows-Notepad')}.manifest": manifest}
    _refused(tmp_path, _wim_msu(tmp_path, kb, None), PackageShapeError, "no payload files")
    cab = write(tmp_path / "lone.cab", make_cab(kb))
    _refused(tmp_path, cab, PackageShapeError, "no payload files")


def test_psfx_package_with_compressed_manifests_and_no_payload(tmp_path: Path) -> None:
    pkg = _package()
    kb = {"update.mum": mum_bytes(pkg.spec), "amd64_x_1.0_none_0.manifest": b"DCM\x01PA30xx"}
    _refused(tmp_path, write(tmp_path / "p.cab", make_cab(kb)), PackageShapeError, "PSFX")


def test_two_indexes_and_a_wim_that_is_nothing(tmp_path: Path) -> None:
    members, psf = _express()
    members["express.psf.cix.xml"] = members[IDX]
    _refused(tmp_path, _wim_msu(tmp_path, members, psf), PsfIndexError, "2 PSF indexes")
    plain = _wim(tmp_path / "plain.wim", {"readme.txt": b"hello"})
    _refused(tmp_path, plain, PackageShapeError, "without update.mum")


def test_index_with_two_deltas_per_file(tmp_path: Path) -> None:
    members, psf = _express()
    text = members[IDX].decode()
    delta = text[text.index("<Delta>"):text.index("</Delta>") + len("</Delta>")]
    members[IDX] = text.replace(delta, delta + delta, 1).encode()
    _refused(tmp_path, _wim_msu(tmp_path, members, psf), PsfIndexError, "2 Delta elements")


def test_windows10_lcu_cab_with_forward_and_reverse_files(tmp_path: Path) -> None:
    """No PSF: the f/ r/ files sit in the cabinet; expanded, and listed unverified."""
    pkg = _package()
    keyform = pkg.keyform("Microsoft-Windows-Notepad")
    manifest = component_manifest("Microsoft-Windows-Notepad", pkg.component_version,
                                  {"notepad.exe": NOTEPAD})
    fwd = encode(NOTEPAD, OLD_NOTEPAD, crc_prefix=True)
    rev = encode(OLD_NOTEPAD, NOTEPAD, crc_prefix=True)
    cab = write(tmp_path / "Windows10.0-KB5099999-x64.cab", make_cab({
        "update.mum": mum_bytes(MumSpec(name="Package_for_RollupFix", version="19041.5000.1.1",
                                        kb=KB, components=[("Microsoft-Windows-Notepad",
                                                            pkg.component_version)])),
        f"{keyform}.manifest": manifest, f"{keyform}\\f\\notepad.exe": fwd,
        f"{keyform}\\r\\notepad.exe": rev}))
    result = expand(cab, tmp_path / "out")
    assert result.packages and not result.psf
    assert (result.dest / keyform / "f" / "notepad.exe").read_bytes() == fwd
    check = verify_expanded_package(result.dest)
    why = {u.path: u.reason for u in check.unverified}
    for kind in ("f", "r"):
        assert "PSFX delta file" in why[f"{keyform}/{kind}/notepad.exe"]


# -- the sample's 24H2-shaped updates: expand, plan, stage ---------------------------------

def test_sample_lcu_expands_fully_and_verifies(sample_master: Path, tmp_path: Path) -> None:
    msu = sample_master / "updates" / f"Windows11.0-{KB_LCU}-x64.msu"
    assert msu.read_bytes()[:8] == b"MSWIM\x00\x00\x00"
    result = expand(msu, tmp_path / "out")
    names = sorted(p.path.name for p in result.packages)
    assert names == ["SSU-26100.2032-x64", f"Windows11.0-{KB_LCU}-x64"]
    (report,) = result.psf
    assert report.index == f"Windows11.0-{KB_LCU}-x64.psf.cix.xml"
    assert {"RAW", "PA30/PseudoLzx", "PA31/LZMS"} <= set(report.kinds)
    assert set(result.metadata) == {"DesktopDeployment.cab", "WSUSSCAN.cab",
                                    "onepackage.AggregatedMetadata.cab"}
    lcu = result.dest / f"Windows11.0-{KB_LCU}-x64"
    kernel = next(lcu.glob("amd64_microsoft-windows-kernel32_*/kernel32.dll"))
    assert kernel.read_bytes() == _data(0, "lcu/kernel32.dll", 120_000)
    for pkg in result.packages:
        check = verify_expanded_package(pkg.path, load_package(pkg.path))
        assert check.state == "verified", check.unverified


def test_sample_plan_ssu_inside_the_msu_before_the_lcu(sample_master: Path,
                                                       tmp_path: Path) -> None:
    from wimcore.packages.intake import prepare_inputs
    from wimcore.servicing import inventory, plan

    updates = sorted((sample_master / "updates").glob("*.msu"))
    rows = classify_inputs(updates)
    kinds = {r.path.name: r.kinds for r in rows}
    assert kinds[f"Windows11.0-{KB_LCU}-x64.msu"] == ("servicing-stack", "cumulative-update")
    assert kinds["Windows11.0-KB5043080-x64.msu"] == ("checkpoint-cumulative-update",)
    intake = prepare_inputs(updates, tmp_path / "work")
    with wimcore.open(sample_master / "sources" / "install.wim") as wim:
        the_plan = plan(inventory(wim.images[1]), intake.packages)
    ordered = [e.kind for e in sorted((e for e in the_plan.entries if e.order is not None),
                                      key=lambda e: e.order or 0)]
    assert ordered == ["servicing-stack", "cumulative-update"]
    assert all(v.state == "verified" for v in intake.verifications)


def test_sample_lcu_staged_with_its_decoded_files(media: Path, tmp_path: Path) -> None:
    from wimcore.servicing import service_wim

    wim = tmp_path / "install.wim"
    shutil.copyfile(media / "sources" / "install.wim", wim)
    report = service_wim(wim, [media / "updates" / f"Windows11.0-{KB_LCU}-x64.msu"],
                         images=[1], history=False)
    assert report.to_dict()["status"] in ("successful", "staged", "incomplete", "ok"), \
        report.to_dict()["status"]
    with wimcore.open(wim) as w:
        found = [e.path for e in w.images[1].walk("/") if e.name == "kernel32.dll"
                 and "microsoft-windows-kernel32" in e.path]
        assert found, "the PA31/LZMS file is not in the staged package"
        assert w.images[1].read_bytes(found[0]) == _data(0, "lcu/kernel32.dll", 120_000)


# -- inspect agrees with plan ---------------------------------------------------------------

def _wimcore(*args: object) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "wimcore"
    return subprocess.run([str(exe), *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_inspect_classifies_a_random_cab_as_plan_does(tmp_path: Path, media: Path) -> None:
    cab = write(tmp_path / "random.cab", make_cab({"x.bin": bytes(range(256)) * 4}))
    (row,) = classify_inputs([cab])
    info = inspect_package(cab)
    assert row.input_class is InputClass.NOT_AN_UPDATE
    assert info.input_class == row.input_class.value and info.inputs[0].reason == row.reason
    shown = _wimcore("package", "inspect", cab)
    planned = _wimcore("package", "plan", media / "sources" / "install.wim", "1", cab)
    assert shown.returncode == planned.returncode == 1
    assert "not-an-update" in shown.stdout and "(msu)" not in shown.stdout
    assert "not-an-update" in planned.stdout
    # with the media's sources/, a Setup Dynamic Update is one to both
    du = media / "updates" / "Windows11.0-KB5044618-x64.cab"
    info = inspect_package(du, sources=media / "sources")
    (row,) = classify_inputs([du], sources=media / "sources")
    assert info.input_class == row.input_class.value == "setup-dynamic-update"


def test_inspect_shows_the_psf_spans_by_kind(sample_master: Path) -> None:
    msu = sample_master / "updates" / f"Windows11.0-{KB_LCU}-x64.msu"
    text = _wimcore("package", "inspect", msu)
    assert text.returncode == 0, text.stderr
    assert "class: servicing-package" in text.stdout
    for kind in ("RAW:", "PA30/PseudoLzx:", "PA31/LZMS:"):
        assert kind in text.stdout
    data = json.loads(_wimcore("package", "inspect", msu, "--json").stdout)
    assert data["class"] == "servicing-package"
    spans = data["psf"][0]["spans"]
    assert spans["PA31/LZMS"]["count"] == 1 and spans["PA30/PseudoLzx"]["count"] == 1
    assert spans["RAW"]["count"] == 2
    assert spans["PA31/LZMS"]["output_bytes"] == 120_000
    kinds = [p["kind"] for p in data["packages"]]
    assert kinds == ["servicing-stack", "cumulative-update"]
