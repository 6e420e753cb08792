"""``scripts/setup.sh`` waits (bounded) for another apt-get/dpkg instead of failing at once.

The waiting is ``scripts/wait_apt_lock.py``, run here against lock files of the test's
own, held with the same fcntl locks apt and dpkg take (by this process: the script is
another process, so it sees them held).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "wait_apt_lock.py"


def _start(locks: list[Path], wait: str) -> subprocess.Popen[str]:
    env = {**os.environ, "WIMCORE_APT_LOCKS": ":".join(map(str, locks)),
           "WIMCORE_APT_LOCK_WAIT": wait, "WIMCORE_APT_LOCK_POLL": "0.05"}
    return subprocess.Popen([sys.executable, str(SCRIPT)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _hold(path: Path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return fd


def test_free_locks_go_on_at_once(tmp_path: Path) -> None:
    locks = [tmp_path / "lock-frontend", tmp_path / "absent"]
    locks[0].touch()
    proc = _start(locks, "60")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and out == "" and err == ""


def test_held_lock_is_waited_for_then_used(tmp_path: Path) -> None:
    lock = tmp_path / "lock-frontend"
    fd = _hold(lock)
    proc = _start([lock], "600")
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the script says it waits, and for what
        assert f"another apt-get/dpkg holds {lock}" in line and "up to 600 s" in line
        assert proc.poll() is None  # still waiting while the lock is held
    finally:
        os.close(fd)  # the other apt-get finishes
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "lock is free; going on" in out


def test_lock_held_past_the_limit_is_a_clear_error(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    fd = _hold(lock)
    try:
        proc = _start([lock], "0.3")
        _out, err = proc.communicate(timeout=60)
    finally:
        os.close(fd)
    assert proc.returncode == 1
    assert f"{lock} is still held" in err and "run scripts/setup.sh again" in err


def test_setup_waits_before_every_apt_get() -> None:
    """Each apt-get of setup.sh comes after the wait and carries apt's own lock timeout."""
    lines = (ROOT / "scripts" / "setup.sh").read_text().splitlines()
    apt = [n for n, line in enumerate(lines) if "apt-get " in line and "$SUDO" in line]
    assert apt
    for n in apt:
        assert "DPkg::Lock::Timeout=" in lines[n], lines[n]
        before = [line for line in lines[:n] if line.strip()]
        assert any("wait_apt_lock.py" in line for line in before[-2:]), lines[n]
