"""The one error handler of the command line: every group ends here on failure.

An error becomes one line on stderr, ``wimcore: error: WHAT (what to do)``, with
libwimlib's detailed line (which path failed and why) folded in, and one of the
documented exit codes (:mod:`wimcore.cli.exitcodes`). When the command's change ledger
(:mod:`wimcore.ledger`) shows that something was already changed, the line says what
was changed and what was not, and the code is ``EXIT_INCOMPLETE``. No traceback is
printed unless ``--debug`` was given. Only
base classes of the core are consulted here, so loading this module stays cheap.
"""

from __future__ import annotations

import errno
import os
import signal
import struct
import sys
from typing import NoReturn

from wimcore import errors, interrupts, ledger
from wimcore.cli.exitcodes import (
    EXIT_BROKEN_PIPE,
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_EXISTS,
    EXIT_INCOMPLETE,
    EXIT_INVALID_WIM,
    EXIT_LOCKED,
    EXIT_MISSING,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    for_signal,
)
from wimcore.cli.getopt import UsageError

#: the exit codes live in the one table (:mod:`wimcore.cli.exitcodes`); re-exported here
__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_CANCELLED",
    "EXIT_ERROR",
    "EXIT_EXISTS",
    "EXIT_INCOMPLETE",
    "EXIT_INVALID_WIM",
    "EXIT_LOCKED",
    "EXIT_MISSING",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "Context",
    "NotSupportedError",
    "current",
    "describe",
    "fail",
    "for_signal",
    "is_broken_pipe",
    "quiet_broken_pipe",
    "split_part",
]

_EXIT_FOR: list[tuple[type[BaseException], int]] = [
    (errors.Cancelled, EXIT_CANCELLED),
    (KeyboardInterrupt, EXIT_CANCELLED),
    (UsageError, EXIT_USAGE),
    (errors.LockedError, EXIT_LOCKED),
    (errors.DestinationExistsError, EXIT_EXISTS),
    (FileExistsError, EXIT_EXISTS),
    (FileNotFoundError, EXIT_MISSING),
    (errors.InvalidWimError, EXIT_INVALID_WIM),
    (errors.ImageNotFoundError, EXIT_NOT_FOUND),
    (errors.PathNotFoundError, EXIT_NOT_FOUND),
    (errors.InvalidParameterError, EXIT_USAGE),
]

_HINTS: list[tuple[type[BaseException], str]] = [
    (errors.LibraryNotFoundError, ""),
    (errors.LockedError, "wait for the other writer to finish, then retry"),
    (errors.DestinationExistsError, "choose another name or remove the existing one"),
    (errors.CorruptDataError, "the file is damaged; get a fresh copy"),
    (errors.InvalidWimError, "check that the file is a complete WIM/ESD/SWM"),
    (errors.ImageNotFoundError, "list the images with: wimcore info WIM"),
    (errors.PathNotFoundError, "list the files with: wimcore dir WIM IMAGE"),
    (errors.ReadOnlyError, "the WIM is read-only or split; export it to a new file instead"),
]

_NOT_FOUND_CODES = {36, 55}  # METADATA_NOT_FOUND, RESOURCE_NOT_FOUND


class NotSupportedError(errors.WimcoreError):
    """A wimlib-imagex or DISM option wimcore does not offer; the message names why and
    what to use instead."""


class Context:
    """What the handler knows about the running command: the WIMs it read, --debug."""

    def __init__(self) -> None:
        self.debug = False
        self.quiet = False
        self.json = False
        self.wims: list[str] = []
        self.refs: list[str] = []
        self.warnings: list[str] = []


current = Context()


def split_part(path: str) -> tuple[int, int] | None:
    """(part number, total parts) from a WIM header when the file is part of a split WIM."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(48)
    except OSError:
        return None
    if len(head) < 48 or head[:8] not in (b"MSWIM\x00\x00\x00", b"WLPWM\x00\x00\x00"):
        return None
    part, total = struct.unpack_from("<HH", head, 40)
    return (part, total) if total > 1 else None


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _errno_of(exc: BaseException) -> int | None:
    if isinstance(exc, OSError) and exc.errno:
        return exc.errno
    detail = getattr(exc, "detail", None) or ""
    if "No space left on device" in detail:
        return errno.ENOSPC
    if "Broken pipe" in detail:
        return errno.EPIPE
    return None


def describe(exc: BaseException, ctx: Context | None = None) -> tuple[str, int]:
    """The one-line message and the exit code for an exception."""
    ctx = ctx or current
    code = next((c for cls, c in _EXIT_FOR if isinstance(exc, cls)), EXIT_ERROR)
    err = _errno_of(exc)
    if isinstance(exc, KeyboardInterrupt):
        message = "cancelled"
    elif isinstance(exc, errors.LibraryNotFoundError):
        message = str(exc)
    elif isinstance(exc, errors.DestinationExistsError):
        message = f"{exc.path}: already exists"
    elif isinstance(exc, errors.WimlibError):
        message = _first_line(exc)
        if exc.detail:
            message += f"; libwimlib: {exc.detail}"
    elif isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}"
    else:
        message = _first_line(exc)
    hint = next((h for cls, h in _HINTS if isinstance(exc, cls)), "")
    if isinstance(exc, errors.WimlibError) and exc.code in _NOT_FOUND_CODES:
        for wim in ctx.wims:
            part = split_part(wim)
            if part is not None:
                number, total = part
                if ctx.refs:
                    hint = (f"{wim} is part {number} of a split WIM of {total} parts: check "
                            "that --ref names all the other parts")
                else:
                    hint = (f"{wim} is part {number} of a split WIM of {total} parts: give "
                            "the other parts with --ref")
                code = EXIT_ERROR
                break
    if err == errno.ENOSPC:
        message, hint, code = f"no space left on device ({message})", "", EXIT_ERROR
    partial = getattr(exc, "partial_output", None)
    interrupted = isinstance(exc, (errors.Cancelled, KeyboardInterrupt))
    if interrupted:
        hint = ""
        signum = interrupts.signal_of(exc)
        what = "stopped by SIGTERM" if signum == signal.SIGTERM else "cancelled"
        code = for_signal(signum)
        if partial:
            message = f"{what}; partial files may remain in {partial}"
            code = EXIT_INCOMPLETE
        elif not getattr(exc, "changed_nothing", True):
            message = what
        else:
            message = f"{what}; nothing was changed"
    elif partial:
        hint = (hint + "; " if hint else "") + f"partial files may remain in {partial}"
        code = EXIT_INCOMPLETE
    led = ledger.active()
    if led is not None and led.passed:  # past the point of no return: say what changed
        if interrupted:
            message = f"{what} after the point of no return"
        message += f"; {led.operation}: {led.describe()}"
        hint, code = "", EXIT_INCOMPLETE
    if isinstance(exc, UsageError):
        hint = f"see: wimcore {exc.command} --help" if exc.command else "see: wimcore --help"
    message, hint = _user_paths(exc, message), _user_paths(exc, hint)
    if not isinstance(exc, (errors.WimcoreError, OSError, KeyboardInterrupt, UsageError)):
        message = f"internal error: {type(exc).__name__}: {message}"
        hint = "run with --debug for the traceback"
    return message + (f" ({hint})" if hint else ""), code


def _user_paths(exc: BaseException, text: str) -> str:
    """``text`` naming what the user knows: the final names of our temporary files and
    folders, and what a removed folder was (``exc.path_names``, set where it happened)."""
    from wimcore.atomic import final_names

    for old, new in sorted(getattr(exc, "path_names", []), key=lambda p: -len(p[0])):
        text = text.replace(old, new)
    return final_names(text)


def is_broken_pipe(exc: BaseException) -> bool:
    """True for a write to a closed pipe (the reader, e.g. ``head``, went away)."""
    return isinstance(exc, BrokenPipeError) or _errno_of(exc) == errno.EPIPE


def quiet_broken_pipe() -> NoReturn:
    """End quietly after the reader closed our standard output."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    os._exit(EXIT_BROKEN_PIPE)


def fail(exc: BaseException, ctx: Context | None = None) -> NoReturn:
    """Print the one line for ``exc`` (and the traceback with --debug) and exit."""
    interrupts.settle()  # the outcome is decided: a signal now must not cut the message
    ctx = ctx or current
    if is_broken_pipe(exc):
        quiet_broken_pipe()
    if ctx.debug:
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)
    message, code = describe(exc, ctx)
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    print(f"wimcore: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)
