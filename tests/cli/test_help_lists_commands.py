"""``wimcore --help`` and ``wimcore package --help`` name every command there is."""

from __future__ import annotations

import re

from tests.cli.conftest import ok, wimcore
from wimcore.cli.app import CLICK_COMMANDS, IMAGEX_VERBS, _package_group


def _listed(text: str) -> set[str]:
    """Command names at the start of the help's indented lines (``a, b, c`` lists too)."""
    names: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"^  ([a-z][a-z, ]*?)(?:\s{2,}|$)", line)
        if m:
            names |= {n.strip() for n in m.group(1).split(",")}
    return names


def test_top_help_lists_every_command() -> None:
    text = ok(wimcore("--help")).stdout.decode()
    missing = {*IMAGEX_VERBS, "dism", *CLICK_COMMANDS} - _listed(text)
    assert not missing, missing


def test_package_help_names_every_subcommand() -> None:
    group = _package_group()
    assert "install" in group.commands
    text = ok(wimcore("package", "--help")).stdout.decode()
    top = ok(wimcore("--help")).stdout.decode()
    package_line = next(line for line in top.splitlines() if line.startswith("  package "))
    description = " ".join(text.split("Options:")[0].split())
    for name in group.commands:
        assert re.search(rf"^\s+{name}\s", text, re.M), name  # in the Commands list
        assert name in package_line, (name, package_line)  # in wimcore --help
        assert name in description.lower(), (name, description)  # in the group's summary
