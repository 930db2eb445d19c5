"""The SOAP client adapter of the transport port, built on zeep from ``xsd/docflow.wsdl``.

zeep builds the SOAP message from the WSDL and parses the replies and faults; the
packet's base64 is spliced into zeep's serialized message rather than set as element
text, because a multi-megabyte payload would otherwise be copied four times over (base64
bytes, a Python string, libxml2's text, the serialized message). docflow signs and
verifies the packets itself (zeep's WS-Security would sign the SOAP envelope with SHA-1
defaults and does not check what was signed). Every failure surfaces as a
:class:`~docflow.errors.TransportError` carrying the receiver's fault code, if any.
"""

from __future__ import annotations

import binascii
import itertools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pybase64
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport as ZeepTransport

from docflow.envelope import ParseLimits, parse_xml, scan, schema_path
from docflow.errors import RETRY_HINT, EnvelopeError, TransportError
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
from docflow.transport._http import EnvironmentOnce, network_reason
from docflow.transport._port import CopyTrace, Pending, StatusTrace, TraceReport
from docflow.transport._soap_server import SERVICE_NS

__all__ = ["SoapClient"]

# A one-byte packet whose base64 text marks where the real packet's base64 goes.
_PLACEHOLDER = b"\x00"
_PLACEHOLDER_B64 = b">AA==<"
_STREAMED_FROM = 1 << 20  # packets from this size are sent from their pieces
#: the most a pull's answer may take per item asked for (a 50 MiB packet in base64, and
#: room for the SOAP around it): what a hub sends beyond is refused, not stored
_MAX_ITEM = 70 * 1024 * 1024


class _Body:
    """A request body sent from its pieces (zeep's message around the packet's base64)
    with a Content-Length, read in blocks: the message is never joined into one more copy
    of a multi-megabyte packet, and a spooled packet's base64 is made as it is read."""

    def __init__(self, head: bytes, packet: PacketData, tail: bytes) -> None:
        self._length = len(head) + base64_size(len(packet)) + len(tail)
        self._chunks = itertools.chain((head,), base64_chunks(packet), (tail,))
        self._buffer = memoryview(b"")

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(1 << 16):
            yield chunk

    def read(self, size: int = -1) -> bytes:
        """The next ``size`` bytes (all that is left when ``size`` < 0)."""
        out = []
        wanted = self._length if size < 0 else size
        while wanted > 0:
            if not self._buffer:
                following = next(self._chunks, None)
                if following is None:
                    break
                self._buffer = memoryview(following)
            piece = self._buffer[:wanted]
            out.append(piece)
            self._buffer = self._buffer[len(piece):]
            wanted -= len(piece)
        return b"".join(out)


class SoapClient:
    """Sends packets to other nodes' SOAP endpoints.

    Args:
        addresses: each organ's endpoint URL (``http://host:port/``).
        soap_version: ``"1.1"`` (default) or ``"1.2"``.
        timeout: seconds to connect and to wait for an answer.
        ca_bundle: a CA file to verify HTTPS servers with (default: the system's).
        client_cert: ``(certificate, key)`` files for servers that want one.
    """

    def __init__(
        self,
        addresses: Mapping[OrganCode, str] | Mapping[str, str],
        *,
        soap_version: str = "1.1",
        timeout: float = 30.0,
        ca_bundle: Path | None = None,
        client_cert: tuple[Path, Path] | None = None,
    ):
        if soap_version not in ("1.1", "1.2"):
            raise TransportError(f"unknown SOAP version {soap_version!r}", hint="1.1 or 1.2")
        session = EnvironmentOnce()
        if ca_bundle is not None:
            session.verify = str(ca_bundle)
        if client_cert is not None:
            session.cert = (str(client_cert[0]), str(client_cert[1]))
        transport = ZeepTransport(session=session, timeout=timeout, operation_timeout=timeout,
                                  cache=None)
        self._client = zeep.Client(str(schema_path("docflow.wsdl")), transport=transport,
                                   settings=zeep.Settings(strict=True, xml_huge_tree=False))
        binding = f"{{{SERVICE_NS}}}NodeSoap{'11' if soap_version == '1.1' else '12'}"
        # The SOAP binding (zeep's Soap11Binding/Soap12Binding): templates and replies.
        self._binding: Any = self._client.wsdl.bindings[binding]
        self._soap12 = soap_version == "1.2"
        self._urls = {OrganCode.parse(organ): url for organ, url in addresses.items()}
        self._services = {
            organ: self._client.create_service(binding, url) for organ, url in self._urls.items()
        }
        self._timeout = timeout
        self.session = session

    def _service(self, recipient: OrganCode) -> Any:
        service = self._services.get(recipient)
        if service is None:
            raise TransportError("no SOAP address for organ", where=str(recipient),
                                 hint="add it to the client's addresses (the directory)")
        return service

    def _request(
        self, to: OrganCode, operation: str, packet: PacketData, recipient: OrganCode
    ) -> tuple[bytes | _Body, dict[str, str]]:
        template = etree.tostring(self._client.create_message(
            self._service(to), operation, Packet=_PLACEHOLDER, Recipient=str(recipient)))
        head, marker, tail = template.partition(_PLACEHOLDER_B64)
        head, tail = head + b">", b"<" + tail
        if not marker:  # zeep changed how it writes base64: fail loudly, not silently
            raise TransportError("cannot place the packet in zeep's SOAP message")
        headers = self._headers(operation)
        if len(packet) < _STREAMED_FROM:  # small: one buffer, one write
            return b"".join((head, pybase64.b64encode(as_bytes(packet)), tail)), headers
        return _Body(head, packet, tail), headers

    def _headers(self, operation: str) -> dict[str, str]:
        action = self._binding.get(operation).soapaction
        if self._soap12:
            return {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}

    @contextmanager
    def _errors(self, to: OrganCode) -> Iterator[None]:
        try:
            yield
        except zeep.exceptions.Fault as fault:
            code, where = _fault_detail(fault)
            raise TransportError(
                f"{to} refused the request: {fault.message}",
                where=where or str(to),
                hint=f"remote fault {code}" if code else None,
            ) from fault
        except (requests.RequestException, zeep.exceptions.Error, OSError) as exc:
            raise TransportError(f"cannot reach {to}: {network_reason(exc)}", where=str(to),
                                 hint=RETRY_HINT) from exc
        except (ValueError, TypeError, AttributeError) as exc:  # zeep reading a bad answer
            raise TransportError(f"{to} answered something that does not fit the contract: "
                                 f"{type(exc).__name__}: {exc}", where=str(to)) from exc

    def _call(self, to: OrganCode, operation: str, packet: PacketData,
              recipient: OrganCode) -> Any:
        url = self._urls.get(to)
        with self._errors(to):
            body, headers = self._request(to, operation, packet, recipient)
            response = self.session.post(url or "", data=body, headers=headers,
                                         timeout=self._timeout)
            del body
            return self._binding.process_reply(self._client, self._binding.get(operation),
                                               response)

    def reaches(self, organ: OrganCode) -> bool:
        """Whether this client has an address for ``organ`` (its endpoint, from the
        directory or ``[peers]``): what ``Node.send`` asks before it signs anything."""
        return organ in self._urls

    def send_document(self, recipient: OrganCode, packet: PacketData, *,
                      via: OrganCode | None = None) -> bytes:
        """Deliver a signed document (to ``via`` when a hub is on the way); return the
        signed receipt."""
        to = via or recipient
        receipt = self._call(to, "SendDocument", packet, recipient)
        if not isinstance(receipt, bytes):
            raise TransportError(f"{to} answered without a receipt", where=str(to))
        return receipt

    def send_status(self, recipient: OrganCode, packet: PacketData, *,
                    via: OrganCode | None = None) -> None:
        """Deliver a signed status packet."""
        self._call(via or recipient, "SendStatus", packet, recipient)

    # ------------------------------------------------------------------ pull mode

    def pending(self, hub: OrganCode, token: RequestToken, kind: str,
                limit: int) -> list[Pending]:
        """Lease up to ``limit`` packets of ``kind`` the hub holds for the caller."""
        operation = "GetPendingDocuments" if kind == "document" else "GetPendingStatuses"
        message = etree.tostring(self._client.create_message(
            self._service(hub), operation, Token=token.to_text(), Limit=limit))
        with self._errors(hub):
            response = self.session.post(self._urls.get(hub) or "", data=message,
                                         headers=self._headers(operation),
                                         timeout=self._timeout, stream=True)
            with response:
                length = response.headers.get("Content-Length", "")
                if response.status_code == 200 and length.isdigit() and \
                        int(length) >= SPOOL_FROM:
                    return _pending_spooled(response, hub, kind, operation,
                                            limit=max(1, limit) * _MAX_ITEM)
                result = self._binding.process_reply(  # zeep reads .content: all of it
                    self._client, self._binding.get(operation), response)
            items = [] if result is None else result
            return [Pending(int(item.Handle), kind, bytes(item.Packet)) for item in items]

    def acknowledge(self, hub: OrganCode, token: RequestToken, handle: int,
                    receipt: bytes | None = None, error: str | None = None) -> None:
        """Settle a pulled packet at the hub."""
        choice = {"Receipt": receipt} if receipt is not None else (
            {"Error": error} if error is not None else {})
        with self._errors(hub):
            self._service(hub).Acknowledge(Token=token.to_text(), Handle=handle, **choice)

    def trace(self, hub: OrganCode, token: RequestToken, message_id: str) -> TraceReport:
        """Ask the hub what became of a document the caller sent."""
        with self._errors(hub):
            r = self._service(hub).GetTrace(Token=token.to_text(), MessageId=message_id)
            return self._trace(r)

    @staticmethod
    def _trace(r: Any) -> TraceReport:
        return TraceReport(
            message_id=r.MessageId, document_id=r.DocumentId, sender=r.Sender,
            hops=tuple((h.Organ, h.Timestamp) for h in r.Hop or ()),
            copies=tuple(CopyTrace(c.Recipient, c.TransportState, c.BusinessState,
                                   int(c.Attempts), c.LastError) for c in r.Copy or ()),
            statuses=tuple(StatusTrace(t.From, t.Code, t.Description, t.Timestamp)
                           for t in r.Status or ()),
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()


def _pending_spooled(response: requests.Response, hub: OrganCode, kind: str,
                     operation: str, *, limit: int) -> list[Pending]:
    """A large answer to a pull (a hub holding scanned decisions), read as it arrives
    into a spool: its skeleton parsed, each large packet decoded from the spool into
    its own (what zeep would hold several times over: the answer, its tree, the texts).
    An answer past ``limit`` bytes is refused as it arrives (OversizeError)."""
    limits = ParseLimits(max_bytes=limit)
    try:
        skeleton = scan(Spool.from_chunks(response.iter_content(CHUNK), limit=limit),
                        limits=limits, names=frozenset({"Packet"}))
        root = parse_xml(skeleton.xml, limits)
    except EnvelopeError as exc:  # too large, not XML, hostile: the hub's answer is bad
        raise TransportError(f"{hub} answered {operation} with what cannot be read: "
                             f"{exc.message}", where=str(hub)) from exc
    result = next(iter(root.iterfind(f"./{{*}}Body/{{{SERVICE_NS}}}{operation}Response")),
                  None)
    if result is None:
        raise TransportError(f"{hub} answered {operation} with something else",
                             where=str(hub))
    items = []
    for entry in result.iterfind(f"{{{SERVICE_NS}}}Item"):
        handle = entry.findtext(f"{{{SERVICE_NS}}}Handle") or ""
        text = entry.findtext(f"{{{SERVICE_NS}}}Packet") or ""
        try:
            packet: PacketData = (decode_base64_spool(skeleton.text(text))
                                  if text in skeleton.runs
                                  else pybase64.b64decode(text, validate=True))
            items.append(Pending(int(handle), kind, packet))
        except (ValueError, binascii.Error) as exc:
            raise TransportError(f"{hub} answered {operation} with an item that does not "
                                 f"fit the contract: {exc}", where=str(hub)) from exc
    return items


def _fault_detail(fault: zeep.exceptions.Fault) -> tuple[str | None, str | None]:
    detail = fault.detail
    if detail is None:
        return None, None
    code = detail.findtext(f".//{{{SERVICE_NS}}}Code")
    where = detail.findtext(f".//{{{SERVICE_NS}}}Where")
    return code, where
