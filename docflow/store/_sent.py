"""The rows of a document an organ sends: the document (signed, then sent), its
attachments, its packet, one queued delivery per recipient and the audit entry, written
in bulk (a batch costs a handful of round trips; on PostgreSQL one document is one
statement). The outbox records new documents with it, the lifecycle an update or a
replacement."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, text

from docflow.envelope import Envelope
from docflow.errors import StoreError
from docflow.lifecycle import (
    CHANGE,
    DELIVERY,
    OUTGOING,
    TRANSPORT,
    Direction,
    MessageKind,
    OutgoingEvent,
    OutgoingState,
    Step,
)
from docflow.spool import PacketData, Spool, as_bytes
from docflow.store import _rows
from docflow.store import _schema as s
from docflow.store._unit import Transaction
from docflow.store._views import OutgoingRecord

__all__ = ["record"]


def record(tx: Transaction, items: Sequence[tuple[Envelope, PacketData]], *, where: str
           ) -> list[OutgoingRecord]:
    """The rows of signed documents to send, of one sender, in ``tx``: each document
    (signed, then sent), its attachments, its packet and one queued delivery per
    recipient, audited (the outbox pattern: workers deliver them afterwards)."""
    # Bulk statements (executemany, RETURNING in parameter order): a batch costs a
    # handful of round trips, not a handful per document.
    steps: list[tuple[OutgoingEvent, OutgoingState, Step[OutgoingState]]] = []
    state = OUTGOING.initial
    for event in (OutgoingEvent.SIGN, OutgoingEvent.SEND):
        step = OUTGOING.apply(state, event)
        steps.append((event, state, step))
        state = step.state
    # (a spooled packet goes the general way: its pieces are written after its row)
    if len(items) == 1 and tx.conn.dialect.name == "postgresql" and not isinstance(
            items[0][1], Spool):
        records = [_record_one_pg(tx, *items[0], state, steps, where)]
        _register(tx, items, records)
        return records
    refs = _rows.insert_ids(tx, s.documents, [
        _rows.document_values(tx, envelope, Direction.OUT, state) for envelope, _ in items])
    tx.checkpoint("after_document")
    _rows.attachment_rows(tx, [(ref, envelope) for ref, (envelope, _) in zip(
        refs, items, strict=True)])
    tx.checkpoint("after_attachments")
    tx.driver.executemany(_rows.INSERT["history"], [
        {"document_ref": ref, "delivery_ref": None, "machine": OUTGOING.name,
         "event": event, "from_state": before, "to_state": step.state,
         "final": step.final, "reason": None, "at": tx.now}
        for ref in refs for event, before, step in steps])
    digests = [_rows.sha256(packet) for _, packet in items]
    envelope_refs = _rows.insert_ids(tx, s.envelopes, [
        {"document_ref": ref, "kind": MessageKind.DOCUMENT, "direction": Direction.OUT,
         "message_id": envelope.message_id, "sha256": digest,
         "size": len(packet), "raw": packet, "created_at": tx.now}
        for ref, (envelope, packet), digest in zip(refs, items, digests, strict=True)])
    tx.checkpoint("after_envelope")
    delivery_rows, owners = [], []
    for ref, envelope_ref, (envelope, _) in zip(refs, envelope_refs, items, strict=True):
        for recipient in envelope.info.recipients:
            delivery_rows.append(_rows.delivery_values(
                tx, ref, MessageKind.DOCUMENT, envelope_ref, str(recipient.code),
                str(envelope.info.sender.code)))
            owners.append(ref)
    delivery_ids = _rows.insert_ids(tx, s.deliveries, delivery_rows)
    tx.checkpoint("after_deliveries")
    owned: dict[int, list[int]] = {}
    for delivery, owner in zip(delivery_ids, owners, strict=True):
        owned.setdefault(owner, []).append(delivery)
    records = []
    for ref, (envelope, _), digest in zip(refs, items, digests, strict=True):
        records.append(OutgoingRecord(ref, tuple(owned.get(ref, ()))))
        _audit_send(tx, ref, envelope, digest)
    _register(tx, items, records)
    return records


def _register(tx: Transaction, items: Sequence[tuple[Envelope, PacketData]],
              records: Sequence[OutgoingRecord]) -> None:
    """The sent documents' numbers in their organ's outgoing register, by the year each
    is dated."""
    years: dict[int, list[int]] = {}
    for (envelope, _), record in zip(items, records, strict=True):
        years.setdefault(envelope.info.promulgation_date.year, []).append(
            record.document_ref)
    for year, refs in sorted(years.items()):
        _rows.register(tx, tx.organ, "out", year, refs)

def _audit_send(tx: Transaction, ref: int, envelope: Envelope, digest: str) -> None:
    tx.audit("send", f"document:{ref}", {
        "message_id": envelope.message_id, "document_id": envelope.info.document_id,
        "sha256": digest, "to": [str(r.code) for r in envelope.info.recipients],
    })

def _record_one_pg(tx: Transaction, envelope: Envelope, packet: PacketData, state: OutgoingState,
                   steps: Sequence[tuple[OutgoingEvent, OutgoingState, Step[OutgoingState]]],
                   where: str) -> OutgoingRecord:
    """:func:`record` of one document on PostgreSQL: the same rows, written
    by one statement (data-modifying CTEs) instead of seven: on PostgreSQL the cost
    of a document is the client's work per statement, not the rows."""
    hashed = [(att, _rows.sha256(att.data)) for att in envelope.attachments]
    attachments = {sha: att.data for att, sha in hashed}  # stored once by hash
    digest = _rows.sha256(packet)
    recipients = [str(r.code) for r in envelope.info.recipients]
    row = tx.driver.fetchone(_OUTGOING_PG, {
        **_rows.document_values(tx, envelope, Direction.OUT, state),
        "now": tx.now,
        "a_sha256": list(attachments), "a_size": [len(d) for d in attachments.values()],
        "a_content": list(attachments.values()),
        "l_position": list(range(len(hashed))), "l_sha256": [sha for _, sha in hashed],
        "l_name": [att.name for att, _ in hashed],
        "l_content_type": [att.content_type for att, _ in hashed],
        "l_content_id": [att.content_id for att, _ in hashed],
        "l_description": [att.description for att, _ in hashed],
        "h_machine": OUTGOING.name, "h_event": [event for event, _, _ in steps],
        "h_from": [before for _, before, _ in steps],
        "h_to": [step.state for _, _, step in steps],
        "h_final": [step.final for _, _, step in steps],
        "e_sha256": digest, "e_size": len(packet), "e_raw": as_bytes(packet),
        "v_recipient": recipients, "v_transport": TRANSPORT.initial,
        "v_business": DELIVERY.initial, "v_change": CHANGE.initial,
    })
    if row is None:  # the statement's SELECT always gives one row
        raise StoreError("recording the document returned nothing", where=where)
    ref, delivery_ids = int(row[0]), tuple(int(i) for i in row[1] or ())
    for point in ("after_document", "after_attachments", "after_envelope",
                  "after_deliveries"):
        tx.checkpoint(point)
    _audit_send(tx, ref, envelope, digest)
    return OutgoingRecord(ref, delivery_ids)


# One outgoing document on PostgreSQL in one statement (Outbox._record_one_pg): the
# document, its attachments (stored once by hash) and their links, its two history rows,
# the envelope and a delivery per recipient, each CTE feeding the next its ids. The rows
# are those _record_outgoing writes elsewhere (the store's tests run on both databases).
_OUTGOING_PG = text("""
WITH d AS (
  INSERT INTO documents (organ, direction, message_id, document_id, sender, number,
      notation, type_name, subject, promulgation_date, due_date, business_type, state,
      version, created_at, updated_at)
  VALUES (:organ, :direction, :message_id, :document_id, :sender, :number, :notation,
      :type_name, :subject, :promulgation_date, :due_date, :business_type, :state,
      :version, :created_at, :updated_at)
  RETURNING id),
a AS (
  INSERT INTO attachments (sha256, size, content)
  SELECT * FROM unnest(CAST(:a_sha256 AS VARCHAR[]), CAST(:a_size AS BIGINT[]),
                       CAST(:a_content AS BYTEA[]))
  ON CONFLICT DO NOTHING),
l AS (
  INSERT INTO document_attachments (document_ref, position, sha256, name, content_type,
      content_id, description)
  SELECT d.id, t.position, t.sha256, t.name, t.content_type, t.content_id, t.description
  FROM d, unnest(CAST(:l_position AS INTEGER[]), CAST(:l_sha256 AS VARCHAR[]),
                 CAST(:l_name AS TEXT[]), CAST(:l_content_type AS TEXT[]),
                 CAST(:l_content_id AS TEXT[]), CAST(:l_description AS TEXT[]))
       AS t(position, sha256, name, content_type, content_id, description)),
h AS (
  INSERT INTO history (document_ref, delivery_ref, machine, event, from_state, to_state,
      final, reason, at)
  SELECT d.id, NULL, :h_machine, t.event, t.from_state, t.to_state, t.final, NULL, :now
  FROM d, unnest(CAST(:h_event AS VARCHAR[]), CAST(:h_from AS VARCHAR[]),
                 CAST(:h_to AS VARCHAR[]), CAST(:h_final AS BOOLEAN[]))
       WITH ORDINALITY AS t(event, from_state, to_state, final, n)
  ORDER BY t.n),
e AS (
  INSERT INTO envelopes (document_ref, kind, direction, message_id, sha256, size,
      created_at, raw)
  SELECT d.id, 'document', :direction, :message_id, :e_sha256, :e_size, :now, :e_raw
  FROM d
  RETURNING id, document_ref),
v AS (
  INSERT INTO deliveries (document_ref, kind, envelope_ref, recipient, transport_state,
      business_state, change_state, change_kind, attempts, next_attempt_at, last_error,
      claimed_by, claimed_until, receipt_ref, version, updated_at, organ)
  SELECT e.document_ref, 'document', e.id, t.recipient, :v_transport, :v_business,
      :v_change, NULL, 0, :now, NULL, NULL, NULL, NULL, 1, :now, :organ
  FROM e, unnest(CAST(:v_recipient AS VARCHAR[])) WITH ORDINALITY AS t(recipient, n)
  ORDER BY t.n
  RETURNING id)
SELECT (SELECT id FROM d), (SELECT array_agg(id ORDER BY id) FROM v)
""").bindparams(
    *(bindparam(column.name, type_=column.type) for column in s.documents.columns
      # the columns of received documents only
      if column.name not in ("id", "signature", "findings", "pdf", "duplicate_of")),
    bindparam("now", type_=s.documents.c.created_at.type),
)
