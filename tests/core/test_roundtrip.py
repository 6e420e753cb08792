"""Capture, export with every compression type, extract: byte-for-byte and metadata round trips,
cross-checked with wimlib-imagex."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

import wimcore
from tests.conftest import imagex, make_tree, tree_digest

CASES = [("none", False), ("xpress", False), ("lzx", False), ("lzms", False), ("lzms", True)]


@pytest.mark.parametrize(("compression", "solid"), CASES)
def test_export_every_compression_round_trips(tmp_path: Path, tree: Path, compression: str,
                                               solid: bool) -> None:
    src_wim = tmp_path / "src.wim"
    wimcore.capture(tree, src_wim, "Source", compression="xpress")
    out = tmp_path / f"out-{compression}-{solid}.wim"
    events: list[wimcore.ProgressEvent] = []
    wimcore.export(src_wim, 1, out, compression=compression, solid=solid,
                   progress=events.append)
    assert any(e.kind is wimcore.ProgressKind.WRITE_STREAMS for e in events)
    with wimcore.open(out) as wim:
        assert wim.info.compression is wimcore.Compression.parse(compression)
        assert wim.is_solid is solid
        wim.images[1].apply(tmp_path / "applied")
    assert tree_digest(tmp_path / "applied") == tree_digest(tree)
    imagex("verify", out)


def test_walk_reports_sizes_hashes_and_tree(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "t.wim"
    wimcore.capture(tree, path, "T")
    with wimcore.open(path) as wim:
        entries = {e.path: e for e in wim.images[1].walk()}
    for rel, digest in tree_digest(tree).items():
        entry = entries["/" + rel]
        if digest is None:
            assert entry.is_dir
        else:
            data = (tree / rel).read_bytes()
            assert entry.size == len(data)
            assert entry.sha1 == (hashlib.sha1(data).hexdigest() if data else None)
            assert entry.last_write_time is not None
    # The C tool lists the same paths.
    listed = {line.strip() for line in imagex("dir", path, "1").splitlines() if line.strip()}
    assert listed == set(entries)


def test_listdir_stat_exists_read_open(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "t.wim"
    wimcore.capture(tree, path, "T")
    with wimcore.open(path) as wim:
        image = wim.images["T"]
        names = sorted(e.name for e in image.listdir("/Windows"))
        assert names == sorted(p.name for p in (tree / "Windows").iterdir())
        assert image.exists("/Windows/System32") and not image.exists("/nope")
        assert image.stat("windows\\system32").is_dir  # Windows-style, case-insensitive
        rel = "Windows/file001.bin"
        assert image.read_bytes("/" + rel) == (tree / rel).read_bytes()
        with image.open("/" + rel) as fh:
            assert fh.read() == (tree / rel).read_bytes()
        assert image.read_bytes("/zero.txt") == b""
        with pytest.raises(wimcore.PathNotFoundError):
            image.read_bytes("/Windows")


def test_extract_selected_paths(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "t.wim"
    wimcore.capture(tree, path, "T")
    with wimcore.open(path) as wim:
        wim.images[1].extract(["/Windows/System32", "/zero.txt"], tmp_path / "x")
    got = tree_digest(tmp_path / "x")
    assert got["zero.txt"] is not None
    want = {k: v for k, v in tree_digest(tree).items() if k.startswith("Windows/System32/")}
    assert {k: v for k, v in got.items() if k.startswith("Windows/System32/")} == want
    assert "Program Files" not in got


def test_image_properties_and_boot_index(make_wim: Callable[..., Path]) -> None:
    path = make_wim(images=2)
    with wimcore.open(path, writable=True) as wim:
        image = wim.images[2]
        image.name = "Windows 10 Pro"
        image.description = "Windows 10 Pro"
        image.flags = "Professional"
        image.set_property("WINDOWS/ARCH", "9")
        image.set_property("WINDOWS/VERSION/MAJOR", "10")
        image.set_property("WINDOWS/VERSION/MINOR", "0")
        image.set_property("WINDOWS/VERSION/BUILD", "19045")
        image.set_property("WINDOWS/VERSION/SPBUILD", "3803")
        image.set_property("WINDOWS/LANGUAGES/LANGUAGE", "en-US")
        image.set_property("WINDOWS/LANGUAGES/DEFAULT", "en-US")
        image.set_property("WINDOWS/EDITIONID", "Professional")
        image.set_property("DISPLAYNAME", "Windows 10 Pro")
        wim.boot_index = 2
        wim.commit()
    with wimcore.open(path) as wim:
        info = wim.images["Windows 10 Pro"].info
        assert info.arch is wimcore.Arch.X64 and info.version == "10.0.19045.3803"
        assert info.languages == ("en-US",) and info.default_language == "en-US"
        assert info.flags == "Professional" and info.edition_id == "Professional"
        assert info.display_name == "Windows 10 Pro"
        assert info.dir_count and info.file_count and info.total_bytes
        assert info.creation_time is not None
        assert wim.info.boot_index == 2 and wim.images[2].is_boot
    out = imagex("info", path)
    assert "Boot Index:     2" in out
    assert "Windows 10 Pro" in out and "Professional" in out


def test_export_all_and_append_to_existing(tmp_path: Path, make_wim: Callable[..., Path]) -> None:
    a = make_wim("a.wim", images=2, seed=10)
    b = make_wim("b.wim", images=1, seed=20)
    wimcore.export(a, "all", tmp_path / "all.wim")
    wimcore.export(b, 1, tmp_path / "all.wim", name="Appended", description="from b")
    with wimcore.open(tmp_path / "all.wim") as wim:
        assert wim.images.names() == ["Image 1", "Image 2", "Appended"]
        assert wim.images[3].description == "from b"
    assert "Image Count:    3" in imagex("info", tmp_path / "all.wim")
    imagex("verify", tmp_path / "all.wim")


def test_export_boot_image_marks_boot_index(tmp_path: Path, make_wim: Callable[..., Path]) -> None:
    src = make_wim(images=2)
    wimcore.export(src, 1, tmp_path / "boot.wim")
    wimcore.export(src, 2, tmp_path / "boot.wim", boot=True)
    with wimcore.open(tmp_path / "boot.wim") as wim:
        assert wim.info.boot_index == 2


def test_delete_commit_and_optimize_shrink(make_wim: Callable[..., Path]) -> None:
    path = make_wim(images=3, files=40)
    before = path.stat().st_size
    with wimcore.open(path, writable=True) as wim:
        guid = wim.info.guid
        wim.delete_image(2)
        wim.commit()
        assert wim.images.names() == ["Image 1", "Image 3"]
        assert wim.info.guid == guid
    assert path.stat().st_size < before
    imagex("verify", path)
    size_before, size_after = wimcore.optimize(path, compression="lzms")
    assert size_after < size_before
    with wimcore.open(path) as wim:
        assert wim.info.compression is wimcore.Compression.LZMS
    imagex("verify", path)


def test_in_place_commit_appends(make_wim: Callable[..., Path], tmp_path: Path) -> None:
    path = make_wim()
    extra = tmp_path / "extra.txt"
    extra.write_text("new file")
    with wimcore.open(path, writable=True) as wim:
        with wim.images[1].edit() as edit:
            edit.add(extra, "/extra.txt")
        wim.commit(in_place=True)
    with wimcore.open(path) as wim:
        assert wim.images[1].read_bytes("/extra.txt") == b"new file"
    imagex("verify", path)


def test_split_join_and_open_with_refs(tmp_path: Path) -> None:
    src = make_tree(tmp_path / "big", files=30, max_size=200_000)
    path = tmp_path / "big.wim"
    wimcore.capture(src, path, "Big", compression="none")
    (tmp_path / "parts").mkdir()
    with wimcore.open(path) as wim:
        parts = wim.split(tmp_path / "parts" / "big.swm", 400_000)
    assert len(parts) > 1 and parts[0].name == "big.swm" and parts[1].name == "big2.swm"
    with wimcore.open(parts[0], refs=[str(tmp_path / "parts" / "big*.swm")]) as wim:
        assert wim.info.total_parts == len(parts)
        wim.images[1].apply(tmp_path / "from-split")
    assert tree_digest(tmp_path / "from-split") == tree_digest(src)
    wimcore.join(parts, tmp_path / "joined.wim")
    imagex("verify", tmp_path / "joined.wim")
    with wimcore.open(tmp_path / "joined.wim") as wim:
        assert wim.info.total_parts == 1 and wim.images[1].name == "Big"


def test_verify_passes_and_integrity_table(make_wim: Callable[..., Path], tmp_path: Path) -> None:
    path = make_wim()
    wimcore.export(path, 1, tmp_path / "int.wim", check_integrity=True)
    with wimcore.open(tmp_path / "int.wim") as wim:
        assert wim.info.has_integrity_table
    events: list[wimcore.ProgressEvent] = []
    wimcore.verify(tmp_path / "int.wim", progress=events.append)
    assert events


def test_multisource_capture_and_resources(tmp_path: Path) -> None:
    a = make_tree(tmp_path / "a", seed=1, files=5)
    b = make_tree(tmp_path / "b", seed=2, files=5)
    with wimcore.create("xpress") as wim:
        wim.add_image([(str(a), "/"), (str(b), "/B")], "Multi")
        image = wim.images[1]
        assert image.exists("/B/Windows") and image.exists("/Windows")
        wim.write(tmp_path / "m.wim")
    with wimcore.open(tmp_path / "m.wim") as wim:
        res = wim.resources()
        assert any(r.is_metadata for r in res)
        assert all(len(r.sha1) == 40 for r in res)


@pytest.mark.parametrize("compression", ["xpress", "lzx", "lzms"])
def test_raw_compressor_round_trip(compression: str) -> None:
    data = (b"The quick brown fox jumps over the lazy dog. " * 2000)[:65536]
    with wimcore.Compressor(compression, 65536, level=50) as comp:
        packed = comp.compress(data)
    assert packed is not None and len(packed) < len(data)
    with wimcore.Decompressor(compression, 65536) as dec:
        assert dec.decompress(packed, len(data)) == data
    import os

    noise = os.urandom(4096)
    with wimcore.Compressor(compression, 4096) as comp:
        assert comp.compress(noise) is None  # incompressible: libwimlib says so
    with wimcore.Decompressor(compression, 65536) as dec, pytest.raises(ValueError):
        dec.decompress(b"\xff" * 100, 65536)


def test_ntfs_volume_apply_and_capture_keep_windows_metadata(tmp_path: Path, tree: Path) -> None:
    import shutil
    import subprocess

    mkntfs = shutil.which("mkntfs") or shutil.which("mkfs.ntfs")
    if mkntfs is None:
        pytest.skip("mkntfs (ntfs-3g) is not installed")
    volume = tmp_path / "vol.img"
    with open(volume, "wb") as fh:
        fh.truncate(32 * 1024 * 1024)
    subprocess.run([mkntfs, "-F", "-Q", "-q", str(volume)], check=True)
    wim_path = tmp_path / "t.wim"
    wimcore.capture(tree, wim_path, "T")
    with wimcore.open(wim_path) as wim:
        wim.images[1].apply(volume)  # a regular file: NTFS mode is chosen automatically
    wimcore.capture(volume, tmp_path / "ntfs.wim", "FromNTFS")
    with wimcore.open(tmp_path / "ntfs.wim") as wim:
        image = wim.images[1]
        entries = {e.path: e for e in image.walk()}
        want = (tree / "Windows/file001.bin").read_bytes()
        assert image.read_bytes("/Windows/file001.bin") == want
        # NTFS captures carry security descriptors, which a Linux directory cannot.
        assert entries["/Windows/file001.bin"].security_descriptor


def test_single_path_edits_pathlist_and_name_checks(tmp_path: Path, tree: Path) -> None:
    path = tmp_path / "t.wim"
    wimcore.capture(tree, path, "T")
    note = tmp_path / "note.txt"
    note.write_text("note")
    with wimcore.open(path, writable=True) as wim:
        image = wim.images[1]
        image.add_tree(note, "/Notes/note.txt")
        image.rename_path("/Notes/note.txt", "/Notes/renamed.txt")
        image.delete_path("/empty", recursive=True)
        assert wim.name_in_use("T") and not wim.name_in_use("U")
        wim.commit()
    listing = tmp_path / "list.txt"
    listing.write_text("/Notes/renamed.txt\n/zero.txt\n")
    with wimcore.open(path) as wim:
        wim.images[1].extract_list(listing, tmp_path / "x")
        assert not wim.images[1].exists("/empty")
    assert (tmp_path / "x" / "Notes" / "renamed.txt").read_text() == "note"
    assert wimcore.compression.libwimlib_name("lzms") == "LZMS"


def test_pipable_write_to_pipe_and_extract_from_pipe(tmp_path: Path, tree: Path) -> None:
    import os
    import threading

    path = tmp_path / "t.wim"
    wimcore.capture(tree, path, "T")
    read_fd, write_fd = os.pipe()

    def produce() -> None:
        try:
            with wimcore.open(path) as wim:
                wim.write_to_fd(write_fd)
        finally:
            os.close(write_fd)

    producer = threading.Thread(target=produce)
    producer.start()
    try:
        wimcore.extract_from_pipe(read_fd, 1, tmp_path / "piped")
    finally:
        producer.join()
        os.close(read_fd)
    assert tree_digest(tmp_path / "piped") == tree_digest(tree)


def test_template_image_and_referenced_wims(tmp_path: Path, tree: Path) -> None:
    base = tmp_path / "base.wim"
    wimcore.capture(tree, base, "Base")
    with wimcore.open(base, writable=True) as wim:
        new = wim.add_image(tree, "Update")
        wim.images[1].use_as_template_for(new)
        wim.commit()
    with wimcore.open(base) as wim:
        assert wim.images.names() == ["Base", "Update"]
    # A metadata-only export references its data from the source WIM.
    with wimcore.open(base) as src, wimcore.create() as other:
        other.reference_wims([src])
        other.import_image(src, 2)
        other.write(tmp_path / "copy.wim")
    imagex("verify", tmp_path / "copy.wim")


def test_capture_config_excludes_files(tmp_path: Path, tree: Path) -> None:
    (tree / "Windows" / "junk.tmp").write_text("temporary")
    (tree / "pagefile.sys").write_text("paging")
    config = tmp_path / "exclusions.ini"
    config.write_text("[ExclusionList]\n\\pagefile.sys\n*.tmp\n")
    wimcore.capture(tree, tmp_path / "c.wim", "C", config=config)
    with wimcore.open(tmp_path / "c.wim") as wim:
        paths = {e.path for e in wim.images[1].walk()}
    assert "/Windows/junk.tmp" not in paths and "/pagefile.sys" not in paths
    assert "/Windows/file001.bin" in paths


def test_in_place_append_and_export_keep_the_inode(tmp_path: Path, tree: Path) -> None:
    wim = tmp_path / "t.wim"
    wimcore.capture(tree, wim, "One")
    inode = wim.stat().st_ino
    wimcore.capture(tree, wim, "Two", append=True, in_place=True, fsync=False)
    assert wim.stat().st_ino == inode  # appended, not rewritten
    wimcore.export(wim, "One", wim, name="Three", in_place=True)
    assert wim.stat().st_ino == inode
    with wimcore.open(wim) as w:
        assert w.images.names() == ["One", "Two", "Three"]
    imagex("verify", wim)
    wimcore.capture(tree, wim, "Four", append=True)  # the default: rewrite and rename
    assert wim.stat().st_ino != inode


def test_closed_codecs_refuse_instead_of_crashing() -> None:
    comp = wimcore.Compressor("lzx", 4096)
    comp.close()
    with pytest.raises(ValueError):
        comp.compress(b"x" * 100)
    dec = wimcore.Decompressor("lzx", 4096)
    dec.close()
    with pytest.raises(ValueError):
        dec.decompress(b"x" * 10, 100)
