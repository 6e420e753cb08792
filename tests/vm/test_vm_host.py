"""The vm backend's host side, without booting: disks, job, batch, results, WinPE, boot files.

Real libwimlib, mkntfs, qemu-img and QEMU (for the KVM probe's firmware) are used; the
Windows guest itself cannot run here, so its side is checked as text (the job script
and the launcher) and as files (the boot ISO and the WinPE inside it).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import wimcore
from tests.vm.vmfactory import pe_bytes, wf, winpe_wim
from wimcore.servicing import inventory, service_wim
from wimcore.servicing.backend import BackendOptions
from wimcore.servicing.vm import errors as vmerr
from wimcore.servicing.vm import qemu
from wimcore.servicing.vm.bootfiles import pe_header
from wimcore.servicing.vm.capture import capture_config_text, capture_volume, template_for
from wimcore.servicing.vm.disks import (
    HEADER_BYTES,
    descriptor_text,
    format_volume,
    mbr_bytes,
    present,
)
from wimcore.servicing.vm.guestjob import (
    Action,
    GuestJob,
    Step,
    Target,
    diskpart_script,
    job_script,
    job_text,
    parse_job,
    startnet_script,
)
from wimcore.servicing.vm.jobdisk import read_answer
from wimcore.servicing.vm.results import parse_results, parse_serial_line
from wimcore.servicing.vm.winpe import WinPESource, check_target, inspect_winpe, parse_winpe

JOB_ID = "0123456789abcdef"


@pytest.fixture
def win_wim_path(tmp_path: Path) -> Path:
    """Two synthetic client images (19045.3803) in a real WIM."""
    return wf.make_wim(tmp_path / "install.wim", [wf.WinSpec(), wf.WinSpec(edition="Enterprise")])


def _job() -> GuestJob:
    return GuestJob(JOB_ID, (Target(1, "client"), Target(2, "winre")), (
        Step(1, 1, Action.ADD_PACKAGE, "packages\\01", "meta\\01", "Package_for_SSU~x~amd64~~1.2",
             "servicing-stack", "KB1"),
        Step(2, 1, Action.ADD_PACKAGE, "packages\\02\\w.msu", "meta\\02",
             "Package_for_RollupFix~x~amd64~~19041.3930.1.5", "cumulative-update", "KB2",
             ubr=3930),
        Step(3, 1, Action.CLEANUP_RESETBASE),
        Step(4, 1, Action.ENABLE_NETFX3, "sxs"),
        Step(5, 2, Action.ADD_PACKAGE, "packages\\05", "meta\\05", "Package_for_SafeOSDU~x~~~1",
             "safe-os", "KB3")))


# -- disks -------------------------------------------------------------------------------------

def test_volume_disk_is_a_partitioned_disk_qemu_reads(tmp_path: Path) -> None:
    volume = format_volume(tmp_path / "t.img", 300 * 1024 * 1024, "WIMCORE1")
    assert volume.stat().st_blocks * 512 < volume.stat().st_size  # sparse
    with open(volume, "rb") as fh:
        boot = fh.read(512)
    assert boot[3:11] == b"NTFS    "
    assert int.from_bytes(boot[0x1C:0x20], "little") == 2048  # hidden sectors = partition start
    disk = present(volume, 0x1234ABCD)
    mbr = disk.header.read_bytes()
    assert len(mbr) == HEADER_BYTES and mbr[510:512] == b"\x55\xaa"
    assert mbr[446 + 4] == 0x07 and int.from_bytes(mbr[440:444], "little") == 0x1234ABCD
    info = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(disk.descriptor)],
                                     capture_output=True, check=True, text=True).stdout)
    assert info["format"] == "vmdk"
    assert info["virtual-size"] == HEADER_BYTES + volume.stat().st_size
    extents = info["format-specific"]["data"]["extents"]
    assert [e["filename"].rsplit("/", 1)[-1] for e in extents][-2:] == ["t.hdr", "t.img"]


def test_descriptor_and_mbr_refuse_what_they_cannot_describe() -> None:
    text = descriptor_text("a.hdr", "a.img", 4096, 7)
    assert "\n\nRW" not in text  # a blank line before the extents makes QEMU map one twice
    with pytest.raises(vmerr.DiskToolError):
        descriptor_text('a".hdr', "a.img", 4096, 7)
    with pytest.raises(vmerr.DiskToolError):
        mbr_bytes(2 ** 32, 1)
    with pytest.raises(vmerr.DiskToolError):
        mbr_bytes(100, 0)


def test_image_applied_to_a_volume_is_read_back_by_wimlib_imagex(win_wim_path: Path,
                                                                 tmp_path: Path) -> None:
    volume = format_volume(tmp_path / "v.img", 300 * 1024 * 1024, "T")
    with wimcore.open(win_wim_path) as wim:
        wim.images[1].apply(volume)
        original = {e.path: e.sha1 for e in wim.images[1].walk("/")}
    out = tmp_path / "back.wim"
    subprocess.run(["wimlib-imagex", "capture", str(volume), str(out), "back"], check=True,
                   capture_output=True)
    with wimcore.open(out) as wim:
        back = {e.path: e.sha1 for e in wim.images[1].walk("/")}
    assert {p: s for p, s in back.items() if not p.startswith("/System Volume")} == original


# -- the capture back -------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "by_template"), [(1, False), (1, True), (3, True)])
def test_capture_back_keeps_identity_and_refreshes_the_version(tmp_path: Path, target: int,
                                                               by_template: bool) -> None:
    """A serviced volume replaces an image of 3 at its index; names, flags and properties
    stay, BUILD/SPBUILD follow the serviced hive, wimcore's scratch folder stays out, the
    other images and the boot index are untouched; with or without the file's image as
    the template (wimlib-imagex verify checks every blob of the result)."""
    wim_path = wf.make_wim(tmp_path / "install.wim", [
        wf.WinSpec(), wf.WinSpec(edition="Enterprise", name="Ent"),
        wf.WinSpec(edition="Education", name="Edu")])
    with wimcore.open(wim_path, writable=True) as wim:
        wim.boot_index = 3
        wim.images[target].description = "described"
        wim.images[target].set_property("DISPLAYNAME", "Shown Name")
        wim.commit()
    rest = [i for i in (1, 2, 3) if i != target]
    others = {i: tree_of(wim_path, i) for i in rest}
    serviced = wf.make_wim(tmp_path / "serviced.wim", [wf.WinSpec(ubr=4001,
                                                                  edition="Enterprise")])
    volume = format_volume(tmp_path / "v.img", 300 * 1024 * 1024, "T")
    config = tmp_path / "capture.ini"
    config.write_text(capture_config_text())
    with wimcore.open(serviced) as wim:   # the volume as a servicing run leaves it
        wim.images[1].apply(volume)
        expected = {e.path: e.sha1 for e in wim.images[1].walk("/")}
    with wimcore.create("none") as patch:
        patch.add_image([(str(config), "/$wimcore/scratch/leftover.ini")], "x").apply(volume)
    with wimcore.open(wim_path, writable=True) as wim:
        before = wim.images[target].info
        others_info = {i: wim.images[i].info for i in rest}
        capture_volume(wim, target, volume, config,
                       template=template_for(wim) if by_template else None)
        wim.commit()
    subprocess.run(["wimlib-imagex", "verify", str(wim_path)], check=True, capture_output=True)
    with wimcore.open(wim_path) as wim:
        assert wim.info.image_count == 3 and wim.info.boot_index == 3
        after = wim.images[target].info
        for i in rest:
            info = wim.images[i].info
            assert (info.name, info.flags, info.sp_build) == (
                others_info[i].name, others_info[i].flags, others_info[i].sp_build)
    assert tree_of(wim_path, target) == expected  # the volume's tree, no $wimcore, no SVI
    assert {i: tree_of(wim_path, i) for i in rest} == others
    assert (after.name, after.description, after.display_name, after.flags) == (
        before.name, "described", "Shown Name", before.flags)
    assert after.edition_id == before.edition_id and after.arch == before.arch
    assert (after.build, after.sp_build) == (19045, 4001)


def tree_of(wim_path: Path, index: int) -> dict[str, str | None]:
    with wimcore.open(wim_path) as wim:
        return {e.path: e.sha1 for e in wim.images[index].walk("/")}


# -- the job, the Windows batch, the launcher ---------------------------------------------------

def test_job_file_round_trips_and_refuses_junk() -> None:
    job = _job()
    text = job_text(job)
    assert text.splitlines()[0] == "wimcore-job 2" and "\r\n" in text
    assert parse_job(text) == GuestJob(job.job_id, job.targets, tuple(
        Step(s.number, s.target, s.action, s.path, s.meta, s.key, s.kind, None, s.ubr)
        for s in job.steps))
    for bad in ("", "wimcore-job 2\r\njob x\r\nend", text.replace("wimcore-job 2", "wimcore-job 1"),
                text.replace("step 2 1", "step 2 9"),
                text.replace("add-package", "format-disk")):
        with pytest.raises(vmerr.ResultsError):
            parse_job(bad)
    with pytest.raises(ValueError):
        GuestJob(JOB_ID, (Target(1, "client"),), (Step(1, 1, Action.ADD_PACKAGE,
                                                       "packages\\..\\..\\x", None),))


def test_job_script_runs_dism_in_order_with_scratch_log_and_exit_codes() -> None:
    script = job_script(_job())
    lines = script.split("\r\n")
    dism = [ln for ln in lines if ln.startswith("dism ")]
    assert len(dism) == 7  # five steps and /Get-Packages for each of the two targets
    assert "/Add-Package /PackagePath:\"%J%\\packages\\01\"" in dism[0]
    assert "/Add-Package /PackagePath:\"%J%\\packages\\02\\w.msu\"" in dism[1]
    assert dism[2].endswith("/Cleanup-Image /StartComponentCleanup /ResetBase")
    assert "/Enable-Feature /FeatureName:NetFx3 /All /LimitAccess /Source:\"%J%\\sxs\"" in dism[3]
    assert "/Get-Packages" in dism[4] and "!T1!" in dism[4]
    assert "/Image:!T2!\\" in dism[5] and "packages\\05" in dism[5]
    for call in dism[:4] + dism[5:6]:
        assert "/ScratchDir:!T" in call and "\\$wimcore\\scratch" in call
        assert "/LogPath:\"%R%\\dism-0" in call
    # each step: its exit code recorded, success only for 0, 3010 and 1641, else the target ends
    assert script.count("set RC=!ERRORLEVEL!") == 5
    for code in ("0", "3010", "1641"):
        assert script.count(f"if !RC! equ {code} set OK=1") == 5
    assert script.count("if !OK! equ 0 goto :failed_1") == 4
    assert script.count("if !OK! equ 0 goto :failed_2") == 1
    # records are written with the redirection after a closing parenthesis, never "N>>"
    records = [ln for ln in lines if "results.txt" in ln and "echo" in ln]
    assert records and all(ln.startswith("(echo ") and ")>" in ln for ln in records)
    assert "(echo step 3 exit !RC! start !S! end !E!)>>\"%R%\\results.txt\"" in lines
    # targets are found by their markers, drive letters searched, the job's own id in them
    assert f"if exist %%d:\\$wimcore\\{JOB_ID}-target-2.txt set T2=%%d:" in script
    assert lines.index(":missing_1") < lines.index(":failed_1") < lines.index(":done_1")
    assert lines[-3:-1] == ["endlocal", "exit /b 0"]


def test_launcher_keeps_wpeinit_first_and_shuts_down() -> None:
    lines = startnet_script().split("\r\n")
    assert lines[0] == "wpeinit"
    assert any("wimcore-job.txt" in ln for ln in lines)
    assert lines[-2] == "wpeutil shutdown"
    assert "san policy=OnlineAll" in diskpart_script()


# -- results ----------------------------------------------------------------------------------

def _results(*records: str, job_id: str = JOB_ID) -> bytes:
    return ("\r\n".join(["wimcore-results 1", f"job {job_id}", *records]) + "\r\n").encode()


def test_results_are_parsed_strictly() -> None:
    job = _job()
    res = parse_results(_results("step 1 exit 0 start 23:59:58.50 end 00:00:01.50",
                                 "step 2 exit 3010 start 10:00:00.00 end 10:02:00.00",
                                 "step 3 exit -2146498530 start 10:02:00 end 10:02:01",
                                 "missing 2", "end"), job)
    assert res.complete and res.missing_targets == {2}
    assert res.steps[1].seconds == pytest.approx(3.0) and res.steps[2].ok
    assert res.steps[3].exit_code == 0x800F081E and not res.steps[3].ok
    bad_cases = [
        _results("end", job_id="ffffffffffffffff"),              # another job
        _results("step 9 exit 0 start 1:00:00 end 1:00:01", "end"),   # no such step
        _results("step 1 exit 0 start 1:00:00 end 1:00:01",
                 "step 1 exit 0 start 1:00:00 end 1:00:01"),      # twice
        _results("step 2 exit 0 start 1:00:00 end 1:00:01"),      # step 1 never ran
        _results("step 1 exit 5 start 1:00:00 end 1:00:01",
                 "step 2 exit 0 start 1:00:00 end 1:00:01"),      # ran after a failure
        _results("step 5 exit 0 start 1:00:00 end 1:00:01", "missing 2"),  # ran on missing
        _results("step 1 exit 0 start 25:00:00 end 1:00:01"),     # not a time
        _results("end", "step 1 exit 0 start 1:00:00 end 1:00:01"),  # after end
        _results("rm -rf /"),                                      # unknown record
        _results("x" * 300),                                       # long line
        b"wimcore-results 1\r\njob " + JOB_ID.encode() + b"\r\n\xff\xfe",  # not ASCII
        b"\x00" * (70 * 1024),                                     # too large
    ]
    for data in bad_cases:
        with pytest.raises(vmerr.ResultsError):
            parse_results(data, job)


def test_serial_lines_are_progress_only() -> None:
    event = parse_serial_line(b"wimcore-progress step 3 end -2146498530\r")
    assert event is not None and (event.what, event.step, event.exit_code) == (
        "end", 3, 0x800F081E)
    assert parse_serial_line(b"[    1.2] ata1: SATA link down") is None
    assert parse_serial_line(b"wimcore-progress rm -rf /") is None
    assert parse_serial_line(b"wimcore-progress boot" + b"A" * 100_000) is None


def test_results_read_back_from_a_job_volume_with_limits(tmp_path: Path) -> None:
    """The guest's files come back through libwimlib; odd shapes are typed errors."""
    job = GuestJob(JOB_ID, (Target(1, "client"),),
                   (Step(1, 1, Action.CLEANUP), Step(2, 1, Action.CLEANUP)))

    def guest_writes(name: str, files: dict[str, bytes | None]) -> Path:
        """A job volume as the guest leaves it (the job files plus what it wrote)."""
        folder = tmp_path / name
        tree = folder / "tree"
        files = {"wimcore-job.txt": job_text(job).encode(), **files}
        for rel, data in files.items():
            path = tree / rel
            if data is None:
                path.mkdir(parents=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
        volume = format_volume(folder / "job.img", 256 * 1024 * 1024, "WIMCOREJOB")
        with wimcore.create("none") as wim:
            wim.add_image(tree, "answer").apply(volume)
        return volume

    good = guest_writes("good", {
        "results/results.txt": _results("step 1 exit 0 start 1:00:00 end 1:00:04",
                                        "step 2 exit 0 start 1:00:04 end 1:00:05", "end"),
        "results/dism-01.log": b"line\n" * 100 + b"the last line\n",
        "results/packages-1.txt": b"Package_A\r\nPackage_B\r\n",
        "results/unexpected.bin": b"ignored"})
    answer = read_answer(good, job)
    assert answer.results.complete and answer.results.steps[1].seconds == 4.0
    assert answer.log_tails[1].splitlines()[-1] == "the last line"
    assert "Package_B" in answer.package_lists[1]
    with pytest.raises(vmerr.GuestFailedError, match="without writing"):
        read_answer(guest_writes("nothing", {}), job)
    with pytest.raises(vmerr.ResultsError, match="not a plain file"):
        read_answer(guest_writes("dir", {"results/results.txt": None}), job)
    with pytest.raises(vmerr.ResultsError, match="not trusted"):
        read_answer(guest_writes("big", {"results/results.txt": b"x" * 100_000}), job)


# -- WinPE and its checks ----------------------------------------------------------------------

def test_winpe_source_syntax() -> None:
    assert parse_winpe("media/sources/boot.wim:2") == WinPESource(Path("media/sources/boot.wim"),
                                                                2)
    assert parse_winpe("winpe.wim").index == 1
    assert parse_winpe("dir:with:colons/winpe.wim").path == Path("dir:with:colons/winpe.wim")
    with pytest.raises(vmerr.NotWinPEError):
        parse_winpe("boot.wim:0")


def test_winpe_checks_refuse_wrong_images(tmp_path: Path) -> None:
    target_wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec(build=19045)])
    with wimcore.open(target_wim) as wim:
        target = inventory(wim.images[1])
    good = inspect_winpe(parse_winpe(winpe_wim(tmp_path / "pe.wim", build=19045)))
    assert good.arch == "x64" and good.dism.lower().endswith("dism.exe")
    check_target(good, target)
    with pytest.raises(vmerr.NotWinPEError, match="not a Windows PE"):
        inspect_winpe(parse_winpe(str(target_wim)))            # a boot.wim without WinPE
    with pytest.raises(vmerr.NotWinPEError, match=r"dism\.exe"):
        inspect_winpe(parse_winpe(winpe_wim(tmp_path / "nodism.wim", dism=False)))
    with pytest.raises(vmerr.NotWinPEError, match="no index 2"):
        inspect_winpe(parse_winpe(f"{tmp_path / 'pe.wim'}:2"))
    with pytest.raises(vmerr.WinPEArchError, match="x86"):
        check_target(inspect_winpe(parse_winpe(winpe_wim(tmp_path / "x86.wim", arch="0"))),
                     target)
    with pytest.raises(vmerr.WinPEArchError, match="runs only x64 and x86"):
        check_target(inspect_winpe(parse_winpe(winpe_wim(tmp_path / "arm.wim", arch="12"))),
                     target)
    with pytest.raises(vmerr.WinPEBuildError, match="older"):
        check_target(inspect_winpe(parse_winpe(winpe_wim(tmp_path / "old.wim", build=19041))),
                     target)


def test_bad_winpe_leaves_the_wim_byte_identical(tmp_path: Path) -> None:
    target_wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec(build=22631)])
    before = wf.digest(target_wim)
    msu = wf.msu_file(tmp_path / "w.msu", [wf.ssu(), wf.lcu()])
    old = winpe_wim(tmp_path / "pe.wim", build=19045)
    with pytest.raises(wimcore.servicing.ServicingRunError) as info:
        service_wim(target_wim, [msu], backend="vm",
                    options=BackendOptions(winpe=str(old), accel="tcg"))
    assert isinstance(info.value.__cause__, vmerr.WinPEBuildError)
    assert wf.digest(target_wim) == before


def test_pe_header_reader() -> None:
    assert pe_header(pe_bytes(0x8664, 10)) == (0x8664, 0x20B, 10)
    assert pe_header(b"MZ" + bytes(100)) is None
    assert pe_header(b"not a pe") is None


# -- QEMU ----------------------------------------------------------------------------------------

def test_kvm_probe_guest_runs_and_accel_choice_is_honest(tmp_path: Path) -> None:
    exe = shutil.which(qemu.QEMU)
    if exe is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    bios = tmp_path / "probe.bin"
    bios.write_bytes(qemu._probe_firmware())
    proc = subprocess.run([exe, "-accel", "tcg", "-machine", "pc", "-nodefaults", "-display",
                           "none", "-bios", str(bios), "-no-reboot", "-device",
                           "isa-debug-exit,iobase=0xf4,iosize=0x04"], capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == qemu.PROBE_EXIT_CODE  # the probe guest works (under TCG)
    why = qemu.kvm_unusable_reason(exe)
    tcg = qemu.choose_accel("auto", exe)
    if why is None:
        assert tcg.accel == "kvm" and tcg.warning is None
    else:
        assert tcg.accel == "tcg" and why in (tcg.warning or "")
        with pytest.raises(vmerr.AccelUnavailableError):
            qemu.choose_accel("kvm", exe)
    assert "very slow" in (qemu.choose_accel("tcg", exe).warning or "")


def test_qemu_command_has_no_network_and_no_reboot(tmp_path: Path) -> None:
    volume = format_volume(tmp_path / "a,b.img", 256 * 1024 * 1024, "T")
    disk = present(volume, 5)
    cmd = qemu.command(qemu.IsoBoot(tmp_path / "boot.iso"), [disk] * 6,
                       serial=tmp_path / "s.log", memory_mib=2048, cpus=2, accel="tcg")
    assert cmd[cmd.index("-nic") + 1] == "none" and "-no-reboot" in cmd
    assert cmd[cmd.index("-machine") + 1] == "q35,accel=tcg"
    devices = [cmd[i + 1] for i, w in enumerate(cmd) if w == "-device"]
    drives = [cmd[i + 1] for i, w in enumerate(cmd) if w == "-drive"]
    # six disks and the CD take seven AHCI ports: two controllers
    assert devices[:2] == ["ahci,id=ahci0", "ahci,id=ahci1"]
    assert devices[2] == "ide-hd,drive=disk0,bus=ahci0.0"
    assert devices[7] == "ide-hd,drive=disk5,bus=ahci0.5"
    assert devices[8] == "ide-cd,drive=cd0,bus=ahci1.0,bootindex=0"
    assert drives[0].startswith(f"file={str(disk.descriptor).replace(',', ',,')},format=vmdk")
    assert "media=cdrom" in drives[-1]
    with pytest.raises(vmerr.TooManyTargetsError):
        qemu.command(qemu.KernelBoot(Path("k"), Path("i"), ""), [disk] * 13,
                     serial=tmp_path / "s.log", memory_mib=512, cpus=1, accel="tcg")


# -- the job disk's packages ---------------------------------------------------------------------

def test_packages_go_to_dism_as_it_needs_them(tmp_path: Path) -> None:
    """A cumulative update from an MSU goes as that MSU, with the checkpoint MSU it needs
    in the same folder; the SSU of a combined MSU as its expanded folder; a lone CAB as is."""
    from wimcore.packages.intake import prepare_inputs
    from wimcore.servicing.backend import ImageJob
    from wimcore.servicing.planner import plan
    from wimcore.servicing.vm.jobdisk import package_payload

    wim = wf.make_wim(tmp_path / "install.wim", [wf.WinSpec(
        build=26100, ubr=1, installed=wf.win11_24h2_base(1))])
    checkpoint = wf.lcu("26100.1742.1.10", "KB5043080", parent=wf.edition_parent("10.0.26100.1"))
    target = wf.lcu("26100.2033.1.6", "KB5044284", parent=wf.edition_parent("10.0.26100.1742"))
    ssu = wf.PkgSpec("Package_for_ServicingStack_2032", "26100.2032.1.2", "KB5047621",
                     wf.foundation_parent("10.0.26100.1"))
    other = wf.PkgSpec("Package_for_KB5099999", "26100.2040.1.1", "KB5099999",
                       wf.foundation_parent("10.0.26100.1"))
    inputs = {"checkpoint": wf.msu_file(tmp_path / "windows11.0-kb5043080-x64.msu", [checkpoint]),
              "combined": wf.msu_file(tmp_path / "windows11.0-kb5044284-x64.msu", [ssu, target]),
              "cab": wf.package_cab_file(tmp_path / "other.cab", other)}
    intake = prepare_inputs(list(inputs.values()), tmp_path / "x")
    packages = intake.packages
    sources = {key: str(r.input.path) for r in intake.records for key in r.keys}
    with wimcore.open(wim) as w:
        inv = inventory(w.images[1])
        job = ImageJob(w, 1, plan(inv, packages), inv, package_files=sources)
        by_key = {e.key: e for e in job.entries}
        assert [e.kb for e in job.entries][:1] == ["KB5047621"]  # the SSU first
        payloads = {e.kb: package_payload(n, e, sources, by_key)
                    for n, e in enumerate(job.entries, start=1)}
    assert set(payloads) == {"KB5047621", "KB5043080", "KB5044284", "KB5099999"}
    assert payloads["KB5047621"].items[0][0].name.lower().startswith("ssu-")  # expanded folder
    assert "\\" not in payloads["KB5047621"].path.removeprefix("packages\\")
    combined = payloads["KB5044284"]
    assert combined.path.endswith("\\windows11.0-kb5044284-x64.msu")
    assert sorted(Path(t).name for _s, t in combined.items if t.startswith("/packages/")) == [
        "windows11.0-kb5043080-x64.msu", "windows11.0-kb5044284-x64.msu"]
    assert any(t.endswith("/update.mum") for _s, t in combined.items)
    assert payloads["KB5043080"].path.endswith("\\windows11.0-kb5043080-x64.msu")
    assert payloads["KB5099999"].path.endswith("\\other.cab")
