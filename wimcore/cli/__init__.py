"""The ``wimcore`` command line: wimlib-imagex and DISM syntax, wimcore's own groups."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``wimcore`` console script."""
    from wimcore.cli.app import main as run

    run()
