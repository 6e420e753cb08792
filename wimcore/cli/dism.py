"""DISM's image-management syntax, so build scripts written for Windows run on Linux.

``wimcore dism /Get-ImageInfo /ImageFile:install.wim /Index:1`` and friends: options are
``/Name:value`` (or ``/Name:"value"``), matched without regard to case, in any order.
Each verb maps onto the same wimcore call the wimlib-imagex verbs use; the output
follows DISM's layout (``Details for image : ...``, ``Index : 1``, sizes with
thousands separators). Options DISM has and wimcore does not are refused with the
nearest wimcore command named.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from wimcore import errors
from wimcore.cli.errors import NotSupportedError, current
from wimcore.cli.getopt import UsageError

HELP = """\
Usage: wimcore dism /VERB [/Option:value ...]   (options are case-insensitive)

  /Get-WimInfo /WimFile:F [/Index:N | /Name:X]
  /Get-ImageInfo /ImageFile:F [/Index:N | /Name:X]
  /Export-Image /SourceImageFile:F /SourceIndex:N | /SourceName:X /DestinationImageFile:D
                [/DestinationName:X] [/Compress:max|fast|none|recovery] [/Bootable]
                [/CheckIntegrity] [/SWMFile:PATTERN]
  /Apply-Image /ImageFile:F /Index:N | /Name:X /ApplyDir:DIR [/CheckIntegrity] [/Verify]
               [/NoRpFix] [/SWMFile:PATTERN]
  /Capture-Image /ImageFile:F /CaptureDir:DIR /Name:X [/Description:T]
                 [/Compress:max|fast|none|recovery] [/Bootable] [/ConfigFile:F]
                 [/CheckIntegrity] [/Verify] [/NoRpFix]
  /Append-Image /ImageFile:F /CaptureDir:DIR /Name:X [/Description:T] [/Bootable]
                [/ConfigFile:F] [/CheckIntegrity] [/Verify] [/NoRpFix]
  /Delete-Image /ImageFile:F /Index:N | /Name:X [/CheckIntegrity]
  /Split-Image /ImageFile:F /SWMFile:F.swm /FileSize:MB [/CheckIntegrity]
  /Get-Packages /ImageFile:F /Index:N | /Name:X
  /Add-Package /ImageFile:F /Index:N | /Name:X /PackagePath:P [/PackagePath:P ...]
               (servicing backend "auto"; "installed" only when the image's records say so)

  Every verb also takes /English, /NoRestart (no effect: wimcore prints English and never
  restarts), /Quiet (errors only), /LogPath:FILE (appends a log of the run),
  /LogLevel:1-4 (1 errors, 2 and warnings, 3 and information [default], 4 and debug) and
  /ScratchDir:DIR (an existing folder for temporary files).

  Not offered (wimcore works without mounting): /Mount-Image, /Unmount-Image, /Commit-Image,
  /Remount-Image, /Cleanup-Mountpoints, /Image:, /Online; use wimcore update, extract, package.
"""

_NEAREST = {
    "mount-image": "wimcore update (add/delete/rename files without mounting) or wimcore extract",
    "mount-wim": "wimcore update or wimcore extract",
    "unmount-image": "wimcore update (changes are committed by each command)",
    "unmount-wim": "wimcore update",
    "commit-image": "wimcore update",
    "remount-image": "wimcore update",
    "cleanup-mountpoints": "nothing: wimcore never mounts",
    "cleanup-wim": "nothing: wimcore never mounts",
    "get-mountedimageinfo": "wimcore info",
    "get-mountedwiminfo": "wimcore info",
    "image": "/ImageFile: with /Index: (wimcore works on WIM files, not mounted folders)",
    "online": "nothing: wimcore services offline images only",
    "remove-package": "wimcore package plan (removal is not offered)",
    "enable-feature": "wimcore package stage",
    "disable-feature": "nothing yet",
    "add-driver": "wimcore update --add DRIVERS:/Windows/INF (copies files; no driver store)",
    "cleanup-image": "wimcore optimize",
    "optimize-image": "wimcore optimize",
    "append-image/wimboot": "wimcore append",
    "wimboot": "wimcore capture --wimboot",
    "compact": "nothing: System Compression needs Windows",
    "ea": "nothing: extended attributes need Windows",
    "confirmtrustedfile": "nothing: needs Windows",
    "ffu": "nothing: FFU images are not WIM files",
    "sysdrivedir": "nothing: it goes with /Image:, and wimcore works on WIM files",
    "windir": "nothing: it goes with /Image:, and wimcore works on WIM files",
}

# DISM's options for every verb: /English and /NoRestart change nothing here (wimcore
# prints English and never restarts); /Quiet is -q; /LogPath:, /LogLevel: and /ScratchDir:
# do what DISM does with them (a log file; what it holds; where temporary files go).
GLOBAL_OPTIONS = {"english", "norestart", "quiet", "logpath", "loglevel", "scratchdir"}
_VALUELESS = {"bootable", "checkintegrity", "verify", "norpfix", "english", "norestart",
              "quiet"}

VERBS = ("get-wiminfo", "get-imageinfo", "export-image", "apply-image", "capture-image",
         "append-image", "delete-image", "split-image", "get-packages", "add-package")


class Args:
    """A parsed DISM command line: the verb and the /Name:value options (lower-case names)."""

    def __init__(self, verb: str, options: dict[str, list[str]]) -> None:
        self.verb = verb
        self.options = options

    def one(self, *names: str, required: bool = False) -> str | None:
        """The value of the first of ``names`` given (the last one when repeated)."""
        for name in names:
            if name in self.options:
                return self.options[name][-1]
        if required:
            raise UsageError(f"/{names[0].title()}: is required for /{self.verb.title()}",
                             "dism")
        return None

    def many(self, name: str) -> list[str]:
        """Every value of a repeatable option."""
        return list(self.options.get(name, []))

    def flag(self, name: str) -> bool:
        """True when a valueless option was given."""
        return name in self.options


def unquote(value: str) -> str:
    """``"C:\\My Dir"`` -> ``C:\\My Dir``: quotes a shell left in place are removed."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def parse_args(argv: Sequence[str]) -> Args:
    """Split ``/Verb /Opt:value ...`` (case-insensitive; values keep their case)."""
    verb: str | None = None
    options: dict[str, list[str]] = {}
    for word in argv:
        if not word.startswith("/") or len(word) < 2:
            raise UsageError(f"{word!r}: DISM options start with '/' (e.g. /ImageFile:F)",
                             "dism")
        name, sep, value = word[1:].partition(":")
        key = name.lower()
        if key == "?":
            raise _HelpRequested()
        if not sep and verb is None and key not in _VALUELESS:
            verb = key
            continue
        options.setdefault(key, []).append(unquote(value) if sep else "")
    if verb is None:
        raise UsageError("no DISM verb given (e.g. /Get-ImageInfo)", "dism")
    return Args(verb, options)


class _HelpRequested(Exception):
    pass


ALLOWED: dict[str, set[str]] = {
    "get-wiminfo": {"wimfile", "imagefile", "index", "name"},
    "get-imageinfo": {"wimfile", "imagefile", "index", "name"},
    "export-image": {"sourceimagefile", "sourceindex", "sourcename", "destinationimagefile",
                     "destinationname", "compress", "bootable", "checkintegrity", "swmfile"},
    "apply-image": {"imagefile", "index", "name", "applydir", "checkintegrity", "verify",
                    "norpfix", "swmfile"},
    "capture-image": {"imagefile", "capturedir", "name", "description", "compress",
                      "bootable", "configfile", "checkintegrity", "verify", "norpfix"},
    "append-image": {"imagefile", "capturedir", "name", "description", "bootable",
                     "configfile", "checkintegrity", "verify", "norpfix"},
    "delete-image": {"imagefile", "index", "name", "checkintegrity"},
    "split-image": {"imagefile", "swmfile", "filesize", "checkintegrity"},
    "get-packages": {"imagefile", "index", "name", "format"},
    "add-package": {"imagefile", "index", "name", "packagepath", "ignorecheck",
                    "preventpending"},
}


def _refuse(option: str) -> NotSupportedError:
    nearest = _NEAREST.get(option.lower())
    text = f"/{option} is not supported by wimcore dism"
    if nearest:
        text += f"; nearest: {nearest}"
    return NotSupportedError(text)


def run(argv: Sequence[str]) -> int:
    """Run one DISM command line."""
    try:
        args = parse_args(argv)
    except _HelpRequested:
        sys.stdout.write(HELP)
        return 0
    if args.verb not in VERBS:
        raise _refuse(args.verb) if args.verb in _NEAREST else UsageError(
            f"/{args.verb} is not a DISM verb wimcore knows (see: wimcore dism /?)", "dism")
    for key in args.options:
        if key not in ALLOWED[args.verb] and key not in GLOBAL_OPTIONS:
            if key in _NEAREST:
                raise _refuse(key)
            raise UsageError(f"/{key} is not an option of /{args.verb}", "dism")
    if args.flag("quiet"):
        current.quiet = True
    log = DismLog.from_args(args, argv)
    _use_scratch_dir(args.one("scratchdir"))
    if not current.quiet:
        out("")
        out("Deployment Image Servicing and Management tool (wimcore)")
        out("")
    try:
        HANDLERS[args.verb](args)
    except BaseException as exc:
        log.write(1, "Error", f"/{args.verb.title()} failed: {type(exc).__name__}: {exc}")
        raise
    log.write(3, "Info", f"/{args.verb.title()}: the operation completed successfully")
    if not current.quiet:
        out("The operation completed successfully.")
    return 0


class DismLog:
    """``/LogPath:`` and ``/LogLevel:``: timestamped lines appended to a log file, as DISM
    keeps one (its own format is not reproduced: the file is for people, not parsers)."""

    def __init__(self, path: str | None, level: int) -> None:
        self.path = path
        self.level = level

    @classmethod
    def from_args(cls, args: Args, argv: Sequence[str]) -> DismLog:
        """The log the options ask for; the command line is its first line."""
        text = args.one("loglevel")
        level = 3
        if text is not None:
            if text not in ("1", "2", "3", "4"):
                raise UsageError(f"/LogLevel:{text}: use 1 (errors), 2 (and warnings), "
                                 "3 (and information) or 4 (and debug)", "dism")
            level = int(text)
        log = cls(args.one("logpath"), level)
        log.write(3, "Info", "wimcore dism " + " ".join(argv))
        return log

    def write(self, level: int, kind: str, message: str) -> None:
        """Append one line when the log level includes it."""
        if self.path is None or level > self.level:
            return
        stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(f"{stamp}, {kind:<7} wimcore dism: {message}\n")
        except OSError as exc:
            raise errors.WimcoreError(f"/LogPath:{self.path}: cannot write the log: "
                                      f"{exc.strerror or exc}") from exc


def _use_scratch_dir(path: str | None) -> None:
    """``/ScratchDir:``: temporary files go to this existing folder, as DISM requires."""
    if path is None:
        return
    if not os.path.isdir(path):
        raise errors.MissingFileError(47, "/ScratchDir: is not an existing folder", path=path)
    import tempfile

    tempfile.tempdir = os.path.abspath(path)


def out(line: str) -> None:
    """One line on stdout."""
    sys.stdout.write(line + "\n")


def _image_key(args: Args, index_name: str = "index", name_name: str = "name") -> int | str:
    index = args.one(index_name)
    name = args.one(name_name)
    if index is not None and name is not None:
        raise UsageError(f"give /{index_name.title()} or /{name_name.title()}, not both", "dism")
    if index is not None:
        if not index.isdigit():
            raise UsageError(f"/{index_name.title()}:{index} is not a number", "dism")
        return int(index)
    if name is not None:
        return name
    raise UsageError(f"/{index_name.title()}: or /{name_name.title()}: is required", "dism")


def _compress(value: str | None) -> tuple[str | None, bool]:
    """DISM's /Compress: names -> (wimcore compression, solid); recovery is a solid ESD."""
    if value is None:
        return None, False
    table = {"max": ("lzx", False), "maximum": ("lzx", False), "fast": ("xpress", False),
             "none": ("none", False), "recovery": ("lzms", True)}
    found = table.get(value.lower())
    if found is None:
        raise UsageError(f"/Compress:{value}: use max, fast, none or recovery", "dism")
    return found


def _size(n: int) -> str:
    return f"{n:,} bytes"


def _dism_time(moment: dt.datetime | None) -> str:
    if moment is None:
        return "<undefined>"
    hour = moment.hour % 12 or 12
    ampm = "AM" if moment.hour < 12 else "PM"
    return (f"{moment.month}/{moment.day}/{moment.year} - "
            f"{hour}:{moment.minute:02d}:{moment.second:02d} {ampm}")


def _open(path: str, refs: Sequence[str] = (), writable: bool = False,
          check: bool = False) -> Any:
    import wimcore

    current.wims.append(path)
    current.refs.extend(refs)
    return wimcore.open(path, writable=writable, check_integrity=check, refs=refs)


def get_image_info(args: Args) -> None:
    """/Get-ImageInfo and /Get-WimInfo."""
    path = args.one("imagefile", "wimfile", required=True)
    assert path is not None
    selected = (_image_key(args) if args.one("index") is not None or args.one("name") is not None
                else None)
    with _open(path) as w:
        out(f"Details for image : {path}")
        out("")
        boot = w.info.boot_index
        images = list(w.images) if selected is None else [w.images[selected]]
        for img in images:
            get = img.get_property
            total = img.info.total_bytes or 0
            out(f"Index : {img.index}")
            out(f"Name : {get('NAME') or ''}")
            out(f"Description : {get('DESCRIPTION') or ''}")
            out(f"Size : {_size(total)}")
            if selected is not None:
                info = img.info
                out(f"WIM Bootable : {'Yes' if img.index == boot else 'No'}")
                out(f"Architecture : {info.arch_label or '<undefined>'}")
                out(f"Hal : {get('WINDOWS/HAL') or '<undefined>'}")
                version = (f"{info.version_major or 0}.{info.version_minor or 0}.{info.build}"
                           if info.build is not None else "<undefined>")
                out(f"Version : {version}")
                out(f"ServicePack Build : {info.sp_build or 0}")
                out(f"ServicePack Level : {info.sp_level or 0}")
                out(f"Edition : {info.edition_id or '<undefined>'}")
                out(f"Installation : {info.installation_type or '<undefined>'}")
                out(f"ProductType : {info.product_type or '<undefined>'}")
                out(f"ProductSuite : {info.product_suite or '<undefined>'}")
                out(f"System Root : {info.system_root or '<undefined>'}")
                out(f"Directories : {info.dir_count or 0}")
                out(f"Files : {info.file_count or 0}")
                out(f"Created : {_dism_time(info.creation_time)}")
                out(f"Modified : {_dism_time(info.modification_time)}")
                out("Languages :")
                for lang in info.languages:
                    default = " (Default)" if lang == info.default_language else ""
                    out(f"        {lang}{default}")
            out("")


def export_image(args: Args) -> None:
    """/Export-Image."""
    import wimcore

    src = args.one("sourceimagefile", required=True)
    dest = args.one("destinationimagefile", required=True)
    assert src is not None and dest is not None
    image = _image_key(args, "sourceindex", "sourcename")
    compression, solid = _compress(args.one("compress"))
    refs = args.many("swmfile")
    current.wims.append(src)
    current.refs.extend(refs)
    from wimcore.cli.progress import reporter

    with reporter("export", quiet=current.quiet) as cb:
        wimcore.export(src, image, dest, compression=compression, solid=solid,
                       recompress=compression is not None, boot=args.flag("bootable"),
                       name=args.one("destinationname"), refs=refs,
                       check_integrity=args.flag("checkintegrity"), progress=cb)


def apply_image(args: Args) -> None:
    """/Apply-Image."""
    path = args.one("imagefile", required=True)
    target = args.one("applydir", required=True)
    assert path is not None and target is not None
    image = _image_key(args)
    from wimcore.cli.progress import reporter

    with _open(path, refs=args.many("swmfile"), check=args.flag("checkintegrity")) as w, \
            reporter("apply", quiet=current.quiet) as cb:
        w.images[image].apply(target, progress=cb, rpfix=False if args.flag("norpfix") else None,
                              replace_invalid_names=False)


def capture_image(args: Args, append: bool) -> None:
    """/Capture-Image and /Append-Image."""
    import wimcore

    path = args.one("imagefile", required=True)
    source = args.one("capturedir", required=True)
    name = args.one("name", required=True)
    assert path is not None and source is not None and name is not None
    compression, solid = _compress(args.one("compress"))
    from wimcore.cli.progress import reporter

    if append:
        current.wims.append(path)
    with reporter("append" if append else "capture", quiet=current.quiet) as cb:
        wimcore.capture(source, path, name, description=args.one("description"),
                        compression=compression or "lzx", solid=solid,
                        config=args.one("configfile"), boot=args.flag("bootable"),
                        check_integrity=args.flag("checkintegrity"), append=append,
                        progress=cb)
    if args.flag("verify"):
        with reporter("verify", quiet=current.quiet) as cb:
            wimcore.verify(path, check_integrity=args.flag("checkintegrity"), progress=cb)


def delete_image(args: Args) -> None:
    """/Delete-Image."""
    path = args.one("imagefile", required=True)
    assert path is not None
    image = _image_key(args)
    with _open(path, writable=True, check=args.flag("checkintegrity")) as w:
        w.delete_image(image)
        w.commit(check_integrity=True if args.flag("checkintegrity") else None)


def split_image(args: Args) -> None:
    """/Split-Image."""
    path = args.one("imagefile", required=True)
    first = args.one("swmfile", required=True)
    size = args.one("filesize", required=True)
    assert path is not None and first is not None and size is not None
    if not size.isdigit() or int(size) == 0:
        raise UsageError(f"/FileSize:{size}: a whole number of MB", "dism")
    from wimcore.cli.progress import reporter

    with _open(path, check=args.flag("checkintegrity")) as w, \
            reporter("split", quiet=current.quiet) as cb:
        w.split(first, int(size) * 1024 * 1024, overwrite=True,
                check_integrity=args.flag("checkintegrity"), progress=cb)


def get_packages(args: Args) -> None:
    """/Get-Packages of a WIM image (read from the image's own servicing records)."""
    from wimcore.servicing import inventory

    path = args.one("imagefile", required=True)
    assert path is not None
    image = _image_key(args)
    with _open(path) as w:
        inv = inventory(w.images[image])
    out(f"Packages listing for image {inv.image_index} of {path}:")
    out("")
    for pkg in inv.packages:
        out(f"Package Identity : {pkg.key}")
        out(f"State : {_state(pkg.state)}")
        out(f"Release Type : {pkg.release_type or '<undefined>'}")
        out("")
    listed = {p.key.lower() for p in inv.packages}
    for staged in inv.staged:  # placed by wimcore for Windows Setup: staged, not installed
        if staged.key.lower() in listed:
            continue
        out(f"Package Identity : {staged.key}")
        out("State : Staged")
        out("Release Type : <staged by wimcore: Windows Setup installs it; not installed yet>")
        out("")


def _state(state: str | None) -> str:
    names = {"installed": "Installed", "staged": "Staged", "absent": "Not Present",
             "install-pending": "Install Pending", "uninstall-pending": "Uninstall Pending",
             "superseded": "Superseded", "resolved": "Resolved", "staging": "Staging"}
    if state is None:
        return "<unknown: no CBS record>"
    return names.get(state.lower(), state)


#: DISM's CBS_E_NOT_APPLICABLE: "The specified package is not applicable to this image."
NOT_APPLICABLE = 0x800F081E


class PackageNotApplicableError(errors.WimcoreError):
    """/Add-Package of a package that does not apply to the image: DISM fails with
    0x800F081E, and so does wimcore (the image is not changed by it)."""

    hresult = NOT_APPLICABLE


def add_package(args: Args) -> None:
    """/Add-Package into a WIM image through the servicing backends (``auto``: installed by
    the image's own DISM in a VM when one can run, else staged for Windows Setup); the
    report says "installed" only when the image's own records show it."""
    from wimcore.servicing import service_wim

    path = args.one("imagefile", required=True)
    assert path is not None
    image = _image_key(args)
    packages = args.many("packagepath")
    if not packages:
        raise UsageError("/PackagePath: is required for /Add-Package", "dism")
    for package in packages:
        if not os.path.exists(package):
            raise errors.MissingFileError(47, "no such package", path=package)
    current.wims.append(path)
    from wimcore.cli.progress import reporter

    with reporter("stage", quiet=current.quiet) as cb:
        report = service_wim(path, packages, images=image, progress=cb, backend="auto")
    out(report.summary())
    refused = [s for img in report.images for s in img.skipped
               if s.get("state") == "not-applicable"]
    if refused:
        out("")
        out(f"Error: 0x{NOT_APPLICABLE:08x}")
        out("")
        out("The specified package is not applicable to this image.")
        out("")
        raise PackageNotApplicableError(
            f"0x{NOT_APPLICABLE:08x}: the specified package is not applicable to this image: "
            + "; ".join(f"{s['key']}: {s['reason']}" for s in refused)
            + ("" if not report.committed else
               " (the other packages were added: the image changed, see the summary)"))
    if report.status in ("partial", "incomplete"):
        raise errors.WimcoreError("not every package reached the image (see the summary above: "
                                  "status " + report.status + ")")


HANDLERS: dict[str, Callable[[Args], None]] = {
    "get-wiminfo": get_image_info,
    "get-imageinfo": get_image_info,
    "export-image": export_image,
    "apply-image": apply_image,
    "capture-image": lambda a: capture_image(a, append=False),
    "append-image": lambda a: capture_image(a, append=True),
    "delete-image": delete_image,
    "split-image": split_image,
    "get-packages": get_packages,
    "add-package": add_package,
}
