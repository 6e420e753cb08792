"""Free-space and writability messages name the folder that is short, a realistic size
and the option that moves it; a full disk during ``sample create`` names the path.

Small or read-only file systems are real tmpfs mounts in a private mount namespace
(``unshare -m``, root or a user namespace): the host's mounts are not touched, and the
mount ends with the command.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import wimcore_exe
from tests.conftest import tree_hashes


def _can_mount(tmp_path: Path) -> bool:
    probe = tmp_path / "probe"
    probe.mkdir()
    if shutil.which("unshare") is None:
        return False
    proc = subprocess.run(["unshare", "-m", "sh", "-c",
                           f"mount -t tmpfs -o size=64k none {probe}"], capture_output=True)
    return proc.returncode == 0


def in_mount(folder: Path, options: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``wimcore ARGS`` with a tmpfs (``options``) mounted on ``folder``, privately."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", f'mount -t tmpfs -o {options} none "{folder}" && '
         'exec "$@"', "sh", wimcore_exe(), *map(str, args)],
        capture_output=True, text=True, timeout=600)


@pytest.fixture
def mounts(tmp_path: Path) -> None:
    if not _can_mount(tmp_path):
        pytest.skip("needs unshare -m and tmpfs mounts (root or user namespaces)")


def _service(media: Path, tmp_path: Path, *extra: str | Path) -> list[str | Path]:
    return ["media", "service", media, "--updates", media / "updates", "--backend",
            "staged", "--allow-incomplete", *extra]


def test_iso_folder_short_of_space_is_named_with_a_realistic_size(
        mounts: None, media: Path, tmp_path: Path) -> None:
    before = tree_hashes(media)
    iso_dir = tmp_path / "isodir"
    proc = in_mount(iso_dir, "size=1m", *_service(media, tmp_path, "--iso",
                                                  iso_dir / "out.iso", "--work-dir",
                                                  tmp_path / "work"))
    assert proc.returncode != 0
    err = proc.stderr
    assert f"{iso_dir}: not enough free space in the ISO's folder" in err, err
    assert "--iso PATH" in err and "--work-dir" not in err
    needed = int(re.search(r"needs about [\d.,]+ MiB \(([\d,]+) bytes\)", err)
                 .group(1).replace(",", ""))  # type: ignore[union-attr]
    media_bytes = sum(f.stat().st_size for f in media.rglob("*") if f.is_file())
    assert media_bytes < needed < 2 * media_bytes + 4 * 2**20  # an ISO, not ISO + 64 MiB
    assert tree_hashes(media) == before and not (tmp_path / "work").exists()


def test_read_only_iso_folder_is_not_writable_not_short_of_space(
        mounts: None, media: Path, tmp_path: Path) -> None:
    before = tree_hashes(media)
    iso_dir = tmp_path / "ro"
    proc = in_mount(iso_dir, "ro,size=64m", *_service(media, tmp_path, "--iso",
                                                      iso_dir / "out.iso"))
    assert proc.returncode != 0
    assert f"{iso_dir}: the ISO's folder is not writable (read-only file system)" \
        in proc.stderr, proc.stderr
    assert "free space" not in proc.stderr
    assert tree_hashes(media) == before


def test_read_only_work_folder_is_named(mounts: None, media: Path, tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    proc = in_mount(ro, "ro,size=64m", *_service(media, tmp_path, "--work-dir", ro / "w"))
    assert proc.returncode != 0
    assert f"{ro / 'w'}: the work folder is not writable (read-only file system); choose " \
        "another --work-dir" in proc.stderr, proc.stderr


def test_sample_create_on_a_full_disk_names_the_path(mounts: None, tmp_path: Path) -> None:
    full = tmp_path / "full"
    proc = in_mount(full, "size=1m", "sample", "create", full / "media")
    assert proc.returncode != 0
    assert f"{full / 'media'}: No space left on device" in proc.stderr, proc.stderr
    assert ".wimcore-sample-" not in proc.stderr
