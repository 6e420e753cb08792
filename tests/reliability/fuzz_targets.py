"""Hypothesis fuzz targets for every parser that meets downloaded input.

Not collected directly (the name does not start with ``test_``): ``test_fuzz.py`` runs this
file in a child pytest so that a crash in C is reported as a failure, not a dead runner.
``WIMCORE_FUZZ_EXAMPLES`` sets the examples per target; ``WIMCORE_FUZZ_REPORT`` names a
JSON file that receives the number of inputs each target ran.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wimcore
from tests.conftest import SHARED
from tests.packages.pkgfactory import update_mum
from tests.reliability.exercise import use_cab, use_hive, use_wim
from wimcore.hive import build_hive
from wimcore.imageinfo import parse_wim_xml
from wimcore.packages import msdelta
from wimcore.packages.errors import DeltaError
from wimcore.packages.model import parse_mum

EXAMPLES = int(os.environ.get("WIMCORE_FUZZ_EXAMPLES", "100"))
RUNS: Counter[str] = Counter()
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def _report() -> None:
    target = os.environ.get("WIMCORE_FUZZ_REPORT")
    if target:
        Path(target).write_text(json.dumps(dict(RUNS)))


atexit.register(_report)
_WORK = Path(tempfile.mkdtemp(prefix="wimcore-fuzz-"))


def _seed_wim() -> bytes:
    src = _WORK / "seed-src"
    (src / "Windows" / "System32").mkdir(parents=True)
    (src / "a.txt").write_text("alpha " * 50)
    (src / "Windows" / "System32" / "k.dll").write_bytes(random.Random(1).randbytes(3000))
    out = _WORK / "seed.wim"
    wimcore.capture(src, out, "Seed", compression="xpress")
    return out.read_bytes()


SEED_WIM = _seed_wim()
SEED_HIVE = build_hive({"Microsoft": {"Windows NT": {"CurrentVersion": {
    "CurrentBuild": "26100", "UBR": 1742, "ProductName": "Windows 11 Pro"}}}})
SEED_MUM = update_mum(name="Package_for_RollupFix", version="26100.2033.1.6", kb="KB5044284",
                      release_type="Security Update")
SEED_CABS = [p.read_bytes() for p in sorted((SHARED / "data" / "cab").glob("*.cab"))
             if "multi" not in p.name]



def _seed_deltas() -> list[tuple[bytes, bytes]]:
    """(delta, source) pairs made by the project's encoder: composite and flat PseudoLzx
    tables with and without a source, PA31 with a CRC prefix, an LZMS payload."""
    from wimcore.packages import msdelta_encode as enc

    rnd = random.Random(7)
    source = rnd.randbytes(1500)
    target = source[200:900] + b"fuzz " * 60 + source[:300] + rnd.randbytes(100)
    return [(enc.encode(target, source, tables="composite", segments=3, hash_alg="none"),
             source),
            (enc.encode(target, b"", hash_alg="md5"), b""),
            (enc.encode(target, source, magic="PA31", crc_prefix=True), source),
            (enc.encode(target, b"", codec="lzms", hash_alg="sha1"), b"")]


SEED_DELTAS = _seed_deltas() if msdelta.native_available() else []

MUTATIONS = st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1,
                     max_size=8)


def mutate(seed: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    """Apply byte overwrites (positions modulo the length), then an optional truncation."""
    data = bytearray(seed)
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    return bytes(data)


def _scratch() -> Path:
    return Path(tempfile.mkdtemp(dir=_WORK))


@FUZZ
@given(edits=MUTATIONS, cut=st.none() | st.integers(min_value=0))
def test_fuzz_open_wim(edits: list[tuple[int, int]], cut: int | None) -> None:
    RUNS["open WIM"] += 1
    work = _scratch()
    path = work / "f.wim"
    path.write_bytes(mutate(SEED_WIM, edits, cut))
    try:
        use_wim(path, work / "out")
    except wimcore.WimcoreError:
        pass
    assert {p.name for p in work.iterdir()} <= {"f.wim", "out"}


@FUZZ
@given(text=st.text(max_size=400) | st.builds(
    lambda a, b: a + b, st.sampled_from(["<WIM>", "<WIM><IMAGE INDEX=\"1\">", "<?xml?>"]),
    st.text(alphabet="<>/=\"'&;!-[]ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", max_size=200)))
def test_fuzz_wim_xml(text: str) -> None:
    RUNS["WIM XML"] += 1
    for data in (text.encode("utf-8", "surrogatepass"), text.encode("utf-16", "surrogatepass")):
        try:
            parse_wim_xml(data)
        except wimcore.WimcoreError:
            pass


@FUZZ
@given(edits=MUTATIONS, cut=st.none() | st.integers(min_value=0))
def test_fuzz_update_mum(edits: list[tuple[int, int]], cut: int | None) -> None:
    RUNS["update.mum"] += 1
    try:
        parse_mum(mutate(SEED_MUM, edits, cut))
    except wimcore.WimcoreError:
        pass


@FUZZ
@given(which=st.integers(min_value=0), edits=MUTATIONS, cut=st.none() | st.integers(min_value=0))
def test_fuzz_cabinet(which: int, edits: list[tuple[int, int]], cut: int | None) -> None:
    RUNS["cabinet"] += 1
    if not SEED_CABS:
        return
    work = _scratch()
    path = work / "f.cab"
    path.write_bytes(mutate(SEED_CABS[which % len(SEED_CABS)], edits, cut))
    try:
        use_cab(path, work / "out", follow_set=False)
    except wimcore.WimcoreError:
        pass
    assert {p.name for p in work.iterdir()} <= {"f.cab", "out"}


@FUZZ
@given(edits=MUTATIONS, cut=st.none() | st.integers(min_value=0))
def test_fuzz_hive(edits: list[tuple[int, int]], cut: int | None) -> None:
    RUNS["hive"] += 1
    try:
        use_hive(mutate(SEED_HIVE, edits, cut))
    except wimcore.WimcoreError:
        pass


@FUZZ
@given(which=st.integers(min_value=0), edits=MUTATIONS, cut=st.none() | st.integers(min_value=0))
def test_fuzz_msdelta(which: int, edits: list[tuple[int, int]], cut: int | None) -> None:
    RUNS["MSDelta"] += 1
    if not SEED_DELTAS:
        return
    delta, source = SEED_DELTAS[which % len(SEED_DELTAS)]
    data = mutate(delta, edits, cut)
    try:
        msdelta.info(data)
        out = msdelta.apply(data, source, expected_size=None)
    except DeltaError:
        return
    assert len(out) <= msdelta.MAX_TARGET_SIZE
