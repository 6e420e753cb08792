"""A generated corpus of hostile cabinets, exercised in a child process with a per-case
alarm: truncations, flipped bytes, huge declared sizes and hostile names. Each must give
a typed error or a correct result, never a crash, a hang or a write outside the target.
A result is correct when it holds what cabextract (the independent oracle) extracts from
the same bytes, or, where cabextract refuses them, what the unmutated cabinet holds."""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.packages.pkgfactory import make_cab, tree
from tests.reliability.corpus import run_batch, snapshot


def _seeds() -> dict[str, bytes]:
    seeds = {"mszip": make_cab({"a.txt": b"alpha " * 4000, "dir\\b.bin": bytes(range(256)) * 40})}
    for name in ("mszip_lzx_qtm.cab", "normal_2files_2folders.cab"):
        seeds[name.split(".")[0]] = shared_path("data", "cab", name).read_bytes()
    return seeds


def _cabextract(cab: Path, dest: Path) -> dict[str, bytes] | None:
    """What cabextract extracts from a cabinet, or None when it refuses it."""
    exe = shutil.which("cabextract")
    if exe is None:
        pytest.skip("cabextract is not installed (apt-get install cabextract)")
    proc = subprocess.run([exe, "-q", "-d", str(dest), str(cab)], capture_output=True,
                          check=False)
    return tree(dest) if proc.returncode == 0 else None


def _contents(files: dict[str, bytes]) -> list[str]:
    """The files' data as sorted digests: names aside (a mutated name that is not ASCII is
    decoded by wimcore as CP437 and written raw by cabextract)."""
    return sorted(hashlib.sha256(data).hexdigest() for data in files.values())


def _ascii_names(files: dict[str, bytes]) -> set[str]:
    return {name for name in files if name.isascii() and name.isprintable()}


def check_ok_results(tmp_path: Path, outcomes: dict[str, str],
                     originals: dict[str, bytes]) -> int:
    """Every "ok" case extracted what cabextract extracts from the same bytes (same data,
    same ASCII names), or, where cabextract refuses them, what the original cabinet holds
    (``originals``: case id prefix -> unmutated cabinet). Returns how many were checked."""
    checked = 0
    for case_id, outcome in sorted(outcomes.items()):
        if outcome != "ok":
            continue
        got = tree(tmp_path / "dest" / case_id)
        oracle = _cabextract(tmp_path / "in" / f"{case_id}.cab", tmp_path / "oracle" / case_id)
        if oracle is None:
            seed = max((k for k in originals if case_id.startswith(k)), key=len)
            original = tmp_path / "oracle" / f"{case_id}.original.cab"
            original.parent.mkdir(parents=True, exist_ok=True)
            original.write_bytes(originals[seed])
            oracle = _cabextract(original, tmp_path / "oracle" / f"{case_id}.original")
            assert oracle is not None, f"cabextract refuses the original of {case_id}"
        assert _contents(got) == _contents(oracle), (case_id, sorted(got), sorted(oracle))
        assert _ascii_names(got) == _ascii_names(oracle), (case_id, sorted(got), sorted(oracle))
        checked += 1
    return checked


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
    allowed = (f"{tmp_path.name}/in", f"{tmp_path.name}/dest", f"{tmp_path.name}/oracle")
    assert [p for p in new if not p.startswith(allowed)] == []
    return result.outcomes


def test_truncated_and_flipped_cabinets(tmp_path: Path) -> None:
    rng = random.Random(99)
    inputs: dict[str, bytes] = {}
    seeds = _seeds()
    for name, data in seeds.items():
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
    assert set(outcomes) == set(inputs)
    assert all(v == "ok" or v.startswith("error:") for v in outcomes.values()), outcomes
    typed = sum(v.startswith("error:") for v in outcomes.values())
    checked = check_ok_results(tmp_path, outcomes, seeds)
    assert checked == len(inputs) - typed
    print(f"\ncabinets: {len(inputs)} cases, {typed} typed errors, {checked} read correctly")


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
    assert set(outcomes) == set(inputs)
    assert all(v == "ok" or v.startswith("error:") for v in outcomes.values()), outcomes
    check_ok_results(tmp_path, outcomes, {label: data for label in inputs})
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
    check_ok_results(tmp_path, {"hostile": outcome}, {"hostile": data})
    dest = tmp_path / "dest" / "hostile"
    if dest.exists():
        for p in dest.rglob("*"):
            assert dest.resolve() in p.resolve().parents
