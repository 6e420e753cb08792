#!/usr/bin/env bash
# Build the documentation site (docs/, Sphinx + MyST) into build/docs/html.
# Warnings are errors (-W, nitpicky): a broken cross-reference or link inside the site, or a
# public name without a docstring, fails the build. --keep-going lists them all first.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if ! "$PY" -c "import sphinx, myst_parser, sphinx_click" 2>/dev/null; then
  # A fresh clone: set up first (the venv with the docs extra: Sphinx, MyST, sphinx-click).
  bash scripts/setup.sh
fi
out=build/docs
rm -rf "$out/html" "$out/doctrees"
"$PY" -m sphinx -b html -W --keep-going -n -q -d "$out/doctrees" docs "$out/html" "$@"
echo "docs: built $out/html/index.html"
