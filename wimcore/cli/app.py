"""The ``wimcore`` command: one dispatcher, commands loaded only when used, one error handler.

wimlib-imagex's verbs (:mod:`wimcore.cli.imagex`) and DISM's syntax
(:mod:`wimcore.cli.dism`) are parsed without click, so ``wimcore info`` starts about as
fast as the interpreter. wimcore's own groups (``set``, ``package``, ``media``,
``sample``) are click commands, imported only when named. ``cli`` (the click group
holding everything, for click's test runner) is built on first access.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from wimcore.cli import errors as cli_errors
from wimcore.cli.common import State
from wimcore.cli.errors import (  # noqa: F401  (exit codes re-exported for callers)
    EXIT_CANCELLED,
    EXIT_ERROR,
    EXIT_EXISTS,
    EXIT_INVALID_WIM,
    EXIT_LOCKED,
    EXIT_MISSING,
    EXIT_NOT_FOUND,
    EXIT_USAGE,
    current,
)
from wimcore.cli.getopt import UsageError, split_globals

if TYPE_CHECKING:
    import click

IMAGEX_VERBS = ("append", "apply", "capture", "delete", "dir", "export", "extract", "info",
                "join", "mount", "mountrw", "optimize", "split", "unmount", "update", "verify")
# wimcore's own command groups: module and attribute of the click command.
CLICK_COMMANDS: dict[str, tuple[str, str]] = {
    "set": ("wimcore.cli.set_cmd", "set_cmd"),
    "package": ("wimcore.cli.app", "_package_group"),
    "media": ("wimcore.cli.media_cmds", "media_group"),
    "sample": ("wimcore.cli.media_cmds", "sample_group"),
    "fleet": ("wimcore.cli.fleet_cmds", "fleet_group"),
}

TOP_HELP = """\
Usage: wimcore [--version] [--help] [-q] [--debug] COMMAND [ARGS]...

  Service Windows images (WIM/ESD/SWM) from any host, without mounting.

wimlib-imagex commands (same operands and options; see wimcore COMMAND --help):
  append    capture a directory as a new image of an existing WIM
  apply     apply an image (or all) to a directory or NTFS volume
  capture   capture a directory or NTFS volume into a new WIM
  delete    delete an image (or all)
  dir       list the files of an image
  export    export an image (or all) into a new or existing WIM
  extract   extract files or folders of an image
  info      show (or change) a WIM's header and images
  join      join the parts of a split WIM
  optimize  rebuild a WIM to reclaim space, optionally recompressing
  split     split a WIM into parts
  update    add, delete and rename files in an image
  verify    check every blob, the metadata and the integrity table
  mount, mountrw, unmount
            not offered: wimcore works without mounting (use update or extract)

DISM syntax:
  dism      /Get-WimInfo, /Export-Image, /Apply-Image, /Capture-Image, ... (wimcore dism /?)

wimcore commands:
  set       change an image's name, description, flags, properties, boot index
  package   expand, inspect, list, plan, stage and install update packages; delta info/apply
  media     service an installation media folder (the monthly routine)
  sample    make wimcore's built-in sample media
  fleet     service many images on Dask, with a servicing catalog (status, history, cancel)

Options (before or after the command):
  -q, --quiet  no progress or informational messages
  --debug      show a traceback on errors
  --version    print wimcore's and libwimlib's versions
  -h, --help   this help
"""


def top_help() -> str:
    """``wimcore --help``: the commands, the global options and the exit-code table."""
    from wimcore.cli.exitcodes import help_epilog

    return TOP_HELP + "\n" + help_epilog()


def version_text() -> str:
    """``wimcore --version``: wimcore's and the loaded libwimlib's versions."""
    import wimcore
    from wimcore import errors

    try:
        lib = wimcore.libwimlib_version()
    except errors.LibraryNotFoundError as exc:
        lib = f"not loaded ({exc})"
    return f"wimcore {wimcore.__version__}\nlibwimlib {lib}\n"


def _case_from_environment() -> None:
    """Match paths as wimlib-imagex does on this system: exactly, unless
    WIMLIB_IMAGEX_IGNORE_CASE=1/yes asks to ignore case (0/no: exact case)."""
    value = os.environ.get("WIMLIB_IMAGEX_IGNORE_CASE")
    from wimcore._native import libwim

    if value not in (None, "0", "no", "1", "yes"):
        print("wimcore: warning: ignoring unknown setting of WIMLIB_IMAGEX_IGNORE_CASE",
              file=sys.stderr)
    libwim.set_case_insensitive(value in ("1", "yes"))


@contextmanager
def warnings_to_stderr() -> Iterator[None]:
    """Show libwimlib's and libmspack's warnings as ``wimcore: warning:`` lines on stderr
    and keep them for ``--json``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")

        def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                 file: Any = None, line: str | None = None) -> None:
            text = str(message)
            if text in current.warnings:  # e.g. a cabinet opened twice says it twice
                return
            current.warnings.append(text)
            print(f"wimcore: warning: {text}", file=sys.stderr, flush=True)

        warnings.showwarning = show
        yield


def _finish_stdout() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        cli_errors.quiet_broken_pipe()


def run_guarded(action: Callable[[], int], name: str = "") -> int:
    """Run one command under the one error handler and its change ledger (what the
    command changed, for the handler's message); return its exit status."""
    from wimcore import interrupts, ledger

    current.wims, current.refs, current.warnings, current.json = [], [], [], False
    with ledger.recording(name):
        try:
            with warnings_to_stderr():
                code = action()
            _finish_stdout()
            interrupts.settle()  # done: a late Ctrl-C must not turn this into "killed"
            return code
        except SystemExit:
            interrupts.settle()
            raise
        except BaseException as exc:  # the one handler: every failure ends here
            cli_errors.fail(exc)


def _run_click(args: list[str], want_help: bool) -> int:
    import click

    group = build_cli()
    if want_help:
        args = [*args, "--help"]
    try:
        result = group.main(args=args, prog_name="wimcore", standalone_mode=False,
                            obj=State(current.debug, current.quiet))
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.exceptions.Abort:
        cli_errors.fail(KeyboardInterrupt())
    except click.UsageError as exc:
        name = exc.ctx.command_path.removeprefix("wimcore").strip() if exc.ctx else ""
        cli_errors.fail(UsageError(exc.format_message(), name or None))
    except click.ClickException as exc:
        print(f"wimcore: error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    return int(result) if isinstance(result, int) else 0


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line and exit with the command's status."""
    raw = list(sys.argv[1:] if argv is None else argv)
    if argv is None:  # the real command line: SIGTERM cancels as Ctrl-C does
        from wimcore import interrupts

        interrupts.install()
    try:
        _dispatch(raw)
    except KeyboardInterrupt as exc:  # between commands' guards (loading a library, ...)
        cli_errors.fail(exc)


def _dispatch(raw: list[str]) -> None:
    """Find the command and run it under the one error handler (raises SystemExit)."""
    args, flags = split_globals(raw)
    current.debug, current.quiet = flags["debug"], flags["quiet"]
    command = args[0] if args else None
    if command in CLICK_COMMANDS:
        raise SystemExit(run_guarded(lambda: _run_click(args, flags["help"]), command))
    if flags["version"]:
        sys.stdout.write(version_text())
        raise SystemExit(0)
    if command is None:
        if flags["help"]:
            sys.stdout.write(top_help())
            raise SystemExit(0)
        sys.stderr.write(top_help())
        raise SystemExit(cli_errors.EXIT_USAGE)
    if command in IMAGEX_VERBS:
        from wimcore.cli import imagex

        if flags["help"]:
            sys.stdout.write(imagex.VERBS[command].help_text())
            raise SystemExit(0)
        def verb() -> int:
            _case_from_environment()
            return imagex.run(command, args[1:])

        raise SystemExit(run_guarded(verb, command))
    if command.lower() == "dism":
        from wimcore.cli import dism

        if flags["help"]:
            sys.stdout.write(dism.HELP)
            raise SystemExit(0)
        raise SystemExit(run_guarded(lambda: dism.run(args[1:]), "dism"))
    raise SystemExit(run_guarded(lambda: _unknown(command)))


def _unknown(command: str) -> int:
    raise UsageError(f"unknown command {command!r}", None)


# -- the click group (wimcore's own commands; the others pass through) ------------------------
_CLI: Any = None


def _package_group() -> Any:
    from wimcore.cli.install_cmds import install_cmd
    from wimcore.cli.package_cmds import package_group
    from wimcore.cli.servicing_cmds import register as register_servicing

    if "stage" not in package_group.commands:
        register_servicing(package_group)
        package_group.add_command(install_cmd)
    return package_group


def _load_click_command(name: str) -> Any:
    import importlib

    module, attr = CLICK_COMMANDS[name]
    value = getattr(importlib.import_module(module), attr)
    return value() if attr.startswith("_") else value


def build_cli() -> click.Group:
    """The click group with every command (wimlib-imagex and DISM ones pass through)."""
    global _CLI
    if _CLI is not None:
        return _CLI  # type: ignore[no-any-return]
    import click

    class LazyGroup(click.Group):
        """Loads a command's module only when the command is used."""

        def list_commands(self, ctx: click.Context) -> list[str]:
            return sorted({*IMAGEX_VERBS, "dism", *CLICK_COMMANDS})

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            if cmd_name in CLICK_COMMANDS:
                return _load_click_command(cmd_name)  # type: ignore[no-any-return]
            if cmd_name in IMAGEX_VERBS or cmd_name.lower() == "dism":
                return _passthrough(cmd_name)
            return None

    def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value and not ctx.resilient_parsing:
            click.echo(version_text(), nl=False)
            ctx.exit(0)

    from wimcore.cli.exitcodes import help_epilog

    @click.group(cls=LazyGroup, epilog="\b\n" + help_epilog(),
                 context_settings={"help_option_names": ["-h", "--help"],
                                   "max_content_width": 100})
    @click.option("--version", is_flag=True, expose_value=False, is_eager=True,
                  callback=_version, help="Print wimcore's and libwimlib's versions.")
    @click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
    @click.option("-q", "--quiet", is_flag=True, help="No progress output.")
    @click.pass_context
    def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
        """Service Windows images (WIM/ESD/SWM) from any host, without mounting."""
        state = ctx.find_object(State)
        if state is None:
            ctx.obj = State(debug, quiet)
        else:
            state.debug = state.debug or debug
            state.quiet = state.quiet or quiet
        current.debug = current.debug or debug
        current.quiet = current.quiet or quiet

    _CLI = cli
    return cli


def _passthrough(name: str) -> click.Command:
    import click

    @click.command(name, context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True,
                                           "help_option_names": []},
                   add_help_option=False)
    @click.pass_context
    def command(ctx: click.Context) -> None:
        args, flags = split_globals(ctx.args)
        current.debug = current.debug or flags["debug"]
        current.quiet = current.quiet or flags["quiet"]
        if name.lower() == "dism":
            from wimcore.cli import dism

            code = run_guarded(lambda: dism.run(args), "dism")
        else:
            from wimcore.cli import imagex

            if flags["help"]:
                click.echo(imagex.VERBS[name].help_text(), nl=False)
                return
            code = run_guarded(lambda: imagex.run(name, args), name)
        ctx.exit(code)

    command.help = f"wimlib-imagex {name} (see: wimcore {name} --help)"
    return command


def __getattr__(name: str) -> Any:
    if name == "cli":
        return build_cli()
    raise AttributeError(f"module 'wimcore.cli.app' has no attribute {name!r}")


if __name__ == "__main__":  # pragma: no cover
    main()
