"""The in-memory store's outbox (:class:`MemoryOutbox`, as :class:`~docflow.store.Outbox`)
and the rows of a document it sends (:func:`record`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

from docflow import domain
from docflow.domain.deadlines import Deadline
from docflow.envelope import Envelope
from docflow.errors import StoreError
from docflow.failure import Failure
from docflow.lifecycle import (
    OUTGOING,
    TRANSPORT,
    Direction,
    MessageKind,
    Outcome,
    OutgoingEvent,
    TransportEvent,
    TransportState,
    resend_refusal,
)
from docflow.model import OrganCode, StatusInfo
from docflow.spool import PacketData, as_bytes
from docflow.store._memory_queries import MemoryQueries
from docflow.store._memory_rows import DeliveryRow, MemoryDatabase, MemoryTransaction
from docflow.store._outbox import as_text, dead_letter_error
from docflow.store._rows import batch_sender, sha256
from docflow.store._views import (
    Claim,
    DeliveryView,
    OutgoingRecord,
    Page,
)

__all__ = ["MemoryOutbox", "record"]

_LEASE = dt.timedelta(minutes=5)


class MemoryOutbox:
    """What an organ sends (as :class:`~docflow.store.Outbox`)."""

    def __init__(self, db: MemoryDatabase, queries: MemoryQueries):
        self._db, self._queries = db, queries

    def record(self, envelope: Envelope, packet: PacketData, *,
               deadlines: Sequence[Deadline] = (), now: dt.datetime | None = None,
               claim_for: str | None = None, lease: dt.timedelta = _LEASE
               ) -> OutgoingRecord:
        """Record a signed document and one queued delivery per recipient, with its
        deadlines (and claimed for ``claim_for``, in the same transaction)."""
        return self.record_batch([(envelope, packet)], deadlines=[deadlines], now=now,
                                 claim_for=claim_for, lease=lease)[0]

    def record_batch(self, items: Sequence[tuple[Envelope, PacketData]], *,
                     deadlines: Sequence[Sequence[Deadline]] | None = None,
                     now: dt.datetime | None = None, claim_for: str | None = None,
                     lease: dt.timedelta = _LEASE) -> list[OutgoingRecord]:
        """:meth:`record` for many documents of one sender, all or none."""
        if not items:
            return []
        organ = batch_sender(items)
        with self._db.transaction(organ, now) as tx:
            records = [record(tx, envelope, packet) for envelope, packet in items]
            for done, owed in zip(records, deadlines or (), strict=False):
                tx.deadline_rows(done.document_ref, owed)
            if claim_for is None:
                return records
            claimed = []
            for done, (envelope, packet) in zip(records, items, strict=True):
                claims = []
                for delivery_id in done.deliveries:
                    row = tx.tables.delivery(delivery_id)
                    attempts = row.attempts + 1
                    tx.transport(row, TransportEvent.CLAIM, reason=claim_for,
                                 claimed_by=claim_for, claimed_until=tx.now + lease,
                                 attempts=attempts)
                    claims.append(Claim(row.id, row.document_ref, row.kind, row.recipient,
                                        envelope.message_id, packet, attempts,
                                        f"{envelope.info.code_number}/"
                                        f"{envelope.info.code_notation}"))
                claimed.append(dataclasses.replace(done, claims=tuple(claims)))
            return claimed

    def claim_due(self, worker: str, *, limit: int = 10, lease: dt.timedelta = _LEASE,
                  now: dt.datetime | None = None, recipients: Sequence[OrganCode] | None = None,
                  exclude: Sequence[OrganCode] = (), kind: str | None = None,
                  organ: OrganCode | None = None) -> list[Claim]:
        """Claim up to ``limit`` due deliveries for ``worker`` until ``now + lease``."""
        wanted = None if recipients is None else {str(code) for code in recipients}
        excluded = {str(code) for code in exclude}
        holder = None if organ is None else str(organ)
        with self._db.transaction("", now) as tx:
            tables = tx.tables

            def due(d: DeliveryRow) -> bool:
                ready = (d.transport_state in (TransportState.QUEUED, TransportState.RETRYING)
                         and d.next_attempt_at <= tx.now) or (
                    d.transport_state == TransportState.SENDING
                    and d.claimed_until is not None and d.claimed_until < tx.now)
                return (ready and (wanted is None or d.recipient in wanted)
                        and d.recipient not in excluded and (kind is None or d.kind == kind)
                        and (holder is None
                             or tables.documents[d.document_ref].organ == holder))
            rows = sorted((d for d in tables.deliveries.values() if due(d)),
                          key=lambda d: (d.next_attempt_at, d.id))[:limit]
            claims = []
            for row in rows:
                attempts = row.attempts + 1
                tx.transport(row, TransportEvent.CLAIM, reason=worker, claimed_by=worker,
                             claimed_until=tx.now + lease, attempts=attempts)
                envelope = tables.envelopes[row.envelope_ref]
                doc = tables.documents[row.document_ref]
                claims.append(Claim(row.id, row.document_ref, row.kind, row.recipient,
                                    envelope.message_id, envelope.raw, attempts,
                                    f"{doc.number}/{doc.notation}"))
            return claims

    def mark_sent(self, delivery_id: int, *, now: dt.datetime | None = None) -> None:
        """The packet went out; its receipt will come later."""
        with self._db.transaction("", now) as tx:
            tx.transport(tx.tables.delivery(delivery_id), TransportEvent.SENT,
                         claimed_by=None, claimed_until=None)

    def acknowledge(self, delivery_id: int, receipt: bytes | None = None,
                    status: StatusInfo | None = None, *, transport_only: bool = False,
                    relay_to: OrganCode | None = None, content_digest: str | None = None,
                    now: dt.datetime | None = None) -> None:
        """End a delivery's transport, keeping a document's verified receipt as proof."""
        with self._db.transaction("", now) as tx:
            row = tx.tables.delivery(delivery_id)
            if row.kind == MessageKind.DOCUMENT and not transport_only and (
                    receipt is None or status is None):
                raise StoreError("a document delivery is acknowledged with its receipt",
                                 where=f"delivery {delivery_id}")
            receipt_ref = None
            if receipt is not None and status is not None:
                receipt_ref = tx.envelope(row.document_ref, MessageKind.RECEIPT, Direction.IN,
                                          status.message_id, receipt)
            tx.transport(row, TransportEvent.ACKNOWLEDGE, claimed_by=None,
                         claimed_until=None, receipt_ref=receipt_ref, last_error=None)
            if receipt is not None and receipt_ref is not None and status is not None:
                tx.status_event(row.document_ref, row.id, Direction.IN, status, receipt_ref,
                                content_digest or sha256(receipt))
                if str(status.sender.code) == row.recipient:
                    tx.business(row, status.code)
                if relay_to is not None:
                    relayed = tx.envelope(row.document_ref, MessageKind.STATUS, Direction.OUT,
                                          status.message_id, receipt)
                    tx.queue(row.document_ref, MessageKind.STATUS, relayed, str(relay_to))
            tx.audit("acknowledged", f"delivery:{delivery_id}", {
                "receipt_sha256": sha256(receipt) if receipt is not None else None})

    def fail(self, delivery_id: int, error: Failure | str, *,
             now: dt.datetime | None = None) -> TransportState:
        """Record a failed attempt: a retry later, or a dead letter after the last."""
        with self._db.transaction("", now) as tx:
            return self._fail(tx, tx.tables.delivery(delivery_id), error)

    def _fail(self, tx: MemoryTransaction, row: DeliveryRow, failure: Failure | str
              ) -> TransportState:
        policy = self._db.retry_per_organ.get(row.recipient, self._db.retry)
        event, delay = domain.after_failure(row.attempts, policy, self._db.rnd())
        error = as_text(failure)
        if delay is None:
            error = dead_letter_error(failure, row.attempts, row.id)
            step = tx.transport(row, event, reason=error, last_error=error, claimed_by=None,
                                claimed_until=None)
            tx.tables.dead_letters[row.id] = (error, tx.now, None)
            tx.audit("dead_letter", f"delivery:{row.id}", {"error": error})
        else:
            step = tx.transport(row, event, reason=error, last_error=error, claimed_by=None,
                                claimed_until=None, next_attempt_at=tx.now + delay)
        return step.state

    def settle(self, delivery_id: int, worker: str, outcome: Outcome, *,
               lease: dt.timedelta = _LEASE, now: dt.datetime | None = None) -> None:
        """A platform client's word on a delivery it fetched (as the SQL outbox's)."""
        with self._db.transaction("", now) as tx:
            row = tx.tables.delivery(delivery_id)
            for event in domain.settlement(row.transport_state, outcome,
                                           delivery_id=delivery_id):
                if event is TransportEvent.CLAIM:
                    tx.transport(row, event, reason=worker, claimed_by=worker,
                                 claimed_until=tx.now + lease, attempts=row.attempts + 1)
                elif event is TransportEvent.FAIL:
                    self._fail(tx, row, f"{worker} reported fail")
                else:
                    tx.transport(row, event, claimed_by=None, claimed_until=None,
                                 last_error=None)
                    tx.audit("acknowledged", f"delivery:{delivery_id}",
                             {"receipt_sha256": None})

    def resend(self, delivery_id: int, *, now: dt.datetime | None = None) -> None:
        """Queue a dead-lettered delivery again: same packet, same message id."""
        with self._db.transaction("", now) as tx:
            row = tx.tables.delivery(delivery_id)
            if not TRANSPORT.can(row.transport_state, TransportEvent.RESEND):
                raise resend_refusal(delivery_id, row.transport_state)
            tx.transport(row, TransportEvent.RESEND, reason="resent by an operator",
                         attempts=0, next_attempt_at=tx.now)
            letter = tx.tables.dead_letters.get(delivery_id)
            if letter is not None and letter[2] is None:
                tx.tables.dead_letters[delivery_id] = (letter[0], letter[1], tx.now)
            tx.audit("resend", f"delivery:{delivery_id}", {})

    def dead_letter_ids(self, *, recipients: Sequence[OrganCode] | None = None
                        ) -> list[int]:
        """The dead-lettered deliveries not resent (to ``recipients`` only), oldest first."""
        return [d.id for _, d in sorted(self._db.read().deliveries.items())
                if d.transport_state == TransportState.FAILED
                and (recipients is None or d.recipient in {str(c) for c in recipients})]

    def retry_now(self, *, recipients: Sequence[OrganCode] | None = None,
                  now: dt.datetime | None = None) -> list[int]:
        """Make every delivery waiting for a later retry due now; returns their ids."""
        with self._db.transaction("", now) as tx:
            rows = [d for _, d in sorted(tx.tables.deliveries.items())
                    if d.transport_state in (TransportState.QUEUED, TransportState.RETRYING)
                    and d.next_attempt_at > tx.now
                    and (recipients is None or d.recipient in {str(c) for c in recipients})]
            for row in rows:
                row.next_attempt_at, row.version = tx.now, row.version + 1
            ids = [row.id for row in rows]
            if ids:
                tx.audit("retry-now", "deliveries", {"deliveries": ids})
            return ids

    def hand_over(self, delivery_id: int, worker: str, *, lease: dt.timedelta = _LEASE,
                  now: dt.datetime | None = None) -> None:
        """Lease one delivery to ``worker``; an acknowledged one is left alone."""
        with self._db.transaction("", now) as tx:
            row = tx.tables.delivery(delivery_id)
            if TRANSPORT.can(row.transport_state, TransportEvent.CLAIM):
                tx.transport(row, TransportEvent.CLAIM, reason=worker, claimed_by=worker,
                             claimed_until=tx.now + lease, attempts=row.attempts + 1)

    def dead_letters(self, *, page: int = 1, page_size: int = 50) -> Page[DeliveryView]:
        """Deliveries that failed for good, with their last error."""
        return self._queries.deliveries(transport_state=TransportState.FAILED, page=page,
                                        page_size=page_size)


def record(tx: MemoryTransaction, envelope: Envelope, packet: PacketData) -> OutgoingRecord:
    """The rows of one signed document to send (as :func:`docflow.store._sent.record`):
    the document (signed, then sent), its packet, a delivery per recipient, audited."""
    state, steps = OUTGOING.initial, []
    for event in (OutgoingEvent.SIGN, OutgoingEvent.SEND):
        step = OUTGOING.apply(state, event)
        steps.append(domain.Entry.of(OUTGOING, event, state, step))
        state = step.state
    ref = tx.document_row(envelope, Direction.OUT, state)
    tx.history_rows(steps, ref)
    envelope_ref = tx.envelope(ref, MessageKind.DOCUMENT, Direction.OUT, envelope.message_id,
                               as_bytes(packet))
    tx.checkpoint("after_envelope")
    deliveries = tuple(tx.queue(ref, MessageKind.DOCUMENT, envelope_ref, str(r.code))
                       for r in envelope.info.recipients)
    tx.checkpoint("after_deliveries")
    tx.register_rows(tx.organ, "out", envelope.info.promulgation_date.year, [ref])
    tx.audit("send", f"document:{ref}", {
        "message_id": envelope.message_id, "document_id": envelope.info.document_id,
        "sha256": sha256(packet), "to": [str(r.code) for r in envelope.info.recipients]})
    return OutgoingRecord(ref, deliveries)
