"""Hostile and broken hives give typed errors (never a crash or a hang); handles never leak."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from wimcore.hive import CorruptHiveError, Hive, HiveError, build_hive
from wimcore.hive_minimal import minimal_hive

MINIMAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "hives" / "minimal"

# Runs in a child process, so a crash or hang in C fails the test instead of killing pytest.
# Each case opens the hive and reads everything reachable; it prints one JSON line per case.
_CHILD = r"""
import json, sys, time
from wimcore.hive import Hive, HiveError

for path in sys.argv[1:]:
    started = time.monotonic()
    outcome = "ok"
    try:
        with Hive.open(path) as hive:
            seen = 0
            for key in hive.walk():
                seen += 1
                _ = key.name, key.timestamp
                for value in key.values():
                    _ = value.name, value.type, value.data
                if seen > 10000:
                    break
    except HiveError as exc:
        outcome = type(exc).__name__
    except Exception as exc:  # anything untyped is a failure the parent reports
        outcome = "UNTYPED " + type(exc).__name__ + ": " + str(exc)
    print(json.dumps({"path": path, "outcome": outcome,
                      "seconds": time.monotonic() - started}), flush=True)
"""


def _sample_hive() -> bytes:
    """A hive with some structure, so corruption lands on keys, lists and values too."""
    tree = {
        "Microsoft": {
            "Windows NT": {"CurrentVersion": {"CurrentBuild": "19045", "UBR": 3803,
                                              "Multi": ["a", "b"], "Blob": b"\x01" * 300}},
            "Other": {f"Key{i}": {"v": i, "s": "x" * i} for i in range(12)},
        }
    }
    base = MINIMAL.read_bytes() if MINIMAL.is_file() else minimal_hive()
    return build_hive(tree, base=base)


def _run_cases(tmp_path: Path, cases: dict[str, bytes],
               timeout: float = 600.0) -> list[dict[str, object]]:
    """Open and read every case in one child: each ends with a typed error or a result,
    never an untyped exception, a crash or a hang (the generous timeout catches a hang;
    how fast a case ends is for benchmarks/, not a test)."""
    paths = []
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        paths.append(str(path))
    proc = subprocess.run([sys.executable, "-c", _CHILD, *paths], capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, f"child crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(cases)
    for result in results:
        assert not str(result["outcome"]).startswith("UNTYPED"), result
    return results


def test_not_a_hive_empty_and_tiny_files_are_corrupt(tmp_path: Path) -> None:
    cases = {"empty": b"", "text": b"hello world\n" * 1000, "zeros": b"\0" * 8192,
             "regf_only": b"regf", "header_only": _sample_hive()[:4096],
             "png": b"\x89PNG\r\n\x1a\n" + b"\0" * 5000}
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CorruptHiveError):
            Hive.open(path)
        with pytest.raises(CorruptHiveError):
            Hive.from_bytes(data)


def test_truncated_at_many_offsets(tmp_path: Path) -> None:
    data = _sample_hive()
    offsets = sorted({*range(0, 64, 7), *range(4096 - 8, 4096 + 40, 4),
                      *range(4096, len(data), 509), len(data) - 1})
    results = _run_cases(tmp_path, {f"trunc{n}": data[:n] for n in offsets})
    outcomes = {r["outcome"] for r in results}
    assert outcomes <= {"ok", "CorruptHiveError"}
    assert "CorruptHiveError" in outcomes
    # Below the first bin nothing can be opened.
    assert all(r["outcome"] == "CorruptHiveError" for r in results
               if int(str(r["path"]).rsplit("trunc", 1)[1]) < 4096 + 32)


def test_flipped_bytes(tmp_path: Path) -> None:
    data = _sample_hive()
    rng = random.Random(20240601)
    cases: dict[str, bytes] = {}
    for i in range(150):
        mutated = bytearray(data)
        for _ in range(rng.choice((1, 1, 2, 8))):
            where = rng.randrange(4096, len(data)) if i % 5 else rng.randrange(0, 512)
            mutated[where] ^= 1 << rng.randrange(8) if i % 3 else rng.randrange(1, 256)
        cases[f"flip{i}"] = bytes(mutated)
    results = _run_cases(tmp_path, cases)
    assert {r["outcome"] for r in results} <= {"ok", "CorruptHiveError", "HiveError",
                                                "HiveMemoryError", "HiveKeyNotFoundError"}


def test_corrupt_errors_are_typed_in_process(tmp_path: Path) -> None:
    data = bytearray(_sample_hive())
    data[4096 + 36] ^= 0xFF  # the root cell's signature
    with pytest.raises(CorruptHiveError) as info:
        Hive.from_bytes(bytes(data))
    assert isinstance(info.value, HiveError) and "hivex open failed" in str(info.value)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc/self/fd")
def test_open_close_cycles_keep_descriptors_flat(tmp_path: Path) -> None:
    data = _sample_hive()
    path = tmp_path / "hive"
    path.write_bytes(data)
    for _ in range(20):  # warm up lazy loading
        Hive.open(path).close()
    before = _open_fds()
    for i in range(2000):
        if i % 2:
            with Hive.open(path, writable=i % 4 == 1) as hive:
                _ = hive.root.name
        else:
            hive = Hive.from_bytes(data)
            hive.close()
    assert _open_fds() == before
    assert sorted(os.listdir(tmp_path)) == ["hive"]
    # A hive dropped without close() is released by its finaliser.
    Hive.open(path)
    import gc

    gc.collect()
    assert _open_fds() == before


def test_missing_libhivex_names_the_fix(tmp_path: Path) -> None:
    code = ("from wimcore.hive import Hive\n"
            "from wimcore.errors import LibraryNotFoundError\n"
            "try:\n    Hive.from_bytes(b'')\n"
            "except LibraryNotFoundError as exc:\n    print('LNF', exc)\n")
    env = {**os.environ, "WIMCORE_LIBHIVEX": str(tmp_path / "libhivex-missing.so")}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env, check=False)
    assert proc.stdout.startswith("LNF"), proc.stderr
    assert "apt-get install libhivex0" in proc.stdout and "WIMCORE_LIBHIVEX" in proc.stdout
