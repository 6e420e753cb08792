"""Sphinx extension for wimcore's site: references generated from the code itself.

- ``{wimcore-help} top|dism|imagex``: the text ``wimcore --help``, ``wimcore dism /?`` and
  ``wimcore VERB --help`` print (one section per wimlib-imagex verb), taken from the
  objects the command line prints them from, so a new option shows here when it shows
  there.
- Every public name autodoc documents must have a docstring: a missing one is a warning
  (``wimcore.undocumented``), which the build's ``-W`` makes an error.
"""

from __future__ import annotations

import builtins
import inspect
import re
import sys
from typing import Any, ClassVar

from docutils import nodes
from docutils.parsers.rst import Directive, directives
from pygments.lexers.special import TextLexer
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging

logger = logging.getLogger(__name__)

# autodoc object types that must carry their own docstring (attributes and data need not:
# enum members, dataclass fields and constants are described by their class or module).
_MUST_DOCUMENT = {"module", "class", "exception", "function", "method", "property",
                  "classmethod", "staticmethod", "decorator"}


def _literal(text: str) -> nodes.literal_block:
    block = nodes.literal_block(text, text)
    block["language"] = "text"
    return block


def _section(ident: str, title: str, *children: nodes.Node) -> nodes.section:
    section = nodes.section(ids=[ident], names=[nodes.fully_normalize_name(title)])
    section += nodes.title(title, "", nodes.literal(title, title))
    for child in children:
        section += child
    return section


class WimcoreHelp(Directive):
    """Insert the help text of part of the command line, as the program prints it."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {"prefix": directives.unchanged}

    def run(self) -> list[nodes.Node]:
        which = self.arguments[0]
        if which == "top":
            from wimcore.cli.app import TOP_HELP

            return [_literal(TOP_HELP)]
        if which == "dism":
            from wimcore.cli.dism import HELP

            return [_literal(HELP)]
        if which == "imagex":
            from wimcore.cli.imagex import VERBS

            prefix = self.options.get("prefix", "imagex")
            sections: list[nodes.Node] = []
            for name in sorted(VERBS):
                verb = VERBS[name]
                sections.append(_section(f"{prefix}-{name}", f"wimcore {name}",
                                         _literal(verb.help_text())))
            return sections
        raise self.error(f"wimcore-help: unknown part {which!r} (top, dism or imagex)")


class WimcoreApi(Directive):
    """Document a module's public API: each name of its ``__all__`` (in that order), or,
    without ``__all__``, every public name the module defines (``automodule``).

    So a name added to a package's ``__all__`` appears in the reference with no edit here.
    """

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        import importlib

        from docutils.statemachine import StringList
        from sphinx.util.nodes import nested_parse_with_titles

        modname = self.arguments[0]
        module = importlib.import_module(modname)
        source = self.state_machine.get_source_and_line(self.lineno)[0]
        lines: list[str] = []
        names = getattr(module, "__all__", None)
        if names is None:
            lines += [f".. automodule:: {modname}", ""]
        else:
            lines += [f".. py:module:: {modname}", ""]
            doc = inspect.getdoc(module)
            if doc:
                lines += [*doc.splitlines(), ""]
            for name in names:
                obj = getattr(module, name)
                if inspect.isclass(obj):
                    kind = "autoexception" if issubclass(obj, BaseException) else "autoclass"
                elif callable(obj):
                    kind = "autofunction"
                else:
                    kind = "autodata"
                lines += [f".. {kind}:: {modname}.{name}", ""]
        # The page is MyST Markdown; autodoc's directives and the docstrings are reST.
        content = StringList(["```{eval-rst}", *lines, "```"], source=source)
        holder = nodes.section()
        holder.document = self.state.document
        nested_parse_with_titles(self.state, content, holder)
        return list(holder.children)


def _own_doc(obj: Any) -> str | None:
    """The docstring ``obj`` has itself (a dataclass's generated signature text is none)."""
    doc = inspect.getdoc(obj) if not isinstance(obj, property) else obj.__doc__
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__")
        if doc and re.match(rf"{re.escape(obj.__name__)}\(", doc):
            return None  # written by @dataclass, not by a person
    return doc.strip() if doc else None


def check_docstring(app: Sphinx, what: str, name: str, obj: Any, options: Any,
                    lines: list[str]) -> None:
    """Warn about a public name in the API reference that has no docstring."""
    if what not in _MUST_DOCUMENT:
        return
    if any(part.startswith("_") for part in name.split(".")):
        return
    # A class needs its own words; a method may inherit its parent's (autodoc shows them).
    missing = not _own_doc(obj) if what in ("class", "exception") else \
        not any(line.strip() for line in lines)
    if missing:
        logger.warning("public %s %s has no docstring", what, name,
                       type="wimcore", subtype="undocumented")


def skip_foreign(app: Sphinx, what: str, name: str, obj: Any, skip: bool,
                 options: Any) -> bool | None:
    """In an ``automodule``, leave out what a module imports from the standard library
    (``Callable``, ``Iterator``, ``Path``, ...): only what it defines is its API."""
    owner = getattr(obj, "__module__", None)
    if what == "module" and isinstance(owner, str) and \
            owner.split(".")[0] in sys.stdlib_module_names:
        return True
    return None


class PlainBuiltins(SphinxPostTransform):
    """Show builtin type names in signatures (``bytes``, ``str``, ...) as plain text.

    Without inventories of the Python docs they have no target here, and a fuzzy lookup
    would link ``bytes`` to some attribute of that name (and warn that it is ambiguous).
    """

    default_priority = 5  # before the references are resolved

    def run(self, **kwargs: Any) -> None:
        for ref in list(self.document.findall(addnodes.pending_xref)):
            target = ref.get("reftarget", "")
            if ref.get("refdomain") == "py" and "." not in target and \
                    hasattr(builtins, target):
                ref.replace_self(ref.children or [nodes.literal(target, target)])


def plain_option_help(app: Sphinx, ctx: Any, lines: list[str]) -> None:
    """Options' help is plain text (what ``--help`` prints), not reST: escape each ``*``
    (``--tls-*``) outside double-backquoted literals, so the page shows it as printed."""
    for i, line in enumerate(lines):
        if not line.startswith(" ") or "*" not in line:
            continue
        parts = line.split("``")
        lines[i] = "``".join(re.sub(r"(?<!\\)\*", r"\\*", part) if n % 2 == 0 else part
                             for n, part in enumerate(parts))


def setup(app: Sphinx) -> dict[str, Any]:
    """Register the directives, the docstring check and the reference clean-ups."""
    app.add_directive("wimcore-help", WimcoreHelp)
    app.add_directive("wimcore-api", WimcoreApi)
    app.connect("autodoc-process-docstring", check_docstring)
    app.connect("autodoc-skip-member", skip_foreign)
    app.add_post_transform(PlainBuiltins)
    if "sphinx_click" in app.extensions:  # listed before this extension in conf.py
        app.connect("sphinx-click-process-options", plain_option_help)
    # crontab lines have no Pygments lexer: show ```cron blocks as plain text.
    app.add_lexer("cron", TextLexer)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
