"""The SOAP transport over real HTTP on 127.0.0.1 (ephemeral ports): zeep clients against
waitress servers in threads, both SOAP versions, faults, hostile requests, slow clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
import waitress
from lxml import etree

from docflow.errors import TransportError
from docflow.model import OrganCode
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.store import Store, sqlite_url
from docflow.transport import SoapApp, SoapClient, shutdown
from tests.conftest import Pki

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS = "urn:docflow:node:1"


class Server:
    """A waitress server for one WSGI app in a thread, on a free port of 127.0.0.1."""

    def __init__(self, app, **options) -> None:  # type: ignore[no-untyped-def]
        self.server = waitress.create_server(app, host="127.0.0.1", port=0, threads=2,
                                             **options)
        self.url = f"http://127.0.0.1:{self.server.effective_port}/"
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        shutdown(self.server)  # listener and open channels, from the loop's own thread
        self.thread.join(timeout=5)
        assert not self.thread.is_alive(), "the test server did not stop"


@dataclass
class SoapNet:
    province: Node
    district: Node
    province_url: str
    district_url: str


@pytest.fixture(params=["1.1", "1.2"])
def soap(request: pytest.FixtureRequest, pki: Pki, tmp_path: Path) -> Iterator[SoapNet]:
    clock = lambda: pki.now  # noqa: E731
    stores = [Store.open(sqlite_url(tmp_path / f"{n}.db"), clock=clock) for n in ("p", "d")]
    # Servers first (their ports become the addresses), nodes after.
    holders: dict[str, Node] = {}

    class Late:
        def __init__(self, key: str):
            self.key = key

        def receive_document(self, packet: bytes, recipient: OrganCode | None = None) -> bytes:
            return holders[self.key].receive_document(packet, recipient)

        def receive_status(self, packet: bytes, recipient: OrganCode | None = None) -> None:
            holders[self.key].receive_status(packet, recipient)

    servers = [Server(SoapApp(Late("province"))), Server(SoapApp(Late("district")))]
    client = SoapClient({PROVINCE.code: servers[0].url, TAM_KY.code: servers[1].url},
                        soap_version=request.param, timeout=10)
    holders["province"] = Node(PROVINCE, pki.province, pki.trust, stores[0], client, clock=clock)
    holders["district"] = Node(TAM_KY, pki.district, pki.trust, stores[1], client, clock=clock)
    yield SoapNet(holders["province"], holders["district"], servers[0].url, servers[1].url)
    client.close()
    for server in servers:
        server.close()
    for store in stores:
        store.close()


def test_wsdl_is_served_with_the_request_address(soap: SoapNet) -> None:
    response = requests.get(soap.district_url + "?wsdl", timeout=10)
    assert response.status_code == 200
    assert soap.district_url.encode() in response.content
    assert b"localhost:8080" not in response.content
    assert requests.get(soap.district_url, timeout=10).status_code == 405


def test_document_and_statuses_travel_over_soap(soap: SoapNet) -> None:
    envelope = sample_envelope()
    ref = soap.province.send(envelope.info, envelope.attachments).document_ref
    assert soap.province.deliver().delivered == 1
    (document,) = soap.district.store.queries.documents(direction="in").items
    (delivery,) = soap.province.store.queries.deliveries(document_ref=ref).items
    assert (delivery.transport_state, delivery.business_state) == ("acknowledged", "arrived")
    soap.district.accept(document.id)
    assert soap.district.deliver().delivered == 1
    (delivery,) = soap.province.store.queries.deliveries(document_ref=ref).items
    assert delivery.business_state == "accepted"


def test_duplicate_sends_get_the_same_receipt(soap: SoapNet, pki: Pki) -> None:
    envelope = sample_envelope()
    ref = soap.province.send(envelope.info, envelope.attachments).document_ref
    packet = soap.province.store.queries.packet(ref)
    client = SoapClient({TAM_KY.code: soap.district_url})
    assert client.send_document(TAM_KY.code, packet) == client.send_document(TAM_KY.code, packet)
    assert soap.district.store.queries.documents(direction="in").total == 1
    client.close()


def test_refusals_are_faults_with_stable_codes(soap: SoapNet) -> None:
    envelope = sample_envelope()
    ref = soap.province.send(envelope.info, envelope.attachments).document_ref
    packet = soap.province.store.queries.packet(ref)
    client = SoapClient({TAM_KY.code: soap.district_url})
    tampered = packet.replace("phê duyệt".encode(), "bãi bỏ".encode(), 1)
    with pytest.raises(TransportError, match=r"docflow\.security\.digest") as info:
        client.send_document(TAM_KY.code, tampered)
    assert "changed after signing" in str(info.value)
    with pytest.raises(TransportError, match=r"docflow\.envelope\.xml"):
        client.send_document(TAM_KY.code, b"not xml at all")
    with pytest.raises(TransportError, match="cannot reach"):
        SoapClient({TAM_KY.code: "http://127.0.0.1:9/"}, timeout=2).send_document(
            TAM_KY.code, packet)
    with pytest.raises(TransportError, match="no SOAP address"):
        client.send_document(OrganCode("000.00.77.H41"), packet)
    client.close()
    assert soap.district.store.queries.documents().total == 0


def _post(url: str, body: bytes, content_type: str = "text/xml; charset=utf-8",
          **headers: str) -> requests.Response:
    return requests.post(url, data=body, headers={"Content-Type": content_type, **headers},
                         timeout=10)


def _fault_code(response: requests.Response) -> str:
    return etree.fromstring(response.content).findtext(f".//{{{NS}}}Code") or ""


def _operation(name: str, packet: bytes = b"PHgvPg==") -> bytes:
    return (f'<d:{name} xmlns:d="{NS}"><d:Packet>'.encode() + packet
            + f"</d:Packet></d:{name}>".encode())


def _call(operation: str, packet: bytes = b"PHgvPg==", extra: bytes = b"") -> bytes:
    return (f'<s:Envelope xmlns:s="{SOAP11}"><s:Body>'.encode()
            + _operation(operation, packet) + extra + b"</s:Body></s:Envelope>")


@pytest.mark.parametrize(("body", "content_type", "headers", "status", "code"), [
    (b"<oops", "text/xml", {}, 500, "docflow.envelope.xml"),
    (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "text/xml", {},
     500, "docflow.envelope.unsafe"),
    (_call("SendDocument"), "application/json", {}, 415, "docflow.transport.content-type"),
    (_call("SendDocument"), "application/soap+xml", {}, 400,
     "docflow.transport.version-mismatch"),
    (_call("SendDocument", extra=_operation("SendStatus")), "text/xml", {}, 500,
     "docflow.transport.operation"),
    (_call("Delete"), "text/xml", {}, 500, "docflow.transport.operation"),
    (_call("SendDocument"), "text/xml", {"SOAPAction": f'"{NS}#SendStatus"'}, 500,
     "docflow.transport.action"),
    (_call("SendDocument", packet=b"!!not base64!!"), "text/xml", {}, 500,
     "docflow.transport.operation"),
    (_call("SendDocument"), "text/xml", {}, 500, "docflow.envelope.schema"),
])
def test_hostile_requests(soap: SoapNet, body: bytes, content_type: str,
                          headers: dict[str, str], status: int, code: str) -> None:
    response = _post(soap.district_url, body, content_type, **headers)
    assert response.status_code == status, response.text
    assert _fault_code(response) == code
    assert b"Traceback" not in response.content
    assert soap.district.store.queries.documents().total == 0


_PADDING = b"<!--" + b"x" * (2 << 20) + b"-->"  # past the size parsed as it is read
_SPACE = b" " * (2 << 20)  # the same, inside an element (where comments are refused)


@pytest.mark.parametrize(("body", "code"), [
    (b"<oops" + b" " * (2 << 20), "docflow.envelope.xml"),
    (b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;' + _PADDING + b"</x>",
     "docflow.envelope.unsafe"),
    (b"<?xml version='1.0'?>" + _PADDING + b'<!DOCTYPE x [<!ENTITY e "e">]><x>&e;</x>',
     "docflow.envelope.unsafe"),
    (_call("SendDocument", extra=_operation("SendStatus") + _SPACE),
     "docflow.transport.operation"),
    (_call("SendDocument", extra=_SPACE), "docflow.envelope.schema"),
    # a comment between elements splits no text: dropped, then the packet is read
    (_call("SendDocument", extra=_PADDING), "docflow.envelope.schema"),
    # one that touches text is refused, however far into the request it comes
    (_call("SendDocument", extra=b"text" + _PADDING), "docflow.envelope.unsafe"),
])
def test_hostile_large_requests_parsed_as_they_are_read(soap: SoapNet, body: bytes,
                                                        code: str) -> None:
    response = _post(soap.district_url, body)
    assert response.status_code in (400, 500), response.text
    assert _fault_code(response) == code
    assert soap.district.store.queries.documents().total == 0


def test_huge_body_is_refused_before_reading(pki: Pki) -> None:
    class Never:
        def receive_document(self, packet: bytes, recipient: object = None) -> bytes:
            raise AssertionError("must not be reached")

        def receive_status(self, packet: bytes, recipient: object = None) -> None:
            raise AssertionError("must not be reached")

    server = Server(SoapApp(Never(), max_body=1000))
    try:
        response = _post(server.url, _call("SendDocument", packet=b"A" * 2000))
        assert response.status_code == 413
        assert _fault_code(response) == "docflow.envelope.oversize"
    finally:
        server.close()


def test_unexpected_errors_leak_nothing(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        def receive_document(self, packet: bytes, recipient: object = None) -> bytes:
            raise RuntimeError("secret database password in this message")

        def receive_status(self, packet: bytes, recipient: object = None) -> None:
            raise RuntimeError("secret")

    server = Server(SoapApp(Broken()))
    try:
        response = _post(server.url, _call("SendDocument"))
        assert response.status_code == 500
        assert _fault_code(response) == "docflow.internal"
        assert b"secret" not in response.content
        assert any("unexpected error" in record.message for record in caplog.records)
    finally:
        server.close()


def test_slow_clients_are_dropped() -> None:
    class Idle:
        def receive_document(self, packet: bytes, recipient: object = None) -> bytes:
            return b""

        def receive_status(self, packet: bytes, recipient: object = None) -> None:
            return None

    server = Server(SoapApp(Idle()), channel_timeout=1, cleanup_interval=1)
    try:
        port = int(server.url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
                         b"Content-Length: 1000\r\n\r\n<s:Envelope")
            deadline = time.monotonic() + 8
            closed = False
            while time.monotonic() < deadline:
                try:
                    if sock.recv(1024) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
            assert closed, "the server kept a stalled client"
    finally:
        server.close()
