"""Layering: ``import wimcore`` and ``wimcore info`` never import the fleet layer or Dask."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROBE = """
import atexit, sys
def loaded():
    names = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')
             or m == 'wimcore.fleet' or m.startswith('wimcore.fleet.')]
    print('LOADED:' + ','.join(sorted(names)), file=sys.stderr)
atexit.register(loaded)
"""


def _loaded(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", PROBE + code], capture_output=True, text=True,
                         timeout=120)
    line = [x for x in out.stderr.splitlines() if x.startswith("LOADED:")]
    assert line, out.stderr
    return line[-1][len("LOADED:"):]


def test_import_wimcore_loads_no_fleet() -> None:
    assert _loaded("import wimcore, wimcore.fleet.catalog as c; c.Catalog") == \
        "wimcore.fleet,wimcore.fleet.catalog,wimcore.fleet.errors"
    assert _loaded("import wimcore") == ""


def test_wimcore_info_loads_no_fleet(sample4: Path) -> None:
    code = ("import sys\nfrom wimcore.cli import main\n"
            f"sys.argv = ['wimcore', 'info', {str(sample4 / 'sources/install.wim')!r}]\n"
            "main()\n")
    assert _loaded(code) == ""
