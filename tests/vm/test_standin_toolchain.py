"""The stand-in guest's parts, checked on the host without booting: the cpio writer against
busybox cpio, the module order against readelf and servicing-vm.md, the disk wrapping
against qemu-img and fdisk, the agent helpers with busybox sh and hivexsh, and the cache.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import IO

import pytest

from tests.vm.conftest import BuildStandin
from tests.vm.standin.build import DEFAULT_AGENT, StandinGuest, agent_exit_code
from tests.vm.standin.build import HERE as STANDIN
from tests.vm.standin.cpio import CpioEntry, write_newc
from tests.vm.standin.disks import make_ntfs_volume, mbr_header, present_as_disk
from tests.vm.standin.kernel import KernelTree, StandinUnavailable, obtain_kernel
from tests.vm.standin.kmod import ModuleError, ModuleTree, canonical
from wimcore.hive import Hive, ValueType, build_hive

BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.skipif(BUSYBOX is None, reason="busybox is not installed")

# The order servicing-vm.md found to work for if=ide disks.
DOC_IDE_ORDER = ["scsi_common", "scsi_mod", "crc64", "crc64_rocksoft_generic", "crc64-rocksoft",
                 "crct10dif_common", "crc-t10dif", "t10-pi", "sd_mod", "libata", "ata_piix"]


def _run(*args: str | os.PathLike[str], stdin: IO[bytes] | None = None,
         cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool, failing the test when it fails."""
    return subprocess.run([str(a) for a in args], stdin=stdin, cwd=cwd, capture_output=True,
                          text=True, check=True)


@needs_busybox
def test_cpio_archive_unpacks_with_busybox_cpio(tmp_path: Path) -> None:
    payload = os.urandom(5001)
    entries = [CpioEntry.directory("bin"), CpioEntry.file("bin/tool", payload, 0o755),
               CpioEntry.symlink("bin/sh", "/bin/tool"), CpioEntry.directory("etc"),
               CpioEntry.file("etc/empty", b""), CpioEntry.file("etc/odd name.txt", b"abc")]
    buffer = io.BytesIO()
    write_newc(buffer, entries)
    archive = tmp_path / "a.cpio"
    archive.write_bytes(buffer.getvalue())
    assert len(buffer.getvalue()) % 4 == 0
    listing = _run(BUSYBOX or "busybox", "cpio", "-t", stdin=archive.open("rb")).stdout
    assert listing.split("\n")[:-1] == [e.path for e in entries]
    out = tmp_path / "out"
    out.mkdir()
    _run(BUSYBOX or "busybox", "cpio", "-id", stdin=archive.open("rb"), cwd=out)
    assert (out / "bin" / "tool").read_bytes() == payload
    assert stat.S_IMODE((out / "bin" / "tool").stat().st_mode) == 0o755
    assert os.readlink(out / "bin" / "sh") == "/bin/tool"
    assert (out / "etc" / "empty").read_bytes() == b""
    assert (out / "etc" / "odd name.txt").read_bytes() == b"abc"


@pytest.mark.parametrize("name", ["", "/", "a/../../b", "a\0b"])
def test_cpio_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(ValueError):
        write_newc(io.BytesIO(), [CpioEntry.file(name, b"x")])


@pytest.fixture(scope="module")
def kernel() -> KernelTree:
    try:
        return obtain_kernel()
    except StandinUnavailable as exc:
        pytest.skip(f"no kernel package here: {exc}")


def test_module_order_loads_each_module_after_its_dependencies(kernel: KernelTree) -> None:
    tree = ModuleTree(kernel.modules)
    order = tree.load_order(["crc64_rocksoft_generic", "crct10dif_generic", "sd_mod", "ata_piix"])
    names = [info.name for info in order]
    assert set(map(canonical, DOC_IDE_ORDER)) <= set(names)
    readelf = shutil.which("readelf")
    for position, info in enumerate(order):
        for dep in info.depends:
            assert dep in names[:position], f"{info.name} before its dependency {dep}"
        if readelf is not None:  # binutils' view of the same .modinfo section
            dump = _run(readelf, "-p", ".modinfo", info.path).stdout
            field = next(line.split("depends=", 1)[1] for line in dump.splitlines()
                         if "depends=" in line)
            assert sorted(canonical(d) for d in field.strip().split(",") if d) \
                == sorted(info.depends)
    # the providers the CRC libraries look up are loaded before those libraries
    assert names.index("crc64_rocksoft_generic") < names.index("crc64_rocksoft")
    assert names.index("crct10dif_generic") < names.index("crc_t10dif")


def test_volume_file_becomes_partition_one_of_the_vmdk_disk(tmp_path: Path) -> None:
    qemu_img = shutil.which("qemu-img")
    fdisk = shutil.which("fdisk", path="/usr/sbin:/sbin:/usr/bin:/bin") or BUSYBOX
    if qemu_img is None or fdisk is None:
        pytest.skip("qemu-img (qemu-utils) or fdisk is not installed")
    size = 8 << 20
    volume = make_ntfs_volume(tmp_path / "vol.img", size, "T")
    disk = present_as_disk(volume)
    info = _run(qemu_img, "info", "--output=json", disk).stdout
    assert f'"virtual-size": {size + (1 << 20)},' in info  # the header is mapped once
    raw = tmp_path / "raw.img"
    _run(qemu_img, "convert", "-f", "vmdk", "-O", "raw", disk, raw)
    data = raw.read_bytes()
    assert data[1 << 20:] == volume.read_bytes()
    assert data[(1 << 20) + 3:(1 << 20) + 11] == b"NTFS    "
    fdisk_args = ["fdisk", "-l"] if fdisk == BUSYBOX else ["-l"]
    listing = _run(fdisk, *fdisk_args, raw).stdout
    row = next(line for line in listing.splitlines() if line.startswith(str(raw)))
    fields = row.split()
    assert "2048" in fields and "7" in fields, listing
    assert str(2048 + size // 512 - 1) in fields, listing


def test_mbr_header_refuses_volumes_an_mbr_cannot_describe() -> None:
    with pytest.raises(ValueError):
        mbr_header(0)
    with pytest.raises(ValueError):
        mbr_header(1 << 32)


def _helpers(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` under busybox sh with functions.sh loaded, as an agent would."""
    functions = (STANDIN / "functions.sh").read_text().replace(
        "/lib/standin/lsval-to-setval.awk", str(STANDIN / "lsval-to-setval.awk")).replace(
        "/run/standin", str(tmp_path / "run"))
    (tmp_path / "functions.sh").write_text(functions)
    return subprocess.run([BUSYBOX or "busybox", "sh", "-c", f". ./functions.sh\n{script}"],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={"PATH": f"{os.environ['PATH']}:/usr/sbin:/sbin"})


CV = "Microsoft\\Windows NT\\CurrentVersion"


@needs_busybox
def test_hive_helpers_set_one_value_and_keep_the_others(tmp_path: Path) -> None:
    if shutil.which("hivexsh") is None:
        pytest.skip("hivexsh is not installed (apt-get install libhivex-bin)")
    values = {"CurrentBuild": "26100", "UBR": 1742, "Quoted": 'say "hi" \\o/',
              "Expand": "%SystemRoot%", "Multi": ["a", "b c"], "Blob": bytes(range(20)),
              "Big": 2**40}
    (tmp_path / "SOFTWARE").write_bytes(build_hive({"Microsoft": {"Windows NT": {
        "CurrentVersion": values}}}))
    with Hive.open(tmp_path / "SOFTWARE", writable=True) as hive:  # a REG_EXPAND_SZ too
        hive.set_value(CV, "Expand", "%SystemRoot%", ValueType.REG_EXPAND_SZ)
        hive.commit()
    package = "Microsoft\\Windows\\CurrentVersion\\Component Based Servicing\\Packages\\P~1"
    done = _helpers(tmp_path, f"""
standin_hive_setval SOFTWARE '{CV}' ubr dword:0x1092 || exit 1
standin_hive_mkkey SOFTWARE '{package}' || exit 2
standin_hive_mkkey SOFTWARE '{package}' || exit 3
standin_hive_setval SOFTWARE '{package}' CurrentState dword:0x70 || exit 4
""")
    assert done.returncode == 0, done.stderr
    with Hive.open(tmp_path / "SOFTWARE") as hive:
        cv = hive[CV]
        assert cv.get_value("UBR") == 0x1092
        assert len(cv.values()) == len(values)
        for name, value in values.items():
            if name != "UBR":
                assert cv.get_value(name) == value, name
        assert hive[package].get_value("CurrentState") == 0x70


@needs_busybox
def test_hive_setval_refuses_what_it_cannot_keep_and_writes_nothing(tmp_path: Path) -> None:
    if shutil.which("hivexsh") is None:
        pytest.skip("hivexsh is not installed (apt-get install libhivex-bin)")
    hive = tmp_path / "SOFTWARE"
    hive.write_bytes(build_hive({"Microsoft": {"Windows NT": {"CurrentVersion": {
        "Owner": "Zoë", "UBR": 1}}}}))
    before = hive.read_bytes()
    done = _helpers(tmp_path, f"standin_hive_setval SOFTWARE '{CV}' UBR dword:2")
    assert done.returncode != 0
    assert "cannot keep the other values" in done.stderr
    assert hive.read_bytes() == before


@needs_busybox
def test_fstype_tells_ntfs_from_fat(tmp_path: Path) -> None:
    make_ntfs_volume(tmp_path / "n.img", 4 << 20, "N")
    for name, size, args in (("f16.img", 8 << 20, []), ("f32.img", 40 << 20, ["-F", "32"])):
        with open(tmp_path / name, "wb") as handle:
            handle.truncate(size)
        _run(BUSYBOX or "busybox", "mkdosfs", *args, tmp_path / name)
    (tmp_path / "plain.img").write_bytes(bytes(4096))
    done = _helpers(tmp_path, "for f in n.img f16.img f32.img plain.img; do "
                              "echo \"$f=$(standin_fstype $f)\"; done")
    assert done.stdout.split() == ["n.img=ntfs", "f16.img=vfat", "f32.img=vfat", "plain.img="]


def test_end_line_gives_the_agent_exit_code() -> None:
    console = "standin: running /agent.sh\r\nstandin: END rc=3\r\n[ 1.0] reboot: Power down\r\n"
    assert agent_exit_code(console) == 3
    assert agent_exit_code("standin: running /agent.sh\n") is None


def test_initrd_is_cached_by_its_inputs_and_holds_the_guest(
        build_standin: BuildStandin, tmp_path: Path) -> None:
    agent = tmp_path / "agent.sh"
    agent.write_text("#!/bin/sh\necho toolchain test agent\n")
    first = build_standin(agent)
    again = build_standin(agent)
    assert not again.built and again.initrd == first.initrd
    agent.write_text("#!/bin/sh\necho another agent\n")
    other = build_standin(agent)
    assert other.initrd != first.initrd
    with gzip.open(first.initrd) as handle:
        archive = handle.read()
    assert archive.startswith(b"070701")
    listing = subprocess.run([BUSYBOX or "busybox", "cpio", "-t"], input=archive,
                             capture_output=True, check=True).stdout.decode().split("\n")
    for path in ("init", "agent.sh", "bin/sh", "sbin/insmod", "dev/console",
                 "lib/standin/functions.sh", "lib64/ld-linux-x86-64.so.2",
                 "usr/lib/x86_64-linux-gnu/gconv/UTF-16.so", *(p.lstrip("/") for p in
                                                             first.tools.values())):
        assert path in listing, path
    modules = [p for p in listing if p.endswith(".ko")]
    assert sorted(canonical(Path(p).name[:-3]) for p in modules) == sorted(first.modules)
    assert first.qemu_args("standin.timeout=5")[-1].endswith(" standin.timeout=5")


def test_session_guest_carries_the_vm_backends_agent(standin_guest: StandinGuest) -> None:
    with gzip.open(standin_guest.initrd) as handle:
        archive = handle.read()
    agent = DEFAULT_AGENT.read_bytes()
    assert b"agent.sh\0" in archive and agent in archive
    assert standin_guest.kernel.is_file() and standin_guest.cmdline.startswith("console=ttyS0")


def test_module_order_skips_missing_optional_modules_and_refuses_missing_required(
        kernel: KernelTree) -> None:
    tree = ModuleTree(kernel.modules)
    order = tree.load_order(["no_such_provider", "fuse"], optional=["no_such_provider"])
    assert [info.name for info in order] == ["fuse"]
    with pytest.raises(ModuleError):
        tree.load_order(["no_such_driver"])
