"""One exit-code table for every command: shown by ``--help``, distinct codes, and opposite
outcomes (changed something / changed nothing) never share a code."""

from __future__ import annotations

import re
from pathlib import Path

from tests.cli.conftest import wimcore
from tests.conftest import tree_hashes
from wimcore.cli import exitcodes
from wimcore.cli.errors import describe
from wimcore.errors import Cancelled
from wimcore.interrupts import Interrupted
from wimcore.ledger import recording


def test_the_table_is_in_the_help_and_its_codes_are_distinct() -> None:
    codes = [code for code, _name, _meaning in exitcodes.TABLE]
    assert len(codes) == len(set(codes))
    assert {0, 1, 2, 3, exitcodes.EXIT_INCOMPLETE, 130, 143} <= set(codes)
    for args in (["--help"], ["-h"]):
        out = wimcore(*args)
        assert out.returncode == 0
        text = out.stdout.decode()
        for code, name, _meaning in exitcodes.TABLE:
            assert re.search(rf"^\s+{code}\s+{re.escape(name)}\s", text, re.M), (code, text)


def test_outcomes_map_to_codes() -> None:
    assert exitcodes.for_outcome(changed=False, complete=True) == 0
    assert exitcodes.for_outcome(changed=True, complete=True) == 0
    assert exitcodes.for_outcome(changed=True, complete=False) == exitcodes.EXIT_INCOMPLETE
    assert exitcodes.for_outcome(changed=False, complete=False) == exitcodes.EXIT_ERROR


def test_a_stop_says_nothing_changed_only_with_an_empty_ledger(tmp_path: Path) -> None:
    with recording("test") as ledger:
        assert describe(Interrupted(15)) == ("stopped by SIGTERM; nothing was changed", 143)
        assert describe(Cancelled("x")) == ("cancelled; nothing was changed", 130)
        ledger.plan(str(tmp_path / "a.wim"))
        ledger.plan(str(tmp_path / "b.iso"))
        assert describe(Cancelled("x"))[1] == 130  # planned is not changed
        ledger.changed(str(tmp_path / "a.wim"), how="replaced")
        ledger.keep("report", tmp_path / "r.json")
        message, code = describe(Interrupted(2))
    assert code == exitcodes.EXIT_INCOMPLETE
    assert message == (f"cancelled after the point of no return; test: changed: "
                       f"{tmp_path / 'a.wim'} (replaced); not changed: {tmp_path / 'b.iso'}; "
                       f"report: {tmp_path / 'r.json'}")
    # an error after the point of no return keeps its words and says what changed
    with recording("test") as ledger:
        ledger.changed(str(tmp_path / "a.wim"))
        message, code = describe(FileNotFoundError(2, "No such file", "x.iso"))
    assert code == exitcodes.EXIT_INCOMPLETE and message.startswith("x.iso: No such file; ")


def test_package_stage_missing_file_exits_3_like_plan(media: Path) -> None:
    wim = media / "sources" / "install.wim"
    before = tree_hashes(media)
    missing = media / "updates" / "KB0000000.msu"
    for verb in ("plan", "stage"):
        out = wimcore("package", verb, wim, "1", missing)
        assert out.returncode == exitcodes.EXIT_MISSING, (verb, out.stderr)
        assert str(missing) in out.stderr.decode()
    after = tree_hashes(media)
    assert {k: v for k, v in after.items() if not k.endswith(".wimcore.log")} == \
        {k: v for k, v in before.items() if not k.endswith(".wimcore.log")}


def test_media_service_failed_and_incomplete_have_different_codes(media: Path,
                                                                  tmp_path: Path) -> None:
    # failed: an input that is not an update stops the run before anything changes
    (media / "updates" / "README.txt").write_text("this month's updates\n")
    before = tree_hashes(media)
    out = wimcore("-q", "media", "service", media, "--updates", media / "updates",
                  "--backend", "staged")
    assert out.returncode == exitcodes.EXIT_ERROR, out.stderr
    assert tree_hashes(media) == before
    # incomplete: install images staged (the media changed), WinRE and boot not serviced
    (media / "updates" / "README.txt").unlink()
    out = wimcore("-q", "media", "service", media, "--updates", media / "updates",
                  "--backend", "staged")
    assert out.returncode == exitcodes.EXIT_INCOMPLETE, out.stderr
    assert tree_hashes(media) != before
    assert "incomplete" in out.stdout.decode().splitlines()[0]
