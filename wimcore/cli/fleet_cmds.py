"""``wimcore fleet``: many images on Dask with a SQLite servicing catalog (thin commands).

Only click is imported here; the fleet layer (and Dask, for ``run``) load inside the
commands, so ``wimcore info`` and friends never import them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from wimcore.cli.common import State, emit_json, exit_for, guarded, name_operation
from wimcore.cli.errors import EXIT_CANCELLED, current


def _catalog(ctx: click.Context) -> Any:
    from wimcore.fleet.catalog import Catalog

    return Catalog(ctx.find_root().meta.get("wimcore.fleet.catalog"))


@click.group("fleet", help="Service many images across machines on Dask, with a servicing "
                           "catalog (an image library, a content library and every run).")
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, path_type=Path),
              envvar="WIMCORE_CATALOG",
              help="The catalog file (default: $WIMCORE_CATALOG, else "
                   "~/.local/share/wimcore/catalog.sqlite3).")
@click.pass_context
def fleet_group(ctx: click.Context, catalog_path: Path | None) -> None:
    """The fleet commands share one catalog."""
    ctx.find_root().meta["wimcore.fleet.catalog"] = catalog_path


@fleet_group.command("add")
@click.argument("wim", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--index", metavar="N|NAME|all",
              help="Export this image (or each, with 'all') alone into the library first: "
                   "a smaller file, faster servicing. Default: register every image in place.")
@click.option("--library", type=click.Path(file_okay=False, path_type=Path),
              help="The library folder (remembered in the catalog).")
@click.option("--json", "as_json", is_flag=True, help="Print the registered images as JSON.")
@click.pass_context
def add_cmd(ctx: click.Context, wim: Path, index: str | None, library: Path | None,
            as_json: bool) -> None:
    """Register the images of WIM in the catalog."""
    from wimcore.fleet.library import add_images

    with guarded(ctx), _catalog(ctx) as cat:
        ids = add_images(cat, wim, index=index, library=library)
        images = [cat.image(i) for i in ids]
    if as_json:
        emit_json({"images": images})
        return
    for img in images:
        click.echo(f"{img['id']:>4}  {img['name']}  ({img['edition'] or '?'}, "
                   f"{img['arch'] or '?'}, 10.0.{img['build']}.{img['ubr']})  "
                   f"{img['wim_path']}:{img['wim_index']}")


@fleet_group.group("updates", help="The content library of updates.")
def updates_group() -> None:
    """Update commands."""


@updates_group.command("add")
@click.argument("paths", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--setup-du", "setup_du", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="This input is a Setup Dynamic Update (skipped: it belongs to a media's "
                   "sources/); repeatable.")
@click.option("--sources", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A media's sources/ folder whose Setup files recognise a Setup Dynamic "
                   "Update (as package plan/stage and media service do).")
@click.option("--skip-verify", is_flag=True,
              help="Store packages WITHOUT checking them against their catalogs and "
                   "manifests (recorded in the catalog; runs still check them unless "
                   "'fleet run --skip-verify').")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")
@click.pass_context
def updates_add_cmd(ctx: click.Context, paths: tuple[Path, ...], setup_du: tuple[Path, ...],
                    sources: Path | None, skip_verify: bool, as_json: bool) -> None:
    """Import update files (MSU, CAB, WIM container; or the ones in folders) into the content
    library: classified and verified as package plan/stage do; refused inputs fail the
    command with their error after the others are stored."""
    from wimcore.cli.common import progress_for
    from wimcore.fleet.updates import add_updates

    if skip_verify:
        _warn_skip_verify()
    with guarded(ctx):
        with _catalog(ctx) as cat, progress_for(ctx, "updates add") as cb:
            results = add_updates(cat, list(paths), sources=sources, setup_du=list(setup_du),
                                  skip_verify=skip_verify, progress=cb)
        if as_json:
            emit_json({"updates": [r.to_dict() for r in results], "skip_verify": skip_verify})
        else:
            for r in results:
                keys = ", ".join(p["key"] for p in r.packages)
                state = (r.verification or {}).get("state")
                click.echo(f"{r.status:<16} {Path(r.source).name}"
                           + (f": {keys}" if keys else "")
                           + (f" [{_VERIFIED.get(state, state)}]" if state else "")
                           + (f": {r.reason}" if r.reason and r.status != "imported" else ""))
        refused = [r for r in results if r.status == "refused"]
        if refused:  # listed above; the command fails with the first one's own error
            from wimcore.fleet.errors import LibraryError

            raise refused[0].error or LibraryError(f"{refused[0].source}: {refused[0].reason}")


#: How ``updates add``/``list`` show a file's verification state.
_VERIFIED = {"verified": "verified", "partly-verified": "partly verified",
             "unverified": "unverified", "skipped": "NOT VERIFIED (--skip-verify)"}


def _warn_skip_verify() -> None:
    """The loud line of --skip-verify, on stderr and in --json's warnings."""
    text = "--skip-verify: packages are NOT checked against their catalogs and manifests"
    current.warnings.append(text)
    click.echo(f"wimcore: warning: {text}", err=True)


@updates_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the library as JSON.")
@click.pass_context
def updates_list_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the updates of the content library."""
    with guarded(ctx), _catalog(ctx) as cat:
        updates = cat.updates()
    if as_json:
        emit_json({"updates": updates})
        return
    for u in updates:
        sup = f"  superseded by {', '.join(u['superseded_by'])}" if u["superseded_by"] else ""
        state = u["verification"].get("state", "?")
        click.echo(f"{u['kb'] or '-':<10} {u['kind']:<18} {u['arch']:<6} {u['key']}{sup}"
                   + ("" if state == "verified" else f"  [{_VERIFIED.get(state, state)}]"))


_IMAGE = click.option("--image", "images", multiple=True, metavar="ID|NAME",
                      help="Only these images (repeatable; default: all).")
_ARCH = click.option("--arch", type=click.Choice(["x64", "x86", "arm64"]),
                     help="Only updates (and images) of this architecture.")
_FILTER = click.option("--filter", "text", metavar="TEXT",
                       help="Only updates whose KB, identity, kind or file name contain TEXT.")


@fleet_group.command("plan")
@_IMAGE
@_ARCH
@_FILTER
@click.option("--json", "as_json", is_flag=True, help="Print the plans as JSON.")
@click.pass_context
def plan_cmd(ctx: click.Context, images: tuple[str, ...], arch: str | None, text: str | None,
             as_json: bool) -> None:
    """Per image, the applicable updates it does not have yet, in order."""
    from wimcore.fleet.planning import plan_images

    with guarded(ctx), _catalog(ctx) as cat:
        plans = plan_images(cat, cat.select_images(list(images)), arch=arch, text=text)
    if as_json:
        emit_json({"plans": [p.to_dict() for p in plans]})
        return
    for p in plans:
        img = p.image
        click.echo(f"{img['id']:>4}  {img['name']}: "
                   + (f"error: {p.error}" if p.error else
                      f"{len(p.apply)} to apply" if p.apply else "nothing to apply"))
        for e in p.apply:
            click.echo(f"        {e['order']:>2}  {e['kb'] or '-':<10} {e['kind']:<18} "
                       f"{e['key']}")
        for b in p.broken:  # a run hands them to servicing, which fails them with this error
            click.echo(f"        unusable {Path(b['file']).name}: {b['error']}")


@fleet_group.command("run")
@click.option("--scheduler", metavar="ADDRESS",
              help="An existing Dask scheduler (tls://HOST:8786, with --tls-*); default: a "
                   "local cluster on 127.0.0.1.")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The CA certificate that signed the scheduler's and workers' certificates.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="This client's certificate (PEM), signed by that CA.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="This client's private key (PEM; omit when it is in --tls-cert).")
@click.option("--insecure", is_flag=True,
              help="Allow a plain tcp:// scheduler beyond loopback: whoever reaches its port "
                   "runs code as the workers' user. For a network you trust only.")
@click.option("--workers", type=click.IntRange(1, 256),
              help="Worker processes of the local cluster (default: min(images, cores)).")
@click.option("--backend", type=click.Choice(["auto", "staged", "vm"]), default="staged",
              show_default=True, help="How plans are applied.")
@click.option("--continue-on-error", is_flag=True,
              help="Record a failed package and go on (per image).")
@click.option("--remove-superseded", is_flag=True,
              help="Cleanup /ResetBase and export to shrink (single-index WIMs only).")
@click.option("--scratch", type=click.Path(file_okay=False, path_type=Path),
              help="Scratch folder for expanded packages (same path on every worker).")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Retries of a task whose worker died or that raised.")
@click.option("--skip-verify", is_flag=True,
              help="Use the library's packages WITHOUT checking them against their catalogs "
                   "and manifests again (recorded in the run).")
@click.option("--allow-incomplete", is_flag=True,
              help="Exit 0 even when an image could not be serviced (run incomplete).")
@click.option("--winpe", metavar="PATH[:INDEX]",
              help="vm backend: the WinPE whose DISM installs (same path on every worker).")
@click.option("--media", "media_root", type=click.Path(file_okay=False, exists=True,
                                                       path_type=Path),
              help="vm backend: the media folder with the boot files (default: the WinPE's).")
@click.option("--vm-memory", type=click.IntRange(256, 1024 * 1024), default=4096,
              show_default=True, help="vm backend: guest memory in MiB (each VM task asks "
                                      "its worker for this + 1024 MiB of MEMORY).")
@click.option("--vm-cpus", type=click.IntRange(1, 256), default=2, show_default=True,
              help="vm backend: guest processors.")
@click.option("--vm-timeout", type=click.FloatRange(1), default=6 * 3600.0, show_default=True,
              help="vm backend: seconds before a VM is killed (a target that had finished is "
                   "kept only if its volume checks clean; the others stay unchanged).")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), default="auto",
              show_default=True, help="vm backend: KVM when usable (auto), or force one.")
@_IMAGE
@_ARCH
@_FILTER
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_context
def run_cmd(ctx: click.Context, scheduler: str | None, tls_ca: Path | None,
            tls_cert: Path | None, tls_key: Path | None, insecure: bool,
            workers: int | None, backend: str,
            continue_on_error: bool, remove_superseded: bool, scratch: Path | None,
            retries: int, skip_verify: bool, allow_incomplete: bool, winpe: str | None,
            media_root: Path | None, vm_memory: int, vm_cpus: int, vm_timeout: float,
            accel: str, images: tuple[str, ...], arch: str | None, text: str | None,
            as_json: bool) -> None:
    """Service every selected image with its plan, in parallel (idempotent)."""
    from wimcore.fleet.runner import RunOptions, run_fleet
    from wimcore.fleet.security import TlsFiles
    from wimcore.servicing.backend import BackendOptions

    state: State = ctx.find_object(State) or State(False, False)
    show = _Display(quiet=state.quiet or current.quiet)
    if skip_verify:
        _warn_skip_verify()
    tls = TlsFiles(*(str(p.absolute()) if p else None for p in (tls_ca, tls_cert, tls_key)))
    if insecure:
        text = ("--insecure: a plain tcp:// scheduler lets whoever reaches it run code as "
                "the workers' user")
        current.warnings.append(text)
        click.echo(f"wimcore: warning: {text}", err=True)
    options = RunOptions(scheduler=scheduler, tls=tls, insecure=insecure, workers=workers,
                         backend=backend,
                         continue_on_error=continue_on_error,
                         remove_superseded=remove_superseded,
                         scratch=str(scratch.absolute()) if scratch else None,
                         images=images, arch=arch, text=text, retries=retries,
                         skip_verify=skip_verify, backend_options=BackendOptions(
                             winpe=_absolute_winpe(winpe),
                             media_root=str(media_root.absolute()) if media_root else None,
                             memory_mib=vm_memory, cpus=vm_cpus, timeout=vm_timeout,
                             accel=accel))
    name_operation("fleet run")
    with guarded(ctx), _catalog(ctx) as cat:
        try:
            result = run_fleet(cat, options, show.event)
        finally:
            show.close()
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(result.note if result.run_id is None else
                   f"run {result.run_id}: {result.status} ({result.seconds:.1f} s)"
                   + (f": {result.note}" if result.note else ""))
    changed = any(r.get("wim_changed") for r in result.images)
    if result.status == "cancelled" and not changed:
        sys.exit(EXIT_CANCELLED)
    complete = result.status in ("successful", "nothing-to-do") or (
        result.status == "incomplete" and allow_incomplete)
    code = exit_for(changed=changed, complete=complete)
    if code:
        sys.exit(code)


def _absolute_winpe(spec: str | None) -> str | None:
    """``--winpe PATH[:INDEX]`` with an absolute PATH (workers run in other folders)."""
    if spec is None:
        return None
    from wimcore.errors import WimcoreError
    from wimcore.servicing.vm.winpe import parse_winpe

    try:
        source = parse_winpe(spec)
    except WimcoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--winpe") from None
    return f"{source.path.absolute()}:{source.index}"


class _Display:
    """Live progress of a run on stderr: a bar on a terminal, plain lines otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None
        self.task: Any = None

    def event(self, kind: str, data: dict[str, Any]) -> None:
        if self.quiet:
            return
        if kind == "planned":
            click.echo(f"fleet: {data['todo']} image(s) with updates to apply", err=True)
        elif kind == "started":
            click.echo(f"fleet: run {data['run_id']} on {len(data['workers'])} worker(s)"
                       + (f"; dashboard {data['dashboard']}" if data.get("dashboard") else ""),
                       err=True)
            if sys.stderr.isatty():
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

                self.bar = Progress(TextColumn("fleet"), BarColumn(), MofNCompleteColumn(),
                                    TextColumn("{task.description}"), transient=True)
                self.bar.start()
                self.task = self.bar.add_task("", total=data["total"])
        elif kind == "cancelling":
            click.echo(f"fleet: cancelling run {data['run_id']}", err=True)
        elif kind == "result":
            why = data.get("error") or (data.get("note") if data["status"] in
                                        ("not-serviced", "incomplete") else None)
            line = (f"[{data['done']}/{data['total']}] image {data['image_id']}: "
                    f"{data['status']}" + (f" ({why})" if why else "")
                    + (f" on {data['worker']}" if data.get("worker") else ""))
            if self.bar is not None:
                self.bar.update(self.task, completed=data["done"], description=line)
                self.bar.console.print(line)
            else:
                click.echo("fleet: " + line, err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


#: How ``status`` shows an image's state in its latest run (the catalog's words, spelled
#: for people).
_STATE_WORDS = {"never-started": "never started", "not-serviced": "not serviced",
                "nothing-to-do": "nothing to do"}


@fleet_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.pass_context
def status_cmd(ctx: click.Context, as_json: bool) -> None:
    """Every image with its latest run, and the latest runs."""
    with guarded(ctx), _catalog(ctx) as cat:
        cat.reconcile()
        images = cat.status()
        runs = cat.runs()[:10]
    if as_json:
        emit_json({"images": images, "runs": runs})
        return
    for img in images:
        last = img["last_run"]
        has = ", ".join(f"{len(img[k])} {k}" for k in ("installed", "staged") if img[k])
        click.echo(f"{img['id']:>4}  {img['name']:<34} 10.0.{img['build']}.{img['ubr']}  "
                   f"updates: {has or 'none by wimcore'}  last run: "
                   + (f"{_STATE_WORDS.get(last['status'], last['status'])} "
                      f"({last['run_id']}, run {last['run_status']})" if last else "never"))
    for r in runs:
        click.echo(f"run {r['id']}  {r['status']:<10} {r['backend']:<6} started {r['started']}"
                   + (f"  {r['note']}" if r["note"] else ""))


@fleet_group.command("history")
@click.argument("image", metavar="ID|NAME")
@click.option("--json", "as_json", is_flag=True, help="Print the history as JSON.")
@click.pass_context
def history_cmd(ctx: click.Context, image: str, as_json: bool) -> None:
    """What IMAGE had at import and what every run since did to it."""
    with guarded(ctx), _catalog(ctx) as cat:
        found = cat.select_images([image])
        docs = [cat.history(i["id"]) for i in found]
    if as_json:
        emit_json(docs[0] if len(docs) == 1 else {"images": docs})
        return
    for doc in docs:
        img = doc["image"]
        click.echo(f"image {img['id']} {img['name']} ({img['wim_path']}:{img['wim_index']}), "
                   f"imported {img['imported_at']} with {len(doc['at_import'])} package(s)")
        for p in doc["at_import"]:
            click.echo(f"    at import  {p['kb'] or '-':<10} {p['key']}")
        for r in doc["runs"]:
            why = r["error"] or (r["note"] if r["status"] in ("not-serviced", "incomplete")
                                 else None)
            click.echo(f"  run {r['run_id']} ({r['backend']}, {r['run_status']}): {r['status']}"
                       + (f": {why}" if why else "")
                       + (f"  log {r['log_path']}" if r["log_path"] else ""))
            for p in r["packages"]:
                click.echo(f"    {p['state']:<12} {p['kb'] or '-':<10} {p['key']}"
                           + (f"  [{p['verdict']}]" if p["verdict"] else ""))


@fleet_group.command("cancel")
@click.argument("run_id", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON.")
@click.pass_context
def cancel_cmd(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Ask run RUN to stop: queued images are not started, running ones stop at a safe point."""
    with guarded(ctx), _catalog(ctx) as cat:
        run = cat.request_cancel(run_id)
    if as_json:
        emit_json({"run_id": run_id, "status": run["status"],
                   "cancel_requested": bool(run["cancel_requested"])})
    elif run["status"] == "in process":
        click.echo(f"run {run_id}: cancel requested; its client stops the workers")
    else:
        click.echo(f"run {run_id}: already {run['status']}; nothing to cancel")
