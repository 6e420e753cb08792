#!/usr/bin/env bash
# Set up wimcore on a Debian/Ubuntu machine: the system libraries it drives and a venv in .venv.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libwim15 wimtools libmspack0 cabextract libhivex0 xorriso ntfs-3g binutils gcc libwim-dev
          python3-venv)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,fleet]"
echo "setup: ready ($(.venv/bin/python --version), libwimlib $(.venv/bin/python -c 'import wimcore; print(wimcore.libwimlib_version())'))"
