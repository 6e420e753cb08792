"""Kills, cancels, full disks and concurrent writers: the input stays byte-identical and no
incomplete file ever appears under the final name."""

from __future__ import annotations

import base64
import gc
import os
import random
import resource
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

import wimcore
from tests.conftest import imagex, sha256
from tests.reliability.kills import kill_mid_write, run_to_completion, spawn

KILL_ROUNDS = int(os.environ.get("WIMCORE_KILL_ROUNDS", "6"))


@pytest.fixture(scope="module")
def slow_wim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A WIM whose LZMS recompression takes a second or two with one thread."""
    root = tmp_path_factory.mktemp("slow")
    src = root / "src"
    src.mkdir()
    rng = random.Random(7)
    for i in range(6):
        (src / f"f{i}.txt").write_bytes(base64.b64encode(rng.randbytes(1_200_000)))
    wimcore.capture(src, root / "slow.wim", "Slow", compression="xpress")
    return root / "slow.wim"


def _verifies(path: Path) -> bool:
    try:
        wimcore.verify(path)
    except wimcore.WimcoreError:
        return False
    return True


def _temp_litter(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if ".wimcore-tmp" in p.name]


def _op_args(op: str, wim: Path, dest: Path) -> list[str]:
    return [op, str(wim), str(dest)] if op == "export" else [op, str(wim)]


@pytest.mark.parametrize("op", ["export", "commit", "optimize"])
def test_sigkill_at_random_points(slow_wim: Path, tmp_path: Path, op: str) -> None:
    """SIGKILL at random stream-write events: every kill lands mid-write (the child holds
    there), leaves the input byte-identical, no output under the final name and only a
    temporary that the next writer sweeps; the same op run to the end gives a whole WIM."""
    rng = random.Random(zlib.crc32(op.encode()))
    original = sha256(slow_wim)

    # One run to the end: the outcome a kill must never half-produce, and how many write
    # events there are to choose kill points from.
    work = tmp_path / "whole"
    work.mkdir()
    wim = work / "in.wim"
    shutil.copy(slow_wim, wim)
    dest = work / "out.wim"
    whole = run_to_completion(*_op_args(op, wim, dest))
    assert whole.partial >= 2, f"{op}: too few write events to kill between: {whole}"
    result = dest if op == "export" else wim
    assert _verifies(result)
    if op != "export":
        assert sha256(wim) != original  # rewritten (recompressed to LZMS)
    assert _temp_litter(work) == []
    outcomes = {"completed": 1, "mid-write": 0}

    for n in range(KILL_ROUNDS):
        work = tmp_path / f"round{n}"
        work.mkdir()
        wim = work / "in.wim"
        shutil.copy(slow_wim, wim)
        dest = work / "out.wim"
        kill_mid_write(rng.randint(2, whole.partial), *_op_args(op, wim, dest))
        assert sha256(wim) == original, f"{op}: round {n} changed the input"
        assert not dest.exists(), f"{op}: round {n} left an output under the final name"
        litter = _temp_litter(work)
        assert litter, f"{op}: round {n} was killed mid-write but left no temporary"
        # The leftover temporary never carries the final name; the next writer sweeps it.
        if op == "export":
            wimcore.export(wim, 1, dest)
        else:
            with wimcore.open(wim, writable=True) as w:
                w.commit()
        assert _temp_litter(work) == []
        outcomes["mid-write"] += 1
    assert outcomes == {"completed": 1, "mid-write": KILL_ROUNDS}


@pytest.mark.parametrize("op", ["export", "commit", "optimize"])
def test_out_of_space_is_a_clear_error(slow_wim: Path, tmp_path: Path, op: str) -> None:
    wim = tmp_path / "in.wim"
    shutil.copy(slow_wim, wim)
    original = sha256(wim)
    dest = tmp_path / "out.wim"
    limit = f"fsize={wim.stat().st_size // 3}"
    args = [limit, op, str(wim)] + ([str(dest)] if op == "export" else [])
    proc = spawn(*args)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, (out, err)
    assert "ERROR FileSystemError" in out, out
    assert sha256(wim) == original
    assert not dest.exists()
    assert _temp_litter(tmp_path) == []


def test_tmpfs_full(slow_wim: Path, tmp_path: Path) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small tmpfs")
    size_kib = int(slow_wim.stat().st_size * 1.3) // 1024  # room for the WIM, not a rewrite
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(mnt)],
                          capture_output=True, check=False)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount tmpfs here: {proc.stderr.decode().strip()}")
    try:
        wim = mnt / "in.wim"
        shutil.copy(slow_wim, wim)
        original = sha256(wim)
        with wimcore.open(wim, writable=True) as w:
            w.images[1].name = "Changed"
            with pytest.raises(wimcore.FileSystemError) as info:
                w.commit()
        assert "space" in str(info.value).lower() or "write" in str(info.value).lower()
        assert sha256(wim) == original
        assert _temp_litter(mnt) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_two_writers_one_locked_neither_corrupts(slow_wim: Path, tmp_path: Path) -> None:
    wim = tmp_path / "shared.wim"
    shutil.copy(slow_wim, wim)
    go = tmp_path / "go"
    first = spawn("lock-and-commit", str(wim), "First", str(go))
    assert first.stdout is not None
    assert first.stdout.readline().strip() == "LOCKED"
    second = spawn("lock-and-commit", str(wim), "Second")
    out2, _ = second.communicate(timeout=120)
    go.touch()
    out1, _ = first.communicate(timeout=120)
    assert "ERROR LockedError" in out2
    assert "DONE" in out1
    imagex("verify", wim)
    with wimcore.open(wim) as w:
        assert w.images[1].name == "First"


def test_cancel_optimize_keeps_input(slow_wim: Path, tmp_path: Path) -> None:
    wim = tmp_path / "in.wim"
    shutil.copy(slow_wim, wim)
    original = sha256(wim)

    def stop(event: wimcore.ProgressEvent) -> bool:
        return not (event.kind is wimcore.ProgressKind.WRITE_STREAMS and event.done_bytes)

    with pytest.raises(wimcore.Cancelled):
        wimcore.optimize(wim, compression="lzms", threads=1, progress=stop)
    assert sha256(wim) == original
    assert _temp_litter(tmp_path) == []


def test_open_close_cycles_keep_memory_and_fds_flat(slow_wim: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.wim"
    junk.write_bytes(slow_wim.read_bytes()[:300])
    cycles = int(os.environ.get("WIMCORE_OPEN_CYCLES", "10000"))
    failures = cycles // 10

    def rss_kib() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)

    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    for _ in range(500):  # warm up allocator pools and caches
        wimcore.open(slow_wim).close()
    gc.collect()  # pipes of earlier tests' finished subprocesses close now, not mid-count
    rss0, fd0 = rss_kib(), fds()
    for _ in range(cycles):
        with wimcore.open(slow_wim) as wim:
            _ = wim.info.image_count
    for _ in range(failures):
        with pytest.raises(wimcore.InvalidWimError):
            wimcore.open(junk)
    grown = rss_kib() - rss0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\n{cycles} open/close + {failures} failed opens: RSS +{grown} KiB, "
          f"fds {fd0} -> {fds()}, peak RSS {peak} KiB")
    gc.collect()
    # a leak grows the table; another test's reader thread may still close its pipe
    assert fds() <= fd0
    assert grown < 8 * 1024
