"""A recall as Nghị định 30/2020 defines it (Art. 18.4.b; Phụ lục VI III.8), on SQLite and in
memory: when the receiver agrees, its copy is destroyed (the packet and the attachments
leave the store; reading them is a NotFoundError naming the tombstone), the metadata,
the reason and a tombstone with the digests of what was removed stay (they match the
sender's packet: the tombstone proves what went), the audit chain records it and still
verifies; the sender's recalled document is frozen (no update, no replacement)."""

from __future__ import annotations

import hashlib

import pytest

from docflow.errors import LifecycleError, NotFoundError
from docflow.node import Node
from docflow.samples import sample_envelope


def test_an_agreed_recall_destroys_the_copy_and_leaves_a_tombstone(
        both_stores: tuple[Node, Node]) -> None:
    province, district = both_stores
    envelope = sample_envelope()
    sent = province.send(envelope.info, envelope.attachments).document_ref
    province.deliver()
    (received,) = district.inbox().items
    original = province.store.queries.packet(sent)
    assert district.store.queries.packet(received.id) == original  # before the recall
    province.recall(sent, "ban hành nhầm")
    province.deliver()  # the 13 reaches the district, which agrees: its copy goes
    district.deliver()  # the 15 comes back

    copy = district.document(received.id)
    assert (copy.state, copy.code, copy.subject) == ("recalled", received.code,
                                                     received.subject)  # metadata stays
    with pytest.raises(NotFoundError, match="destroyed when its recall was agreed") as gone:
        district.store.queries.packet(received.id)
    tombstone = district.store.queries.tombstone(received.id)
    assert tombstone is not None and tombstone.packet_sha256 in str(gone.value.hint)
    # what was removed is what the sender sent, byte for byte
    assert tombstone.packet_sha256 == hashlib.sha256(original).hexdigest()
    assert tombstone.packet_size == len(original)
    assert tombstone.attachments == tuple(
        (att.name, hashlib.sha256(att.data).hexdigest(), len(att.data))
        for att in envelope.attachments)
    assert tombstone.reason == "ban hành nhầm"
    assert district.store.queries.attachments(received.id) == []
    trace = district.trace(received.id)
    assert trace.hops == () and trace.document.state == "recalled"
    assert district.store.audit.verify().ok
    # the sender's document is frozen
    assert province.document(sent).state == "recalled"
    for change in (province.update, province.replace):
        with pytest.raises(LifecycleError):
            change(sent, sample_envelope(number="4513").info, reason="sửa")
