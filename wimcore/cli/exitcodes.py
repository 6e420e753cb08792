"""The one table of exit codes every ``wimcore`` command uses (``wimcore --help`` shows it).

The rule a script can rely on: every code other than 0 and :data:`EXIT_INCOMPLETE`
means that nothing was changed. :data:`EXIT_INCOMPLETE` means that something was
changed but not everything the command planned (an incomplete run, or a failure or
interrupt after the command's point of no return); its message names what changed.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_ERROR = 1  # failed; nothing was changed
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_INVALID_WIM = 4
EXIT_NOT_FOUND = 5
EXIT_EXISTS = 6
EXIT_LOCKED = 7
EXIT_INCOMPLETE = 10  # something was changed, not everything planned
EXIT_CANCELLED = 128 + signal.SIGINT  # 130: interrupted (Ctrl-C); nothing was changed
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: stopped by SIGTERM; nothing was changed
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # 141: the reader of stdout went away (``| head``)

#: (code, name, meaning): the table of ``--help``, the docs and the tests.
TABLE: tuple[tuple[int, str, str], ...] = (
    (EXIT_OK, "ok", "done as asked (or there was nothing to do)"),
    (EXIT_ERROR, "failed", "failed; nothing was changed"),
    (EXIT_USAGE, "usage", "wrong command line; nothing was changed"),
    (EXIT_MISSING, "missing input", "an input file or folder does not exist"),
    (EXIT_INVALID_WIM, "invalid WIM", "an input is not a (complete) WIM/ESD/SWM"),
    (EXIT_NOT_FOUND, "not found", "no such image, or no such path in the image"),
    (EXIT_EXISTS, "exists", "the destination already exists"),
    (EXIT_LOCKED, "locked", "another process is writing the WIM"),
    (EXIT_INCOMPLETE, "incomplete", "something was changed, not all that was planned (the "
                                    "message says what)"),
    (EXIT_CANCELLED, "interrupted", "Ctrl-C (SIGINT) before anything was changed"),
    (EXIT_BROKEN_PIPE, "broken pipe", "the reader of the output went away (| head)"),
    (EXIT_TERMINATED, "terminated", "SIGTERM before anything was changed"),
)


def for_outcome(*, changed: bool, complete: bool) -> int:
    """The code of a command that ran to its end: 0 when it did all it planned, else
    :data:`EXIT_INCOMPLETE` when it changed something, else :data:`EXIT_ERROR`."""
    if complete:
        return EXIT_OK
    return EXIT_INCOMPLETE if changed else EXIT_ERROR


def for_signal(signum: int) -> int:
    """The code of a command interrupted by ``signum`` before it changed anything."""
    return EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_CANCELLED


def help_epilog() -> str:
    """The table as ``wimcore --help`` prints it."""
    lines = ["Exit codes (every code but 0 and 10 means nothing was changed):"]
    lines += [f"  {code:>3}  {name:<14} {meaning}" for code, name, meaning in TABLE]
    return "\n".join(lines) + "\n"
