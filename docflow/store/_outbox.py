"""The outbox: what an organ sends, and each copy's way to its recipient.

Recording a signed document queues one delivery per recipient in the same unit of work
(the outbox pattern); workers claim due deliveries under a lease, mark them sent,
acknowledge them with the recipient's receipt, or fail them into a retry (backoff with
jitter) and at last a dead letter, which an operator may resend.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Row, Select, and_, bindparam, or_, select, update

from docflow import domain
from docflow.domain.deadlines import Deadline
from docflow.envelope import Envelope
from docflow.errors import StoreError
from docflow.failure import Failure
from docflow.lifecycle import (
    TRANSPORT,
    Direction,
    MessageKind,
    Outcome,
    TransportEvent,
    TransportState,
    resend_refusal,
)
from docflow.model import OrganCode, StatusInfo
from docflow.spool import PacketData
from docflow.store import _rows, _sent
from docflow.store import _schema as s
from docflow.store._queries import Queries
from docflow.store._unit import Database, Transaction
from docflow.store._views import Claim, DeliveryView, OutgoingRecord, Page

__all__ = ["Outbox"]


class Outbox:
    """Recording, claiming, acknowledging, failing and resending deliveries."""

    def __init__(self, db: Database, queries: Queries):
        self._db, self._queries = db, queries

    def record(
        self, envelope: Envelope, packet: PacketData, *, deadlines: Sequence[Deadline] = (),
        now: dt.datetime | None = None, claim_for: str | None = None,
        lease: dt.timedelta = dt.timedelta(minutes=5)
    ) -> OutgoingRecord:
        """Record a signed document to send and one queued delivery per recipient, in one
        transaction (the outbox pattern: workers deliver it afterwards), with its
        văn thư ``deadlines`` (:func:`docflow.domain.deadlines.sent_deadlines`).
        ``claim_for`` also claims the new deliveries for that worker until ``now +
        lease``, in the same transaction (:meth:`Node.send_now
        <docflow.node.Node.send_now>`: one commit fewer; a worker that dies leaves them
        to be claimed again once the lease runs out, as any claim)."""
        return self.record_batch([(envelope, packet)], deadlines=[deadlines], now=now,
                                 claim_for=claim_for, lease=lease)[0]

    def record_batch(
        self, items: Sequence[tuple[Envelope, PacketData]], *,
        deadlines: Sequence[Sequence[Deadline]] | None = None,
        now: dt.datetime | None = None, claim_for: str | None = None,
        lease: dt.timedelta = dt.timedelta(minutes=5)
    ) -> list[OutgoingRecord]:
        """:meth:`record` for many documents of one sender in one transaction
        (a broadcast to every commune, a batch import): all or none. ``deadlines``, if
        given, has one entry per item."""
        if not items:
            return []
        organ = _rows.batch_sender(items)
        with self._db.transaction(organ, now) as tx:
            records = _sent.record(tx, items, where=self._db.where)
            for record, owed in zip(records, deadlines or (), strict=False):
                _rows.deadline_rows(tx, record.document_ref, owed)
            if claim_for is None:
                return records
            return [dataclasses.replace(record, claims=tuple(
                self._claim_new(tx, delivery_id, envelope, packet, claim_for, lease)
                for delivery_id in record.deliveries))
                for record, (envelope, packet) in zip(records, items, strict=True)]

    @staticmethod
    def _claim_new(tx: Transaction, delivery_id: int, envelope: Envelope,
                   packet: PacketData, worker: str, lease: dt.timedelta) -> Claim:
        """A delivery just recorded, claimed in the same transaction (its packet is the
        one in hand: nothing read back)."""
        row = _rows.delivery(tx, delivery_id)
        _rows.transport(tx, row, TransportEvent.CLAIM, reason=worker, claimed_by=worker,
                        claimed_until=tx.now + lease, attempts=row.attempts + 1)
        info = envelope.info
        return Claim(delivery_id, row.document_ref, row.kind, row.recipient,
                     envelope.message_id, packet, row.attempts + 1,
                     f"{info.code_number}/{info.code_notation}")

    def claim_due(
        self,
        worker: str,
        *,
        limit: int = 10,
        lease: dt.timedelta = dt.timedelta(minutes=5),
        now: dt.datetime | None = None,
        recipients: Sequence[OrganCode] | None = None,
        exclude: Sequence[OrganCode] = (),
        kind: str | None = None,
        organ: OrganCode | None = None,
    ) -> list[Claim]:
        """Claim up to ``limit`` deliveries that are due, for ``worker``, until
        ``now + lease``. Deliveries of a worker that died are claimed again once its lease
        has run out. On PostgreSQL concurrent workers skip each other's rows
        (``FOR UPDATE SKIP LOCKED``); SQLite serialises writers (``BEGIN IMMEDIATE``).

        ``recipients`` keeps only deliveries to those organs, ``exclude`` leaves out
        deliveries to these (a hub's push worker leaves the pulling organs' packets for
        them), ``kind`` keeps only "document" or "status" deliveries, ``organ`` only the
        deliveries of that organ's documents (several organs sharing one database)."""
        params: dict[str, Any] = {"now": now if now is not None else self._db.clock(),
                                  "limit": limit,
                                  "recipients": [str(r) for r in recipients or ()],
                                  "exclude": [str(r) for r in exclude], "kind": kind,
                                  "organ": None if organ is None else str(organ)}
        shape = (recipients is not None, bool(exclude), kind is not None, organ is not None)
        # An idle poll (the common case) costs one read, not a write transaction.
        with self._db.reader() as conn:
            if conn.execute(_claim_query(*shape, probe=True), params).first() is None:
                return []
        with self._db.transaction("", params["now"]) as tx:
            query = _claim_query(*shape, probe=False)
            rows = tx.conn.execute(query, params).all()
            # The packets in a query of their own: sorting the due rows with their
            # packets in them made SQLite copy every packet into its sorter.
            packets = tx.driver.packets(sorted({int(row.envelope_ref) for row in rows}))
            claims = []
            for row in rows:
                _rows.transport(tx, row, TransportEvent.CLAIM, reason=worker,
                                claimed_by=worker, claimed_until=tx.now + lease,
                                attempts=row.attempts + 1)
                claims.append(Claim(row.id, row.document_ref, row.kind, row.recipient,
                                    row.message_id, packets[row.envelope_ref],
                                    row.attempts + 1, f"{row.number}/{row.notation}"))
            return claims

    def mark_sent(self, delivery_id: int, *, now: dt.datetime | None = None) -> None:
        """The packet went out; its receipt will come later (pull and axis transports)."""
        with self._db.transaction("", now) as tx:
            row = _rows.delivery(tx, delivery_id)
            _rows.transport(tx, row, TransportEvent.SENT, claimed_by=None, claimed_until=None)

    def acknowledge(
        self,
        delivery_id: int,
        receipt: bytes | None = None,
        status: StatusInfo | None = None,
        *,
        transport_only: bool = False,
        relay_to: OrganCode | None = None,
        content_digest: str | None = None,
        now: dt.datetime | None = None,
    ) -> None:
        """End a delivery's transport. For a document, pass the verified receipt (status 01
        naming what was sent) and its parsed form: it is kept as proof of delivery. A
        receipt signed by the recipient also marks the copy "arrived"; one signed by a hub
        on the way proves only that the hub took it (the recipient's own 01 follows as a
        status packet). A status packet is acknowledged by the transport alone, and so is
        a document with ``transport_only`` (an axis whose recipient confirmed the
        download: its signed 01 follows as a status packet). A hub passes ``relay_to``
        (the document's sender) to queue the recipient's receipt to it in the same
        transaction: a crash cannot keep the proof from the sender. ``content_digest``
        (the receipt's signed content) lets the same receipt sent again as a status
        packet be recognised and write nothing."""
        with self._db.transaction("", now) as tx:
            row = _rows.delivery(tx, delivery_id)
            if row.kind == MessageKind.DOCUMENT and not transport_only and (
                    receipt is None or status is None):
                raise StoreError("a document delivery is acknowledged with its receipt",
                                 where=f"delivery {delivery_id}")
            receipt_ref = None
            if receipt is not None and status is not None:
                receipt_ref = _rows.envelope(tx, row.document_ref, MessageKind.RECEIPT,
                                             Direction.IN, status.message_id, receipt)
            _rows.transport(tx, row, TransportEvent.ACKNOWLEDGE, claimed_by=None,
                            claimed_until=None,
                            receipt_ref=receipt_ref, last_error=None)
            if receipt is not None and receipt_ref is not None and status is not None:
                _rows.status_event(tx, row.document_ref, row.id, Direction.IN, status, receipt_ref,
                                   content_digest or _rows.sha256(receipt))
                if str(status.sender.code) == row.recipient:  # not a hub's custody receipt
                    row = _rows.delivery(tx, delivery_id)
                    _rows.business(tx, row, status.code)
                if relay_to is not None:
                    relayed = _rows.envelope(tx, row.document_ref, MessageKind.STATUS,
                                             Direction.OUT, status.message_id, receipt)
                    _rows.queue(tx, row.document_ref, MessageKind.STATUS, relayed, str(relay_to),
                                row.organ)
            tx.audit("acknowledged", f"delivery:{delivery_id}", {
                "receipt_sha256": _rows.sha256(receipt) if receipt is not None else None})

    def fail(self, delivery_id: int, error: Failure | str, *,
             now: dt.datetime | None = None) -> TransportState:
        """Record a failed attempt (the :class:`~docflow.errors.Failure`, or a reason in
        words): schedule a retry (backoff with jitter) or, after the last attempt,
        dead-letter the delivery. Returns the new transport state."""
        with self._db.transaction("", now) as tx:
            return self.fail_in(tx, _rows.delivery(tx, delivery_id), error)

    def fail_in(self, tx: Transaction, row: Row[Any], failure: Failure | str
                ) -> TransportState:
        policy = self._db.retry_per_organ.get(row.recipient, self._db.retry)
        event, delay = domain.after_failure(row.attempts, policy, self._db.rnd())
        error = as_text(failure)
        if delay is None:  # the last attempt: a dead letter
            error = dead_letter_error(failure, row.attempts, row.id)
            step = _rows.transport(tx, row, event, reason=error, last_error=error,
                                   claimed_by=None, claimed_until=None)
            tx.conn.execute(s.dead_letters.insert().values(
                delivery_ref=row.id, reason=error, at=tx.now))
            tx.audit("dead_letter", f"delivery:{row.id}", {"error": error})
        else:
            step = _rows.transport(tx, row, event, reason=error, last_error=error,
                                   claimed_by=None, claimed_until=None,
                                   next_attempt_at=tx.now + delay)
        return step.state

    def settle(self, delivery_id: int, worker: str, outcome: Outcome, *,
               lease: dt.timedelta = dt.timedelta(minutes=5),
               now: dt.datetime | None = None) -> None:
        """An axis client's word on a delivery it fetched, in one transaction: leased to
        ``worker`` (as :meth:`hand_over`), then ``done`` (acknowledged by the transport
        alone), ``fail`` (a failed attempt, as :meth:`fail`) or ``processing`` (the
        lease only). A delivery already acknowledged is left alone."""
        with self._db.transaction("", now) as tx:
            row = _rows.delivery(tx, delivery_id)
            for event in domain.settlement(row.transport_state, outcome,
                                           delivery_id=delivery_id):
                if event is TransportEvent.CLAIM:
                    _rows.transport(tx, row, event, reason=worker, claimed_by=worker,
                                    claimed_until=tx.now + lease, attempts=row.attempts + 1)
                elif event is TransportEvent.FAIL:
                    self.fail_in(tx, row, f"{worker} reported fail")
                else:
                    _rows.transport(tx, row, event, claimed_by=None, claimed_until=None,
                                    last_error=None)
                    tx.audit("acknowledged", f"delivery:{delivery_id}",
                             {"receipt_sha256": None})
                row = _rows.delivery(tx, delivery_id)

    def resend(self, delivery_id: int, *, now: dt.datetime | None = None) -> None:
        """An operator's second chance for a dead-lettered delivery: queued again, same
        packet, same message id."""
        with self._db.transaction("", now) as tx:
            row = _rows.delivery(tx, delivery_id)
            if not TRANSPORT.can(row.transport_state, TransportEvent.RESEND):
                raise resend_refusal(delivery_id, row.transport_state)
            _rows.transport(tx, row, TransportEvent.RESEND, reason="resent by an operator",
                            attempts=0, next_attempt_at=tx.now)
            tx.conn.execute(update(s.dead_letters)
                            .where(s.dead_letters.c.delivery_ref == delivery_id,
                                   s.dead_letters.c.resolved_at.is_(None))
                            .values(resolved_at=tx.now))
            tx.audit("resend", f"delivery:{delivery_id}", {})

    def dead_letter_ids(self, *, recipients: Sequence[OrganCode] | None = None) -> list[int]:
        """The deliveries given up on and not resent (to ``recipients`` only, if given),
        oldest first: what ``docflow resend --all`` / ``--to`` queues again."""
        d = s.deliveries.c
        query = select(d.id).where(d.transport_state == TransportState.FAILED)
        if recipients is not None:
            query = query.where(d.recipient.in_([str(r) for r in recipients]))
        with self._db.reader() as conn:
            return [int(row.id) for row in conn.execute(query.order_by(d.id))]

    def retry_now(self, *, recipients: Sequence[OrganCode] | None = None,
                  now: dt.datetime | None = None) -> list[int]:
        """Make every delivery waiting for a later retry due now (an operator who fixed
        the peer does not wait out the backoff); ``recipients`` keeps only those organs.
        Returns the ids made due; audited. Dead letters stay: see :meth:`resend`."""
        deliveries = s.deliveries
        with self._db.transaction("", now) as tx:
            query = select(deliveries.c.id).where(
                deliveries.c.transport_state.in_((TransportState.QUEUED, TransportState.RETRYING)),
                deliveries.c.next_attempt_at > tx.now)
            if recipients is not None:
                query = query.where(deliveries.c.recipient.in_([str(r) for r in recipients]))
            ids = [int(row.id) for row in tx.conn.execute(query.order_by(deliveries.c.id))]
            if ids:
                tx.conn.execute(update(deliveries).where(deliveries.c.id.in_(ids)).values(
                    next_attempt_at=tx.now, version=deliveries.c.version + 1))
                tx.audit("retry-now", "deliveries", {"deliveries": ids})
            return ids

    def hand_over(self, delivery_id: int, worker: str, *,
                  lease: dt.timedelta = dt.timedelta(minutes=5),
                  now: dt.datetime | None = None) -> None:
        """Lease one delivery to ``worker`` (an axis client fetching it); an expired or
        repeated lease is taken over. A delivery already acknowledged is left alone."""
        with self._db.transaction("", now) as tx:
            row = _rows.delivery(tx, delivery_id)
            if TRANSPORT.can(row.transport_state, TransportEvent.CLAIM):
                _rows.transport(tx, row, TransportEvent.CLAIM, reason=worker, claimed_by=worker,
                                claimed_until=tx.now + lease, attempts=row.attempts + 1)

    def dead_letters(self, *, page: int = 1, page_size: int = 50) -> Page[DeliveryView]:
        """Deliveries that failed for good, with their last error."""
        return self._queries.deliveries(transport_state=TransportState.FAILED, page=page,
                                        page_size=page_size)


def as_text(failure: Failure | str) -> str:
    """A failed attempt as its ``last_error`` column keeps it: ``Class: what (at
    where). hint``."""
    if isinstance(failure, str):
        return failure
    return _subject(failure) + f"{failure.error}: {failure.cause}" + (
        f". {failure.hint}" if failure.hint else "")


def _subject(failure: Failure) -> str:
    return f"{failure.subject}: " if failure.subject else ""


def dead_letter_error(failure: Failure | str, attempts: int, delivery_id: int) -> str:
    """The last error of a delivery that gave up: the failure itself (without the hint of
    a retryable one: its promise of another attempt no longer holds), then how many
    attempts were made and how to try again."""
    if isinstance(failure, str):
        cause = failure.rstrip(" .")
    else:
        cause = _subject(failure) + f"{failure.error}: {failure.cause}" + (
            f". {failure.hint}" if failure.hint and not failure.retryable else "")
    return (f"{cause}; gave up after {attempts} attempt(s): dead-lettered "
            f"(`docflow resend {delivery_id}` queues it again)")


@functools.cache
def _claim_query(recipients: bool, exclude: bool, kind: bool, organ: bool, *,
                 probe: bool) -> Select[Any]:
    """The due-deliveries query of :meth:`Outbox.claim_due` for one combination of filters,
    built once (bound parameters: now, limit, recipients, exclude, kind): SQLAlchemy then
    reuses its compiled form instead of rebuilding a cache key on every poll."""
    d = s.deliveries
    now = bindparam("now", type_=s.UTCDateTime())
    due = and_(
        # The live states first, on their own: with the OR below alone, SQLite seeks the
        # (organ, transport_state, next_attempt_at) index by organ only and reads every
        # delivery the organ ever had (a hub's 140,000 after a 10,000-document run: 90 ms
        # a probe); with it, only the rows still to send.
        d.c.transport_state.in_(
            (TransportState.QUEUED, TransportState.RETRYING, TransportState.SENDING)),
        or_(
            and_(d.c.transport_state.in_((TransportState.QUEUED, TransportState.RETRYING)),
                 d.c.next_attempt_at <= now),
            and_(d.c.transport_state == TransportState.SENDING, d.c.claimed_until < now),
        ),
    )
    if recipients:
        due = and_(due, d.c.recipient.in_(bindparam("recipients", expanding=True)))
    if exclude:
        due = and_(due, d.c.recipient.not_in(bindparam("exclude", expanding=True)))
    if kind:
        due = and_(due, d.c.kind == bindparam("kind"))
    if organ:  # the row's own organ (0015), indexed with the due columns
        due = and_(due, d.c.organ == bindparam("organ"))
    if probe:
        return select(d.c.id).where(due).limit(1)
    return (
        select(d.c.id, d.c.document_ref, d.c.kind, d.c.recipient, d.c.transport_state,
               d.c.attempts, d.c.version, d.c.envelope_ref, s.envelopes.c.message_id,
               s.documents.c.number, s.documents.c.notation)
        .join(s.envelopes, s.envelopes.c.id == d.c.envelope_ref)
        .join(s.documents, s.documents.c.id == d.c.document_ref)
        .where(due)
        .order_by(d.c.next_attempt_at, d.c.id)
        .limit(bindparam("limit", type_=Integer()))
        .with_for_update(of=d, skip_locked=True)
    )
