"""The SOAP side of a node: a WSGI application serving ``xsd/docflow.wsdl``.

Contract first: the WSDL is written by hand and shipped; this module implements it with
werkzeug and lxml (python's SOAP server libraries generate their WSDL from code, or no
longer run on current Python). ``GET ?wsdl`` returns the contract with its address
rewritten to the request's host. ``POST`` takes SOAP 1.1 (``text/xml``) or 1.2
(``application/soap+xml``): size limit, hardened parse, exactly one operation in the
body, SOAPAction checked, then the node verifies and stores the packet. Every
``DocflowError`` becomes a fault carrying its stable code; anything unexpected becomes a
generic fault and is logged, with nothing leaked.
"""

from __future__ import annotations

import binascii
import datetime as dt
import json
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pybase64
from lxml import etree
from werkzeug.wrappers import Request, Response

from docflow.envelope import ParseLimits, Skeleton, parse_xml, parse_xml_stream, scan, schema_path
from docflow.errors import (
    DocflowError,
    OversizeError,
    StoreError,
    TransportError,
)
from docflow.model import OrganCode
from docflow.security import RequestToken
from docflow.spool import (
    CHUNK,
    SPOOL_FROM,
    PacketData,
    Spool,
    as_bytes,
    base64_chunks,
    base64_size,
    decode_base64_spool,
)
from docflow.transport._port import Endpoint, Mailbox, TraceReport

__all__ = ["SERVICE_NS", "SOAP11_NS", "SOAP12_NS", "SoapApp"]

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SERVICE_NS = "urn:docflow:node:1"
_WSDL_ADDRESS = b"http://localhost:8080/"
_LOG = logging.getLogger("docflow.soap")
_STREAMED_FROM = 1 << 20  # request bodies larger than this are parsed as they are read
_PACKETS = frozenset({"Packet"})  # the texts a spooled request leaves in its file


@dataclass(frozen=True)
class _Version:
    ns: str
    content_type: str
    client_code: str
    server_code: str
    client_status: int
    #: the roles (actors) a node plays: header blocks for other roles are not its own
    roles: tuple[str | None, ...]
    role_attribute: str


_SOAP11 = _Version(SOAP11_NS, "text/xml; charset=utf-8", "soap:Client", "soap:Server", 500,
                   (None, "http://schemas.xmlsoap.org/soap/actor/next"), "actor")
_SOAP12 = _Version(SOAP12_NS, "application/soap+xml; charset=utf-8", "soap:Sender",
                   "soap:Receiver", 400,
                   (None, "http://www.w3.org/2003/05/soap-envelope/role/next",
                    "http://www.w3.org/2003/05/soap-envelope/role/ultimateReceiver"), "role")


def _refused(request: Request, code: str, message: str, where: str | None) -> None:
    """Say a refused request in the receiver's log (WARNING): a misconfigured peer or an
    attack shows here, not only in the sender's copy."""
    said = " ".join((f"{message} [{where}]" if where else message).split())
    _LOG.warning("refused a request from %s (%s): %s", request.remote_addr or "?", code,
                 said if len(said) <= 500 else said[:499] + "…")


class _FaultError(Exception):
    """A refusal to answer as a SOAP fault (never leaves this module)."""

    def __init__(self, code: str, message: str, *, server: bool = False,
                 status: int | None = None, where: str | None = None, hint: str | None = None,
                 not_understood: tuple[etree.QName, ...] = ()):
        super().__init__(message)
        self.code, self.message, self.server = code, message, server
        self.status, self.where, self.hint = status, where, hint
        #: header blocks the node was told it must understand and does not (the SOAP
        #: MustUnderstand fault)
        self.not_understood = not_understood


class SoapApp:
    """The WSGI application of a node's SOAP endpoint.

    Args:
        endpoint: what handles the packets (a :class:`~docflow.node.Node`, or a
            :class:`~docflow.hub.Hub`, which also answers the pull operations).
        max_body: the largest request accepted, in bytes (default: a 50 MiB packet,
            base64-encoded, plus room for the SOAP envelope).
        health: what ``GET /health`` answers: whether the node is healthy (200, else
            503) and the facts, as JSON (see :meth:`docflow.worker.Worker.report`);
            None: no such page.
    """

    def __init__(self, endpoint: Endpoint, *, max_body: int = 70 * 1024 * 1024,
                 health: Callable[[], tuple[bool, dict[str, Any]]] | None = None):
        self.endpoint = endpoint
        self.max_body = max_body
        self.health = health
        self._wsdl = schema_path("docflow.wsdl").read_bytes()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def handle(self, request: Request) -> Response:
        """Answer one HTTP request."""
        if request.method == "GET" and "wsdl" in {key.lower() for key in request.args}:
            address = request.host_url.encode()
            return Response(self._wsdl.replace(_WSDL_ADDRESS, address),
                            content_type="text/xml; charset=utf-8")
        if request.method == "GET" and request.path.rstrip("/") == "/health" and self.health:
            healthy, facts = self.health()
            return Response(json.dumps(facts, ensure_ascii=False), status=200 if healthy
                            else 503, content_type="application/json")
        if request.method != "POST":
            return Response("docflow node: POST SOAP requests, or GET ?wsdl\n", status=405,
                            headers={"Allow": "GET, POST"}, content_type="text/plain")
        version = _SOAP12 if request.mimetype == "application/soap+xml" else _SOAP11
        try:
            return self._dispatch(request, version)
        except _FaultError as fault:
            _refused(request, fault.code, fault.message, None)
            return _fault_response(version, fault)
        except DocflowError as error:
            server = isinstance(error, StoreError | TransportError)
            _refused(request, error.fault_code, error.message, error.where)
            return _fault_response(version, _FaultError(
                error.fault_code, error.message, server=server, where=error.where,
                hint=error.hint))
        except Exception:  # the one place where anything at all must become a fault
            _LOG.exception("unexpected error while handling a SOAP request")
            return _fault_response(version, _FaultError(
                "docflow.internal", "internal error; the operator's log has the details",
                server=True))

    def _dispatch(self, request: Request, version: _Version) -> Response:
        if request.mimetype not in ("text/xml", "application/soap+xml"):
            raise _FaultError("docflow.transport.content-type",
                         f"content type {request.mimetype!r} is not SOAP", status=415,
                         hint="SOAP 1.1 is text/xml, SOAP 1.2 is application/soap+xml")
        length = request.content_length
        if length is not None and length > self.max_body:
            raise _FaultError(OversizeError.fault_code,
                         f"request of {length} bytes exceeds the limit of {self.max_body}",
                         status=413)
        limits = ParseLimits(max_bytes=self.max_body)
        skeleton: Skeleton | None = None
        if length is not None and length >= SPOOL_FROM:
            # A large request is spooled to a temporary file and only its skeleton
            # parsed: the packet's base64 is decoded from the file into the packet's own
            # spool, and neither is ever held in memory (a 50 MiB packet is ~70 MB here).
            body = b""
            skeleton = scan(Spool.from_chunks(_body_chunks(request, length),
                                              limit=self.max_body), limits=limits,
                            names=_PACKETS)
            root = parse_xml(skeleton.xml, limits)
        elif length is not None and length > _STREAMED_FROM:
            # A large request is parsed as it is read: its bytes and its tree are never
            # both held (a 20 MB attachment is ~28 MB of base64 twice over).
            body = b""
            root = parse_xml_stream(request.stream.read, length, limits)
        else:
            body = request.stream.read(self.max_body + 1)
            if len(body) > self.max_body:
                raise _FaultError(OversizeError.fault_code,
                             f"request exceeds the limit of {self.max_body} bytes",
                             status=413)
            root = parse_xml(body, limits)
        if root.tag != f"{{{version.ns}}}Envelope":
            expected = "1.2" if version is _SOAP12 else "1.1"
            raise _FaultError("docflow.transport.version-mismatch",
                         f"not a SOAP {expected} envelope (root {etree.QName(root).text})",
                         hint="the envelope namespace must match the content type")
        body_el = _body(root, version)
        operations = [c for c in body_el if isinstance(c.tag, str)]
        if len(operations) != 1:
            raise _FaultError("docflow.transport.operation",
                         f"the SOAP body must hold exactly one operation, found {len(operations)}")
        (operation,) = operations
        name = etree.QName(operation)
        if name.namespace != SERVICE_NS or name.localname not in _OPERATIONS:
            raise _FaultError("docflow.transport.operation", f"unknown operation {name.text}")
        action = _action(request, version)
        expected_action = f"{SERVICE_NS}#{name.localname}"
        if action and action != expected_action:
            raise _FaultError("docflow.transport.action",
                         f"SOAPAction {action!r} does not match the operation {name.localname}")
        if name.localname not in ("SendDocument", "SendStatus"):
            del body
            return self._pull(version, name.localname, operation)
        recipient = _recipient(operation)
        packet = _packet(operation, skeleton)
        # The request body and its SOAP tree are each as large as the packet (base64):
        # let them go before the node parses, verifies and stores the packet itself.
        del body, root, body_el, operations, operation, skeleton
        if name.localname == "SendDocument":
            receipt = self.endpoint.receive_document(packet, recipient)
            return _response(version, "SendDocumentResponse", "Receipt",
                             pybase64.b64encode(receipt))
        self.endpoint.receive_status(packet, recipient)
        return _response(version, "SendStatusResponse", "Accepted", b"true")

    def _pull(self, version: _Version, operation: str, element: etree._Element) -> Response:
        mailbox = self.endpoint
        if not isinstance(mailbox, Mailbox):
            raise _FaultError("docflow.transport.operation",
                              f"{operation}: this node holds no packets for pulling",
                              hint="pull from a hub")
        _check_request(element)
        token = RequestToken.from_text(_text(element, "Token"))
        if operation in ("GetPendingDocuments", "GetPendingStatuses"):
            kind = "document" if operation == "GetPendingDocuments" else "status"
            items = mailbox.pending(token, kind, int(_text(element, "Limit")))
            root, body = _envelope(version)
            result = etree.SubElement(body, f"{{{SERVICE_NS}}}{operation}Response")
            large: dict[bytes, PacketData] = {}
            for item in items:
                entry = etree.SubElement(result, f"{{{SERVICE_NS}}}Item")
                etree.SubElement(entry, f"{{{SERVICE_NS}}}Handle").text = str(item.handle)
                packet = etree.SubElement(entry, f"{{{SERVICE_NS}}}Packet")
                if len(item.packet) < _STREAMED_FROM:
                    packet.text = pybase64.b64encode(as_bytes(item.packet))
                else:  # its base64 is written into the answer as the answer is sent
                    marker = secrets.token_hex(16)
                    packet.text = marker
                    large[marker.encode("ascii")] = item.packet
            if large:
                return _spliced_response(version, root, large)
            return _xml_response(version, root)
        if operation == "Acknowledge":
            receipt = element.findtext(f"{{{SERVICE_NS}}}Receipt")
            mailbox.acknowledge(token, int(_text(element, "Handle")),
                                None if receipt is None else pybase64.b64decode(receipt),
                                element.findtext(f"{{{SERVICE_NS}}}Error"))
            return _response(version, "AcknowledgeResponse", "Accepted", b"true")
        report = mailbox.trace(token, _text(element, "MessageId"))
        return _xml_response(version, _trace_response(version, report))


def _body(root: etree._Element, version: _Version) -> etree._Element:
    """The one Body of a SOAP envelope, after the header blocks were checked: an optional
    Header then exactly one Body and nothing else (a second Body is refused, not served
    from the first), and no header block the node must understand (it understands
    none: SOAP's MustUnderstand fault names them)."""
    children = [child for child in root if isinstance(child.tag, str)]
    tags = [str(child.tag) for child in children]
    header, body = f"{{{version.ns}}}Header", f"{{{version.ns}}}Body"
    if tags not in ([body], [header, body]):
        found = [etree.QName(child).localname for child in children]
        raise _FaultError("docflow.transport.envelope",
                          f"a SOAP envelope holds an optional Header and one Body, found {found}",
                          hint="send one operation in one Body")
    if len(children) == 2:
        blocks = [block for block in children[0] if isinstance(block.tag, str)
                  and _targeted(block, version) and _must_understand(block, version)]
        if blocks:
            blocked = tuple(etree.QName(block) for block in blocks)
            raise _FaultError(
                "docflow.transport.must-understand",
                f"header block(s) {', '.join(name.text for name in blocked)} must be "
                "understood and this node understands none", not_understood=blocked)
    return children[-1]


def _targeted(block: etree._Element, version: _Version) -> bool:
    return block.get(f"{{{version.ns}}}{version.role_attribute}") in version.roles


def _must_understand(block: etree._Element, version: _Version) -> bool:
    return (block.get(f"{{{version.ns}}}mustUnderstand") or "").strip() in ("1", "true")


def _action(request: Request, version: _Version) -> str:
    if version is _SOAP11:
        return (request.headers.get("SOAPAction") or "").strip().strip('"')
    return str(request.mimetype_params.get("action", "")).strip('"')


_OPERATIONS = ("SendDocument", "SendStatus", "GetPendingDocuments", "GetPendingStatuses",
               "Acknowledge", "GetTrace")


def _request_schema() -> etree.XMLSchema:
    """The WSDL's own types, to check the (small) pull requests against the contract."""
    wsdl = etree.parse(str(schema_path("docflow.wsdl")))
    schema = wsdl.find(".//{http://www.w3.org/2001/XMLSchema}schema")
    if schema is None:  # pragma: no cover - the shipped WSDL has one
        raise TransportError("the shipped WSDL has no schema")
    return etree.XMLSchema(schema)


_REQUEST_SCHEMA = _request_schema()


def _check_request(element: etree._Element) -> None:
    if not _REQUEST_SCHEMA.validate(element):
        error = _REQUEST_SCHEMA.error_log.last_error
        raise _FaultError("docflow.transport.operation",
                          f"the request does not match the contract: "
                          f"{error.message if error else 'invalid'}")


def _text(element: etree._Element, child: str) -> str:
    return element.findtext(f"{{{SERVICE_NS}}}{child}") or ""


def _recipient(operation: etree._Element) -> OrganCode | None:
    element = operation.find(f"{{{SERVICE_NS}}}Recipient")
    if element is None:
        return None
    try:
        return OrganCode.parse(element.text or "")
    except DocflowError as exc:
        raise _FaultError(exc.fault_code, f"Recipient: {exc.message}") from exc


def _body_chunks(request: Request, length: int) -> Iterator[bytes]:
    """The request body in chunks, ``length`` bytes at most (fewer if it ends early:
    what is short is then not well-formed)."""
    left = length
    while left > 0:
        chunk = request.stream.read(min(CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
        yield chunk


def _spooled_packet(chunks: Iterator[bytes]) -> Spool:
    """A packet decoded from its base64 text (a run of the request's skeleton) as the text
    is read, into its own spool."""
    try:
        return decode_base64_spool(chunks)
    except ValueError as exc:
        raise _FaultError("docflow.transport.operation", "Packet is not base64") from exc


def _packet(operation: etree._Element, skeleton: Skeleton | None = None) -> PacketData:
    element = operation.find(f"{{{SERVICE_NS}}}Packet")
    names = [etree.QName(child).localname for child in operation if isinstance(child.tag, str)]
    if element is None or names not in (["Packet"], ["Packet", "Recipient"]):
        raise _FaultError("docflow.transport.operation",
                          "the operation must hold one Packet and at most one Recipient")
    text = element.text or ""
    if skeleton is not None and text in skeleton.runs:
        return _spooled_packet(skeleton.text(text))
    element.text = None  # free libxml2's copy before decoding
    try:
        return pybase64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass  # line-wrapped base64: strip the white space, then strictly again
    try:
        return pybase64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _FaultError("docflow.transport.operation", "Packet is not base64") from exc


def _envelope(version: _Version) -> tuple[etree._Element, etree._Element]:
    root = etree.Element(f"{{{version.ns}}}Envelope", nsmap={"soap": version.ns,
                                                              "df": SERVICE_NS})
    return root, etree.SubElement(root, f"{{{version.ns}}}Body")


def _response(version: _Version, element: str, child: str, text: bytes) -> Response:
    root, body = _envelope(version)
    result = etree.SubElement(body, f"{{{SERVICE_NS}}}{element}")
    etree.SubElement(result, f"{{{SERVICE_NS}}}{child}").text = text
    return _xml_response(version, root)


def _xml_response(version: _Version, root: etree._Element) -> Response:
    return Response(etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
                    content_type=version.content_type)


def _spliced_response(version: _Version, root: etree._Element,
                      large: dict[bytes, PacketData]) -> Response:
    """An answer whose large packets' base64 is made as it is sent, from their spools:
    each marker in the serialized answer replaced by its packet (base64 needs no
    escaping in a text), with the whole answer's Content-Length."""
    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    pieces: list[bytes | PacketData] = []
    for marker, packet in large.items():
        before, found, data = data.partition(marker)
        if not found:  # pragma: no cover - each marker was written once, just now
            raise TransportError("a packet's place in the answer was lost")
        pieces += [before, packet]
    pieces.append(data)
    length = sum(len(piece) if index % 2 == 0 else base64_size(len(piece))
                 for index, piece in enumerate(pieces))

    def chunks() -> Iterator[bytes]:
        for index, piece in enumerate(pieces):
            if index % 2 == 0:
                yield as_bytes(piece)
            else:
                yield from base64_chunks(piece)

    response = Response(chunks(), content_type=version.content_type)
    response.headers["Content-Length"] = str(length)
    return response


def _trace_response(version: _Version, report: TraceReport) -> etree._Element:
    root, body = _envelope(version)
    result = etree.SubElement(body, f"{{{SERVICE_NS}}}GetTraceResponse")

    def add(parent: etree._Element, name: str, value: object) -> None:
        if value is not None:
            text = value.isoformat() if isinstance(value, dt.datetime) else str(value)
            etree.SubElement(parent, f"{{{SERVICE_NS}}}{name}").text = text

    add(result, "MessageId", report.message_id)
    add(result, "DocumentId", report.document_id)
    add(result, "Sender", report.sender)
    for organ, when in report.hops:
        hop = etree.SubElement(result, f"{{{SERVICE_NS}}}Hop")
        add(hop, "Organ", organ)
        add(hop, "Timestamp", when)
    for copy in report.copies:
        item = etree.SubElement(result, f"{{{SERVICE_NS}}}Copy")
        add(item, "Recipient", copy.recipient)
        add(item, "TransportState", copy.transport_state)
        add(item, "BusinessState", copy.business_state)
        add(item, "Attempts", copy.attempts)
        add(item, "LastError", copy.last_error)
    for status in report.statuses:
        item = etree.SubElement(result, f"{{{SERVICE_NS}}}Status")
        add(item, "From", status.from_organ)
        add(item, "Code", status.code)
        add(item, "Description", status.description)
        add(item, "Timestamp", status.timestamp)
    return root


def _fault_response(version: _Version, fault: _FaultError) -> Response:
    root, body = _envelope(version)
    element = etree.SubElement(body, f"{{{version.ns}}}Fault")
    code = version.server_code if fault.server else version.client_code
    if fault.not_understood:
        code = "soap:MustUnderstand"
        if version is _SOAP12:  # SOAP 1.2 names them in NotUnderstood header blocks
            header = etree.Element(f"{{{version.ns}}}Header")
            body.addprevious(header)
            for index, name in enumerate(fault.not_understood):
                prefix = f"nu{index}"
                block = etree.SubElement(header, f"{{{version.ns}}}NotUnderstood",
                                         nsmap={prefix: name.namespace} if name.namespace
                                         else None)
                block.set("qname", f"{prefix}:{name.localname}" if name.namespace
                          else name.localname)
    if version is _SOAP11:
        etree.SubElement(element, "faultcode").text = code
        etree.SubElement(element, "faultstring").text = fault.message
        detail = etree.SubElement(element, "detail")
    else:
        value = etree.SubElement(etree.SubElement(element, f"{{{version.ns}}}Code"),
                                 f"{{{version.ns}}}Value")
        value.text = code
        reason = etree.SubElement(etree.SubElement(element, f"{{{version.ns}}}Reason"),
                                  f"{{{version.ns}}}Text")
        reason.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        reason.text = fault.message
        detail = etree.SubElement(element, f"{{{version.ns}}}Detail")
    info = etree.SubElement(detail, f"{{{SERVICE_NS}}}DocflowFault")
    etree.SubElement(info, f"{{{SERVICE_NS}}}Code").text = fault.code
    etree.SubElement(info, f"{{{SERVICE_NS}}}Message").text = fault.message
    if fault.where:
        etree.SubElement(info, f"{{{SERVICE_NS}}}Where").text = fault.where
    if fault.hint:
        etree.SubElement(info, f"{{{SERVICE_NS}}}Hint").text = fault.hint
    status = fault.status or (500 if fault.server or fault.not_understood
                              else version.client_status)
    return Response(etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
                    status=status, content_type=version.content_type)
