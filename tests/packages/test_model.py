"""update.mum and manifest model, hostile XML, catalogs, and the package CLI group."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from pkgfactory import (
    BOM,
    PSFX,
    legacy_parent,
    make_catalog,
    msu_bytes,
    package_cab,
    rollup_parent,
    update_mum,
    write,
)

from wimcore.errors import InvalidXMLError
from wimcore.packages.catalog import parse_catalog, verify_package
from wimcore.packages.errors import CatalogError, HashMismatchError, ManifestError
from wimcore.packages.expand import expand
from wimcore.packages.inspect import inspect_package
from wimcore.packages.model import Identity, PackageKind, classify, load_package, parse_mum


def test_rollup_mum_parsed() -> None:
    mum = update_mum(name="Package_for_RollupFix", version="26100.3476.1.10", kb="KB5053598",
                     release_type="Security Update", restart="required", custom=PSFX,
                     parent=rollup_parent(),
                     packages=[("Package_1_for_KB5053598", "10.0.26100.3476")])
    assert mum.startswith(BOM)
    pkg = parse_mum(mum)
    assert pkg.key == "Package_for_RollupFix~31bf3856ad364e35~amd64~~26100.3476.1.10"
    assert pkg.kb == "KB5053598" and pkg.kind is PackageKind.CUMULATIVE_UPDATE
    assert pkg.release_type == "Security Update" and pkg.restart_required
    assert pkg.is_psfx and pkg.custom_information["PSFXVersion"] == "2"
    parent = pkg.parents[0]
    assert parent.revision_compare == "GE" and parent.build_compare is None
    assert parent.identities[0].version == "10.0.26100.1742"
    sub = pkg.updated_packages[0]
    assert sub.integrate == "hidden" and sub.identity.name == "Package_1_for_KB5053598"
    assert json.loads(json.dumps(pkg.to_dict()))["kind"] == "cumulative-update"


def test_legacy_parent_and_components() -> None:
    pkg = parse_mum(update_mum(name="Package_for_KB5034441", version="10.0.1.2",
                               kb="KB5034441", components=[("Microsoft-Windows-X", "10.0.1.1")],
                               parent=legacy_parent()))
    assert pkg.parents[0].build_compare == "EQ" and pkg.parents[0].service_compare == "GE"
    assert pkg.updated_components[0].identity.build_type == "release"
    assert pkg.kind is PackageKind.OTHER


@pytest.mark.parametrize(("name", "rtype", "props", "kind"), [
    ("Package_for_ServicingStack_3470", "Update", {}, PackageKind.SERVICING_STACK),
    ("Package_for_SafeOSDU", "Update", {}, PackageKind.SAFE_OS),
    ("Package_for_SetupDU", "Update", {}, PackageKind.SETUP_DYNAMIC_UPDATE),
    ("Package_for_DotNetRollup", "Update", {}, PackageKind.DOTNET),
    ("Microsoft-Windows-Client-LanguagePack-Package", "Language Pack", {},
     PackageKind.LANGUAGE_PACK),
    ("Microsoft-Windows-NetFx3-OnDemand-Package", "On Demand Pack", {}, PackageKind.DOTNET),
    ("Microsoft-OneCore-ApplicationModel-Sync-Desktop-FOD-Package", "On Demand Pack", {},
     PackageKind.FEATURE_ON_DEMAND),
    ("Package_for_KB1", "Update", {"Installation Type": "Servicing Stack Update"},
     PackageKind.SERVICING_STACK),
    ("Package_for_KB2", "Update", {"Applies to": "Safe OS Dynamic Update"}, PackageKind.SAFE_OS),
])
def test_classify(name: str, rtype: str, props: dict[str, str], kind: PackageKind) -> None:
    assert classify(Identity(name), rtype, props) is kind


def test_not_a_package_manifest() -> None:
    with pytest.raises(ManifestError):
        parse_mum(b"<assembly xmlns='urn:schemas-microsoft-com:asm.v3'/>")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3"><package identifier="&lol3;"/></assembly>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<assembly xmlns="urn:schemas-microsoft-com:asm.v3"><assemblyIdentity name="&x;"/></assembly>"""


@pytest.mark.parametrize("doc", [BILLION_LAUGHS, XXE])
def test_hostile_xml_refused(doc: bytes, tmp_path: Path) -> None:
    with pytest.raises(InvalidXMLError):
        parse_mum(doc)
    cab = write(tmp_path / "x.cab", package_cab())
    expand(cab, tmp_path / "pkg")
    (tmp_path / "pkg" / "update.mum").write_bytes(doc)
    with pytest.raises(InvalidXMLError):
        load_package(tmp_path / "pkg")


def test_load_package_with_manifests(tmp_path: Path) -> None:
    expand(write(tmp_path / "p.cab", package_cab(rollup=True)), tmp_path / "pkg")
    pkg = load_package(tmp_path / "pkg")
    assert pkg.kind is PackageKind.CUMULATIVE_UPDATE
    assert pkg.sub_packages[0].identity.name == "Package_1_for_KB5036893"
    assert [f.name for f in pkg.components[0].files] == ["notepad.txt", "readme.ini"]


def test_catalog_members_and_verification(tmp_path: Path) -> None:
    cat = parse_catalog(make_catalog({"a/b.txt": b"x", "update.mum": b"y"}))
    assert {m.name for m in cat.members} == {"a/b.txt", "update.mum"}
    assert all(m.algorithm == "sha256" and len(m.digest) == 32 for m in cat.members)
    expand(write(tmp_path / "p.cab", package_cab()), tmp_path / "pkg")
    report = verify_package(tmp_path / "pkg")
    assert report.ok and "update.mum" in report.verified and len(report.verified) == 3
    payload = next((tmp_path / "pkg").rglob("notepad.txt"))
    payload.write_bytes(b"tampered")
    assert not verify_package(tmp_path / "pkg").ok
    with pytest.raises(HashMismatchError):
        verify_package(tmp_path / "pkg", strict=True)


@pytest.mark.parametrize("blob", [b"", b"\x30\x03\x02\x01", b"not der at all" * 3,
                                  b"\x30\x82\xff\xff" + b"\x00" * 10])
def test_bad_catalogs(blob: bytes) -> None:
    with pytest.raises(CatalogError):
        parse_catalog(blob)


def test_inspect_every_form(tmp_path: Path) -> None:
    msu = write(tmp_path / "k.msu", msu_bytes(ssu=True))
    from_msu = inspect_package(msu)
    assert from_msu.format == "msu" and from_msu.msu and from_msu.msu.kb == "KB5036893"
    kinds = sorted(p.kind.value for p in from_msu.packages)
    assert kinds == ["cumulative-update", "servicing-stack"]
    expand(msu, tmp_path / "out")
    assert sorted(p.key for p in inspect_package(tmp_path / "out").packages) == \
        sorted(p.key for p in from_msu.packages)
    inner = tmp_path / "out" / "Windows11.0-KB5036893-x64"
    assert inspect_package(inner).packages[0].kind is PackageKind.CUMULATIVE_UPDATE
    assert inspect_package(inner / "update.mum").format == "mum"
    cab = write(tmp_path / "p.cab", package_cab())
    assert inspect_package(cab).packages[0].kb == "KB5036893"


def _group():  # type: ignore[no-untyped-def]
    from wimcore.cli.package_cmds import package_group

    return package_group


def test_cli_expand_and_inspect(tmp_path: Path) -> None:
    runner = CliRunner()
    msu = write(tmp_path / "k.msu", msu_bytes())
    res = runner.invoke(_group(), ["expand", "-q", str(msu), str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "expanded k.msu (msu)" in res.output
    res = runner.invoke(_group(), ["inspect", "--json", str(msu)])
    assert res.exit_code == 0
    assert json.loads(res.output)["msu"]["kb"] == "KB5036893"
    res = runner.invoke(_group(), ["inspect", str(tmp_path / "out")])
    assert res.exit_code == 0 and "cumulative-update" in res.output


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(_group(), ["expand", str(tmp_path / "absent.msu"), str(tmp_path / "o")])
    assert res.exit_code == 3  # a missing file is exit code 3 in every command group
    bogus = write(tmp_path / "b.cab", b"MSCF" + b"\x00" * 10)
    res = runner.invoke(_group(), ["expand", str(bogus), str(tmp_path / "o")])
    assert res.exit_code == 1
    assert res.output.count("\n") == 1 and res.output.startswith("wimcore: error:")
    res = runner.invoke(_group(), ["inspect"])
    assert res.exit_code == 2


def test_benchmark_runs_tiny(tmp_path: Path, cabextract: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    bench_dir = Path(__file__).parents[2] / "benchmarks"
    sys.path.insert(0, str(bench_dir))
    try:
        import cab_expand
    finally:
        sys.path.remove(str(bench_dir))
    assert cab_expand.main(["--size-mb", "0.5", "--rounds", "1", "--workdir", str(tmp_path),
                            "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["ratio"] > 0 and figures["peak_rss_mib"]["wimcore"] > 0
