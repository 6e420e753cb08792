"""Child-process driver: open each case and use it fully, reporting outcomes as JSON lines.

Run as ``python -m tests.reliability.exercise`` with a JSON list of cases on stdin. Each
case is bounded by SIGALRM (default action: the process dies), so a hang or a crash shows
up in the parent as a dead child with the last started case named.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any


def exercise_wim(path: str, dest: str) -> str:
    """Open, read every property, walk, apply and verify; 'ok' or 'error:<Class>'."""
    import wimcore

    try:
        with wimcore.open(path) as wim:
            wim.info  # noqa: B018 - reading is the exercise
            for image in wim.images:
                image.info  # noqa: B018
                for entry in image.walk():
                    entry.to_dict()
                image.apply(Path(dest) / str(image.index))
            wim.verify()
    except wimcore.WimcoreError as exc:
        return f"error:{type(exc).__name__}"
    except Exception as exc:
        return f"UNTYPED:{type(exc).__name__}:{exc}"
    return "ok"


def exercise_cab(path: str, dest: str) -> str:
    """Open a cabinet, list it and extract everything."""
    import wimcore
    from wimcore.packages.cab import Cabinet

    try:
        with Cabinet(path) as cab:
            for member in cab.members:
                _ = (member.name, member.size)
            cab.extract(dest)
    except wimcore.WimcoreError as exc:
        return f"error:{type(exc).__name__}"
    except Exception as exc:
        return f"UNTYPED:{type(exc).__name__}:{exc}"
    return "ok"


def exercise_hive(path: str, dest: str) -> str:
    """Open a hive and read every key and value."""
    import wimcore
    from wimcore.packages.hive import Hive

    try:
        with Hive.open(path) as hive:
            for key in hive.walk():
                for value in key.values():
                    _ = value.data
    except wimcore.WimcoreError as exc:
        return f"error:{type(exc).__name__}"
    except Exception as exc:
        return f"UNTYPED:{type(exc).__name__}:{exc}"
    return "ok"


def exercise_xml(path: str, dest: str) -> str:
    """Parse a document as update.mum, as WIM XML and as an answer file."""
    import wimcore
    from wimcore.imageinfo import parse_wim_xml
    from wimcore.packages.model import parse_mum
    from wimcore.xmlsafe import parse_xml

    data = Path(path).read_bytes()
    results = []
    for parse in (parse_mum, parse_wim_xml, parse_xml):
        try:
            parse(data)
            results.append("ok")
        except wimcore.WimcoreError as exc:
            results.append(f"error:{type(exc).__name__}")
        except Exception as exc:
            return f"UNTYPED:{type(exc).__name__}:{exc}"
    return ",".join(results)


KINDS = {"wim": exercise_wim, "cab": exercise_cab, "hive": exercise_hive, "xml": exercise_xml}


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
