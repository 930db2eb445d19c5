"""Channel trust against the second attack run (issue 25, items 7 and 8): a signature the
lenient reader could be made to overlook, and an unsigned twin of a signed document.
Under ``CHANNEL`` a packet without a verifiable signature is taken on the channel's
word; a packet that carries one anywhere is verified or refused, and a DocumentId names
one document per sender (the signed one is never shadowed)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from docflow.envelope import build_envelope
from docflow.errors import DocflowError
from docflow.model import StatusCode
from docflow.node import Node
from docflow.samples import PROVINCE, TAM_KY, sample_envelope
from docflow.security import TrustPolicy, Verdict, check_packet, sign
from docflow.store import Store, sqlite_url
from docflow.store._schema import audit_log
from docflow.transport import InMemoryTransport
from tests.conftest import Pki
from tests.hostile.catalogue import _status

CHANNEL = TrustPolicy.CHANNEL
SUBJECT = "Quyết định phê duyệt".encode()
FORGED = "Quyết định bãi bỏ".encode()


@pytest.fixture
def district(pki: Pki, tmp_path: Path) -> Iterator[Node]:
    store = Store.open(sqlite_url(tmp_path / "district.db"), clock=lambda: pki.now)
    yield Node(TAM_KY, pki.district, pki.trust, store, InMemoryTransport(),
               clock=lambda: pki.now)
    store.close()


def _signed(pki: Pki) -> bytes:
    return sign(build_envelope(sample_envelope()), pki.province)


def _hidden_behind_an_empty_holder(pki: Pki) -> bytes:
    changed = _signed(pki).replace(SUBJECT, FORGED, 1)
    return changed.replace(b"<edXML:Signature>",
                           b"<edXML:DigitalSignature/><edXML:Signature>", 1)


def _hidden_behind_a_decoy_header(pki: Pki) -> bytes:
    changed = _signed(pki).replace(SUBJECT, FORGED, 1)
    start = changed.index(b"<edXML:edXMLHeader>")
    end = changed.index(b"<edXML:TraceHeaderList") if b"<edXML:TraceHeaderList" in changed \
        else changed.index(b"<edXML:Signature>")
    decoy = (b"<edXML:edXMLHeader>" + changed[start + 19:end].replace(b' Id="edxml-header"', b"")
             + b"</edXML:edXMLHeader>")
    return changed[:start] + decoy + changed[start:]


def _signature_elsewhere(pki: Pki) -> bytes:
    """An unsigned packet carrying a ds:Signature (another packet's) among its
    attachments: a signature anywhere is verified, or the packet refused."""
    unsigned = build_envelope(sample_envelope(message_id="unsigned"))
    signed = _signed(pki)
    block = signed[signed.index(b"<ds:Signature"):signed.index(b"</ds:Signature>") + 15]
    return unsigned.replace(b"</AttachmentEncoded>", block + b"</AttachmentEncoded>", 1)


HIDDEN = {"an empty DigitalSignature before the real one": _hidden_behind_an_empty_holder,
          "a decoy edXMLHeader first": _hidden_behind_a_decoy_header,
          "a signature outside the header": _signature_elsewhere}


@pytest.mark.parametrize("build", list(HIDDEN.values()), ids=list(HIDDEN))
def test_a_hidden_signature_is_verified_or_refused(build, pki: Pki,  # type: ignore[no-untyped-def]
                                                   district: Node) -> None:
    packet = build(pki)
    with pytest.raises(DocflowError):
        check_packet(packet, pki.trust, now=pki.now, trust_policy=CHANNEL)
    with pytest.raises(DocflowError):
        district.receive_document(packet, trust_policy=CHANNEL)
    assert district.inbox().total == 0


def test_a_signed_packet_on_a_channel_is_still_verified(pki: Pki) -> None:
    received = check_packet(_signed(pki), pki.trust, now=pki.now, trust_policy=CHANNEL)
    assert received.verdict is Verdict.VERIFIED


def _twin() -> bytes:
    """The sample document rebuilt unsigned, without docflow's MessageId (as other
    systems write), its subject changed."""
    packet = build_envelope(sample_envelope()).replace(SUBJECT, FORGED, 1)
    return packet.replace(b"<edXML:MessageId>sample-0001</edXML:MessageId>", b"", 1)


def _actions(node: Node) -> list[str]:
    with node.store.engine.connect() as conn:
        return [row.action for row in conn.execute(select(audit_log.c.action))]


def test_an_unsigned_twin_after_the_signed_document_is_the_same_document(
        pki: Pki, district: Node) -> None:
    first = district.receive_document(_signed(pki), trust_policy=CHANNEL)
    again = district.receive_document(_twin(), trust_policy=CHANNEL)
    assert again == first  # the first receipt: the signed document stands
    (document,) = district.inbox().items
    assert (document.signature, document.subject.startswith("Quyết định phê duyệt")) == (
        "verified", True)
    assert _actions(district)[-1] == "duplicate"


def test_a_signed_document_after_its_unsigned_twin_wins(pki: Pki, district: Node) -> None:
    """The twin came first: the signed document is stored all the same, the twin is
    named superseded, and the sender's signed recall applies to the signed document."""
    district.receive_document(_twin(), trust_policy=CHANNEL)
    district.receive_document(_signed(pki), trust_policy=CHANNEL)
    documents = {d.signature: d for d in district.inbox().items}
    assert set(documents) == {"absent", "verified"}
    assert "superseded" in _actions(district)
    recall = _status(pki, StatusCode.RECALL_REQUESTED, reporter=PROVINCE, number="4512")
    district.receive_status(recall, trust_policy=CHANNEL)
    after = {d.signature: d for d in district.inbox().items}
    assert after["verified"].state != documents["verified"].state  # the recall's answer
    assert after["absent"].state == documents["absent"].state  # the twin untouched
    # A later unsigned rebuild is the signed document again, not a third one.
    district.receive_document(_twin().replace(FORGED, "Quyết định khác".encode(), 1),
                              trust_policy=CHANNEL)
    assert district.inbox().total == 2
