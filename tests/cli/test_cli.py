"""The wimcore command line, driven as an installed script and through click's runner."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import wimcore
from tests.conftest import imagex, make_tree, sha256
from wimcore.cli.app import cli

SCRIPT = Path(sys.executable).with_name("wimcore")


def run(*args: str | os.PathLike[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed console script."""
    exe = str(SCRIPT) if SCRIPT.exists() else shutil.which("wimcore")
    if exe is None:
        pytest.skip("the wimcore console script is not installed")
    proc = subprocess.run([exe, *map(str, args)], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise AssertionError(f"wimcore {args} exited {proc.returncode}: {proc.stderr}")
    return proc


@pytest.fixture
def wim2(make_wim: Callable[..., Path]) -> Path:
    return make_wim(images=2)


def test_version() -> None:
    out = run("--version").stdout
    assert re.search(r"wimcore \d+\.\d+", out) and re.search(r"libwimlib 1\.\d+", out)


def test_info_json_matches_wimlib_imagex(wim2: Path) -> None:
    data = json.loads(run("info", wim2, "--json").stdout)
    assert data["header"]["image_count"] == 2
    assert [i["name"] for i in data["images"]] == ["Image 1", "Image 2"]
    text = imagex("info", wim2)
    assert f"Image Count:    {data['header']['image_count']}" in text
    for image in data["images"]:
        assert f"Total Bytes:            {image['total_bytes']}" in text
        assert f"File Count:             {image['file_count']}" in text
    one = json.loads(run("info", wim2, "Image 2", "--json").stdout)
    assert [i["index"] for i in one["images"]] == [2]
    human = run("info", wim2).stdout
    assert "Image 1" in human and "Boot index:  0" in human
    assert run("info", wim2, "--xml").stdout.lstrip().startswith("<WIM>")


def test_dir_json_matches_wimlib_imagex(wim2: Path) -> None:
    entries = json.loads(run("dir", wim2, "1", "--json").stdout)
    listed = {line.strip() for line in imagex("dir", wim2, "1").splitlines() if line.strip()}
    assert {e["path"] for e in entries} == listed
    assert all({"path", "size", "sha1", "is_dir", "attributes"} <= set(e) for e in entries)
    detailed = run("dir", wim2, "1", "/Windows", "--detailed").stdout
    assert "/Windows/System32" in detailed


def test_capture_append_export_extract_apply(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    wim = tmp_path / "c.wim"
    out = json.loads(run("capture", src, wim, "First", "--compress", "xpress", "--json").stdout)
    assert out["ok"] and out["size"] == wim.stat().st_size
    run("append", src, wim, "Second", "--description", "again")
    assert "Image Count:    2" in imagex("info", wim)
    run("export", wim, "all", tmp_path / "e.esd", "--compress", "lzms", "--solid")
    run("export", wim, "Second", tmp_path / "one.wim", "--name", "Renamed")
    with wimcore.open(tmp_path / "one.wim") as w:
        assert w.images.names() == ["Renamed"]
    run("extract", tmp_path / "e.esd", "2", "/Windows/System32", "--dest", tmp_path / "x")
    assert (tmp_path / "x" / "Windows" / "System32").is_dir()
    run("apply", wim, "1", tmp_path / "applied")
    assert sorted(p.name for p in (tmp_path / "applied").iterdir()) == sorted(
        p.name for p in src.iterdir())


def test_update_set_delete(tmp_path: Path, wim2: Path) -> None:
    extra = tmp_path / "drivers"
    extra.mkdir()
    (extra / "x.inf").write_text("[Version]")
    cmds = tmp_path / "cmds.txt"
    cmds.write_text("rename /zero.txt /renamed.txt\n")
    run("update", wim2, "1", "--add", f"{extra}:/Drivers", "--delete", "/empty", "--recursive",
        "--commands", cmds)
    with wimcore.open(wim2) as w:
        image = w.images[1]
        assert image.exists("/Drivers/x.inf") and not image.exists("/empty")
        assert image.exists("/renamed.txt")
    data = json.loads(run("set", wim2, "2", "--name", "Windows 11 Pro", "--flags",
                          "Professional", "--property", "WINDOWS/VERSION/BUILD=26100",
                          "--boot", "--json").stdout)
    assert data["image"]["name"] == "Windows 11 Pro" and data["image"]["boot"]
    assert "Boot Index:     2" in imagex("info", wim2)
    run("delete", wim2, "1")
    assert "Image Count:    1" in imagex("info", wim2)
    imagex("verify", wim2)


def test_split_join_verify_optimize(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", files=30, max_size=200_000)
    wim = tmp_path / "s.wim"
    run("capture", src, wim, "S", "--compress", "none")
    (tmp_path / "parts").mkdir()
    parts = json.loads(run("split", wim, tmp_path / "parts" / "s.swm", "0.4", "--json").stdout)
    assert len(parts["parts"]) > 1
    run("info", parts["parts"][0], "--ref", str(tmp_path / "parts" / "s*.swm"))
    run("join", tmp_path / "j.wim", *parts["parts"])
    assert json.loads(run("verify", tmp_path / "j.wim", "--json").stdout)["ok"]
    opt = json.loads(run("optimize", tmp_path / "j.wim", "--compress", "lzx", "--json").stdout)
    assert opt["size_after"] < opt["size_before"]


def test_errors_are_one_line_with_distinct_exit_codes(tmp_path: Path, wim2: Path) -> None:
    junk = tmp_path / "junk.wim"
    junk.write_bytes(b"not a wim" * 100)
    cases = [
        (("info", tmp_path / "absent.wim"), 3),
        (("info", junk), 4),
        (("info", wim2, "9"), 5),
        (("dir", wim2, "1", "/nope"), 5),
        (("export", wim2, "1", wim2), 1),  # exporting into itself: the name is taken
        (("capture", tmp_path, wim2, "X"), 6),
        (("export", wim2, "1", tmp_path / "x.wim", "--compress", "zstd"), 2),
        (("bogus-command",), 2),
    ]
    for args, code in cases:
        proc = run(*args, check=False)
        assert proc.returncode == code, (args, proc.returncode, proc.stderr)
        if code != 2:
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            assert len(lines) == 1 and lines[0].startswith("wimcore: error:"), proc.stderr
            assert "Traceback" not in proc.stderr
    debug = run("--debug", "info", junk, check=False)
    assert "Traceback" in debug.stderr


def test_plain_progress_lines_when_not_a_terminal(tmp_path: Path, wim2: Path) -> None:
    proc = run("export", wim2, "1", tmp_path / "p.wim", "--compress", "lzms", "--recompress")
    assert re.search(r"export: writing +\d+\.\d% .* ETA", proc.stderr)
    quiet = run("--quiet", "export", wim2, "2", tmp_path / "q.wim")
    assert quiet.stderr == ""


def test_click_runner_json_schema(wim2: Path) -> None:
    result = CliRunner().invoke(cli, ["info", str(wim2), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) == {"path", "header", "images"}
    assert {"guid", "image_count", "boot_index", "compression", "chunk_size"} <= set(data["header"])
    assert {"index", "name", "arch", "version", "languages", "total_bytes", "file_count",
            "boot"} <= set(data["images"][0])


def test_sigint_cancels_export_and_keeps_input(tmp_path: Path) -> None:
    src = tmp_path / "big"
    src.mkdir()
    rng = random.Random(5)
    for i in range(8):
        # Base64 of random bytes: quick to make, slow enough to recompress with LZMS.
        (src / f"f{i}.txt").write_bytes(base64.b64encode(rng.randbytes(3_000_000)))
    wim = tmp_path / "big.wim"
    wimcore.capture(src, wim, "Big", compression="none")
    before = sha256(wim)
    dest = tmp_path / "out.wim"
    exe = str(SCRIPT) if SCRIPT.exists() else shutil.which("wimcore")
    assert exe
    proc = subprocess.Popen([exe, "export", str(wim), "1", str(dest), "--compress", "lzms",
                             "--threads", "1"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    line = proc.stderr.readline()  # the first progress line: the write has started
    assert "export:" in line, line
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    code = proc.wait(timeout=120)
    assert code == 130, (code, rest)
    assert "cancelled" in rest
    assert sha256(wim) == before
    assert not dest.exists()
    assert [p for p in tmp_path.iterdir() if ".wimcore-tmp" in p.name] == []
