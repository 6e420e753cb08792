"""Apply is atomic: Ctrl-C or SIGKILL during ``apply`` into a new directory leaves nothing under
the final name; into an existing directory the message says partial files may remain there.

The WIM is fed through a pipe (``apply -``) so the test decides when the extraction is
under way: half the stream, wait for the first progress line, signal, then the rest.
"""

from __future__ import annotations

import random
import signal
import subprocess
from pathlib import Path

import pytest

import wimcore
from tests.cli.conftest import wimcore_exe


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("pipe")
    src = root / "src"
    src.mkdir()
    rng = random.Random(3)
    for i in range(60):
        (src / f"f{i:02d}.bin").write_bytes(rng.randbytes(60_000))
    with wimcore.create("none") as wim:
        wim.add_image(src, "P")
        wim.write(root / "p.wim", pipable=True)
    return (root / "p.wim").read_bytes()


def _start_and_signal(stream: bytes, target: Path, sig: int) -> tuple[int, str]:
    proc = subprocess.Popen([wimcore_exe(), "apply", "-", "1", str(target)],
                            stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    half = len(stream) // 2
    proc.stdin.write(stream[:half])
    proc.stdin.flush()
    line = proc.stderr.readline().decode()
    assert "apply:" in line, line  # the extraction is under way
    proc.send_signal(sig)
    try:
        proc.stdin.write(stream[half:])
        proc.stdin.close()
    except BrokenPipeError:
        pass
    rest = proc.stderr.read().decode()
    return proc.wait(timeout=60), rest


def test_ctrl_c_into_a_new_directory_leaves_nothing(stream: bytes, tmp_path: Path) -> None:
    target = tmp_path / "new"
    code, rest = _start_and_signal(stream, target, signal.SIGINT)
    assert code == 130, rest
    assert "cancelled" in rest and not target.exists()
    assert [p for p in tmp_path.iterdir()] == []


def test_sigkill_into_a_new_directory_leaves_nothing_under_the_name(stream: bytes,
                                                                   tmp_path: Path) -> None:
    target = tmp_path / "new"
    code, _ = _start_and_signal(stream, target, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert not target.exists()
    # The hidden staging folder of the killed process is swept by the next apply.
    ok = subprocess.run([wimcore_exe(), "apply", "-", "1", str(target)], input=stream,
                        capture_output=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new"]
    assert len(list(target.iterdir())) == 60


def test_ctrl_c_into_an_existing_directory_says_where(stream: bytes, tmp_path: Path) -> None:
    target = tmp_path / "existing"
    target.mkdir()
    code, rest = _start_and_signal(stream, target, signal.SIGINT)
    assert code == 10  # incomplete: files may have been written into the folder
    assert f"partly changed: {target} (partial files may remain)" in rest
    assert "nothing was changed" not in rest


def test_library_apply_failure_leaves_no_directory(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("a")
    wim_path = tmp_path / "a.wim"
    wimcore.capture(src, wim_path, "A")

    def stop(event: wimcore.ProgressEvent) -> bool:
        return event.kind is not wimcore.ProgressKind.EXTRACT_STREAMS

    with wimcore.open(wim_path) as wim, pytest.raises(wimcore.Cancelled):
        wim.images[1].apply(tmp_path / "out", progress=stop)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.wim", "src"]
    (tmp_path / "x").mkdir()
    with wimcore.open(wim_path) as wim, pytest.raises(wimcore.Cancelled) as info:
        wim.images[1].extract(["/a.txt"], tmp_path / "x", progress=stop)
    assert getattr(info.value, "partial_output", None) == str(tmp_path / "x")
