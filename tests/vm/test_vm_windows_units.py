"""The vm backend against how WinPE and DISM behave, host side (issue 19), without booting.

DISM's code table and the batch generated from it, QEMU's command lines for KVM and TCG,
the launcher's disk waits and diskpart script, the post-check after component cleanup,
the NetFX3 source check, the LZX boot.wim with WinPE's scratch space raised in its SYSTEM
hive, and the volume check used when a VM is stopped. Real libwimlib, libhivex, ntfs-3g.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

import wimcore
from tests.vm.vmfactory import file_digest, wf, winpe_wim
from wimcore.hive import Hive
from wimcore.packages.intake import prepare_inputs
from wimcore.servicing import ServicingRunError, inventory, service_wim
from wimcore.servicing import dism_codes as dc
from wimcore.servicing.backend import (
    BackendOptions,
    ImageJob,
    ImageOutcome,
    PackageOutcome,
    PackageResult,
    postcheck,
)
from wimcore.servicing.planner import plan
from wimcore.servicing.vm import errors as vmerr
from wimcore.servicing.vm import qemu
from wimcore.servicing.vm.backend import VmBackend
from wimcore.servicing.vm.bootmedium import SCRATCH_SPACE_MB, build_boot_wim
from wimcore.servicing.vm.disks import format_volume, present, volume_problem
from wimcore.servicing.vm.guestjob import (
    DISK_TRIES,
    Action,
    GuestJob,
    Step,
    Target,
    diskpart_script,
    job_script,
    job_text,
    startnet_script,
)
from wimcore.servicing.vm.results import parse_results
from wimcore.servicing.vm.winpe import WinPESource

JOB_ID = "0123456789abcdef"
NETFX3_CAB = "microsoft-windows-netfx3-ondemand-package~31bf3856ad364e35~amd64~~.cab"


# -- DISM's codes ------------------------------------------------------------------------------

def test_code_table_per_step_kind() -> None:
    S, NA, P, F = (dc.CodeClass.SUCCESS, dc.CodeClass.NOT_APPLICABLE, dc.CodeClass.PENDING,
                   dc.CodeClass.FAILURE)
    for action in ("add-package", "cleanup", "cleanup-resetbase", "enable-netfx3"):
        assert [dc.outcome(action, c) for c in (0, 3010, 1641)] == [S, S, S]
        assert dc.outcome(action, 0x800F0823) is F and dc.outcome(action, 87) is F
    assert dc.outcome("add-package", 0x800F081E) is NA
    assert dc.outcome("add-package", -2146498530) is NA  # as %ERRORLEVEL% shows it
    assert dc.outcome("add-package", 0x800F0806) is F
    assert dc.outcome("cleanup", 0x800F0806) is P and dc.outcome("cleanup-resetbase",
                                                                 -2146498554) is P
    assert dc.outcome("cleanup", 0x800F081E) is F
    assert dc.outcome("enable-netfx3", 0x800F081E) is F and dc.outcome(
        "enable-netfx3", 0x800F0806) is F
    assert dc.code_text(-2146498530) == "0x800F081E" and dc.code_text(3010) == "3010"
    assert dc.continuing_codes("cleanup") == [-2146498554, 0, 1641, 3010]
    rows = dc.table_rows()
    assert ("add-package", "0x800F081E", dc.MEANING[NA]) in rows
    assert ("cleanup", "0x800F0806", dc.MEANING[P]) in rows


def _job() -> GuestJob:
    return GuestJob(JOB_ID, (Target(1, "client"),), (
        Step(1, 1, Action.ADD_PACKAGE, "packages\\01\\w.msu", "meta\\01", "k1",
             "cumulative-update", ubr=5),
        Step(2, 1, Action.CLEANUP_RESETBASE),
        Step(3, 1, Action.ENABLE_NETFX3, "sxs"),
        Step(4, 1, Action.ADD_PACKAGE, "packages\\01\\w.msu", "meta\\01", "k1",
             "cumulative-update", ubr=5)))


def test_job_and_batch_follow_the_table() -> None:
    """The job file carries each kind's continuing codes; the batch goes on after exactly
    those; the host's parser judges the same codes the same way."""
    job = _job()
    text = job_text(job)
    assert "codes add-package -2146498530,0,1641,3010" in text
    assert "codes cleanup-resetbase -2146498554,0,1641,3010" in text
    assert "codes enable-netfx3 0,1641,3010" in text
    script = job_script(job).split("\r\n")
    blocks: list[list[str]] = []
    for ln in script:
        if ln.startswith("rem step "):
            blocks.append([])
        elif blocks:
            blocks[-1].append(ln)
    ok = [{int(ln.split()[3]) for ln in b if ln.startswith("if !RC! equ ")} for b in blocks]
    assert ok[0] == ok[3] == {0, 3010, 1641, -2146498530}
    assert ok[1] == {0, 3010, 1641, -2146498554} and ok[2] == {0, 3010, 1641}
    res = parse_results(("wimcore-results 1\r\njob " + JOB_ID + "\r\n"
                         "step 1 exit 0 start 1:00:00 end 1:00:01\r\n"
                         "step 2 exit -2146498554 start 1:00:01 end 1:00:02\r\n"
                         "step 3 exit 0 start 1:00:02 end 1:00:03\r\n"
                         "step 4 exit -2146498530 start 1:00:03 end 1:00:04\r\nend\r\n"
                         ).encode(), job)
    assert [res.steps[n].code_class for n in (1, 2, 3, 4)] == [
        dc.CodeClass.SUCCESS, dc.CodeClass.PENDING, dc.CodeClass.SUCCESS,
        dc.CodeClass.NOT_APPLICABLE]
    with pytest.raises(vmerr.ResultsError):  # a step after a failure (not a pending one)
        parse_results(("wimcore-results 1\r\njob " + JOB_ID + "\r\n"
                       "step 1 exit 0 start 1:00:00 end 1:00:01\r\n"
                       "step 2 exit -2146498530 start 1:00:01 end 1:00:02\r\n"
                       "step 3 exit 0 start 1:00:02 end 1:00:03\r\n").encode(), job)


def test_disks_are_waited_for_and_diskpart_is_documented_syntax() -> None:
    script = diskpart_script().split("\r\n")
    selects = [ln for ln in script if ln.startswith("select")]
    assert selects and all(ln.startswith("select disk=") and "noerr" not in ln
                           for ln in selects)
    assert "online disk noerr" in script and script[-2] == "exit"
    launcher = startnet_script()
    assert launcher.split("\r\n")[0] == "wpeinit"
    diskpart = [ln for ln in launcher.split("\r\n") if ln.startswith("diskpart")]
    assert diskpart and all(">nul" not in ln and "wimcore-diskpart.txt" in ln
                            for ln in diskpart)
    assert f"if %WIMCORETRY% geq {DISK_TRIES} goto :wimcore_nojob" in launcher
    assert "goto :wimcore_find" in launcher and "error no-job-disk wimcore-job.txt" in launcher
    batch = job_script(_job())
    assert f"if !TRY! geq {DISK_TRIES} goto :missing_1" in batch and "goto :find_1" in batch
    assert f"missing 1 $wimcore\\{JOB_ID}-target-1.txt)>COM1" in batch
    # DISM's temporary files and scratch on the target, not on WinPE's RAM disk
    assert "set TEMP=!T1!\\$wimcore\\temp" in batch and "set TMP=!T1!\\$wimcore\\temp" in batch
    # WinPE's logs copied back on every path, before the end record
    lines = batch.split("\r\n")
    copy = [n for n, ln in enumerate(lines) if "copy /b /y \"X:\\Windows\\Logs\\CBS\"" in ln]
    assert copy and copy[0] > lines.index(":done_1") and copy[0] < lines.index(
        '(echo end)>>"%R%\\results.txt"')
    assert any("X:\\Windows\\Logs\\DISM" in ln for ln in lines)


# -- QEMU --------------------------------------------------------------------------------------

def test_qemu_command_lines_for_kvm_and_tcg(tmp_path: Path) -> None:
    disk = present(format_volume(tmp_path / "v.img", 256 * 1024 * 1024, "T"), 7)
    boot = qemu.IsoBoot(tmp_path / "boot.iso")
    tcg = qemu.command(boot, [disk], serial=tmp_path / "s", memory_mib=8192, cpus=4,
                       accel="tcg")
    kvm = qemu.command(boot, [disk], serial=tmp_path / "s", memory_mib=8192, cpus=4,
                       accel="kvm")
    assert tcg[tcg.index("-cpu") + 1] == "max"  # qemu64 lacks SSE4.2/POPCNT: 24H2 won't boot
    assert kvm[kvm.index("-cpu") + 1] == \
        "host,hv_relaxed,hv_vapic,hv_time,hv_spinlocks=0x1fff"
    assert tcg.count("-cpu") == kvm.count("-cpu") == 1
    assert kvm[kvm.index("-m") + 1] == "8192" and kvm[kvm.index("-smp") + 1] == "4"
    options = BackendOptions()
    assert (options.memory_mib, options.cpus, options.timeout) == (8192, 4, None)
    mem, cpus, note = qemu.bounded_size(10 ** 6, 256)
    host = qemu.host_memory_mib()
    assert host is not None and mem <= host and cpus <= 256 and note
    assert qemu.bounded_size(256, 1) == (256, 1, None)
    script = qemu.shell_script(kvm, tmp_path, timeout=5000)
    assert 'exec timeout --signal=KILL "${WIMCORE_TIMEOUT:-5000}"' in script
    assert "-cpu host,hv_relaxed,hv_vapic,hv_time,hv_spinlocks=0x1fff" in script
    assert "accel=kvm" in script and "add -cpu host" not in script
    assert str(tmp_path) not in script


# -- the post-check after cleanup ---------------------------------------------------------------

def _lcu_job(tmp_path: Path, image: wf.WinSpec, name: str) -> tuple[ImageJob, ImageOutcome]:
    """The plan entry of LCU 19041.3930 (planned against a stock image), judged against
    ``image`` (a real WIM with real hives)."""
    base = wf.make_wim(tmp_path / "base.wim", [wf.WinSpec()]) if not (
        tmp_path / "base.wim").exists() else tmp_path / "base.wim"
    msu = tmp_path / "windows10.0-kb5034122-x64.msu"
    if not msu.exists():
        wf.msu_file(msu, [wf.lcu()])
    packages = prepare_inputs([msu], tmp_path / f"x-{name}").packages
    with wimcore.open(base) as w:
        inv = inventory(w.images[1])
        planned = plan(inv, packages)
    judged = wf.make_wim(tmp_path / f"{name}.wim", [image])
    wim = wimcore.open(judged)
    job = ImageJob(wim, 1, planned, inventory(wim.images[1]))
    [entry] = job.entries
    outcome = ImageOutcome("x", 1, "x", "vm", [PackageOutcome(
        entry.key, entry.kb, entry.kind, PackageResult.INSTALLED, "claimed", "vm", 0)])
    return job, outcome


def test_postcheck_knows_cleanup_and_wants_a_cbs_key(tmp_path: Path) -> None:
    base = wf.win10_base(3803)
    cases = {
        # a .mum without its CBS key is not an installation
        "mum-only": (wf.WinSpec(ubr=3930, installed=[*base, wf.Installed(
            "Package_for_RollupFix", "19041.3930.1.5", state=None)]), False,
            "a .mum but no CBS record"),
        # removed by cleanup, a newer RollupFix of the same line installed: covered
        "cleaned": (wf.WinSpec(ubr=3950, installed=[*base[:3], wf.Installed(
            "Package_for_RollupFix", "19041.3950.1.2")]), True,
            "removed by component cleanup"),
        # absent, and the installed RollupFix is older: not installed
        "older": (wf.WinSpec(ubr=3930, installed=base), False, "no CBS record"),
        # its own CBS key: installed
        "own": (wf.WinSpec(ubr=3930, installed=[*base, wf.Installed(
            "Package_for_RollupFix", "19041.3930.1.5")]), True, "CBS state installed"),
    }
    for name, (spec, ok, shown) in cases.items():
        job, outcome = _lcu_job(tmp_path, spec, name)
        try:
            postcheck(job, outcome)
        finally:
            job.wim.close()
        [p] = outcome.packages
        assert (p.state is PackageResult.INSTALLED) is ok, (name, p.reason)
        assert shown in (p.verdict or ""), (name, p.verdict)


# -- NetFX3 -------------------------------------------------------------------------------------

def test_netfx3_folder_without_the_cab_is_refused_before_anything(tmp_path: Path) -> None:
    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec()])
    msu = wf.msu_file(tmp_path / "windows10.0-kb5034122-x64.msu", [wf.ssu(), wf.lcu()])
    sources = tmp_path / "sources"  # what users give by mistake: the media's sources/
    sources.mkdir()
    (sources / "boot.wim").write_bytes(b"MSWIM\0\0\0" + bytes(300))
    before = file_digest(wim)
    for folder in (sources, tmp_path / "absent"):
        with pytest.raises(ServicingRunError) as info:
            service_wim(wim, [msu], images=[1], backend="vm", work_dir=tmp_path / folder.name,
                        options=BackendOptions(winpe=str(wim), netfx3_source=str(folder),
                                               prepare_only=str(tmp_path / "bundle")))
        assert isinstance(info.value.__cause__, vmerr.NetFx3SourceError)
        assert "microsoft-windows-netfx3-ondemand-package~" in str(info.value.__cause__) \
            or "does not exist" in str(info.value.__cause__)
    assert file_digest(wim) == before
    assert not (tmp_path / "bundle").exists() and not list(tmp_path.glob(".bundle.*"))
    assert not list(tmp_path.glob("*/wimcore-vm-*"))


def test_only_the_netfx3_cab_goes_on_the_job_disk(tmp_path: Path) -> None:
    """A bundle (no boot): the job disk's sxs holds the CAB alone, and after NetFX3 only
    the newest cumulative update is added again."""
    from tests.vm.standin.build import DEFAULT_AGENT  # noqa: F401 - the same layout as boots
    from wimcore.servicing.vm.qemu import KernelBoot

    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec(
        build=26100, ubr=1, installed=wf.win11_24h2_base(1))])
    checkpoint = wf.msu_file(tmp_path / "windows11.0-kb5043080-x64.msu", [wf.lcu(
        "26100.1742.1.10", "KB5043080", parent=wf.edition_parent("10.0.26100.1"))])
    target = wf.msu_file(tmp_path / "windows11.0-kb5044284-x64.msu", [wf.lcu(
        "26100.2033.1.6", "KB5044284", parent=wf.edition_parent("10.0.26100.1742"))])
    sxs = tmp_path / "sxs"
    sxs.mkdir()
    wf.package_cab_file(sxs / NETFX3_CAB, wf.PkgSpec(
        "Microsoft-Windows-NetFx3-OnDemand-Package", "10.0.26100.1", "", ""))
    (sxs / "install.wim").write_bytes(bytes(1024 * 1024))  # must not travel
    bundle = tmp_path / "bundle"
    backend = VmBackend(BackendOptions(accel="tcg", memory_mib=512, cpus=1, cleanup=True,
                                       netfx3_source=str(sxs), prepare_only=str(bundle)),
                        guest=KernelBoot(tmp_path / "k", tmp_path / "i", ""))
    service_wim(wim, [checkpoint, target], backend=backend, history=False,
                log_path=tmp_path / "run.log")
    titles = [s["title"] for s in __import__("json").loads(
        (bundle / "bundle.json").read_text())["details"]["steps"]]
    assert titles == ["add-package KB5043080", "add-package KB5044284", "cleanup",
                      "enable-netfx3", "add-package KB5044284"]
    with wimcore.create("none") as w:
        image = w.add_image(bundle / "job.img", "job", ntfs=True)
        sxs_files = [e.name for e in image.walk("/sxs")][1:]
    assert sxs_files == [NETFX3_CAB]


# -- the boot image -----------------------------------------------------------------------------

def test_boot_wim_is_lzx_with_winpe_scratch_space_raised(tmp_path: Path) -> None:
    """An LZMS solid WinPE (as some media carry) is written non-solid LZX, and its SYSTEM
    hive says WinPECacheThreshold = 512 MB in the current control set."""
    from wimcore.hive import build_hive

    plain = winpe_wim(tmp_path / "pe.wim", build=26100)
    system = tmp_path / "SYSTEM"
    system.write_bytes(build_hive({"Select": {"Current": 1}, "ControlSet001": {
        "Services": {"Tcpip": {"Start": 3}}}}))
    with wimcore.open(plain, writable=True) as w:
        with w.images[1].edit() as edit:
            edit.add(system, "/Windows/System32/config/SYSTEM")
        w.commit()
    solid = tmp_path / "solid.wim"
    wimcore.export(plain, 1, solid, solid=True)
    with wimcore.open(solid) as w:
        assert w.info.compression.name == "LZMS" and w.info.wim_version == 0xE00
    out = tmp_path / "boot.wim"
    note = build_boot_wim(WinPESource(solid, 1), out, tmp_path / "scratch")
    assert note == f"WinPECacheThreshold = {SCRATCH_SPACE_MB} MB"
    with wimcore.open(out) as w:
        assert w.info.compression.name == "LZX" and w.info.boot_index == 1
        assert w.info.wim_version == 0x10D00  # not solid
        hive = Hive.from_bytes(w.images[1].read_bytes("/Windows/System32/config/SYSTEM"))
        with hive:
            assert hive["ControlSet001\\Services\\FBWF"].get_value(
                "WinPECacheThreshold") == SCRATCH_SPACE_MB
            assert hive["ControlSet001\\Services\\Tcpip"].get_value("Start") == 3


# -- the volume check when a VM is stopped -------------------------------------------------------

def _set_dirty_flag(volume: Path) -> None:
    """Set VOLUME_IS_DIRTY in $Volume's $VOLUME_INFORMATION (in $MFT and in $MFTMirr), as
    Windows does while a volume may be inconsistent (parsed from the boot sector)."""
    with open(volume, "r+b") as fh:
        boot = fh.read(512)
        sector = struct.unpack_from("<H", boot, 0x0B)[0]
        cluster = sector * boot[0x0D]
        raw = struct.unpack_from("<b", boot, 0x40)[0]
        record = raw * cluster if raw > 0 else 1 << -raw
        done = 0
        for lcn_at in (0x30, 0x38):  # $MFT, $MFTMirr
            base = struct.unpack_from("<q", boot, lcn_at)[0] * cluster + 3 * record
            fh.seek(base)
            rec = fh.read(record)
            offset = struct.unpack_from("<H", rec, 0x14)[0]
            while offset < record:
                kind, length = struct.unpack_from("<II", rec, offset)
                if kind == 0xFFFFFFFF:
                    break
                if kind == 0x70:  # $VOLUME_INFORMATION, resident
                    value = offset + struct.unpack_from("<H", rec, offset + 0x14)[0]
                    flags = struct.unpack_from("<H", rec, value + 10)[0]
                    fh.seek(base + value + 10)
                    fh.write(struct.pack("<H", flags | 1))
                    done += 1
                    break
                offset += length
    assert done == 2, "no $VOLUME_INFORMATION found"


def test_volume_check_refuses_dirty_or_damaged_volumes(tmp_path: Path) -> None:
    clean = format_volume(tmp_path / "clean.img", 256 * 1024 * 1024, "C")
    assert volume_problem(clean) is None
    dirty = format_volume(tmp_path / "dirty.img", 256 * 1024 * 1024, "D")
    _set_dirty_flag(dirty)
    assert "dirty" in (volume_problem(dirty) or "")
    broken = format_volume(tmp_path / "broken.img", 256 * 1024 * 1024, "B")
    with open(broken, "r+b") as fh:
        fh.seek(3)
        fh.write(b"XXXXXXXX")  # no NTFS boot sector any more
    assert volume_problem(broken) is not None


def test_the_documented_table_is_the_code_table() -> None:
    """docs/guide/windows-guest.md shows exactly the table the job and the host follow."""
    page = (Path(__file__).parents[2] / "docs" / "guide" / "windows-guest.md").read_text()
    shown = [ln for ln in page.splitlines() if ln.startswith("| ") and "step kind" not in ln
             and ln.split("|")[1].strip() in dc.TABLE]
    assert shown == ["| " + " | ".join(row) + " |" for row in dc.table_rows()]
