"""wimlib-imagex syntax through ``wimcore``: the same inputs through both tools, compared
(exit status, files produced, and the text scripts grep)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import imagex, ok, tree, wimcore
from tests.conftest import make_tree


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_tree(tmp_path_factory.mktemp("src") / "tree", files=12, max_size=8000)
    (root / "Windows" / "System32" / "a.dll").write_bytes(b"MZ" + bytes(300))
    (root / "link").symlink_to("/Windows")
    return root


@pytest.fixture(scope="module")
def two(src: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A two-image WIM made by wimlib-imagex, with Windows properties on image 2."""
    wim = tmp_path_factory.mktemp("two") / "two.wim"
    ok(imagex("capture", src, wim, "One", "first image"))
    ok(imagex("append", src, wim, "--flags=Professional", "--image-property",
              "WINDOWS/VERSION/BUILD=19045", "--image-property", "WINDOWS/ARCH=9",
              "--image-property", "WINDOWS/LANGUAGES/LANGUAGE=en-US",
              "--image-property", "WINDOWS/LANGUAGES/DEFAULT=en-US"))
    return wim


READ_ONLY_CASES = [
    ("info",), ("info", "2"), ("info", "One"), ("info", "1", "--header"), ("info", "--blobs"),
    ("dir", "1"), ("dir", "all"), ("dir", "2", "--path=/Windows", "--detailed"),
    ("dir", "1", "--path", "/link", "--detailed", "--one-file-only"),
    ("info", "9"), ("dir",),
]


@pytest.mark.parametrize("args", READ_ONLY_CASES, ids=" ".join)
def test_info_and_dir_print_what_wimlib_imagex_prints(two: Path, args: tuple[str, ...]) -> None:
    verb, rest = args[0], args[1:]
    mine = wimcore(verb, "two.wim", *rest, cwd=two.parent)
    theirs = imagex(verb, "two.wim", *rest, cwd=two.parent)
    assert mine.stdout == theirs.stdout
    assert (mine.returncode == 0) == (theirs.returncode == 0), mine.stderr


def test_info_xml_and_extract_xml_are_the_raw_document(two: Path, tmp_path: Path) -> None:
    mine, theirs = wimcore("info", two, "--xml"), imagex("info", two, "--xml")
    assert ok(mine).stdout == ok(theirs).stdout and mine.stdout.startswith(b"\xff\xfe")
    ok(wimcore("info", two, "--extract-xml", tmp_path / "a.xml"))
    ok(imagex("info", two, "--extract-xml", tmp_path / "b.xml"))
    assert (tmp_path / "a.xml").read_bytes() == (tmp_path / "b.xml").read_bytes()


def test_capture_defaults_name_description_and_overwrite(src: Path, tmp_path: Path) -> None:
    for tool, name in ((wimcore, "a.wim"), (imagex, "b.wim")):
        ok(tool("capture", src, tmp_path / name, "--compress=None"))  # name from the basename
    for name in ("a.wim", "b.wim"):  # NONE is compression type 0: it must not become LZX
        assert "Compression:    None" in ok(imagex("info", tmp_path / name)).stdout.decode()
    for tool, name in ((wimcore, "a.wim"), (imagex, "b.wim")):
        ok(tool("capture", src, tmp_path / name, "Named", "A description", "--comp=XPRESS",
                "-check"))  # existing WIM replaced; prefix and single-dash long options
    a, b = (ok(imagex("info", tmp_path / n)).stdout.decode() for n in ("a.wim", "b.wim"))
    for field in ("Image Count:    1", "Compression:    XPRESS", "Name:                   Named",
                  "Description:            A description", "Integrity info"):
        assert field in a and field in b, field
    assert ok(wimcore("dir", tmp_path / "a.wim")).stdout == ok(imagex("dir", tmp_path /
                                                                      "b.wim")).stdout


def test_append_create_export_positional_name_delete_all(src: Path, tmp_path: Path) -> None:
    for tool, wim, out in ((wimcore, "a.wim", "ea.wim"), (imagex, "b.wim", "eb.wim")):
        ok(tool("append", src, tmp_path / wim, "--create"))      # creates, name "tree"
        ok(tool("append", src, tmp_path / wim, "--nocheck"))     # name "tree (1)"
        ok(tool("export", tmp_path / wim, "tree (1)", tmp_path / out, "New", "Desc",
                "--compress=LZMS"))
    for name in ("a.wim", "b.wim"):
        text = ok(imagex("info", tmp_path / name)).stdout.decode()
        assert "Name:                   tree (1)" in text
    ea, eb = (ok(imagex("info", tmp_path / n, "1")).stdout.decode().splitlines()
              for n in ("ea.wim", "eb.wim"))
    assert [ln for ln in ea if "Time" not in ln] == [ln for ln in eb if "Time" not in ln]
    ok(wimcore("delete", tmp_path / "a.wim", "all"))
    ok(imagex("delete", tmp_path / "b.wim", "all"))
    for name in ("a.wim", "b.wim"):
        assert "Image Count:    0" in ok(imagex("info", tmp_path / name)).stdout.decode()


def test_apply_and_extract_trees_match(two: Path, tmp_path: Path) -> None:
    one = tmp_path / "one.wim"
    ok(imagex("export", two, "1", one))
    ok(wimcore("apply", one, tmp_path / "a"))                    # IMAGE omitted: the only one
    ok(imagex("apply", one, tmp_path / "b"))
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    ok(wimcore("apply", two, "all", tmp_path / "aa"))
    ok(imagex("apply", two, "all", tmp_path / "ab"))
    assert tree(tmp_path / "aa") == tree(tmp_path / "ab")
    listfile = tmp_path / "list.txt"
    listfile.write_bytes("; comment\n/Windows/System32/*.dll\n\\zero.txt\n".encode("utf-16"))
    for tool, dest in ((wimcore, "xa"), (imagex, "xb")):
        ok(tool("extract", two, "1", "/Windows/System32/*.txt", "/zero.txt", "@" + str(listfile),
                f"--dest-dir={tmp_path / dest}"))
    assert tree(tmp_path / "xa") == tree(tmp_path / "xb")
    assert (tmp_path / "xa" / "zero.txt").exists()
    mine = wimcore("extract", two, "1", "/Windows/System32/a.dll", "--to-stdout")
    assert ok(mine).stdout == ok(imagex("extract", two, "1", "/Windows/System32/a.dll",
                                        "--to-stdout")).stdout == b"MZ" + bytes(300)
    assert wimcore("extract", two, "1", "/nope*", "--dest-dir", tmp_path / "n").returncode == 5
    ok(wimcore("extract", two, "1", "/nope*", "--nullglob", "--dest-dir", tmp_path / "n"))


def test_pipable_capture_to_stdout_and_apply_from_stdin(src: Path, tmp_path: Path) -> None:
    stream = ok(wimcore("capture", src, "-", "Piped")).stdout
    assert stream[:8] == b"WLPWM\x00\x00\x00"
    ok(wimcore("apply", "-", "1", tmp_path / "a", stdin=stream))
    ok(imagex("apply", "-", "1", tmp_path / "b", stdin=stream))
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    ok(wimcore("capture", src, tmp_path / "p.wim", "--pipable"))
    assert "Pipable" in ok(imagex("info", tmp_path / "p.wim")).stdout.decode()


def test_update_from_stdin_command_and_utf16_file(two: Path, tmp_path: Path) -> None:
    extra = tmp_path / "My Dir"
    extra.mkdir()
    (extra / "x.inf").write_text("[Version]")
    commands = f'add "{extra}" /Drivers\n# comment\ndelete --recursive /empty\n'
    for tool, name, bom in ((wimcore, "a.wim", b"\xef\xbb\xbf"), (imagex, "b.wim", b"")):
        wim = tmp_path / name  # (wimlib-imagex on Linux takes no BOM; wimcore takes either)
        ok(imagex("export", two, "1", wim))
        ok(tool("update", wim, stdin=bom + commands.encode()))
        ok(tool("update", wim, "1", "--command=rename /zero.txt /renamed.txt"))
    assert ok(imagex("dir", tmp_path / "a.wim")).stdout == ok(imagex("dir", tmp_path /
                                                                     "b.wim")).stdout
    cmdfile = tmp_path / "cmds.txt"
    cmdfile.write_bytes("delete /renamed.txt\r\n".encode("utf-16"))
    ok(wimcore("update", tmp_path / "a.wim", "--commands", cmdfile))
    ok(wimcore("update", tmp_path / "a.wim", "--add", f"{extra}:/More"))
    listing = ok(imagex("dir", tmp_path / "a.wim")).stdout.decode()
    assert "/renamed.txt" not in listing and "/More/x.inf" in listing


def test_info_changes_split_join_optimize_verify(two: Path, tmp_path: Path) -> None:
    wim = tmp_path / "c.wim"
    ok(imagex("export", two, "all", wim, "--compress=none"))
    ok(wimcore("info", wim, "2", "Renamed", "New description", "--boot"))
    text = ok(imagex("info", wim)).stdout.decode()
    assert "Boot Index:     2" in text and "Name:                   Renamed" in text
    again = ok(wimcore("info", wim, "2", "--boot")).stdout.decode()
    assert "Image 2 is already marked as bootable." in again
    opt = ok(wimcore("optimize", wim, "--compress=lzx")).stdout.decode()
    assert f'"{wim}" original size:' in opt and "Space saved:" in opt
    split = ok(wimcore("split", wim, tmp_path / "s.swm", "0.01")).stdout.decode()
    assert f'Finished splitting "{wim}"' in split
    parts = sorted(tmp_path.glob("s*.swm"))
    assert len(parts) > 1
    ok(wimcore("join", tmp_path / "j.wim", *parts))
    ok(imagex("verify", tmp_path / "j.wim"))
    assert "was successfully verified" in ok(wimcore("verify", tmp_path / "j.wim")).stdout.decode()
    data = json.loads(ok(wimcore("verify", tmp_path / "j.wim", "--json")).stdout)
    assert data["ok"] and any("integrity" in w for w in data["warnings"])  # as libwimlib warns


def test_ignore_case_environment(two: Path) -> None:
    import os

    for value, code in ((None, 5), ("0", 5), ("1", 0)):  # wimlib-imagex on UNIX: exact case
        env = {k: v for k, v in os.environ.items() if k != "WIMLIB_IMAGEX_IGNORE_CASE"}
        if value is not None:
            env["WIMLIB_IMAGEX_IGNORE_CASE"] = value
        assert wimcore("dir", two, "1", "--path=/WINDOWS", env=env).returncode == code, value
        assert (imagex("dir", two, "1", "--path=/WINDOWS", env=env).returncode == 0) == (
            code == 0), value


def test_capture_exclusions_match_case_as_wimlib_imagex(tmp_path: Path) -> None:
    import os

    root = tmp_path / "in"
    root.mkdir()
    for name in ("foo", "FOO", "bar"):
        (root / name).write_bytes(name.encode())
    config = tmp_path / "config.txt"
    config.write_text("[ExclusionList]\nfoo\n")
    for value in (None, "1"):
        env = {k: v for k, v in os.environ.items() if k != "WIMLIB_IMAGEX_IGNORE_CASE"}
        if value is not None:
            env["WIMLIB_IMAGEX_IGNORE_CASE"] = value
        listings = []
        for tool, name in ((wimcore, "a.wim"), (imagex, "b.wim")):
            ok(tool("capture", root, tmp_path / name, "--compress=none", f"--config={config}",
                    env=env))
            listings.append(ok(imagex("dir", tmp_path / name, "1")).stdout)
        assert listings[0] == listings[1], value
        assert (b"/FOO" in listings[0]) == (value is None), value


@pytest.mark.parametrize("args", [("mount", "x.wim", "1", "/mnt"), ("unmount", "/mnt"),
                                  ("apply", "two.wim", "1", "d", "--wimboot"),
                                  ("extract", "two.wim", "1", "--compact=lzx"),
                                  ("optimize", "two.wim", "--unsafe-compact")], ids=" ".join)
def test_refused_options_say_why(two: Path, args: tuple[str, ...]) -> None:
    proc = wimcore(*args, cwd=two.parent)
    assert proc.returncode == 1
    line = proc.stderr.decode().strip()
    assert line.startswith("wimcore: error:") and "not supported" in line and "\n" not in line
