"""Catch what a C library prints on file descriptor 2 during one call.

libmspack reports damaged cabinets through its system's ``message`` hook, which writes to
the C ``stderr``. The hook is variadic, which cffi cannot supply, so instead fd 2 points
at a private unlinked file for the length of each libmspack call, and the text written
there is read back afterwards.

fd 2 is shared by every thread of the process, hence:

- one capture at a time (a process-wide lock): libmspack calls from several threads run
  one after another;
- whatever other threads (or child processes they start) write to fd 2 during the window
  lands in the same file. The caller's ``keep`` test picks the lines that are its own;
  every other byte is written back to the real stderr when the window closes: late, but
  complete and in order. Leftovers of a window cut short, or of a child process that
  kept the file as its stderr, are written back when the next window opens.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_sink_fd: int | None = None
_sink_pid = 0


def _reset_after_fork() -> None:
    """A forked child gets its own lock and file (the parent's file description is shared)."""
    global _lock, _sink_fd
    _lock = threading.Lock()
    _sink_fd = None


os.register_at_fork(after_in_child=_reset_after_fork)


def _sink() -> int:
    """The process's capture file: unlinked, and append-only so that a truncate rewinds it."""
    global _sink_fd, _sink_pid
    if _sink_fd is None or _sink_pid != os.getpid():
        import fcntl
        import tempfile

        fd, name = tempfile.mkstemp(prefix="wimcore-stderr-", suffix=".log")
        os.unlink(name)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
        _sink_fd, _sink_pid = fd, os.getpid()
    return _sink_fd


def _take(sink: int) -> bytes:
    """Everything written to the capture file since the last take; the file is emptied."""
    size = os.fstat(sink).st_size
    if size == 0:
        return b""
    data = os.pread(sink, size, 0)
    os.ftruncate(sink, 0)
    return data


def _write_all(fd: int, data: bytes) -> None:
    """Write ``data`` to ``fd``; a stderr that is gone (closed pipe) is not an error here."""
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError:
        pass


def _split(data: bytes, keep: Callable[[bytes], bool]) -> tuple[list[bytes], bytes]:
    """(the lines ``keep`` claims, without line ends; every other byte, in order)."""
    kept: list[bytes] = []
    others = bytearray()
    for line in data.splitlines(keepends=True):
        body = line.rstrip(b"\r\n")
        if line.endswith(b"\n") and keep(body):
            kept.append(body)
        else:
            others += line
    return kept, bytes(others)


def call_capturing(keep: Callable[[bytes], bool], fn: Callable[..., Any],
                   *args: Any) -> tuple[Any, list[bytes]]:
    """``fn(*args)`` with fd 2 captured: (its result, the lines ``keep`` claimed).

    Lines not claimed go back to the real stderr as soon as fd 2 is restored, which
    happens in ``finally`` (also on KeyboardInterrupt; the claimed lines of a call cut
    short that way are dropped). Without an open fd 2 ``fn`` simply runs.
    """
    with _lock:
        try:
            sys.stderr.flush()  # Python's own pending text goes out before the window
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:
            return fn(*args), []
        sink: int | None = None
        kept: list[bytes] = []
        try:
            sink = _sink()
            _write_all(saved, _take(sink))  # leftovers of an earlier window
            os.dup2(sink, 2)
            result = fn(*args)
        finally:
            os.dup2(saved, 2)  # first: fd 2 is back before anything else can fail
            try:
                if sink is not None:
                    kept, others = _split(_take(sink), keep)
                    _write_all(saved, others)
            finally:
                os.close(saved)
    return result, kept
