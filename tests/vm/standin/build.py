"""Build the stand-in guest: Debian's kernel plus an initramfs holding busybox, ntfs-3g,
ntfsprogs, hivexsh, the disk and FUSE modules, our ``/init`` and the agent script.

Nothing is installed and no root is needed: the kernel comes from its .deb (``kernel.py``),
the tools and their libraries from the host's installed packages (``ldd``), and the
initramfs is a gzip'd newc cpio written here (``cpio.py``). The initrd is cached under a
hash of everything that goes into it, agent included, so a test session builds it once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.vm.standin.cpio import CpioEntry, write_newc
from tests.vm.standin.kernel import (
    KernelTree,
    StandinUnavailable,
    cache_lock,
    cache_root,
    obtain_kernel,
)
from tests.vm.standin.kmod import ModuleTree, module_bytes

HERE = Path(__file__).resolve().parent
INIT_SCRIPT = HERE / "init"
HELPERS = (HERE / "functions.sh", HERE / "lsval-to-setval.awk")
DEFAULT_AGENT = HERE / "agent.sh"
BUILDER_VERSION = "1"  # bump when the layout of the initramfs changes

# The guest's command line: console on the first serial port; a panic (init died) reboots at
# once, and QEMU's -no-reboot turns that into an exit; "quiet" keeps kernel chatter off it.
CMDLINE = "console=ttyS0 panic=-1 quiet"
# init's last line before power-off: "standin: END rc=<the agent's exit code>".
END_LINE = re.compile(r"^standin: END rc=(\d+)\s*$", re.MULTILINE)

# Modules per kind of disk, loaded in dependency order (kmod.ModuleTree.load_order).
# The CRC providers come first so that crc64-rocksoft and crc-t10dif (needed by sd_mod
# through t10-pi) find their crypto algorithms without asking for a module.
MODULE_SETS: dict[str, tuple[str, ...]] = {
    "ide": ("crc64_rocksoft_generic", "crct10dif_generic", "sd_mod", "ata_piix"),
    "ahci": ("crc64_rocksoft_generic", "crct10dif_generic", "sd_mod", "ahci"),
    "virtio": ("virtio_pci", "virtio_blk"),
    "fuse": ("fuse",),
    "vfat": ("vfat", "nls_cp437", "nls_iso8859_1", "nls_ascii", "nls_utf8"),
}
DEFAULT_FEATURES = ("ide", "ahci", "virtio", "fuse", "vfat")
# Loaded when the kernel has them (newer kernels dropped or built in these providers).
OPTIONAL_MODULES = ("crc64_rocksoft_generic", "crct10dif_generic")

# Host tools copied into the guest's /usr/bin, and the Debian package that has each.
TOOLS = {"ntfs-3g": "ntfs-3g", "ntfscp": "ntfs-3g", "ntfscat": "ntfs-3g",
         "ntfsinfo": "ntfs-3g", "ntfsls": "ntfs-3g", "hivexsh": "libhivex-bin"}
TOOL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# libhivex converts names and strings with iconv between UTF-8, "LATIN1" and "UTF-16LE";
# glibc loads those two from gconv modules (seen with strace), not from its built-ins.
# Without them every hivexsh command fails with "Bad file descriptor" (a failed iconv_open).
GCONV_MODULES = ("gconv-modules.cache", "ISO8859-1.so", "UTF-16.so")
BUSYBOX_CANDIDATES = (Path("/bin/busybox"), Path("/usr/bin/busybox"))


@dataclass(frozen=True)
class StandinGuest:
    """A built stand-in guest: boot it with ``qemu-system-x86_64 ... *guest.qemu_args()``."""

    kernel: Path
    initrd: Path
    cmdline: str
    kernel_release: str
    kernel_package: str
    modules: tuple[str, ...]
    built: bool = False  # True when this call wrote the initrd, False when it was cached
    build_seconds: float = 0.0
    tools: dict[str, str] = field(default_factory=dict)  # tool -> its path in the guest

    def qemu_args(self, extra_cmdline: str = "") -> list[str]:
        """``-kernel/-initrd/-append`` for QEMU; ``extra_cmdline`` is appended (for example
        ``standin.timeout=60``, read by the agent through /proc/cmdline)."""
        append = f"{self.cmdline} {extra_cmdline}".strip()
        return ["-kernel", str(self.kernel), "-initrd", str(self.initrd), "-append", append]


def agent_exit_code(console: str) -> int | None:
    """The agent's exit code from the guest's console text, None if init never got there."""
    found = END_LINE.findall(console.replace("\r", ""))
    return int(found[-1]) if found else None


def _is_static(path: Path) -> bool:
    """An ELF executable without a program interpreter (PT_INTERP) runs with no libraries."""
    data = path.read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    phoff = int.from_bytes(data[0x20:0x28], "little")
    phentsize = int.from_bytes(data[0x36:0x38], "little")
    phnum = int.from_bytes(data[0x38:0x3A], "little")
    return all(int.from_bytes(data[phoff + i * phentsize:phoff + i * phentsize + 4], "little") != 3
               for i in range(phnum))


def find_busybox() -> Path:
    """The host's statically linked busybox (Debian's busybox-static)."""
    for path in BUSYBOX_CANDIDATES:
        if path.is_file() and _is_static(path.resolve()):
            return path.resolve()
    raise StandinUnavailable("no static busybox on this host (apt-get install busybox-static)")


def find_tool(name: str) -> Path:
    """A host tool by name, also in the sbin folders a non-root PATH may lack."""
    found = shutil.which(name, path=f"{os.environ.get('PATH', '')}:{TOOL_PATH}")
    if found is None:
        raise StandinUnavailable(f"{name} is not installed (apt-get install {TOOLS[name]})")
    return Path(found)


def shared_libraries(binary: Path) -> list[str]:
    """The absolute paths ``ldd`` reports for a dynamic executable, the loader included."""
    proc = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise StandinUnavailable(f"ldd {binary} failed: {proc.stderr.strip()}")
    libs = []
    for line in proc.stdout.splitlines():
        if "not found" in line:
            raise StandinUnavailable(f"{binary}: a library is missing: {line.strip()}")
        match = re.search(r"(?:=>\s*)?(/\S+)\s+\(0x", line)
        if match:
            libs.append(match.group(1))
    return libs


def busybox_applets(busybox: Path) -> list[str]:
    """Where busybox's applets live (``bin/sh``, ``sbin/insmod``, ...), relative to /."""
    proc = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                          check=True)
    return [line.strip() for line in proc.stdout.splitlines() if line.strip()]


class _Layout:
    """The initramfs being assembled: guest path -> entry, parents added on demand."""

    def __init__(self) -> None:
        self.entries: dict[str, CpioEntry] = {}

    def _parents(self, path: str) -> None:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/".join(parts[:i])
            self.entries.setdefault(parent, CpioEntry.directory(parent))

    def add(self, entry: CpioEntry) -> None:
        path = entry.path.strip("/")
        self._parents(path)
        self.entries[path] = CpioEntry(path, entry.mode, entry.data, entry.rdev)

    def ordered(self) -> list[CpioEntry]:
        return [self.entries[path] for path in sorted(self.entries)]


def _host_file_entry(guest_path: str, host: Path) -> CpioEntry:
    real = host.resolve()
    perm = stat.S_IMODE(real.stat().st_mode)
    return CpioEntry.file(guest_path, real.read_bytes(), perm)


def _userland(layout: _Layout) -> dict[str, str]:
    """busybox and its applets, the tools and every library they load; returns tool paths."""
    busybox = find_busybox()
    layout.add(CpioEntry.file("bin/busybox", busybox.read_bytes(), 0o755))
    for applet in busybox_applets(busybox):
        if applet != "bin/busybox":
            layout.add(CpioEntry.symlink(applet, "/bin/busybox"))
    tools: dict[str, str] = {}
    libraries: set[str] = set()
    for name in TOOLS:
        host = find_tool(name)
        layout.add(_host_file_entry(f"usr/bin/{name}", host))
        tools[name] = f"/usr/bin/{name}"
        libraries.update(shared_libraries(host))
    for lib in sorted(libraries):
        layout.add(_host_file_entry(lib, Path(lib)))
    for module in gconv_modules(libraries):
        layout.add(_host_file_entry(str(module), module))
    return tools


def gconv_modules(libraries: Iterable[str]) -> list[Path]:
    """glibc's iconv modules that hivexsh needs, from the gconv folder beside the libc used."""
    libc = next((Path(lib) for lib in libraries if Path(lib).name.startswith("libc.so")), None)
    if libc is None:
        raise StandinUnavailable("no libc among the tools' libraries")
    # glibc looks in the folder compiled into it, $libdir/gconv, which on Debian is under
    # /usr/lib/<multiarch> even when ldd names /lib/<multiarch> (a usrmerge link there).
    folder = Path("/usr/lib") / libc.parent.name / "gconv"
    missing = [name for name in GCONV_MODULES if not (folder / name).is_file()]
    if missing:
        raise StandinUnavailable(f"glibc's iconv modules {missing} are not in {folder}")
    return [folder / name for name in GCONV_MODULES]


def _skeleton(layout: _Layout, agent: Path) -> None:
    """The folders, device node and files of our own that every guest has."""
    for folder in ("proc", "sys", "dev", "tmp", "run", "mnt", "root", "etc"):
        layout.add(CpioEntry.directory(folder))
    # The kernel opens /dev/console for init's stdio before anything is mounted.
    layout.add(CpioEntry.char_device("dev/console", 5, 1))
    layout.add(CpioEntry.symlink("etc/mtab", "/proc/self/mounts"))
    layout.add(CpioEntry.file("init", INIT_SCRIPT.read_bytes(), 0o755))
    layout.add(CpioEntry.file("agent.sh", agent.read_bytes(), 0o755))
    for helper in HELPERS:
        layout.add(CpioEntry.file(f"lib/standin/{helper.name}", helper.read_bytes()))


def _modules(layout: _Layout, kernel: KernelTree, features: Sequence[str]) -> list[str]:
    """The modules the features need, decompressed, and ``standin.order`` listing them."""
    wanted: list[str] = []
    for feature in features:
        wanted.extend(MODULE_SETS[feature])
    tree = ModuleTree(kernel.modules)
    order = tree.load_order(wanted, optional=OPTIONAL_MODULES)
    lines = []
    for info in order:
        rel = info.path.relative_to(kernel.modules).as_posix().split(".ko")[0] + ".ko"
        layout.add(CpioEntry.file(f"lib/modules/{kernel.release}/{rel}", module_bytes(info.path)))
        lines.append(rel)
    layout.add(CpioEntry.file(f"lib/modules/{kernel.release}/standin.order",
                              "".join(f"{line}\n" for line in lines).encode()))
    return [info.name for info in order]


def _input_key(kernel: KernelTree, agent: Path, features: Sequence[str]) -> str:
    """A digest of everything the initrd is made of, so a changed input gives a new build."""
    digest = hashlib.sha256()

    def feed(label: str, data: bytes) -> None:
        digest.update(f"{label}\0{len(data)}\0".encode())
        digest.update(data)

    feed("builder", BUILDER_VERSION.encode())
    feed("kernel", f"{kernel.package}={kernel.version}".encode())
    feed("features", ",".join(features).encode())
    for path in (INIT_SCRIPT, *HELPERS, agent):
        feed(path.name, path.read_bytes())
    busybox = find_busybox()
    feed("busybox", busybox.read_bytes())
    for name in TOOLS:
        host = find_tool(name)
        feed(name, host.resolve().read_bytes())
        for lib in shared_libraries(host):
            feed(lib, Path(lib).resolve().read_bytes())
    for module in gconv_modules(shared_libraries(find_tool("hivexsh"))):
        feed(str(module), module.read_bytes())
    return digest.hexdigest()[:24]


def build_guest(agent: Path, cache_dir: Path | None = None, *,
                features: Iterable[str] = DEFAULT_FEATURES) -> StandinGuest:
    """The stand-in guest running ``agent`` as /agent.sh, from the cache or built now.

    Raises ``StandinUnavailable`` when the kernel package or a host tool cannot be had.
    """
    started = time.monotonic()
    features = tuple(features)
    unknown = [f for f in features if f not in MODULE_SETS]
    if unknown:
        raise ValueError(f"unknown stand-in features {unknown}; known: {sorted(MODULE_SETS)}")
    if not agent.is_file():
        raise FileNotFoundError(agent)
    kernel = obtain_kernel(cache_dir)
    root = cache_root(cache_dir) / "initrd"
    key = _input_key(kernel, agent, features)
    initrd = root / f"{key}.cpio.gz"
    manifest = root / f"{key}.json"
    built = False
    if not (initrd.is_file() and manifest.is_file()):
        with cache_lock(root.parent):
            if not (initrd.is_file() and manifest.is_file()):
                _write_initrd(kernel, agent, features, initrd, manifest)
                built = True
                _prune_initrds(root, keep=initrd)
    os.utime(initrd)  # the age _prune_initrds goes by is the time of last use
    facts = json.loads(manifest.read_text())
    return StandinGuest(kernel=kernel.vmlinuz, initrd=initrd, cmdline=CMDLINE,
                        kernel_release=kernel.release,
                        kernel_package=f"{kernel.package}={kernel.version}",
                        modules=tuple(facts["modules"]), built=built,
                        build_seconds=time.monotonic() - started, tools=facts["tools"])


def _prune_initrds(root: Path, keep: Path, max_age_days: float = 14) -> None:
    """Remove cached initrds unused for ``max_age_days`` (each agent edit makes a new one)."""
    limit = time.time() - max_age_days * 86400
    for stale in root.glob(".initrd-*"):  # left by a killed build; the caller holds the lock
        stale.unlink(missing_ok=True)
    for old in root.glob("*.cpio.gz"):
        if old != keep and old.stat().st_mtime < limit:
            old.unlink(missing_ok=True)
            old.with_name(old.name.replace(".cpio.gz", ".json")).unlink(missing_ok=True)


def _write_initrd(kernel: KernelTree, agent: Path, features: Sequence[str], initrd: Path,
                  manifest: Path) -> None:
    """Assemble and write the gzip'd cpio and its manifest, each under a temporary name first."""
    layout = _Layout()
    _skeleton(layout, agent)
    tools = _userland(layout)
    modules = _modules(layout, kernel, features)
    facts = {"kernel": f"{kernel.package}={kernel.version}", "release": kernel.release,
             "features": list(features), "modules": modules, "tools": tools}
    layout.add(CpioEntry.file("etc/standin.json", json.dumps(facts, indent=1).encode()))
    initrd.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=initrd.parent, prefix=".initrd-", delete=False) as tmp:
        try:
            with gzip.GzipFile(fileobj=tmp, mode="wb", compresslevel=6, mtime=0) as gz:
                write_newc(gz, layout.ordered())  # type: ignore[arg-type]
            tmp.flush()
            os.fsync(tmp.fileno())
        except BaseException:
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, initrd)
    manifest_tmp = manifest.with_name(f".{manifest.name}.{os.getpid()}")
    manifest_tmp.write_text(json.dumps(facts, indent=1))
    os.replace(manifest_tmp, manifest)
