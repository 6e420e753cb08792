"""The ``wimcore`` command: wimlib-imagex/DISM vocabulary, thin calls into the public API."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

import wimcore
from wimcore import errors
from wimcore.cli.progress import human, reporter

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes (documented in the README).
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_MISSING = 3
EXIT_INVALID_WIM = 4
EXIT_NOT_FOUND = 5
EXIT_EXISTS = 6
EXIT_LOCKED = 7
EXIT_CANCELLED = 130

_EXIT_FOR: list[tuple[type[BaseException], int]] = [
    (errors.Cancelled, EXIT_CANCELLED),
    (errors.LockedError, EXIT_LOCKED),
    (errors.DestinationExistsError, EXIT_EXISTS),
    (FileNotFoundError, EXIT_MISSING),
    (errors.InvalidWimError, EXIT_INVALID_WIM),
    (errors.ImageNotFoundError, EXIT_NOT_FOUND),
    (errors.PathNotFoundError, EXIT_NOT_FOUND),
    (errors.InvalidParameterError, EXIT_USAGE),
]

_HINTS: list[tuple[type[BaseException], str]] = [
    (errors.LibraryNotFoundError, ""),
    (errors.LockedError, "wait for the other writer to finish, then retry"),
    (errors.DestinationExistsError, "choose another name or remove the existing file"),
    (errors.CorruptDataError, "the file is damaged; get a fresh copy"),
    (errors.InvalidWimError, "check that the file is a complete WIM/ESD/SWM"),
    (errors.ImageNotFoundError, "list the images with: wimcore info WIM"),
    (errors.PathNotFoundError, "list the files with: wimcore dir WIM IMAGE"),
    (errors.ReadOnlyError, "the WIM is read-only or split; export it to a new file instead"),
]


class State:
    """Options shared by every command."""

    def __init__(self, debug: bool, quiet: bool) -> None:
        self.debug = debug
        self.quiet = quiet


def _fail(exc: BaseException, debug: bool) -> NoReturn:
    if debug:
        import traceback

        traceback.print_exception(exc)
    if isinstance(exc, KeyboardInterrupt):
        click.echo("wimcore: cancelled; nothing was changed", err=True)
        sys.exit(EXIT_CANCELLED)
    code = next((c for cls, c in _EXIT_FOR if isinstance(exc, cls)), EXIT_ERROR)
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, errors.LibraryNotFoundError):
        message = str(exc)
    hint = next((h for cls, h in _HINTS if isinstance(exc, cls)), "")
    click.echo(f"wimcore: error: {message}" + (f" ({hint})" if hint else ""), err=True)
    sys.exit(code)


@contextmanager
def guarded(ctx: click.Context) -> Iterator[None]:
    """Turn wimcore errors and Ctrl-C into one line on stderr and a distinct exit code."""
    state: State = ctx.find_object(State) or State(False, False)
    try:
        yield
    except (errors.WimcoreError, OSError, KeyboardInterrupt) as exc:
        _fail(exc, state.debug)


def emit_json(data: Any) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, sort_keys=False, default=str))


def progress_for(ctx: click.Context, title: str) -> Any:
    """The progress display for a long operation."""
    state: State = ctx.find_object(State) or State(False, False)
    return reporter(title, quiet=state.quiet)


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    try:
        lib = wimcore.libwimlib_version()
    except errors.LibraryNotFoundError as exc:
        lib = f"not loaded ({exc})"
    click.echo(f"wimcore {wimcore.__version__}\nlibwimlib {lib}")
    ctx.exit(0)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Print wimcore's and libwimlib's versions.")
@click.option("--debug", is_flag=True, help="Show tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Service Windows images (WIM/ESD/SWM) from any host, without mounting."""
    ctx.obj = State(debug, quiet)


def image_arg(value: str) -> int | str:
    """An image given as an index or a name."""
    return int(value) if value.strip().isdigit() else value


ref_option = click.option("--ref", "refs", multiple=True, metavar="PART",
                          help="Another part of a split WIM (repeatable, globs allowed).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (schema in README).")
threads_option = click.option("--threads", type=click.IntRange(0), default=0, show_default=True,
                              help="Compression threads (0: one per core).")
compress_option = click.option("--compress", type=click.Choice(
    ["none", "xpress", "lzx", "lzms", "fast", "maximum", "recovery"], case_sensitive=False),
    default=None, help="Compression type.")


def _result(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        emit_json(data)
    else:
        click.echo(text)


# -- info / dir -------------------------------------------------------------------------
def _image_line(image: wimcore.Image, boot_index: int) -> dict[str, Any]:
    info = image.info
    d = info.to_dict()
    d["boot"] = image.index == boot_index
    return d


@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image", required=False)
@click.option("--xml", "as_xml", is_flag=True, help="Print the raw XML document.")
@click.option("--header", is_flag=True, help="Print the WIM header facts.")
@ref_option
@json_option
@click.pass_context
def info(ctx: click.Context, wim: str, image: str | None, as_xml: bool, header: bool,
         refs: Sequence[str], as_json: bool) -> None:
    """Show a WIM's images (name, edition, arch, build.UBR, languages, size, files)."""
    with guarded(ctx), wimcore.open(wim, refs=refs) as w:
        if as_xml:
            click.echo(w.xml.decode("utf-16"))
            return
        winfo = w.info
        images = [w.images[image_arg(image)]] if image else list(w.images)
        rows = [_image_line(i, winfo.boot_index) for i in images]
        if as_json:
            emit_json({"path": os.path.abspath(wim), "header": winfo.to_dict(), "images": rows})
            return
        if header or not image:
            click.echo(f"Path:        {os.path.abspath(wim)}")
            click.echo(f"GUID:        {winfo.guid}")
            click.echo(f"Images:      {winfo.image_count}")
            click.echo(f"Compression: {winfo.compression.name} (chunk {winfo.chunk_size} bytes)")
            click.echo(f"Parts:       {winfo.part_number}/{winfo.total_parts}")
            click.echo(f"Boot index:  {winfo.boot_index}")
            click.echo(f"Size:        {winfo.total_bytes} bytes")
            flags = [k for k in ("has_integrity_table", "pipable", "is_marked_readonly", "spanned")
                     if getattr(winfo, k)]
            click.echo(f"Flags:       {', '.join(flags) or '-'}")
            click.echo("")
        for row in rows:
            click.echo(f"Index:        {row['index']}{'  (boot)' if row['boot'] else ''}")
            for label, key in (("Name", "name"), ("Description", "description"),
                               ("Edition", "edition_id"), ("Flags", "flags"),
                               ("Product", "product_name"), ("Type", "installation_type"),
                               ("Arch", "arch"), ("Version", "version")):
                if row.get(key) not in (None, ""):
                    click.echo(f"{label + ':':<13} {row[key]}")
            if row["languages"]:
                click.echo(f"{'Languages:':<13} {', '.join(row['languages'])} "
                           f"(default {row['default_language']})")
            click.echo(f"{'Size:':<13} {row['total_bytes']} bytes")
            click.echo(f"{'Files:':<13} {row['file_count']} files, {row['dir_count']} directories")
            click.echo("")


@cli.command("dir")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("path", required=False, default="/")
@click.option("--detailed", is_flag=True, help="Show size, attributes, times and hashes.")
@ref_option
@json_option
@click.pass_context
def dir_cmd(ctx: click.Context, wim: str, image: str, path: str, detailed: bool,
            refs: Sequence[str], as_json: bool) -> None:
    """List the files of an image (recursively from PATH)."""
    with guarded(ctx), wimcore.open(wim, refs=refs) as w:
        entries = list(w.images[image_arg(image)].walk(path))
        if as_json:
            emit_json([e.to_dict() for e in entries])
            return
        for e in entries:
            if detailed:
                t = e.last_write_time.strftime("%Y-%m-%d %H:%M:%S") if e.last_write_time else "-"
                click.echo(f"{'d' if e.is_dir else '-'} {e.size:>12} {int(e.attributes):#07x} {t} "
                           f"{e.sha1 or '-':40} {e.path}")
            else:
                click.echo(e.path)


# -- extract / apply --------------------------------------------------------------------
@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("paths", nargs=-1, required=True)
@click.option("--dest", "dest", required=True, type=click.Path(file_okay=False),
              help="Destination directory.")
@click.option("--no-preserve-dir-structure", is_flag=True,
              help="Put each extracted item directly in DEST.")
@click.option("--glob/--no-glob", default=False, help="Treat PATHS as wildcard patterns.")
@ref_option
@json_option
@click.pass_context
def extract(ctx: click.Context, wim: str, image: str, paths: Sequence[str], dest: str,
            no_preserve_dir_structure: bool, glob: bool, refs: Sequence[str],
            as_json: bool) -> None:
    """Extract files or folders from an image into a directory."""
    with guarded(ctx), wimcore.open(wim, refs=refs) as w, progress_for(ctx, "extract") as cb:
        start = time.monotonic()
        w.images[image_arg(image)].extract(list(paths), dest, progress=cb, glob=glob,
                                           preserve_dir_structure=not no_preserve_dir_structure)
        _result(as_json, {"ok": True, "dest": os.path.abspath(dest), "paths": list(paths),
                          "seconds": round(time.monotonic() - start, 3)},
                f"Extracted {len(paths)} path(s) to {dest}")


@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("target", type=click.Path())
@click.option("--ntfs/--no-ntfs", default=None,
              help="Force (or forbid) NTFS-3G mode; default: NTFS when TARGET is a device or file.")
@click.option("--unix-data", is_flag=True, help="Restore UNIX owners and modes stored in the WIM.")
@ref_option
@json_option
@click.pass_context
def apply(ctx: click.Context, wim: str, image: str, target: str, ntfs: bool | None,
          unix_data: bool, refs: Sequence[str], as_json: bool) -> None:
    """Apply a whole image to a directory or an NTFS volume (block device or image file)."""
    with guarded(ctx), wimcore.open(wim, refs=refs) as w, progress_for(ctx, "apply") as cb:
        start = time.monotonic()
        w.images[image_arg(image)].apply(target, ntfs=ntfs, unix_data=unix_data, progress=cb)
        _result(as_json, {"ok": True, "target": os.path.abspath(target),
                          "seconds": round(time.monotonic() - start, 3)},
                f"Applied image {image} to {target}")


# -- capture / append ---------------------------------------------------------------------
def _capture_options(func: F) -> F:
    for option in reversed([
        click.option("--description", default=None, help="Image description."),
        compress_option,
        click.option("--solid", is_flag=True, help="Solid LZMS resources (ESD)."),
        click.option("--config", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="Capture configuration file (exclusions), as wimlib-imagex."),
        click.option("--boot", is_flag=True, help="Mark the new image bootable."),
        click.option("--unix-data", is_flag=True, help="Store UNIX owners and modes."),
        click.option("--ntfs/--no-ntfs", default=None,
                     help="Force (or forbid) NTFS-3G mode; default: NTFS for devices/files."),
        click.option("--check", is_flag=True, help="Write an integrity table."),
        click.option("--in-place", is_flag=True,
                     help="append: add to the WIM in place (faster; see README) instead of "
                          "rewriting it."),
        threads_option, json_option,
    ]):
        func = option(func)
    return func


def _do_capture(ctx: click.Context, src: str, wim: str, name: str, append: bool,
                **opts: Any) -> None:
    with guarded(ctx), progress_for(ctx, "append" if append else "capture") as cb:
        start = time.monotonic()
        if append and not os.path.exists(wim):
            raise errors.MissingFileError(47, "no such WIM file to append to", path=wim)
        wimcore.capture(src, wim, name, description=opts["description"],
                        compression=opts["compress"] or "lzx", solid=opts["solid"],
                        config=opts["config"], ntfs=opts["ntfs"], boot=opts["boot"],
                        unix_data=opts["unix_data"], threads=opts["threads"],
                        check_integrity=opts["check"], append=append,
                        in_place=opts["in_place"], progress=cb)
        size = os.path.getsize(wim)
        _result(opts["as_json"], {"ok": True, "output": os.path.abspath(wim), "name": name,
                                  "size": size, "seconds": round(time.monotonic() - start, 3)},
                f"{'Appended' if append else 'Captured'} {src} as {name!r} into {wim} "
                f"({human(size)})")


@cli.command()
@click.argument("src", type=click.Path(exists=True))
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("name")
@_capture_options
@click.pass_context
def capture(ctx: click.Context, /, src: str, wim: str, name: str, **opts: Any) -> None:
    """Capture a directory or NTFS volume into a new WIM."""
    _do_capture(ctx, src, wim, name, False, **opts)


@cli.command()
@click.argument("src", type=click.Path(exists=True))
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("name")
@_capture_options
@click.pass_context
def append(ctx: click.Context, /, src: str, wim: str, name: str, **opts: Any) -> None:
    """Capture a directory or NTFS volume as a new image of an existing WIM."""
    _do_capture(ctx, src, wim, name, True, **opts)


# -- update ---------------------------------------------------------------------------------
def _pair(value: str, what: str) -> tuple[str, str]:
    if ":" not in value:
        raise click.BadParameter(f"{value!r}: expected {what}")
    left, right = value.rsplit(":", 1) if what.startswith("SRC") else value.split(":", 1)
    return left, right


@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.option("--add", "adds", multiple=True, metavar="SRC:DEST",
              help="Add a host file or folder at DEST (repeatable).")
@click.option("--delete", "deletes", multiple=True, metavar="PATH",
              help="Delete PATH (repeatable).")
@click.option("--recursive", is_flag=True, help="Let --delete remove folders.")
@click.option("--force", is_flag=True, help="Let --delete ignore missing paths.")
@click.option("--rename", "renames", multiple=True, metavar="OLD:NEW",
              help="Rename or move a path (repeatable).")
@click.option("--commands", "commands_file", type=click.File("r"), default=None,
              help="A file of wimlib-imagex update commands (add/delete/rename), in order.")
@click.option("--in-place", is_flag=True, help="Append to the WIM instead of rewriting it.")
@threads_option
@json_option
@click.pass_context
def update(ctx: click.Context, wim: str, image: str, adds: Sequence[str], deletes: Sequence[str],
           recursive: bool, force: bool, renames: Sequence[str], commands_file: Any,
           in_place: bool, threads: int, as_json: bool) -> None:
    """Edit an image in place: options apply as deletes, then renames, then adds."""
    with guarded(ctx):
        commands: list[wimcore.AddCommand | wimcore.DeleteCommand | wimcore.RenameCommand] = []
        if commands_file is not None:
            commands.extend(wimcore.parse_commands(commands_file.read()))
        commands.extend(wimcore.DeleteCommand(p, recursive=recursive, force=force)
                        for p in deletes)
        commands.extend(wimcore.RenameCommand(*_pair(r, "OLD:NEW")) for r in renames)
        commands.extend(wimcore.AddCommand(*_pair(a, "SRC:DEST")) for a in adds)
        if not commands:
            raise click.UsageError("nothing to do: give --add, --delete, --rename or --commands")
        with wimcore.open(wim, writable=True) as w, progress_for(ctx, "update") as cb:
            w.images[image_arg(image)].update(commands)
            w.commit(progress=cb, in_place=in_place, threads=threads)
        _result(as_json, {"ok": True, "output": os.path.abspath(wim), "commands": len(commands)},
                f"Applied {len(commands)} command(s) to image {image} of {wim}")


# -- export / delete / set ---------------------------------------------------------------
@cli.command()
@click.argument("src", type=click.Path(dir_okay=False))
@click.argument("image")
@click.argument("dest", type=click.Path(dir_okay=False))
@compress_option
@click.option("--solid", is_flag=True, help="Solid LZMS resources (ESD).")
@click.option("--recompress", is_flag=True, help="Recompress data even when it could be copied.")
@click.option("--boot", is_flag=True, help="Mark the exported image bootable.")
@click.option("--chunk-size", type=int, default=None, help="Compression chunk size in bytes.")
@click.option("--name", default=None, help="Name of the exported image.")
@click.option("--description", default=None, help="Description of the exported image.")
@click.option("--check", is_flag=True, help="Write an integrity table.")
@click.option("--in-place", is_flag=True,
              help="Append to an existing DEST in place instead of rewriting it.")
@threads_option
@ref_option
@json_option
@click.pass_context
def export(ctx: click.Context, src: str, image: str, dest: str, compress: str | None,
           solid: bool, recompress: bool, boot: bool, chunk_size: int | None, name: str | None,
           description: str | None, check: bool, in_place: bool, threads: int,
           refs: Sequence[str], as_json: bool) -> None:
    """Export an image (or all) to a new WIM, or append it to an existing one."""
    with guarded(ctx), progress_for(ctx, "export") as cb:
        start = time.monotonic()
        selected: Any = "all" if image.lower() == "all" else image_arg(image)
        wimcore.export(src, selected, dest, compression=compress, solid=solid,
                       recompress=recompress, boot=boot, chunk_size=chunk_size, threads=threads,
                       name=name, description=description, refs=refs, check_integrity=check,
                       in_place=in_place, progress=cb)
        size = os.path.getsize(dest)
        _result(as_json, {"ok": True, "output": os.path.abspath(dest), "size": size,
                          "seconds": round(time.monotonic() - start, 3)},
                f"Exported image {image} of {src} to {dest} ({human(size)})")


@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@json_option
@click.pass_context
def delete(ctx: click.Context, wim: str, image: str, as_json: bool) -> None:
    """Delete an image (the WIM is rebuilt, so the space is reclaimed)."""
    with guarded(ctx), wimcore.open(wim, writable=True) as w, progress_for(ctx, "delete") as cb:
        w.delete_image(image_arg(image))
        w.commit(progress=cb)
        _result(as_json, {"ok": True, "output": os.path.abspath(wim),
                          "images": w.info.image_count}, f"Deleted image {image} from {wim}")


@cli.command("set")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.option("--name", default=None, help="New image name.")
@click.option("--description", default=None, help="New description.")
@click.option("--flags", default=None, help="New edition flags (e.g. Professional).")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Set an XML property, e.g. WINDOWS/VERSION/SPBUILD=3803 (repeatable).")
@click.option("--boot", is_flag=True, help="Make this image the boot image.")
@json_option
@click.pass_context
def set_cmd(ctx: click.Context, wim: str, image: str, name: str | None,
            description: str | None, flags: str | None, properties: Sequence[str], boot: bool,
            as_json: bool) -> None:
    """Change an image's name, description, flags, XML properties or make it the boot image."""
    with guarded(ctx):
        pairs = []
        for prop in properties:
            key, sep, value = prop.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"{prop!r}: expected KEY=VALUE", param_hint="--property")
            pairs.append((key, value))
        with wimcore.open(wim, writable=True) as w:
            img = w.images[image_arg(image)]
            if name is not None:
                img.name = name
            if description is not None:
                img.description = description
            if flags is not None:
                img.flags = flags
            for key, value in pairs:
                img.set_property(key, value)
            if boot:
                w.boot_index = img.index
            w.commit()
            data = {"ok": True, "image": _image_line(img, w.info.boot_index)}
        _result(as_json, data, f"Updated image {image} of {wim}")


# -- split / join / verify / optimize -----------------------------------------------------
@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("first_part", type=click.Path(dir_okay=False))
@click.argument("size_mib", type=click.FloatRange(min=0.001))
@json_option
@click.pass_context
def split(ctx: click.Context, wim: str, first_part: str, size_mib: float, as_json: bool) -> None:
    """Split a WIM into parts of at most SIZE_MiB (PART1.swm, PART12.swm, ...)."""
    with guarded(ctx), wimcore.open(wim) as w, progress_for(ctx, "split") as cb:
        parts = w.split(first_part, int(size_mib * 1024 * 1024), progress=cb)
        _result(as_json, {"ok": True, "parts": [str(p) for p in parts]},
                "\n".join(str(p) for p in parts))


@cli.command()
@click.argument("out", type=click.Path(dir_okay=False))
@click.argument("parts", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--check", is_flag=True, help="Write an integrity table.")
@json_option
@click.pass_context
def join(ctx: click.Context, out: str, parts: Sequence[str], check: bool, as_json: bool) -> None:
    """Join the parts of a split WIM into one WIM."""
    with guarded(ctx), progress_for(ctx, "join") as cb:
        wimcore.join(list(parts), out, check_integrity=check, progress=cb)
        _result(as_json, {"ok": True, "output": os.path.abspath(out),
                          "size": os.path.getsize(out)}, f"Joined {len(parts)} part(s) into {out}")


@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@ref_option
@json_option
@click.pass_context
def verify(ctx: click.Context, wim: str, refs: Sequence[str], as_json: bool) -> None:
    """Check the integrity table, every blob's SHA-1 and every image's metadata."""
    with guarded(ctx), progress_for(ctx, "verify") as cb:
        wimcore.verify(wim, refs=refs, progress=cb)
        _result(as_json, {"ok": True, "path": os.path.abspath(wim)}, f"{wim}: OK")


@cli.command()
@click.argument("wim", type=click.Path(dir_okay=False))
@click.option("--recompress", is_flag=True, help="Recompress all data.")
@compress_option
@click.option("--chunk-size", type=int, default=None, help="Compression chunk size in bytes.")
@click.option("--solid/--no-solid", default=None, help="Write solid resources (ESD) or not.")
@click.option("--check/--no-check", default=None, help="Write an integrity table or not.")
@threads_option
@json_option
@click.pass_context
def optimize(ctx: click.Context, wim: str, recompress: bool, compress: str | None,
             chunk_size: int | None, solid: bool | None, check: bool | None, threads: int,
             as_json: bool) -> None:
    """Rebuild a WIM to reclaim the space of deleted or replaced data."""
    with guarded(ctx), progress_for(ctx, "optimize") as cb:
        before, after = wimcore.optimize(wim, recompress=recompress, compression=compress,
                                         chunk_size=chunk_size, solid=solid, threads=threads,
                                         check_integrity=check, progress=cb)
        _result(as_json, {"ok": True, "path": os.path.abspath(wim), "size_before": before,
                          "size_after": after},
                f"{wim}: {human(before)} -> {human(after)}")


def _register_optional_groups() -> None:
    """Attach command groups of the upper layers (packages, media) when present."""
    from wimcore.cli.media_cmds import media_group, sample_group
    from wimcore.cli.package_cmds import package_group
    from wimcore.cli.servicing_cmds import register as register_servicing

    register_servicing(package_group)
    cli.add_command(package_group)
    cli.add_command(media_group)
    cli.add_command(sample_group)
    cli.add_command(__import__("wimcore.cli.fleet_cmds", fromlist=["x"]).fleet_group)


_register_optional_groups()


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line; click handles usage errors (exit code 2)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="wimcore")


if __name__ == "__main__":  # pragma: no cover
    main()
