"""The two hand-overs to Windows' own servicing stack: the answer file and SetupComplete.cmd.

An unattend answer file (``urn:schemas-microsoft-com:unattend``) whose top-level
``<servicing>`` element lists ``<package action="install">`` entries makes Windows Setup
install those packages into the offline image (offlineServicing pass). A block in
``Windows/Setup/Scripts/SetupComplete.cmd`` running ``DISM /Online /Add-Package`` is the
first-boot fallback. Both are merged into what the image already has, never overwritten.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lxml import etree

from wimcore.errors import InvalidXMLError
from wimcore.servicing.errors import AnswerFileError
from wimcore.xmlsafe import local, parse_xml

UNATTEND_NS = "urn:schemas-microsoft-com:unattend"
WCM_NS = "http://schemas.microsoft.com/WMIConfig/2002/State"
#: Where staged packages live, as Windows sees it (``%WINDIR%`` is the image's Windows folder).
STAGE_LOCATION = "%WINDIR%\\wimcore\\Packages"
MARKER_BEGIN = "REM >>> wimcore staged packages: generated block, do not edit >>>"
MARKER_END = "REM <<< wimcore staged packages <<<"
_IDENTITY_ATTRS = ("name", "version", "processorArchitecture", "language", "publicKeyToken")


@dataclass(frozen=True)
class ServicingEntry:
    """One ``<servicing><package>`` entry: action, identity attributes and source location."""

    action: str
    name: str
    version: str
    arch: str
    language: str
    public_key_token: str
    source: str | None = None

    @property
    def key(self) -> str:
        """The package identity string ``Name~Token~Arch~Lang~Version`` (neutral → empty)."""
        lang = "" if self.language.lower() == "neutral" else self.language
        return "~".join((self.name, self.public_key_token, self.arch, lang, self.version))

    @property
    def by_wimcore(self) -> bool:
        """True when the source points into wimcore's staging folder."""
        return (self.source or "").lower().startswith(STAGE_LOCATION.lower())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"action": self.action, "key": self.key, "source": self.source}


def _u(tag: str) -> str:
    return f"{{{UNATTEND_NS}}}{tag}"


def _root(data: bytes, source: str) -> etree._Element:
    """Validate with the hardened parser, then re-read keeping comments for the merge."""
    try:
        root = parse_xml(data, source=source, max_bytes=8 * 1024 * 1024)
    except InvalidXMLError as exc:
        raise AnswerFileError(f"{exc}; the image was not changed") from None
    if local(root.tag) != "unattend":
        raise AnswerFileError(f"{source}: root element is <{local(root.tag)}>, not <unattend>; "
                              "the image was not changed")
    if etree.QName(root).namespace not in (UNATTEND_NS, None):
        raise AnswerFileError(f"{source}: <unattend> is in namespace "
                              f"{etree.QName(root).namespace!r}, not {UNATTEND_NS!r}")
    # parse_xml refused any DOCTYPE above, so a comment-keeping parse is equally safe here.
    keep = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           remove_comments=False, remove_pis=False)
    return etree.fromstring(data, keep)


def read_servicing(data: bytes, *, source: str = "unattend.xml") -> list[ServicingEntry]:
    """The ``<servicing><package>`` entries of an answer file (AnswerFileError if invalid)."""
    root = _root(data, source)
    out: list[ServicingEntry] = []
    for serv in root:
        if local(serv.tag) != "servicing":
            continue
        for pkg in serv:
            if local(pkg.tag) != "package":
                continue
            ident = next((c for c in pkg if local(c.tag) == "assemblyIdentity"), None)
            src = next((c for c in pkg if local(c.tag) == "source"), None)
            if ident is None:
                continue
            out.append(ServicingEntry(
                pkg.get("action", ""), ident.get("name", ""), ident.get("version", ""),
                ident.get("processorArchitecture", ""), ident.get("language", ""),
                ident.get("publicKeyToken", ""), src.get("location") if src is not None else None))
    return out


def new_answer_file() -> bytes:
    """An empty answer file in the unattend namespace."""
    return (b'<?xml version="1.0" encoding="utf-8"?>\n'
            b'<unattend xmlns="urn:schemas-microsoft-com:unattend"/>\n')


def merge_servicing(existing: bytes | None, entries: Sequence[ServicingEntry], *,
                    source: str = "unattend.xml") -> bytes:
    """Add ``entries`` (in order) to the answer file's ``<servicing>``; keep everything else.

    Entries that the file already lists with the same action and identity are not added
    twice. ``existing=None`` starts from an empty answer file. Invalid XML, or a root that
    is not ``<unattend>``, raises :class:`AnswerFileError`.
    """
    root = _root(existing if existing is not None else new_answer_file(), source)
    ns = etree.QName(root).namespace
    tag = (lambda t: f"{{{ns}}}{t}") if ns else (lambda t: t)
    servicing = next((c for c in root if local(c.tag) == "servicing"), None)
    if servicing is None:
        servicing = etree.Element(tag("servicing"))
        # Windows reads <servicing> as the first child, before the <settings> passes.
        servicing.tail = root.text if root.text and not root.text.strip() else "\n"
        root.text = "\n  "
        root.insert(0, servicing)
    present = {(e.action.lower(), e.key.lower()) for e in read_servicing(
        etree.tostring(root), source=source)}
    for entry in entries:
        if (entry.action.lower(), entry.key.lower()) in present:
            continue
        pkg = etree.SubElement(servicing, tag("package"), action=entry.action)
        etree.SubElement(pkg, tag("assemblyIdentity"), {
            "name": entry.name, "version": entry.version,
            "processorArchitecture": entry.arch, "language": entry.language or "neutral",
            "publicKeyToken": entry.public_key_token})
        if entry.source:
            etree.SubElement(pkg, tag("source"), location=entry.source)
        present.add((entry.action.lower(), entry.key.lower()))
    etree.indent(servicing, space="  ", level=1)
    body: bytes = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return body + b"\n"


# -- SetupComplete.cmd ---------------------------------------------------------------------

_BLOCK = re.compile(re.escape(MARKER_BEGIN) + r".*?" + re.escape(MARKER_END) + r"[ \t]*\r?\n?",
                    re.DOTALL)


def setupcomplete_block(folders: Sequence[str]) -> str:
    """The batch block that runs ``DISM /Online /Add-Package`` for each folder, in order.

    ``folders`` are staged folder names under ``%WINDIR%\\wimcore\\Packages``. Each
    package runs once: a marker file under ``%WINDIR%\\wimcore\\Markers`` records success
    (exit codes 0 and 3010), and everything is logged to ``%WINDIR%\\Logs\\wimcore``.
    """
    log = r"%WINDIR%\Logs\wimcore"
    marks = r"%WINDIR%\wimcore\Markers"
    lines = [MARKER_BEGIN,
             f'if not exist "{log}" mkdir "{log}"',
             f'if not exist "{marks}" mkdir "{marks}"']
    for n, folder in enumerate(folders, start=1):
        label = f"wimcore_next_{n}"
        path = f"{STAGE_LOCATION}\\{folder}"
        lines += [
            f'if exist "{marks}\\{folder}.done" goto {label}',
            f'echo %DATE% %TIME% installing {folder} >> "{log}\\setupcomplete.log"',
            f'DISM /Online /Add-Package /PackagePath:"{path}" /Quiet /NoRestart '
            f'/LogPath:"{log}\\dism-{n}.log" >> "{log}\\setupcomplete.log" 2>&1',
            'set WIMCORE_RC=%ERRORLEVEL%',
            f'echo %DATE% %TIME% {folder}: exit code %WIMCORE_RC% >> "{log}\\setupcomplete.log"',
            f'if "%WIMCORE_RC%"=="0" echo ok> "{marks}\\{folder}.done"',
            f'if "%WIMCORE_RC%"=="3010" echo ok> "{marks}\\{folder}.done"',
            f":{label}",
        ]
    lines.append(MARKER_END)
    return "\r\n".join(lines) + "\r\n"


def merge_setupcomplete(existing: bytes | None, folders: Sequence[str]) -> bytes:
    """Replace wimcore's block in an existing SetupComplete.cmd, or append it; keep the rest."""
    text = (existing or b"").decode("latin-1")  # byte-preserving round trip for any code page
    text = _BLOCK.sub("", text)
    if text and not text.endswith("\n"):
        text += "\r\n"
    if not text:
        text = "@echo off\r\n"
    return (text + setupcomplete_block(folders)).encode("latin-1")
