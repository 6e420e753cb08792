"""Coverage-guided fuzzing with atheris (``pip install -e .[fuzz]``), for longer runs.

    python -m tests.reliability.atheris_fuzz seeds corpus/     # seed inputs per target
    python -m tests.reliability.atheris_fuzz wim corpus/wim -max_total_time=600
    python -m tests.reliability.atheris_fuzz cab corpus/cab -atheris_runs=200000

Targets: wim, xml, mum, cab, hive. Any exception outside wimcore's hierarchy, or a crash,
is a finding; libFuzzer saves the input as crash-*.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import wimcore
    from wimcore.imageinfo import parse_wim_xml
    from wimcore.packages.model import parse_mum

from tests.reliability.exercise import use_cab, use_hive, use_wim

WORK = Path(tempfile.mkdtemp(prefix="wimcore-atheris-"))


def _fresh() -> Path:
    shutil.rmtree(WORK / "case", ignore_errors=True)
    (WORK / "case").mkdir()
    return WORK / "case"


def fuzz_wim(data: bytes) -> None:
    work = _fresh()
    path = work / "f.wim"
    path.write_bytes(data)
    try:
        use_wim(path, work / "out")
    except wimcore.WimcoreError:
        pass


def fuzz_xml(data: bytes) -> None:
    try:
        parse_wim_xml(data)
    except wimcore.WimcoreError:
        pass


def fuzz_mum(data: bytes) -> None:
    try:
        parse_mum(data)
    except wimcore.WimcoreError:
        pass


def fuzz_cab(data: bytes) -> None:
    work = _fresh()
    path = work / "f.cab"
    path.write_bytes(data)
    try:
        use_cab(path, work / "out", follow_set=False)
    except wimcore.WimcoreError:
        pass


def fuzz_hive(data: bytes) -> None:
    try:
        use_hive(data)
    except wimcore.WimcoreError:
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "wim": fuzz_wim, "xml": fuzz_xml, "mum": fuzz_mum, "cab": fuzz_cab, "hive": fuzz_hive,
}


def write_seeds(root: Path) -> None:
    """Seed corpora: small valid inputs per target, from the same generators the tests use."""
    from tests.reliability import fuzz_targets as seeds

    for name in TARGETS:
        (root / name).mkdir(parents=True, exist_ok=True)
    (root / "wim" / "seed.wim").write_bytes(seeds.SEED_WIM)
    (root / "hive" / "seed.hive").write_bytes(seeds.SEED_HIVE)
    (root / "mum" / "update.mum").write_bytes(seeds.SEED_MUM)
    (root / "xml" / "wim.xml").write_bytes(b"<WIM><IMAGE INDEX=\"1\"><NAME>a</NAME></IMAGE></WIM>")
    for n, cab in enumerate(seeds.SEED_CABS):
        (root / "cab" / f"seed{n}.cab").write_bytes(cab)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "seeds":
        write_seeds(Path(sys.argv[2]))
        return
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        raise SystemExit(f"usage: atheris_fuzz {{{','.join(TARGETS)}}} [libFuzzer options]")
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
