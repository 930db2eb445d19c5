"""The one hardened XML loader of docflow, and the edXML namespace constants.

All XML that comes from outside goes through :func:`parse_xml` (or
:func:`parse_xml_stream` for a request body read in chunks): a size limit before any
parsing, then an lxml parser that **cannot load anything**: no DTD loading, no entity
expansion, no network, and a resolver that answers every external load (a DTD, an
external entity or parameter entity, in any encoding, at any position) with nothing,
so libxml2 never opens a file, a FIFO or a socket. After parsing, a DOCTYPE anywhere in
the prolog is refused, and so is any comment or processing instruction inside the
document element: exclusive C14N drops comments, so a comment inserted into signed text
would change what a reader of ``element.text`` sees without changing a digest. A scan
of the prolog before parsing refuses the common DOCTYPE early with the same message; it
is a fast path for a clear error, not the defence. This module must not read files,
sockets or clocks.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:  # the stubs' name for what a resolver answers
    from lxml.etree._docloader import _InputDocument

from docflow.errors import OversizeError, UnsafeXmlError, XmlError

__all__ = ["DSIG_NS", "EDXML_NS", "XLINK_NS", "ParseLimits", "new_parser", "parse_xml",
           "parse_xml_stream", "q"]

EDXML_NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
DSIG_NS = "http://www.w3.org/2000/09/xmldsig#"
XLINK_NS = "http://www.w3.org/1999/xlink"

# libxml2 refuses single text nodes above 10 MB unless XML_PARSE_HUGE is set; attachments
# are base64 text nodes, so large packets need it. Entities stay disabled either way and
# the byte limit below still bounds everything.
_HUGE_TREE_FROM = 8 * 1024 * 1024


# How far into the input the prolog is scanned for a DOCTYPE before parsing. A DOCTYPE
# behind a longer prolog is refused after parsing (the parser has loaded nothing).
_PROLOG_SCAN = 64 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF8, "utf-8"),
)
# XML 1.0 Appendix F: the encoding of a document without a byte order mark, from how
# its first character ("<" or white space) is laid out.
_SNIFF = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_PROLOG_SKIPS = (("<?", "?>"), ("<!--", "-->"))
_DOCTYPE = "DOCTYPE declarations are not allowed"
_DOCTYPE_HINT = "edXML packets never need a DTD; remove the <!DOCTYPE ...> line"


def _prolog_text(data: bytes) -> str:
    """The start of the input as text, in the encoding libxml2 would read it in."""
    head = bytes(data[:_PROLOG_SCAN * 4])
    encoding = "latin-1"  # every ASCII-compatible encoding reads "<!DOCTYPE" the same
    for bom, name in _BOMS:
        if head.startswith(bom):
            head, encoding = head[len(bom):], name
            break
    else:
        for pattern, name in _SNIFF:
            if head.startswith(pattern):
                encoding = name
                break
        else:
            if len(head) >= 2 and head[0] == 0 and head[1] != 0:
                encoding = "utf-16-be"  # white space first, then "<"
            elif len(head) >= 2 and head[1] == 0 and head[0] != 0:
                encoding = "utf-16-le"
    return head.decode(encoding, errors="ignore")[:_PROLOG_SCAN]


def _has_doctype(data: bytes) -> bool:
    """Whether the prolog (XML declaration, comments, PIs, white space) reaches a DOCTYPE
    within the scanned window.

    A linear scan: a regular expression with lazy ``.*?`` groups rescans the window on
    every backtrack and cost 70 us per packet.
    """
    text = _prolog_text(data)
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


class _LoadNothing(etree.Resolver):
    """Every external resource libxml2 asks for (an external DTD subset, an external
    general or parameter entity) resolves to nothing, so no parser of docflow's ever
    opens a file or a socket, whatever the document declares. The DOCTYPE that asked
    for it is refused after parsing."""

    def resolve(self, system_url: str | None, public_id: str | None, context: object,
                /) -> _InputDocument:
        # Not resolve_empty(): with it libxml2 still opened the file (a test catches it).
        return self.resolve_string("", context)


def new_parser(*, huge: bool = False) -> etree.XMLParser:
    """A new lxml parser with docflow's hardening (for code that must feed one itself:
    :func:`parse_xml_stream`, the signature checks of ``docflow.security``)."""
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        collect_ids=False,
    )
    parser.resolvers.add(_LoadNothing())
    return parser


# One parser per thread and size class: building an lxml parser per call is cheap, but a
# parser shared between threads serialises them on its lock.
_parsers = threading.local()


def _parser(huge: bool) -> etree.XMLParser:
    attribute = "huge" if huge else "normal"
    parser: etree.XMLParser | None = getattr(_parsers, attribute, None)
    if parser is None:
        parser = new_parser(huge=huge)
        setattr(_parsers, attribute, parser)
    return parser


def q(tag: str) -> str:
    """The Clark name ``{edXML-namespace}tag``."""
    return f"{{{EDXML_NS}}}{tag}"


@dataclass(frozen=True)
class ParseLimits:
    """Limits applied to every packet read from outside.

    ``max_bytes`` bounds the raw input (default 50 MiB); ``max_attachment_bytes`` bounds
    one decoded (and, for zipped attachments, unzipped) attachment;
    ``max_decoded_bytes`` all of a packet's attachments together, decoded and unzipped
    (checked while inflating: twelve zipped 48 MiB members in a 774 KiB packet would
    otherwise hold 576 MiB); ``max_attachments`` how many a packet may carry; and
    ``max_zip_ratio`` how many times its compressed size a zipped member may inflate to
    (scanned PDFs and office files inflate a few times; a zip bomb hundreds of times).
    """

    max_bytes: int = 50 * 1024 * 1024
    max_attachment_bytes: int = 50 * 1024 * 1024
    max_decoded_bytes: int = 64 * 1024 * 1024
    max_attachments: int = 500
    max_zip_ratio: int = 200


DEFAULT_LIMITS = ParseLimits()


def parse_xml(data: bytes, limits: ParseLimits = DEFAULT_LIMITS, *,
              dropped: list[str] | None = None) -> etree._Element:
    """Parse outside bytes into an element tree, refusing anything hostile. A comment or
    processing instruction between elements (white space only around it: it splits no
    text) is dropped, and its parent's path added to ``dropped`` when given.

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
        raise UnsafeXmlError(_DOCTYPE, hint=_DOCTYPE_HINT)
    parser = _parser(size > _HUGE_TREE_FROM)
    with _syntax_errors():
        root = etree.fromstring(bytes(data), parser)
    return _checked(root, dropped)


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


def parse_xml_stream(read: Callable[[int], bytes], size: int,
                     limits: ParseLimits = DEFAULT_LIMITS) -> etree._Element:
    """:func:`parse_xml` for ``size`` bytes read in chunks from ``read`` (a request
    body): the same refusals, without ever holding the whole input as one bytes object
    next to its tree. Reading stops at the limit; a short body is a syntax error.
    """
    if size > limits.max_bytes:
        raise OversizeError(size, limits.max_bytes)
    first = read(min(size, _PROLOG_SCAN))
    if not first:
        raise XmlError("empty input", hint="send a complete edXML packet")
    if _has_doctype(first):
        raise UnsafeXmlError(_DOCTYPE, hint=_DOCTYPE_HINT)
    parser = new_parser(huge=size > _HUGE_TREE_FROM)
    total, chunk = 0, first
    with _syntax_errors():
        while chunk:
            total += len(chunk)
            if total > size:
                raise OversizeError(total, size)
            parser.feed(chunk)
            chunk = read(min(1 << 20, size - total)) if total < size else b""
        root = parser.close()
    return _checked(root)


def _checked(root: etree._Element, dropped: list[str] | None = None) -> etree._Element:
    """Refuse what parsed but must not be read: a DOCTYPE, and a comment or processing
    instruction that touches text inside the document element (it splits the text node,
    so ``.text`` would stop at it while every digest still matches: exclusive C14N drops
    comments). One between elements, with only white space around it (the official
    samples carry ``<!-- XML 102 -->`` and commented-out elements), splits nothing: it
    is removed, its parent's path put in ``dropped``."""
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise UnsafeXmlError(_DOCTYPE, hint=_DOCTYPE_HINT)
    for node in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        parent = node.getparent()
        previous = node.getprevious()
        before = (previous.tail if previous is not None else
                  parent.text if parent is not None else None) or ""
        kind = "comment" if isinstance(node, etree._Comment) else "processing instruction"
        if parent is None or before.strip(_SPACE) or (node.tail or "").strip(_SPACE):
            raise UnsafeXmlError(
                f"a {kind} inside the text of an element is not allowed",
                where=tree.getpath(parent) if parent is not None else None,
                hint="comments and processing instructions split the text a signature "
                "covers; send the packet without them",
            )
        if previous is not None:
            previous.tail = before + (node.tail or "")
        else:
            parent.text = before + (node.tail or "")
        parent.remove(node)
        if dropped is not None:
            dropped.append(f"{kind} in {tree.getpath(parent)}")
    return root


_SPACE = " \t\r\n"
