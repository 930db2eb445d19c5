"""The one hardened XML loader of docflow, and the edXML namespace constants.

All XML that comes from outside goes through :func:`parse_xml`: a size limit before any
parsing, one lxml parser per thread (a parser shared between threads serialises them on a lock), no
DTD loading, no entity expansion, no network, and any DOCTYPE refused outright. It must
not read files, sockets or clocks.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lxml import etree

from docflow.errors import OversizeError, UnsafeXmlError, XmlError

__all__ = ["DSIG_NS", "EDXML_NS", "XLINK_NS", "ParseLimits", "parse_xml", "parse_xml_stream",
           "q"]

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NS = "http://www.w3.org/1999/xlink"

# libxml2 refuses single text nodes above 10 MB unless XML_PARSE_HUGE is set; attachments
# are base64 text nodes, so large packets need it. Entities stay disabled either way and
# the byte limit below still bounds everything.
_HUGE_TREE_FROM = 8 * 1024 * 1024


# How far into the input the prolog is scanned for a DOCTYPE before parsing. A DOCTYPE
# hidden behind a longer prolog is still refused after parsing, by the docinfo check.
_PROLOG_SCAN = 16 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF8, "utf-8"),
)
_PROLOG_SKIPS = (("<?", "?>"), ("<!--", "-->"))


def _has_doctype(data: bytes) -> bool:
    """Whether the prolog (XML declaration, comments, PIs, white space) reaches a DOCTYPE.

    A linear scan: a regular expression with lazy ``.*?`` groups rescans the window on
    every backtrack and cost 70 us per packet.
    """
    head = bytes(data[:_PROLOG_SCAN])
    encoding = "latin-1"  # every ASCII-compatible encoding reads "<!DOCTYPE" the same
    for bom, name in _BOMS:
        if head.startswith(bom):
            head, encoding = head[len(bom):], name
            break
    text = head.decode(encoding, errors="ignore")
    position, end = 0, len(text)
    while position < end:
        if text[position] in " \t\r\n":
            position += 1
            continue
        for opener, closer in _PROLOG_SKIPS:
            if text.startswith(opener, position):
                close = text.find(closer, position + len(opener))
                if close < 0:
                    return False  # the window ends inside it: left to the post-parse check
                position = close + len(closer)
                break
        else:
            return text.startswith("<!DOCTYPE", position)
    return False


# One parser per thread and size class: building an lxml parser per call is cheap, but a
# parser shared between threads serialises them on its lock.
_parsers = threading.local()


def _parser(huge: bool) -> etree.XMLParser:
    attribute = "huge" if huge else "normal"
    parser: etree.XMLParser | None = getattr(_parsers, attribute, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=huge,
            collect_ids=False,
        )
        setattr(_parsers, attribute, parser)
    return parser


def q(tag: str) -> str:
    """The Clark name ``{edXML-namespace}tag``."""
    return f"{{{EDXML_NS}}}{tag}"


@dataclass(frozen=True)
class ParseLimits:
    """Limits applied to every packet read from outside.

    ``max_bytes`` bounds the raw input (default 50 MiB); ``max_attachment_bytes`` bounds
    one decoded (and, for zipped attachments, unzipped) attachment.
    """

    max_bytes: int = 50 * 1024 * 1024
    max_attachment_bytes: int = 50 * 1024 * 1024


DEFAULT_LIMITS = ParseLimits()


def parse_xml(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> etree._Element:
    """Parse outside bytes into an element tree, refusing anything hostile.

    >>> parse_xml(b"<a>1</a>").tag
    'a'
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise XmlError(f"expected bytes, got {type(data).__name__}")
    size = len(data)
    if size > limits.max_bytes:
        raise OversizeError(size, limits.max_bytes)
    if size == 0:
        raise XmlError("empty input", hint="send a complete edXML packet")
    if _has_doctype(data):
        raise UnsafeXmlError(
            "DOCTYPE declarations are not allowed",
            hint="edXML packets never need a DTD; remove the <!DOCTYPE ...> line",
        )
    parser = _parser(size > _HUGE_TREE_FROM)
    with _syntax_errors():
        root = etree.fromstring(bytes(data), parser)
    return _without_doctype(root)


@contextmanager
def _syntax_errors() -> Iterator[None]:
    try:
        yield
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if exc.lineno else None
        raise XmlError(
            f"not well-formed XML: {exc.msg}",
            line=line,
            hint="check the packet is complete and its encoding matches its declaration",
        ) from exc
    except ValueError as exc:  # lxml raises it for some encoding declarations
        raise XmlError(f"cannot parse XML: {exc}") from exc


_PROLOG_WINDOW = 64 * 1024


def parse_xml_stream(read: Callable[[int], bytes], size: int,
                     limits: ParseLimits = DEFAULT_LIMITS) -> etree._Element:
    """:func:`parse_xml` for ``size`` bytes read in chunks from ``read`` (a request
    body): the same refusals, without ever holding the whole input as one bytes object
    next to its tree. Reading stops at the limit; a short body is a syntax error.
    """
    if size > limits.max_bytes:
        raise OversizeError(size, limits.max_bytes)
    first = read(min(size, _PROLOG_WINDOW))
    if not first:
        raise XmlError("empty input", hint="send a complete edXML packet")
    if _has_doctype(first):
        raise UnsafeXmlError(
            "DOCTYPE declarations are not allowed",
            hint="edXML packets never need a DTD; remove the <!DOCTYPE ...> line",
        )
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=size > _HUGE_TREE_FROM,
                             collect_ids=False)
    total, chunk = 0, first
    with _syntax_errors():
        while chunk:
            total += len(chunk)
            if total > size:
                raise OversizeError(total, size)
            parser.feed(chunk)
            chunk = read(min(1 << 20, size - total)) if total < size else b""
        root = parser.close()
    return _without_doctype(root)


def _without_doctype(root: etree._Element) -> etree._Element:
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXmlError(
            "DOCTYPE declarations are not allowed",
            hint="edXML packets never need a DTD; remove the <!DOCTYPE ...> line",
        )
    return root
