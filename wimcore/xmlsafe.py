"""Hardened XML parsing shared by every layer: no entities, no network, bounded size and depth."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lxml import etree

from wimcore.errors import InvalidXMLError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_DEPTH = 256


def _parser() -> etree.XMLParser:
    from lxml import etree  # imported on first parse: keeps `import wimcore` light

    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes, *, source: str = "XML", max_bytes: int = DEFAULT_MAX_BYTES,
              max_depth: int = DEFAULT_MAX_DEPTH) -> etree._Element:
    """Parse an XML document safely and return its root element.

    Refuses documents larger than ``max_bytes``, documents with a DOCTYPE (the vehicle
    of entity expansion and external entities), and trees deeper than ``max_depth``.
    """
    if len(data) > max_bytes:
        raise InvalidXMLError(f"{source}: {len(data)} bytes is larger than the {max_bytes}-byte "
                              "limit for this document")
    from lxml import etree

    try:
        root = etree.fromstring(data, _parser())
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise InvalidXMLError(f"{source}: not well-formed XML: {exc}") from None
    tree = root.getroottree()
    docinfo: Any = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise InvalidXMLError(f"{source}: a DOCTYPE is not allowed (entity expansion risk)")
    depth = _depth(root, max_depth)
    if depth > max_depth:
        raise InvalidXMLError(f"{source}: nesting deeper than {max_depth} levels")
    return root


def _depth(root: etree._Element, limit: int) -> int:
    deepest = 0
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        node, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        stack.extend((child, d + 1) for child in node)
    return deepest


def local(tag: object) -> str:
    """An element's tag without its namespace ('' for comments and PIs)."""
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]
