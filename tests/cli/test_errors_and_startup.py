"""The one error handler (one line, documented exit codes in every group, no traceback), the
lazy start (``wimcore info`` imports no servicing layer), and DISM syntax."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
from pathlib import Path

import pytest

import wimcore
from tests.cli.conftest import imagex, ok, tree, wimcore_exe
from tests.cli.conftest import wimcore as run_wimcore
from tests.conftest import make_tree
from wimcore.cli.dism import parse_args
from wimcore.cli.errors import describe


@pytest.fixture(scope="module")
def wim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("w")
    path = root / "w.wim"
    wimcore.capture(make_tree(root / "src", files=10), path, "Image 1")
    return path


def _one_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    lines = [ln for ln in proc.stderr.decode().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("wimcore: error:"), proc.stderr
    assert b"Traceback" not in proc.stderr
    return lines[0]


def test_exit_codes_are_the_documented_ones_in_every_group(wim: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wim"
    junk.write_bytes(b"not a wim" * 100)
    cases = [
        (("info", tmp_path / "absent.wim"), 3),
        (("package", "inspect", tmp_path / "absent.msu"), 3),
        (("package", "expand", tmp_path / "absent.msu", tmp_path / "o"), 3),
        (("dism", "/Get-ImageInfo", f"/ImageFile:{tmp_path / 'absent.wim'}"), 3),
        (("info", junk), 4),
        (("info", wim, "9"), 5),
        (("dir", wim, "1", "--path=/nope"), 5),
        (("export", wim, "1", tmp_path / "x.wim", "--compress=zstd"), 2),
        (("capture", "--bogus-option"), 2),
        (("bogus-command",), 2),
    ]
    for args, code in cases:
        proc = run_wimcore(*args)
        assert proc.returncode == code, (args, proc.returncode, proc.stderr)
        line = _one_line(proc)
        assert "--overwrite" not in line
    detail = _one_line(run_wimcore("apply", tmp_path / "absent.wim", "1", tmp_path / "d"))
    assert "absent.wim" in detail


def test_debug_and_quiet_after_the_command(wim: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wim"
    junk.write_bytes(b"junk" * 100)
    assert b"Traceback" in run_wimcore("info", junk, "--debug").stderr
    proc = ok(run_wimcore("export", wim, "1", tmp_path / "q.wim", "-q"))
    assert proc.stderr == b"" and proc.stdout == b""


def test_libwimlib_detail_is_on_the_one_line(tmp_path: Path) -> None:
    (tmp_path / "dir.wim").mkdir()
    line = _one_line(run_wimcore("capture", tmp_path / "nope", tmp_path / "n.wim"))
    assert "nope" in line


def test_split_part_without_ref_says_so(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src", files=30, max_size=200_000)
    big = tmp_path / "big.wim"
    wimcore.capture(src, big, "Big", compression="none")
    ok(run_wimcore("split", big, tmp_path / "p.swm", "0.3"))
    proc = run_wimcore("apply", tmp_path / "p.swm", "1", tmp_path / "out")
    line = _one_line(proc)
    assert "part 1 of a split WIM" in line and "--ref" in line and "damaged" not in line
    assert not (tmp_path / "out").exists()
    ok(run_wimcore("apply", tmp_path / "p.swm", "1", tmp_path / "out",
                   f"--ref={tmp_path / 'p*.swm'}"))


def test_no_space_left_and_destination_messages() -> None:
    message, code = describe(OSError(errno.ENOSPC, "No space left on device", "/x/y.wim"))
    assert message.startswith("no space left on device") and code == 1
    message, code = describe(wimcore.DestinationExistsError("/x/out.wim"))
    assert "--overwrite" not in message and code == 6


def test_closed_pipe_ends_quietly(wim: Path) -> None:
    proc = subprocess.run(f"'{wimcore_exe()}' dir '{wim}' 1 | head -n 1", shell=True,
                          capture_output=True, check=False)
    assert proc.stdout.strip() == b"/" and proc.stderr == b""


def test_info_imports_no_servicing_media_rich_or_lxml(wim: Path) -> None:
    code = ("import sys; from wimcore.cli.app import main\n"
            f"sys.argv = ['wimcore', 'info', {str(wim)!r}]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('rich', 'lxml', 'click', 'dask') or m.startswith(('wimcore.packages', "
            "'wimcore.media', 'wimcore.servicing', 'wimcore.fleet')))\n"
            "print('IMPORTED', bad, file=sys.stderr)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert "IMPORTED []" in proc.stderr, proc.stderr
    assert "Image Count:    1" in proc.stdout


def test_warnings_reach_stderr_and_json(tmp_path: Path) -> None:
    from tests.reliability.wimcraft import patch_metadata

    src = tmp_path / "src"
    src.mkdir()
    (src / "AB").write_text("x" * 50)
    (src / "AC").write_text("y" * 30)
    hostile = tmp_path / "h.wim"
    wimcore.capture(src, hostile, "H", compression="none")
    patch_metadata(hostile, "AC", "AB")  # two files now share one name
    theirs = imagex("apply", hostile, tmp_path / "b")
    proc = run_wimcore("apply", hostile, tmp_path / "a", "--json")
    assert proc.returncode == theirs.returncode == 0
    assert b"wimcore: warning:" in proc.stderr
    assert json.loads(proc.stdout)["warnings"]
    assert tree(tmp_path / "a") == tree(tmp_path / "b")


@pytest.mark.parametrize(("argv", "verb", "opts"), [
    (["/Get-ImageInfo", "/ImageFile:C:\\x.wim", "/Index:1"], "get-imageinfo",
     {"imagefile": ["C:\\x.wim"], "index": ["1"]}),
    (["/export-image", '/SOURCEIMAGEFILE:"my file.wim"', "/sourcename:Pro", "/Bootable"],
     "export-image", {"sourceimagefile": ["my file.wim"], "sourcename": ["Pro"],
                      "bootable": [""]}),
])
def test_dism_parsing_quotes_and_case(argv: list[str], verb: str,
                                      opts: dict[str, list[str]]) -> None:
    parsed = parse_args(argv)
    assert parsed.verb == verb and parsed.options == opts


def test_dism_verbs_on_a_real_wim(wim: Path, tmp_path: Path) -> None:
    info = ok(run_wimcore("dism", "/Get-ImageInfo", f"/ImageFile:{wim}")).stdout.decode()
    assert f"Details for image : {wim}" in info and "Index : 1" in info
    total = wimcore.open(wim).images[1].info.total_bytes
    assert f"Size : {total:,} bytes" in info
    esd = tmp_path / "x.esd"
    ok(run_wimcore("dism", "/Export-Image", f"/SourceImageFile:{wim}", "/SourceIndex:1",
                   f"/DestinationImageFile:{esd}", "/Compress:recovery", "/DestinationName:R"))
    with wimcore.open(esd) as w:
        assert w.is_solid and w.images.names() == ["R"]
    ok(run_wimcore("dism", "/Apply-Image", f"/ImageFile:{esd}", "/Name:R",
                   f"/ApplyDir:{tmp_path / 'a'}"))
    ok(imagex("apply", wim, "1", tmp_path / "b"))
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    cap = tmp_path / "c.wim"
    ok(run_wimcore("dism", "/Capture-Image", f"/ImageFile:{cap}",
                   f"/CaptureDir:{tmp_path / 'a'}", "/Name:First", "/Compress:fast"))
    ok(run_wimcore("dism", "/Append-Image", f"/ImageFile:{cap}",
                   f"/CaptureDir:{tmp_path / 'a'}", "/Name:Second", "/CheckIntegrity"))
    ok(run_wimcore("dism", "/Delete-Image", f"/ImageFile:{cap}", "/Index:1"))
    assert "Name:                   Second" in ok(imagex("info", cap)).stdout.decode()
    proc = run_wimcore("dism", "/Mount-Image", f"/ImageFile:{cap}", "/Index:1", "/MountDir:m")
    assert proc.returncode == 1 and "nearest: wimcore update" in _one_line(proc)


def test_dism_global_options_from_windows_scripts(wim: Path, tmp_path: Path) -> None:
    log, scratch = tmp_path / "dism.log", tmp_path / "scratch"
    scratch.mkdir()
    dest = tmp_path / "e.wim"
    proc = ok(run_wimcore("dism", "/English", "/Export-Image", f"/SourceImageFile:{wim}",
                          "/SourceIndex:1", f"/DestinationImageFile:{dest}", "/Quiet",
                          "/NoRestart", f"/LogPath:{log}", "/LogLevel:4",
                          f"/ScratchDir:{scratch}"))
    assert proc.stdout == b"" and dest.exists()  # /Quiet: errors only
    bad = run_wimcore("dism", "/Get-WimInfo", f"/WimFile:{tmp_path / 'absent.wim'}",
                      f"/LogPath:{log}")
    assert bad.returncode == 3
    lines = log.read_text().splitlines()
    assert "/Export-Image" in lines[0] and "completed successfully" in lines[1]
    assert "Error" in lines[3] and "absent.wim" in lines[3]
    for argv, code in ((["/LogLevel:9"], 2), ([f"/ScratchDir:{tmp_path / 'no'}"], 3),
                       (["/WinDir:Windows"], 1)):
        proc = run_wimcore("dism", "/Get-WimInfo", f"/WimFile:{wim}", *argv)
        assert proc.returncode == code and _one_line(proc).startswith("wimcore: error:"), argv
