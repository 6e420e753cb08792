#!/usr/bin/env bash
# Set up wimcore on a Debian/Ubuntu machine: the system libraries it drives and a venv in .venv.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libwim15 wimtools libmspack0 cabextract libhivex0 xorriso ntfs-3g binutils gcc libwim-dev
          python3-venv
          # the VM backend's tests: QEMU and the stand-in guest's parts (tests/vm/standin)
          qemu-system-x86 qemu-utils busybox-static libhivex-bin mtools)
# wimcore's own C (the MSDelta decoding loops, native/msdelta.c) is compiled by pip through
# cffi: it needs gcc (above) and the interpreter's headers, from python3-dev when the
# interpreter is the system one and has none.
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import os, sysconfig; raise SystemExit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' 2>/dev/null; then
  packages+=(python3-dev)
fi
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
elif ! apt-cache show --no-all-versions linux-image-amd64 2>/dev/null | grep '^Depends:' >/dev/null; then
  # The stand-in guest's kernel is downloaded at test time (tests/vm/standin/kernel.py):
  # apt must know the package, so lists that were never fetched are fetched once here.
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: fetching apt's package lists (the VM tests download a kernel package)"
  $SUDO apt-get update -qq
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,fleet]"
if ! .venv/bin/python -c 'import wimcore._native._msdelta' 2>/dev/null; then
  echo "setup: error: the MSDelta decoder (native/msdelta.c) did not build; see pip's output" >&2
  exit 1
fi
echo "setup: ready ($(.venv/bin/python --version), libwimlib $(.venv/bin/python -c 'import wimcore; print(wimcore.libwimlib_version())'))"
