"""The ``wimcore`` command line: thin click commands over the public API."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``wimcore`` console script."""
    from wimcore.cli.app import main as run

    run()
