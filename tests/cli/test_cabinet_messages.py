"""libmspack's messages on damaged cabinets reach the command line as wimcore's own lines
(``wimcore: warning:`` / the error's detail) and ``--json`` warnings, never raw."""

from __future__ import annotations

import json
import struct
from pathlib import Path

from tests.cli.conftest import ok
from tests.cli.conftest import wimcore as run_wimcore
from tests.packages.pkgfactory import make_cab

RAW = (b"WARNING;", b"ERROR;")  # how libmspack's own lines begin


def test_cabinet_warning_is_a_wimcore_warning_line_and_in_json(tmp_path: Path) -> None:
    data = bytearray(make_cab({"a.txt": b"alpha " * 400}))
    data[24:26] = b"\x05\x07"  # header version 7.5: libmspack reads it, and says so
    cab = tmp_path / "odd.cab"
    cab.write_bytes(data)
    expected = f"{cab}: libmspack: cabinet version is not 1.3"

    proc = ok(run_wimcore("package", "expand", cab, tmp_path / "out", "--json"))
    assert not any(raw in proc.stderr for raw in RAW), proc.stderr
    assert proc.stderr.decode().splitlines() == [f"wimcore: warning: {expected}"]
    assert json.loads(proc.stdout)["warnings"] == [expected]
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha " * 400

    # inspect opens the cabinet twice: the same warning is printed once; a cabinet without
    # update.mum is not an update, and inspect fails on it as plan does
    proc = run_wimcore("package", "inspect", cab, "--json")
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    assert lines[0] == f"wimcore: warning: {expected}" and len(lines) == 2
    assert lines[1].startswith(f"wimcore: error: {cab}: not an update")
    assert json.loads(proc.stdout)["warnings"] == [expected]
    assert json.loads(proc.stdout)["class"] == "not-an-update"


def test_cabinet_error_line_carries_libmspacks_words(tmp_path: Path) -> None:
    data = bytearray(make_cab({"a.txt": b"small", "b.txt": b"also small"}))
    first_file = struct.unpack_from("<I", data, 16)[0]  # coffFiles
    struct.pack_into("<I", data, first_file, 1 << 30)  # a.txt claims 1 GiB
    cab = tmp_path / "big.cab"
    cab.write_bytes(data)

    proc = run_wimcore("package", "expand", cab, tmp_path / "out", "--json")
    assert proc.returncode == 1
    assert not any(raw in proc.stderr for raw in RAW), proc.stderr
    assert b"Traceback" not in proc.stderr
    (line,) = proc.stderr.decode().splitlines()
    assert line.startswith(f"wimcore: error: {cab}: a.txt: extracting: ")
    assert line.endswith('; libmspack: file "a.txt" cannot be extracted, cabinet set is '
                         "incomplete")
    assert proc.stdout == b""
    assert not (tmp_path / "out").exists()
