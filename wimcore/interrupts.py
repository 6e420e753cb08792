"""SIGINT and SIGTERM as one cancellation: both raise :class:`Interrupted` in the main thread.

The command line installs :func:`install` so that a ``kill`` (SIGTERM, as systemd and
``timeout`` send) unwinds a long operation exactly as Ctrl-C does: the same cleanup
runs, the report and log are written, and the message says what was changed. A second
signal while that cleanup runs is reported and ignored (the cleanup is short and keeps
the record honest); a third one interrupts the cleanup too.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Interrupted(KeyboardInterrupt):
    """A long operation was stopped by a signal (SIGINT or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


#: The first signal received since :func:`install` (None: none).
received: int | None = None
_count = 0
_depth = 0  # nesting of deferred() blocks in the main thread
_pending: int | None = None  # a signal received inside deferred(), raised at its end


_settled = False  # the command has said its last word: later signals change nothing
_installed = False  # install() ran in this process (the command line, not a library user)


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    global received, _count, _pending
    if _settled:
        return
    _count += 1
    if received is None:
        received = signum
    if _depth and _count != 2:
        _pending = _pending or signum
        return
    if _count == 2:
        try:
            print("wimcore: stopping: finishing the record of what was changed (signal "
                  "again to stop at once)", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        return
    raise Interrupted(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal back until the block ends: a change and its record (a rename and the
    ledger entry, a result and its catalog row) happen both or neither."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
    if _depth == 0 and _pending is not None:
        signum, _pending = _pending, None
        raise Interrupted(signum)


def settle() -> None:
    """The command is done (its outcome decided and said): a signal from now on is
    ignored, so the exit code stays the one that tells what happened. The signals are
    ignored by the system itself, because Python gives its own handlers back to the
    default action (death by the signal) while it shuts down."""
    global _settled
    _settled = True
    if _installed and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) is _on_signal:
                signal.signal(sig, signal.SIG_IGN)


def install() -> None:
    """Make SIGINT and SIGTERM raise :class:`Interrupted` (main thread only)."""
    global received, _count, _settled, _installed
    received, _count, _settled, _installed = None, 0, False, True
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:  # nohup'd / background: keep ignoring
            signal.signal(sig, _on_signal)


def signal_of(exc: BaseException) -> int:
    """The signal behind a cancellation (SIGINT for a plain Ctrl-C or a cancel)."""
    if isinstance(exc, Interrupted):
        return exc.signum
    return received if received is not None else signal.SIGINT
