"""A large document on the streaming path (issue 31, item 5), over real SOAP on
127.0.0.1: a province's node signs it into a spool and stores it chunk by chunk, the
LGSP hub's endpoint spools the request and verifies the packet from the spool, signs its
hop onto the skeleton, stores and pushes it on from the database in chunks, and the
district's node verifies and stores it the same way; on SQLite and on PostgreSQL (whose
driver binds the packet whole)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from docflow.envelope import parse_packet
from docflow.errors import TransportError
from docflow.hub import Hub
from docflow.model import Attachment, OrganCode, OrganInfo
from docflow.node import Node
from docflow.routing import Directory
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import RequestToken, issue_certificate, sign_request, verify
from docflow.spool import SPOOL_FROM, PacketData, Spool
from docflow.store import Store
from docflow.transport import Pending, PullOperation, SoapApp, SoapClient, TraceReport
from tests.conftest import Pki
from tests.directories import LGSP_AND_DISTRICT
from tests.integration.test_soap import Server, _call, _fault_code, _post

HUB = OrganCode.parse("000.00.90.H41")
#: a scan whose packet is past the streaming threshold
SCAN = bytes(range(256)) * (SPOOL_FROM // 256 + 4096)

DIRECTORY = LGSP_AND_DISTRICT + """[[organs]]
code = "{commune}"
name = "UBND xã Tam Thăng"
level = "commune"
hub = "{hub}"
pull = true
"""
COMMUNE = OrganCode.parse("000.01.01.H41")


class Spy:
    """An endpoint in front of a node or hub that notes what kind of packet its SOAP
    endpoint handed it (the node itself is the real one)."""

    def __init__(self) -> None:
        self.target: Node | Hub | None = None
        self.seen: list[type] = []
        self.lock = threading.Lock()

    def receive_document(self, packet: PacketData, recipient: OrganCode | None = None
                         ) -> bytes:
        with self.lock:
            self.seen.append(type(packet))
        assert self.target is not None
        return self.target.receive_document(packet, recipient)

    def receive_status(self, packet: PacketData, recipient: OrganCode | None = None
                       ) -> None:
        assert self.target is not None
        self.target.receive_status(packet, recipient)

    # a hub's pull side, as it is
    def pending(self, token: RequestToken, kind: str, limit: int) -> list[Pending]:
        assert isinstance(self.target, Hub)
        return self.target.pending(token, kind, limit)

    def acknowledge(self, token: RequestToken, handle: int, receipt: bytes | None = None,
                    error: str | None = None) -> None:
        assert isinstance(self.target, Hub)
        self.target.acknowledge(token, handle, receipt, error)

    def trace(self, token: RequestToken, message_id: str) -> TraceReport:
        assert isinstance(self.target, Hub)
        return self.target.trace(token, message_id)


@dataclass
class Province:
    province: Node
    hub: Hub
    district: Node
    spies: dict[str, Spy]
    commune: Node


@pytest.fixture
def province(pki: Pki, tmp_path: Path, store_url: str) -> Iterator[Province]:
    clock = lambda: pki.now  # noqa: E731
    spies = {"hub": Spy(), "district": Spy()}
    servers = {role: Server(SoapApp(spy)) for role, spy in spies.items()}
    path = tmp_path / "directory.toml"
    path.write_text(DIRECTORY.format(hub=HUB, province=PROVINCE.code, district=TAM_KY.code,
                                     commune=COMMUNE, hub_url=servers["hub"].url,
                                     district_url=servers["district"].url), encoding="utf-8")
    directory = Directory.from_toml(path)
    client = SoapClient(directory.addresses(), timeout=60)
    hub_store = Store.open(store_url, clock=clock)
    stores = [Store.open(f"sqlite:///{tmp_path / name}.db", clock=clock)
              for name in ("province", "district", "commune")]
    hub = Hub(OrganInfo(HUB, "LGSP Quảng Nam"), pki.hub, pki.trust, hub_store, client,
              directory, clock=clock)
    district = Node(TAM_KY, pki.district, pki.trust, stores[1], client, directory=directory,
                    clock=clock)
    spies["hub"].target, spies["district"].target = hub, district
    credentials = issue_certificate(pki.ca, str(COMMUNE), "UBND xã Tam Thăng", now=pki.now)
    commune = Node(OrganInfo(COMMUNE, "UBND xã Tam Thăng"), credentials, pki.trust,
                   stores[2], client, directory=directory, clock=clock)
    yield Province(Node(PROVINCE, pki.province, pki.trust, stores[0], client,
                        directory=directory, clock=clock), hub, district, spies, commune)
    client.close()
    for server in servers.values():
        server.close()
    for store in (hub_store, *stores):
        store.close()


@pytest.mark.slow
def test_a_large_document_streams_through_the_hub(province: Province, pki: Pki) -> None:
    info = sample_envelope(attachment_bytes=0).info
    record = province.province.send(info, [Attachment("ban-do.pdf", SCAN)])
    sent = province.province.store.queries.packet(record.document_ref)
    assert len(sent) >= SPOOL_FROM
    report = province.province.deliver()
    assert report.delivered == 1, report.errors
    assert province.hub.deliver().forwarded == 1
    # each endpoint was handed a spool (the request spooled, the packet decoded into one)
    assert province.spies["hub"].seen == [Spool]
    assert province.spies["district"].seen == [Spool]
    (received,) = province.district.store.queries.documents(direction="in").items
    packet = province.district.store.queries.packet(received.id)
    verified = verify(packet, pki.trust, now=pki.now)
    assert [str(hop.organ) for hop in verified.hops] == [str(HUB)]
    assert verified.envelope.attachments[0].data == SCAN
    # what the district stored is the sender's signed content plus the hub's hop
    assert verified.content_digest == verify(sent, pki.trust, now=pki.now).content_digest
    stored = province.district.store.queries.attachments(received.id)
    assert [(att.name, att.size) for att in stored] == [("ban-do.pdf", len(SCAN))]
    assert parse_packet(packet).attachments == verified.envelope.attachments


@pytest.mark.slow
def test_a_pulling_commune_takes_a_large_document_from_the_hub(province: Province,
                                                               pki: Pki) -> None:
    """The hub writes the packet's base64 into its answer from its spool as it sends
    it; the commune spools the answer and decodes the packet from it."""
    info = sample_envelope(attachment_bytes=0).info
    info = dataclasses.replace(info, recipients=(OrganInfo(COMMUNE, "UBND xã Tam Thăng"),))
    province.province.send(info, [Attachment("ban-do.pdf", SCAN)])
    assert province.province.deliver().delivered == 1
    assert province.hub.deliver().forwarded == 0  # held for the commune to pull
    seen: list[type] = []
    receive = province.commune.receive_document

    def noting(packet: PacketData, *args: object, **kwargs: object) -> bytes:
        seen.append(type(packet))
        return receive(packet, *args, **kwargs)  # type: ignore[arg-type]

    province.commune.receive_document = noting  # type: ignore[method-assign]
    report = province.commune.pull()
    assert seen == [Spool]  # the answer spooled, the packet decoded into its own
    assert (report.documents, report.refused) == (1, 0), report.errors
    (received,) = province.commune.store.queries.documents(direction="in").items
    verified = verify(province.commune.store.queries.packet(received.id), pki.trust,
                      now=pki.now)
    assert verified.envelope.attachments[0].data == SCAN
    assert [str(hop.organ) for hop in verified.hops] == [str(HUB)]
    # the commune's receipt reached the hub with the acknowledgement
    assert province.hub.store.queries.waiting_for([COMMUNE]) == {}


def _large_call(packet: bytes) -> bytes:
    return _call("SendDocument", packet=packet)


@pytest.mark.parametrize(("body", "code"), [
    # a DOCTYPE in a spooled request: refused by the scan
    (b'<!DOCTYPE x [<!ENTITY e "e">]>' + _large_call(b"A" * SPOOL_FROM),
     "docflow.envelope.unsafe"),
    # the packet's base64 broken far into it
    (_large_call(b"A" * SPOOL_FROM).replace(b"AAAA<", b"AA*A<"),
     "docflow.transport.operation"),
    # base64 of a packet that is not edXML
    (_large_call(b"x" * SPOOL_FROM), "docflow.envelope.xml"),
    # not well-formed: cut short
    (_large_call(b"A" * SPOOL_FROM)[:-40], "docflow.envelope.xml"),
])
def test_hostile_spooled_requests_are_refused(province: Province, body: bytes,
                                              code: str) -> None:
    url = province.hub.directory.entry(TAM_KY.code).endpoint
    assert url is not None
    response = _post(url, body)
    assert response.status_code in (400, 500), response.text
    assert _fault_code(response) == code
    assert province.district.store.queries.documents().total == 0


def test_a_short_body_for_its_length_is_refused(province: Province) -> None:
    url = province.hub.directory.entry(TAM_KY.code).endpoint
    assert url is not None
    body = _large_call(b"A" * SPOOL_FROM)
    with requests.Session() as session:
        request = requests.Request("POST", url, data=body[:-100], headers={
            "Content-Type": "text/xml; charset=utf-8",
            "Content-Length": str(len(body))}).prepare()
        try:
            response = session.send(request, timeout=5)
        except requests.RequestException:
            return  # the server waited for the rest and the connection was closed
    assert response.status_code in (400, 500)
    assert province.district.store.queries.documents().total == 0


@pytest.mark.parametrize("answer", [
    b"x" * SPOOL_FROM,  # not XML at all
    b'<!DOCTYPE x [<!ENTITY e "e">]><x>' + b"A" * SPOOL_FROM + b"</x>",
    b'<x xmlns="urn:other">' + b"A" * SPOOL_FROM + b"</x>",  # XML, not the answer
])
def test_a_hubs_large_bad_answer_to_a_pull_is_a_transport_error(pki: Pki,
                                                                 answer: bytes) -> None:
    """What a hub answers is outside input too: read into a spool, then refused as a
    TransportError (intake sets the pass aside), nothing kept."""
    def app(environ: dict[str, object], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"),
                                  ("Content-Length", str(len(answer)))])
        return [answer]

    server = Server(app)
    client = SoapClient({HUB: server.url}, timeout=10)
    try:
        token = sign_request(pki.district, PullOperation.PENDING, "document", now=pki.now)
        with pytest.raises(TransportError, match=str(HUB)):
            client.pending(HUB, token, "document", 5)
    finally:
        client.close()
        server.close()
