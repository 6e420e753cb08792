"""Run one command as a child process and record what the OS accounted to it.

Every measurement is one child: wall time, user+system CPU time and peak RSS come
from ``wait4``'s rusage of that child alone. The preferred path forks through the
tiny C launcher ``spawn_rusage`` (see its header for why: Linux seeds a child's
``ru_maxrss`` with its parent's RSS at fork); without a compiler the orchestrator
forks the child itself with ``os.posix_spawn`` and ``os.wait4``, and the memory
figures then carry the orchestrator's RSS as a floor (``Sample.launcher`` says
which path measured it).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class ChildFailed(RuntimeError):
    """A measured command exited non-zero; the message carries its stderr."""


@dataclass
class Sample:
    """One measured run of one side of a case."""

    wall_s: float
    cpu_s: float
    maxrss_kib: int
    launcher: str
    inner: dict[str, Any] = field(default_factory=dict)
    output_bytes: int | None = None
    # User-space instructions and cycles of the child and its threads (None: no counters).
    instructions: int | None = None
    cycles: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready mapping."""
        return asdict(self)


def child_env(pycache: Path | None = None) -> dict[str, str]:
    """The environment for measured children.

    Byte-code caching is switched back on (into ``pycache``) because a user's
    installed wimcore has its ``.pyc`` files; compiling the library from source at
    every start would be counted against wimcore otherwise.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if pycache is not None:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.setdefault("LC_ALL", "C.UTF-8")
    return env


def run(cmd: list[str], *, stdout_path: Path, env: dict[str, str],
        launcher: Path | None) -> Sample:
    """Run ``cmd`` once (stdout to ``stdout_path``) and return its accounting.

    A wimcore child writes one JSON line of its own in-process timings to stdout;
    it is parsed into ``Sample.inner`` when present.
    """
    if launcher is not None:
        done = subprocess.run([str(launcher), str(stdout_path), *cmd], env=env,
                              capture_output=True, text=True)
        if done.returncode != 0 or not done.stdout.strip():
            raise ChildFailed(f"launcher failed for {cmd!r}: {done.stderr.strip()}")
        acct = json.loads(done.stdout.strip().splitlines()[-1])
        if acct["status"] != 0:
            raise ChildFailed(f"{cmd!r} exited with status {acct['status']}: "
                              f"{done.stderr.strip()[-2000:]}")
        sample = Sample(wall_s=acct["wall"], cpu_s=acct["utime"] + acct["stime"],
                        maxrss_kib=int(acct["maxrss_kib"]), launcher="spawn_rusage",
                        instructions=acct.get("instructions"), cycles=acct.get("cycles"))
    else:
        sample = _run_posix_spawn(cmd, stdout_path, env)
    sample.inner = _inner(stdout_path)
    return sample


def _run_posix_spawn(cmd: list[str], stdout_path: Path, env: dict[str, str]) -> Sample:
    fd = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        start = time.perf_counter()
        pid = os.posix_spawnp(cmd[0], cmd, env,
                              file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1)])
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - start
    finally:
        os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise ChildFailed(f"{cmd!r} exited with status {code}")
    return Sample(wall_s=wall, cpu_s=usage.ru_utime + usage.ru_stime,
                  maxrss_kib=int(usage.ru_maxrss), launcher="os.wait4")


def _inner(stdout_path: Path) -> dict[str, Any]:
    """The last JSON object a child printed, or {} (wimlib-imagex prints progress text)."""
    try:
        text = stdout_path.read_text(errors="replace")
    except OSError:
        return {}
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                value = json.loads(line)
            except ValueError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}
