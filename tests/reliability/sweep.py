"""The interrupt sweep's parts: run a real ``wimcore`` process, stop it at a named stage
(``WIMCORE_STAGE_PAUSE``) or after a delay with SIGINT or SIGTERM, read the claim it
prints, and compare the claim with the bytes on disk."""

from __future__ import annotations

import hashlib
import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from tests.cli.conftest import wimcore_exe

PAUSED = "wimcore-stage: paused at "
#: temporaries that must never survive a stop (atomic writes, history, bundles)
TEMP_MARKS = (".wimcore-tmp", ".tmp")


@dataclass
class Stop:
    """One interrupted run: where and how it was stopped, and what it said."""

    point: str  # a stage (name#N) or "after N.NNs"
    sig: int
    rc: int = 0
    stdout: str = ""
    stderr: str = ""
    paused: bool = False  # the stage was reached (or the delay passed) while it ran

    @property
    def error(self) -> str:
        """The one error line (empty when the command finished normally)."""
        lines = [ln for ln in self.stderr.splitlines() if ln.startswith("wimcore: error: ")]
        return lines[-1] if lines else ""


@dataclass
class Claim:
    """What the error line says was changed."""

    nothing: bool
    changed: list[str] = field(default_factory=list)
    groups: dict[str, int] = field(default_factory=dict)  # folder/ -> files changed in it
    not_changed: list[str] = field(default_factory=list)
    records: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)


_HOW = re.compile(r"^(.*) \(([^()]*)\)$")
_GROUP = re.compile(r"^(\d+) of (\d+) file\(s\) in (.*)$")
_PART = re.compile(r"^(?:[\w ]+: )?(changed|partly changed|not changed|not known[^:]*|report|"
                   r"log): (.*)$")


def parse_claim(line: str) -> Claim:
    """Read ``changed: ...; not changed: ...; report: ...`` from an error line."""
    if line.endswith("nothing was changed"):
        return Claim(nothing=True)
    assert "after the point of no return" in line or "changed: " in line, line
    claim = Claim(nothing=False)
    for part in line.split("; "):
        m = _PART.match(part)
        if m is None:
            continue
        key, value = m.group(1), m.group(2)
        items = [] if value == "nothing else was planned" else value.split(", ")
        if key in ("report", "log"):
            claim.records[key] = value
        elif key == "changed":
            for item in items:
                group = _GROUP.match(item)
                if group:
                    claim.groups[group.group(3)] = int(group.group(1))
                else:
                    how = _HOW.match(item)
                    claim.changed.append(how.group(1) if how else item)
        elif key == "not changed":
            claim.not_changed += [i for i in items if not _GROUP.match(i)]
        elif key.startswith("not known"):
            claim.unknown += items
        else:  # partly changed: a folder that already existed got some files
            claim.changed += [(_HOW.match(i) or re.match("(.*)", i)).group(1)  # type: ignore[union-attr]
                              for i in items]
    return claim


def snapshot(*roots: Path) -> dict[str, tuple[str, int]]:
    """Every file under the roots (or the root itself): path -> (sha1, inode). A replaced
    file has a new inode even when its bytes are equal."""
    out: dict[str, tuple[str, int]] = {}
    for root in roots:
        if root.is_file():
            out[str(root)] = (hashlib.sha1(root.read_bytes()).hexdigest(), root.stat().st_ino)
            continue
        if not root.exists():
            continue
        for dirpath, _dirnames, filenames in os.walk(root):
            for f in filenames:
                p = Path(dirpath) / f
                out[str(p)] = (hashlib.sha1(p.read_bytes()).hexdigest(), p.stat().st_ino)
    return out


def differences(before: dict[str, tuple[str, int]],
                after: dict[str, tuple[str, int]]) -> set[str]:
    """Paths added, removed or changed (files by bytes or inode)."""
    return {p for p in before.keys() | after.keys()
            if p not in before or p not in after or before[p] != after[p]}


def temporaries(*roots: Path) -> list[str]:
    """Leftover temporaries under (or beside) the roots."""
    found = []
    for root in roots:
        for folder in {root if root.is_dir() else root.parent, root.parent}:
            if not folder.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(folder):
                found += [os.path.join(dirpath, n) for n in (*dirnames, *filenames)
                          if any(n.endswith(m) or m + "." in n or ".wimcore-tmp" in n
                                 for m in TEMP_MARKS)]
    return sorted(set(found))


def _signals_as_a_terminal() -> None:
    """In the child: SIGINT delivered, even when the tests run as a background job (whose
    shell ignores SIGINT, and wimcore keeps an ignored signal ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _reader(stream: object, lines: queue.Queue[str | None]) -> None:
    for line in iter(stream.readline, ""):  # type: ignore[attr-defined]
        lines.put(line)
    lines.put(None)


def run_stopped(args: list[str], *, cwd: Path, sig: int, point: str | None = None,
                delay: float | None = None, group: bool = False,
                env: dict[str, str] | None = None, timeout: float = 240) -> Stop:
    """Run ``wimcore ARGS`` and deliver ``sig`` when it pauses at stage ``point`` (or after
    ``delay`` seconds). ``group`` sends it to the whole process group, as a terminal's
    Ctrl-C does (the fleet's worker processes included)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("WIMCORE_STAGE_TRACE", None)
    if point is not None:
        full_env["WIMCORE_STAGE_PAUSE"] = point
    else:
        full_env.pop("WIMCORE_STAGE_PAUSE", None)
    proc = subprocess.Popen([wimcore_exe(), *args], cwd=cwd, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_signals_as_a_terminal)
    lines: queue.Queue[str | None] = queue.Queue()
    err_thread = threading.Thread(target=_reader, args=(proc.stderr, lines), daemon=True)
    err_thread.start()
    out_chunks: list[str] = []
    out_thread = threading.Thread(target=lambda: out_chunks.append(proc.stdout.read()),  # type: ignore[union-attr]
                                  daemon=True)
    out_thread.start()
    stop = Stop(point or f"after {delay:.2f}s", sig)
    err: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        if point is not None:
            while True:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
                if line is None:
                    break
                err.append(line)
                if line.startswith(PAUSED) and line.split()[3] == point:
                    stop.paused = True
                    break
        else:
            time.sleep(delay or 0.0)
            stop.paused = proc.poll() is None
        if stop.paused:
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        stop.rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    err_thread.join(timeout=30)
    out_thread.join(timeout=30)
    for stream in (proc.stdout, proc.stderr):  # no pipe left open for the GC to close later
        if stream is not None:
            stream.close()
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        if line is not None:
            err.append(line)
    stop.stderr = "".join(err)
    stop.stdout = "".join(out_chunks)
    return stop


def trace(args: list[str], *, cwd: Path, trace_file: Path,
          env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str],
                                                       list[tuple[str, int]]]:
    """Run ``wimcore ARGS`` to its end, recording every stage it passes: (point, pid)."""
    trace_file.unlink(missing_ok=True)
    full_env = {**os.environ, **(env or {}), "WIMCORE_STAGE_TRACE": str(trace_file)}
    full_env.pop("WIMCORE_STAGE_PAUSE", None)
    start = time.monotonic()
    proc = subprocess.run([wimcore_exe(), *args], cwd=cwd, env=full_env, text=True,
                          capture_output=True, timeout=600, check=False)
    trace.seconds = time.monotonic() - start  # type: ignore[attr-defined]
    points = []
    if trace_file.exists():
        for line in trace_file.read_text().splitlines():
            name, pid = line.split()
            points.append((name, int(pid)))
    return proc, points


def spread(points: list[str], n: int, must: tuple[str, ...] = ()) -> list[str]:
    """Up to ``n`` points evenly spread over the run, plus the ``must`` ones present."""
    if len(points) <= n:
        chosen = list(points)
    else:
        step = (len(points) - 1) / (n - 1)
        chosen = [points[round(i * step)] for i in range(n)]
    for m in must:
        if m in points and m not in chosen:
            chosen.append(m)
    return sorted(set(chosen), key=points.index)


@dataclass
class Tally:
    """How the stops of one command landed."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str) -> None:
        self.counts[kind] += 1


def check_claim(stop: Stop, changed_on_disk: set[str], *, records: tuple[Path, ...] = (),
                expect_records: bool = True) -> str:
    """Compare what the stopped command said with what changed on disk; return the kind
    of stop: ``before`` (nothing changed), ``after`` (changes named) or ``finished``."""
    record_names = {str(r) for r in records} | {str(r.with_suffix(".txt")) for r in records
                                               if r.suffix == ".json"}
    on_disk = {p for p in changed_on_disk if p not in record_names}
    if stop.rc == 0:
        assert not stop.error, stop.stderr
        return "finished"
    if stop.rc == -stop.sig and not stop.error:  # still starting Python: no handler yet
        assert not on_disk, f"{stop.point}: killed while starting, yet {sorted(on_disk)}"
        return "before"
    assert stop.error, f"{stop.point}: exit {stop.rc} without an error line: {stop.stderr!r}"
    claim = parse_claim(stop.error)
    where = f"{stop.point} ({signal.Signals(stop.sig).name}): {stop.error}"
    if claim.nothing:
        expected = 143 if stop.sig == signal.SIGTERM else 130
        assert stop.rc == expected, where
        assert not on_disk, f"{where}: but changed on disk: {sorted(on_disk)}"
        return "before"
    assert stop.rc == 10, f"{where}: rc {stop.rc}"
    assert not claim.unknown, where
    covered: set[str] = set()
    for label in claim.changed:
        mine = {p for p in on_disk if p == label or p.startswith(label.rstrip("/") + "/")}
        assert mine, f"{where}: claims {label} changed, but it is byte-identical"
        covered |= mine
    for folder, n in claim.groups.items():
        mine = {p for p in on_disk - covered if p.startswith(folder)}
        assert len(mine) == n, f"{where}: claims {n} file(s) in {folder}, disk: {sorted(mine)}"
        covered |= mine
    assert on_disk <= covered, f"{where}: changed but not named: {sorted(on_disk - covered)}"
    for label in claim.not_changed:
        assert label not in on_disk, f"{where}: claims {label} unchanged, but it changed"
    if expect_records:
        for kind, path in claim.records.items():
            assert Path(path).is_file(), f"{where}: the {kind} {path} was not written"
    return "after"
