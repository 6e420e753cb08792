"""``wimcore package install``: install updates with the image's own DISM (the vm backend).

A thin command over ``wimcore.servicing.service_wim(..., backend="vm")`` and
``wimcore.servicing.vm.bundle.resume_bundle``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click


def _image_ref(value: str) -> Any:
    if value.lower() == "all":
        return "all"
    return int(value) if value.strip().isdigit() else value


@click.command("install")
@click.argument("wim", required=False, type=click.Path(dir_okay=False))
@click.argument("image", required=False)
@click.argument("packages", nargs=-1, type=click.Path(exists=True))
@click.option("--winpe", metavar="PATH[:INDEX]", default=None,
              help="The WinPE whose DISM installs (default: the media's sources/boot.wim:1 "
                   "when WIM sits in a media's sources/ folder).")
@click.option("--media", "media_root", type=click.Path(file_okay=False, exists=True),
              default=None, help="The media folder holding the boot files (bootmgr, boot/, "
                                 "efi/); default: the one the WinPE comes from.")
@click.option("--cleanup", is_flag=True,
              help="Then DISM /Cleanup-Image /StartComponentCleanup.")
@click.option("--reset-base", is_flag=True, help="Cleanup with /ResetBase (implies --cleanup).")
@click.option("--enable-netfx3", "netfx3", metavar="SXS_DIR",
              type=click.Path(file_okay=False, exists=True), default=None,
              help="Then enable NetFx3 from the media's sources/sxs folder and add the cumulative "
                   "update again (install images).")
@click.option("--memory", "memory_mib", type=click.IntRange(256, 1024 * 1024), default=8192,
              show_default=True, help="VM memory in MiB (lowered to what the host has).")
@click.option("--cpus", type=click.IntRange(1, 256), default=4, show_default=True,
              help="VM processors (lowered to what the host has).")
@click.option("--timeout", type=click.FloatRange(1), default=None,
              help="Seconds before the VM is stopped (default: 1 h + 4 h per image); images "
                   "whose steps all finished and whose volume checks clean are kept.")
@click.option("--stall-timeout", type=click.FloatRange(1), default=2 * 3600.0,
              show_default=True, help="Seconds without a progress line from the guest "
                                      "before the VM is stopped.")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), default="auto",
              show_default=True, help="KVM when usable (auto), or force one.")
@click.option("--prepare-only", metavar="DIR", type=click.Path(file_okay=False), default=None,
              help="Write the VM bundle (boot ISO, disks, job, qemu.sh) into DIR and stop.")
@click.option("--resume", metavar="DIR", type=click.Path(file_okay=False, exists=True),
              default=None, help="Finish a bundle that was run elsewhere: capture back, "
                                 "post-check, commit (no other arguments but --wim).")
@click.option("--wim", "resume_wim", type=click.Path(dir_okay=False, exists=True), default=None,
              help="With --resume: the WIM the bundle was prepared from, when it moved (it "
                   "is matched by size, mtime and a hash of its header and XML).")
@click.option("--keep-work", is_flag=True, help="Keep the volume files and logs afterwards.")
@click.option("--continue-on-error", is_flag=True,
              help="Record a failed image and go on (default: stop, WIM unchanged).")
@click.option("--allow-incomplete", is_flag=True,
              help="Exit 0 even when a selected image could not be serviced.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write the JSON report here (and a .txt summary beside it).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default=None,
              help="Servicing log file (default: WIM.wimcore.log beside the WIM).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def install_cmd(ctx: click.Context, wim: str | None, image: str | None,
                packages: Sequence[str], winpe: str | None, media_root: str | None,
                cleanup: bool, reset_base: bool, netfx3: str | None, memory_mib: int,
                cpus: int, timeout: float | None, stall_timeout: float, accel: str,
                prepare_only: str | None, resume: str | None, resume_wim: str | None,
                keep_work: bool, continue_on_error: bool,
                allow_incomplete: bool, report_path: str | None, log_path: str | None,
                as_json: bool) -> None:
    """Install PACKAGES into IMAGE of WIM with the image's own servicing stack.

    WinPE's DISM runs in a QEMU VM (no network) against the image laid out on an NTFS
    volume file; the result is captured back and judged by the image's own records.
    """
    from wimcore.cli.common import emit_json, exit_for, guarded, name_operation, progress_for
    from wimcore.servicing import service_wim
    from wimcore.servicing.backend import BackendOptions

    if resume is not None:
        if wim or image or packages:
            raise click.UsageError("--resume DIR takes no WIM, IMAGE or PACKAGE (give a moved "
                                   "WIM with --wim PATH)")
    elif resume_wim is not None:
        raise click.UsageError("--wim PATH goes with --resume DIR")
    elif not (wim and image and packages):
        raise click.UsageError("WIM, IMAGE and at least one PACKAGE are required "
                               "(or --resume DIR)")
    name_operation("package install")
    with guarded(ctx), progress_for(ctx, "install") as cb:
        if resume is not None:
            from wimcore.servicing.vm.bundle import resume_bundle

            report = resume_bundle(resume, wim_path=resume_wim, progress=cb,
                                   report_path=report_path, log_path=log_path,
                                   continue_on_error=continue_on_error)
        else:
            assert wim is not None and image is not None
            if netfx3 is not None:  # before any input is read or anything written
                from wimcore.servicing.vm.backend import netfx3_cab

                netfx3_cab(netfx3)
            options = BackendOptions(
                cleanup=cleanup or reset_base, reset_base=reset_base, netfx3_source=netfx3,
                winpe=winpe, media_root=media_root, memory_mib=memory_mib, cpus=cpus,
                timeout=timeout, stall_timeout=stall_timeout, accel=accel,
                prepare_only=prepare_only, keep_work=keep_work)
            report = service_wim(wim, list(packages), images=_image_ref(image),
                                 backend="vm", options=options,
                                 continue_on_error=continue_on_error,
                                 report_path=report_path, log_path=log_path, progress=cb)
    if as_json:
        emit_json(report.to_dict())
    else:
        if prepare_only:
            click.echo(f"VM bundle written to {prepare_only}: nothing is installed yet; run "
                       f"its qemu.sh on a KVM host, then: wimcore package install --resume "
                       f"{prepare_only}")
        click.echo(report.summary())
    failed = any(i.status in ("failed", "partial", "cancelled") for i in report.images)
    # prepared is what --prepare-only asks for; otherwise an image left unserviced fails
    incomplete = report.status == "incomplete" and not (prepare_only or allow_incomplete)
    if report.status in ("partial", "failed") or failed or incomplete:
        ctx.exit(exit_for(changed=report.committed, complete=False))
