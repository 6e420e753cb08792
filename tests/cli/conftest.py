"""Helpers for the command-line tests: run the installed ``wimcore`` script and the real
``wimlib-imagex`` on the same inputs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(sys.executable).with_name("wimcore")


def wimcore_exe() -> str:
    """The console script of the environment running the tests."""
    exe = str(SCRIPT) if SCRIPT.exists() else shutil.which("wimcore")
    if exe is None:
        pytest.skip("the wimcore console script is not installed")
    return exe


def imagex_exe() -> str:
    """wimlib-imagex, the reference."""
    exe = shutil.which("wimlib-imagex")
    if exe is None:
        pytest.skip("wimlib-imagex is not installed (apt-get install wimtools)")
    return exe


def run_tool(exe: str, *args: str | os.PathLike[str], cwd: Path | None = None,
             stdin: bytes | None = None, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[bytes]:
    """Run one tool; stdout and stderr as bytes."""
    return subprocess.run([exe, *map(str, args)], capture_output=True, cwd=cwd, input=stdin,
                          env=env, check=False)


def wimcore(*args: str | os.PathLike[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    """Run ``wimcore``."""
    return run_tool(wimcore_exe(), *args, **kw)  # type: ignore[arg-type]


def imagex(*args: str | os.PathLike[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    """Run ``wimlib-imagex``."""
    return run_tool(imagex_exe(), *args, **kw)  # type: ignore[arg-type]


def ok(proc: subprocess.CompletedProcess[bytes]) -> subprocess.CompletedProcess[bytes]:
    """Assert a zero exit status and return the process."""
    assert proc.returncode == 0, (proc.args, proc.returncode, proc.stderr.decode())
    return proc


def tree(root: Path) -> dict[str, bytes | None]:
    """Relative path -> content (None for directories; symlinks as their target)."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = b"->" + os.readlink(path).encode()
        elif path.is_dir():
            found[rel] = None
        else:
            found[rel] = path.read_bytes()
    return found
