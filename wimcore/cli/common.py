"""Helpers every click command shares: options state, the error guard, JSON output, progress.

They live below :mod:`wimcore.cli.app` and the command modules (``set``, ``package``,
``media``, ``fleet``, ...) so that every import points down: ``app`` loads the command
modules, and the command modules load these helpers, never ``app``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wimcore.cli import errors as cli_errors
from wimcore.cli.errors import current

if TYPE_CHECKING:
    import click


class State:
    """Options shared by every click command (from the root or the dispatcher)."""

    def __init__(self, debug: bool, quiet: bool) -> None:
        self.debug = debug
        self.quiet = quiet


@contextmanager
def guarded(ctx: click.Context | None = None) -> Iterator[None]:
    """Send failures of a click command to the one error handler."""
    state = ctx.find_object(State) if ctx is not None else None
    if state is not None:
        current.debug = current.debug or state.debug
        current.quiet = current.quiet or state.quiet
    try:
        yield
    except SystemExit:
        raise
    except Exception as exc:
        import click

        if isinstance(exc, (click.exceptions.Exit, click.ClickException)):
            raise
        cli_errors.fail(exc)
    except KeyboardInterrupt as exc:
        cli_errors.fail(exc)


def name_operation(name: str) -> None:
    """Name the running command in its change ledger (its stop message says it)."""
    from wimcore import ledger

    active = ledger.active()
    if active is not None:
        active.operation = name


def exit_for(*, changed: bool, complete: bool) -> int:
    """The exit code of a command that ran to its end (see :mod:`wimcore.cli.exitcodes`)."""
    from wimcore.cli.exitcodes import for_outcome

    return for_outcome(changed=changed, complete=complete)


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout; a dict gets the warnings collected during the run."""
    if isinstance(data, dict):
        data.setdefault("warnings", list(current.warnings))
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def image_arg(value: str) -> int | str:
    """An image given as an index or a name."""
    return int(value) if value.strip().isdigit() else value


def progress_for(ctx: click.Context, title: str) -> Any:
    """The progress display for a long operation."""
    from wimcore.cli.progress import reporter

    state = ctx.find_object(State)
    quiet = current.quiet or (state.quiet if state is not None else False)
    return reporter(title, quiet=quiet)


