"""The site's extension (docs/_ext/wimcore_docs.py), run in small Sphinx builds:
public names without a docstring are reported, and the wimlib-imagex reference holds every
verb's options as the command prints them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install -e .[docs])")


def build(src: Path, index_rst: str, modules: dict[str, str] | None = None) -> tuple[str, str]:
    """Build ``index_rst`` to HTML with the site's extension; return (html, warnings)."""
    src.mkdir()
    for name, code in (modules or {}).items():
        (src / f"{name}.py").write_text(textwrap.dedent(code))
    (src / "conf.py").write_text(
        "import sys\n"
        f"sys.path[:0] = [{str(src)!r}, {str(REPO / 'docs' / '_ext')!r}]\n"
        "extensions = ['sphinx.ext.autodoc', 'wimcore_docs']\n"
        "autodoc_default_options = {'members': True, 'undoc-members': True}\n")
    (src / "index.rst").write_text(textwrap.dedent(index_rst))
    # A process of its own per build: Sphinx registers its node classes once per process.
    run = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E",
                          str(src), str(src / "_build")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    return (src / "_build" / "index.html").read_text(), run.stderr


def test_public_names_without_a_docstring_are_warnings(tmp_path: Path) -> None:
    _, warnings = build(tmp_path / "src", """\
        Title
        =====

        .. automodule:: docmod
        """, {"docmod": '''\
        """A module."""


        def documented() -> None:
            """Has words."""


        def bare() -> None:
            pass


        class Bare:
            def method(self) -> None:
                """Has words."""


        def _private() -> None:
            pass
        '''})
    assert "public function docmod.bare has no docstring" in warnings
    assert "public class docmod.Bare has no docstring" in warnings
    assert "docmod.documented" not in warnings
    assert "docmod.Bare.method" not in warnings
    assert "docmod._private" not in warnings


def test_the_imagex_reference_holds_every_verb_and_option(tmp_path: Path) -> None:
    from wimcore.cli.imagex import VERBS

    html, warnings = build(tmp_path / "src", """\
        Title
        =====

        .. wimcore-help:: imagex
        """)
    assert "WARNING" not in warnings
    for name, verb in VERBS.items():
        assert f'id="imagex-{name}"' in html
        assert f"Usage: wimcore {name} " in html
        for opt in verb.options:
            if not opt.hidden:
                assert f"--{opt.names[0]}" in html, (name, opt.names)
