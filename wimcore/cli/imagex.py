"""wimlib-imagex's thirteen verbs with its exact syntax, over wimcore's public API.

Each verb takes the operands and options its wimlib-imagex 1.13 man page documents
(``capture SOURCE WIMFILE [IMAGE_NAME [IMAGE_DESC]]``, ``--compress=TYPE[:LEVEL]``,
``@LISTFILE``, ``-`` for a pipe, ...) and prints the text scripts grep. wimcore's own
additions ride along on the same verbs: ``--json``, progress on stderr, atomic outputs,
``--in-place``, ``--no-fsync`` and typed exit codes.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple

from wimcore import errors
from wimcore.cli.errors import NotSupportedError, current
from wimcore.cli.getopt import Opt, Parsed, UsageError, opt, option_help, parse

if TYPE_CHECKING:
    from wimcore.compression import Compression
    from wimcore.wim import Wim

ALL = "all"

# -- options shared by several verbs ----------------------------------------------------------
REF = opt("ref", value=True, multiple=True, metavar="GLOB",
          help="Another part of a split WIM, or a WIM to take data from (globs allowed).")
JSON = opt("json", dest="as_json", help="Print one JSON document instead of text (wimcore).")
CHECK = opt("check", help="Verify the integrity table first; write one into the result.")
NOCHECK = opt("nocheck", "no-check", dest="nocheck", help="Write no integrity table.")
INTEGRITY = opt("include-integrity", help="Write an integrity table (no verification first).")
COMPRESS = opt("compress", value=True, metavar="TYPE[:LEVEL]",
               help="none, xpress (fast), lzx (maximum) or lzms; LEVEL 1..")
CHUNK = opt("chunk-size", value=True, metavar="SIZE", help="Chunk size (32768, 32K, 1M, ...).")
SOLID = opt("solid", help="Solid resources (an ESD; LZMS unless --solid-compress).")
SOLID_COMPRESS = opt("solid-compress", value=True, metavar="TYPE[:LEVEL]",
                     help="Compression of solid resources.")
SOLID_CHUNK = opt("solid-chunk-size", value=True, metavar="SIZE",
                  help="Chunk size of solid resources.")
NO_SOLID_SORT = opt("no-solid-sort", help="Do not sort files in solid resources.")
THREADS = opt("threads", value=True, metavar="NUM", help="Compression threads (0: all cores).")
REBUILD = opt("rebuild", help="Rewrite the whole WIM (wimcore always does unless --in-place).")
PIPABLE = opt("pipable", help="Write a pipable WIM (applicable from a pipe).")
NOT_PIPABLE = opt("not-pipable", help="Write a normal, non-pipable WIM.")
UNSAFE_COMPACT = opt("unsafe-compact", help="Refused: an interrupted compaction corrupts the WIM.")
VERBOSE = opt("verbose", hidden=True)
IN_PLACE = opt("in-place", help="Append to the existing WIM instead of rewriting it (wimcore).")
NO_FSYNC = opt("no-fsync", help="Do not flush the new file to disk before renaming it "
                                "(wimcore; wimlib-imagex never flushes).")
UNIX_DATA = opt("unix-data", help="Store or restore UNIX owners, modes and special files.")
NO_ACLS = opt("no-acls", "noacls", dest="no_acls", help="No security descriptors.")
STRICT_ACLS = opt("strict-acls", help="Fail when a security descriptor cannot be kept.")
RPFIX = opt("rpfix", dest="rpfix", const=True, help="Fix absolute symlink targets.")
NORPFIX = opt("norpfix", dest="rpfix", const=False, help="Keep absolute symlinks as they are.")
WIMBOOT = opt("wimboot", help="WIMBoot: capture/export mark the image; apply/extract refuse "
                              "(Windows only).")
COMPACT = opt("compact", value=True, metavar="FORMAT",
              help="Refused: System Compression needs Windows.")
RECOVER = opt("recover-data", help="Extract corrupted files anyway, with a warning.")
NO_ATTRIBUTES = opt("no-attributes", help="Do not restore Windows file attributes.")
INVALID_NAMES = opt("include-invalid-names",
                    help="Extract files with invalid names under replaced names.")
NTFS = opt("ntfs", dest="ntfs", const=True, hidden=True)
NO_NTFS = opt("no-ntfs", dest="ntfs", const=False, hidden=True)


class Verb:
    """One wimlib-imagex command: its synopsis, its options and the function that runs it."""

    def __init__(self, name: str, synopsis: str, summary: str, options: Sequence[Opt],
                 run: Callable[[Parsed], int]) -> None:
        self.name = name
        self.synopsis = synopsis
        self.summary = summary
        self.options = list(options)
        self.run = run

    def help_text(self) -> str:
        """``wimcore VERB --help``."""
        lines = [f"Usage: wimcore {self.name} {self.synopsis}", "", f"  {self.summary}", "",
                 "Options:", *option_help(self.options),
                 "  -q, --quiet\n        No progress or informational messages.",
                 "  --debug\n        Show a traceback on errors."]
        return "\n".join(lines) + "\n"


VERBS: dict[str, Verb] = {}


def verb(name: str, synopsis: str, summary: str,
         options: Sequence[Opt]) -> Callable[[Callable[[Parsed], int]], Callable[[Parsed], int]]:
    """Register a verb function."""
    def register(func: Callable[[Parsed], int]) -> Callable[[Parsed], int]:
        VERBS[name] = Verb(name, synopsis, summary, options, func)
        return func
    return register


def run(name: str, args: Sequence[str]) -> int:
    """Parse ``args`` for verb ``name`` and run it; errors propagate to the one handler."""
    v = VERBS[name]
    parsed = parse(args, v.options, command=name)
    current.json = parsed.flag("as_json")
    return v.run(parsed)


# -- small helpers ---------------------------------------------------------------------------
def out(line: str = "") -> None:
    """One line of normal output on stdout."""
    sys.stdout.write(line + "\n")


def info_line(line: str) -> None:
    """An informational line wimlib-imagex prints (silenced by --quiet)."""
    if not current.quiet:
        out(line)


def emit_json(data: dict[str, Any] | list[Any]) -> None:
    """Print one JSON document; a dict gets the warnings collected during the run."""
    if isinstance(data, dict):
        data.setdefault("warnings", list(current.warnings))
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress(title: str) -> Iterator[Any]:
    """The progress display (stderr) for a long operation, None with --quiet or --json."""
    from wimcore.cli.progress import reporter

    with reporter(title, quiet=current.quiet or current.json) as callback:
        yield callback


def operands(p: Parsed, command: str, low: int, high: int) -> list[str]:
    """The operands, checked against the synopsis' count."""
    n = len(p.operands)
    if n < low:
        raise UsageError("missing operand", command)
    if n > high:
        raise UsageError(f"unexpected operand {p.operands[high]!r}", command)
    return list(p.operands)


def refuse(option: str, why: str, instead: str = "") -> NotSupportedError:
    """The error for a wimlib-imagex option wimcore does not offer."""
    text = f"{option} is not supported: {why}" + (f"; {instead}" if instead else "")
    return NotSupportedError(text)


def check_refused(p: Parsed) -> None:
    """Options that only wimlib-imagex on Windows has, or that could lose data."""
    if p.flag("unsafe_compact"):
        raise refuse("--unsafe-compact", "an interrupted compaction corrupts the WIM",
                     "wimcore rewrites atomically, or appends with --in-place")
    if p.get("compact") is not None:
        raise refuse("--compact", "System Compression exists only on Windows")
    if p.flag("snapshot"):
        raise refuse("--snapshot", "volume shadow copies exist only on Windows")


def parse_compression(text: str, solid: bool = False) -> tuple[Compression, int | None]:
    """``TYPE[:LEVEL]`` as wimlib-imagex reads it."""
    from wimcore.compression import Compression

    name, _, level_text = text.partition(":")
    level: int | None = None
    if level_text:
        if not level_text.isdigit() or int(level_text) == 0:
            raise UsageError("Compression level must be a positive integer! e.g. "
                             "--compress=lzx:80", None)
        level = int(level_text)
    aliases = {"maximum": "LZX", "lzx": "LZX", "max": "LZX", "fast": "XPRESS",
               "xpress": "XPRESS", "recovery": "LZMS", "lzms": "LZMS", "none": "NONE"}
    key = aliases.get(name.lower())
    if key is None:
        raise UsageError(f"invalid compression type {name!r} (none, xpress, lzx or lzms; "
                         "aliases fast, maximum, recovery)", None)
    if name.lower() == "recovery" and not solid and not current.quiet:
        print("Warning: use of '--compress=recovery' is discouraged because it behaves "
              "differently from DISM; use --solid for an ESD, or --compress=lzms.",
              file=sys.stderr)
    return Compression[key], level


def parse_chunk(text: str) -> int:
    """``--chunk-size``: a positive integer with an optional K, M or G (KiB...) suffix."""
    digits = len(text) - len(text.lstrip("0123456789"))
    value = int(text[:digits]) if digits else 0
    suffix = text[digits:]
    shift = {"": 0, "k": 10, "m": 20, "g": 30}.get(suffix[:1].lower(), -1)
    rest = suffix[1:] if suffix else ""
    if value == 0 or shift < 0 or rest not in ("", "iB"):
        raise UsageError("invalid chunk size: a positive integer with an optional K, M or G "
                         "suffix", None)
    return value << shift


def parse_threads(text: str | None) -> int:
    """``--threads``: a non-negative integer (0: one per core)."""
    if text is None:
        return 0
    if not text.isdigit():
        raise UsageError("Number of threads must be a non-negative integer!", None)
    return int(text)


def apply_levels(*levels: tuple[Compression, int | None]) -> None:
    """Set libwimlib's default compression level for the types given with ``:LEVEL``."""
    from wimcore.compression import set_default_level

    for ctype, level in levels:
        if level is not None:
            set_default_level(ctype, level)


class OutputOptions(NamedTuple):
    """The compression options a writing verb takes (``--compress``, ``--solid-compress``,
    ``--chunk-size``, ``--solid-chunk-size``, ``--threads``), parsed once."""

    compression: Compression | None
    solid_compression: Compression | None
    chunk_size: int | None
    solid_chunk_size: int | None
    threads: int


def output_options(p: Parsed) -> OutputOptions:
    """Parse the output options and set the compression levels given with ``:LEVEL``."""
    levels = []
    ctype = solid_ctype = None
    if p.get("compress") is not None:
        ctype, level = parse_compression(p.get("compress"))
        levels.append((ctype, level))
    if p.get("solid_compress") is not None:
        solid_ctype, solid_level = parse_compression(p.get("solid_compress"), solid=True)
        levels.append((solid_ctype, solid_level))
    apply_levels(*levels)
    return OutputOptions(
        ctype, solid_ctype,
        parse_chunk(p.get("chunk_size")) if p.get("chunk_size") is not None else None,
        parse_chunk(p.get("solid_chunk_size")) if p.get("solid_chunk_size") is not None
        else None,
        parse_threads(p.get("threads")))


def resolve_image(wim: Wim, text: str, wim_name: str, *, allow_all: bool) -> int | str:
    """An IMAGE operand as libwimlib resolves it: ``all``/``*``, an index, or a name."""
    count = wim.info.image_count
    if text.lower() in ("all", "*"):
        if not allow_all:
            raise errors.ImageNotFoundError(18, "Cannot specify all images for this action!",
                                            path=wim_name)
        return ALL
    if text.strip().lstrip("-").isdigit() and text.strip()[:1] != "-":
        index = int(text)
        if 1 <= index <= count:
            return index
    elif wim.name_in_use(text):
        return wim.resolve(text)
    raise errors.ImageNotFoundError(
        18, f'"{text}" is not a valid image in "{wim_name}" (it has {count} image(s))',
        path=wim_name, image=text)


def only_image(wim: Wim, wim_name: str, command: str, what: str = "one (or all)") -> int:
    """The default image when IMAGE is omitted: the only one of a one-image WIM."""
    count = wim.info.image_count
    if count != 1:
        raise UsageError(f'"{wim_name}" contains {count} images; Please select {what}.', command)
    return 1


def open_wim(path: str, *, refs: Sequence[str] = (), check: bool = False,
             writable: bool = False) -> Wim:
    """Open a WIM for a verb, remembering it for the error handler (split-WIM hints)."""
    import wimcore

    current.wims.append(path)
    current.refs.extend(refs)
    return wimcore.open(path, writable=writable, check_integrity=check, refs=refs)


def integrity(p: Parsed) -> bool | None:
    """True to write an integrity table, False to drop it, None to keep what there is."""
    if p.flag("check") or p.flag("include_integrity"):
        return True
    if p.flag("nocheck"):
        return False
    return None


def pipable_choice(p: Parsed) -> bool | None:
    """--pipable / --not-pipable, or None to keep the WIM's own format."""
    if p.flag("pipable"):
        return True
    if p.flag("not_pipable"):
        return False
    return None


def done(data: dict[str, Any], text: str | None, start: float) -> int:
    """Finish a verb: JSON (with timing and warnings) or its informational text."""
    if current.json:
        data.setdefault("ok", True)
        data.setdefault("seconds", round(time.monotonic() - start, 3))
        emit_json(data)
    elif text:
        info_line(text)
    return 0


def is_ntfs_target(path: str) -> bool:
    """A regular file or block device is an NTFS volume to libntfs-3g, as in wimlib-imagex."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return False
    return stat.S_ISBLK(mode) or stat.S_ISREG(mode)


# -- info ------------------------------------------------------------------------------------
@verb("info", "WIMFILE [IMAGE [NEW_NAME [NEW_DESC]]] [OPTION...]",
      "Show a WIM's header and images, or change an image's name, description and properties "
      "or the boot index.",
      [opt("boot", help="Make IMAGE the bootable image (image 0: none)."), CHECK, NOCHECK,
       INTEGRITY, opt("extract-xml", value=True, metavar="FILE",
                      help="Write the raw XML document to FILE."),
       opt("header", help="Show the WIM header fields."),
       opt("lookup-table", "blobs", dest="blobs", help="List every blob."),
       opt("xml", help="Write the raw XML document (UTF-16LE) to standard output."),
       opt("image-property", value=True, multiple=True, metavar="NAME=VALUE",
           help="Set an XML property of IMAGE (repeatable)."), REF, JSON])
def cmd_info(p: Parsed) -> int:
    args = operands(p, "info", 1, 4)
    wim_name = args[0]
    image_text = args[1] if len(args) > 1 else "all"
    props: list[tuple[str, str]] = []
    for item in p.many("image_property"):
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("'--image-property' argument must be in the form NAME=VALUE",
                             "info")
        props.append((key, value))
    if len(args) > 2:
        props.append(("NAME", args[2]))
    if len(args) > 3:
        props.append(("DESCRIPTION", args[3]))
    boot = p.flag("boot")
    write_integrity = integrity(p)
    modifying = bool(props) or boot
    with open_wim(wim_name, refs=p.many("ref"), check=p.flag("check"),
                  writable=modifying or False) as w:
        winfo = w.info
        if image_text == "0" and boot:
            image: int | str = 0
        else:
            image = resolve_image(w, image_text, wim_name, allow_all=True)
        if modifying:
            return _info_modify(p, w, wim_name, image, props, boot, write_integrity)
        if current.json:
            return _info_json(w, wim_name, image)
        short = not (p.flag("header") or p.flag("blobs") or p.flag("xml")
                     or p.get("extract_xml") is not None)
        from wimcore.cli import imagex_text as text

        lines: list[str] = []
        if image == ALL and short:
            lines += text.wim_information(wim_name, winfo)
        if p.flag("header"):
            with open(wim_name, "rb") as fh:
                lines += text.header_lines(fh.read(208))
        if p.flag("blobs"):
            if winfo.total_parts != 1:
                print(f"Warning: Only showing the blobs for part {winfo.part_number} of a "
                      f"{winfo.total_parts}-part WIM.", file=sys.stderr)
            for res in w.resources():
                lines += text.resource_lines(res)
        if lines:
            sys.stdout.write("\n".join(lines) + "\n")
        if p.flag("xml"):
            sys.stdout.flush()
            sys.stdout.buffer.write(w.xml)
            sys.stdout.buffer.flush()
        if p.get("extract_xml") is not None:
            from wimcore.atomic import atomic_output

            with atomic_output(p.get("extract_xml"), overwrite=True) as tmp:
                tmp.write_bytes(w.xml)
        if short:
            indexes = list(range(1, winfo.image_count + 1)) if image == ALL else [int(image)]
            sys.stdout.write("\n".join(text.available_images(w, indexes, image == ALL)) + "\n")
    return 0


def _info_json(w: Wim, wim_name: str, image: int | str) -> int:
    boot = w.info.boot_index
    images = list(w.images) if image == ALL else [w.images[int(image)]]
    rows = []
    for img in images:
        row = img.info.to_dict()
        row["boot"] = img.index == boot
        rows.append(row)
    emit_json({"path": os.path.abspath(wim_name), "header": w.info.to_dict(), "images": rows})
    return 0


def _info_modify(p: Parsed, w: Wim, wim_name: str, image: int | str,
                 props: list[tuple[str, str]], boot: bool, write_integrity: bool | None) -> int:
    start = time.monotonic()
    winfo = w.info
    if boot and winfo.image_count == 0:
        raise UsageError("--boot is meaningless on a WIM with no images", "info")
    if image == ALL:
        if winfo.image_count > 1:
            if boot:
                raise UsageError("Cannot specify the --boot flag without specifying a "
                                 "specific image in a multi-image WIM", "info")
            raise UsageError("Can't change image properties without specifying a specific "
                             "image in a multi-image WIM", "info")
        image = 1
    index = int(image)
    if index == 0 and props:
        raise UsageError("Cannot change image properties when using image 0", "info")
    changed = False
    if boot:
        if index == winfo.boot_index:
            info_line(f"Image {index} is already marked as bootable.")
        else:
            info_line(f"Marking image {index} as bootable.")
            w.boot_index = index
            changed = True
    for key, value in props:
        img = w.images[index]
        if img.get_property(key) == value:
            info_line(f'The {key} property of image {index} already has value "{value}".')
        else:
            info_line(f'Setting the {key} property of image {index} to "{value}".')
            img.set_property(key, value or None)
            changed = True
    if (changed or (write_integrity is True and not winfo.has_integrity_table)
            or (write_integrity is False and winfo.has_integrity_table)):
        w.commit(check_integrity=write_integrity, threads=1, in_place=p.flag("in_place"))
        message = None
    else:
        message = f'The file "{wim_name}" was not modified because nothing needed to be done.'
    return done({"output": os.path.abspath(wim_name), "changed": changed}, message, start)


# -- dir -------------------------------------------------------------------------------------
@verb("dir", "WIMFILE [IMAGE] [OPTION...]",
      "List the files and directories of an image (IMAGE may be 'all').",
      [opt("path", value=True, metavar="PATH", help="List under PATH instead of the root."),
       opt("detailed", help="Show every field of each file."),
       opt("one-file-only", help="Show PATH only, not what is under it."), REF, JSON])
def cmd_dir(p: Parsed) -> int:
    args = operands(p, "dir", 1, 3)
    wim_name = args[0]
    path = p.get("path") or (args[2] if len(args) > 2 else "/")
    from wimcore.cli import imagex_text as text

    with open_wim(wim_name, refs=p.many("ref")) as w:
        if len(args) > 1:
            image = resolve_image(w, args[1], wim_name, allow_all=True)
        else:
            image = only_image(w, wim_name, "dir")
        indexes = list(range(1, w.info.image_count + 1)) if image == ALL else [int(image)]
        recursive = not p.flag("one_file_only")
        detailed = p.flag("detailed")
        collected: list[dict[str, Any]] = []
        for index in indexes:
            entries = w.images[index].walk(path, resources=detailed or current.json,
                                           recursive=recursive)
            if current.json:
                collected.extend(e.to_dict() for e in entries)
                continue
            for e in entries:
                if detailed:
                    sys.stdout.write("\n".join(text.dentry_detailed(e)) + "\n")
                else:
                    sys.stdout.write(e.path + "\n")
        if current.json:
            sys.stdout.write(json.dumps(collected, indent=2) + "\n")
    return 0


# -- apply / extract -------------------------------------------------------------------------
def _extract_options(p: Parsed) -> dict[str, Any]:
    if p.flag("wimboot"):
        raise refuse("--wimboot", "WIMBoot pointer files need Windows' WOF driver",
                     "apply normally")
    check_refused(p)
    invalid = p.flag("include_invalid_names")
    return {"unix_data": p.flag("unix_data"), "no_acls": p.flag("no_acls"),
            "strict_acls": p.flag("strict_acls"), "recover_data": p.flag("recover_data"),
            "no_attributes": p.flag("no_attributes"), "replace_invalid_names": invalid,
            "all_case_conflicts": invalid}


@verb("apply", "WIMFILE [IMAGE] TARGET [OPTION...]",
      "Apply an image (or 'all') to a directory, or to an NTFS volume (block device or "
      "volume image file). WIMFILE '-' reads a pipable WIM from standard input.",
      [CHECK, VERBOSE, REF, UNIX_DATA, NO_ACLS, STRICT_ACLS, NO_ATTRIBUTES, RPFIX, NORPFIX,
       INVALID_NAMES, WIMBOOT, COMPACT, RECOVER, NTFS, NO_NTFS, JSON])
def cmd_apply(p: Parsed) -> int:
    args = operands(p, "apply", 2, 3)
    start = time.monotonic()
    opts = _extract_options(p)
    wim_name, target = args[0], args[-1]
    if wim_name == "-":
        import wimcore

        if p.many("ref"):
            raise UsageError("Can't specify --ref when applying from stdin!", "apply")
        pipe_opts = {k: v for k, v in opts.items()
                     if k not in ("replace_invalid_names", "all_case_conflicts")}
        with progress("apply") as cb:
            wimcore.extract_from_pipe(sys.stdin.fileno(), args[1] if len(args) == 3 else None,
                                      target, progress=cb, rpfix=p.get("rpfix"), **pipe_opts)
        return done({"target": os.path.abspath(target)}, "Done applying WIM image.", start)
    with open_wim(wim_name, refs=p.many("ref"), check=p.flag("check")) as w:
        if len(args) == 3:
            image = resolve_image(w, args[1], wim_name, allow_all=True)
        else:
            image = only_image(w, wim_name, "apply")
        ntfs = p.get("ntfs")
        use_ntfs = is_ntfs_target(target) if ntfs is None else bool(ntfs)
        with progress("apply") as cb:
            if image == ALL:
                if use_ntfs:
                    raise refuse("applying all images to an NTFS volume",
                                 "one volume holds one image", "choose an image")
                w.apply_all(target, progress=cb, rpfix=p.get("rpfix"), **opts)
            else:
                w.images[int(image)].apply(target, ntfs=use_ntfs, progress=cb,
                                           rpfix=p.get("rpfix"), **opts)
    return done({"target": os.path.abspath(target), "image": image},
                "Done applying WIM image.", start)


@verb("extract", "WIMFILE IMAGE [(PATH | @LISTFILE)...] [OPTION...]",
      "Extract files or directory trees of an image (wildcards on by default) into "
      "--dest-dir (default: the current directory), or to standard output.",
      [CHECK, VERBOSE, REF, UNIX_DATA, NO_ACLS, STRICT_ACLS, NO_ATTRIBUTES,
       opt("dest-dir", value=True, metavar="DIR", help="Extract into DIR."),
       opt("to-stdout", help="Write the files' data to standard output."),
       INVALID_NAMES, opt("no-globs", "no-wildcards", dest="no_globs",
                          help="Match paths literally."),
       opt("nullglob", help="A pattern that matches nothing is a warning, not an error."),
       opt("preserve-dir-structure", help="Keep the image's folders above each path."),
       opt("no-preserve-dir-structure", hidden=True), opt("glob", hidden=True),
       WIMBOOT, COMPACT, RECOVER, JSON])
def cmd_extract(p: Parsed) -> int:
    args = operands(p, "extract", 2, 1 << 30)
    start = time.monotonic()
    opts = _extract_options(p)
    if p.flag("no_globs") and p.flag("nullglob"):
        raise UsageError("Can't combine --no-globs and --nullglob!", "extract")
    wim_name, image_text, paths = args[0], args[1], args[2:]
    dest = p.get("dest_dir") or "."
    to_stdout = p.flag("to_stdout")
    glob = not p.flag("no_globs")
    strict = not p.flag("nullglob")
    preserve = p.flag("preserve_dir_structure")
    with open_wim(wim_name, refs=p.many("ref"), check=p.flag("check")) as w:
        index = int(resolve_image(w, image_text, wim_name, allow_all=False))
        image = w.images[index]
        if not paths:
            paths, glob = ["/"], False
        if to_stdout:
            sys.stdout.flush()
        with progress("extract") as cb:
            cb = None if to_stdout else cb
            i = 0
            while i < len(paths):
                if paths[i].startswith("@"):
                    listed = paths[i][1:]
                    if listed == "-" and not current.quiet:
                        print("Reading pathlist file from standard input...", file=sys.stderr)
                    image.extract_list(None if listed == "-" else listed, dest, progress=cb,
                                       glob=glob, strict_glob=strict, to_stdout=to_stdout,
                                       **opts)
                    i += 1
                    continue
                j = i
                while j < len(paths) and not paths[j].startswith("@"):
                    j += 1
                image.extract(paths[i:j], dest, progress=cb, glob=glob, strict_glob=strict,
                              preserve_dir_structure=preserve, to_stdout=to_stdout, **opts)
                i = j
    if to_stdout:
        return 0
    return done({"dest": os.path.abspath(dest), "paths": paths},
                "Done extracting files.", start)


# -- capture / append ------------------------------------------------------------------------
CAPTURE_OPTIONS = [
    opt("boot", help="Mark the new image bootable."), CHECK, NOCHECK, INTEGRITY, COMPRESS, CHUNK,
    SOLID, SOLID_COMPRESS, SOLID_CHUNK, NO_SOLID_SORT,
    opt("config", value=True, metavar="FILE", help="Capture configuration (exclusions)."),
    opt("dereference", help="Follow symbolic links."),
    opt("flags", value=True, metavar="EDITIONID", help="The image's FLAGS property."),
    opt("image-property", value=True, multiple=True, metavar="NAME=VALUE",
        help="Set an XML property of the new image (repeatable)."),
    VERBOSE, THREADS, REBUILD, UNIX_DATA,
    opt("source-list", help="SOURCE is a file listing 'SOURCE [TARGET]' lines ('-': stdin)."),
    NO_ACLS, STRICT_ACLS, RPFIX, NORPFIX, PIPABLE, NOT_PIPABLE,
    opt("update-of", value=True, metavar="[WIMFILE:]IMAGE",
        help="Reuse the hashes of unchanged files from this image."),
    opt("delta-from", value=True, multiple=True, metavar="WIMFILE",
        help="Leave out data already in WIMFILE (a delta WIM)."),
    WIMBOOT, UNSAFE_COMPACT, opt("snapshot", help="Refused: needs Windows (VSS)."),
    opt("create", help="append: create WIMFILE when it does not exist."),
    opt("description", value=True, metavar="TEXT", help="The image description (wimcore)."),
    IN_PLACE, NO_FSYNC, NTFS, NO_NTFS, JSON,
]


def _basename(source: str) -> str:
    trimmed = source.rstrip("/\\") or source
    for sep in ("/", "\\"):
        trimmed = trimmed.rsplit(sep, 1)[-1]
    return trimmed


def read_source_list(source: str) -> list[tuple[str, str]]:
    """A ``--source-list`` file: ``SOURCE [TARGET]`` per line, quotes allowed, # ; comments."""
    from wimcore.update import decode_command_text, split_words

    data = sys.stdin.buffer.read() if source == "-" else _read_file(source)
    pairs: list[tuple[str, str]] = []
    for lineno, raw in enumerate(decode_command_text(data).splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        try:
            words = split_words(line)
        except ValueError as exc:
            raise errors.InvalidParameterError(24, f"source list line {lineno}: {exc}") from None
        if len(words) > 2:
            raise errors.InvalidParameterError(
                24, f"source list line {lineno}: expected 'SOURCE [TARGET]'")
        pairs.append((words[0], words[1] if len(words) > 1 else words[0]))
    return pairs


def _read_file(path: str) -> bytes:
    if not os.path.exists(path):
        raise errors.MissingFileError(47, "no such file", path=path)
    with open(path, "rb") as fh:
        return fh.read()


def _capture(p: Parsed, command: str) -> int:
    import wimcore
    from wimcore.compression import Compression

    args = operands(p, command, 2, 4)
    start = time.monotonic()
    check_refused(p)
    source, wim_name = args[0], args[1]
    appending = command == "append"
    if p.flag("create") and not appending:
        raise UsageError("'--create' is only valid for 'append', not 'capture'", command)
    to_stdout = wim_name == "-"
    if to_stdout and appending and not p.flag("create"):
        raise UsageError("Using standard output for append does not make sense.", command)
    if appending and (to_stdout or (p.flag("create") and not os.path.exists(wim_name))):
        appending = False
    if appending and not os.path.exists(wim_name):
        raise errors.MissingFileError(47, "no such WIM file to append to", path=wim_name)
    solid = p.flag("solid")
    wimboot = p.flag("wimboot")
    given, solid_ctype, chunk, solid_chunk, threads = output_options(p)
    if given is not None:  # Compression.NONE is 0: test for None, not truthiness
        ctype = given
    else:
        ctype = Compression.XPRESS if wimboot else Compression.LZMS if solid else Compression.LZX
    props: list[tuple[str, str]] = []
    if p.get("flags") is not None:
        props.append(("FLAGS", p.get("flags")))
    for item in p.many("image_property"):
        key, sep, value = item.partition("=")
        if not sep:
            raise UsageError("'--image-property' argument must be in the form NAME=VALUE",
                             command)
        props.append((key, value))
    description = args[3] if len(args) > 3 else p.get("description")
    name_given = len(args) > 2
    name = args[2] if name_given else _basename(source)
    if p.flag("source_list"):
        source_arg: Any = read_source_list(source)
        use_ntfs = False
    else:
        source_arg = source
        ntfs = p.get("ntfs")
        use_ntfs = is_ntfs_target(source) if ntfs is None else bool(ntfs)
    template = p.get("update_of")
    bases = p.many("delta_from")
    write_integrity = integrity(p)
    with ExitStack() as stack:
        if appending:
            w = stack.enter_context(open_wim(wim_name, check=p.flag("check"), writable=True))
        else:
            w = stack.enter_context(wimcore.create(ctype))
        if chunk is not None:
            w.set_output(chunk_size=chunk)
        elif wimboot and (w.info.compression if appending else ctype) == Compression.XPRESS:
            w.set_output(chunk_size=4096)
        if solid_ctype is not None or solid_chunk is not None:
            w.set_output(solid_compression=solid_ctype, solid_chunk_size=solid_chunk)
        base_wims = [stack.enter_context(open_wim(b, check=p.flag("check"))) for b in bases]
        if base_wims:
            w.reference_wims(base_wims)
            info_line(f'Capturing delta WIM based on "{bases[0]}"' if len(bases) == 1
                      else f"Capturing delta WIM based on {len(bases)} WIMs")
        template_image = _template(p, stack, template, w if appending else None, wim_name,
                                   bases, base_wims, appending, command)
        if appending and not name_given:
            base, n = name, 1
            while w.name_in_use(name):
                name = f"{base} ({n})"
                n += 1
        if use_ntfs:
            info_line(f'Capturing WIM image from NTFS filesystem on "{source}"')
        with progress(command) as cb:
            image = w.add_image(source_arg, name, description=description,
                                config=p.get("config"), ntfs=use_ntfs,
                                unix_data=p.flag("unix_data"), no_acls=p.flag("no_acls"),
                                strict_acls=p.flag("strict_acls"),
                                dereference=p.flag("dereference"), boot=p.flag("boot"),
                                wimboot=wimboot, rpfix=p.get("rpfix"),
                                default_exclusions=True, progress=cb)
            for key, value in props:
                image.set_property(key, value or None)
            if template_image is not None:
                template_image.use_as_template_for(image)
            fsync = not p.flag("no_fsync")
            if appending:
                w.commit(progress=cb, check_integrity=write_integrity, threads=threads,
                         in_place=p.flag("in_place"), fsync=fsync, pipable=pipable_choice(p),
                         solid=True if solid else None, no_solid_sort=p.flag("no_solid_sort"))
            elif to_stdout:
                sys.stdout.flush()
                w.write_to_fd(sys.stdout.fileno(), pipable=True, threads=threads, solid=solid,
                              check_integrity=bool(write_integrity),
                              no_solid_sort=p.flag("no_solid_sort"),
                              skip_external_wims=bool(bases), progress=cb)
            else:
                w.write(wim_name, overwrite=True, solid=solid, threads=threads,
                        check_integrity=bool(write_integrity), pipable=bool(p.flag("pipable")),
                        fsync=fsync, no_solid_sort=p.flag("no_solid_sort"),
                        skip_external_wims=bool(bases), progress=cb)
    if to_stdout:
        return 0
    return done({"output": os.path.abspath(wim_name), "name": name,
                 "size": os.path.getsize(wim_name)}, None, start)


def _template(p: Parsed, stack: ExitStack, spec: str | None, appending_wim: Wim | None,
              wim_name: str, bases: list[str], base_wims: list[Wim], appending: bool,
              command: str) -> Any:
    if spec is None:
        return None
    path, colon, image_text = spec.rpartition(":")
    if not colon:
        if len(bases) == 1:
            path = bases[0]
        elif appending:
            path = wim_name
        else:
            raise UsageError("For capture of non-delta WIM, '--update-of' must specify "
                             "WIMFILE:IMAGE!", command)
    if appending_wim is not None and path == wim_name:
        source = appending_wim
    elif path in bases:
        source = base_wims[bases.index(path)]
    else:
        source = stack.enter_context(open_wim(path, check=p.flag("check")))
    count = source.info.image_count
    back = image_text[1:]
    if image_text.startswith("-") and back.isdigit() and 1 <= int(back) <= count:
        index = count - int(back) + 1
    else:
        index = int(resolve_image(source, image_text, path, allow_all=False))
    info_line(f'Using image {index} from "{path}" as template')
    return source.images[index]


@verb("capture", "SOURCE WIMFILE [IMAGE_NAME [IMAGE_DESC]] [OPTION...]",
      "Capture a directory (or NTFS volume, or --source-list) into a new WIM; an existing "
      "WIMFILE is replaced atomically; '-' writes a pipable WIM to standard output.",
      CAPTURE_OPTIONS)
def cmd_capture(p: Parsed) -> int:
    return _capture(p, "capture")


@verb("append", "SOURCE WIMFILE [IMAGE_NAME [IMAGE_DESC]] [OPTION...]",
      "Capture a directory (or NTFS volume) as a new image of an existing WIM.",
      CAPTURE_OPTIONS)
def cmd_append(p: Parsed) -> int:
    return _capture(p, "append")


# -- delete ----------------------------------------------------------------------------------
@verb("delete", "WIMFILE IMAGE [OPTION...]",
      "Delete an image (or 'all'); the WIM is rebuilt so the space is reclaimed.",
      [CHECK, INTEGRITY, opt("soft", help="Leave the data in place (append-style, no rebuild)."),
       UNSAFE_COMPACT, IN_PLACE, NO_FSYNC, JSON])
def cmd_delete(p: Parsed) -> int:
    args = operands(p, "delete", 2, 2)
    start = time.monotonic()
    check_refused(p)
    wim_name = args[0]
    with open_wim(wim_name, check=p.flag("check"), writable=True) as w:
        image = resolve_image(w, args[1], wim_name, allow_all=True)
        indexes = (list(range(w.info.image_count, 0, -1)) if image == ALL else [int(image)])
        for index in indexes:
            w.delete_image(index)
        soft = p.flag("soft")
        with progress("delete") as cb:
            w.commit(progress=cb, check_integrity=True if integrity(p) else None,
                     in_place=soft or p.flag("in_place"), soft_delete=soft,
                     fsync=not p.flag("no_fsync"))
        remaining = w.info.image_count
    return done({"output": os.path.abspath(wim_name), "images": remaining}, None, start)


# -- export ----------------------------------------------------------------------------------
@verb("export", "SRC_WIMFILE SRC_IMAGE DEST_WIMFILE [DEST_IMAGE_NAME [DEST_IMAGE_DESC]] "
                "[OPTION...]",
      "Export an image (or 'all') into a new WIM, or add it to an existing one; '-' writes a "
      "pipable WIM to standard output.",
      [opt("boot", help="Make the exported image bootable."), CHECK, NOCHECK, INTEGRITY,
       COMPRESS, opt("recompress", help="Recompress all data."), CHUNK, SOLID, SOLID_COMPRESS,
       SOLID_CHUNK, NO_SOLID_SORT, REF, THREADS, REBUILD, PIPABLE, NOT_PIPABLE, WIMBOOT,
       UNSAFE_COMPACT, opt("name", value=True, metavar="NAME", help="Same as DEST_IMAGE_NAME."),
       opt("description", value=True, metavar="TEXT", help="Same as DEST_IMAGE_DESC."),
       IN_PLACE, NO_FSYNC, JSON])
def cmd_export(p: Parsed) -> int:
    import wimcore
    from wimcore.compression import Compression

    args = operands(p, "export", 3, 5)
    start = time.monotonic()
    check_refused(p)
    src_name, image_text, dest_name = args[0], args[1], args[2]
    new_name = args[3] if len(args) > 3 else p.get("name")
    new_desc = args[4] if len(args) > 4 else p.get("description")
    solid = p.flag("solid")
    wimboot = p.flag("wimboot")
    ctype, solid_ctype, chunk, solid_chunk, threads = output_options(p)
    write_integrity = integrity(p)
    to_stdout = dest_name == "-"
    fsync = not p.flag("no_fsync")
    with ExitStack() as stack:
        src = stack.enter_context(open_wim(src_name, refs=p.many("ref"), check=p.flag("check")))
        sinfo = src.info
        image = resolve_image(src, image_text, src_name, allow_all=True)
        if p.flag("boot") and image == ALL and sinfo.boot_index == 0:
            raise errors.InvalidParameterError(
                24, "--boot specified for all-images export, but source WIM has no bootable "
                    "image")
        existing = not to_stdout and os.path.exists(dest_name)
        if existing:
            if not os.path.isfile(dest_name):
                raise errors.InvalidParameterError(
                    24, f'"{dest_name}" is not a regular file or block device')
            dst = stack.enter_context(open_wim(dest_name, check=p.flag("check"), writable=True))
            if ctype is not None and ctype != dst.info.compression:
                raise errors.InvalidParameterError(
                    16, "Cannot specify a compression type that is not the same as that used "
                        "in the destination WIM")
        else:
            out_type = ctype if ctype is not None else (
                Compression.LZMS if solid else Compression.XPRESS if wimboot
                else sinfo.compression)
            dst = stack.enter_context(wimcore.create(out_type))
            if wimboot and out_type == Compression.XPRESS:
                dst.set_output(chunk_size=4096)
            elif out_type == sinfo.compression and chunk is None:
                dst.set_output(chunk_size=sinfo.chunk_size)
        if chunk is not None:
            dst.set_output(chunk_size=chunk)
        if solid_ctype is not None or solid_chunk is not None:
            dst.set_output(solid_compression=solid_ctype, solid_chunk_size=solid_chunk)
        dst.import_image(src, image if image == ALL else int(image), name=new_name,
                         description=new_desc, boot=p.flag("boot"), wimboot=wimboot)
        with progress("export") as cb:
            if existing:
                dst.commit(progress=cb, check_integrity=write_integrity,
                           recompress=p.flag("recompress"), threads=threads,
                           in_place=p.flag("in_place"), fsync=fsync, pipable=pipable_choice(p),
                           solid=True if solid else None, no_solid_sort=p.flag("no_solid_sort"))
            elif to_stdout:
                sys.stdout.flush()
                dst.write_to_fd(sys.stdout.fileno(), pipable=True, threads=threads, solid=solid,
                                check_integrity=bool(write_integrity),
                                no_solid_sort=p.flag("no_solid_sort"), progress=cb)
            else:
                dst.write(dest_name, solid=solid, recompress=p.flag("recompress"),
                          threads=threads, check_integrity=bool(write_integrity),
                          pipable=bool(p.flag("pipable")), fsync=fsync,
                          no_solid_sort=p.flag("no_solid_sort"), progress=cb)
    if to_stdout:
        return 0
    return done({"output": os.path.abspath(dest_name), "size": os.path.getsize(dest_name)},
                None, start)


# -- join / split / optimize / verify ----------------------------------------------------------
@verb("join", "OUT_WIMFILE SPLIT_WIM_PART... [OPTION...]",
      "Join the parts of a split WIM into one WIM (OUT_WIMFILE is replaced atomically).",
      [CHECK, INTEGRITY, JSON])
def cmd_join(p: Parsed) -> int:
    import wimcore

    args = operands(p, "join", 2, 1 << 30)
    start = time.monotonic()
    out_name, parts = args[0], args[1:]
    current.wims.extend(parts)
    with progress("join") as cb:
        wimcore.join(parts, out_name, overwrite=True,
                     check_integrity=bool(integrity(p)), progress=cb)
    return done({"output": os.path.abspath(out_name), "size": os.path.getsize(out_name)},
                None, start)


@verb("split", "WIMFILE SPLIT_WIM_PART_1 PART_SIZE_MB [OPTION...]",
      "Split a WIM into parts of at most PART_SIZE_MB MiB (PART.swm, PART2.swm, ...).",
      [CHECK, INTEGRITY, JSON])
def cmd_split(p: Parsed) -> int:
    args = operands(p, "split", 3, 3)
    start = time.monotonic()
    wim_name, first, size_text = args
    try:
        size = int(float(size_text) * (1 << 20))
    except ValueError:
        raise UsageError(f'Invalid part size "{size_text}": the part size must be an integer '
                         "or floating-point number of megabytes.", "split") from None
    with open_wim(wim_name, check=p.flag("check")) as w, progress("split") as cb:
        parts = w.split(first, size, overwrite=True, check_integrity=bool(integrity(p)),
                        progress=cb)
    return done({"parts": [str(x) for x in parts]}, f'Finished splitting "{wim_name}"', start)


@verb("optimize", "WIMFILE [OPTION...]",
      "Rebuild a WIM to drop unused data, optionally recompressing it; atomic.",
      [CHECK, NOCHECK, INTEGRITY, COMPRESS, opt("recompress", help="Recompress all data."),
       CHUNK, SOLID, SOLID_COMPRESS, SOLID_CHUNK, NO_SOLID_SORT, THREADS, PIPABLE, NOT_PIPABLE,
       UNSAFE_COMPACT, NO_FSYNC, JSON])
def cmd_optimize(p: Parsed) -> int:
    args = operands(p, "optimize", 1, 1)
    start = time.monotonic()
    check_refused(p)
    wim_name = args[0]
    ctype, solid_ctype, chunk, solid_chunk, threads = output_options(p)
    before = os.path.getsize(wim_name) if os.path.exists(wim_name) else -1
    with open_wim(wim_name, check=p.flag("check"), writable=True) as w:
        w.set_output(compression=ctype, chunk_size=chunk, solid_compression=solid_ctype,
                     solid_chunk_size=solid_chunk)
        if not current.json:
            out(f'"{wim_name}" original size: {before >> 10} KiB')
        with progress("optimize") as cb:
            w.commit(progress=cb, check_integrity=integrity(p),
                     recompress=ctype is not None or p.flag("recompress") or p.flag("solid"),
                     threads=threads, fsync=not p.flag("no_fsync"), pipable=pipable_choice(p),
                     solid=True if p.flag("solid") else None,
                     no_solid_sort=p.flag("no_solid_sort"))
    after = os.path.getsize(wim_name)
    if not current.json:
        out(f'"{wim_name}" optimized size: {after >> 10} KiB')
        out(f"Space saved: {(before - after) >> 10} KiB")
    return done({"path": os.path.abspath(wim_name), "size_before": before,
                 "size_after": after}, None, start)


@verb("verify", "WIMFILE [OPTION...]",
      "Check the integrity table, every image's metadata and every blob's SHA-1.",
      [REF, opt("nocheck", help="Do not check the integrity table."), JSON])
def cmd_verify(p: Parsed) -> int:
    import wimcore

    args = operands(p, "verify", 1, 1)
    start = time.monotonic()
    wim_name = args[0]
    current.wims.append(wim_name)
    current.refs.extend(p.many("ref"))
    with progress("verify") as cb:
        wimcore.verify(wim_name, refs=p.many("ref"), check_integrity=not p.flag("nocheck"),
                       progress=cb)
    return done({"path": os.path.abspath(wim_name)},
                f'"{wim_name}" was successfully verified.', start)


# -- update ----------------------------------------------------------------------------------
@verb("update", "WIMFILE [IMAGE] [OPTION...] [< CMDFILE]",
      "Add, delete and rename files in an image: commands from standard input (UTF-8 or "
      "UTF-16LE), --command, or wimcore's --commands/--add/--delete/--rename.",
      [THREADS, CHECK, INTEGRITY, REBUILD,
       opt("command", value=True, metavar="STRING", help="One update command."),
       opt("wimboot-config", value=True, metavar="FILE",
           help="Add FILE as /Windows/System32/WimBootCompress.ini."),
       opt("force", help="delete: a missing path is not an error."),
       opt("recursive", help="delete: directories too."),
       opt("config", value=True, metavar="FILE", help="add: capture configuration."),
       VERBOSE, opt("dereference", help="add: follow symbolic links."), UNIX_DATA, NO_ACLS,
       STRICT_ACLS, opt("no-replace", help="add: never replace existing files."),
       UNSAFE_COMPACT,
       opt("commands", value=True, metavar="FILE", help="Read the commands from FILE (wimcore)."),
       opt("add", dest="adds", value=True, multiple=True, metavar="SRC:DEST",
           help="Add a host file or folder at DEST (wimcore)."),
       opt("delete", dest="deletes", value=True, multiple=True, metavar="PATH",
           help="Delete PATH (wimcore)."),
       opt("rename", dest="renames", value=True, multiple=True, metavar="OLD:NEW",
           help="Rename a path (wimcore)."), IN_PLACE, NO_FSYNC, JSON])
def cmd_update(p: Parsed) -> int:
    import wimcore
    from wimcore.update import AddCommand, DeleteCommand, RenameCommand

    args = operands(p, "update", 1, 2)
    start = time.monotonic()
    check_refused(p)
    wim_name = args[0]
    if p.get("command") is not None:
        text: str | bytes = p.get("command")
    elif p.get("commands") is not None:
        text = _read_file(p.get("commands"))
    elif p.many("adds") or p.many("deletes") or p.many("renames") or p.get("wimboot_config"):
        text = ""
    else:
        if sys.stdin.isatty() and not current.quiet:
            print("Reading update commands from standard input...", file=sys.stderr)
        text = sys.stdin.buffer.read()
    commands: list[Any] = list(wimcore.parse_commands(text))
    commands += [DeleteCommand(x) for x in p.many("deletes")]
    commands += [RenameCommand(*_pair(x, "OLD:NEW", first=True)) for x in p.many("renames")]
    commands += [AddCommand(*_pair(x, "SRC:DEST", first=False)) for x in p.many("adds")]
    if p.get("wimboot_config"):
        commands.append(AddCommand(p.get("wimboot_config"),
                                   "/Windows/System32/WimBootCompress.ini"))
    from dataclasses import replace

    fixed: list[Any] = []
    for c in commands:
        if isinstance(c, AddCommand):
            c = replace(c, config=c.config or p.get("config"),
                        default_exclusions=p.get("config") is None,
                        dereference=c.dereference or p.flag("dereference"),
                        unix_data=c.unix_data or p.flag("unix_data"),
                        no_acls=c.no_acls or p.flag("no_acls"),
                        strict_acls=c.strict_acls or p.flag("strict_acls"),
                        no_replace=c.no_replace or p.flag("no_replace"))
        elif isinstance(c, DeleteCommand):
            c = replace(c, force=c.force or p.flag("force"),
                        recursive=c.recursive or p.flag("recursive"))
        fixed.append(c)
    threads = parse_threads(p.get("threads"))
    with open_wim(wim_name, check=p.flag("check"), writable=True) as w:
        if len(args) > 1:
            index = int(resolve_image(w, args[1], wim_name, allow_all=False))
        else:
            index = only_image(w, wim_name, "update", "one")
        with progress("update") as cb:
            w.images[index].update(fixed, progress=cb)
            for c in fixed:
                if isinstance(c, DeleteCommand):
                    info_line(f'Deleted WIM path "{c.path}"')
                elif isinstance(c, RenameCommand):
                    info_line(f'Renamed WIM path "{c.source}" => "{c.target}"')
            w.commit(progress=cb, check_integrity=True if integrity(p) else None,
                     threads=threads, in_place=p.flag("in_place"), fsync=not p.flag("no_fsync"))
    return done({"output": os.path.abspath(wim_name), "commands": len(fixed)}, None, start)


def _pair(value: str, what: str, *, first: bool) -> tuple[str, str]:
    if ":" not in value:
        raise UsageError(f"{value!r}: expected {what}", "update")
    left, _, right = value.partition(":") if first else value.rpartition(":")
    return left, right


# -- mounting: not what wimcore is for ---------------------------------------------------------
def _no_mount(p: Parsed) -> int:
    raise NotSupportedError(
        "not supported: wimcore works without mounting; use update (add, delete, rename) "
        "or extract")


for _name in ("mount", "mountrw", "unmount"):
    VERBS[_name] = Verb(_name, "...", "Not supported: wimcore works without mounting.",
                        [opt("check"), opt("debug", hidden=True), opt("commit"),
                         opt("force"), opt("lazy"), opt("new-image"), opt("rebuild"),
                         opt("allow-other"), opt("unix-data"),
                         opt("streams-interface", value=True), opt("staging-dir", value=True),
                         REF], _no_mount)
