"""``wimcore package list|plan|stage``: thin commands over ``wimcore.servicing``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from wimcore import ledger, servicing


def _image_ref(value: str) -> int | str:
    return int(value) if value.strip().isdigit() else value


def _images(wim: Any, image: str) -> list[Any]:
    if image.lower() == "all":
        return list(wim.images)
    return [wim.images[_image_ref(image)]]


@click.command("list")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.option("--json", "as_json", is_flag=True, help="Print the inventory as JSON.")
@click.pass_context
def list_cmd(ctx: click.Context, wim: str, image: str, as_json: bool) -> None:
    """Inventory of an image (or all): type, build.UBR, installed packages, CBS states."""
    import wimcore
    from wimcore.cli.common import emit_json, guarded

    with guarded(ctx), wimcore.open(wim) as w:
        invs = [servicing.inventory(img) for img in _images(w, image)]
        if as_json:
            emit_json([i.to_dict() for i in invs] if image.lower() == "all"
                      else invs[0].to_dict())
            return
        for inv in invs:
            click.echo("\n".join(inv.summary()))


def _warn(message: str) -> None:
    """A loud warning line on stderr."""
    click.echo(f"wimcore: warning: {message}", err=True)


setup_du_option = click.option(
    "--setup-du", "setup_du", multiple=True, type=click.Path(dir_okay=False),
    metavar="FILE", help="This input is a Setup Dynamic Update (for the media's sources/); "
                         "repeatable. Without it, a cabinet without update.mum is one only "
                         "when its files are Setup files of the media's sources/.")
sources_option = click.option(
    "--sources", type=click.Path(exists=True, file_okay=False), default=None,
    help="The media's sources/ folder whose Setup files recognise a Setup Dynamic Update "
         "(default: the WIM's folder when it is a media's sources/).")
skip_verify_option = click.option(
    "--skip-verify", is_flag=True,
    help="Use packages WITHOUT checking them against their catalogs and manifests "
         "(recorded in the report and history).")


@click.command("plan")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("packages", nargs=-1, required=True, type=click.Path())
@setup_du_option
@sources_option
@skip_verify_option
@click.option("--json", "as_json", is_flag=True, help="Print the inputs and plan(s) as JSON.")
@click.pass_context
def plan_cmd(ctx: click.Context, wim: str, image: str, packages: Sequence[str],
             setup_du: Sequence[str], sources: str | None, skip_verify: bool,
             as_json: bool) -> None:
    """Plan PACKAGES (MSU, CAB, folders) for IMAGE (index, name or all); one row per input."""
    import tempfile

    import wimcore
    from wimcore.cli.common import emit_json, guarded
    from wimcore.packages.intake import prepare_inputs
    from wimcore.servicing.history import load_history
    from wimcore.servicing.run import default_sources

    if skip_verify:
        _warn("--skip-verify: packages are NOT checked against their catalogs and manifests")
    refused: list[BaseException] = []
    with guarded(ctx), tempfile.TemporaryDirectory(prefix="wimcore-plan-") as tmp, \
            wimcore.open(wim) as w:
        ledger.note_ignore(tmp)  # scratch: the plan's expansions are not changes
        intake = prepare_inputs(packages, tmp, sources=sources or default_sources(wim),
                                setup_du=setup_du, skip_verify=skip_verify,
                                on_error=lambda _record, exc: refused.append(exc))
        hist = load_history(wim)
        plans = [servicing.plan(img, intake.packages,
                                staged=hist.staged_keys(img.index, img.name))
                 for img in _images(w, image)]
        if as_json:
            emit_json({**intake.to_dict(), "plans": [p.to_dict() for p in plans]})
        else:
            click.echo(intake.table() + "\n\n" + "\n\n".join(str(p) for p in plans))
        if refused:  # shown in the table; the command fails as stage would
            raise refused[0]


@click.command("stage")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("packages", nargs=-1, required=True, type=click.Path())
@click.option("--continue-on-error", is_flag=True,
              help="Record a failed package or image and go on (default: stop, WIM unchanged).")
@click.option("--allow-incomplete", is_flag=True,
              help="Exit 0 even when an image could not be serviced (status incomplete).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write the JSON report here (and a .txt summary beside it).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default=None,
              help="Servicing log file (default: WIM.wimcore.log beside the WIM).")
@click.option("--first-boot", is_flag=True,
              help="Also add a SetupComplete.cmd block running DISM /Online /Add-Package.")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Where packages are expanded (default: a temporary folder).")
@setup_du_option
@sources_option
@skip_verify_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def stage_cmd(ctx: click.Context, wim: str, image: str, packages: Sequence[str],
              continue_on_error: bool, allow_incomplete: bool, report_path: str | None,
              log_path: str | None, first_boot: bool, work_dir: str | None,
              setup_du: Sequence[str], sources: str | None, skip_verify: bool,
              as_json: bool) -> None:
    """Stage PACKAGES into IMAGE (index, name or all): Windows installs them at Setup."""
    from wimcore.cli.common import emit_json, exit_for, guarded, name_operation, progress_for

    name_operation("package stage")
    if skip_verify:
        _warn("--skip-verify: packages are NOT checked against their catalogs and manifests")
    images: Any = "all" if image.lower() == "all" else _image_ref(image)
    with guarded(ctx), progress_for(ctx, "stage") as cb:
        report = servicing.service_wim(wim, list(packages), images=images, work_dir=work_dir,
                                       first_boot=first_boot,
                                       continue_on_error=continue_on_error,
                                       report_path=report_path, log_path=log_path, progress=cb,
                                       setup_du=setup_du, sources=sources,
                                       skip_verify=skip_verify)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(report.summary())
    complete = report.status in ("ok", "nothing-to-do") or (
        report.status == "incomplete" and allow_incomplete)
    code = exit_for(changed=report.committed, complete=complete)
    if code:
        ctx.exit(code)


def register(group: click.Group) -> None:
    """Add ``list``, ``plan`` and ``stage`` to the ``package`` command group."""
    for command in (list_cmd, plan_cmd, stage_cmd):
        group.add_command(command)
