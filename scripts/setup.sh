#!/usr/bin/env bash
# Set up wimcore on a Debian/Ubuntu machine: the system libraries it drives and a venv in .venv.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libwim15 wimtools libmspack0 cabextract libhivex0 xorriso ntfs-3g binutils gcc libwim-dev
          python3-venv
          # the VM backend's tests: QEMU and the stand-in guest's parts (tests/vm/standin)
          qemu-system-x86 qemu-utils busybox-static libhivex-bin mtools)
missing=()
for pkg in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO python3 scripts/wait_apt_lock.py
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    "${missing[@]}" >/dev/null
elif ! apt-cache show --no-all-versions linux-image-amd64 2>/dev/null | grep '^Depends:' >/dev/null; then
  # The stand-in guest's kernel is downloaded at test time (tests/vm/standin/kernel.py):
  # apt must know the package, so lists that were never fetched are fetched once here.
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: fetching apt's package lists (the VM tests download a kernel package)"
  $SUDO python3 scripts/wait_apt_lock.py
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,fleet]"
echo "setup: ready ($(.venv/bin/python --version), libwimlib $(.venv/bin/python -c 'import wimcore; print(wimcore.libwimlib_version())'))"
