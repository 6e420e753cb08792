"""Member names: decoding, normalisation and refusal of anything that could escape."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wimcore.errors import UnsafePathError
from wimcore.packages.safenames import decode_name, safe_relpath, target_path


def test_decode_utf8_flag_and_cp437() -> None:
    assert decode_name("é.txt".encode(), 0x80) == "é.txt"
    assert decode_name(b"\x82.txt", 0) == "é.txt"  # cp437 0x82 is é
    assert decode_name(b"\xff\xfe", 0x80) == decode_name(b"\xff\xfe", 0)  # bad UTF-8 falls back


@pytest.mark.parametrize("name", ["..\\evil.txt", "a\\..\\..\\b", "\\abs.txt", "/etc/passwd",
                                  "C:\\x.txt", "c:x", "", "\\", ".", "a/\x00b", "..", "a/../.."])
def test_hostile_names_refused(name: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_relpath(name)


def test_clean_names() -> None:
    assert safe_relpath("a\\b\\c.txt") == "a/b/c.txt"
    assert safe_relpath("a\\.\\b") == "a/b"
    assert safe_relpath("x..y") == "x..y"


def test_symlink_out_of_dest_refused(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError):
        target_path(dest, "link\\x.txt")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["a", "..", ".", "", "\\", "/", "C:", "é", "b.txt", " ",
                                 "\x00", ":"]), min_size=0, max_size=8).map("".join))
def test_random_names_never_escape(name: str) -> None:
    root = os.path.realpath("/tmp/wimcore-dest-model")
    try:
        rel = safe_relpath(name)
    except UnsafePathError:
        return
    full = os.path.realpath(os.path.join(root, rel))
    assert full.startswith(root + os.sep)
    assert ".." not in rel.split("/")
