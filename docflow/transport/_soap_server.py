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
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pybase64
from lxml import etree
from werkzeug.wrappers import Request, Response

from docflow.envelope import ParseLimits, parse_xml, schema_path
from docflow.errors import (
    DocflowError,
    OversizeError,
    StoreError,
    TransportError,
)
from docflow.transport._port import Endpoint

__all__ = ["SERVICE_NS", "SOAP11_NS", "SOAP12_NS", "SoapApp"]

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_NS = "http://www.w3.org/2003/05/soap-envelope"
SERVICE_NS = "urn:docflow:node:1"
_WSDL_ADDRESS = b"http://localhost:8080/"
_LOG = logging.getLogger("docflow.soap")


@dataclass(frozen=True)
class _Version:
    ns: str
    content_type: str
    client_code: str
    server_code: str
    client_status: int


_SOAP11 = _Version(SOAP11_NS, "text/xml; charset=utf-8", "soap:Client", "soap:Server", 500)
_SOAP12 = _Version(SOAP12_NS, "application/soap+xml; charset=utf-8", "soap:Sender",
                   "soap:Receiver", 400)


class _FaultError(Exception):
    """A refusal to answer as a SOAP fault (never leaves this module)."""

    def __init__(self, code: str, message: str, *, server: bool = False,
                 status: int | None = None, where: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.code, self.message, self.server = code, message, server
        self.status, self.where, self.hint = status, where, hint


class SoapApp:
    """The WSGI application of a node's SOAP endpoint.

    Args:
        endpoint: what handles the packets (a :class:`~docflow.node.Node`).
        max_body: the largest request accepted, in bytes (default: a 50 MiB packet,
            base64-encoded, plus room for the SOAP envelope).
    """

    def __init__(self, endpoint: Endpoint, *, max_body: int = 70 * 1024 * 1024):
        self.endpoint = endpoint
        self.max_body = max_body
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
        if request.method != "POST":
            return Response("docflow node: POST SOAP requests, or GET ?wsdl\n", status=405,
                            headers={"Allow": "GET, POST"}, content_type="text/plain")
        version = _SOAP12 if request.mimetype == "application/soap+xml" else _SOAP11
        try:
            return self._dispatch(request, version)
        except _FaultError as fault:
            return _fault_response(version, fault)
        except DocflowError as error:
            server = isinstance(error, StoreError | TransportError)
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
        body = request.stream.read(self.max_body + 1)
        if len(body) > self.max_body:
            raise _FaultError(OversizeError.fault_code,
                         f"request exceeds the limit of {self.max_body} bytes", status=413)
        root = parse_xml(body, ParseLimits(max_bytes=self.max_body))
        if root.tag != f"{{{version.ns}}}Envelope":
            expected = "1.2" if version is _SOAP12 else "1.1"
            raise _FaultError("docflow.transport.version-mismatch",
                         f"not a SOAP {expected} envelope (root {etree.QName(root).text})",
                         hint="the envelope namespace must match the content type")
        body_el = root.find(f"{{{version.ns}}}Body")
        operations = [] if body_el is None else [c for c in body_el if isinstance(c.tag, str)]
        if len(operations) != 1:
            raise _FaultError("docflow.transport.operation",
                         f"the SOAP body must hold exactly one operation, found {len(operations)}")
        (operation,) = operations
        name = etree.QName(operation)
        if name.namespace != SERVICE_NS or name.localname not in ("SendDocument", "SendStatus"):
            raise _FaultError("docflow.transport.operation", f"unknown operation {name.text}")
        action = _action(request, version)
        expected_action = f"{SERVICE_NS}#{name.localname}"
        if action and action != expected_action:
            raise _FaultError("docflow.transport.action",
                         f"SOAPAction {action!r} does not match the operation {name.localname}")
        packet = _packet(operation)
        # The request body and its SOAP tree are each as large as the packet (base64):
        # let them go before the node parses, verifies and stores the packet itself.
        del body, root, body_el, operations, operation
        if name.localname == "SendDocument":
            receipt = self.endpoint.receive_document(packet)
            return _response(version, "SendDocumentResponse", "Receipt",
                             pybase64.b64encode(receipt))
        self.endpoint.receive_status(packet)
        return _response(version, "SendStatusResponse", "Accepted", b"true")


def _action(request: Request, version: _Version) -> str:
    if version is _SOAP11:
        return (request.headers.get("SOAPAction") or "").strip().strip('"')
    return str(request.mimetype_params.get("action", "")).strip('"')


def _packet(operation: etree._Element) -> bytes:
    element = operation.find(f"{{{SERVICE_NS}}}Packet")
    if element is None or len(operation) != 1:
        raise _FaultError("docflow.transport.operation",
                          "the operation must hold exactly one Packet")
    text = element.text or ""
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
    return Response(etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
                    content_type=version.content_type)


def _fault_response(version: _Version, fault: _FaultError) -> Response:
    root, body = _envelope(version)
    element = etree.SubElement(body, f"{{{version.ns}}}Fault")
    code = version.server_code if fault.server else version.client_code
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
    status = fault.status or (500 if fault.server else version.client_status)
    return Response(etree.tostring(root, xml_declaration=True, encoding="UTF-8"),
                    status=status, content_type=version.content_type)
