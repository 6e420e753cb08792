"""``wimcore package``: expand and inspect update packages (thin wrappers over wimcore.packages);
list, plan, stage and install are added to the group by ``wimcore.cli.app``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from wimcore.errors import WimcoreError
from wimcore.packages.expand import expand as expand_package
from wimcore.packages.inspect import inspect_package
from wimcore.progress import ProgressEvent

package_group = click.Group("package", help="Expand, inspect, list, plan, stage and install "
                                            "Windows update packages (MSU, CAB, WIM "
                                            "container, express); read and apply MSDelta "
                                            "deltas (delta).")


def _fail(exc: BaseException) -> click.ClickException:
    """Hand the error to the CLI's one error handler (one line, the documented exit code)."""
    from wimcore.cli.errors import fail

    fail(exc)


def _with_warnings(data: dict[str, Any]) -> dict[str, Any]:
    """The JSON document plus the warnings (libmspack's, libwimlib's) raised during the run."""
    from wimcore.cli.errors import current

    data.setdefault("warnings", list(current.warnings))
    return data


@package_group.command("expand")
@click.argument("pkg", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def expand_cmd(pkg: Path, dest: Path, as_json: bool, quiet: bool) -> None:
    """Expand PKG (MSU, CAB or WIM container) into DEST (absent or empty)."""
    from wimcore.cli.errors import current

    quiet = quiet or current.quiet
    def on_progress(event: ProgressEvent) -> None:
        if event.path and not quiet and not as_json:
            click.echo(f"  {event.path}", err=True)

    try:
        if not pkg.exists():
            raise FileNotFoundError(2, "No such file or directory", str(pkg))
        result = expand_package(pkg, dest, progress=on_progress)
    except (WimcoreError, OSError) as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(_with_warnings(result.to_dict()), indent=2))
        return
    click.echo(f"expanded {pkg.name} ({result.format}) into {dest}: {result.files} files, "
               f"{result.bytes} bytes")
    for p in result.packages:
        click.echo(f"  package: {p.path}" + ("  [express]" if p.express else ""))
    for report in result.psf:
        click.echo("  " + "\n    ".join(report.lines()) + "\n    every span and file "
                   "checked against the index's SHA-256 hashes")
    for name in result.kept:
        role = result.metadata.get(name)
        click.echo(f"  kept, not expanded: {name}" + (f" ({role})" if role else ""))


@package_group.command("inspect")
@click.argument("pkg", type=click.Path(path_type=Path))
@click.option("--setup-du", "setup_du", multiple=True, type=click.Path(dir_okay=False),
              help="Treat this input as a Setup Dynamic Update (as plan does).")
@click.option("--sources", type=click.Path(file_okay=False), default=None,
              help="The media's sources/ folder whose Setup files recognise a Setup Dynamic "
                   "Update (as plan does).")
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect_cmd(pkg: Path, setup_du: tuple[str, ...], sources: str | None,
                as_json: bool) -> None:
    """Describe PKG: an MSU, a CAB or WIM package, an expanded package folder or an
    update.mum; its class is the one plan gives it, and an express package's PSF spans
    are counted by kind. An input that is not an update fails as plan does."""
    from wimcore.packages.errors import NotAnUpdateError

    try:
        if not pkg.exists():
            raise FileNotFoundError(2, "No such file or directory", str(pkg))
        info = inspect_package(pkg, sources=sources, setup_du=setup_du)
    except (WimcoreError, OSError) as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(_with_warnings(info.to_dict()), indent=2))
    else:
        click.echo("\n".join(info.summary()))
    refused = [r for r in info.inputs if r.input_class.value == "not-an-update"]
    if refused:
        raise _fail(NotAnUpdateError(f"{refused[0].path}: not an update: {refused[0].reason}",
                                     path=str(refused[0].path), reason=refused[0].reason))


delta_group = click.Group("delta", help="Read and apply MSDelta deltas (PA30, PA31; PA19 and "
                                        "DCM recognised).")
package_group.add_command(delta_group)


def _read_input(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return path.read_bytes()


@delta_group.command("info")
@click.argument("delta", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the header as JSON.")
def delta_info_cmd(delta: Path, as_json: bool) -> None:
    """Describe DELTA's header: magic, file types, flags, target size and hash, codec."""
    from wimcore.packages import msdelta

    try:
        dinfo = msdelta.info(_read_input(delta))
    except (WimcoreError, OSError) as exc:
        raise _fail(exc) from None
    if as_json:
        click.echo(json.dumps(_with_warnings(dinfo.to_dict()), indent=2))
    else:
        click.echo("\n".join(dinfo.summary()))


@delta_group.command("apply")
@click.argument("delta", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source", "source", type=click.Path(dir_okay=False, path_type=Path),
              help="The file the delta was made against (default: none, an empty source).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def delta_apply_cmd(delta: Path, out: Path, source: Path | None, as_json: bool) -> None:
    """Apply DELTA (to --source) and write the checked target to OUT (a new file).

    OUT appears only when the target's hash matched or, for a delta without a hash,
    the stream ended cleanly; otherwise nothing is written and the exit code is 1.
    """
    from wimcore.atomic import atomic_output
    from wimcore.packages import msdelta

    try:
        data = _read_input(delta)
        base = _read_input(source) if source is not None else b""
        result = msdelta.decode(data, base)
        with atomic_output(out) as tmp:
            tmp.write_bytes(result.data)
    except (WimcoreError, OSError) as exc:
        raise _fail(exc) from None
    if as_json:
        doc = result.to_dict()
        doc["out"] = str(out)
        click.echo(json.dumps(_with_warnings(doc), indent=2))
        return
    check = (f"{result.info.hash_algorithm} verified" if result.verified
             else "no hash in the delta; the stream ended cleanly")
    click.echo(f"wrote {out}: {len(result.data)} bytes ({check})")
