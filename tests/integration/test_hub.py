"""Routing through hubs over the in-memory transport: the province hub (LGSP) relays with
signed hops and custody receipts, pushes or holds for pull, relays receipts and statuses
back; across provinces through the national axis; every refusal changes nothing."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import select, update

from docflow.envelope import build_envelope
from docflow.errors import (
    ModelError,
    NotFoundError,
    ReplayError,
    RoutingError,
    SchemaError,
    SecurityError,
    SignerMismatchError,
    UntrustedCertificateError,
)
from docflow.hub import Hub
from docflow.model import OrganCode, OrganInfo, StatusCode
from docflow.node import Node
from docflow.routing import Directory
from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status
from docflow.security import (
    Credentials,
    issue_certificate,
    sign,
    sign_envelope,
    sign_request,
    sign_status,
    verify,
)
from docflow.store import Store, sqlite_url
from docflow.store._schema import deliveries, documents
from docflow.transport import InMemoryTransport
from tests.conftest import Clock, Pki

DIRECTORY = """
[[hubs]]
code = "000.00.00.G22"
name = "Trục liên thông văn bản quốc gia"
[[hubs]]
code = "000.00.90.H41"
name = "LGSP Quảng Nam"
upstream = "000.00.00.G22"
[[hubs]]
code = "000.00.90.H43"
name = "LGSP Đà Nẵng"
upstream = "000.00.00.G22"

[[organs]]
code = "000.00.00.H41"
name = "UBND tỉnh Quảng Nam"
level = "province"
hub = "000.00.90.H41"
[[organs]]
code = "000.00.01.H41"
name = "UBND thành phố Tam Kỳ"
level = "district"
hub = "000.00.90.H41"
[[organs]]
code = "000.01.01.H41"
name = "UBND phường An Mỹ"
level = "commune"
hub = "000.00.90.H41"
pull = true
[[organs]]
code = "000.00.00.H43"
name = "UBND thành phố Đà Nẵng"
level = "province"
hub = "000.00.90.H43"
"""


def pulling_directory(hub_url: str) -> Directory:
    """:data:`DIRECTORY` with the province's LGSP served at ``hub_url`` and Tam Kỳ
    pulling from it."""
    return Directory.from_toml_text(
        DIRECTORY.replace('name = "LGSP Quảng Nam"',
                          f'name = "LGSP Quảng Nam"\nendpoint = "{hub_url}"')
        .replace('name = "UBND thành phố Tam Kỳ"\nlevel = "district"\nhub = "000.00.90.H41"',
                 'name = "UBND thành phố Tam Kỳ"\nlevel = "district"\nhub = "000.00.90.H41"'
                 '\npull = true'))

COMMUNE = OrganInfo(OrganCode("000.01.01.H41"), "UBND phường An Mỹ")
DA_NANG = OrganInfo(OrganCode("000.00.00.H43"), "UBND thành phố Đà Nẵng")
LGSP = OrganInfo(OrganCode("000.00.90.H41"), "LGSP Quảng Nam")
LGSP_DN = OrganInfo(OrganCode("000.00.90.H43"), "LGSP Đà Nẵng")
AXIS = OrganInfo(OrganCode("000.00.00.G22"), "Trục liên thông văn bản quốc gia")


@dataclass
class Province:
    nodes: dict[OrganCode, Node]
    hubs: dict[OrganCode, Hub]
    transport: InMemoryTransport
    clock: Clock
    credentials: dict[OrganCode, Credentials]

    def node(self, organ: OrganInfo) -> Node:
        return self.nodes[organ.code]

    def hub(self, organ: OrganInfo) -> Hub:
        return self.hubs[organ.code]

    def settle(self, rounds: int = 8) -> None:
        """Run every worker until nothing moves (pulling organs pull too)."""
        for _ in range(rounds):
            moved = 0
            for hub in self.hubs.values():
                moved += hub.deliver().forwarded
            for node in self.nodes.values():
                moved += node.deliver().delivered
                if node.directory and node.directory.entry(node.code).pull:
                    report = node.pull()
                    moved += report.documents + report.statuses
            if not moved:
                return
            self.clock.advance(1)


@pytest.fixture
def qn(pki: Pki, tmp_path: Path) -> Iterator[Province]:
    directory = Directory.from_toml_text(DIRECTORY)
    clock = Clock(pki.now)
    transport = InMemoryTransport()
    credentials = {PROVINCE.code: pki.province, TAM_KY.code: pki.district, LGSP.code: pki.hub}
    for organ in (COMMUNE, DA_NANG, LGSP_DN, AXIS):
        credentials[organ.code] = issue_certificate(pki.ca, str(organ.code), organ.name,
                                                    now=pki.now)
    stores = []

    def store(code: OrganCode) -> Store:
        stores.append(Store.open(sqlite_url(tmp_path / f"{code}.db"), clock=clock,
                                 rnd=lambda: 0.5))
        return stores[-1]

    nodes = {}
    for organ in (PROVINCE, TAM_KY, COMMUNE, DA_NANG):
        nodes[organ.code] = Node(organ, credentials[organ.code], pki.trust, store(organ.code),
                                 transport, directory=directory, clock=clock)
        transport.register(organ.code, nodes[organ.code])
    hubs = {}
    for organ in (LGSP, LGSP_DN, AXIS):
        hubs[organ.code] = Hub(organ, credentials[organ.code], pki.trust, store(organ.code),
                               transport, directory, clock=clock)
        transport.register(organ.code, hubs[organ.code])
    yield Province(nodes, hubs, transport, clock, credentials)
    for opened in stores:
        opened.close()


def send(qn: Province, sender: OrganInfo, to: tuple[OrganInfo, ...], number: str = "4512"
         ) -> int:
    envelope = sample_envelope(number=number, sender=sender, recipients=to,
                               date=qn.clock().date())
    return qn.node(sender).send(envelope.info, envelope.attachments).document_ref


def copies(node: Node, ref: int) -> dict[str, tuple[str, str | None]]:
    return {d.recipient: (d.transport_state, d.business_state)
            for d in node.store.queries.deliveries(document_ref=ref).items if d.kind == "document"}


def test_push_through_the_province_hub(qn: Province) -> None:
    ref = send(qn, PROVINCE, (TAM_KY,))
    report = qn.node(PROVINCE).deliver()
    assert report.delivered == 1, report.errors
    # The hub took custody: acknowledged, not yet arrived.
    assert copies(qn.node(PROVINCE), ref) == {str(TAM_KY.code): ("acknowledged", "pending")}
    assert qn.hub(LGSP).deliver().forwarded == 1
    (received,) = qn.node(TAM_KY).inbox().items
    hops = qn.node(TAM_KY).trace(received.id).hops
    # the sender's own TraceHeader first (it signed it), then the hub's signed hop
    assert [organ for organ, _ in hops] == [str(PROVINCE.code), str(LGSP.code)]
    qn.settle()  # the district's own receipt travels back as a status packet
    assert copies(qn.node(PROVINCE), ref) == {str(TAM_KY.code): ("acknowledged", "arrived")}
    qn.node(TAM_KY).accept(received.id)
    qn.settle()
    assert copies(qn.node(PROVINCE), ref)[str(TAM_KY.code)][1] == "accepted"
    trace = qn.node(PROVINCE).trace(ref)
    assert trace.hub is not None
    assert [organ for organ, _ in trace.hub.hops] == [str(PROVINCE.code), str(LGSP.code)]
    (copy,) = trace.hub.copies
    assert (copy.recipient, copy.transport_state, copy.business_state) == (
        str(TAM_KY.code), "acknowledged", "accepted")
    assert [s.code for s in trace.hub.statuses] == ["01", "03"]
    for node in (*qn.nodes.values(), *qn.hubs.values()):
        assert node.store.audit.verify().ok


def test_a_broadcasts_copies_are_verified_once_then_again_after_a_minute(
        qn: Province, monkeypatch: pytest.MonkeyPatch) -> None:
    """The copies of one document come to the hub one per recipient, the same bytes each
    time: verified once (within RECENT); other bytes, or the same a minute later, again."""
    hub_module = sys.modules["docflow.hub"]

    calls: list[int] = []
    real = hub_module.verify

    def counted(packet: bytes, *args: object, **kwargs: object) -> object:
        calls.append(len(packet))
        return real(packet, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hub_module, "verify", counted)
    lgsp = qn.hub(LGSP)
    send(qn, PROVINCE, (TAM_KY, COMMUNE))
    packet = qn.node(PROVINCE).store.queries.packet(1)
    lgsp.receive_document(packet, TAM_KY.code)
    lgsp.receive_document(packet, COMMUNE.code)
    assert len(calls) == 1
    with pytest.raises(SecurityError):  # other bytes: verified, and refused
        lgsp.receive_document(packet.replace(b"4512", b"4513", 1), TAM_KY.code)
    assert len(calls) == 2
    qn.clock.advance(61)
    lgsp.receive_document(packet, TAM_KY.code)  # the same copy again, a minute later
    assert len(calls) == 3


def test_pull_mode_holds_packets_until_fetched_and_acknowledged(qn: Province) -> None:
    ref = send(qn, PROVINCE, (COMMUNE,))
    qn.node(PROVINCE).deliver()
    assert qn.hub(LGSP).deliver().forwarded == 0  # held for the commune to pull
    assert copies(qn.hub(LGSP), qn.hub(LGSP).store.relay.relayed(
        str(LGSP.code), qn.node(PROVINCE).document(ref).message_id,
        sender=str(PROVINCE.code)).id) == {
        str(COMMUNE.code): ("queued", "pending")}
    report = qn.node(COMMUNE).pull()
    assert (report.documents, report.refused) == (1, 0)
    qn.settle()
    assert copies(qn.node(PROVINCE), ref) == {str(COMMUNE.code): ("acknowledged", "arrived")}
    # A recall goes down the same way: held, pulled, answered.
    qn.node(PROVINCE).recall(ref, "ban hành nhầm")
    qn.settle()
    (document,) = qn.node(COMMUNE).inbox().items
    assert document.state == "recalled"
    (copy,) = [d for d in qn.node(PROVINCE).store.queries.deliveries(document_ref=ref).items
               if d.kind == "document"]
    assert (copy.business_state, copy.change_state) == ("recalled", "agreed")


def test_a_pull_of_one_kind_leaves_the_other(qn: Province) -> None:
    ref = send(qn, PROVINCE, (COMMUNE,))
    qn.node(PROVINCE).deliver()
    assert qn.node(COMMUNE).pull(kinds=("status",)).documents == 0  # nothing of that kind
    assert qn.node(COMMUNE).pull(kinds=("document",)).documents == 1
    qn.node(PROVINCE).recall(ref, "ban hành nhầm")
    qn.node(PROVINCE).deliver()
    assert qn.node(COMMUNE).pull(kinds=("document",)).statuses == 0  # the 13 waits
    assert qn.node(COMMUNE).pull(kinds=("status",)).statuses == 1
    with pytest.raises(ModelError, match="unknown packet kind 'edoc'"):
        qn.node(COMMUNE).pull(kinds=("edoc",))


def test_a_crash_between_pull_and_acknowledge_redelivers(qn: Province) -> None:
    send(qn, PROVINCE, (COMMUNE,))
    qn.node(PROVINCE).deliver()
    hub, commune = qn.hub(LGSP), qn.node(COMMUNE)
    token = sign_request(commune.credentials, "pending", "document", now=qn.clock())
    (item,) = hub.pending(token, "document", 10)
    commune.receive_document(item.packet)  # stored, then the commune "crashes"
    again = sign_request(commune.credentials, "pending", "document", now=qn.clock())
    assert hub.pending(again, "document", 10) == []  # leased
    qn.clock.advance(301)  # the lease runs out: offered again
    assert commune.pull().documents == 1  # a duplicate for the commune: same receipt
    assert commune.inbox().total == 1
    qn.settle()
    assert hub.pending(sign_request(commune.credentials, "pending", "document",
                                    now=qn.clock()), "document", 10) == []


def test_pull_requests_are_authenticated(qn: Province, pki: Pki) -> None:
    send(qn, PROVINCE, (COMMUNE,))
    qn.node(PROVINCE).deliver()
    hub = qn.hub(LGSP)
    commune = qn.credentials[COMMUNE.code]
    token = sign_request(commune, "pending", "document", now=qn.clock())
    (item,) = hub.pending(token, "document", 10)
    with pytest.raises(ReplayError, match="used before"):
        hub.pending(token, "document", 10)
    stale = sign_request(commune, "pending", "document", now=qn.clock() - dt.timedelta(hours=1))
    with pytest.raises(ReplayError, match="more than"):
        hub.pending(stale, "document", 10)
    with pytest.raises(SignerMismatchError, match="another request"):
        hub.pending(sign_request(commune, "pending", "status", now=qn.clock()), "document", 1)
    forged = replace(sign_request(commune, "pending", "document", now=qn.clock()),
                     organ=TAM_KY.code)
    with pytest.raises(SignerMismatchError, match="certificate is"):
        hub.pending(forged, "document", 10)
    rogue = sign_request(pki.rogue_province, "pending", "document", now=qn.clock())
    with pytest.raises(UntrustedCertificateError):
        hub.pending(rogue, "document", 10)
    # Another organ cannot acknowledge (or fail) the commune's packet, nor see it.
    district = qn.credentials[TAM_KY.code]
    with pytest.raises(NotFoundError, match="no such packet"):
        hub.acknowledge(sign_request(district, "acknowledge", str(item.handle),
                                     now=qn.clock()), item.handle, error="not mine")
    assert hub.pending(sign_request(district, "pending", "document", now=qn.clock()),
                       "document", 10) == []
    assert hub.store.queries.delivery(item.handle).attempts == 1
    message_id = verify(item.packet, pki.trust, now=qn.clock()).envelope.message_id
    with pytest.raises(NotFoundError, match="from this organ"):
        hub.trace(sign_request(district, "trace", message_id, now=qn.clock()), message_id)


def test_a_refused_pulled_packet_is_retried_then_dead_lettered(qn: Province) -> None:
    send(qn, PROVINCE, (COMMUNE,))
    qn.node(PROVINCE).deliver()
    hub = qn.hub(LGSP)
    commune = qn.credentials[COMMUNE.code]
    for attempt in range(8):
        token = sign_request(commune, "pending", "document", now=qn.clock())
        (item,) = hub.pending(token, "document", 10)
        hub.acknowledge(sign_request(commune, "acknowledge", str(item.handle), now=qn.clock()),
                        item.handle, error=f"disk full ({attempt})")
        qn.clock.advance(7200)
    (dead,) = hub.store.outbox.dead_letters().items
    assert dead.transport_state == "failed" and "disk full (7)" in (dead.last_error or "")


def test_across_provinces_through_the_national_axis(qn: Province) -> None:
    ref = send(qn, PROVINCE, (DA_NANG,))
    qn.settle()
    (received,) = qn.node(DA_NANG).inbox().items
    hops = [organ for organ, _ in qn.node(DA_NANG).trace(received.id).hops]
    assert hops == [str(PROVINCE.code), str(LGSP.code), str(AXIS.code), str(LGSP_DN.code)]
    qn.node(DA_NANG).reject(received.id, "không thuộc thẩm quyền")
    qn.settle()
    assert copies(qn.node(PROVINCE), ref) == {str(DA_NANG.code): ("acknowledged", "rejected")}


def test_a_broadcast_goes_once_per_recipient(qn: Province) -> None:
    ref = send(qn, PROVINCE, (TAM_KY, COMMUNE, DA_NANG))
    qn.settle()
    assert copies(qn.node(PROVINCE), ref) == {
        str(code): ("acknowledged", "arrived") for code in (TAM_KY.code, COMMUNE.code,
                                                           DA_NANG.code)}
    for organ in (TAM_KY, COMMUNE, DA_NANG):
        assert qn.node(organ).inbox().total == 1
    # Duplicate copies from the sender change nothing at the hub.
    packet = qn.node(PROVINCE).store.queries.packet(ref)
    hub = qn.hub(LGSP)
    before = hub.store.queries.deliveries(page_size=1000).total
    assert hub.receive_document(packet, TAM_KY.code) == hub.receive_document(packet,
                                                                             COMMUNE.code)
    assert hub.store.queries.deliveries(page_size=1000).total == before


def test_hub_refusals_change_nothing(qn: Province, pki: Pki) -> None:
    hub = qn.hub(LGSP)
    envelope = sample_envelope(sender=PROVINCE, recipients=(TAM_KY,), date=qn.clock().date())
    record = qn.node(PROVINCE).send(envelope.info, envelope.attachments)
    packet = qn.node(PROVINCE).store.queries.packet(record.document_ref)
    message_id = qn.node(PROVINCE).document(record.document_ref).message_id
    with pytest.raises(RoutingError, match="not among"):
        hub.receive_document(packet, COMMUNE.code)
    with pytest.raises(RoutingError, match="unknown organ"):
        hub.receive_document(packet, OrganCode("000.00.77.H41"))
    with pytest.raises(RoutingError, match="which recipient"):
        hub.receive_document(packet)
    tampered = packet.replace("Quảng Nam".encode(), b"Quang Nam", 1)
    with pytest.raises(SecurityError):
        hub.receive_document(tampered, TAM_KY.code)
    # A status between organs the hub never relayed a document between.
    status = replace(sample_status(envelope, StatusCode.ACCEPTED, reporter=COMMUNE),
                     timestamp=qn.clock())
    with pytest.raises(NotFoundError, match="never relayed"):
        hub.receive_status(sign_status(status, qn.credentials[COMMUNE.code]), PROVINCE.code)
    assert hub.store.queries.documents().total == 0
    assert hub.store.queries.deliveries().total == 0
    # A loop: the packet already went through this hub.
    hub.receive_document(packet, TAM_KY.code)
    relayed = hub.store.queries.packet(hub.store.relay.relayed(str(LGSP.code), message_id,
                                                      sender=str(PROVINCE.code)).id)
    with pytest.raises(RoutingError, match="loop"):
        hub.receive_document(relayed, TAM_KY.code)
    # Same message id, other bytes.
    other = sample_envelope(number="9999", sender=PROVINCE, recipients=(TAM_KY,),
                            date=qn.clock().date(), message_id=message_id)
    with pytest.raises(ReplayError):
        hub.receive_document(sign_envelope(other, pki.province), TAM_KY.code)
    assert hub.store.queries.deliveries().total == 1


def test_directory_refuses_loops_and_unknowns() -> None:
    directory = Directory.from_toml_text(DIRECTORY)
    assert directory.path(COMMUNE.code, DA_NANG.code) == [
        LGSP.code, AXIS.code, LGSP_DN.code, DA_NANG.code]
    assert directory.path(DA_NANG.code, COMMUNE.code) == [
        LGSP_DN.code, AXIS.code, LGSP.code, COMMUNE.code]
    with pytest.raises(RoutingError, match="unknown organ"):
        directory.next_hop(PROVINCE.code, "000.00.55.H41")
    with pytest.raises(RoutingError, match="loop"):
        directory.next_hop(LGSP.code, TAM_KY.code, trace=[LGSP.code])
    with pytest.raises(RoutingError, match="hop limit"):
        directory.next_hop(AXIS.code, TAM_KY.code,
                           trace=[OrganCode(f"000.00.9{i}.H50") for i in range(6)])
    with pytest.raises(Exception, match="cycle"):
        Directory.from_toml_text(DIRECTORY.replace(
            'name = "Trục liên thông văn bản quốc gia"',
            'name = "Trục"\nupstream = "000.00.90.H41"'))
    with pytest.raises(Exception, match="unknown hub"):
        Directory.from_toml_text(DIRECTORY.replace('hub = "000.00.90.H43"',
                                                   'hub = "000.00.91.H43"'))


def test_send_to_codes_takes_names_from_the_directory(qn: Province) -> None:
    envelope = sample_envelope(date=qn.clock().date())
    record = qn.node(PROVINCE).send(envelope.info, envelope.attachments,
                                    to=[COMMUNE.code, "000.00.00.H43"])
    packet = qn.node(PROVINCE).store.queries.packet(record.document_ref)
    recipients = verify(packet, qn.node(PROVINCE).trust, now=qn.clock()).envelope.info.recipients
    assert [(str(r.code), r.name) for r in recipients] == [
        (str(COMMUNE.code), COMMUNE.name), ("000.00.00.H43", DA_NANG.name)]
    assert len(record.deliveries) == 2


def test_no_organ_can_shadow_another_organs_document(qn: Province) -> None:
    """The province P sends Y to the district D. The commune B then sends D its own,
    validly signed document carrying Y's DocumentId: refused (a DocumentId names its
    sender's document). And should such a document be in a hub's store (written by an
    older version), lookups are scoped by sender and recipient: D's statuses for Y and
    P's recall still pass the hub."""
    ref = send(qn, PROVINCE, (TAM_KY,))
    qn.settle()
    y = qn.node(PROVINCE).document(ref)
    hub = qn.hub(LGSP)
    own = sample_envelope(sender=COMMUNE, recipients=(TAM_KY,), number="9",
                          date=qn.clock().date())
    forged = build_envelope(own).replace(own.info.document_id.encode(),
                                         y.document_id.encode())
    packet = sign(forged, qn.credentials[COMMUNE.code])
    before = hub.store.queries.documents().total
    with pytest.raises(SchemaError, match=r"does not begin with 000\.01\.01\.H41"):
        hub.receive_document(packet, TAM_KY.code)
    with pytest.raises(SchemaError, match="DocumentId"):
        qn.node(TAM_KY).receive_document(packet)
    assert hub.store.queries.documents().total == before
    # The shadow planted in the hub's store directly: B's own document, Y's DocumentId.
    qn.node(COMMUNE).send(own.info, own.attachments)
    qn.settle()
    with hub.store.engine.begin() as conn:
        shadow = conn.execute(update(documents).where(
            documents.c.organ == str(LGSP.code), documents.c.sender == str(COMMUNE.code)
        ).values(document_id=y.document_id))
        assert shadow.rowcount == 1
    received = next(d for d in qn.node(TAM_KY).inbox().items if d.sender == str(PROVINCE.code))
    qn.node(TAM_KY).accept(received.id)
    qn.settle()
    assert copies(qn.node(PROVINCE), ref) == {str(TAM_KY.code): ("acknowledged", "accepted")}
    qn.node(PROVINCE).recall(ref, "ban hành nhầm")
    qn.settle()
    assert qn.node(TAM_KY).document(received.id).state == "recalled"


def test_every_delivery_names_the_organ_whose_document_it_is(qn: Province) -> None:
    """Migration 0015: an outbox pass finds its own due deliveries by the row's organ, so
    every writer (sending, a hub's relay of documents and statuses, receipts queued back,
    acts, a recall's requests and answers) must write the document's organ there."""
    ref = send(qn, PROVINCE, (TAM_KY, COMMUNE, DA_NANG))
    qn.settle()
    for node in (qn.node(TAM_KY), qn.node(COMMUNE)):
        (copy,) = node.inbox().items
        node.accept(copy.id)
    qn.settle()
    qn.node(PROVINCE).recall(ref, "ban hành nhầm")
    qn.settle()
    checked = 0
    for endpoint in (*qn.nodes.values(), *qn.hubs.values()):
        with endpoint.store.engine.connect() as conn:
            rows = conn.execute(select(deliveries.c.organ, documents.c.organ).join(
                documents, documents.c.id == deliveries.c.document_ref)).all()
        assert all(owner == holder for owner, holder in rows), endpoint.code
        checked += len(rows)
    assert checked > 20
