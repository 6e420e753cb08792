"""``wimcore package list|plan|stage``: thin commands over ``wimcore.servicing``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from wimcore import servicing


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
    from wimcore.cli.app import emit_json, guarded

    with guarded(ctx), wimcore.open(wim) as w:
        invs = [servicing.inventory(img) for img in _images(w, image)]
        if as_json:
            emit_json([i.to_dict() for i in invs] if image.lower() == "all"
                      else invs[0].to_dict())
            return
        for inv in invs:
            click.echo("\n".join(inv.summary()))


@click.command("plan")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("packages", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the plan(s) as JSON.")
@click.pass_context
def plan_cmd(ctx: click.Context, wim: str, image: str, packages: Sequence[str],
             as_json: bool) -> None:
    """Plan PACKAGES (MSU, CAB, expanded folders) for IMAGE (index, name or all)."""
    import wimcore
    from wimcore.cli.app import emit_json, guarded
    from wimcore.servicing.history import load_history

    with guarded(ctx), wimcore.open(wim) as w:
        hist = load_history(wim)
        plans = [servicing.plan(img, list(packages), staged=hist.staged_keys(img.index,
                                                                             img.name))
                 for img in _images(w, image)]
        if as_json:
            emit_json([p.to_dict() for p in plans] if image.lower() == "all"
                      else plans[0].to_dict())
            return
        click.echo("\n\n".join(str(p) for p in plans))


@click.command("stage")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("packages", nargs=-1, required=True, type=click.Path())
@click.option("--continue-on-error", is_flag=True,
              help="Record a failed package or image and go on (default: stop, WIM unchanged).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), default=None,
              help="Write the JSON report here (and a .txt summary beside it).")
@click.option("--log", "log_path", type=click.Path(dir_okay=False), default=None,
              help="Servicing log file (default: WIM.wimcore.log beside the WIM).")
@click.option("--first-boot", is_flag=True,
              help="Also add a SetupComplete.cmd block running DISM /Online /Add-Package.")
@click.option("--work-dir", type=click.Path(file_okay=False), default=None,
              help="Where packages are expanded (default: a temporary folder).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_context
def stage_cmd(ctx: click.Context, wim: str, image: str, packages: Sequence[str],
              continue_on_error: bool, report_path: str | None, log_path: str | None,
              first_boot: bool, work_dir: str | None, as_json: bool) -> None:
    """Stage PACKAGES into IMAGE (index, name or all): Windows installs them at Setup."""
    from wimcore.cli.app import emit_json, guarded, progress_for

    images: Any = "all" if image.lower() == "all" else _image_ref(image)
    with guarded(ctx), progress_for(ctx, "stage") as cb:
        report = servicing.service_wim(wim, list(packages), images=images, work_dir=work_dir,
                                       first_boot=first_boot,
                                       continue_on_error=continue_on_error,
                                       report_path=report_path, log_path=log_path, progress=cb)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(report.summary())
    if report.status == "partial":
        ctx.exit(1)


def register(group: click.Group) -> None:
    """Add ``list``, ``plan`` and ``stage`` to the ``package`` command group."""
    for command in (list_cmd, plan_cmd, stage_cmd):
        group.add_command(command)
