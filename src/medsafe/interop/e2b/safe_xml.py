"""Parsing untrusted XML (E2B batches, acknowledgements) without the classic XML attacks.

Policy (docs/e2b.md):
- a document bigger than `max_bytes` (default 50 MB) is refused before it is parsed;
- a document that declares a DOCTYPE is refused: E2B(R3) instances never need one, and a
  DOCTYPE is the only way to declare entities (external entities such as
  file:///etc/passwd, or the nested "billion laughs" expansion). The parser is also
  configured never to expand entities, load a DTD or touch the network, so the refusal
  does not depend on the check alone;
- a document nested deeper than `max_depth` (default 100) is refused; libxml2 itself stops
  at 256 levels when `huge_tree` is off, and that refusal gets the same clear message;
- malformed XML is refused with the parser's message.

Every refusal raises `medsafe.errors.Invalid` with `where` = the file name when given.
Comments and processing instructions are dropped while parsing: nothing medsafe reads lives
in them.

Sources: lxml parser options (`resolve_entities`, `no_network`, `load_dtd`, `huge_tree`);
the attack classes are those defusedxml documents (external entity expansion, entity
expansion "billion laughs", DTD retrieval).
"""

from __future__ import annotations

import re

from lxml import etree

from medsafe.errors import Invalid

MAX_BYTES = 50 * 1024 * 1024
MAX_DEPTH = 100
LIBXML2_MAX_DEPTH = 256  # libxml2's own limit without XML_PARSE_HUGE


def _parser() -> etree.XMLParser:
    # A fresh parser per document: lxml parsers keep state and are not thread-safe.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, dtd_validation=False, remove_comments=True,
                           remove_pis=True, collect_ids=False)


def parse_xml(data: bytes, *, source_name: str | None = None, max_bytes: int = MAX_BYTES,
              max_depth: int = MAX_DEPTH) -> etree._Element:
    """The root element of `data`, or `Invalid` when the document is refused."""
    if len(data) > max_bytes:
        raise Invalid(f"E2B file refused: it is {len(data):,} bytes, more than the "
                      f"{max_bytes:,}-byte limit", where=source_name)
    if not data.strip():
        raise Invalid("E2B file refused: it is empty", where=source_name)
    if _declares_doctype(data):
        raise _doctype_refusal(source_name)
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as error:
        raise _syntax_refusal(error, max_depth, source_name) from None
    if root.getroottree().docinfo.internalDTD is not None:
        raise _doctype_refusal(source_name)  # e.g. a DOCTYPE in UTF-16 the scan missed
    depth = _depth(root)
    if depth > max_depth:
        raise Invalid(f"E2B file refused: it is nested {depth} levels deep, deeper than "
                      f"the limit of {max_depth}", where=source_name)
    return root


_ROOT_START = re.compile(rb"<[A-Za-z_:]")


def _declares_doctype(data: bytes) -> bool:
    """A DOCTYPE in the prolog (before the root element starts), found without parsing.
    Only a fast path: the parsed document's DTD is checked as well."""
    match = _ROOT_START.search(data)
    prolog = data[:match.start()] if match else data
    return b"<!DOCTYPE" in prolog


def _doctype_refusal(source_name: str | None) -> Invalid:
    return Invalid("E2B file refused: it declares entities (DOCTYPE), which medsafe never "
                   "expands", where=source_name)


def _syntax_refusal(error: etree.XMLSyntaxError, max_depth: int,
                    source_name: str | None) -> Invalid:
    text = str(error)
    if "Excessive depth" in text:
        limit = min(max_depth, LIBXML2_MAX_DEPTH)
        return Invalid(f"E2B file refused: it is nested deeper than the limit of {limit} "
                       "levels", where=source_name)
    return Invalid(f"E2B file refused: it is not well-formed XML ({text})",
                   where=source_name)


def _depth(root: etree._Element) -> int:
    """The deepest nesting level (the root is level 1), without recursion."""
    deepest = 0
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in element)
    return deepest
