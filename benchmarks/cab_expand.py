"""Benchmark: wimcore's CAB expansion against cabextract on the same MSZIP cabinet.

Builds a deterministic cabinet of mixed data (random, text-like, sparse) with the
``cabarchive`` package, then runs each side in its own child process, alternating
A B A B, and reports median wall times, their ratio and each side's peak RSS
(``ru_maxrss`` of that child, read with ``os.wait4``). The cabinet is built in a
separate process so this one stays small: Linux counts the parent's pre-exec image in a
child's ``ru_maxrss``, so both figures include a floor of this script's own RSS (~15 MiB).

    python benchmarks/cab_expand.py                # 200 MiB, 5 rounds
    python benchmarks/cab_expand.py --size-mb 2 --rounds 1 --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FILE_SIZE = 1024 * 1024
WIMCORE_CHILD = (
    "import sys, time\n"
    "from wimcore.packages.expand import expand\n"
    "t = time.perf_counter()\n"
    "expand(sys.argv[1], sys.argv[2])\n"
    "print(f'operation-seconds {time.perf_counter() - t:.6f}', file=sys.stderr)\n"
)


def _chunk(rng: random.Random, kind: int, size: int) -> bytes:
    """Deterministic data of one flavour: random, text-like or mostly zeros."""
    if kind == 0:
        return rng.randbytes(size)
    if kind == 1:
        words = [rng.randbytes(rng.randint(2, 9)).hex().encode() for _ in range(512)]
        out = bytearray()
        while len(out) < size:
            out += b" ".join(rng.choices(words, k=64)) + b"\r\n"
        return bytes(out[:size])
    block = bytearray(size)
    for _ in range(size // 4096):
        pos = rng.randrange(0, size - 16)
        block[pos:pos + 16] = rng.randbytes(16)
    return bytes(block)


def build_cabinet(path: Path, size_mb: float, seed: int = 20240514) -> Path:
    """Write a deterministic single-folder MSZIP cabinet of about ``size_mb`` MiB."""
    from cabarchive import CabArchive, CabFile  # type: ignore[import-untyped,unused-ignore]

    rng = random.Random(seed)
    total = int(size_mb * 1024 * 1024)
    arc = CabArchive()
    when = dt.datetime(2024, 5, 14, 12, 0, 0)
    n = 0
    while total > 0:
        size = min(total, rng.randint(FILE_SIZE // 4, FILE_SIZE * 2))
        arc[f"dir{n % 7}\\file{n:05d}.bin"] = CabFile(_chunk(rng, n % 3, size), mtime=when)
        total -= size
        n += 1
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(arc.save(compress=True))
    os.replace(tmp, path)
    return path


def run_child(argv: list[str]) -> tuple[float, int, str]:
    """Run one child to completion; (wall seconds, peak RSS bytes, its stderr)."""
    with tempfile.TemporaryFile() as errfile:  # a file, not a pipe: no deadlock on chatter
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errfile)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({proc.returncode}): {err.strip()}")
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return wall, rss, err


def measure(cab: Path, work: Path, rounds: int) -> dict[str, Any]:
    """Alternate wimcore and cabextract ``rounds`` times (after one warm-up each)."""
    sides: dict[str, Callable[[Path], list[str]]] = {
        "wimcore": lambda out: [sys.executable, "-c", WIMCORE_CHILD, str(cab), str(out)],
        "cabextract": lambda out: ["cabextract", "-q", "-d", str(out), str(cab)],
    }
    times: dict[str, list[float]] = {k: [] for k in sides}
    operation: list[float] = []  # wimcore's expansion alone, timed inside its process
    peaks: dict[str, int] = dict.fromkeys(sides, 0)
    for r in range(rounds + 1):
        for name, argv in sides.items():
            out = work / f"out-{name}"
            shutil.rmtree(out, ignore_errors=True)
            wall, rss, err = run_child(argv(out))
            shutil.rmtree(out, ignore_errors=True)
            if r == 0:
                continue  # warm-up: page cache and imports
            times[name].append(wall)
            for line in err.splitlines():
                if line.startswith("operation-seconds "):
                    operation.append(float(line.split()[1]))
            peaks[name] = max(peaks[name], rss)
    med = {k: statistics.median(v) for k, v in times.items()}
    op = statistics.median(operation) if operation else None
    return {
        "wimcore_operation_median_s": op,
        "operation_ratio": op / med["cabextract"] if op and med["cabextract"] else None,
        "cabinet": str(cab), "cabinet_bytes": cab.stat().st_size, "rounds": rounds,
        "median_s": med, "times_s": times,
        "ratio": med["wimcore"] / med["cabextract"] if med["cabextract"] else None,
        "peak_rss_mib": {k: v / (1024 * 1024) for k, v in peaks.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Build (or reuse) the cabinet, measure both sides, print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=float, default=200.0, help="uncompressed size (MiB)")
    ap.add_argument("--rounds", type=int, default=5, help="measured rounds per side")
    ap.add_argument("--workdir", type=Path, default=None, help="where to build and expand")
    ap.add_argument("--json", action="store_true", help="print JSON only")
    ap.add_argument("--build-only", nargs=2, metavar=("CAB", "SIZE_MB"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.build_only:
        build_cabinet(Path(args.build_only[0]), float(args.build_only[1]))
        return 0
    if shutil.which("cabextract") is None:
        print("cabextract is not installed (apt-get install cabextract)", file=sys.stderr)
        return 2
    work = args.workdir or Path(tempfile.gettempdir()) / "wimcore-bench-cab"
    work.mkdir(parents=True, exist_ok=True)
    cab = work / f"mixed-{args.size_mb:g}MiB.cab"
    if not cab.exists():  # in a child: building holds the whole payload in memory
        subprocess.run([sys.executable, __file__, "--build-only", str(cab), str(args.size_mb)],
                       check=True)
    figures = measure(cab, work, max(1, args.rounds))
    figures["size_mb"] = args.size_mb
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        med = figures["median_s"]
        peak = figures["peak_rss_mib"]
        print(f"cabinet: {cab} ({figures['cabinet_bytes'] / 2**20:.1f} MiB compressed, "
              f"{args.size_mb:g} MiB of data), {figures['rounds']} rounds, alternating")
        print(f"wimcore    median {med['wimcore']:.3f} s   peak RSS {peak['wimcore']:.1f} MiB")
        print(f"cabextract median {med['cabextract']:.3f} s   "
              f"peak RSS {peak['cabextract']:.1f} MiB")
        print(f"ratio wimcore/cabextract: {figures['ratio']:.3f} (target <= 1.10), whole processes")
        if figures["operation_ratio"] is not None:
            op = figures["wimcore_operation_median_s"]
            print(f"wimcore expansion alone (inside its process) median {op:.3f} s: ratio "
                  f"{figures['operation_ratio']:.3f}; the rest is interpreter start-up and imports")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
