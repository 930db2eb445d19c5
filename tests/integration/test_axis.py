"""The national-axis adapter over real HTTP on 127.0.0.1: VxpClient against the axis
emulator (waitress in a thread) for every operation, authentication failures, a client
that crashes between getEdoc and updateStatus, organs polling concurrently, refused
packets, a 20 MB packet."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from docflow.emulators import AxisApp, AxisSystem
from docflow.errors import TransportError
from docflow.model import OrganCode, OrganInfo
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import TrustPolicy, issue_certificate
from docflow.store import Store, sqlite_url
from docflow.store._schema import audit_log
from docflow.transport import VxpClient, sign_headers
from tests.conftest import Pki
from tests.integration.test_soap import Server

AXIS = "000.00.00.G22"
COMMUNE = OrganInfo(OrganCode("000.01.01.H41"), "UBND phường An Mỹ")
SECRETS = {PROVINCE.code: "s3cret-province", TAM_KY.code: "s3cret-tamky",
           COMMUNE.code: "s3cret-anmy"}


@dataclass
class Net:
    url: str
    axis: AxisApp
    province: Node
    district: Node
    commune: Node
    clients: list[VxpClient]

    def client(self, organ: OrganInfo, **options: object) -> VxpClient:
        client = VxpClient(self.url, str(organ.code), SECRETS[organ.code], timeout=10,
                           **options)  # type: ignore[arg-type]
        self.clients.append(client)
        return client


@pytest.fixture
def net(pki: Pki, tmp_path: Path) -> Iterator[Net]:
    clock = lambda: pki.now  # noqa: E731
    axis_store = Store.open(sqlite_url(tmp_path / "axis.db"), clock=clock)
    systems = [AxisSystem(str(code), secret, register=True) for code, secret in SECRETS.items()]
    axis = AxisApp(AXIS, axis_store, systems, clock=clock)
    server = Server(axis)
    commune_credentials = issue_certificate(pki.ca, str(COMMUNE.code), COMMUNE.name,
                                            now=pki.now)
    net = Net(server.url, axis, None, None, None, [])  # type: ignore[arg-type]
    nodes = []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district),
                               (COMMUNE, commune_credentials)):
        store = Store.open(sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock)
        client = net.client(organ, clock=clock)
        nodes.append(Node(organ, credentials, pki.trust, store, client, clock=clock))
    net.province, net.district, net.commune = nodes
    yield net
    for client in net.clients:
        client.close()
    server.close()
    for node in nodes:
        node.store.close()
    axis_store.close()


def axis_of(node: Node) -> VxpClient:
    assert isinstance(node.transport, VxpClient)
    return node.transport


def test_every_operation(net: Net) -> None:
    envelope = sample_envelope()
    ref = net.province.send(envelope.info, envelope.attachments).document_ref
    assert net.province.deliver().delivered == 1
    (copy,) = net.province.store.queries.deliveries(document_ref=ref).items
    assert copy.transport_state == "awaiting_receipt"  # the axis queued it
    district = axis_of(net.district)
    assert district.count_received("edoc") == 1
    (item,) = district.received(message_type="edoc")
    assert (item.sender, item.to, item.message_type) == (str(PROVINCE.code),
                                                         str(TAM_KY.code), "edoc")
    assert net.district.poll_axis().documents == 1
    assert district.count_received("edoc") == 0
    assert net.district.deliver().delivered == 1  # its signed 01 goes back as a status
    assert net.province.poll_axis().statuses == 1
    (copy,) = net.province.store.queries.deliveries(document_ref=ref).items
    assert (copy.transport_state, copy.business_state) == ("acknowledged", "arrived")
    (received,) = net.district.inbox().items
    net.district.accept(received.id)
    net.district.deliver()
    net.province.poll_axis()
    (copy,) = net.province.store.queries.deliveries(document_ref=ref).items
    assert copy.business_state == "accepted"
    (sent,) = axis_of(net.province).sent()
    assert (sent.to, sent.send_status) == (str(TAM_KY.code), "acknowledged")
    province = axis_of(net.province)
    province.register_agency("000.00.31.H41", "Sở Nội vụ", parent=str(PROVINCE.code))
    assert "000.00.31.H41" in {a.code for a in province.agencies()}
    province.delete_agency("000.00.31.H41")
    assert "000.00.31.H41" not in {a.code for a in province.agencies()}
    since = net.axis.clock() - dt.timedelta(hours=1)
    assert district.received(message_type="status", since=since) == []


def test_registrations_outlive_a_restart(net: Net, pki: Pki) -> None:
    """registerAgency and deleteAgency are rows of the axis's database: an emulator
    started again on the same file still knows them (and still serves the registered
    organ's packets to its parent)."""
    so_noi_vu = OrganInfo(OrganCode("000.00.31.H41"), "Sở Nội vụ")
    axis_of(net.province).register_agency(so_noi_vu.code, so_noi_vu.name,
                                          parent=str(PROVINCE.code), mail="snv@quangnam.gov.vn")
    axis_of(net.commune).delete_agency(COMMUNE.code)  # an organ deletes itself
    url = net.axis.store.url
    net.axis.store.close()

    def restart() -> tuple[Store, Server, VxpClient]:
        store = Store.open(url, clock=lambda: pki.now)
        systems = [AxisSystem(str(code), secret, register=True) for code, secret in SECRETS.items()]
        server = Server(AxisApp(AXIS, store, systems, clock=lambda: pki.now))
        client = VxpClient(server.url, str(PROVINCE.code), SECRETS[PROVINCE.code],
                           timeout=10, clock=lambda: pki.now)
        return store, server, client

    store, server, client = restart()
    try:
        agencies = {agency.code: agency for agency in client.agencies()}
        # Configured systems are registered again at start when missing (the commune).
        assert set(agencies) == {*map(str, SECRETS), str(so_noi_vu.code)}
        assert (agencies[str(so_noi_vu.code)].parent,
                agencies[str(so_noi_vu.code)].email) == (str(PROVINCE.code),
                                                           "snv@quangnam.gov.vn")
        envelope = sample_envelope(recipients=(so_noi_vu,))
        packet = net.province.store.queries.packet(
            net.province.send(envelope.info, envelope.attachments).document_ref)
        client.send_edoc(packet, to=[so_noi_vu.code])  # known: not UNKNOWN_ORGAN
        (item,) = client.received()  # waiting for the organ the province serves
        assert item.to == str(so_noi_vu.code)
        client.delete_agency(so_noi_vu.code)
    finally:
        client.close()
        server.close()
        store.close()
    store, server, client = restart()
    try:
        assert str(so_noi_vu.code) not in {agency.code for agency in client.agencies()}
        with pytest.raises(TransportError, match="UNKNOWN_ORGAN"):
            client.send_edoc(packet, to=[so_noi_vu.code])
        assert store.audit.verify().ok
    finally:
        client.close()
        server.close()
        store.close()


def _raw(url: str, operation: str, headers: dict[str, str], body: bytes = b"") -> dict:
    response = requests.post(url + operation, data=body, headers=headers, timeout=10)
    assert response.headers["Content-Type"].startswith("application/json")
    return dict(response.json())


def test_authentication_failures_store_nothing(net: Net, pki: Pki) -> None:
    packet = b"<x/>"
    good = {"from": str(PROVINCE.code), "to": f'["{TAM_KY.code}"]', "servicetype": "edoc",
            "messagetype": "edoc", "hash-file": hashlib.sha256(packet).hexdigest()}
    cases = {
        "AUTH_UNKNOWN_SYSTEM": sign_headers("000.00.77.H41", "x", good, now=pki.now),
        "AUTH_BAD_SIGNATURE": sign_headers(str(PROVINCE.code), "wrong", good, now=pki.now),
        "AUTH_STALE": sign_headers(str(PROVINCE.code), SECRETS[PROVINCE.code], good,
                                   now=pki.now - dt.timedelta(hours=1)),
        "HASH_MISMATCH": sign_headers(str(PROVINCE.code), SECRETS[PROVINCE.code],
                                      {**good, "hash-file": "0" * 64}, now=pki.now),
        "FROM_MISMATCH": sign_headers(str(PROVINCE.code), SECRETS[PROVINCE.code],
                                      {**good, "from": str(TAM_KY.code)}, now=pki.now),
        "UNKNOWN_ORGAN": sign_headers(str(PROVINCE.code), SECRETS[PROVINCE.code],
                                      {**good, "to": '["000.00.66.H41"]'}, now=pki.now),
    }
    tampered = sign_headers(str(PROVINCE.code), SECRETS[PROVINCE.code], good, now=pki.now)
    tampered["XroadVnpt-to"] = f'["{COMMUNE.code}"]'  # sent differs from what was signed
    cases["AUTH_HEADER_MISMATCH"] = tampered
    for code, headers in cases.items():
        answer = _raw(net.url, "sendEdoc", headers, packet)
        assert (answer["status"], answer["ErrorCode"]) == ("FAIL", code), answer
    assert net.axis.store.queries.documents().total == 0
    with pytest.raises(TransportError, match="AUTH_BAD_SIGNATURE"):
        VxpClient(net.url, str(PROVINCE.code), "wrong", timeout=10).received()
    with pytest.raises(TransportError, match=r"docflow\.envelope\.schema"):
        axis_of(net.province).send_edoc(b"<not-edxml/>", to=[TAM_KY.code])
    # A packet from another organ than the caller.
    signed = net.province.store.queries.packet(net.province.send(
        sample_envelope().info, sample_envelope().attachments).document_ref)
    with pytest.raises(TransportError, match="FROM_MISMATCH"):
        axis_of(net.district).send_edoc(signed, to=[TAM_KY.code],
                                        sender=str(PROVINCE.code))
    assert net.axis.store.queries.documents().total == 0


def test_a_crash_between_get_and_acknowledge_redelivers(net: Net) -> None:
    envelope = sample_envelope()
    net.province.send(envelope.info, envelope.attachments)
    net.province.deliver()
    district = axis_of(net.district)
    (item,) = district.received()
    net.district.receive_document(district.get_edoc(item.doc_id))  # stored; then a crash
    (again,) = district.received()  # still waiting: never acknowledged
    assert again.doc_id == item.doc_id
    report = net.district.poll_axis()
    assert report.documents == 1 and net.district.inbox().total == 1
    assert district.received() == []
    district.update_status(item.doc_id, "done")  # acknowledging twice is harmless


def test_a_refused_packet_is_failed_and_recorded(net: Net, pki: Pki) -> None:
    envelope = sample_envelope()
    ref = net.province.send(envelope.info, envelope.attachments).document_ref
    packet = net.province.store.queries.packet(ref)
    tampered = packet.replace("Quảng Nam".encode(), b"Quang Nam", 1)
    axis_of(net.province).send_edoc(tampered, to=[TAM_KY.code])  # the axis does not verify
    report = net.district.poll_axis()
    assert (report.documents, report.refused) == (0, 1)
    assert "DigestMismatchError" in report.errors[0]
    assert net.district.inbox().total == 0
    with net.district.store.engine.connect() as conn:
        actions = [row.action for row in conn.execute(select(audit_log))]
    assert actions == ["refused"]
    (copy,) = net.axis.store.queries.deliveries(kind="document").items
    assert copy.transport_state == "retrying" and "fail" in (copy.last_error or "")


def test_two_organs_polling_concurrently(net: Net) -> None:
    for number in range(6):
        envelope = sample_envelope(number=str(100 + number), recipients=(TAM_KY, COMMUNE))
        net.province.send(envelope.info, envelope.attachments)
    assert net.province.deliver().delivered == 12
    errors: list[BaseException] = []

    def poll(node: Node) -> None:
        try:
            for _ in range(3):
                node.poll_axis(limit=4)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=poll, args=(node,)) for node in (net.district,
                                                                       net.commune)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert net.district.inbox().total == 6 and net.commune.inbox().total == 6
    assert axis_of(net.district).received() == [] and axis_of(net.commune).received() == []


def test_a_20_mb_packet(net: Net) -> None:
    envelope = sample_envelope(attachment_bytes=20 * 1024 * 1024)
    ref = net.province.send(envelope.info, envelope.attachments).document_ref
    assert net.province.deliver().delivered == 1
    assert net.district.poll_axis().documents == 1
    (received,) = net.district.inbox().items
    assert net.district.store.queries.packet(received.id) == net.province.store.queries.packet(ref)


def test_two_provinces_through_the_national_axis(pki: Pki, tmp_path: Path) -> None:
    """Province LGSP -> national axis -> other province's LGSP, and the receipt back."""
    clock = lambda: pki.now  # noqa: E731
    da_nang = OrganInfo(OrganCode("000.00.00.H43"), "UBND thành phố Đà Nẵng")
    lgsp = {"H41": "000.00.90.H41", "H43": "000.00.90.H43"}
    stores, servers, clients = [], [], []

    def emulator(code: str, systems: list[AxisSystem], parent: VxpClient | None) -> AxisApp:
        store = Store.open(sqlite_url(tmp_path / f"{code}.db"), clock=clock)
        stores.append(store)
        app = AxisApp(code, store, systems, clock=clock, parent=parent)
        servers.append(Server(app))
        return app

    def client(url: str, code: str, secret: str) -> VxpClient:
        clients.append(VxpClient(url, code, secret, timeout=10, clock=clock))
        return clients[-1]

    try:
        national = emulator("000.00.00.G22", [
            AxisSystem(lgsp["H41"], "q", relay=True, serves=("*.*.*.H41",), register=True),
            AxisSystem(lgsp["H43"], "d", relay=True, serves=("*.*.*.H43",), register=True)],
            None)
        national_url = servers[-1].url
        up = {name: client(national_url, code, secret) for name, code, secret in
              (("H41", lgsp["H41"], "q"), ("H43", lgsp["H43"], "d"))}
        quang_nam = emulator(lgsp["H41"], [AxisSystem(str(PROVINCE.code), "p")], up["H41"])
        qn_url = servers[-1].url
        danang = emulator(lgsp["H43"], [AxisSystem(str(da_nang.code), "n")], up["H43"])
        dn_url = servers[-1].url
        up["H41"].register_agency(PROVINCE.code, PROVINCE.name, parent=lgsp["H41"])
        up["H43"].register_agency(da_nang.code, da_nang.name, parent=lgsp["H43"])
        credentials = issue_certificate(pki.ca, str(da_nang.code), da_nang.name, now=pki.now)
        sender = Node(PROVINCE, pki.province, pki.trust,
                      Store.open(sqlite_url(tmp_path / "p.db"), clock=clock),
                      client(qn_url, str(PROVINCE.code), "p"), clock=clock)
        receiver = Node(da_nang, credentials, pki.trust,
                        Store.open(sqlite_url(tmp_path / "n.db"), clock=clock),
                        client(dn_url, str(da_nang.code), "n"), clock=clock)
        stores += [sender.store, receiver.store]
        envelope = sample_envelope(recipients=(da_nang,))
        ref = sender.send(envelope.info, envelope.attachments).document_ref
        assert sender.deliver().delivered == 1
        assert quang_nam.forward() == 1  # up to the national axis
        assert danang.forward() == 1  # down to Đà Nẵng's LGSP
        assert receiver.poll_axis().documents == 1
        assert receiver.deliver().delivered == 1  # the signed 01 goes back
        assert danang.forward() == 1 and quang_nam.forward() == 1
        assert sender.poll_axis().statuses == 1
        (copy,) = sender.store.queries.deliveries(document_ref=ref).items
        assert (copy.transport_state, copy.business_state) == ("acknowledged", "arrived")
        assert national.store.audit.verify().ok
    finally:
        for opened in clients:
            opened.close()
        for server in servers:
            server.close()
        for store in stores:
            store.close()


INTEROP = Path(__file__).resolve().parents[1] / "data" / "interop"


def test_what_other_systems_write_passes_the_axis_to_a_channel_node(net: Net) -> None:
    """A packet in the official library's shape (its placeholder signature, no
    MessageId), sent by the district's own system: the axis takes it as the real axis
    does; a node requiring signatures refuses it (fail, recorded); a node that trusts
    the authenticated channel stores it with its verdict and findings. The sender's
    system rebuilds the packet for a retry: the same document, not a replay."""
    packet = (INTEROP / "new.edxml").read_bytes().replace(b"000.00.07.H41", b"000.00.01.H41")
    axis_of(net.district).send_edoc(packet, to=[PROVINCE.code])
    refused = net.province.poll_axis()
    assert (refused.documents, refused.refused) == (0, 1)
    assert "MissingSignatureError" in refused.errors[0]
    net.province.axis_trust = TrustPolicy.CHANNEL  # the refused copy is offered again
    accepted = net.province.poll_axis()
    assert (accepted.documents, accepted.refused) == (1, 0), accepted.errors
    (document,) = net.province.inbox().items
    assert (document.sender, document.signature) == (str(TAM_KY.code), "unverifiable")
    assert any(finding.code == "M.Attachment.ContentId" for finding in document.findings)
    rebuilt = packet.replace(b"2026/11/20 08:30:00", b"2026/11/20 09:02:41")
    axis_of(net.district).send_edoc(rebuilt, to=[PROVINCE.code])
    assert net.province.poll_axis().refused == 0
    assert net.province.inbox().total == 1


def test_a_backlog_drains_in_one_pass_page_after_page(net: Net) -> None:
    """poll_axis lists again at once while pages come back full (up to `pages`): 11
    documents with pages of 4 take one pass, not three; with pages=2, two pages."""
    for number in range(11):
        envelope = sample_envelope(number=str(300 + number), recipients=(TAM_KY,))
        net.province.send(envelope.info, envelope.attachments)
    assert net.province.deliver().delivered == 11
    assert net.district.poll_axis(limit=4, pages=2).documents == 8
    assert net.district.poll_axis(limit=4).documents == 3
    assert net.district.inbox().total == 11 and axis_of(net.district).received() == []
