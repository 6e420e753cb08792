"""Child-process driver: open each case and use it fully, reporting outcomes as JSON lines.

Run as ``python -m tests.reliability.exercise`` with a JSON list of cases on stdin. Each
case is bounded by SIGALRM (default action: the process dies), so a hang or a crash shows
up in the parent as a dead child with the last started case named.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def use_wim(path: str | Path, dest: str | Path) -> None:
    """Open a WIM, read every property, walk, apply and verify it."""
    import wimcore

    with wimcore.open(path) as wim:
        _ = wim.info
        for image in wim.images:
            _ = image.info
            for entry in image.walk():
                entry.to_dict()
            image.apply(Path(dest) / str(image.index))
        wim.verify()


def use_cab(path: str | Path, dest: str | Path, *, follow_set: bool = True) -> None:
    """Open a cabinet, list it and extract everything."""
    from wimcore.packages.cab import Cabinet

    with Cabinet(path, follow_set=follow_set) as cab:
        for member in cab.members:
            _ = (member.name, member.size, member.datetime)
        cab.extract(dest)


def use_hive(data: bytes) -> None:
    """Open a hive from bytes and read every key and value."""
    from wimcore.hive import Hive

    with Hive.from_bytes(data) as hive:
        for key in hive.walk():
            for value in key.values():
                _ = value.data


def _outcome(action: Callable[[], object]) -> str:
    """'ok', 'error:<Class>' for a wimcore error, or 'UNTYPED:...' (a finding)."""
    import wimcore

    try:
        action()
    except wimcore.WimcoreError as exc:
        return f"error:{type(exc).__name__}"
    except Exception as exc:
        return f"UNTYPED:{type(exc).__name__}:{exc}"
    return "ok"


def exercise_xml(path: str, dest: str) -> str:
    """Parse a document as update.mum, as WIM XML and as an answer file."""
    from wimcore.imageinfo import parse_wim_xml
    from wimcore.packages.model import parse_mum
    from wimcore.xmlsafe import parse_xml

    data = Path(path).read_bytes()
    results = [_outcome(lambda p=parse: p(data)) for parse in (parse_mum, parse_wim_xml,
                                                                parse_xml)]
    untyped = [r for r in results if r.startswith("UNTYPED")]
    return untyped[0] if untyped else ",".join(results)


KINDS: dict[str, Callable[[str, str], str]] = {
    "wim": lambda path, dest: _outcome(lambda: use_wim(path, dest)),
    "cab": lambda path, dest: _outcome(lambda: use_cab(path, dest)),
    "hive": lambda path, dest: _outcome(lambda: use_hive(Path(path).read_bytes())),
    "xml": exercise_xml,
}


def main() -> None:
    cases: list[dict[str, Any]] = json.loads(sys.stdin.read())
    for case in cases:
        print(json.dumps({"start": case["id"]}), flush=True)
        signal.alarm(int(case.get("seconds", 30)))
        outcome = KINDS[case["kind"]](case["path"], case["dest"])
        signal.alarm(0)
        print(json.dumps({"id": case["id"], "outcome": outcome}), flush=True)


if __name__ == "__main__":
    main()
