"""Sphinx configuration of wimcore's documentation site (built by ``bash scripts/docs.sh``).

Pages are MyST Markdown. The API reference is autodoc of the public modules; the
command-line reference comes from the commands' own help (sphinx-click for the click
groups, ``_ext/wimcore_docs.py`` for the wimlib-imagex verbs, DISM syntax and the top
help). Public names without a docstring are reported as warnings, which ``-W`` makes
fatal.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import wimcore  # noqa: E402  (after the path set-up)
from wimcore.cli.app import _package_group  # noqa: E402

# `wimcore package` gets its plan/stage/list/install commands when it is first loaded:
# load it as the command line does, so the reference shows every subcommand.
_package_group()

project = "wimcore"
author = "The wimcore authors"
copyright = "the wimcore authors"
release = version = wimcore.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx_click",
    "wimcore_docs",
]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# MyST: ```{directive} fences, $-free; headings get anchors so pages can link to sections.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
suppress_warnings: list[str] = []

# Broken references are errors (with -W): every wimcore name must resolve. Names of the
# standard library and third-party packages are not checked (no intersphinx inventories:
# the build must work offline).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!wimcore\b).*"),
]
# Private base classes that show in "Bases:" lines: plumbing, not API.
nitpick_ignore = [
    ("py:class", "wimcore.owner.HandleOwner"),
    ("py:class", "wimcore._native.loader.NativeLibraryError"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {
    "members": True,
    "undoc-members": True,
    "show-inheritance": True,
}
autoclass_content = "class"

html_theme = "alabaster"
html_title = f"wimcore {release}"
html_static_path: list[str] = []
