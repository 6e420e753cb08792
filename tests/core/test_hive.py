"""Registry hives through real libhivex: every value type written, read back, cross-checked."""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

import pytest
import regipy.registry as regipy_registry  # the independent hive reader ([test] extra)

from wimcore.errors import WimcoreError
from wimcore.hive import (
    MAX_VALUE_SIZE,
    Hive,
    HiveClosedError,
    HiveError,
    HiveInvalidArgumentError,
    HiveKeyExistsError,
    HiveKeyNotFoundError,
    HiveOSError,
    HiveReadOnlyError,
    HiveValueNotFoundError,
    HiveValueTooLargeError,
    ValueType,
    build_hive,
    decode_value,
    encode_value,
)
from wimcore.hive_minimal import minimal_hive

MINIMAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hives" / "minimal"
T = ValueType


@pytest.fixture(params=["shared", "in-code"])
def base(request: pytest.FixtureRequest) -> bytes:
    """The empty hive to grow from: the shared template, and the one written in code."""
    if request.param == "shared":
        if not MINIMAL.is_file():
            pytest.skip(f"shared minimal hive absent: {MINIMAL}")
        return MINIMAL.read_bytes()
    return minimal_hive()


EVERY_TYPE: dict[str, Any] = {
    "sz": "19045",
    "sz_unicode": "Grüße 中文",
    "sz_empty": "",
    "expand": (T.REG_EXPAND_SZ, "%SystemRoot%\\system32"),
    "binary": b"\x00\x01\xfe\xff",
    "binary_empty": b"",
    "dword": 3803,
    "dword_max": 0xFFFFFFFF,
    "dword_be": (T.REG_DWORD_BIG_ENDIAN, 0x01020304),
    "link": (T.REG_LINK, "\\Registry\\Machine\\Software\\Classes"),
    "multi": ["one", "two", "drei"],
    "multi_empty": [],
    "resource_list": (T.REG_RESOURCE_LIST, b"\x01\x00\x00\x00"),
    "qword": 2**40 + 5,
    "none": None,
    "": "the default value",
    "at_limit": b"\xab" * MAX_VALUE_SIZE,
}

EXPECTED: dict[str, tuple[int, Any]] = {
    "sz": (T.REG_SZ, "19045"),
    "sz_unicode": (T.REG_SZ, "Grüße 中文"),
    "sz_empty": (T.REG_SZ, ""),
    "expand": (T.REG_EXPAND_SZ, "%SystemRoot%\\system32"),
    "binary": (T.REG_BINARY, b"\x00\x01\xfe\xff"),
    "binary_empty": (T.REG_BINARY, b""),
    "dword": (T.REG_DWORD, 3803),
    "dword_max": (T.REG_DWORD, 0xFFFFFFFF),
    "dword_be": (T.REG_DWORD_BIG_ENDIAN, 0x01020304),
    "link": (T.REG_LINK, "\\Registry\\Machine\\Software\\Classes"),
    "multi": (T.REG_MULTI_SZ, ["one", "two", "drei"]),
    "multi_empty": (T.REG_MULTI_SZ, []),
    "resource_list": (T.REG_RESOURCE_LIST, b"\x01\x00\x00\x00"),
    "qword": (T.REG_QWORD, 2**40 + 5),
    "none": (T.REG_NONE, b""),
    "": (T.REG_SZ, "the default value"),
    "at_limit": (T.REG_BINARY, b"\xab" * MAX_VALUE_SIZE),
}

CURRENT_VERSION = {
    "Microsoft": {
        "Windows NT": {
            "CurrentVersion": {
                "CurrentBuild": "19045",
                "UBR": 3803,
                "EditionID": "Professional",
                "DisplayVersion": "22H2",
                "ProductName": "Windows 10 Pro",
            }
        },
        "Windows": {"CurrentVersion": {"Component Based Servicing": {"Packages": {}}}},
    }
}


def regipy_values(path: Path, key: str) -> dict[str, tuple[str, Any]]:
    """What the independent regipy parser reads at ``key``: name -> (type name, value)."""
    hive = regipy_registry.RegistryHive(str(path))
    found = hive.get_key("\\" + key)
    return {v.name: (v.value_type, v.value) for v in found.iter_values(trim_values=False)}


def inline_value_records(data: bytes, name: str) -> list[tuple[int, bytes]]:
    """(type, data) of every allocated value record (``vk`` cell) called ``name`` whose data
    sits inline in the record (4 bytes or less), read straight from the hive's bytes."""
    found = []
    for at in range(4096 + 4, len(data) - 20):
        if data[at:at + 2] != b"vk" or struct.unpack_from("<i", data, at - 4)[0] >= 0:
            continue
        name_len, size, inline, kind, flags = struct.unpack_from("<HIIIH", data, at + 2)
        raw_name = data[at + 20:at + 20 + name_len]
        text = raw_name.decode("latin-1") if flags & 1 else raw_name.decode("utf-16-le", "replace")
        if text == name and size & 0x80000000:
            found.append((kind, struct.pack("<I", inline)[:size & 0x7FFFFFFF]))
    return found


def regipy_paths(path: Path) -> set[str]:
    """Every key path regipy finds (without the leading backslash)."""
    hive = regipy_registry.RegistryHive(str(path))
    return {sk.path.strip("\\") for sk in hive.recurse_subkeys(as_json=False)}


# ------------------------------------------------------------------------- writing and reading


def test_every_value_type_round_trips(base: bytes, tmp_path: Path) -> None:
    data = build_hive({"Types": EVERY_TYPE}, base=base)
    target = tmp_path / "SOFTWARE"
    target.write_bytes(data)
    with Hive.open(target) as hive:
        key = hive["Types"]
        got = {v.name: (v.type, v.data) for v in key.values()}
        assert got == EXPECTED
        assert key.value("at_limit").size == MAX_VALUE_SIZE
        assert key.value("dword_be").raw == b"\x01\x02\x03\x04"
        assert key.value("dword").raw == struct.pack("<I", 3803)

    oracle = regipy_values(target, "Types")
    assert set(oracle) == {name or "(default)" for name in EXPECTED}
    for name, (type_, value) in EXPECTED.items():
        rtype, rvalue = oracle[name or "(default)"]
        assert rtype == T(type_).name
        if type_ in (T.REG_SZ, T.REG_EXPAND_SZ, T.REG_LINK, T.REG_MULTI_SZ, T.REG_DWORD,
                     T.REG_QWORD):
            assert rvalue == value, name
        elif type_ == T.REG_BINARY:
            raw = bytes.fromhex(rvalue) if isinstance(rvalue, str) else rvalue
            assert raw == value, name


def test_servicing_keys_read_by_wimcore_and_regipy(base: bytes, tmp_path: Path) -> None:
    target = tmp_path / "SOFTWARE"
    target.write_bytes(build_hive(CURRENT_VERSION, base=base))
    with Hive.open(target) as hive:
        cv = hive["Microsoft\\Windows NT\\CurrentVersion"]
        assert cv.name == "CurrentVersion"
        assert cv.path == "Microsoft\\Windows NT\\CurrentVersion"
        assert cv.get_value("CurrentBuild") == "19045"
        assert cv.get_value("UBR") == 3803
        assert cv.get_value("Missing", "fallback") == "fallback"
        assert cv.timestamp is not None and cv.timestamp.year >= 1601
        assert [k.name for k in hive["Microsoft"].subkeys()] == ["Windows", "Windows NT"]
        cbs = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages"
        assert cbs in hive and len(hive[cbs]) == 0
    paths = regipy_paths(target)
    assert "Microsoft\\Windows NT\\CurrentVersion" in paths
    oracle = regipy_values(target, "Microsoft\\Windows NT\\CurrentVersion")
    assert oracle["UBR"] == ("REG_DWORD", 3803)
    assert oracle["ProductName"] == ("REG_SZ", "Windows 10 Pro")


def test_lookups_are_case_insensitive_like_windows(base: bytes) -> None:
    tree = {"Software": {"Ünïcödé": {"Wert": "x", "Größe": 1}, "Plain": {"Name": "y"}}}
    with Hive.from_bytes(build_hive(tree, base=base)) as hive:
        assert hive["SOFTWARE\\plain"].name == "Plain"
        assert hive["software\\ÜNÏCÖDÉ"].name == "Ünïcödé"
        assert hive.root["\\Software\\\\Plain\\"].path == "Software\\Plain"
        key = hive["Software\\ünïcödé"]
        assert key.value("WERT").name == "Wert"
        assert key.value("GRÖßE").data == 1
        assert hive.get("Software\\Nope") is None
        assert "Software\\Nope" not in hive
        with pytest.raises(HiveKeyNotFoundError) as info:
            hive["Software\\Nope"]
        assert isinstance(info.value, LookupError) and isinstance(info.value, WimcoreError)
        with pytest.raises(HiveValueNotFoundError):
            key.value("nothing")
        assert hive["Software"].parent == hive.root
        assert hive.root.parent is None


def test_add_key_creates_parents_and_reuses_existing(base: bytes, tmp_path: Path) -> None:
    with Hive.from_bytes(base, writable=True) as hive:
        leaf = hive.add_key("A\\B\\C")
        assert leaf.path == "A\\B\\C"
        again = hive.add_key("a\\b\\c")
        assert again == leaf and again.path == "A\\B\\C"
        with pytest.raises(HiveKeyExistsError):
            hive["A"].add_key("b")
        with pytest.raises(HiveKeyExistsError):
            hive["A"].add_key("B")
        hive["A"].add_key("Ä")
        with pytest.raises(HiveKeyExistsError):
            hive["A"].add_key("ä")  # hivex alone would add a duplicate here
        hive.commit(tmp_path / "out")
    assert {"A", "A\\B", "A\\B\\C"} <= regipy_paths(tmp_path / "out")
    with Hive.open(tmp_path / "out") as hive:
        assert sorted(k.path for k in hive.walk()) == ["", "A", "A\\B", "A\\B\\C", "A\\Ä"]


def test_set_replace_and_delete_values(base: bytes, tmp_path: Path) -> None:
    with Hive.from_bytes(base, writable=True) as hive:
        hive.add_key("K")
        hive.set_value("K", "a", "text")
        hive.set_value("K", "b", 5)
        hive.set_value("K", "c", ["x"])
        old = hive["K"].value("b")
        hive.set_value("k", "B", 2**33)  # replaces "b" (same name, other case)
        assert old.data == 2**33 and old.type == T.REG_QWORD  # re-found by name
        assert [v.name for v in hive["K"].values()] == ["a", "b", "c"]
        hive.set_value("K", "d", 7, type=T.REG_DWORD_BIG_ENDIAN)
        hive.delete_value("K", "A")
        assert [v.name for v in hive["K"].values()] == ["b", "c", "d"]
        with pytest.raises(HiveValueNotFoundError):
            old.key.value("a")
        with pytest.raises(HiveValueNotFoundError):
            hive.delete_value("K", "a")
        target = tmp_path / "out"
        hive.commit(target)
    oracle = regipy_values(target, "K")
    # regipy names the type of an inline REG_DWORD_BIG_ENDIAN but cannot decode its data:
    # the data is read from the value's own record below instead.
    assert {name: oracle[name] for name in ("b", "c")} == {
        "b": ("REG_QWORD", 2**33), "c": ("REG_MULTI_SZ", ["x"])}
    assert set(oracle) == {"b", "c", "d"} and oracle["d"][0] == "REG_DWORD_BIG_ENDIAN"
    assert inline_value_records(target.read_bytes(), "d") == [(T.REG_DWORD_BIG_ENDIAN,
                                                               b"\x00\x00\x00\x07")]
    with Hive.open(target) as hive:
        assert hive["K"].get_value("d") == 7


def test_delete_key_and_stale_handles(base: bytes) -> None:
    tree = {"A": {"B": {"v": 1}, "C": {"w": 2}}}
    with Hive.from_bytes(build_hive(tree, base=base), writable=True) as hive:
        b = hive["A\\B"]
        c = hive["A\\C"]
        value = b.value("v")
        hive.delete_key("a\\b")
        assert "A\\B" not in hive
        assert c.get_value("w") == 2  # other keys still work after a delete
        with pytest.raises(HiveKeyNotFoundError):
            _ = b.name
        with pytest.raises(HiveKeyNotFoundError):
            _ = value.data
        with pytest.raises(HiveKeyNotFoundError):
            hive.delete_key("A\\B")
        with pytest.raises(HiveInvalidArgumentError):
            hive.delete_key("\\")
        assert [k.path for k in hive.walk()] == ["", "A", "A\\C"]


def test_type_inference_and_codecs() -> None:
    assert encode_value("a") == (T.REG_SZ, "a\0".encode("utf-16-le"))
    assert encode_value(["a", "b"]) == (T.REG_MULTI_SZ, "a\0b\0\0".encode("utf-16-le"))
    assert encode_value(1) == (T.REG_DWORD, b"\x01\0\0\0")
    assert encode_value(-1) == (T.REG_DWORD, b"\xff\xff\xff\xff")
    assert encode_value(2**32) == (T.REG_QWORD, struct.pack("<Q", 2**32))
    assert encode_value(b"\x01") == (T.REG_BINARY, b"\x01")
    assert encode_value(None) == (T.REG_NONE, b"")
    assert encode_value(True) == (T.REG_DWORD, b"\x01\0\0\0")
    assert encode_value(b"\x01\x02", T.REG_SZ) == (T.REG_SZ, b"\x01\x02")  # raw passes through
    for bad, type_ in [(1.5, None), ("x", T.REG_DWORD), (2**64, None), (["a\0"], None),
                       ("s", T.REG_MULTI_SZ), (object(), None), (5, T.REG_BINARY)]:
        with pytest.raises(HiveInvalidArgumentError):
            encode_value(bad, type_)
    assert decode_value(T.REG_SZ, "ab\0\0\0".encode("utf-16-le")) == "ab"
    assert decode_value(T.REG_SZ, b"a\0b") == "a"  # odd byte dropped
    assert decode_value(T.REG_MULTI_SZ, b"") == []
    assert decode_value(T.REG_DWORD, b"\x01") == b"\x01"  # too short to be a number
    assert decode_value(0x12345, b"zz") == b"zz"


def test_value_too_large_is_refused(base: bytes) -> None:
    with Hive.from_bytes(base, writable=True) as hive:
        key = hive.add_key("K")
        key.set_value("ok", b"\0" * MAX_VALUE_SIZE)
        for size in (MAX_VALUE_SIZE + 1, 20000, 1 << 20):
            with pytest.raises(HiveValueTooLargeError) as info:
                key.set_value("big", b"\0" * size)
            assert "big-data" in str(info.value) and f"{size:,}" in str(info.value)
            assert isinstance(info.value, HiveError) and info.value.size == size
        with pytest.raises(HiveValueTooLargeError):
            key.set_value("big_text", "x" * (MAX_VALUE_SIZE // 2))  # + NUL terminator
        with pytest.raises(HiveValueTooLargeError):
            build_hive({"K": {"v": ["y" * 5000, "z" * 5000]}}, base=base)
        assert [v.name for v in key.values()] == ["ok"]


def test_commit_is_atomic_and_keeps_mode(base: bytes, tmp_path: Path) -> None:
    target = tmp_path / "SYSTEM"
    target.write_bytes(base)
    target.chmod(0o640)
    with Hive.open(target, writable=True) as hive:
        hive.add_key("Select").set_value("Current", 1)
        hive.commit()
        hive.set_value("Select", "Default", 1)
        with pytest.raises(HiveOSError):
            hive.commit(tmp_path / "no" / "such" / "dir" / "SYSTEM")
        # Uncommitted changes never reach the file.
    assert os.listdir(tmp_path) == ["SYSTEM"]  # no temporary left behind
    assert target.stat().st_mode & 0o777 == 0o640
    with Hive.open(target) as hive:
        assert hive["Select"].get_value("Current") == 1
        assert not hive["Select"].has_value("Default")
    with Hive.from_bytes(base, writable=True) as hive:
        with pytest.raises(HiveInvalidArgumentError):
            hive.commit()  # no file to go back to


def test_read_only_and_closed_hives_refuse_work(base: bytes) -> None:
    hive = Hive.from_bytes(build_hive({"K": {"v": 1}}, base=base))
    with pytest.raises(HiveReadOnlyError):
        hive.add_key("X")
    with pytest.raises(HiveReadOnlyError):
        hive.set_value("K", "v", 2)
    with pytest.raises(HiveReadOnlyError):
        hive.commit("/nonexistent")
    key = hive["K"]
    value = key.value("v")
    root = hive.root
    assert "writable" not in repr(hive) and "read-only" in repr(hive)
    hive.close()
    hive.close()  # a second close does nothing
    assert hive.closed and "closed" in repr(hive)
    for action in (lambda: key.name, lambda: list(key.subkeys()), lambda: value.data,
                   lambda: value.type, lambda: root["K"], lambda: hive.root,
                   lambda: key.values(), lambda: hive.last_modified):
        with pytest.raises(HiveClosedError):
            action()
    assert "unavailable" in repr(value)


def test_in_code_minimal_hive_is_valid(tmp_path: Path) -> None:
    data = minimal_hive("CMI-CreateHive{TEST}", filetime=132_000_000_000_000_000)
    assert len(data) == 8192 and data[:4] == b"regf" and data[4096:4100] == b"hbin"
    checksum = 0
    for (word,) in struct.iter_unpack("<I", data[:508]):
        checksum ^= word
    assert struct.unpack_from("<I", data, 508)[0] == checksum
    path = tmp_path / "empty"
    path.write_bytes(data)
    with Hive.open(path) as hive:
        assert hive.root.name == "CMI-CreateHive{TEST}"
        assert hive.root.filetime == 132_000_000_000_000_000
        assert list(hive.root.subkeys()) == [] and hive.root.values() == []
    oracle = regipy_registry.RegistryHive(str(path))
    assert oracle.root.name == "CMI-CreateHive{TEST}"
    assert oracle.header.signature == b"regf"
    assert [sk.path for sk in oracle.recurse_subkeys(as_json=False)] == ["\\"]
    # Children inherit the root's security record: grow it and read back with both parsers.
    grown = tmp_path / "grown"
    grown.write_bytes(build_hive(CURRENT_VERSION, base=path))
    assert regipy_values(grown, "Microsoft\\Windows NT\\CurrentVersion")["UBR"] == (
        "REG_DWORD", 3803)
    assert build_hive({}, base=None)[:4] == b"regf"


def test_open_missing_file_or_directory(tmp_path: Path) -> None:
    with pytest.raises(HiveOSError) as info:
        Hive.open(tmp_path / "absent")
    assert isinstance(info.value, OSError) and info.value.errno == 2
    with pytest.raises(HiveOSError):
        Hive.open(tmp_path)  # a directory
