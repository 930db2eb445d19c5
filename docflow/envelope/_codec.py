"""edXML packets in and out: the entry points of the strict and the lenient reader, and
the trace hops hubs insert.

**Strict** (:func:`parse_packet`, :func:`load_tree` + :func:`read_tree`, what
``verify`` and docflow peers use): the packet must be valid against the strict XSD in
the official order, or against docflow's earlier layout (``*-legacy.xsd``, so stored
packets keep verifying); anything else is a :class:`~docflow.errors.SchemaError`.
**Lenient** (:func:`read_packet`, for what the real network sends): any order, any
namespace prefix, the official library's quirks; every deviation becomes a
:class:`~docflow.envelope.Finding` and a :class:`~docflow.envelope.Policy` decides.
Hostile input (DOCTYPE, entities, comments and PIs inside the packet, oversize, deep
nesting) is refused by both, by the same hardened loader. No I/O: bytes in, objects out.
"""

from __future__ import annotations

import codecs
import functools
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from lxml import etree

from docflow.envelope._fields import Reader, local, signature_form
from docflow.envelope._findings import DEFAULT_POLICY, Finding, Policy, Severity
from docflow.envelope._packet import Envelope
from docflow.envelope._reader import read_document, read_legacy_soap_status, read_status
from docflow.envelope._schema import PacketKind, validate_tree
from docflow.envelope._skeleton import PAYLOADS, Skeleton, scan
from docflow.envelope._writer import serialize, trace_header
from docflow.envelope._xml import (
    DEFAULT_LIMITS,
    EDXML_NS,
    XLINK_NS,
    ParseLimits,
    parse_xml,
    q,
)
from docflow.errors import PacketRefusedError, SchemaError, XmlError
from docflow.model import DEFAULT_TZ, StatusInfo, TraceHop
from docflow.spool import PacketData, Spool

__all__ = [
    "Reading",
    "add_trace_hop",
    "insert_trace_header",
    "load_skeleton",
    "load_tree",
    "parse_envelope",
    "parse_packet",
    "parse_status",
    "read_packet",
    "read_tree",
    "validate_packet",
]


# --------------------------------------------------------------------------- strict

def _load(data: bytes, kind: PacketKind | None, limits: ParseLimits) -> etree._Element:
    """Parse, check the root, and validate against ``kind`` (guessed when None)."""
    return _load_kind(data, kind, limits)[0]


def _load_kind(
    data: bytes, kind: PacketKind | None, limits: ParseLimits
) -> tuple[etree._Element, PacketKind]:
    root = parse_xml(data, limits)
    if root.tag != q("edXML"):
        tag = str(root.tag)
        raise SchemaError(
            f"root element is {tag}, expected edXML:edXML",
            path="/" + tag,
            line=root.sourceline,
            hint=f"edXML packets use the namespace {EDXML_NS}; for packets other systems "
            "write, use the lenient reader (read_packet, docflow conform)",
        )
    if kind is None:
        kind = PacketKind.STATUS if _is_status(root) else PacketKind.DOCUMENT
    validate_tree(root, kind)
    return root, kind


def _is_status(root: etree._Element) -> bool:
    header = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('MessageHeader')}")
    return header is not None and header.find(q("StatusCode")) is not None


def load_tree(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS
) -> tuple[etree._Element, PacketKind]:
    """Parse and schema-validate a packet (strict or legacy layout); return its tree and
    kind.

    For code that must look at the tree itself (signature verification) and then read the
    model from the very same nodes with :func:`read_tree`.
    """
    return _load_kind(data, None, limits)


def load_skeleton(
    packet: Spool, *, limits: ParseLimits = DEFAULT_LIMITS
) -> tuple[etree._Element, PacketKind, Skeleton]:
    """:func:`load_tree` for a spooled packet: its :class:`Skeleton` scanned, parsed and
    validated (the large texts left in the spool); pass the skeleton to
    :func:`read_tree`."""
    skeleton = scan(packet, limits=limits, names=PAYLOADS)
    root, kind = _load_kind(skeleton.xml, None, limits)
    return root, kind, skeleton


def read_tree(
    root: etree._Element,
    kind: PacketKind,
    *,
    limits: ParseLimits = DEFAULT_LIMITS,
    tz: ZoneInfo = DEFAULT_TZ,
    skeleton: Skeleton | None = None,
) -> Envelope | StatusInfo:
    """Read the model from a tree that :func:`load_tree` returned (of ``skeleton.xml``
    when the packet was spooled: its attachments are then decoded from the spool)."""
    policy = DEFAULT_POLICY if tz == DEFAULT_POLICY.tz else DEFAULT_POLICY.clone(tz=tz)
    reader = Reader(root, strict=True, policy=policy, limits=limits)
    if skeleton is not None:
        reader.spooled = {marker: functools.partial(skeleton.text, marker)
                          for marker in skeleton.runs}
        _put_back(root, skeleton)
    packet = (read_status(reader, root) if kind is PacketKind.STATUS
              else read_document(reader, root))
    if packet is None:  # pragma: no cover - the strict reader raises first
        raise SchemaError("the packet cannot be read", path="/edXML")
    return packet


def _put_back(root: etree._Element, skeleton: Skeleton) -> None:
    """Every text cut out of the skeleton but an attachment's base64 (which the reader
    decodes from the spool) put back in the tree before anything is read: the model must
    hold the packet's texts, never a marker (a scan cuts other texts only when asked)."""
    for element in root.iter():
        text = element.text
        if text and text in skeleton.runs and local(element) not in PAYLOADS:
            element.text = b"".join(skeleton.text(text)).decode("utf-8")


def parse_packet(
    data: PacketData, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> Envelope | StatusInfo:
    """Parse either kind of packet, strictly: a document (:class:`Envelope`) or a status
    (from bytes, or from a :class:`~docflow.spool.Spool` through its skeleton)."""
    if isinstance(data, Spool):
        root, kind, skeleton = load_skeleton(data, limits=limits)
        return read_tree(root, kind, limits=limits, tz=tz, skeleton=skeleton)
    root, kind = load_tree(data, limits=limits)
    return read_tree(root, kind, limits=limits, tz=tz)


def validate_packet(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> PacketKind:
    """Fully check a document or status packet against the strict layout (schema, dates,
    codes, attachments) and return its kind; raise the same errors as
    :func:`parse_packet`."""
    packet = parse_packet(data, limits=limits, tz=tz)
    return PacketKind.STATUS if isinstance(packet, StatusInfo) else PacketKind.DOCUMENT


def parse_envelope(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> Envelope:
    """Parse and validate an edXML document packet, strictly.

    Raises :class:`~docflow.errors.SchemaError` (with element path and line) for invalid
    packets, :class:`~docflow.errors.UnsafeXmlError`, :class:`~docflow.errors.XmlError` or
    :class:`~docflow.errors.OversizeError` for hostile or broken input.
    """
    root = _load(data, PacketKind.DOCUMENT, limits)
    packet = read_tree(root, PacketKind.DOCUMENT, limits=limits, tz=tz)
    if not isinstance(packet, Envelope):  # pragma: no cover - read as a document
        raise SchemaError("not a document packet", path="/edXML")
    return packet


def parse_status(
    data: bytes, *, limits: ParseLimits = DEFAULT_LIMITS, tz: ZoneInfo = DEFAULT_TZ
) -> StatusInfo:
    """Parse and validate an edXML status packet, strictly."""
    root = _load(data, PacketKind.STATUS, limits)
    packet = read_tree(root, PacketKind.STATUS, limits=limits, tz=tz)
    if not isinstance(packet, StatusInfo):  # pragma: no cover - read as a status
        raise SchemaError("not a status packet", path="/edXML")
    return packet


# --------------------------------------------------------------------------- lenient

@dataclass(frozen=True)
class Reading:
    """What the lenient reader made of a packet.

    ``packet`` is None when the packet cannot be used at all (its findings say why);
    ``layout`` is ``"strict"`` (valid against the strict XSD), ``"legacy"`` (docflow's
    earlier layout) or ``"lenient"``; ``signature`` the form of its signature (see
    :class:`~docflow.envelope.SignatureForm`).
    """

    packet: Envelope | StatusInfo | None
    kind: PacketKind
    findings: tuple[Finding, ...]
    layout: str
    signature: str

    def refusing(self, policy: Policy = DEFAULT_POLICY) -> tuple[Finding, ...]:
        """The findings that refuse the packet under ``policy``."""
        return policy.refusing(self.findings)

    def accepted(self, policy: Policy = DEFAULT_POLICY) -> Envelope | StatusInfo:
        """The packet, if ``policy`` accepts it; else
        :class:`~docflow.errors.PacketRefusedError` naming the refusing findings."""
        refusing = self.refusing(policy)
        if self.packet is None or refusing:
            raise PacketRefusedError(refusing or tuple(
                finding for finding in self.findings if finding.severity is Severity.ERROR))
        return self.packet


_STRAY = (b"<?xml", b"<edXML", b"<")


def read_packet(data: bytes, *, policy: Policy = DEFAULT_POLICY,
                limits: ParseLimits = DEFAULT_LIMITS) -> Reading:
    """Read any edXML packet the real network writes, leniently, with its findings
    (nothing is refused here: see :meth:`Reading.accepted`). A byte order mark or stray
    bytes before ``<?xml`` are dropped when what follows parses; hostile input raises
    as in :func:`parse_packet` (the same hardened loader).

    >>> from docflow.envelope import build_envelope
    >>> from docflow.samples import sample_envelope
    >>> reading = read_packet(b"1212" + build_envelope(sample_envelope()))
    >>> [finding.code for finding in reading.findings]
    ['M.edXML.prolog']
    """
    prolog: list[Finding] = []
    root = _parse_leniently(bytes(data), limits, prolog)
    name = local(root)
    legacy_soap = name == "Envelope"
    if name != "edXML" and not legacy_soap:
        raise SchemaError(f"root element is {name}, not edXML: not an edXML packet",
                          path="/" + name, line=root.sourceline)
    if etree.QName(root).namespace != EDXML_NS and not legacy_soap:
        prolog.append(Finding("M.edXML.edXML", Severity.WARNING,
                              "the root is not in the edXML namespace; read all the same",
                              "/" + name))
    if not legacy_soap and unprefixed(root):
        prolog.append(Finding(
            "M.edXML.unprefixed", Severity.WARNING,
            "the elements inside edXMLEnvelope are not written with the edXML: prefix "
            "(the same namespace, read all the same); strict receivers that read by prefix "
            "(the official library, provincial hubs) refuse such a packet",
            "/edXML/edXMLEnvelope"))
    layout = "lenient"
    if not legacy_soap and etree.QName(root).namespace == EDXML_NS:
        kind = PacketKind.STATUS if _is_status(root) else PacketKind.DOCUMENT
        try:
            layout = "legacy" if validate_tree(root, kind) else "strict"
        except SchemaError:
            layout = "lenient"
    headers = sum(1 for _ in root.iter("{*}edXMLHeader"))
    if headers > 1:  # which one a reader takes is a guess: never guess
        prolog.append(Finding("M.edXMLEnvelope.edXMLHeader", Severity.ERROR,
                              f"the packet has {headers} edXMLHeader elements; one only",
                              "/" + name))
    reader = Reader(root, strict=False, policy=policy, limits=limits)
    reader.add(prolog)
    form = signature_form(root)
    packet: Envelope | StatusInfo | None
    if legacy_soap:
        kind, packet = PacketKind.STATUS, read_legacy_soap_status(reader, root)
    elif _looks_like_status(root):
        kind, packet = PacketKind.STATUS, read_status(reader, root)
    else:
        kind = PacketKind.DOCUMENT
        packet = read_document(reader, root)
    findings = tuple(reader.findings)
    if layout != "lenient":  # docflow's own layouts: the zone is the standard's, not a guess
        findings = tuple(f for f in findings if f.code != "T.edXML.Timestamp")
    return Reading(packet, kind, findings, layout, form)




def unprefixed(root: etree._Element) -> bool:
    """Whether the packet's ``edXMLEnvelope`` (in the edXML namespace) is written without
    the ``edXML:`` prefix that strict receivers look for (the namespace is the same)."""
    envelope = root.find(f"{{{EDXML_NS}}}edXMLEnvelope")
    return envelope is not None and envelope.prefix != "edXML"


def _parse_leniently(data: bytes, limits: ParseLimits, prolog: list[Finding], *,
                     again: bool = False) -> etree._Element:
    """The hardened parse, retried (and each retry recorded) without stray bytes before
    the XML, and with the xlink or edXML namespace declared when a sender used the
    prefix where it is not declared; every retry goes through the same loader. Comments
    between elements the loader dropped are recorded too."""
    if data.startswith(codecs.BOM_UTF8) and not again:
        prolog.append(Finding("M.edXML.prolog", Severity.INFO,
                              "the packet starts with a UTF-8 byte order mark"))
    try:
        dropped: list[str] = []
        root = parse_xml(data, limits, dropped=dropped)
        prolog.extend(Finding("M.edXML.comment", Severity.INFO,
                              f"a {where} between elements: dropped (it splits no text)")
                      for where in dropped)
        return root
    except XmlError as error:
        undeclared = _UNDECLARED.search(error.message)
        if undeclared is not None and undeclared[1] in _KNOWN_PREFIXES:
            return _with_prefix(data, limits, prolog, error, undeclared[1])
        start = _markup_start(data)
        if start <= 0:
            raise
    prolog.append(Finding("M.edXML.prolog", Severity.WARNING,
                          f"{start} stray byte(s) before the XML declaration "
                          f"({data[:min(start, 16)]!r}); dropped"))
    return _parse_leniently(data[start:], limits, prolog, again=again)


#: the prefixes real senders use without declaring them where they do (the official
#: samples: ``xlink:href`` in the manifest, ``edXML:AttachmentEncoded`` outside the
#: envelope that declares ``edXML``), and the namespaces they mean
_KNOWN_PREFIXES = {"xlink": XLINK_NS, "edXML": EDXML_NS}
_UNDECLARED = re.compile(r"Namespace prefix (\w+)(?: for \w+)? on \S+ is not defined")


def _with_prefix(data: bytes, limits: ParseLimits, prolog: list[Finding],
                 error: XmlError, prefix: str) -> etree._Element:
    """The packet again with ``prefix`` declared on its root (recorded), through the
    same loader (and so again for the next undeclared prefix)."""
    root_tag = data.find(b"<edXML")
    end = -1 if root_tag < 0 else root_tag + len(b"<edXML")
    declaration = f' xmlns:{prefix}="{_KNOWN_PREFIXES[prefix]}"'.encode()
    if end < 0 or data[end:end + 1] not in (b" ", b">", b"\t", b"\r", b"\n") or (
            declaration in data[root_tag:data.find(b">", root_tag)]):
        raise error
    code = "M.edXML.xlink" if prefix == "xlink" else "M.edXML.prefix"
    prolog.append(Finding(code, Severity.WARNING,
                          f"the {prefix}: prefix is used where it is not declared; read as "
                          f"{_KNOWN_PREFIXES[prefix]}"))
    return _parse_leniently(data[:end] + declaration + data[end:], limits, prolog, again=True)


def _markup_start(data: bytes) -> int:
    """Where the XML of a packet with stray bytes in front of it begins (-1: nowhere)."""
    for marker in _STRAY:
        position = data[:4096].find(marker)
        if position >= 0:
            return position
    return -1


def _looks_like_status(root: etree._Element) -> bool:
    # "{*}": the local name in any namespace or none, matched by lxml in C
    return any((parent := element.getparent()) is not None
               and local(parent) == "MessageHeader"
               for element in root.iter("{*}StatusCode"))


# --------------------------------------------------------------------------- trace hops

def add_trace_hop(
    data: bytes,
    hop: TraceHop,
    *,
    limits: ParseLimits = DEFAULT_LIMITS,
    tz: ZoneInfo = DEFAULT_TZ,
) -> bytes:
    """Append a ``TraceHeader`` (a hub the packet went through) and return the new bytes.

    The hop goes after the existing ones and before ``Bussiness``; nothing else in the
    packet changes, so the sender's signature (which excludes hops) stays valid.
    """
    root = _load(data, PacketKind.DOCUMENT, limits)
    insert_trace_header(root, hop, tz=tz)
    return serialize(root)


def insert_trace_header(
    root: etree._Element, hop: TraceHop, *, tz: ZoneInfo = DEFAULT_TZ
) -> etree._Element:
    """Insert a ``TraceHeader`` for ``hop`` after the existing ones in a validated document
    tree and return it (docflow.security signs it in place)."""
    trace_list = root.find(f"{q('edXMLEnvelope')}/{q('edXMLHeader')}/{q('TraceHeaderList')}")
    if trace_list is None:  # the schema requires it; kept for a clear error all the same
        raise SchemaError("missing edXML:TraceHeaderList", path="/edXML/edXMLEnvelope/edXMLHeader")
    element = trace_header(hop, tz)
    business = trace_list.find(q("Bussiness"))
    if business is None:
        trace_list.append(element)
    else:
        business.addprevious(element)
    return element
