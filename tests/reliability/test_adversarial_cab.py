"""A generated corpus of hostile cabinets, exercised in a child process with a per-case
alarm: truncations, flipped bytes, huge declared sizes and hostile names. Each must give
a typed error or a correct result, never a crash, a hang or a write outside the target."""

from __future__ import annotations

import random
import struct
from pathlib import Path

import pytest

from tests.conftest import SHARED
from tests.packages.pkgfactory import make_cab
from tests.reliability.corpus import run_batch, snapshot

CABS = SHARED / "data" / "cab"


def _seeds(tmp: Path) -> dict[str, bytes]:
    seeds = {"mszip": make_cab({"a.txt": b"alpha " * 4000, "dir\\b.bin": bytes(range(256)) * 40})}
    for name in ("mszip_lzx_qtm.cab", "normal_2files_2folders.cab"):
        if (CABS / name).exists():
            seeds[name.split(".")[0]] = (CABS / name).read_bytes()
    return seeds


def _run(tmp_path: Path, inputs: dict[str, bytes]) -> dict[str, str]:
    cases: list[dict[str, object]] = []
    for case_id, data in inputs.items():
        path = tmp_path / "in" / f"{case_id}.cab"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        cases.append({"id": case_id, "kind": "cab", "path": str(path),
                      "dest": str(tmp_path / "dest" / case_id), "seconds": 30})
    before = snapshot(tmp_path.parent)
    result = run_batch(cases)
    assert result.died_in is None, f"crash or hang in {result.died_in}: {result.stderr}"
    assert result.returncode == 0, result.stderr
    assert not result.untyped(), result.untyped()
    new = snapshot(tmp_path.parent) - before
    allowed = (f"{tmp_path.name}/in", f"{tmp_path.name}/dest")
    assert [p for p in new if not p.startswith(allowed)] == []
    return result.outcomes


def test_truncated_and_flipped_cabinets(tmp_path: Path) -> None:
    rng = random.Random(99)
    inputs: dict[str, bytes] = {}
    for name, data in _seeds(tmp_path).items():
        for k in range(30):
            cut = int(len(data) * k / 30)
            inputs[f"{name}-cut{cut}"] = data[:cut]
        for n in range(40):
            mutated = bytearray(data)
            for _ in range(rng.choice((1, 2, 4))):
                at = rng.randrange(0, min(len(data), 200)) if n % 2 else rng.randrange(len(data))
                mutated[at] ^= rng.randrange(1, 256)
            inputs[f"{name}-flip{n}"] = bytes(mutated)
    outcomes = _run(tmp_path, inputs)
    typed = sum(v.startswith("error:") for v in outcomes.values())
    print(f"\ncabinets: {len(inputs)} cases, {typed} typed errors, "
          f"{len(inputs) - typed} read correctly")


def test_huge_declared_sizes(tmp_path: Path) -> None:
    data = make_cab({"a.txt": b"small", "b.txt": b"also small"})
    first_file = struct.unpack_from("<I", data, 16)[0]  # coffFiles: where CFFILE entries start
    inputs = {}
    for label, size in (("4gib", 0xFFFFFFF0), ("1gib", 1 << 30), ("off-by-one", 6)):
        patched = bytearray(data)
        struct.pack_into("<I", patched, first_file, size)
        inputs[label] = bytes(patched)
    patched = bytearray(data)
    struct.pack_into("<I", patched, 8, 0xFFFFFFF0)  # cbCabinet: the cabinet's own size
    inputs["huge-cabinet-size"] = bytes(patched)
    outcomes = _run(tmp_path, inputs)
    assert all(v == "ok" or v.startswith("error:") for v in outcomes.values()), outcomes
    for p in (tmp_path / "dest").rglob("*"):
        if p.is_file():
            assert p.stat().st_size < 1 << 20  # nothing was inflated to the declared size


@pytest.mark.parametrize("name", ["..\\..\\evil.txt", "\\abs.txt", "C:\\drive.txt",
                                  "a\\..\\..\\up.txt", "ok\\..\\fine.txt", ".", "..", ""])
def test_hostile_member_names(tmp_path: Path, name: str) -> None:
    data = make_cab({"fine.txt": b"ok", name or "x": b"evil"})
    if not name:  # an empty name: patch the member's name bytes away
        data = data.replace(b"x\x00", b"\x00\x00", 1)
    outcome = _run(tmp_path, {"hostile": data})["hostile"]
    assert outcome == "ok" or outcome.startswith("error:")
    dest = tmp_path / "dest" / "hostile"
    if dest.exists():
        for p in dest.rglob("*"):
            assert dest.resolve() in p.resolve().parents
