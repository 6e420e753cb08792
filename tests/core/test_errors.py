"""Bad input, cancels, locks and closed objects: typed errors, nothing half-written."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import wimcore
from tests.conftest import imagex, make_tree, sha256


def test_not_a_wim_missing_file_and_directory(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wim"
    junk.write_bytes(b"this is not a WIM file at all" * 10)
    with pytest.raises(wimcore.InvalidWimError) as info:
        wimcore.open(junk)
    assert info.value.name == "WIMLIB_ERR_NOT_A_WIM_FILE" and str(junk) in str(info.value)
    with pytest.raises(wimcore.MissingFileError):
        wimcore.open(tmp_path / "absent.wim")
    with pytest.raises(FileNotFoundError):  # also a standard FileNotFoundError
        wimcore.open(tmp_path / "absent.wim", writable=True)
    with pytest.raises(wimcore.MissingFileError):
        wimcore.open(tmp_path)


@pytest.mark.parametrize("fraction", [0.0, 0.05, 0.3, 0.6, 0.9, 0.99])
def test_truncated_wims_raise_typed_errors(make_wim: Callable[..., Path], tmp_path: Path,
                                           fraction: float) -> None:
    path = make_wim(compression="xpress")
    data = path.read_bytes()
    cut = tmp_path / "cut.wim"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(wimcore.WimcoreError):
        with wimcore.open(cut) as wim:
            wim.images[1].apply(tmp_path / "out")
            wim.verify()


def test_corrupted_blob_fails_sha1_check(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    payload = b"ABCDEFGH" * 4096
    (src / "data.bin").write_bytes(payload)
    path = tmp_path / "c.wim"
    wimcore.capture(src, path, "C", compression="none")
    raw = bytearray(path.read_bytes())
    at = raw.find(payload[:64])
    assert at > 0
    raw[at + 100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with wimcore.open(path) as wim:
        with pytest.raises(wimcore.CorruptDataError) as info:
            wim.verify()
        assert info.value.name == "WIMLIB_ERR_INVALID_RESOURCE_HASH"
        with pytest.raises(wimcore.CorruptDataError):
            wim.images[1].read_bytes("/data.bin")


def test_bad_image_and_path_references(make_wim: Callable[..., Path]) -> None:
    path = make_wim(images=2)
    with wimcore.open(path) as wim:
        for bad in (0, 3, -1, "No Such Image", "7"):
            with pytest.raises(wimcore.ImageNotFoundError) as info:
                wim.images[bad]
            assert str(path) in str(info.value)
        assert "Image 1" in wim.images and 9 not in wim.images
        with pytest.raises(wimcore.PathNotFoundError) as pinfo:
            wim.images[1].read_bytes("/does/not/exist")
        assert "/does/not/exist" in str(pinfo.value)
        with pytest.raises(wimcore.PathNotFoundError):
            wim.images[1].listdir("/nope")


def test_existing_destination_is_refused_and_untouched(make_wim: Callable[..., Path],
                                                        tmp_path: Path, tree: Path) -> None:
    dest = tmp_path / "exists.wim"
    dest.write_bytes(b"precious")
    with pytest.raises(wimcore.DestinationExistsError):
        wimcore.capture(tree, dest, "X")
    with wimcore.create() as wim:
        wim.add_image(tree, "X")
        with pytest.raises(wimcore.DestinationExistsError):
            wim.write(dest)
    assert dest.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir() if ".wimcore-tmp" in p.name) == []


def test_cancel_export_leaves_no_output(make_wim: Callable[..., Path], tmp_path: Path) -> None:
    src = make_wim(files=40)
    before = sha256(src)
    dest = tmp_path / "cancelled.wim"

    def stop(event: wimcore.ProgressEvent) -> bool:
        return event.kind is not wimcore.ProgressKind.WRITE_STREAMS

    with pytest.raises(wimcore.Cancelled):
        wimcore.export(src, 1, dest, compression="lzms", recompress=True, progress=stop)
    assert not dest.exists()
    assert sha256(src) == before
    assert [p for p in tmp_path.iterdir() if ".wimcore-tmp" in p.name] == []


def test_cancel_commit_leaves_original_byte_identical(make_wim: Callable[..., Path],
                                                      tmp_path: Path) -> None:
    path = make_wim(files=40)
    before = sha256(path)
    extra = make_tree(tmp_path / "extra", seed=99, files=10)

    class Boom(Exception):
        pass

    def explode(event: wimcore.ProgressEvent) -> None:
        if event.kind is wimcore.ProgressKind.WRITE_STREAMS and event.done_bytes:
            raise Boom("user callback failed")

    for in_place in (False, True):
        with wimcore.open(path, writable=True) as wim:
            with wim.images[1].edit() as edit:
                edit.add(extra, "/Extra")
                edit.delete("/Windows", recursive=True)
            with pytest.raises(Boom):
                wim.commit(progress=explode, in_place=in_place)
        if not in_place:
            assert sha256(path) == before
    imagex("verify", path)
    with wimcore.open(path) as wim:
        assert wim.images[1].exists("/Windows") and not wim.images[1].exists("/Extra")


def test_cancelled_raised_from_callback(make_wim: Callable[..., Path], tmp_path: Path) -> None:
    src = make_wim()

    def cancel(event: wimcore.ProgressEvent) -> None:
        raise wimcore.Cancelled("stop")

    with pytest.raises(wimcore.Cancelled):
        with wimcore.open(src) as wim:
            wim.images[1].apply(tmp_path / "out", progress=cancel)


def test_second_writer_gets_locked_error(make_wim: Callable[..., Path]) -> None:
    path = make_wim()
    code = ("import sys, wimcore\n"
            "try:\n"
            "    wimcore.open(sys.argv[1], writable=True)\n"
            "except wimcore.LockedError as e:\n"
            "    print('LOCKED', e.name)\n")
    with wimcore.open(path, writable=True) as wim:
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              text=True, check=False)
        assert "LOCKED WIMLIB_ERR_ALREADY_LOCKED" in proc.stdout, proc.stderr
        wim.images[1].name = "Renamed"
        wim.commit()
        # Still locked after the commit swapped in the new file.
        proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                              text=True, check=False)
        assert "LOCKED" in proc.stdout, proc.stderr
    # Released on close: a reader and a new writer are fine.
    with wimcore.open(path, writable=True) as wim:
        assert wim.images[1].name == "Renamed"


def test_read_only_wim_cannot_commit(make_wim: Callable[..., Path]) -> None:
    path = make_wim()
    with wimcore.open(path) as wim:
        wim.images[1].name = "In memory only"
        with pytest.raises(wimcore.ReadOnlyError):
            wim.commit()


def test_closed_wim_and_stale_images_refuse_to_work(make_wim: Callable[..., Path]) -> None:
    path = make_wim(images=3)
    wim = wimcore.open(path, writable=True)
    third = wim.images[3]
    wim.delete_image(1)
    with pytest.raises(wimcore.StaleImageError):
        _ = third.name
    image = wim.images[1]
    wim.close()
    wim.close()  # idempotent
    with pytest.raises(ValueError):
        _ = image.name
    with pytest.raises(ValueError):
        _ = wim.info


def test_image_name_collision_and_bad_options(make_wim: Callable[..., Path], tmp_path: Path,
                                              tree: Path) -> None:
    path = make_wim(images=2)
    with wimcore.open(path, writable=True) as wim:
        with pytest.raises(wimcore.ImageNameCollisionError):
            wim.images[2].name = "Image 1"
        with pytest.raises(wimcore.InvalidParameterError):
            wim.set_output(chunk_size=12345)
    with pytest.raises(wimcore.InvalidParameterError):
        wimcore.Compression.parse("zstd")
    with pytest.raises(wimcore.MissingFileError):
        wimcore.capture(tmp_path / "nope", tmp_path / "n.wim", "N")


def test_strings_with_nul_are_refused(make_wim: Callable[..., Path]) -> None:
    with wimcore.open(make_wim()) as wim:
        with pytest.raises(wimcore.InvalidParameterError):
            wim.images[1].stat("/a\x00b")


def test_many_open_close_cycles_keep_fds_flat(make_wim: Callable[..., Path],
                                              tmp_path: Path) -> None:
    path = make_wim()
    junk = tmp_path / "junk.wim"
    junk.write_bytes(b"MSWIM\0\0\0" + os.urandom(300))

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    for _ in range(20):
        wimcore.open(path).close()
    start = fds()
    for _ in range(300):
        with wimcore.open(path) as wim:
            assert wim.images[1].name
        with pytest.raises(wimcore.WimcoreError):
            wimcore.open(junk)
    assert fds() <= start + 2
