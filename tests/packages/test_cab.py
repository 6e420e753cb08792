"""Cabinet listing and extraction, cross-checked against cabextract; hostile and broken input."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest
from pkgfactory import cabextract_tree, make_cab, tree, write

from wimcore.errors import Cancelled, UnsafePathError
from wimcore.packages.cab import Cabinet, Compression
from wimcore.packages.errors import CabinetError, CorruptCabinetError, MissingCabinetPartError
from wimcore.progress import ProgressKind


def _expand_both(cab: Path, tmp: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    ours = tmp / "ours"
    with Cabinet(cab) as c:
        c.extract(ours)
    return tree(ours), cabextract_tree(cab, tmp / "oracle")


@pytest.mark.parametrize("name", ["mszip_lzx_qtm.cab", "normal_2files_2folders.cab"])
def test_third_party_fixtures_match_cabextract(name: str, shared_cabs: Path, tmp_path: Path,
                                               cabextract: str) -> None:
    ours, oracle = _expand_both(shared_cabs / name, tmp_path)
    assert ours == oracle and ours


def test_folder_compression_types(shared_cabs: Path) -> None:
    with Cabinet(shared_cabs / "mszip_lzx_qtm.cab") as c:
        kinds = {m.name: m.compression for m in c}
        assert kinds == {"mszip.txt": Compression.MSZIP, "lzx.txt": Compression.LZX,
                         "qtm.txt": Compression.QUANTUM}
        assert [f.compression for f in c.folders] == [Compression.MSZIP, Compression.LZX,
                                                     Compression.QUANTUM]
        assert all(m.datetime is not None and m.datetime.year == 1997 for m in c)


def _set_dir(shared_cabs: Path, tmp: Path) -> Path:
    """The 5-part set under the names its headers use (upper-cased: matched case-insensitively)."""
    where = tmp / "set"
    where.mkdir()
    for i in range(1, 6):
        shutil.copyfile(shared_cabs / f"multi_basic_pt{i}.cab",
                        where / f"CABD_MULTI_BASIC_PT{i}.CAB")
    return where


def test_cabinet_set_followed_both_ways(shared_cabs: Path, tmp_path: Path,
                                       cabextract: str) -> None:
    where = _set_dir(shared_cabs, tmp_path)
    with Cabinet(where / "CABD_MULTI_BASIC_PT3.CAB") as c:
        assert [p.name for p in c.parts] == [f"CABD_MULTI_BASIC_PT{i}.CAB" for i in range(1, 6)]
        c.extract(tmp_path / "ours")
    assert tree(tmp_path / "ours") == cabextract_tree(where / "CABD_MULTI_BASIC_PT1.CAB",
                                                      tmp_path / "oracle")


def test_missing_set_part(shared_cabs: Path, tmp_path: Path) -> None:
    where = _set_dir(shared_cabs, tmp_path)
    (where / "CABD_MULTI_BASIC_PT4.CAB").unlink()
    with pytest.raises(MissingCabinetPartError, match=r"cabd_multi_basic_pt4\.cab"):
        Cabinet(where / "CABD_MULTI_BASIC_PT1.CAB")
    with Cabinet(where / "CABD_MULTI_BASIC_PT1.CAB", follow_set=False) as c:
        assert len(c.parts) == 1


def test_synthetic_mszip_matches_cabextract(tmp_path: Path, cabextract: str) -> None:
    members = {f"dir{i % 3}\\sub\\file{i}.bin": bytes([i]) * (1000 + 777 * i) for i in range(12)}
    members["utf\\naïve ünïcode.txt"] = "ünïcode".encode() * 50
    cab = write(tmp_path / "s.cab", make_cab(members))
    ours, oracle = _expand_both(cab, tmp_path)
    assert ours == oracle
    assert ours["utf/naïve ünïcode.txt"] == "ünïcode".encode() * 50
    with Cabinet(cab) as c:
        assert next(m for m in c if m.name.startswith("utf/")).utf8_name


def test_selected_members_and_read(tmp_path: Path) -> None:
    cab = write(tmp_path / "s.cab", make_cab({"a.txt": b"A" * 10, "b\\c.txt": b"C" * 20}))
    with Cabinet(cab) as c:
        written = c.extract(tmp_path / "out", ["B\\C.TXT"])
        assert [p.name for p in written] == ["c.txt"]
        assert c.read("a.txt", tmp_path) == b"A" * 10
        with pytest.raises(CabinetError, match="no such member"):
            c.extract(tmp_path / "out", ["missing.txt"])
    assert tree(tmp_path / "out") == {"b/c.txt": b"C" * 20}


def test_close_is_idempotent_and_closed_refuses(tmp_path: Path) -> None:
    cab = write(tmp_path / "s.cab", make_cab({"a.txt": b"x"}))
    c = Cabinet(cab)
    c.close()
    c.close()
    assert c.closed
    with pytest.raises(CabinetError, match="closed"):
        c.extract(tmp_path / "out")


def test_progress_and_cancel(tmp_path: Path) -> None:
    cab = write(tmp_path / "s.cab", make_cab({f"f{i}": b"z" * 100 for i in range(5)}))
    events = []
    with Cabinet(cab) as c:
        c.extract(tmp_path / "a", progress=events.append)
        assert events[-1].done_bytes == events[-1].total_bytes == 500
        assert all(e.kind is ProgressKind.EXPAND for e in events)
        with pytest.raises(Cancelled):
            c.extract(tmp_path / "b", progress=lambda e: e.done_items < 2)
    assert not any(p.name.endswith(".wimcore-part") for p in (tmp_path / "b").rglob("*"))


@pytest.mark.parametrize("hostile", ["..\\evil.txt", "\\evil.txt", "C:\\evil.txt",
                                     "ok\\..\\..\\evil.txt"])
def test_hostile_names_write_nothing(tmp_path: Path, hostile: str) -> None:
    cab = write(tmp_path / "h.cab", make_cab({"fine.txt": b"ok", hostile: b"evil"}))
    dest = tmp_path / "deep" / "dest"
    before = set(tmp_path.rglob("*"))
    with Cabinet(cab) as c:
        assert any(m.name.endswith("evil.txt") for m in c)  # listing still works
        with pytest.raises(UnsafePathError):
            c.extract(dest)
    created = set(tmp_path.rglob("*")) - before
    assert all(p.is_dir() for p in created)  # at most the empty destination
    assert not list(tmp_path.rglob("evil.txt"))


def test_bad_signature(tmp_path: Path) -> None:
    data = bytearray(make_cab({"a.txt": b"x" * 100}))
    data[:4] = b"XXXX"
    with pytest.raises(CorruptCabinetError) as info:
        Cabinet(write(tmp_path / "bad.cab", bytes(data)))
    assert info.value.name == "MSPACK_ERR_SIGNATURE"


def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(CabinetError):
        Cabinet(tmp_path / "absent.cab")


@pytest.mark.parametrize("keep", [10, 40, 80])
def test_truncated_headers(tmp_path: Path, keep: int) -> None:
    data = make_cab({"a.txt": b"hello" * 1000, "b.txt": b"x" * 5000})
    with pytest.raises(CorruptCabinetError):
        Cabinet(write(tmp_path / "t.cab", data[:keep]))


def test_truncated_data(tmp_path: Path) -> None:
    import random

    payload = random.Random(1).randbytes(200_000)
    data = make_cab({"a.bin": payload})
    cab = write(tmp_path / "t.cab", data[: len(data) // 2])
    dest = tmp_path / "out"
    with Cabinet(cab) as c, pytest.raises(CorruptCabinetError):
        c.extract(dest)
    assert list(dest.rglob("*")) == []  # the temporary file was removed


def test_declared_size_far_larger_than_data(tmp_path: Path) -> None:
    data = bytearray(make_cab({"a.txt": b"small" * 10}))
    # CFFILE entries start at coffFiles (header offset 16); cbFile is their first field.
    coff_files = struct.unpack_from("<I", data, 16)[0]
    struct.pack_into("<I", data, coff_files, 0x7FFF0000)
    cab = write(tmp_path / "big.cab", bytes(data))
    dest = tmp_path / "out"
    with Cabinet(cab) as c:
        assert c.members[0].size == 0x7FFF0000
        with pytest.raises(CorruptCabinetError):
            c.extract(dest)
    assert not [p for p in dest.rglob("*") if p.is_file()]


def test_salvage_and_fix_mszip_params(tmp_path: Path) -> None:
    cab = write(tmp_path / "s.cab", make_cab({"a.txt": b"abc" * 100}))
    with Cabinet(cab, salvage=True, fix_mszip=True) as c:
        c.extract(tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"abc" * 100


def test_folder_order_extraction(tmp_path: Path, shared_cabs: Path) -> None:
    events: list[str] = []
    with Cabinet(shared_cabs / "normal_2files_2folders.cab") as c:
        names = ["lzx2.txt", "mszip2.txt", "lzx1.txt", "mszip1.txt"]
        c.extract(tmp_path, names, progress=lambda e: events.append(e.path or "") or None)
    assert events[:4] == ["mszip1.txt", "mszip2.txt", "lzx1.txt", "lzx2.txt"]
