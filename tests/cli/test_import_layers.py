"""Imports inside the command line point down: ``app`` loads the command modules, and the
command modules take their shared helpers from ``wimcore.cli.common``, never from ``app``.

Read from the source (every ``import``, also those inside functions), so an import that
only happens at run time, when a command runs, is caught as well.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wimcore.cli

CLI = Path(wimcore.cli.__file__).parent


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_command_module_imports_the_dispatcher() -> None:
    offenders = {
        path.name: sorted(n for n in _imports(path) if n == "wimcore.cli.app")
        for path in sorted(CLI.glob("*.py"))
        if path.name not in ("__init__.py", "app.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_common_helpers_sit_below_every_command_module() -> None:
    common = _imports(CLI / "common.py")
    below = {"__init__", "common", "errors", "exitcodes", "getopt", "progress"}
    commands = {p.stem for p in CLI.glob("*.py")} - below
    assert not {f"wimcore.cli.{name}" for name in commands} & common
    for name in ("install_cmds", "servicing_cmds", "media_cmds", "fleet_cmds", "set_cmd"):
        assert "wimcore.cli.common" in _imports(CLI / f"{name}.py"), name
