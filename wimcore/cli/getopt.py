"""A command-line option parser with the rules wimlib-imagex inherits from GNU getopt_long_only.

Options and operands may be mixed in any order; ``--`` ends the options; a long option
takes its value as ``--opt=value`` or as the next word; an unambiguous prefix of a long
option name is accepted (``--comp=lzx``), and so is a single leading dash (``-check``);
a lone ``-`` is an operand (standard input or output). Click is not used here: it costs
more start-up time than a whole ``wimcore info`` may take.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple


class UsageError(Exception):
    """The command line is wrong (exit code 2); ``command`` names the verb for the hint."""

    def __init__(self, message: str, command: str | None = None) -> None:
        super().__init__(message)
        self.command = command


class Opt(NamedTuple):
    """One accepted option: its long names, where its value goes, and how it is taken.

    (A NamedTuple rather than a dataclass: importing dataclasses costs start-up time.)
    """

    names: tuple[str, ...]
    dest: str
    value: bool = False          # takes an argument
    multiple: bool = False       # repeatable; the values are collected in a list
    const: Any = True            # what a flag stores
    help: str = ""
    metavar: str = "VALUE"
    hidden: bool = False         # accepted, not listed in --help (aliases, old spellings)


def opt(*names: str, dest: str | None = None, value: bool = False, multiple: bool = False,
        const: Any = True, help: str = "", metavar: str = "VALUE",
        hidden: bool = False) -> Opt:
    """Declare an option; ``dest`` defaults to the first name with dashes as underscores."""
    return Opt(tuple(names), dest or names[0].replace("-", "_"), value, multiple, const, help,
               metavar, hidden)


class Parsed:
    """The result: option values by ``dest`` and the operands in order."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.operands: list[str] = []

    def get(self, dest: str, default: Any = None) -> Any:
        """An option's value, or ``default`` when it was not given."""
        return self.values.get(dest, default)

    def flag(self, dest: str) -> bool:
        """True when a flag was given."""
        return bool(self.values.get(dest))

    def many(self, dest: str) -> list[str]:
        """The values of a repeatable option (empty when not given)."""
        return list(self.values.get(dest, []))


def _lookup(word: str, table: dict[str, Opt], command: str) -> Opt | None:
    if word in table:
        return table[word]
    matches = {name: o for name, o in table.items() if name.startswith(word)}
    distinct = {id(o): o for o in matches.values()}
    if len(distinct) == 1:
        return next(iter(distinct.values()))
    if len(distinct) > 1:
        names = ", ".join(f"--{n}" for n in sorted(matches))
        raise UsageError(f"option '--{word}' is ambiguous; possibilities: {names}", command)
    return None


def parse(args: Sequence[str], options: Sequence[Opt], *, command: str) -> Parsed:
    """Parse ``args`` against ``options`` (getopt_long_only rules, see the module doc)."""
    table = {name: o for o in options for name in o.names}
    result = Parsed()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            result.operands.extend(args[i:])
            break
        if not arg.startswith("-") or arg == "-":
            result.operands.append(arg)
            continue
        body = arg[2:] if arg.startswith("--") else arg[1:]
        name, eq, inline = body.partition("=")
        found = _lookup(name, table, command) if name else None
        if found is None:
            raise UsageError(f"unrecognized option '{arg.split('=', 1)[0]}'", command)
        if found.value:
            if eq:
                value = inline
            elif i < len(args):
                value = args[i]
                i += 1
            else:
                raise UsageError(f"option '--{found.names[0]}' requires an argument", command)
        elif eq:
            raise UsageError(f"option '--{found.names[0]}' doesn't allow an argument", command)
        else:
            value = found.const
        if found.multiple:
            result.values.setdefault(found.dest, []).append(value)
        else:
            result.values[found.dest] = value
    return result


def split_globals(args: Sequence[str]) -> tuple[list[str], dict[str, bool]]:
    """Take out the options every command accepts anywhere (before ``--``).

    ``-q``/``--quiet``, ``--debug``, ``-h``/``--help`` and ``--version``: as wimlib-imagex
    does, they are recognised before and after the command name.
    """
    rest: list[str] = []
    found = {"quiet": False, "debug": False, "help": False, "version": False}
    names = {"-q": "quiet", "--quiet": "quiet", "--debug": "debug", "-h": "help",
             "--help": "help", "--version": "version"}
    for index, arg in enumerate(args):
        if arg == "--":
            rest.extend(args[index:])
            break
        key = names.get(arg)
        if key is None:
            rest.append(arg)
        else:
            found[key] = True
    return rest, found


def option_help(options: Sequence[Opt]) -> list[str]:
    """Help lines for the options (aliases after the first name, values as ``=METAVAR``)."""
    lines = []
    for o in options:
        if o.hidden:
            continue
        spelled = ", ".join(f"--{n}" + (f"={o.metavar}" if o.value else "") for n in o.names)
        lines.append(f"  {spelled}" + (f"\n        {o.help}" if o.help else ""))
    return lines
