"""libmspack's own messages: kept off fd 2, raised as CabinetWarning or folded into the
error; fd 2 restored on every exit, and other threads' writes to it passed through."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import pytest
from pkgfactory import make_cab

from wimcore import WimcoreWarning
from wimcore.packages.cab import Cabinet
from wimcore.packages.errors import CabinetWarning, CorruptCabinetError

REPO = Path(__file__).resolve().parents[2]


def odd_version_cab(path: Path) -> Path:
    """A sound cabinet whose header claims version 7.5: libmspack reads it and says so."""
    data = bytearray(make_cab({"a.txt": b"alpha " * 400, "b.txt": b"beta"}))
    data[24:26] = b"\x05\x07"  # versionMinor, versionMajor (libmspack wants 1.3)
    path.write_bytes(data)
    return path


def oversized_member_cab(path: Path) -> Path:
    """A cabinet whose first member claims 1 GiB: more than its folder can hold."""
    data = bytearray(make_cab({"a.txt": b"small", "b.txt": b"also small"}))
    first_file = struct.unpack_from("<I", data, 16)[0]  # coffFiles
    struct.pack_into("<I", data, first_file, 1 << 30)
    path.write_bytes(data)
    return path


def test_a_message_on_a_readable_cabinet_is_a_warning(tmp_path: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    cab = odd_version_cab(tmp_path / "odd.cab")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with Cabinet(cab) as c:
            c.extract(tmp_path / "out")
    assert (tmp_path / "out" / "a.txt").read_bytes() == b"alpha " * 400
    found = [w.message for w in caught if isinstance(w.message, CabinetWarning)]
    assert [str(m) for m in found] == [f"{cab}: libmspack: cabinet version is not 1.3"]
    assert isinstance(found[0], WimcoreWarning) and found[0].path == str(cab)
    assert capfd.readouterr().err == ""  # nothing reached the real fd 2


def test_a_message_on_a_failed_call_is_the_error_detail(tmp_path: Path,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    cab = oversized_member_cab(tmp_path / "big.cab")
    with Cabinet(cab) as c, pytest.raises(CorruptCabinetError) as err:
        c.extract(tmp_path / "out")
    assert err.value.detail == 'file "a.txt" cannot be extracted, cabinet set is incomplete'
    assert str(err.value).endswith(f"; libmspack: {err.value.detail}")
    assert not list((tmp_path / "out").iterdir())
    assert capfd.readouterr().err == ""


_CHILD = textwrap.dedent("""
    import os, sys, threading, time
    from wimcore.packages.cab import Cabinet
    from wimcore.errors import WimcoreError

    fifo, mode = sys.argv[1], sys.argv[2]
    real = os.readlink("/proc/self/fd/2")

    def other_thread():
        while os.readlink("/proc/self/fd/2") == real:  # wait for the capture window
            time.sleep(0.001)
        os.write(2, b"raw bytes from another thread\\n")
        print("python text from another thread", file=sys.stderr, flush=True)
        with open(fifo, "wb"):  # lets libmspack's open return; it reads nothing
            pass

    if mode == "thread":
        threading.Thread(target=other_thread).start()
    try:
        Cabinet(fifo)
    except WimcoreError as exc:
        print("typed:", type(exc).__name__)
    except KeyboardInterrupt:
        print("interrupted")
    print("fd 2 restored:", os.readlink("/proc/self/fd/2") == real, flush=True)
""")


def _child(fifo: Path, mode: str) -> subprocess.Popen[str]:
    os.mkfifo(fifo)  # libmspack's open blocks on it: a call that stays inside the window
    return subprocess.Popen([sys.executable, "-c", _CHILD, str(fifo), mode], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _unblock(fifo: Path) -> None:
    """Open the FIFO's writing end without blocking, so that a stuck child can go on."""
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


def test_other_threads_writes_to_fd2_are_passed_through(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.cab"
    proc = _child(fifo, "thread")
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        _unblock(fifo)
        proc.kill()
    assert out.splitlines() == ["typed: CorruptCabinetError", "fd 2 restored: True"], err
    assert "raw bytes from another thread\n" in err
    assert "python text from another thread\n" in err


def test_ctrl_c_inside_a_libmspack_call_restores_fd2(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.cab"
    proc = _child(fifo, "interrupt")
    try:
        fd2 = Path(f"/proc/{proc.pid}/fd/2")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "wimcore-stderr-" not in _link(fd2):
            time.sleep(0.005)  # wait until the child is inside the window
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        _unblock(fifo)
        proc.kill()
    assert out.splitlines() == ["interrupted", "fd 2 restored: True"], err
    assert "Traceback" not in err


def _link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""
