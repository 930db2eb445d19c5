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

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pybase64
import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport as ZeepTransport

from docflow.envelope import schema_path
from docflow.errors import TransportError
from docflow.model import OrganCode
from docflow.transport._soap_server import SERVICE_NS

__all__ = ["SoapClient"]

# A one-byte packet whose base64 text marks where the real packet's base64 goes.
_PLACEHOLDER = b"\x00"
_PLACEHOLDER_B64 = b">AA==<"


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
        session = requests.Session()
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
        self, recipient: OrganCode, operation: str, packet: bytes
    ) -> tuple[bytes, dict[str, str]]:
        template = etree.tostring(self._client.create_message(
            self._service(recipient), operation, Packet=_PLACEHOLDER))
        head, marker, tail = template.partition(_PLACEHOLDER_B64)
        head, tail = head + b">", b"<" + tail
        if not marker:  # zeep changed how it writes base64: fail loudly, not silently
            raise TransportError("cannot place the packet in zeep's SOAP message")
        action = self._binding.get(operation).soapaction
        if self._soap12:
            headers = {"Content-Type": f'application/soap+xml; charset=utf-8; action="{action}"'}
        else:
            headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
        return b"".join((head, pybase64.b64encode(packet), tail)), headers

    def _call(self, recipient: OrganCode, operation: str, packet: bytes) -> Any:
        url = self._urls.get(recipient)
        try:
            body, headers = self._request(recipient, operation, packet)
            response = self.session.post(url or "", data=body, headers=headers,
                                         timeout=self._timeout)
            del body
            return self._binding.process_reply(self._client, self._binding.get(operation),
                                               response)
        except zeep.exceptions.Fault as fault:
            code, where = _fault_detail(fault)
            raise TransportError(
                f"{recipient} refused the packet: {fault.message}",
                where=where or str(recipient),
                hint=f"remote fault {code}" if code else None,
            ) from fault
        except (requests.RequestException, zeep.exceptions.Error, OSError) as exc:
            raise TransportError(f"cannot reach {recipient}: {exc}", where=str(recipient),
                                 hint="the delivery is retried later") from exc

    def send_document(self, recipient: OrganCode, packet: bytes) -> bytes:
        """Deliver a signed document; return the receiver's signed receipt."""
        receipt = self._call(recipient, "SendDocument", packet)
        if not isinstance(receipt, bytes):
            raise TransportError(f"{recipient} answered without a receipt",
                                 where=str(recipient))
        return receipt

    def send_status(self, recipient: OrganCode, packet: bytes) -> None:
        """Deliver a signed status packet."""
        self._call(recipient, "SendStatus", packet)

    def close(self) -> None:
        """Close the HTTP connections."""
        self.session.close()


def _fault_detail(fault: zeep.exceptions.Fault) -> tuple[str | None, str | None]:
    detail = fault.detail
    if detail is None:
        return None, None
    code = detail.findtext(f".//{{{SERVICE_NS}}}Code")
    where = detail.findtext(f".//{{{SERVICE_NS}}}Where")
    return code, where
