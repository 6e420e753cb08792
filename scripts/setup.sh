#!/usr/bin/env bash
# Set up wimcore on a Debian/Ubuntu machine: the system libraries it drives and a venv in .venv.
# Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libwim15 wimtools libmspack0 cabextract libhivex0 xorriso ntfs-3g binutils gcc libwim-dev
          python3-venv
          # the fleet tests read the catalog with the sqlite3 shell (an independent reader)
          sqlite3
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
  $SUDO python3 scripts/wait_apt_lock.py
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
    "${missing[@]}" >/dev/null
elif ! apt-cache show --no-all-versions linux-image-amd64 2>/dev/null | grep '^Depends:' >/dev/null; then
  # The stand-in guest's kernel comes from apt (tests/vm/standin/kernel.py): apt must know
  # the package, so lists that were never fetched are fetched once here.
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: fetching apt's package lists (the VM tests download a kernel package)"
  $SUDO python3 scripts/wait_apt_lock.py
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
fi

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
WIMCORE_REQUIRE_NATIVE=1 .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test,fleet,docs]"
if ! .venv/bin/python -c 'import wimcore._native._msdelta' 2>/dev/null; then
  echo "setup: error: the MSDelta decoder (native/msdelta.c) did not build; see pip's output" >&2
  exit 1
fi
echo "setup: ready ($(.venv/bin/python --version), libwimlib $(.venv/bin/python -c 'import wimcore; print(wimcore.libwimlib_version())'))"

# The VM tests' stand-in guest: download and unpack the kernel package apt offers (apt-get
# download + dpkg -x, nothing installed) and build the initrd now, with the tests' own code,
# into the cache the tests read (~/.cache/wimcore/standin, or $WIMCORE_STANDIN_CACHE): a
# test never finds it missing, and a failure here names what is wrong.
echo "setup: caching the stand-in guest (kernel package and initrd) for the VM tests"
.venv/bin/python - <<'PY'
from tests.vm.standin.build import DEFAULT_AGENT, build_guest

guest = build_guest(DEFAULT_AGENT)
state = f"built in {guest.build_seconds:.1f} s" if guest.built else "cached"
print(f"setup: stand-in guest ready: {guest.kernel_package} ({state})")
PY
