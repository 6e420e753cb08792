"""A generated corpus of hostile WIMs: truncations, flipped bytes in every region, hostile
names and hostile XML. Each must give a typed error or a correct result: no crash, no hang,
nothing written outside the destination."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest

import wimcore
from tests.reliability.corpus import run_batch, snapshot
from tests.reliability.wimcraft import patch_metadata, regions, replace_xml


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small raw (uncompressed) WIM with recognisable names, and an XPRESS twin."""
    root = tmp_path_factory.mktemp("honest")
    src = root / "src"
    (src / "sub").mkdir(parents=True)
    (src / "Q7").write_text("secret")
    (src / "sub" / "AB").write_text("x" * 5000)
    (src / "sub" / "AC").write_text("y" * 300)
    (src / "Windows" / "System32").mkdir(parents=True)
    for i in range(5):
        (src / "Windows" / "System32" / f"f{i}.dll").write_bytes(random.Random(i).randbytes(9000))
    wimcore.capture(src, root / "raw.wim", "Honest", compression="none")
    wimcore.capture(src, root / "xpress.wim", "Honest", compression="xpress")
    return root


def _case(cases: list[dict[str, object]], work: Path, case_id: str, path: Path) -> None:
    cases.append({"id": case_id, "kind": "wim", "path": str(path),
                  "dest": str(work / "dest" / case_id), "seconds": 30})


def _check(cases: list[dict[str, object]], work: Path) -> dict[str, str]:
    outside_before = snapshot(work.parent)
    result = run_batch(cases)
    assert result.died_in is None, f"crash or hang in {result.died_in}: {result.stderr}"
    assert result.returncode == 0, result.stderr
    assert len(result.outcomes) == len(cases)
    assert not result.untyped(), result.untyped()
    # Nothing outside each case's destination: only dest/<case>/... appeared.
    new = snapshot(work.parent) - outside_before
    stray = [p for p in new if not p.startswith(f"{work.name}/dest/")
             and not p.startswith(f"{work.name}/dest")]
    assert stray == []
    dest = work / "dest"
    if dest.exists():
        for p in dest.rglob("*"):
            assert dest.resolve() in p.resolve().parents or p.is_symlink()
    return result.outcomes


def test_truncated_at_many_offsets(honest: Path, tmp_path: Path) -> None:
    cases: list[dict[str, object]] = []
    for name in ("raw.wim", "xpress.wim"):
        data = (honest / name).read_bytes()
        bounds = {b for r in regions(honest / "raw.wim").values() for b in r} if name == "raw.wim" \
            else set()
        offsets = sorted({int(len(data) * k / 40) for k in range(40)} | bounds
                         | {b + 1 for b in bounds} | {max(b - 1, 0) for b in bounds})
        for off in offsets:
            if off >= len(data):
                continue
            p = tmp_path / f"{name}.cut{off}"
            p.write_bytes(data[:off])
            _case(cases, tmp_path, p.name, p)
    outcomes = _check(cases, tmp_path)
    assert all(v.startswith("error:") for v in outcomes.values()), outcomes
    print(f"\ntruncated WIMs: {len(cases)} cases, all typed errors")


def test_flipped_bytes_in_every_region(honest: Path, tmp_path: Path) -> None:
    rng = random.Random(2026)
    cases: list[dict[str, object]] = []
    counts: dict[str, int] = {}
    for name in ("raw.wim", "xpress.wim"):
        data = (honest / name).read_bytes()
        for region, (start, end) in regions(honest / name).items():
            picks = min(25, end - start)
            for n in range(picks):
                at = rng.randrange(start, end)
                mutated = bytearray(data)
                mutated[at] ^= rng.choice([0x01, 0x80, 0xFF, rng.randrange(1, 256)])
                p = tmp_path / f"{name}.{region.replace(' ', '_')}.{n}.{at}"
                p.write_bytes(bytes(mutated))
                _case(cases, tmp_path, p.name, p)
                counts[region] = counts.get(region, 0) + 1
    outcomes = _check(cases, tmp_path)
    typed = sum(v.startswith("error:") for v in outcomes.values())
    print(f"\nflipped bytes: {counts}; {typed} typed errors, {len(cases) - typed} read correctly")


HOSTILE_NAMES = [
    ("Q7", "..", "dot-dot file"),
    ("Q7", ". ", "dot-space"),
    ("Q7", "C:", "drive letter"),
    ("Q7", "a/", "slash in name"),
    ("Q7", "a\\", "backslash in name"),
    ("Q7", ".\x00", "NUL in name"),
    ("sub", "../", "dot-dot-slash directory"),
    ("sub", "/..", "absolute dot-dot directory"),
    ("AC", "AB", "duplicate name"),
]


@pytest.mark.parametrize(("old", "new", "label"), HOSTILE_NAMES)
def test_hostile_names_stay_inside_destination(honest: Path, tmp_path: Path, old: str, new: str,
                                                label: str) -> None:
    p = tmp_path / "hostile.wim"
    shutil.copy(honest / "raw.wim", p)
    patch_metadata(p, old, new)
    cases: list[dict[str, object]] = []
    _case(cases, tmp_path, "hostile", p)
    outcome = _check(cases, tmp_path)["hostile"]
    assert outcome == "ok" or outcome.startswith("error:"), (label, outcome)
    dest = tmp_path / "dest" / "hostile"
    if dest.exists():
        for f in dest.rglob("*"):
            assert dest.resolve() in f.resolve().parents, (label, f)
            assert f.name not in {"..", "."}


def test_long_paths_are_legitimately_odd(tmp_path: Path) -> None:
    src = tmp_path / "src"
    deep = src
    for i in range(30):
        deep = deep / (f"d{i:02d}" + "x" * 100)  # ~3 KB of path: odd but legal
    deep.mkdir(parents=True)
    (deep / "leaf.txt").write_text("leaf")
    wimcore.capture(src, tmp_path / "deep.wim", "Deep", compression="none")
    with wimcore.open(tmp_path / "deep.wim") as wim:
        entries = list(wim.images[1].walk())
        leaf = next(e for e in entries if e.name == "leaf.txt")
        assert len(leaf.path) > 3000
        assert wim.images[1].read_bytes(leaf.path) == b"leaf"


XML_CASES = {
    "billion laughs": '<?xml version="1.0"?><!DOCTYPE WIM [<!ENTITY a "aaaaaaaaaa">'
                      '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
                      '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
                      '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
                      '<WIM><TOTALBYTES>0</TOTALBYTES><IMAGE INDEX="1"><NAME>&d;&d;&d;</NAME>'
                      "</IMAGE></WIM>",
    "external entity": '<?xml version="1.0"?><!DOCTYPE WIM [<!ENTITY x SYSTEM '
                       '"file:///etc/passwd">]>'
                       '<WIM><IMAGE INDEX="1"><NAME>&x;</NAME></IMAGE></WIM>',
    "deep nesting": "<WIM><IMAGE INDEX=\"1\"><NAME>n</NAME>" + "<X>" * 5000 + "</X>" * 5000
                    + "</IMAGE></WIM>",
    "malformed": "<WIM><IMAGE INDEX=\"1\"><NAME>unclosed</IMAGE>",
    "wrong image count": "<WIM><IMAGE INDEX=\"1\"><NAME>a</NAME></IMAGE>"
                         "<IMAGE INDEX=\"2\"><NAME>b</NAME></IMAGE></WIM>",
    "huge": "<WIM><IMAGE INDEX=\"1\"><NAME>" + "n" * 3_000_000 + "</NAME></IMAGE></WIM>",
    "bad index": "<WIM><IMAGE INDEX=\"999999999999\"><NAME>a</NAME></IMAGE></WIM>",
    "not xml": "\x00\x01garbage",
}


@pytest.mark.parametrize("label", sorted(XML_CASES))
def test_hostile_wim_xml(honest: Path, tmp_path: Path, label: str) -> None:
    p = tmp_path / "xml.wim"
    shutil.copy(honest / "raw.wim", p)
    replace_xml(p, XML_CASES[label])
    cases: list[dict[str, object]] = []
    _case(cases, tmp_path, "xml", p)
    outcome = _check(cases, tmp_path)["xml"]
    assert outcome == "ok" or outcome.startswith("error:"), (label, outcome)
    if label in {"billion laughs", "external entity"} and outcome == "ok":
        with wimcore.open(p) as wim:
            name = wim.images[1].name
            assert "root:" not in name and len(name) < 10_000


def _libwim_parses_with_libxml2() -> bool:
    """libwimlib before 1.14 parses XML with libxml2 (1.14 has its own parser)."""
    major, minor = (int(x) for x in wimcore.libwimlib_version().split(".")[:2])
    return (major, minor) < (1, 14)


@pytest.mark.parametrize("label", ["malformed", "deep nesting", "billion laughs", "not xml"])
def test_hostile_xml_is_one_error_line_on_the_command_line(honest: Path, tmp_path: Path,
                                                           label: str) -> None:
    """libxml2 (libwimlib 1.13's XML parser) prints parser errors to stderr; wimcore keeps
    them and puts them in its one error line instead."""
    import subprocess
    import sys

    p = tmp_path / "xml.wim"
    shutil.copy(honest / "raw.wim", p)
    replace_xml(p, XML_CASES[label])
    exe = Path(sys.executable).with_name("wimcore")
    for argv in (["info", str(p)], ["dism", "/Get-ImageInfo", f"/ImageFile:{p}", "/Index:1"]):
        proc = subprocess.run([str(exe), *argv], capture_output=True, check=False)
        if proc.returncode == 0:
            # Only a libwimlib with its own XML parser (1.14+) may accept one of these; then
            # the command says nothing on stderr and shows no expanded entity.
            assert not _libwim_parses_with_libxml2(), (
                f"libwimlib {wimcore.libwimlib_version()} refuses {label!r} XML, but "
                f"wimcore {argv[0]} exited 0: {proc.stdout[:300]!r}")
            assert proc.stderr == b"" and proc.stdout.strip(), (label, proc.stderr)
            assert b"aaaaaaaaaa" not in proc.stdout, label
            continue
        lines = proc.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("wimcore: error:"), (label, lines)
        if _libwim_parses_with_libxml2() and label != "not xml":
            assert "libxml2:" in lines[0], lines


def test_dism_image_info_survives_nonsense_numbers(honest: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    p = tmp_path / "xml.wim"
    shutil.copy(honest / "raw.wim", p)
    replace_xml(p, '<WIM><TOTALBYTES>1</TOTALBYTES><IMAGE INDEX="1"><NAME>N</NAME>'
                   "<TOTALBYTES>nope</TOTALBYTES><DIRCOUNT>-3</DIRCOUNT><WINDOWS>"
                   "<ARCH>abc</ARCH><VERSION><BUILD>x</BUILD></VERSION></WINDOWS>"
                   "</IMAGE></WIM>")
    exe = Path(sys.executable).with_name("wimcore")
    proc = subprocess.run([str(exe), "dism", "/Get-ImageInfo", f"/ImageFile:{p}", "/Index:1"],
                          capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert b"Name : N" in proc.stdout


HEADER_CLAIMS = {
    "1.8 billion images": (44, "<I", 1_821_179_905),
    "70000 images": (44, "<I", 70_000),
    "16 GiB XML": (72 + 16, "<Q", 1 << 34),
    "1 TiB blob table": (48 + 16, "<Q", 1 << 40),
}


@pytest.mark.parametrize("label", sorted(HEADER_CLAIMS))
def test_header_claims_no_real_wim_has(honest: Path, tmp_path: Path, label: str) -> None:
    """Found by fuzzing: libwimlib allocated ~14 GB for a 400-byte file claiming 1.8e9 images."""
    import struct
    import subprocess
    import sys

    offset, fmt, value = HEADER_CLAIMS[label]
    data = bytearray((honest / "raw.wim").read_bytes())
    struct.pack_into(fmt, data, offset, value)
    p = tmp_path / "claims.wim"
    p.write_bytes(bytes(data))
    code = ("import resource, sys, wimcore\n"
            "try:\n"
            "    wimcore.open(sys.argv[1]).close()\n"
            "except wimcore.InvalidWimError as e:\n"
            "    print('INVALID', e.name)\n"
            # VmHWM: this process's own peak (ru_maxrss also counts the parent's peak at
            # fork, which is large once the test process has loaded Dask).
            "status = open('/proc/self/status').read().split('VmHWM:')\n"
            "peak = int(status[1].split()[0]) if len(status) > 1 else \\\n"
            "    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
            "print('RSS', peak)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert "INVALID WIMLIB_ERR_INVALID_HEADER" in proc.stdout, (proc.stdout, proc.stderr)
    rss_kib = int(proc.stdout.split("RSS")[1])
    assert rss_kib < 200 * 1024, f"{rss_kib} KiB: the header check must stop it before libwimlib"
