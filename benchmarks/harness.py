"""Compile the suite's own C helpers (``benchmarks/harness/*.c``) at benchmark time.

Two small programs: ``spawn_rusage`` (runs a command and reports the kernel's
accounting of it) and ``compress_bench`` (libwimlib's raw compressor driven from C).
They are built with the system's ``cc`` into the output directory, keyed by a hash
of the source so an edited source is rebuilt, and never committed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent / "harness"
# Extra link flags per helper: only the compressor bench needs libwim.
LINK: dict[str, list[str]] = {"spawn_rusage": [], "compress_bench": ["-lwim"]}


class HarnessError(RuntimeError):
    """A C helper could not be built (no compiler, or libwim-dev missing)."""


def compiler() -> str | None:
    """The C compiler to use: $CC, else cc, else gcc (None when there is none)."""
    for name in (os.environ.get("CC"), "cc", "gcc"):
        if name and shutil.which(name):
            return name
    return None


def build(name: str, out_dir: Path) -> Path:
    """Compile ``harness/<name>.c`` into ``out_dir`` (cached by source hash); return the binary."""
    source = SOURCE_DIR / f"{name}.c"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    target = Path(out_dir) / "harness-bin" / f"{name}-{digest}"
    if target.is_file() and os.access(target, os.X_OK):
        return target
    cc = compiler()
    if cc is None:
        raise HarnessError("no C compiler (cc/gcc) found; install gcc")
    target.parent.mkdir(parents=True, exist_ok=True)
    cmd = [cc, "-O2", "-Wall", "-o", str(target), str(source), *LINK[name]]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise HarnessError(f"{' '.join(cmd)} failed:\n{done.stderr.strip()}")
    return target
