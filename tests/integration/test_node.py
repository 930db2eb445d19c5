"""Two nodes (the province and a district) over the in-memory transport: real keys, real
signatures, real SQLite stores. Sending, signed receipts, statuses back, recall,
duplicates, tampered receipts, strangers, a node that is down."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import func, select

from docflow.errors import (
    ConfigError,
    DigestMismatchError,
    LifecycleError,
    MissingSignatureError,
    ModelError,
    NotFoundError,
    ReplayError,
    RoutingError,
)
from docflow.model import OrganCode, OrganInfo, StatusCode
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope, sample_status
from docflow.security import TrustPolicy, issue_certificate, sign_envelope, sign_status, verify
from docflow.store import Store, sqlite_url
from docflow.store._schema import audit_log, metadata
from docflow.store.memory import MemoryStore
from docflow.store.protocols import NodeStore
from docflow.transport import InMemoryTransport
from tests.conftest import Clock, Pki


@dataclass
class Network:
    province: Node
    district: Node
    transport: InMemoryTransport
    clock: Clock


@pytest.fixture(params=["sqlite", "memory"])
def net(pki: Pki, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Network]:
    """The two nodes on SQLite files, and again on in-memory stores: the services'
    behaviour does not depend on the store under them."""
    clock = Clock(pki.now)
    transport = InMemoryTransport()
    nodes = []
    for organ, credentials in ((PROVINCE, pki.province), (TAM_KY, pki.district)):
        store: NodeStore = Store.open(
            sqlite_url(tmp_path / f"{organ.code}.db"), clock=clock, rnd=lambda: 0.5,
        ) if request.param == "sqlite" else MemoryStore(clock=clock, rnd=lambda: 0.5)
        node = Node(organ, credentials, pki.trust, store, transport, clock=clock)
        transport.register(organ.code, node)
        nodes.append(node)
    yield Network(nodes[0], nodes[1], transport, clock)
    for node in nodes:
        node.store.close()


def send_letter(net: Network, number: str = "4512") -> int:
    info = sample_envelope(number=number).info
    return net.province.send(info, sample_envelope(number=number).attachments).document_ref


def only_delivery(node: Node, document_ref: int):  # type: ignore[no-untyped-def]
    (delivery,) = node.store.queries.deliveries(document_ref=document_ref).items
    return delivery


def inbox(node: Node):  # type: ignore[no-untyped-def]
    return node.store.queries.documents(direction="in").items


def test_send_receipt_and_statuses_back(net: Network) -> None:
    ref = send_letter(net)
    assert net.province.deliver().delivered == 1
    (received,) = inbox(net.district)
    assert (received.state, received.code) == ("received", "4512/QĐ-UBND")
    delivery = only_delivery(net.province, ref)
    assert (delivery.transport_state, delivery.business_state) == ("acknowledged", "arrived")
    for act, expected in ((net.district.accept, "accepted"), (net.district.assign, "assigned"),
                          (net.district.process, "processing"),
                          (net.district.complete, "completed")):
        act(received.id)
        net.clock.advance(60)
        assert net.district.deliver().delivered == 1
        assert only_delivery(net.province, ref).business_state == expected
    assert net.province.store.audit.verify().ok and net.district.store.audit.verify().ok
    machines = {entry.machine for entry in net.province.store.queries.history(ref)}
    assert machines == {"outgoing", "transport", "delivery"}


def test_duplicate_delivery_returns_the_same_receipt(net: Network) -> None:
    ref = send_letter(net)
    net.province.deliver()
    packet = net.province.store.queries.packet(ref)
    first = net.transport.send_document(TAM_KY.code, packet)
    second = net.transport.send_document(TAM_KY.code, packet)
    assert first == second
    assert len(inbox(net.district)) == 1


class Tampering:
    """Corrupts the receipts that come back, or not."""

    def __init__(self, inner: InMemoryTransport):
        self.inner, self.active = inner, True

    def send_document(self, recipient: OrganCode, packet: bytes, *,
                      via: OrganCode | None = None) -> bytes:
        receipt = self.inner.send_document(recipient, packet, via=via)
        return receipt.replace(b"StatusCode>01<", b"StatusCode>03<") if self.active else receipt

    def send_status(self, recipient: OrganCode, packet: bytes, *,
                    via: OrganCode | None = None) -> None:
        self.inner.send_status(recipient, packet, via=via)


def test_a_tampered_receipt_is_no_receipt(net: Network) -> None:
    tampering = Tampering(net.transport)
    net.province.transport = tampering
    ref = send_letter(net)
    report = net.province.deliver()
    assert (report.delivered, report.failed) == (0, 1)
    assert "DigestMismatchError" in (only_delivery(net.province, ref).last_error or "")
    assert only_delivery(net.province, ref).transport_state == "retrying"
    tampering.active = False
    net.clock.advance(3600)
    assert net.province.deliver().delivered == 1
    assert only_delivery(net.province, ref).transport_state == "acknowledged"
    assert len(inbox(net.district)) == 1  # the district kept one copy all along


def test_a_receipt_for_other_bytes_does_not_count(net: Network) -> None:
    ref = send_letter(net)
    packet = net.province.store.queries.packet(ref)
    stale = net.district.receive_document(packet)
    other = replace(sample_envelope(), message_id="another")  # a receipt for another message
    forged = sign_status(replace(sample_status(other), timestamp=net.clock()),
                         net.district.credentials)
    with pytest.raises(Exception, match="receipt does not prove"):
        net.province._check_receipt(forged, TAM_KY.code, None, "sample-0001", packet)
    assert net.province._check_receipt(stale, TAM_KY.code, None, only_message_id(net, ref),
                                       packet)


def only_message_id(net: Network, ref: int) -> str:
    return net.province.store.queries.document(ref).message_id


def test_documents_not_addressed_to_the_node_are_refused(net: Network, pki: Pki) -> None:
    ref = send_letter(net)
    packet = net.province.store.queries.packet(ref)
    stranger = Node(replace(PROVINCE, code=OrganCode("000.00.90.H41"), name="LGSP"), pki.hub,
                    pki.trust, net.district.store, net.transport, clock=net.clock)
    with pytest.raises(RoutingError, match="not addressed"):
        stranger.receive_document(packet)
    assert inbox(net.district) == ()


def test_status_from_an_organ_the_document_never_went_to(net: Network, pki: Pki) -> None:
    ref = send_letter(net)
    net.province.deliver()
    envelope = sample_envelope()
    hub = replace(PROVINCE, code=OrganCode("000.00.90.H41"), name="LGSP")
    status = replace(sample_status(envelope, StatusCode.ACCEPTED, reporter=hub),
                     timestamp=net.clock())
    with pytest.raises(NotFoundError, match="never sent"):
        net.province.receive_status(sign_status(status, pki.hub))
    assert only_delivery(net.province, ref).business_state == "arrived"


def test_recall_agreed_while_received_refused_once_completed(net: Network) -> None:
    ref = send_letter(net)
    net.province.deliver()
    net.province.recall(ref, "ban hành nhầm")
    net.province.deliver()  # the 13 goes to the district, which answers by its state
    (document,) = inbox(net.district)
    assert net.district.store.queries.document(document.id).state == "recalled"
    net.district.deliver()  # the 15 comes back
    delivery = only_delivery_of_kind(net.province, ref, "document")
    assert (delivery.business_state, delivery.change_state) == ("recalled", "agreed")

    second = send_letter(net, "4600")
    net.province.deliver()
    (_, doc) = sorted(inbox(net.district), key=lambda d: d.id)
    for act in (net.district.accept, net.district.process, net.district.complete):
        act(doc.id)
    # The district's 03/05/06 are still in its outbox: the province asks for the copy back.
    net.province.recall(second, "ban hành nhầm")
    net.province.deliver()
    assert net.district.store.queries.document(doc.id).state == "completed"  # refused: kept
    net.district.deliver()
    delivery = only_delivery_of_kind(net.province, second, "document")
    assert (delivery.business_state, delivery.change_state) == ("completed", "refused")
    history = net.province.store.queries.history(second)
    (refusal,) = [h for h in history if h.machine == "change" and h.to_state == "refused"]
    assert refusal.reason == "the document is already completed"
    # Once the province knows the copy is completed, it does not even ask, and says so.
    with pytest.raises(LifecycleError, match=r"no recipient holds it any more to recall "
                       r"\(1 completed\)"):
        net.province.recall(second, "lần nữa")


def only_delivery_of_kind(node: Node, ref: int, kind: str):  # type: ignore[no-untyped-def]
    (delivery,) = [d for d in node.store.queries.deliveries(document_ref=ref).items
                   if d.kind == kind]
    return delivery


def test_a_node_that_is_down_is_retried(net: Network) -> None:
    net.transport.unregister(TAM_KY.code)
    ref = send_letter(net)
    report = net.province.deliver()
    assert report.failed == 1 and "no route" in report.errors[0]
    net.transport.register(TAM_KY.code, net.district)
    assert net.province.deliver().delivered == 0  # not due yet
    net.clock.advance(3600)
    assert net.province.deliver().delivered == 1
    assert only_delivery(net.province, ref).attempts == 2


def test_deliveries_sent_side_by_side(net: Network) -> None:
    """An outbox pass with four workers: every copy delivered once, each receipt verified
    and recorded in its own transaction, the audit chain still one chain."""
    refs = [send_letter(net, number=str(1000 + n)) for n in range(12)]
    report = net.province.deliver(workers=4)
    assert (report.delivered, report.failed) == (12, 0)
    assert len(inbox(net.district)) == 12
    for ref in refs:
        assert only_delivery(net.province, ref).transport_state == "acknowledged"
    assert net.province.store.audit.verify().ok and net.district.store.audit.verify().ok
    # One document's statuses to one organ still travel one after the other, in order.
    received = inbox(net.district)[0]
    for act in (net.district.accept, net.district.assign, net.district.process,
                net.district.complete):
        act(received.id)
    assert net.district.deliver(workers=4).delivered == 4
    (ref,) = [r for r in refs if net.province.store.queries.document(r).message_id
              == received.message_id]
    path = [entry.to_state for entry in net.province.store.queries.history(ref)
            if entry.machine == "delivery"]
    assert path == ["arrived", "accepted", "assigned", "processing", "completed"]
    net.transport.unregister(TAM_KY.code)
    send_letter(net, number="2000")
    send_letter(net, number="2001")
    report = net.province.deliver(workers=4)
    assert (report.delivered, report.failed) == (0, 2)
    assert all("no route" in error for error in report.errors)
    with pytest.raises(ConfigError, match="at least one worker"):
        net.province.deliver(workers=0)


def test_replace_and_update(net: Network) -> None:
    ref = send_letter(net)
    net.province.deliver()
    new = replace(sample_envelope(number="4600").info, subject="Quyết định thay thế")
    net.province.replace(ref, new, reason="sai sót nội dung")
    assert net.province.deliver().delivered == 1
    documents = sorted(inbox(net.district), key=lambda d: d.id)
    assert [d.state for d in documents] == ["replaced", "received"]
    assert documents[1].subject == "Quyết định thay thế"
    net.district.deliver()  # 01 for the new one, 15 for the replaced one
    copy = only_delivery_of_kind(net.province, ref, "document")
    assert (copy.business_state, copy.change_state) == ("replaced", "agreed")

    second = send_letter(net, "4700")
    net.province.deliver()
    (doc,) = [d for d in inbox(net.district) if d.code.startswith("4700/")]
    for act in (net.district.accept, net.district.process, net.district.complete):
        act(doc.id)  # its 03/05/06 are still in its outbox when the update comes
    updated = replace(sample_envelope(number="4701").info, subject="Quyết định sửa đổi")
    net.province.update(second, updated, reason="bổ sung")
    net.province.deliver()
    net.district.deliver()
    copy = only_delivery_of_kind(net.province, second, "document")
    assert (copy.business_state, copy.change_state) == ("completed", "refused")
    assert net.district.store.queries.document(doc.id).state == "completed"
    # Once the province knows a copy is completed, an update does not ask it again.
    net.province.update(second, replace(updated, code_number="4702"), reason="lần nữa")
    assert only_delivery_of_kind(net.province, second, "document").change_state == "refused"
    with pytest.raises(ModelError, match="sends as"):
        net.district.update(doc.id, updated, reason="x")


def test_a_replacement_and_its_answer_are_stored_together(net: Network) -> None:
    from docflow.store import StoreHooks

    ref = send_letter(net)
    net.province.deliver()
    (original,) = inbox(net.district)

    class CrashOnce(StoreHooks):
        armed = True

        def checkpoint(self, name: str) -> None:
            if name == "after_state" and self.armed:  # answering the original
                self.armed = False
                raise RuntimeError("power cut")

    new = replace(sample_envelope(number="4800").info, subject="Quyết định thay thế")
    record = net.province.replace(ref, new, reason="sai sót")
    packet = net.province.store.queries.packet(record.document_ref)
    net.district.store.hooks = CrashOnce()
    with pytest.raises(RuntimeError, match="power cut"):  # the process dies mid-commit
        net.district.receive_document(packet)
    assert [d.state for d in inbox(net.district)] == ["received"]
    assert net.district.store.queries.document(original.id).state == "received"
    net.district.receive_document(packet)  # the sender's retry
    assert sorted(d.state for d in inbox(net.district)) == ["received", "replaced"]
    net.district.deliver()
    copy = only_delivery_of_kind(net.province, ref, "document")
    assert (copy.business_state, copy.change_state) == ("replaced", "agreed")


# ------------------------------------------------------------ message identity and replays

def rows(node: Node) -> dict[str, int]:
    """How many rows each table of the node's store holds."""
    if isinstance(node.store, MemoryStore):
        tables = node.store.database.tables
        return {name: len(getattr(tables, name)) for name in (
            "documents", "envelopes", "deliveries", "history", "status_events", "received",
            "dead_letters", "audit")}
    assert isinstance(node.store, Store)
    with node.store.engine.connect() as conn:
        return {table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in metadata.sorted_tables}


def audit_actions(node: Node) -> list[str]:
    """The actions of the node's audit chain, in order."""
    if isinstance(node.store, MemoryStore):
        return [action for _, action, _, _ in node.store.audit.entries()]
    assert isinstance(node.store, Store)
    with node.store.engine.connect() as conn:
        return [row[0] for row in conn.execute(select(audit_log.c.action)
                                               .order_by(audit_log.c.seq))]


def utf16(packet: bytes) -> bytes:
    """The same packet re-encoded as UTF-16 with a byte order mark: other bytes, the same
    signed content (C14N reads characters, not bytes)."""
    text = packet.decode("utf-8").replace('encoding="UTF-8"', 'encoding="UTF-16"', 1)
    return text.encode("utf-16")


def test_a_re_encoded_copy_is_the_same_message_and_never_pre_empts_the_original(
        net: Network) -> None:
    """Someone on the path delivers a UTF-16 copy of the province's packet first: it is
    the province's signed content, so it is stored; the province's own delivery is then
    the same message (the first receipt, nothing written), and that receipt proves the
    province's delivery, since it names the signed content, not the bytes."""
    ref = send_letter(net)
    packet = net.province.store.queries.packet(ref)
    first = net.district.receive_document(utf16(packet))
    before = rows(net.district)
    assert net.province.deliver().delivered == 1
    assert rows(net.district) == before
    assert only_delivery(net.province, ref).transport_state == "acknowledged"
    assert net.district.receive_document(packet) == first
    assert len(inbox(net.district)) == 1


def test_another_organs_message_id_never_shadows(net: Network, pki: Pki) -> None:
    """Message ids are the sender's to choose: an organ that takes the province's message
    id for its own document first does not make the province's document a 'replay'."""
    dai_loc = OrganInfo(OrganCode("000.00.05.H41"), "UBND huyện Đại Lộc")
    ref = send_letter(net)
    message_id = net.province.store.queries.document(ref).message_id
    impostor = replace(sample_envelope(sender=dai_loc, number="77"), message_id=message_id)
    net.district.receive_document(sign_envelope(
        impostor, issue_certificate(pki.ca, str(dai_loc.code), dai_loc.name, now=pki.now)))
    assert net.province.deliver().delivered == 1
    assert {(d.sender, d.message_id) for d in inbox(net.district)} == {
        (str(dai_loc.code), message_id), (str(PROVINCE.code), message_id)}


def test_a_replayed_status_writes_nothing(net: Network) -> None:
    """The same status packet again (its very bytes, or re-encoded) changes no state and
    adds no envelope, status event or audit entry."""
    ref = send_letter(net)
    net.province.deliver()
    (received,) = inbox(net.district)
    net.district.accept(received.id)
    (status,) = [d for d in net.district.store.queries.deliveries(document_ref=received.id).items
                 if d.kind == "status"]
    packet = net.district.store.queries.delivery_packet(status.id)
    net.district.deliver()
    assert only_delivery(net.province, ref).business_state == "accepted"
    before = rows(net.province)
    for replay in (packet, utf16(packet), packet):
        net.province.receive_status(replay)
    assert rows(net.province) == before


# ------------------------------------------------------------ packets of other systems

INTEROP = Path(__file__).resolve().parents[1] / "data" / "interop"


def test_a_channel_accepts_what_other_systems_write_and_keeps_the_verdict(
        net: Network) -> None:
    """The official library's packet (its placeholder signature block, no MessageId):
    refused between docflow peers (no verifiable signature), accepted from an
    authenticated channel, stored with its verdict and findings."""
    packet = (INTEROP / "new.edxml").read_bytes()
    with pytest.raises(MissingSignatureError):
        net.province.receive_document(packet)
    receipt = net.province.receive_document(packet, trust_policy=TrustPolicy.CHANNEL)
    (document,) = inbox(net.province)
    assert (document.sender, document.code) == ("000.00.07.H41", "112/UBND-VP")
    assert document.signature == "unverifiable"
    assert "M.Attachment.ContentId" in {finding.code for finding in document.findings}
    status = verify(receipt, net.province.trust, now=net.clock()).status
    assert status.received_sha256 == hashlib.sha256(packet).hexdigest()
    assert verify(receipt, net.province.trust, now=net.clock()).status.code.value == "01"


def test_a_resend_rebuilt_by_another_system_is_the_same_document(net: Network) -> None:
    """Other systems rebuild a packet on each retry (new timestamps): without docflow's
    MessageId, the same DocumentId and business type with other bytes is the same
    document again: the first receipt, nothing new but a duplicate warning."""
    packet = (INTEROP / "new.edxml").read_bytes()
    first = net.province.receive_document(packet, trust_policy=TrustPolicy.CHANNEL)
    rebuilt = packet.replace(b"2026/11/20 08:30:00", b"2026/11/20 08:45:12")
    before = len(inbox(net.province))
    assert net.province.receive_document(rebuilt, trust_policy=TrustPolicy.CHANNEL) == first
    assert len(inbox(net.province)) == before
    assert audit_actions(net.province)[-1] == "duplicate"


def test_a_real_signature_that_does_not_verify_is_refused_on_every_channel(
        net: Network) -> None:
    ref = send_letter(net)
    packet = net.province.store.queries.packet(ref)
    tampered = packet.replace("Quyết định phê duyệt".encode(), "Quyết định bãi bỏ".encode())
    for policy in TrustPolicy:
        with pytest.raises(DigestMismatchError):
            net.district.receive_document(tampered, trust_policy=policy)
    assert inbox(net.district) == ()
    # A docflow peer's MessageId keeps the replay rule: other content is refused.
    net.district.receive_document(packet)
    other = sign_envelope(replace(sample_envelope(number="4513"),
                                  message_id=net.province.store.queries.document(ref).message_id),
                          net.province.credentials)
    with pytest.raises(ReplayError):
        net.district.receive_document(other)


def _change_rows(node: Node, ref: int) -> list[tuple[str, str, str]]:
    return [(h.event, h.from_state, h.to_state) for h in node.store.queries.history(ref)
            if h.machine == "change"]


@pytest.mark.parametrize("kind", ["recall", "update", "replace"])
@pytest.mark.parametrize("agreed", [True, False], ids=["agreed", "refused"])
def test_the_history_of_every_change_path_names_its_events(net: Network, kind: str,
                                                            agreed: bool) -> None:
    """Each row of the change machine's history carries the event that moved it
    (request, then agree or refuse), never the state it moved to."""
    ref = send_letter(net)
    net.province.deliver()
    (document,) = inbox(net.district)
    if not agreed:  # completed (its statuses not yet sent): the district refuses
        for act in (net.district.accept, net.district.process, net.district.complete):
            act(document.id)
    if kind == "recall":
        net.province.recall(ref, "ban hành nhầm")
    else:
        new = sample_envelope(number="4513").info
        (net.province.update if kind == "update" else net.province.replace)(
            ref, new, reason="sửa trích yếu")
    net.province.deliver()
    net.district.deliver()
    answer = "agree" if agreed else "refuse"
    final = "agreed" if agreed else "refused"
    assert _change_rows(net.province, ref) == [("request", "none", "requested"),
                                               (answer, "requested", final)]
    # The sender's document follows its copies (issue 27, D3): recalled or replaced once
    # every copy is; sent while one stands.
    expected = {"recall": "recalled", "replace": "replaced"}.get(kind, "sent") if agreed \
        else "sent"
    assert net.province.store.queries.document(ref).state == expected


def test_a_number_and_notation_are_used_once_a_year(net: Network) -> None:
    """Phụ lục VI III.1.h: a second document with the number and notation of one sent
    that year is refused (it would share a register line, and receivers would take it
    for the first); the next year the numbers start again."""
    import datetime as dt

    first = sample_envelope(number="4512", date=dt.date(2026, 3, 2)).info
    net.province.send(first)
    again = sample_envelope(number="4512", date=dt.date(2026, 5, 5)).info
    with pytest.raises(ModelError, match=r"sent 4512/QĐ-UBND on 02/03/2026 already"):
        net.province.send(again)
    assert len(net.province.outbox().items) == 1  # nothing signed, nothing written
    net.province.send(sample_envelope(number="4512", date=dt.date(2027, 1, 4)).info)
    assert net.province.next_number(2026) == "4513"


def test_a_repeated_number_and_notation_is_received_with_a_warning(net: Network,
                                                                  pki: Pki) -> None:
    """Phụ lục VI III.1.h at the receiver: another document of the same sender, the same
    year, with the number and notation of one received before (another DocumentId, so
    not the same document) is received, marked with the first one's id and audited."""
    import datetime as dt

    first = sign_envelope(sample_envelope(number="777", date=dt.date(2026, 3, 2)),
                          pki.province)
    again = sign_envelope(replace(
        sample_envelope(number="777", date=dt.date(2026, 6, 1)), message_id="other"),
        pki.province)
    net.district.receive_document(first)
    net.district.receive_document(again)
    older, newer = sorted(inbox(net.district), key=lambda d: d.id)
    assert (older.duplicate_of, newer.duplicate_of) == (None, older.id)
    assert audit_actions(net.district)[-2:] == ["duplicate", "receive"]
    next_year = sign_envelope(replace(
        sample_envelope(number="777", date=dt.date(2027, 1, 4)), message_id="third"),
        pki.province)
    net.district.receive_document(next_year)
    assert max(inbox(net.district), key=lambda d: d.id).duplicate_of is None


def test_a_document_to_its_own_organ_is_refused_before_signing(net: Network) -> None:
    """A copy to oneself would go round the network and be refused by this node at every
    attempt, then dead-lettered: it is refused at the send, nothing stored."""
    info = sample_envelope().info
    to_self = replace(info, recipients=(TAM_KY, PROVINCE))
    with pytest.raises(RoutingError, match="not sent to its own organ") as caught:
        net.province.send(to_self, sample_envelope().attachments)
    assert caught.value.where is not None and str(PROVINCE.code) in caught.value.where
    assert net.province.store.queries.documents(direction="out").total == 0


@pytest.mark.parametrize("message_id", ["a\x00b", "x" * 129, "<evil/>", "với dấu"])
def test_a_message_id_edxml_cannot_carry_is_refused_before_signing(
        net: Network, message_id: str) -> None:
    letter = sample_envelope()
    with pytest.raises(ModelError, match="not a message id"):
        net.province.send(letter.info, letter.attachments, message_id=message_id)
    ref = send_letter(net)
    with pytest.raises(ModelError, match="not a message id"):
        net.province.replace(ref, sample_envelope(number="4513").info, reason="thay thế",
                             message_id=message_id)
    assert net.province.store.queries.documents(direction="out").total == 1
