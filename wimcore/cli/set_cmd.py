"""``wimcore set``: change an image's name, description, flags, XML properties or boot index."""

from __future__ import annotations

from collections.abc import Sequence

import click

from wimcore.cli.common import emit_json, guarded, image_arg


@click.command("set")
@click.argument("wim", type=click.Path(dir_okay=False))
@click.argument("image")
@click.option("--name", default=None, help="New image name.")
@click.option("--description", default=None, help="New description.")
@click.option("--flags", default=None, help="New edition flags (e.g. Professional).")
@click.option("--property", "properties", multiple=True, metavar="KEY=VALUE",
              help="Set an XML property, e.g. WINDOWS/VERSION/SPBUILD=3803 (repeatable).")
@click.option("--boot", is_flag=True, help="Make this image the boot image.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (schema in README).")
@click.pass_context
def set_cmd(ctx: click.Context, wim: str, image: str, name: str | None,
            description: str | None, flags: str | None, properties: Sequence[str], boot: bool,
            as_json: bool) -> None:
    """Change an image's name, description, flags, XML properties or make it the boot image."""
    import wimcore

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
            row = img.info.to_dict()
            row["boot"] = img.index == w.info.boot_index
        if as_json:
            emit_json({"ok": True, "image": row})
        else:
            click.echo(f"Updated image {image} of {wim}")
