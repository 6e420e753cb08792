"""``wimcore media`` and ``wimcore sample``: thin commands over wimcore.media."""

from __future__ import annotations

from pathlib import Path

import click

from wimcore.cli.common import emit_json, exit_for, guarded, image_arg, name_operation, progress_for

media_group = click.Group("media", help="Service a Windows installation media folder "
                                        "(the monthly routine: WinRE, install.wim, boot.wim, "
                                        "sources/, ISO).")
sample_group = click.Group("sample", help="Make wimcore's built-in sample media.")


@media_group.command("service")
@click.argument("media", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--updates", required=True, type=click.Path(exists=True, path_type=Path),
              help="Folder (or file) of updates: SSU, LCU, SafeOS, Setup DU. Every file in it "
                   "must be an update; it is never copied into sources/ or the ISO.")
@click.option("--iso", type=click.Path(dir_okay=False, path_type=Path),
              help="Rebuild a bootable ISO (UDF + BIOS/UEFI El Torito) here.")
@click.option("--backend", type=click.Choice(["auto", "staged", "vm"]), default="auto",
              show_default=True, help="How packages reach the images: vm installs them with "
                                      "the media's own DISM, staged leaves install images an "
                                      "answer file, auto picks vm when it can run.")
@click.option("--allow-incomplete", is_flag=True,
              help="Exit 0 even when an image did not get its updates (status incomplete).")
@click.option("--setup-du", "setup_du", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="This update is a Setup Dynamic Update (repeatable); otherwise a cabinet "
                   "without update.mum must hold Setup files of sources/ to count as one.")
@click.option("--skip-verify", is_flag=True,
              help="Use packages WITHOUT checking them against their catalogs and manifests.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path),
              help="JSON report (and a .txt summary beside it); default MEDIA.wimcore-report."
                   "json beside the media.")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Log file (default: MEDIA.wimcore.log beside the media).")
@click.option("--work-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Working folder (default: MEDIA.wimcore-work beside the media, removed "
                   "afterwards).")
@click.option("--keep-work", is_flag=True, help="Keep the working folder afterwards.")
@click.option("--image", "images", multiple=True, metavar="INDEX|NAME",
              help="install.wim image(s) to service (repeatable; default: all).")
@click.option("--label", help="ISO volume label (default from install.wim, e.g. "
                              "CCCOMA_X64FRE_EN-US_DV9).")
@click.option("--first-boot", is_flag=True,
              help="Also stage a SetupComplete.cmd DISM block into install images.")
@click.option("--continue-on-error", is_flag=True, help="Record a failed step and go on.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def service_cmd(ctx: click.Context, media: Path, updates: Path, iso: Path | None,
                backend: str, allow_incomplete: bool, setup_du: tuple[Path, ...],
                skip_verify: bool, report: Path | None, log_path: Path | None,
                work_dir: Path | None, keep_work: bool, images: tuple[str, ...],
                label: str | None, first_boot: bool, continue_on_error: bool,
                as_json: bool) -> None:
    """Service MEDIA (an extracted ISO) with the updates in --updates."""
    from wimcore.media.pipeline import ServiceOptions, service

    if skip_verify:
        click.echo("wimcore: warning: --skip-verify: packages are NOT checked against their "
                   "catalogs and manifests", err=True)
    name_operation("media service")
    with guarded(ctx), progress_for(ctx, "media") as progress:
        options = ServiceOptions(images=[image_arg(i) for i in images], work_dir=work_dir,
                                 iso=iso, report=report, log=log_path, keep_work=keep_work,
                                 continue_on_error=continue_on_error, first_boot=first_boot,
                                 progress=progress, volume_label=label, backend=backend,
                                 setup_du=setup_du, skip_verify=skip_verify)
        result = service(media, updates, options)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.summary())
    complete = result.status in ("ok", "nothing-to-do") or (
        result.status == "incomplete" and allow_incomplete)
    code = exit_for(changed=result.changed, complete=complete)
    if code:
        ctx.exit(code)


@sample_group.command("create")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", type=int, default=0, show_default=True,
              help="Same seed, same bytes.")
@click.option("--editions", type=click.IntRange(1, 6), default=2, show_default=True,
              help="How many install.wim editions.")
@click.pass_context
def create_cmd(ctx: click.Context, dest: Path, seed: int, editions: int) -> None:
    """Write the sample media (install.wim, boot.wim, sources/, boot files, updates/) to DEST."""
    from wimcore.media.sample import create_sample

    with guarded(ctx):
        path = create_sample(dest, seed=seed, editions=editions)
    click.echo(f"sample media written to {path}\n"
               f"next: wimcore media service {path} --updates {path / 'updates'} "
               "--allow-incomplete")
