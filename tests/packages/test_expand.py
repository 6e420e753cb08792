"""expand(): MSU, package CAB, nested CABs, WIM containers, express payloads, cleanup."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from pkgfactory import (
    make_cab,
    msu_bytes,
    package_cab,
    tree,
    update_mum,
    write,
)

import wimcore
from wimcore.errors import Cancelled, DestinationExistsError, UnsafePathError
from wimcore.packages.cab import Cabinet
from wimcore.packages.errors import PackageError, PsfIndexError
from wimcore.packages.expand import expand


def _oracle(cab: Path, dest: Path) -> dict[str, bytes]:
    subprocess.run(["cabextract", "-q", "-d", str(dest), str(cab)], check=True,
                   capture_output=True)
    return tree(dest)


def test_msu_layout_metadata_and_cabextract(tmp_path: Path, cabextract: str) -> None:
    msu = write(tmp_path / "windows11.0-kb5036893-x64.msu", msu_bytes(ssu=True))
    dest = tmp_path / "out"
    result = expand(msu, dest)
    assert result.format == "msu"
    assert result.kept == ["WSUSSCAN.cab"] and (dest / "WSUSSCAN.cab").is_file()
    assert {p.path.name for p in result.packages} == {"Windows11.0-KB5036893-x64",
                                                      "SSU-26100.3470-x64"}
    assert result.msu is not None and result.msu.kb == "KB5036893"
    assert result.msu.properties["Processor Architecture"] == "amd64"
    assert result.msu.packages[0].identity["name"] == "Package_for_RollupFix"
    # Cross-check each level with cabextract: outer members, then the inner package CAB.
    outer = _oracle(msu, tmp_path / "o1")
    ours = tree(dest)
    for name, data in outer.items():
        if name.endswith(".cab") and name != "WSUSSCAN.cab":
            inner_cab = write(tmp_path / "inner" / name, data)
            inner = _oracle(inner_cab, tmp_path / "o2" / Path(name).stem)
            for rel, blob in inner.items():
                assert ours[f"{Path(name).stem}/{rel}"] == blob
        else:
            assert ours[name] == data
    assert result.files == len(ours)


def test_nested_cab_expanded(tmp_path: Path) -> None:
    cab = write(tmp_path / "pkg.cab", package_cab(with_nested=True))
    result = expand(cab, tmp_path / "out")
    assert (tmp_path / "out" / "Nested" / "inner" / "inner" / "deep.txt").read_bytes() == \
        b"deep file\n" * 10
    assert not (tmp_path / "out" / "Nested" / "inner.cab").exists()
    assert result.format == "cab" and result.packages[0].path == tmp_path / "out"


def test_destination_must_be_empty(tmp_path: Path) -> None:
    cab = write(tmp_path / "pkg.cab", package_cab())
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(DestinationExistsError):
        expand(cab, tmp_path / "full")
    (tmp_path / "empty").mkdir()
    expand(cab, tmp_path / "empty")
    assert (tmp_path / "empty" / "update.mum").is_file()


def test_not_a_package(tmp_path: Path) -> None:
    bogus = write(tmp_path / "x.msu", b"PK\x03\x04 not a cabinet")
    with pytest.raises(PackageError):
        expand(bogus, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cancel_removes_partial_output(tmp_path: Path) -> None:
    msu = write(tmp_path / "x.msu", msu_bytes())
    calls = []

    def stop_late(event: wimcore.ProgressEvent) -> bool:
        calls.append(event)
        return len(calls) < 6

    with pytest.raises(Cancelled):
        expand(msu, tmp_path / "out", progress=stop_late)
    assert not (tmp_path / "out").exists()
    (tmp_path / "kept").mkdir()

    def raise_cancel(event: wimcore.ProgressEvent) -> None:
        raise Cancelled("user said stop")

    with pytest.raises(Cancelled):
        expand(msu, tmp_path / "kept", progress=raise_cancel)
    assert (tmp_path / "kept").is_dir() and not list((tmp_path / "kept").iterdir())


def test_hostile_inner_cab_fails_cleanly(tmp_path: Path) -> None:
    bad_inner = make_cab({"update.mum": b"<x/>", "..\\..\\escape.txt": b"evil"})
    msu = write(tmp_path / "x.msu", msu_bytes(inner=bad_inner))
    with pytest.raises(UnsafePathError):
        expand(msu, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.rglob("escape.txt"))


def _express_msu(tmp_path: Path, spans: list[tuple[str, str, bytes]]) -> Path:
    psf = b""
    files = ""
    for name, kind, data in spans:
        digest = hashlib.sha256(data).hexdigest().upper()
        files += (f'<File id="{len(files)}" name="{name}" length="{len(data)}" '
                  f'time="133600000000000000"><Hash alg="SHA256" value="{digest}"/>'
                  f'<Delta><Source type="{kind}" offset="{len(psf)}" '
                  f'length="{len(data)}"><Hash alg="SHA256" value="{digest}"/></Source>'
                  '</Delta></File>')
        psf += data
    cix = (f'<?xml version="1.0" encoding="utf-8"?><Container name="x" type="PSF">'
           f'<Files>{files}</Files></Container>').encode()
    inner = make_cab({"update.mum": update_mum(name="Package_for_RollupFix",
                                               version="26100.1.1.1", kb="KB5099999"),
                      "express.psf.cix.xml": cix})
    stem = "Windows11.0-KB5099999-x64"
    return write(tmp_path / f"{stem}.msu",
                 msu_bytes("KB5099999", inner=inner, extra={f"{stem}.psf": psf}))


def test_express_raw_spans_copied(tmp_path: Path) -> None:
    msu = _express_msu(tmp_path, [("amd64_x\\f\\a.txt", "RAW", b"alpha" * 30),
                                  ("amd64_x\\b.bin", "RAW", bytes(range(256)))])
    result = expand(msu, tmp_path / "out")
    folder = tmp_path / "out" / "Windows11.0-KB5099999-x64"
    assert (folder / "amd64_x" / "f" / "a.txt").read_bytes() == b"alpha" * 30
    assert (folder / "amd64_x" / "b.bin").read_bytes() == bytes(range(256))
    assert result.packages[0].express
    assert {k: v.count for k, v in result.psf[0].kinds.items()} == {"RAW": 2}
    assert not (tmp_path / "out" / "Windows11.0-KB5099999-x64.psf").exists()


def test_express_index_without_hashes_refused(tmp_path: Path) -> None:
    cix = (b'<Container type="PSF"><Files><File id="1" name="a.txt" length="3"><Delta>'
           b'<Source type="RAW" offset="0" length="3"/></Delta></File></Files></Container>')
    inner = make_cab({"update.mum": update_mum(name="Package_for_RollupFix",
                                               version="26100.1.1.1", kb="KB5099999"),
                      "express.psf.cix.xml": cix})
    stem = "Windows11.0-KB5099999-x64"
    msu = write(tmp_path / f"{stem}.msu",
                msu_bytes("KB5099999", inner=inner, extra={f"{stem}.psf": b"abc"}))
    with pytest.raises(PsfIndexError, match="no SHA-256"):
        expand(msu, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_express_hostile_span_name(tmp_path: Path) -> None:
    msu = _express_msu(tmp_path, [("..\\..\\evil.txt", "RAW", b"evil")])
    with pytest.raises(UnsafePathError):
        expand(msu, tmp_path / "out")
    assert not list(tmp_path.rglob("evil.txt"))


def _wim_of(tmp_path: Path, files: dict[str, bytes]) -> Path:
    if shutil.which("wimlib-imagex") is None:
        pytest.skip("wimlib-imagex is not installed (apt-get install wimtools)")
    src = tmp_path / "wimsrc"
    for name, data in files.items():
        write(src / name, data)
    wim = tmp_path / "container.wim"
    subprocess.run(["wimlib-imagex", "capture", str(src), str(wim), "--compress=none"],
                   check=True, capture_output=True)
    return wim


def test_wim_container_msu(tmp_path: Path) -> None:
    mum = update_mum(name="Package_for_RollupFix", version="26100.2.1.1", kb="KB5098888")
    wim = _wim_of(tmp_path, {"update.mum": mum, "amd64_y/payload.txt": b"payload"})
    stem = "Windows11.0-KB5098888-x64"
    msu = write(tmp_path / f"{stem}.msu", msu_bytes(
        "KB5098888", inner=b"", extra={f"{stem}.wim": wim.read_bytes()}))
    # the factory always adds the .cab member; drop it by rebuilding without it
    with Cabinet(msu) as c:
        members = {m.name: c.read(m, tmp_path) for m in c if not m.name.endswith(f"{stem}.cab")}
    msu = write(msu, make_cab(members))
    result = expand(msu, tmp_path / "out")
    folder = tmp_path / "out" / stem
    assert (folder / "update.mum").read_bytes() == mum
    assert (folder / "amd64_y" / "payload.txt").read_bytes() == b"payload"
    assert [(p.format, p.path) for p in result.packages] == [("wim", folder)]
    assert not (tmp_path / "out" / f"{stem}.wim").exists()
