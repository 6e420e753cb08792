"""Parent side of the kill tests: run an op of :mod:`tests.reliability.ops` to the end, or
hold it at a chosen stream-write event and SIGKILL it there, checking the child's protocol
(READY, HOLD, EVENTS, DONE) and its exit status at every step."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass

from tests.conftest import REPO

CHILD_TIMEOUT = 600.0  # generous: a loaded machine is slow, a hung child still fails


def spawn(*args: str) -> subprocess.Popen[str]:
    """Start ``python -m tests.reliability.ops ARGS...`` with pipes for its output."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "tests.reliability.ops", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            cwd=REPO)


@dataclass(frozen=True)
class Completed:
    """A run that finished: its stream-write events and how many came before the last byte."""

    events: int
    partial: int


def run_to_completion(*args: str) -> Completed:
    """Run an op without a kill; fail unless it exits 0 having said READY, EVENTS and DONE."""
    proc = spawn(*args)
    out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    lines = out.splitlines()
    assert proc.returncode == 0, f"ops {args} exited {proc.returncode}: {out}{err}"
    assert lines and lines[0] == "READY", f"ops {args} did not begin writing: {out}{err}"
    assert lines[-1] == "DONE", f"ops {args} did not finish: {out}{err}"
    counts = [line for line in lines if line.startswith("EVENTS ")]
    assert len(counts) == 1, f"ops {args} did not count its writes: {out}"
    events, partial = map(int, counts[0].split()[1:])
    return Completed(events, partial)


def _line_reader(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """The child's stdout lines, read by a thread (None at the end), so that a wait for a
    line can have a deadline."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _next_line(lines: queue.Queue[str | None], proc: subprocess.Popen[str], what: str) -> str:
    try:
        line = lines.get(timeout=CHILD_TIMEOUT)
    except queue.Empty:
        proc.kill()
        proc.wait(timeout=CHILD_TIMEOUT)
        raise AssertionError(f"the child said no {what} within {CHILD_TIMEOUT:.0f} s") from None
    return "" if line is None else line


def kill_mid_write(hold: int, *args: str) -> str:
    """Run an op held at its ``hold``-th stream-write event and SIGKILL it there.

    Fails when the child exits on its own (an error, or a write with fewer events than
    asked), says something other than READY then HOLD, or was not ended by the kill.
    Returns the HOLD line (``HOLD K DONE/TOTAL``).
    """
    proc = spawn(f"hold={hold}", *args)
    lines = _line_reader(proc)
    ready = _next_line(lines, proc, "READY")
    held = _next_line(lines, proc, f"HOLD {hold}") if ready == "READY" else ""
    if ready != "READY" or not held.startswith(f"HOLD {hold} "):
        proc.kill()
        proc.wait(timeout=CHILD_TIMEOUT)
        assert proc.stderr is not None
        raise AssertionError(f"ops hold={hold} {args}: expected READY then HOLD {hold}, got "
                             f"{ready!r}, {held!r} (exit {proc.returncode}): "
                             f"{proc.stderr.read()[-2000:]}")
    done, total = map(int, held.split()[2].split("/"))
    assert done < total, f"held at {held!r}: the write was already complete"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=CHILD_TIMEOUT)
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL, (
        f"ops {args} ended with {proc.returncode}, not by the kill: {err}")
    return held
